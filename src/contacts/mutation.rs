use async_graphql::{Context, Object, ID};

use super::types::CareLink;
use crate::{auth::Viewer, schema::services};

#[derive(Default)]
pub struct ContactsMutation;

#[Object]
impl ContactsMutation {
    /// A patient asks a doctor for a care link, by the doctor's id or invite
    /// code. Asking again while a link is pending or active returns it.
    async fn request_care_link(
        &self,
        ctx: &Context<'_>,
        doctor_id: Option<ID>,
        invite_code: Option<String>,
    ) -> async_graphql::Result<CareLink> {
        let svc = &services(ctx)?.contacts;
        Ok(svc
            .request(&Viewer::from_ctx(ctx), doctor_id, invite_code)
            .await?)
    }

    /// The doctor accepts (ACTIVE) or declines (DECLINED) a pending request.
    async fn respond_care_link(
        &self,
        ctx: &Context<'_>,
        id: ID,
        accept: bool,
    ) -> async_graphql::Result<CareLink> {
        Ok(services(ctx)?
            .contacts
            .respond(&Viewer::from_ctx(ctx), &id, accept)
            .await?)
    }

    /// Either party ends an active link; a patient may also withdraw a pending request.
    async fn end_care_link(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<CareLink> {
        Ok(services(ctx)?
            .contacts
            .end(&Viewer::from_ctx(ctx), &id)
            .await?)
    }

    /// Replaces the doctor's invite code; the old code stops working.
    async fn rotate_invite_code(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(services(ctx)?
            .contacts
            .rotate_invite_code(&Viewer::from_ctx(ctx))
            .await?)
    }
}
