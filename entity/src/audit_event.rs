//! Who touched which case document, when, and whether it was allowed.
//! Append-only: nothing in the server updates or deletes these rows.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The account that acted; None for an anonymous attempt.
    pub actor_id: Option<i64>,
    /// READ, LIST, HISTORY, CREATE, UPDATE, ARCHIVE, RESTORE.
    pub action: String,
    pub document_id: Option<String>,
    /// The patient whose records were concerned, when known.
    pub patient_id: Option<i64>,
    /// ALLOWED or DENIED.
    pub outcome: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
