//! SeaORM entities, one file per table.
//!
//! These are storage types only: they never derive GraphQL types, so adding a
//! column never widens the public API (see `src/*/types.rs` for what clients see).

pub mod account;
pub mod audit_event;
pub mod blob;
pub mod care_link;
pub mod case_attachment;
pub mod case_document;
pub mod case_document_version;
pub mod conversation;
pub mod doctor;
pub mod document;
pub mod file;
pub mod message;
pub mod patient;
pub mod session;
