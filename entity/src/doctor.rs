//! A doctor's public profile; the primary key is the account id.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "doctors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    pub name: String,
    pub title: String,
    pub department: String,
    pub hospital: String,
    /// Comma-separated, kept as text so `search` can match it on every backend.
    pub specialties: String,
    pub bio: String,
    pub accepting_patients: bool,
    pub updated_at: DateTimeUtc,
    /// Code a patient can use to ask for a link (e.g. from a QR code); rotatable.
    pub invite_code: Option<String>,
    /// Change-sequence number of the last profile change, for contact-book sync.
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
