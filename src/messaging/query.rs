use async_graphql::{connection::Connection, Context, Object, ID};

use super::types::{Conversation, Message};
use crate::{
    auth::Viewer,
    loader::{loaders, prefetch},
    schema::services,
};

#[derive(Default)]
pub struct MessagingQuery;

#[Object]
impl MessagingQuery {
    /// The viewer's conversations, most recent activity first, each with its
    /// last message and the viewer's unread count.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 500) as usize * child_complexity + 1")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Conversation>> {
        let page = services(ctx)?
            .messaging
            .conversations(&Viewer::from_ctx(ctx), first, after)
            .await?;
        let loaders = loaders(ctx)?;
        let rows: Vec<_> = page.edges.iter().map(|e| &e.node.model).collect();
        tokio::try_join!(
            prefetch(
                ctx,
                &loaders.messages,
                &["edges", "node", "lastMessage"],
                rows.iter()
                    .filter(|c| c.last_seq > 0)
                    .map(|c| (c.id, c.last_seq)),
            ),
            prefetch(
                ctx,
                &loaders.doctors,
                &["edges", "node", "doctor"],
                rows.iter().map(|c| c.doctor_id)
            ),
            prefetch(
                ctx,
                &loaders.patients,
                &["edges", "node", "patient"],
                rows.iter().map(|c| c.patient_id)
            ),
        )?;
        Ok(page)
    }

    /// A conversation the viewer is a member of.
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Conversation>> {
        Ok(Some(
            services(ctx)?
                .messaging
                .conversation(&Viewer::from_ctx(ctx), &id)
                .await?,
        ))
    }

    /// Messages in seq order: `first`/`after` forward, `last`/`before`
    /// backward; with neither, the newest page.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(1, 500) as usize * child_complexity + 1"
    )]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<String, Message>> {
        let svc = &services(ctx)?.messaging;
        let page = svc
            .messages(
                &Viewer::from_ctx(ctx),
                &conversation_id,
                first,
                after,
                last,
                before,
            )
            .await?;
        let loaders = loaders(ctx)?;
        let messages: Vec<&Message> = page.edges.iter().map(|e| &e.node).collect();
        prefetch(
            ctx,
            &loaders.files,
            &["edges", "node", "file"],
            messages.iter().filter_map(|m| m.file_id),
        )
        .await?;
        let look = ctx.look_ahead();
        if look
            .field("edges")
            .field("node")
            .field("caseDocument")
            .exists()
        {
            crate::cases::loader::read(
                loaders,
                messages.iter().filter_map(|m| m.case_document_id.clone()),
            )
            .await?;
        }
        Ok(page)
    }
}
