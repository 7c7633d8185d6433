use async_graphql::{Context, Object, Upload};

use super::types::FileRef;
use crate::{auth::Viewer, error::AppError, http::upload::Uploads, schema::services};

#[derive(Default)]
pub struct FilesMutation;

#[Object]
impl FilesMutation {
    /// Uploads a file (GraphQL multipart request; send a `GraphQL-Preflight: 1`
    /// header). With `md5`, a damaged upload is refused.
    async fn upload_file(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        md5: Option<String>,
    ) -> async_graphql::Result<FileRef> {
        let viewer = Viewer::from_ctx(ctx);
        let session = viewer.require()?;
        let value = file
            .value(ctx)
            .map_err(|_| AppError::bad_input("`file` must be a multipart upload"))?;
        let received = ctx
            .data_opt::<Uploads>()
            .and_then(|u| u.0.get(file.0))
            .ok_or_else(|| AppError::bad_input("`file` must be a multipart upload"))?;
        Ok(services(ctx)?
            .files
            .store_upload(session, received, &value.filename, md5.as_deref())
            .await?)
    }

    /// Asks whether the server has these bytes already. If MD5, BLAKE3 and
    /// size all match stored bytes, the caller gets their own file for them
    /// and nothing needs uploading; null means "upload the file".
    async fn claim_file(
        &self,
        ctx: &Context<'_>,
        md5: String,
        blake3: String,
        size: i64,
        file_name: String,
    ) -> async_graphql::Result<Option<FileRef>> {
        let viewer = Viewer::from_ctx(ctx);
        let session = viewer.require()?;
        Ok(services(ctx)?
            .files
            .claim(session, &md5, &blake3, size, &file_name)
            .await?)
    }
}
