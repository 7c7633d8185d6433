//! The embedded store's case documents: indexed metadata columns beside the
//! JSON body (content and attachments). Used when no MongoDB is configured.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "case_documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub patient_id: i64,
    pub author_id: i64,
    pub kind: String,
    pub title: String,
    /// Milliseconds since the epoch: exact on every backend, so keyset cursors match.
    pub occurred_at_ms: i64,
    pub version: i32,
    pub archived: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// `{"content": {...}, "attachments": [...]}` as JSON text.
    #[sea_orm(column_type = "Text")]
    pub body: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
