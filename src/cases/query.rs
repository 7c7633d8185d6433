use async_graphql::{connection::Connection, Context, Object, ID};
use chrono::{DateTime, Utc};

use super::{audit::AuditEvent, types::CaseDocument};
use crate::{
    auth::Viewer,
    loader::{loaders, prefetch},
    schema::services,
};

#[derive(Default)]
pub struct CasesQuery;

#[Object]
impl CasesQuery {
    /// One case document, if the viewer may read it (audited).
    async fn case_document(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<CaseDocument>> {
        Ok(Some(
            services(ctx)?
                .cases
                .get(&Viewer::from_ctx(ctx), &id)
                .await?,
        ))
    }

    /// A patient's case documents, newest `occurredAt` first, optionally of
    /// some kinds and within [from, to). Archived documents only when asked.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 500) as usize * child_complexity + 1")]
    async fn case_documents(
        &self,
        ctx: &Context<'_>,
        patient_id: ID,
        kinds: Option<Vec<String>>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        include_archived: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, CaseDocument>> {
        let svc = &services(ctx)?.cases;
        let page = svc
            .list(
                &Viewer::from_ctx(ctx),
                &patient_id,
                kinds,
                from,
                to,
                include_archived.unwrap_or(false),
                first,
                after,
            )
            .await?;
        let loaders = loaders(ctx)?;
        let docs: Vec<_> = page.edges.iter().map(|e| &e.node.0).collect();
        tokio::try_join!(
            prefetch(
                ctx,
                &loaders.doctors,
                &["edges", "node", "authorDoctor"],
                docs.iter().map(|d| d.author_id)
            ),
            prefetch(
                ctx,
                &loaders.patients,
                &["edges", "node", "patient"],
                docs.iter().map(|d| d.patient_id)
            ),
        )?;
        Ok(page)
    }

    /// Who accessed the viewer's (a patient's) case history, newest first.
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditEvent>> {
        Ok(services(ctx)?
            .cases
            .audit_trail(&Viewer::from_ctx(ctx), first, after)
            .await?)
    }
}
