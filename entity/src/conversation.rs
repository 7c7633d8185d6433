//! One conversation per care link, between its doctor and its patient.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub care_link_id: i64,
    pub doctor_id: i64,
    pub patient_id: i64,
    /// Seq of the newest message; the next one gets `last_seq + 1`. The row
    /// lock taken to bump it keeps seqs gap-free and in commit order.
    pub last_seq: i64,
    /// Last message time (ms since the epoch), or creation time: the list order.
    pub last_activity_ms: i64,
    pub doctor_last_read_seq: i64,
    pub patient_last_read_seq: i64,
    /// Set when the care link ends: history stays readable, sending is refused.
    pub closed: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
