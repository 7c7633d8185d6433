//! Care links and contact books: request, accept, decline, end; keyset-paged
//! contact lists of any size; incremental sync by version; live events.
pub mod loader;
pub mod mutation;
pub mod query;
pub mod service;
pub mod subscription;
pub mod sync;
pub mod types;
