//! Login identities. Role decides which profile table holds the person.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `PATIENT`, `DOCTOR` or `ADMIN`.
    pub role: String,
    /// Normalised e-mail (lower case) or E.164 phone number; unique.
    #[sea_orm(unique)]
    pub login: String,
    /// Argon2id PHC string; never leaves the server.
    pub password_hash: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
