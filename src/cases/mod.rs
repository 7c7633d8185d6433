//! Case history: schemaless medical documents in the document store,
//! versioned with optimistic concurrency, readable by the patient and the
//! doctors actively linked to them, and audited on every access.
pub mod audit;
pub mod loader;
pub mod mutation;
pub mod query;
pub mod service;
pub mod subscription;
pub mod types;
pub mod validate;
