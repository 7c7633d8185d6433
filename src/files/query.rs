use async_graphql::{Context, Object, ID};

use super::types::FileRef;
use crate::{auth::Viewer, error::AppError, schema::services};

#[derive(Default)]
pub struct FilesQuery;

#[Object]
impl FilesQuery {
    /// A file the viewer may read: their own, one sent in their conversation,
    /// or one attached to a case document they may read.
    async fn file(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<FileRef>> {
        let viewer = Viewer::from_ctx(ctx);
        let session = viewer.require()?;
        let id = id
            .parse::<i64>()
            .map_err(|_| AppError::bad_input("not a valid file id"))?;
        Ok(Some(services(ctx)?.files.visible(session, id).await?))
    }
}
