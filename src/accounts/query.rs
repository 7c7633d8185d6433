use async_graphql::{Context, Object};

use super::types::Account;
use crate::{auth::Viewer, error::AppError};

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The account of the token sent with the request.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Account>> {
        let viewer = Viewer::from_ctx(ctx);
        let session = viewer.require()?;
        let loaders = crate::loader::loaders(ctx)?;
        let account = crate::loader::load_one(&loaders.accounts, session.account_id.0).await?;
        Ok(Some(account.ok_or(AppError::Unauthenticated)?))
    }
}
