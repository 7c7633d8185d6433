use async_graphql::{Context, Subscription, ID};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{
    service::{inbox_topic, typing_topic},
    stream,
    types::{ConversationEvent, ConversationEventKind, InboxItem, Message},
};
use crate::{auth::Viewer, error::AppError, schema::services};

#[derive(Default)]
pub struct MessagingSubscription;

#[Subscription]
impl MessagingSubscription {
    /// New messages. With `conversationId` and `afterSeq`: first every stored
    /// message after `afterSeq`, then live ones, in seq order, each once.
    /// Without `conversationId`: live messages of all the viewer's conversations.
    /// The stream ends when the conversation closes (its care link ended).
    async fn message_added(
        &self,
        ctx: &Context<'_>,
        conversation_id: Option<ID>,
        after_seq: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = Message>> {
        let viewer = Viewer::from_ctx(ctx);
        let member = viewer.require()?.account_id.0;
        let svc = services(ctx)?.messaging.clone();
        let only = match &conversation_id {
            Some(id) => Some(svc.conversation(&viewer, id).await?.model.id),
            None if after_seq.is_some() => {
                return Err(AppError::bad_input("afterSeq needs a conversationId").into());
            }
            None => None,
        };
        if after_seq.is_some_and(|s| s < 0) {
            return Err(AppError::bad_input("afterSeq must not be negative").into());
        }
        Ok(stream::messages(svc, member, only, after_seq))
    }

    /// Read receipts, typing and closing, for one conversation or all of the viewer's.
    /// Typing signals are dropped first when the client cannot keep up.
    async fn conversation_events(
        &self,
        ctx: &Context<'_>,
        conversation_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = ConversationEvent>> {
        let viewer = Viewer::from_ctx(ctx);
        let member = viewer.require()?.account_id.0;
        let svc = services(ctx)?.messaging.clone();
        let only = match &conversation_id {
            Some(id) => Some(svc.conversation(&viewer, id).await?.model.id),
            None => None,
        };
        let bus = svc.stores.bus.clone();
        let mut inbox = bus.subscribe(&inbox_topic(member));
        let mut typing = bus.subscribe(&typing_topic(member));
        Ok(async_stream::stream! {
            loop {
                let bytes = tokio::select! {
                    biased;
                    r = inbox.recv() => match r {
                        Ok(b) => b,
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                    r = typing.recv() => match r {
                        Ok(b) => b,
                        // Typing is ephemeral: what was skipped is simply gone.
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    },
                };
                let Ok(InboxItem::Event(event)) = serde_json::from_slice::<InboxItem>(&bytes) else { continue };
                if only.is_some_and(|c| c != event.conversation_id) {
                    continue;
                }
                let closing = event.kind == ConversationEventKind::Closed && only.is_some();
                yield event;
                if closing {
                    break;
                }
            }
        })
    }
}
