//! Storage adapters. Each concern is one small trait with two implementations,
//! the real service and the embedded default, chosen by config at start:
//!
//! | concern   | real service          | embedded default            |
//! |-----------|-----------------------|-----------------------------|
//! | SQL       | MySQL/MariaDB primary + replica ([`sql`]) | SQLite        |
//! | documents | MongoDB               | JSON rows in the SQL database |
//! | cache     | Redis                 | in-process map               |
//! | bus       | Redis pub/sub         | in-process broadcast         |
pub mod blobs;
pub mod bus;
pub mod cache;
pub mod documents;
pub mod sql;

use std::{sync::Arc, time::Duration};

use serde::Serialize;

use documents::DocumentStore as _;

use crate::config::Config;

/// Every backend the server uses, built once at start and shared.
#[derive(Clone)]
pub struct Stores {
    pub sql: sql::Sql,
    pub documents: Arc<documents::Counted>,
    pub cache: Arc<dyn cache::Cache>,
    pub bus: Arc<dyn bus::Bus>,
    pub blobs: Arc<dyn blobs::BlobStore>,
    /// The cache as loaders use it: timeouts, invalidation, recovery.
    pub loader_cache: crate::loader::CacheLayer,
}

/// What `/readyz` reports. Only the SQL primary decides readiness: every
/// instance shares the other backends, so failing readiness on them would
/// take every instance out of the load balancer at once, while most of the
/// API still works without them. They show as `degraded`.
#[derive(Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// A backend other than the primary is down or the replica is unusable.
    pub degraded: bool,
    pub sql: sql::SqlStatus,
    pub documents: BackendStatus,
    pub cache: BackendStatus,
    pub bus: BackendStatus,
    pub loader_cache: crate::loader::CacheLayerStatus,
}

#[derive(Serialize)]
pub struct BackendStatus {
    pub kind: &'static str,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BackendStatus {
    fn of(kind: &'static str, result: anyhow::Result<()>) -> Self {
        Self {
            kind,
            ok: result.is_ok(),
            error: result.err().map(|e| format!("{e:#}")),
        }
    }
}

impl Stores {
    /// Connects every backend the config names, embedded defaults for the rest.
    /// Does not migrate: see [`crate::app::App::build`].
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let sql = sql::Sql::connect(config).await?;
        let documents: Box<dyn documents::DocumentStore> = match &config.mongodb_url {
            Some(url) => Box::new(
                documents::mongo::MongoDocuments::connect(url, &config.mongodb_database).await?,
            ),
            None => Box::new(documents::embedded::EmbeddedDocuments::new(sql.clone())),
        };
        let documents = Arc::new(documents::Counted::new(documents));
        let (cache, bus): (Arc<dyn cache::Cache>, Arc<dyn bus::Bus>) = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str())?;
                (
                    Arc::new(
                        cache::redis::RedisCache::connect(client.clone(), &config.redis_prefix)
                            .await?,
                    ),
                    Arc::new(bus::redis::RedisBus::start(client, &config.redis_prefix).await?),
                )
            }
            None => (
                Arc::new(cache::memory::MemoryCache::new(100_000)),
                Arc::new(bus::memory::MemoryBus::default()),
            ),
        };
        let blobs: Arc<dyn blobs::BlobStore> =
            Arc::new(blobs::local::LocalBlobs::new(config.blob_dir())?);
        let loader_cache = crate::loader::CacheLayer::new(Arc::clone(&cache), config);
        Ok(Self {
            sql,
            documents,
            cache,
            bus,
            blobs,
            loader_cache,
        })
    }

    pub async fn readiness(&self) -> Readiness {
        let timeout = Duration::from_secs(2);
        let within = |fut| async move {
            tokio::time::timeout(timeout, fut)
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {timeout:?}")))
        };
        let (sql, documents, cache, bus) = tokio::join!(
            self.sql.status(),
            within(self.documents.ping()),
            within(self.cache.ping()),
            within(self.bus.ping()),
        );
        let documents = BackendStatus::of(self.documents.kind(), documents);
        let cache = BackendStatus::of(self.cache.kind(), cache);
        let bus = BackendStatus::of(self.bus.kind(), bus);
        let loader_cache = self.loader_cache.status();
        Readiness {
            ready: sql.primary,
            degraded: !(documents.ok && cache.ok && bus.ok)
                || matches!(sql.replica, "down" | "lagging")
                || loader_cache.state == "down",
            sql,
            documents,
            cache,
            bus,
            loader_cache,
        }
    }
}
