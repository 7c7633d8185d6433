use async_graphql::{Context, Enum, InputObject, Object, ID};
use chrono::{DateTime, Utc};
use entity::{conversation, message};
use serde::{Deserialize, Serialize};

use crate::{
    accounts::types::AccountId,
    cases::types::CaseDocument,
    directory::types::{Doctor, Patient},
    files::types::FileRef,
    loader::{load_one, loaders},
};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    Text,
    Image,
    Voice,
    File,
    /// Shares a case document both members may read.
    Case,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "TEXT",
            Self::Image => "IMAGE",
            Self::Voice => "VOICE",
            Self::File => "FILE",
            Self::Case => "CASE",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "IMAGE" => Self::Image,
            "VOICE" => Self::Voice,
            "FILE" => Self::File,
            "CASE" => Self::Case,
            _ => Self::Text,
        }
    }
}

/// A message as published on the bus and served to clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub file_id: Option<i64>,
    pub case_document_id: Option<String>,
    pub client_id: String,
    pub created_at_ms: i64,
}

impl From<message::Model> for Message {
    fn from(m: message::Model) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            seq: m.seq,
            sender_id: m.sender_id,
            kind: MessageKind::parse(&m.kind),
            text: m.text,
            file_id: m.file_id,
            case_document_id: m.case_document_id,
            client_id: m.client_id,
            created_at_ms: m.created_at_ms,
        }
    }
}

#[Object]
impl Message {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn conversation_id(&self) -> ID {
        ID(self.conversation_id.to_string())
    }
    /// Position in the conversation: 1, 2, 3, … with no gaps. Resume a
    /// subscription with the last one seen as `afterSeq`.
    async fn seq(&self) -> i64 {
        self.seq
    }
    async fn sender_id(&self) -> ID {
        AccountId(self.sender_id).to_id()
    }
    async fn kind(&self) -> MessageKind {
        self.kind
    }
    async fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }
    async fn file_id(&self) -> Option<ID> {
        self.file_id.map(|f| ID(f.to_string()))
    }
    /// The sent file (IMAGE, VOICE, FILE): readable by both members.
    async fn file(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<FileRef>> {
        let Some(id) = self.file_id else {
            return Ok(None);
        };
        Ok(load_one(&loaders(ctx)?.files, id).await?.map(FileRef))
    }
    async fn case_document_id(&self) -> Option<ID> {
        self.case_document_id.clone().map(ID)
    }
    /// CASE: the shared document, while the viewer may read the patient's
    /// case history (null after the doctor's care link ended). Each read is
    /// audited, allowed or denied.
    async fn case_document(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<CaseDocument>> {
        let Some(id) = &self.case_document_id else {
            return Ok(None);
        };
        let mut readable = crate::cases::loader::read(loaders(ctx)?, [id.clone()]).await?;
        Ok(readable.remove(id).map(CaseDocument))
    }
    /// The sender's own id for the message (idempotent retries).
    async fn client_id(&self) -> &str {
        &self.client_id
    }
    async fn created_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.created_at_ms).unwrap_or_default()
    }
}

/// A conversation as one of its members sees it.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub model: conversation::Model,
    pub viewer: AccountId,
}

impl Conversation {
    pub fn my_last_read(&self) -> i64 {
        if self.viewer.0 == self.model.doctor_id {
            self.model.doctor_last_read_seq
        } else {
            self.model.patient_last_read_seq
        }
    }

    pub fn other_last_read(&self) -> i64 {
        if self.viewer.0 == self.model.doctor_id {
            self.model.patient_last_read_seq
        } else {
            self.model.doctor_last_read_seq
        }
    }
}

#[Object]
impl Conversation {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    async fn care_link_id(&self) -> ID {
        ID(self.model.care_link_id.to_string())
    }
    async fn doctor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Doctor>> {
        Ok(load_one(&loaders(ctx)?.doctors, self.model.doctor_id)
            .await?
            .map(Doctor))
    }
    async fn patient(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Patient>> {
        Ok(load_one(&loaders(ctx)?.patients, self.model.patient_id)
            .await?
            .map(Patient))
    }
    /// Seq of the newest message (0 when empty).
    async fn last_seq(&self) -> i64 {
        self.model.last_seq
    }
    async fn last_message(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Message>> {
        if self.model.last_seq == 0 {
            return Ok(None);
        }
        Ok(load_one(
            &loaders(ctx)?.messages,
            (self.model.id, self.model.last_seq),
        )
        .await?)
    }
    /// Messages after the viewer's read marker.
    async fn unread_count(&self) -> i64 {
        (self.model.last_seq - self.my_last_read()).max(0)
    }
    /// The viewer's read marker.
    async fn last_read_seq(&self) -> i64 {
        self.my_last_read()
    }
    /// The other member's read marker (read receipts).
    async fn other_last_read_seq(&self) -> i64 {
        self.other_last_read()
    }
    async fn last_activity_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.model.last_activity_ms).unwrap_or_default()
    }
    /// True once the care link has ended: readable, but no new messages.
    async fn closed(&self) -> bool {
        self.model.closed
    }
}

#[derive(InputObject)]
pub struct SendMessageInput {
    pub conversation_id: ID,
    /// The client's id for this message (1–64 characters); resending with the
    /// same id returns the stored message instead of creating another.
    pub client_id: String,
    pub kind: MessageKind,
    /// TEXT: 1 to 4000 characters.
    pub text: Option<String>,
    /// IMAGE, VOICE, FILE: a file the sender owns.
    pub file_id: Option<ID>,
    /// CASE: a case document both members may read.
    pub case_document_id: Option<ID>,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConversationEventKind {
    /// A member's read marker moved (`accountId`, `seq`).
    Read,
    /// A member is typing (`accountId`); never stored.
    Typing,
    /// The care link ended: no more messages.
    Closed,
}

/// Something that happened in a conversation besides a message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConversationEvent {
    pub kind: ConversationEventKind,
    pub conversation_id: i64,
    pub account_id: i64,
    pub seq: Option<i64>,
    pub at_ms: i64,
}

#[Object]
impl ConversationEvent {
    async fn kind(&self) -> ConversationEventKind {
        self.kind
    }
    async fn conversation_id(&self) -> ID {
        ID(self.conversation_id.to_string())
    }
    async fn account_id(&self) -> ID {
        AccountId(self.account_id).to_id()
    }
    async fn seq(&self) -> Option<i64> {
        self.seq
    }
    async fn at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.at_ms).unwrap_or_default()
    }
}

/// What travels on a member's inbox topic.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum InboxItem {
    Message(Message),
    Event(ConversationEvent),
}
