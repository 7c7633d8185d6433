//! A patient's profile; the primary key is the account id. Private to the
//! patient and to doctors with an active care link.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    pub name: String,
    /// Free text as the patient gives it (`female`, `male`, `other`, …).
    pub gender: Option<String>,
    pub birth_date: Option<Date>,
    pub phone: Option<String>,
    pub updated_at: DateTimeUtc,
    /// Change-sequence number of the last profile change, for contact-book sync.
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
