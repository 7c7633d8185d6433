//! A doctor–patient relationship; the contact book is the set of a user's links.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "care_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub doctor_id: i64,
    pub patient_id: i64,
    /// `PENDING`, `ACTIVE`, `DECLINED` or `ENDED`.
    pub status: String,
    /// PENDING or ACTIVE: in the contact book. Indexed with the party and id
    /// so that paging the book is one index range scan.
    pub is_open: bool,
    /// `doctor:patient` while PENDING or ACTIVE, NULL after; unique, so a pair
    /// has at most one open link even under concurrent requests.
    pub open_key: Option<String>,
    /// Change-sequence number of the last change to this link.
    pub version: i64,
    pub requested_at: DateTimeUtc,
    pub responded_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub ended_by: Option<i64>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
