//! Accounts: registration as patient or doctor, login tokens, `me`, profile events.
pub mod loader;
pub mod mutation;
pub mod query;
pub mod service;
pub mod subscription;
pub mod types;
pub mod validate;
