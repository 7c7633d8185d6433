//! In-process bus: publishing is delivering.
use tokio::sync::broadcast;

use super::{Bus, Hub, Payload};

#[derive(Default)]
pub struct MemoryBus {
    hub: Hub,
}

#[async_trait::async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        self.hub.deliver(topic, Payload::from(payload));
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> broadcast::Receiver<Payload> {
        self.hub.subscribe(topic)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
