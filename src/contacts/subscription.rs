use async_graphql::{Context, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{service::contacts_topic, types::ContactEvent};
use crate::{auth::Viewer, schema::services};

#[derive(Default)]
pub struct ContactsSubscription;

#[Subscription]
impl ContactsSubscription {
    /// Changes to the viewer's contact book as they happen. Events can be
    /// missed while disconnected: on reconnect, call `contactChanges(since)`.
    async fn contact_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = ContactEvent>> {
        let viewer = Viewer::from_ctx(ctx);
        let account = viewer.require()?.account_id;
        let mut rx = services(ctx)?
            .stores
            .bus
            .subscribe(&contacts_topic(account));
        Ok(async_stream::stream! {
            loop {
                match rx.recv().await {
                    Ok(bytes) => {
                        if let Ok(event) = serde_json::from_slice::<ContactEvent>(&bytes) {
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
