//! Loaders: reads by id batched per request (async-graphql's DataLoader) over
//! a cache shared by every request and instance (Redis, or in process by
//! default), invalidated on every write.
//!
//! Each domain's `loader.rs` names a [`Source`]: how to fetch many of one
//! entity in one query. [`CachedLoader`] puts the [`CacheLayer`] in front:
//! - a hit is decoded and served; a value that fails to decode is a miss,
//!   deleted, reloaded from the primary and stored again;
//! - misses are fetched in one query (from the replica unless the viewer
//!   wrote recently) and stored with SET NX, so a fill never overwrites;
//! - a write, after its commit and before its event is published, replaces
//!   the entity's key with a *hold* marker for longer than the replica may
//!   lag. A reader that meets the marker reads the primary and stores
//!   nothing, and the marker's NX blocks a reader that fetched the old row
//!   from the replica before the write from storing it afterwards. So a value
//!   older than the last write is never served, whichever instance asks.
//!
//! When the cache fails or is slower than its timeout, reads go to the
//! database, failures are logged at most every 10 s, invalidations are kept
//! (bounded) and replayed before the cache is used again, and the cache is
//! probed again with backoff until it answers. `/readyz` and `/metrics` show it.
//!
//! Keys are `ld:<schema>:<loader>:<layout>:<id>`: `<schema>` is the number of
//! migrations and `<layout>` the source's own layout version, so a new layout
//! never reads an old one. Id parts that are long or contain anything but
//! `[A-Za-z0-9_-]` are replaced by their hash, so user input cannot reach
//! the key space.
use std::{
    collections::{HashMap, HashSet},
    fmt::Debug,
    hash::Hash,
    marker::PhantomData,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_graphql::{
    dataloader::{DataLoader, HashMapCache, Loader},
    Context,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    auth::Viewer,
    config::Config,
    error::{AppError, AppResult},
    store::{cache::Cache, Stores},
};

/// The value that marks a key as just written: read the primary, store nothing.
const HOLD: &[u8] = b"\0hold";
/// Whether a raw cache value is a hold marker: the key was just written, so
/// read the primary.
pub fn is_hold(value: &[u8]) -> bool {
    value == HOLD
}

/// Hold markers for `keys`, ready for `set_many`.
fn holds(keys: &[String]) -> Vec<(String, Vec<u8>)> {
    keys.iter().map(|k| (k.clone(), HOLD.to_vec())).collect()
}

/// Longest id part kept readable in a key; longer ones are hashed.
const MAX_KEY_PART: usize = 64;
/// Invalidations kept while the cache is unreachable.
const MAX_PENDING: usize = 100_000;
const LOG_EVERY: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A loader key as the id part of a cache key.
pub trait KeyPart {
    fn part(&self) -> String;
}

impl KeyPart for i64 {
    fn part(&self) -> String {
        self.to_string()
    }
}

impl KeyPart for String {
    fn part(&self) -> String {
        self.clone()
    }
}

impl KeyPart for (i64, i64) {
    fn part(&self) -> String {
        format!("{}-{}", self.0, self.1)
    }
}

/// Rows of `E` whose integer `column` is among `keys`, keyed by it.
pub async fn by_ids<E, V>(
    stores: &Stores,
    fresh: bool,
    column: E::Column,
    keys: &[i64],
    into: impl Fn(E::Model) -> (i64, V),
) -> anyhow::Result<HashMap<i64, V>>
where
    E: sea_orm::EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::{ColumnTrait as _, QueryFilter as _};
    Ok(E::find()
        .filter(column.is_in(keys.iter().copied()))
        .all(&stores.sql.reader(fresh))
        .await?
        .into_iter()
        .map(into)
        .collect())
}

/// One kind of entity loaded by key.
#[async_trait::async_trait]
pub trait Source: Send + Sync + 'static {
    type Key: KeyPart + Clone + Eq + Hash + Debug + Send + Sync + 'static;
    type Value: Clone + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Metric label and key segment.
    const NAME: &'static str;
    /// Bump when `Value`'s serialized form changes.
    const LAYOUT: u32;
    /// False for values that must not leave their own store (case documents):
    /// batched per request, never put in the shared cache.
    const SHARED: bool = true;
    /// The values that exist among `keys`, from the primary when `fresh`.
    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[Self::Key],
    ) -> anyhow::Result<HashMap<Self::Key, Self::Value>>;
}

/// The cache key of one entity.
pub fn cache_key(namespace: &str, name: &str, layout: u32, id: &str) -> String {
    let safe = id.len() <= MAX_KEY_PART
        && !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if safe {
        format!("{namespace}{name}:{layout}:{id}")
    } else {
        let hash = blake3::hash(id.as_bytes()).to_hex();
        format!("{namespace}{name}:{layout}:#{}", &hash[..32])
    }
}

/// The shared cache as loaders use it: one per process, in [`Stores`].
#[derive(Clone)]
pub struct CacheLayer {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Arc<dyn Cache>,
    /// Off: loaders batch but never read or fill the cache.
    enabled: bool,
    ttl: Duration,
    /// How long a written key holds its marker: longer than the replica may lag.
    hold: Duration,
    /// Longest wait for one cache call.
    timeout: Duration,
    namespace: String,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    /// Set while the cache is considered down.
    down: Option<Down>,
    /// Keys whose invalidation failed, replayed before the cache is used again.
    pending: HashSet<String>,
    /// More invalidations failed than `pending` keeps.
    overflowed: bool,
    last_log: Option<Instant>,
    suppressed: u64,
}

struct Down {
    since: Instant,
    retry_at: Instant,
    backoff: Duration,
}

/// The loader cache's state, for `/readyz`.
#[derive(serde::Serialize)]
pub struct CacheLayerStatus {
    pub enabled: bool,
    /// `ok`, `down` (reads go to the databases) or `off`.
    pub state: &'static str,
    pub pending_invalidations: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_for_secs: Option<u64>,
}

impl CacheLayer {
    pub fn new(cache: Arc<dyn Cache>, config: &Config) -> Self {
        let schema = <migration::Migrator as migration::MigratorTrait>::migrations().len();
        let hold = Duration::from_secs((config.replica_max_lag_secs * 2 + 2).max(10))
            .max(Duration::from_millis(config.read_your_writes_ms));
        metrics::gauge!("drseek_cache_up").set(1.0);
        Self {
            inner: Arc::new(Inner {
                cache,
                enabled: config.loader_cache,
                ttl: Duration::from_secs(config.loader_cache_ttl_secs.max(1)),
                hold,
                timeout: Duration::from_millis(config.cache_timeout_ms.max(1)),
                namespace: format!("ld:{schema}:"),
                health: Mutex::default(),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    pub fn key<S: Source>(&self, key: &S::Key) -> String {
        cache_key(&self.inner.namespace, S::NAME, S::LAYOUT, &key.part())
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.inner
            .health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn status(&self) -> CacheLayerStatus {
        let h = self.health();
        CacheLayerStatus {
            enabled: self.inner.enabled,
            state: match (&h.down, self.inner.enabled) {
                (_, false) => "off",
                (Some(_), _) => "down",
                (None, _) => "ok",
            },
            pending_invalidations: h.pending.len(),
            down_for_secs: h.down.as_ref().map(|d| d.since.elapsed().as_secs()),
        }
    }

    /// Runs one cache call within the timeout; a failure marks the cache down.
    async fn call<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> Option<T> {
        let result = match tokio::time::timeout(self.inner.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("no answer within {:?}", self.inner.timeout)),
        };
        match result {
            Ok(v) => Some(v),
            Err(err) => {
                self.failed(op, &err);
                None
            }
        }
    }

    fn failed(&self, op: &'static str, err: &anyhow::Error) {
        metrics::counter!("drseek_cache_errors_total", "op" => op).increment(1);
        metrics::gauge!("drseek_cache_up").set(0.0);
        let now = Instant::now();
        let mut h = self.health();
        let backoff = match &h.down {
            Some(d) => (d.backoff * 2).min(MAX_BACKOFF),
            None => Duration::from_millis(250),
        };
        let since = h.down.as_ref().map_or(now, |d| d.since);
        h.down = Some(Down {
            since,
            retry_at: now + backoff,
            backoff,
        });
        if h.last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            tracing::warn!(
                op,
                error = %format!("{err:#}"),
                suppressed = h.suppressed,
                retry_in_ms = backoff.as_millis() as u64,
                "shared cache unavailable; reading from the databases"
            );
            h.last_log = Some(now);
            h.suppressed = 0;
        } else {
            h.suppressed += 1;
        }
    }

    /// Whether the cache may be used now. While it is down this is false,
    /// except for one caller per backoff period, which probes it: pending
    /// invalidations are replayed first, and only then is it up again.
    async fn usable(&self) -> bool {
        self.inner.enabled && self.reachable().await
    }

    /// Whether the cache backend may be called now (see [`Self::usable`]),
    /// whether or not loaders use it.
    async fn reachable(&self) -> bool {
        let pending: Vec<String> = {
            let mut h = self.health();
            let now = Instant::now();
            match &mut h.down {
                None => return true,
                Some(d) if now < d.retry_at => return false,
                Some(d) => d.retry_at = now + d.backoff,
            }
            h.pending.iter().cloned().collect()
        };
        let hold = self.inner.hold;
        let entries = holds(&pending);
        let replayed = self
            .call("probe", async {
                self.inner.cache.ping().await?;
                for chunk in entries.chunks(1000) {
                    self.inner.cache.set_many(chunk, hold).await?;
                }
                Ok(())
            })
            .await
            .is_some();
        if !replayed {
            return false;
        }
        let mut h = self.health();
        for k in &pending {
            h.pending.remove(k);
        }
        if !h.pending.is_empty() {
            return false;
        }
        if let Some(d) = h.down.take() {
            if std::mem::take(&mut h.overflowed) {
                tracing::error!(
                    "shared cache back, but more than {MAX_PENDING} invalidations were lost \
                     while it was down: entities may be stale for up to the cache TTL"
                );
            }
            tracing::info!(
                down_for_ms = d.since.elapsed().as_millis() as u64,
                replayed = pending.len(),
                "shared cache back"
            );
            metrics::gauge!("drseek_cache_up").set(1.0);
        }
        true
    }

    /// Marks the keys as just written: call after the commit, before publishing.
    /// Never fails: if the cache cannot take it now, it is replayed later.
    pub async fn invalidate<S: Source>(&self, keys: &[S::Key]) {
        if !self.inner.enabled || keys.is_empty() {
            return;
        }
        metrics::counter!("drseek_loader_invalidations_total", "loader" => S::NAME)
            .increment(keys.len() as u64);
        let keys: Vec<String> = keys.iter().map(|k| self.key::<S>(k)).collect();
        self.invalidate_keys(keys).await;
    }

    /// [`Self::invalidate`] for keys built elsewhere (the session cache).
    pub async fn invalidate_keys(&self, keys: Vec<String>) {
        let entries = holds(&keys);
        let done = self.reachable().await
            && self
                .call(
                    "invalidate",
                    self.inner.cache.set_many(&entries, self.inner.hold),
                )
                .await
                .is_some();
        if !done {
            let mut h = self.health();
            for k in keys {
                if h.pending.len() >= MAX_PENDING {
                    h.overflowed = true;
                    break;
                }
                h.pending.insert(k);
            }
            metrics::gauge!("drseek_cache_pending_invalidations").set(h.pending.len() as f64);
        }
    }

    /// Raw reads for other users of the cache (sessions, markers): `None`
    /// while the cache is unreachable. Values may be hold markers, which do
    /// not decode as anything: treat them as misses.
    pub async fn get_raw(&self, keys: &[String]) -> Option<Vec<Option<Vec<u8>>>> {
        if !self.reachable().await {
            return None;
        }
        self.call("get", self.inner.cache.get_many(keys)).await
    }

    /// Stores values unless their keys hold something (a value or a hold marker).
    pub async fn fill_raw(&self, entries: &[(String, Vec<u8>)], ttl: Duration) {
        if self.reachable().await {
            self.call("fill", self.inner.cache.add_many(entries, ttl))
                .await;
        }
    }

    /// Stores values unconditionally; false if the cache is unreachable.
    pub async fn set_raw(&self, entries: &[(String, Vec<u8>)], ttl: Duration) -> bool {
        self.reachable().await
            && self
                .call("set", self.inner.cache.set_many(entries, ttl))
                .await
                .is_some()
    }

    /// A shared counter (see [`Cache::incr`]); `None` if the cache is unreachable.
    pub async fn incr_raw(&self, key: &str, window: Duration) -> Option<u64> {
        if !self.reachable().await {
            return None;
        }
        self.call("incr", self.inner.cache.incr(key, window)).await
    }

    /// Loads `keys` of `S` through the cache.
    pub async fn load<S: Source>(
        &self,
        stores: &Stores,
        fresh: bool,
        keys: &[S::Key],
    ) -> anyhow::Result<HashMap<S::Key, S::Value>> {
        let count = |result: &'static str, n: usize| {
            if n > 0 {
                metrics::counter!("drseek_loader_keys_total", "loader" => S::NAME, "result" => result)
                    .increment(n as u64);
            }
        };
        if !S::SHARED {
            count("uncached", keys.len());
            return S::fetch(stores, fresh, keys).await;
        }
        if !self.usable().await {
            count(if self.inner.enabled { "error" } else { "off" }, keys.len());
            return S::fetch(stores, fresh, keys).await;
        }
        let cache_keys: Vec<String> = keys.iter().map(|k| self.key::<S>(k)).collect();
        let Some(cached) = self
            .call("get", self.inner.cache.get_many(&cache_keys))
            .await
        else {
            count("error", keys.len());
            return S::fetch(stores, fresh, keys).await;
        };
        let mut found = HashMap::with_capacity(keys.len());
        // Missing: fetch and fill. Held or undecodable: fetch from the primary.
        let (mut missing, mut held, mut broken) = (Vec::new(), Vec::new(), Vec::new());
        for ((key, cache_key), value) in keys.iter().zip(&cache_keys).zip(cached) {
            match value {
                None => missing.push((key.clone(), cache_key.clone())),
                Some(v) if v == HOLD => held.push(key.clone()),
                Some(v) => match serde_json::from_slice::<S::Value>(&v) {
                    Ok(value) => {
                        found.insert(key.clone(), value);
                    }
                    Err(err) => {
                        tracing::debug!(loader = S::NAME, key = %cache_key, error = %err, "undecodable cache value");
                        broken.push((key.clone(), cache_key.clone()));
                    }
                },
            }
        }
        count("hit", found.len());
        count("miss", missing.len());
        count("held", held.len());
        count("invalid", broken.len());
        if !broken.is_empty() {
            let doomed: Vec<String> = broken.iter().map(|(_, k)| k.clone()).collect();
            self.call("delete", self.inner.cache.delete(&doomed)).await;
        }
        let mut fill = Vec::new();
        if !missing.is_empty() {
            let ks: Vec<S::Key> = missing.iter().map(|(k, _)| k.clone()).collect();
            let mut rows = S::fetch(stores, fresh, &ks).await?;
            for (key, cache_key) in missing {
                if let Some(v) = rows.remove(&key) {
                    fill.push((cache_key, serde_json::to_vec(&v)?));
                    found.insert(key, v);
                }
            }
        }
        let primary: Vec<S::Key> = held
            .iter()
            .cloned()
            .chain(broken.iter().map(|(k, _)| k.clone()))
            .collect();
        if !primary.is_empty() {
            let rows = S::fetch(stores, true, &primary).await?;
            for (key, cache_key) in broken {
                if let Some(v) = rows.get(&key) {
                    fill.push((cache_key, serde_json::to_vec(v)?));
                }
            }
            found.extend(rows);
        }
        if !fill.is_empty() {
            self.call("fill", self.inner.cache.add_many(&fill, self.inner.ttl))
                .await;
        }
        Ok(found)
    }
}

/// A DataLoader's loader for one [`Source`], reading through the cache layer.
pub struct CachedLoader<S> {
    stores: Stores,
    /// Read the primary on misses (the viewer wrote recently, or an event
    /// is being resolved right after its write).
    fresh: bool,
    source: PhantomData<fn() -> S>,
}

impl<S: Source> Loader<S::Key> for CachedLoader<S> {
    type Value = S::Value;
    type Error = Arc<anyhow::Error>;

    async fn load(&self, keys: &[S::Key]) -> Result<HashMap<S::Key, S::Value>, Self::Error> {
        metrics::counter!("drseek_loader_batches_total", "loader" => S::NAME).increment(1);
        self.stores
            .loader_cache
            .load::<S>(&self.stores, self.fresh, keys)
            .await
            .map_err(Arc::new)
    }
}

pub type Batched<S> = DataLoader<CachedLoader<S>, HashMapCache>;

fn batched<S: Source>(
    stores: &Stores,
    fresh: bool,
    max_batch: usize,
    remember: bool,
) -> Batched<S> {
    let loader = CachedLoader {
        stores: stores.clone(),
        fresh,
        source: PhantomData,
    };
    per_request(loader, remember).max_batch_size(max_batch)
}

/// A DataLoader that, if `remember`, keeps what it loaded for its lifetime.
fn per_request<T>(loader: T, remember: bool) -> DataLoader<T, HashMapCache> {
    let loader = DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default());
    loader.enable_all_cache(remember);
    loader
}

/// One request's loaders. Over HTTP they also remember what they loaded for
/// the request; on a WebSocket they live as long as the connection, so they
/// only batch, and read the primary on misses (events follow their writes).
pub struct Loaders {
    pub accounts: Batched<crate::accounts::loader::AccountSource>,
    pub case_docs: Batched<crate::cases::loader::CaseDocSource>,
    /// Whether the viewer may read a patient's case history (per patient).
    pub case_access: DataLoader<crate::cases::loader::ReadAccess, HashMapCache>,
    /// Audit rows of the request's case-document reads, written in one insert.
    pub case_audit: DataLoader<crate::cases::loader::AuditWriter, HashMapCache>,
    pub doctors: Batched<crate::directory::loader::DoctorSource>,
    pub patients: Batched<crate::directory::loader::PatientSource>,
    pub links: Batched<crate::contacts::loader::CareLinkSource>,
    pub messages: Batched<crate::messaging::loader::MessageAtSource>,
    pub files: Batched<crate::files::loader::FileSource>,
}

impl Loaders {
    pub fn for_request(stores: &Stores, viewer: &Viewer) -> Self {
        Self::new(stores, viewer, viewer.needs_primary(), true)
    }

    /// No per-key memory on a connection: every event loads, checks access
    /// and audits again.
    pub fn for_connection(stores: &Stores, viewer: &Viewer) -> Self {
        Self::new(stores, viewer, true, false)
    }

    fn new(stores: &Stores, viewer: &Viewer, fresh: bool, remember: bool) -> Self {
        Self {
            accounts: batched(stores, fresh, 1000, remember),
            case_docs: batched(stores, fresh, 500, remember),
            case_access: per_request(
                crate::cases::loader::ReadAccess::new(stores, viewer),
                remember,
            ),
            case_audit: per_request(
                crate::cases::loader::AuditWriter::new(stores, viewer),
                remember,
            ),
            doctors: batched(stores, fresh, 1000, remember),
            patients: batched(stores, fresh, 1000, remember),
            links: batched(stores, fresh, 1000, remember),
            // One OR term per key: keep statements short.
            messages: batched(stores, fresh, 200, remember),
            files: batched(stores, fresh, 1000, remember),
        }
    }
}

/// The request's loaders.
pub fn loaders<'a>(ctx: &Context<'a>) -> AppResult<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("request without loaders")))
}

/// Loads what a page's items will ask `loader` for in one batch, if the
/// query selects `path` below the list field (e.g. `["edges", "node", "doctor"]`).
/// Items then find their values in the request's cache: the batch does not
/// depend on how fast the items happen to resolve.
pub async fn prefetch<S: Source>(
    ctx: &Context<'_>,
    loader: &Batched<S>,
    path: &[&str],
    keys: impl IntoIterator<Item = S::Key>,
) -> AppResult<()> {
    let mut look = ctx.look_ahead();
    for field in path {
        look = look.field(field);
    }
    if look.exists() {
        loader
            .load_many(keys)
            .await
            .map_err(|e| loader_error(S::NAME, e))?;
    }
    Ok(())
}

/// Loads one value, turning a loader failure into an internal error.
pub async fn load_one<S: Source>(loader: &Batched<S>, key: S::Key) -> AppResult<Option<S::Value>> {
    loader
        .load_one(key)
        .await
        .map_err(|e| loader_error(S::NAME, e))
}

/// A loader's failure as the internal error the client sees.
pub fn loader_error(what: &str, e: Arc<anyhow::Error>) -> AppError {
    AppError::internal(anyhow::anyhow!("loading {what}: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::cache_key;

    #[test]
    fn plain_ids_stay_readable() {
        assert_eq!(cache_key("ld:5:", "doctor", 1, "42"), "ld:5:doctor:1:42");
        assert_eq!(
            cache_key("ld:5:", "message", 1, "7-3"),
            "ld:5:message:1:7-3"
        );
    }

    #[test]
    fn user_input_is_hashed_to_a_bounded_key() {
        for id in [
            "a:b",
            "x\r\nFLUSHALL\r\n",
            "*",
            "",
            &"9".repeat(65),
            "ld:5:doctor:1:42",
        ] {
            let key = cache_key("ld:5:", "doctor", 1, id);
            assert!(key.starts_with("ld:5:doctor:1:#"), "{key}");
            assert_eq!(key.len(), "ld:5:doctor:1:#".len() + 32, "{key}");
            assert!(key[15..].bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        }
        assert_ne!(
            cache_key("ld:5:", "doctor", 1, "a:b"),
            cache_key("ld:5:", "doctor", 1, "a:c")
        );
    }
}
