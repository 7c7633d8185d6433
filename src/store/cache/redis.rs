//! Redis cache: MGET for batches, pipelined SET EX, every key under the deployment's prefix.
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::Cache;

pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisCache {
    pub async fn connect(client: redis::Client, prefix: &str) -> anyhow::Result<Self> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            conn,
            prefix: format!("{prefix}:cache:"),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// One pipelined SET PX per entry; with `nx`, SET NX (keys that hold a value stay).
    async fn set_all(
        &self,
        entries: &[(String, Vec<u8>)],
        ttl: Duration,
        nx: bool,
    ) -> anyhow::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (k, v) in entries {
            let cmd = pipe
                .cmd("SET")
                .arg(self.key(k))
                .arg(v)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64);
            if nx {
                cmd.arg("NX");
            }
            cmd.ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Cache for RedisCache {
    async fn get_many(&self, keys: &[String]) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let mut conn = self.conn.clone();
        let values: Vec<Option<Vec<u8>>> =
            redis::cmd("MGET").arg(&full).query_async(&mut conn).await?;
        Ok(values)
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration) -> anyhow::Result<()> {
        self.set_all(entries, ttl, false).await
    }

    async fn add_many(&self, entries: &[(String, Vec<u8>)], ttl: Duration) -> anyhow::Result<()> {
        self.set_all(entries, ttl, true).await
    }

    async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let mut conn = self.conn.clone();
        redis::cmd("DEL")
            .arg(&full)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn incr(&self, key: &str, window: Duration) -> anyhow::Result<u64> {
        // SET NX starts the window with its expiry; INCR keeps the expiry.
        let key = self.key(key);
        let mut conn = self.conn.clone();
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(0)
            .arg("PX")
            .arg(window.as_millis().max(1) as u64)
            .arg("NX")
            .ignore()
            .cmd("INCR")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
