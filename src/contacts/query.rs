use async_graphql::{connection::Connection, Context, Object};

use super::{
    service::ContactsMeta,
    types::{CareLink, CareLinkStatus, ContactChanges},
};
use crate::{
    auth::Viewer,
    loader::{loaders, prefetch},
    schema::services,
};
use entity::care_link;

#[derive(Default)]
pub struct ContactsQuery;

/// Both parties' profiles for a page of links, one batch each.
async fn prefetch_profiles(
    ctx: &Context<'_>,
    at: &[&str],
    links: &[&care_link::Model],
) -> async_graphql::Result<()> {
    let loaders = loaders(ctx)?;
    let path = |leaf: &'static str| at.iter().copied().chain([leaf]).collect::<Vec<_>>();
    let (doctor, patient) = (path("doctor"), path("patient"));
    tokio::try_join!(
        prefetch(
            ctx,
            &loaders.doctors,
            &doctor,
            links.iter().map(|l| l.doctor_id)
        ),
        prefetch(
            ctx,
            &loaders.patients,
            &patient,
            links.iter().map(|l| l.patient_id)
        ),
    )?;
    Ok(())
}

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
        let page = svc
            .contacts(&Viewer::from_ctx(ctx), status, search, first, after)
            .await?;
        let links: Vec<_> = page.edges.iter().map(|e| &e.node.model).collect();
        prefetch_profiles(ctx, &["edges", "node"], &links).await?;
        Ok(page)
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
        let changes = services(ctx)?
            .contacts
            .changes(&Viewer::from_ctx(ctx), &since, first)
            .await?;
        let links: Vec<_> = changes.upserts.iter().map(|l| &l.model).collect();
        prefetch_profiles(ctx, &["upserts"], &links).await?;
        Ok(changes)
    }

    /// The doctor's own invite code (created on first use), for a QR code.
    async fn my_invite_code(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(services(ctx)?
            .contacts
            .invite_code(&Viewer::from_ctx(ctx))
            .await?)
    }
}
