//! A shared key/value cache for loaders: Redis in production, in-process by default.
//! Values are opaque bytes; the caller versions its layout in the key.
pub mod memory;
pub mod redis;

use std::time::Duration;

#[async_trait::async_trait]
pub trait Cache: Send + Sync {
    /// One answer per key, in order; `None` for a miss.
    async fn get_many(&self, keys: &[String]) -> anyhow::Result<Vec<Option<Vec<u8>>>>;
    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration) -> anyhow::Result<()>;
    /// Like `set_many`, but leaves keys that already hold a value (SET NX).
    async fn add_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration) -> anyhow::Result<()>;
    async fn delete(&self, keys: &[String]) -> anyhow::Result<()>;
    /// Adds one to the counter `key`, which starts at zero and lives for
    /// `window` from its first increment; returns the new count.
    async fn incr(&self, key: &str, window: Duration) -> anyhow::Result<u64>;
    async fn ping(&self) -> anyhow::Result<()>;
    /// `redis` or `memory`, for `/readyz`.
    fn kind(&self) -> &'static str;
}
