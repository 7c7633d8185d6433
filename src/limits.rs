//! Rate limits: fixed one-minute windows counted in the shared cache, so in
//! Redis a limit holds across every instance. A cache that cannot be reached
//! lets requests through (and logs): limits protect the service, they must
//! not take it down.
use std::time::Duration;

use crate::{
    error::{AppError, AppResult},
    store::Stores,
};

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Limits {
    stores: Stores,
    pub login_per_ip: u32,
    pub login_per_account: u32,
    pub mutations_per_account: u32,
}

/// The client's address, as the HTTP layer determined it.
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

impl Limits {
    pub fn new(stores: Stores, config: &crate::config::Config) -> Self {
        Self {
            stores,
            login_per_ip: config.login_attempts_per_minute_per_ip,
            login_per_account: config.login_attempts_per_minute_per_login,
            mutations_per_account: config.mutations_per_minute,
        }
    }

    /// Counts one event in `bucket`; RATE_LIMITED past `limit` per minute.
    pub async fn hit(&self, bucket: &str, limit: u32) -> AppResult<()> {
        if limit == 0 {
            return Ok(());
        }
        // Bucket names carry user input (logins): keep keys short and inert.
        let digest = blake3::hash(bucket.as_bytes()).to_hex();
        let key = format!("rl:v1:{}", &digest[..32]);
        // With the cache unreachable (logged by the cache layer) requests pass.
        match self.stores.loader_cache.incr_raw(&key, WINDOW).await {
            Some(n) if n > u64::from(limit) => Err(AppError::RateLimited {
                retry_after_secs: WINDOW.as_secs(),
            }),
            _ => Ok(()),
        }
    }
}
