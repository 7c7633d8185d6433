use async_graphql::{Context, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{service::account_topic, types::AccountEvent};
use crate::{auth::Viewer, schema::services};

#[derive(Default)]
pub struct AccountsSubscription;

#[Subscription]
impl AccountsSubscription {
    /// Changes to the viewer's own account, from any device or instance.
    async fn account_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = AccountEvent>> {
        let viewer = Viewer::from_ctx(ctx);
        let account = viewer.require()?.account_id;
        let mut rx = services(ctx)?.stores.bus.subscribe(&account_topic(account));
        Ok(async_stream::stream! {
            loop {
                match rx.recv().await {
                    Ok(bytes) => {
                        if let Ok(event) = serde_json::from_slice::<AccountEvent>(&bytes) {
                            yield event;
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}
