//! A chat message: stored before it is published, numbered per conversation.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub conversation_id: i64,
    /// 1, 2, 3, … within the conversation, with no gaps.
    pub seq: i64,
    pub sender_id: i64,
    /// TEXT, IMAGE, VOICE, FILE or CASE.
    pub kind: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub text: Option<String>,
    pub file_id: Option<i64>,
    pub case_document_id: Option<String>,
    /// The sender's id for the message, so a retry never creates a second one.
    pub client_id: String,
    pub created_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
