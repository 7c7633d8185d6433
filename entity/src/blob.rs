//! Stored bytes, addressed by their BLAKE3 digest: identical content is kept once.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "blobs")]
pub struct Model {
    /// Hex BLAKE3 of the content; also where the blob store keeps it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub blake3: String,
    /// Hex MD5, for clients that check before uploading.
    pub md5: String,
    pub size: i64,
    /// Sniffed from the bytes.
    pub content_type: String,
    /// Last time an upload or claim pointed a file at it (ms): garbage
    /// collection leaves recently used blobs alone.
    pub last_used_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
