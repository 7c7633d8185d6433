use async_graphql::{Context, Object};

use super::types::UpdateProfileInput;
use crate::{accounts::types::Account, auth::Viewer, schema::services};

#[derive(Default)]
pub struct DirectoryMutation;

#[Object]
impl DirectoryMutation {
    /// Updates the viewer's own doctor or patient profile.
    async fn update_my_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> async_graphql::Result<Account> {
        Ok(services(ctx)?
            .directory
            .update_my_profile(&Viewer::from_ctx(ctx), input)
            .await?)
    }
}
