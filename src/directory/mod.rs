//! The doctor and patient directory: public doctor profiles with search and
//! paging, private patient profiles, and profile updates.
pub mod loader;
pub mod mutation;
pub mod query;
pub mod service;
pub mod types;
