use async_graphql::{connection::Connection, Context, Object};

use super::{
    service::ContactsMeta,
    types::{CareLink, CareLinkStatus, ContactChanges},
};
use crate::{auth::Viewer, schema::services};

#[derive(Default)]
pub struct ContactsQuery;

#[Object]
impl ContactsQuery {
    /// The viewer's care links with the other party's profile, oldest first.
    /// Without `status`, the contact book: PENDING and ACTIVE links. `search`
    /// matches the other party's name. Default page 50, at most 500.
    #[graphql(complexity = "first.unwrap_or(50).clamp(1, 500) as usize * child_complexity + 1")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        status: Option<CareLinkStatus>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, CareLink, ContactsMeta>> {
        let svc = &services(ctx)?.contacts;
        Ok(svc
            .contacts(&Viewer::from_ctx(ctx), status, search, first, after)
            .await?)
    }

    /// What changed in the contact book after `since` (a `version` from
    /// `contacts` or an earlier call), oldest first, at most `first` (default
    /// and maximum 500). A version too old to answer gives RESYNC_REQUIRED.
    #[graphql(complexity = "first.unwrap_or(500).clamp(1, 500) as usize * child_complexity + 1")]
    async fn contact_changes(
        &self,
        ctx: &Context<'_>,
        since: String,
        first: Option<i32>,
    ) -> async_graphql::Result<ContactChanges> {
        Ok(services(ctx)?
            .contacts
            .changes(&Viewer::from_ctx(ctx), &since, first)
            .await?)
    }

    /// The doctor's own invite code (created on first use), for a QR code.
    async fn my_invite_code(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(services(ctx)?
            .contacts
            .invite_code(&Viewer::from_ctx(ctx))
            .await?)
    }
}
