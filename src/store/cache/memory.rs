//! In-process cache: a bounded map with per-entry expiry.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::Cache;

pub struct MemoryCache {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    /// Upper bound on entries; past it expired entries go first, then everything.
    capacity: usize,
}

impl MemoryCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity,
        }
    }

    /// Stores the entries; with `only_if_absent`, live entries stay as they are.
    fn set_all(&self, entries: &[(String, Vec<u8>)], ttl: Duration, only_if_absent: bool) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() + entries.len() > self.capacity {
            map.retain(|_, (_, exp)| *exp > now);
            if map.len() + entries.len() > self.capacity {
                map.clear();
            }
        }
        for (k, v) in entries {
            let live = map.get(k).is_some_and(|(_, exp)| *exp > now);
            if !(only_if_absent && live) {
                map.insert(k.clone(), (v.clone(), now + ttl));
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, Instant)>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait::async_trait]
impl Cache for MemoryCache {
    async fn get_many(&self, keys: &[String]) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
        let now = Instant::now();
        let map = self.lock();
        Ok(keys
            .iter()
            .map(|k| {
                map.get(k)
                    .filter(|(_, exp)| *exp > now)
                    .map(|(v, _)| v.clone())
            })
            .collect())
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration) -> anyhow::Result<()> {
        self.set_all(entries, ttl, false);
        Ok(())
    }

    async fn add_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration) -> anyhow::Result<()> {
        self.set_all(entries, ttl, true);
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        let mut map = self.lock();
        for k in keys {
            map.remove(k);
        }
        Ok(())
    }

    async fn incr(&self, key: &str, window: Duration) -> anyhow::Result<u64> {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= self.capacity {
            map.retain(|_, (_, exp)| *exp > now);
        }
        let entry = map
            .entry(key.to_owned())
            .or_insert_with(|| (0u64.to_le_bytes().to_vec(), now + window));
        if entry.1 <= now {
            *entry = (0u64.to_le_bytes().to_vec(), now + window);
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(entry.0.get(..8).unwrap_or(&[0; 8]));
        let next = u64::from_le_bytes(count) + 1;
        entry.0 = next.to_le_bytes().to_vec();
        Ok(next)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
