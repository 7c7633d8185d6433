//! The document store for schemaless case history: MongoDB in production,
//! JSON rows beside indexed columns in the SQL database by default.
//!
//! Both implementations keep to single-document atomic operations (no
//! multi-document transactions: FerretDB has none), and every update is
//! optimistic (it names the version it replaces).
//! - Embedded: the previous version is copied to the history, then the row is
//!   updated where id *and* version match (atomic in SQL).
//! - MongoDB: every version is recorded under the unique key `(id, version)`
//!   *before* the document is replaced; that insert decides the one writer of
//!   each version, and a reader finishes a replacement a crashed writer left
//!   undone. (FerretDB 1.24 lets several concurrent `replaceOne`s with the
//!   same version filter all succeed; a unique-key insert it does serialise.)
pub mod embedded;
pub mod mongo;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Json = Map<String, Value>;

/// A case document as stored. Timestamps are kept to the millisecond on every backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseDoc {
    pub id: String,
    pub patient_id: i64,
    pub author_id: i64,
    pub kind: String,
    pub title: String,
    pub occurred_at: DateTime<Utc>,
    pub content: Json,
    pub attachments: Vec<i64>,
    pub version: i32,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Typed filters for listing a patient's documents; never a raw query.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub patient_id: i64,
    pub kinds: Option<Vec<String>>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub include_archived: bool,
    /// Keyset: strictly older than this (occurred_at, id).
    pub before: Option<(DateTime<Utc>, String)>,
    pub limit: u64,
}

#[async_trait::async_trait]
pub trait DocumentStore: Send + Sync {
    /// Stores a new document; fails if the id exists.
    async fn insert(&self, collection: &str, id: &str, doc: &Json) -> anyhow::Result<()>;
    async fn get(&self, collection: &str, id: &str) -> anyhow::Result<Option<Json>>;

    async fn insert_case(&self, doc: &CaseDoc) -> anyhow::Result<()>;
    async fn get_case(&self, id: &str) -> anyhow::Result<Option<CaseDoc>>;
    /// The documents among `ids` that exist, in no particular order.
    async fn get_cases(&self, ids: &[String]) -> anyhow::Result<Vec<CaseDoc>>;
    /// Replaces the document with `next` if its stored version is `next.version - 1`,
    /// keeping `previous` in the history. `Ok(false)`: the version had moved on.
    async fn update_case(&self, previous: &CaseDoc, next: &CaseDoc) -> anyhow::Result<bool>;
    /// Newest first by (occurred_at, id).
    async fn list_cases(&self, filter: &CaseFilter) -> anyhow::Result<Vec<CaseDoc>>;
    /// Earlier versions of a document, oldest first.
    async fn case_history(&self, id: &str) -> anyhow::Result<Vec<CaseDoc>>;

    async fn ping(&self) -> anyhow::Result<()>;
    /// `mongodb` or `embedded`, for `/readyz`.
    fn kind(&self) -> &'static str;
}

/// Truncates to whole milliseconds, the precision every backend keeps.
pub fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// A document store that counts the calls made through it, for the
/// query-count tests and the benchmarks.
pub struct Counted {
    inner: Box<dyn DocumentStore>,
    calls: std::sync::atomic::AtomicU64,
}

impl Counted {
    pub fn new(inner: Box<dyn DocumentStore>) -> Self {
        Self {
            inner,
            calls: Default::default(),
        }
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count(&self) -> &dyn DocumentStore {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.as_ref()
    }
}

#[async_trait::async_trait]
impl DocumentStore for Counted {
    async fn insert(&self, collection: &str, id: &str, doc: &Json) -> anyhow::Result<()> {
        self.count().insert(collection, id, doc).await
    }
    async fn get(&self, collection: &str, id: &str) -> anyhow::Result<Option<Json>> {
        self.count().get(collection, id).await
    }
    async fn insert_case(&self, doc: &CaseDoc) -> anyhow::Result<()> {
        self.count().insert_case(doc).await
    }
    async fn get_case(&self, id: &str) -> anyhow::Result<Option<CaseDoc>> {
        self.count().get_case(id).await
    }
    async fn get_cases(&self, ids: &[String]) -> anyhow::Result<Vec<CaseDoc>> {
        self.count().get_cases(ids).await
    }
    async fn update_case(&self, previous: &CaseDoc, next: &CaseDoc) -> anyhow::Result<bool> {
        self.count().update_case(previous, next).await
    }
    async fn list_cases(&self, filter: &CaseFilter) -> anyhow::Result<Vec<CaseDoc>> {
        self.count().list_cases(filter).await
    }
    async fn case_history(&self, id: &str) -> anyhow::Result<Vec<CaseDoc>> {
        self.count().case_history(id).await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
