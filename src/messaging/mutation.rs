use async_graphql::{Context, Object, ID};

use super::types::{Conversation, Message, SendMessageInput};
use crate::{auth::Viewer, schema::services};

#[derive(Default)]
pub struct MessagingMutation;

#[Object]
impl MessagingMutation {
    /// Stores a message with the conversation's next seq, then delivers it.
    /// Retrying with the same `clientId` returns the same message.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        input: SendMessageInput,
    ) -> async_graphql::Result<Message> {
        Ok(services(ctx)?
            .messaging
            .send(&Viewer::from_ctx(ctx), input)
            .await?)
    }

    /// Moves the viewer's read marker forward (never back) and notifies the other member.
    async fn mark_read(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        seq: i64,
    ) -> async_graphql::Result<Conversation> {
        Ok(services(ctx)?
            .messaging
            .mark_read(&Viewer::from_ctx(ctx), &conversation_id, seq)
            .await?)
    }

    /// Tells the other member the viewer is typing (not stored).
    async fn typing(&self, ctx: &Context<'_>, conversation_id: ID) -> async_graphql::Result<bool> {
        Ok(services(ctx)?
            .messaging
            .typing(&Viewer::from_ctx(ctx), &conversation_id)
            .await?)
    }
}
