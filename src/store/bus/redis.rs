//! Redis pub/sub bus. One connection per instance pattern-subscribes to the
//! deployment's prefix and hands every message to the local [`Hub`]; it
//! reconnects by itself when Redis comes back.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::broadcast;

use super::{Bus, Hub, Payload};

pub struct RedisBus {
    publisher: ConnectionManager,
    hub: Arc<Hub>,
    prefix: String,
    /// Bumped on every resubscription (see [`Bus::generation`]).
    generation: Arc<AtomicU64>,
}

impl RedisBus {
    pub async fn start(client: redis::Client, prefix: &str) -> anyhow::Result<Self> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let publisher = client.get_connection_manager_with_config(config).await?;
        let prefix = format!("{prefix}:bus:");
        let hub = Arc::new(Hub::default());
        // Subscribe before returning, so nothing published after start is missed.
        let first = subscribe(&client, &prefix).await?;
        let generation = Arc::new(AtomicU64::new(0));
        tokio::spawn(pump(
            client,
            prefix.clone(),
            Arc::clone(&hub),
            first,
            Arc::clone(&generation),
        ));
        Ok(Self {
            publisher,
            hub,
            prefix,
            generation,
        })
    }
}

async fn subscribe(client: &redis::Client, prefix: &str) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.psubscribe(format!("{prefix}*")).await?;
    Ok(pubsub)
}

/// Forwards Redis messages to the hub until the process ends, reconnecting with backoff.
async fn pump(
    client: redis::Client,
    prefix: String,
    hub: Arc<Hub>,
    first: redis::aio::PubSub,
    generation: Arc<AtomicU64>,
) {
    let mut next = Some(first);
    let mut backoff = Duration::from_millis(100);
    loop {
        let pubsub = match next.take() {
            Some(p) => p,
            None => match subscribe(&client, &prefix).await {
                Ok(p) => {
                    tracing::info!("bus reconnected to redis");
                    generation.fetch_add(1, Ordering::SeqCst);
                    p
                }
                Err(err) => {
                    tracing::warn!(error = %err, "bus cannot reach redis; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(100);
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            if let Some(topic) = msg.get_channel_name().strip_prefix(prefix.as_str()) {
                hub.deliver(topic, Payload::from(msg.get_payload_bytes()));
            }
        }
        tracing::warn!("bus lost its redis subscription; reconnecting");
        generation.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Bus for RedisBus {
    async fn publish(&self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        let mut conn = self.publisher.clone();
        redis::cmd("PUBLISH")
            .arg(format!("{}{topic}", self.prefix))
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> broadcast::Receiver<Payload> {
        self.hub.subscribe(topic)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.publisher.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}
