//! The event bus: publish on a topic, every subscriber on every instance receives.
//! Redis pub/sub in production, in-process broadcast by default. Both deliver
//! through a local [`Hub`], so subscribers see the same behaviour on either.
//!
//! Delivery is at-most-once: a slow subscriber or a lost Redis connection may
//! miss events. Consumers that must not lose anything (chat) store first and
//! fill gaps from SQL; see the messaging domain.
pub mod memory;
pub mod redis;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::sync::broadcast;

pub type Payload = Arc<[u8]>;

#[async_trait::async_trait]
pub trait Bus: Send + Sync {
    async fn publish(&self, topic: &str, payload: &[u8]) -> anyhow::Result<()>;
    /// Events published on `topic` from now on.
    fn subscribe(&self, topic: &str) -> broadcast::Receiver<Payload>;
    async fn ping(&self) -> anyhow::Result<()>;
    /// `redis` or `memory`, for `/readyz`.
    fn kind(&self) -> &'static str;
    /// Changes whenever this instance may have missed events (its Redis
    /// subscription was re-established): lossless consumers then recheck SQL.
    fn generation(&self) -> u64 {
        0
    }
}

/// Local fan-out: one broadcast channel per topic with live subscribers.
#[derive(Default)]
pub struct Hub {
    topics: Mutex<HashMap<String, broadcast::Sender<Payload>>>,
}

/// Events a subscriber may fall behind by before it is told it lagged.
const TOPIC_CAPACITY: usize = 1024;

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, broadcast::Sender<Payload>>> {
        self.topics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn subscribe(&self, topic: &str) -> broadcast::Receiver<Payload> {
        self.lock()
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
            .subscribe()
    }

    pub fn deliver(&self, topic: &str, payload: Payload) {
        let mut topics = self.lock();
        if let Some(sender) = topics.get(topic) {
            if sender.send(payload).is_err() {
                // Nobody listens any more: forget the topic.
                topics.remove(topic);
            }
        }
    }
}
