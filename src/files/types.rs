use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use entity::file;

use crate::schema::services;

/// A file of its owner: a name for stored bytes.
#[derive(Clone, Debug)]
pub struct FileRef(pub file::Model);

#[Object]
impl FileRef {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// Sniffed from the bytes, not taken from the client.
    async fn content_type(&self) -> &str {
        &self.0.content_type
    }
    async fn size(&self) -> i64 {
        self.0.size
    }
    /// Hex BLAKE3 of the content (also the download's ETag).
    async fn blake3(&self) -> &str {
        &self.0.blob_blake3
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// A short-lived download URL that needs no token (for `<img src>`,
    /// players and download managers).
    async fn url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(services(ctx)?.files.signed_path(self.0.id))
    }
}
