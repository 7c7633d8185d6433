//! The document store for schemaless case history: MongoDB in production,
//! JSON rows in the SQL database by default. Documents are JSON objects keyed
//! by (collection, id); the domain layer owns their shape.
pub mod embedded;
pub mod mongo;

use serde_json::{Map, Value};

pub type Json = Map<String, Value>;

#[async_trait::async_trait]
pub trait DocumentStore: Send + Sync {
    /// Stores a new document; fails if the id exists.
    async fn insert(&self, collection: &str, id: &str, doc: &Json) -> anyhow::Result<()>;
    async fn get(&self, collection: &str, id: &str) -> anyhow::Result<Option<Json>>;
    async fn ping(&self) -> anyhow::Result<()>;
    /// `mongodb` or `embedded`, for `/readyz`.
    fn kind(&self) -> &'static str;
}
