use async_graphql::{Context, Object};

use super::types::Account;
use crate::{auth::Viewer, error::AppError, schema::services};

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The account of the token sent with the request.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Account>> {
        let viewer = Viewer::from_ctx(ctx);
        let session = viewer.require()?;
        let account = services(ctx)?
            .accounts
            .account(&viewer, session.account_id)
            .await?;
        Ok(Some(account.ok_or(AppError::Unauthenticated)?))
    }
}
