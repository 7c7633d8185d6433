//! Messaging rules.
//!
//! - A message is committed to SQL with the conversation's next `seq` (the
//!   conversation row is locked to take it) and only then published.
//! - A retry with the same `clientId` returns the stored message; the same
//!   id with different content is a CONFLICT.
//! - Only members see a conversation (others get NOT_FOUND); a closed one
//!   (the care link ended) stays readable and refuses new messages.
use std::collections::HashMap;

use async_graphql::{
    connection::{Connection, Edge},
    ID,
};
use chrono::Utc;
use entity::{care_link, conversation, message};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::types::{
    Conversation, ConversationEvent, ConversationEventKind, InboxItem, Message, MessageKind,
    SendMessageInput,
};
use crate::{
    accounts::{service::AccountsService, types::AccountId},
    auth::Viewer,
    error::{is_unique_violation, AppError, AppResult},
    pagination,
    store::documents::DocumentStore as _,
    store::{bus::Bus, Stores},
};

/// Longest text message, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
const CONVERSATION_CURSOR: &str = "conv";
const MESSAGE_CURSOR: &str = "msg";

pub fn inbox_topic(account: i64) -> String {
    format!("inbox:{account}")
}

pub fn typing_topic(account: i64) -> String {
    format!("typing:{account}")
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn parse_id(id: &ID, what: &str) -> AppResult<i64> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        AppError::bad_input(format!(
            "`{}` is not a valid {what} id",
            id.as_str().chars().take(40).collect::<String>()
        ))
    })
}

/// Opens the conversation of a link that just became ACTIVE (inside its transaction).
pub async fn open_for_link<C: ConnectionTrait>(
    txn: &C,
    link: &care_link::Model,
) -> Result<(), DbErr> {
    let exists = conversation::Entity::find()
        .filter(conversation::Column::CareLinkId.eq(link.id))
        .one(txn)
        .await?;
    if exists.is_none() {
        conversation::ActiveModel {
            care_link_id: Set(link.id),
            doctor_id: Set(link.doctor_id),
            patient_id: Set(link.patient_id),
            last_seq: Set(0),
            last_activity_ms: Set(now_ms()),
            doctor_last_read_seq: Set(0),
            patient_last_read_seq: Set(0),
            closed: Set(false),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// Closes the conversation of a link that just ended (inside its transaction).
pub async fn close_for_link<C: ConnectionTrait>(
    txn: &C,
    link_id: i64,
) -> Result<Option<conversation::Model>, DbErr> {
    conversation::Entity::update_many()
        .col_expr(conversation::Column::Closed, Expr::value(true))
        .filter(conversation::Column::CareLinkId.eq(link_id))
        .exec(txn)
        .await?;
    conversation::Entity::find()
        .filter(conversation::Column::CareLinkId.eq(link_id))
        .one(txn)
        .await
}

/// Tells both members (every instance) that a conversation closed.
pub async fn publish_closed(bus: &dyn Bus, conv: &conversation::Model, by: i64) {
    let event = ConversationEvent {
        kind: ConversationEventKind::Closed,
        conversation_id: conv.id,
        account_id: by,
        seq: None,
        at_ms: now_ms(),
    };
    publish(bus, conv, &InboxItem::Event(event)).await;
}

async fn publish(bus: &dyn Bus, conv: &conversation::Model, item: &InboxItem) {
    let Ok(bytes) = serde_json::to_vec(item) else {
        return;
    };
    for member in [conv.doctor_id, conv.patient_id] {
        if let Err(e) = bus.publish(&inbox_topic(member), &bytes).await {
            // Stored already: subscribers recover it from SQL.
            tracing::warn!(error = %e, "could not publish to the bus");
        }
    }
}

#[derive(Clone)]
pub struct MessagingService {
    pub(crate) stores: Stores,
    accounts: AccountsService,
    default_page: usize,
    max_page: usize,
}

impl MessagingService {
    pub fn new(stores: Stores, accounts: AccountsService, config: &crate::config::Config) -> Self {
        Self {
            stores,
            accounts,
            default_page: config.default_page_size,
            max_page: config.max_page_size,
        }
    }

    /// The conversation if `viewer` is a member; NOT_FOUND otherwise.
    pub async fn member_conversation(
        &self,
        viewer: &Viewer,
        id: i64,
        fresh: bool,
    ) -> AppResult<Conversation> {
        let session = viewer.require()?;
        let me = session.account_id;
        let reader = self.stores.sql.reader(fresh || viewer.needs_primary());
        let model = conversation::Entity::find_by_id(id).one(&reader).await?;
        match model {
            Some(m) if m.doctor_id == me.0 || m.patient_id == me.0 => Ok(Conversation {
                model: m,
                viewer: me,
            }),
            _ => Err(AppError::NotFound),
        }
    }

    pub async fn conversation(&self, viewer: &Viewer, id: &ID) -> AppResult<Conversation> {
        self.member_conversation(viewer, parse_id(id, "conversation")?, false)
            .await
    }

    /// The viewer's conversations, most recent activity first.
    pub async fn conversations(
        &self,
        viewer: &Viewer,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<String, Conversation>> {
        let session = viewer.require()?;
        let me = session.account_id.0;
        let limit = pagination::page_size(first, self.default_page, self.max_page)?;
        let mut q = conversation::Entity::find().filter(
            Condition::any()
                .add(conversation::Column::DoctorId.eq(me))
                .add(conversation::Column::PatientId.eq(me)),
        );
        if let Some(c) = &after {
            let key = pagination::decode_cursor(CONVERSATION_CURSOR, c)?;
            let bad = || AppError::bad_input("malformed cursor");
            let (ms, id) = key.split_once(':').ok_or_else(bad)?;
            let (ms, id): (i64, i64) = (
                ms.parse().map_err(|_| bad())?,
                id.parse().map_err(|_| bad())?,
            );
            q = q.filter(
                Condition::any()
                    .add(conversation::Column::LastActivityMs.lt(ms))
                    .add(
                        Condition::all()
                            .add(conversation::Column::LastActivityMs.eq(ms))
                            .add(conversation::Column::Id.lt(id)),
                    ),
            );
        }
        let mut rows = q
            .order_by_desc(conversation::Column::LastActivityMs)
            .order_by_desc(conversation::Column::Id)
            .limit(limit + 1)
            .all(&self.stores.sql.reader(viewer.needs_primary()))
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges.extend(rows.into_iter().map(|m| {
            let cursor = pagination::encode_cursor(
                CONVERSATION_CURSOR,
                &format!("{}:{}", m.last_activity_ms, m.id),
            );
            Edge::new(
                cursor,
                Conversation {
                    model: m,
                    viewer: session.account_id,
                },
            )
        }));
        Ok(conn)
    }

    /// Messages by seq: `first`/`after` pages forward, `last`/`before` backward;
    /// with neither, the newest page.
    pub async fn messages(
        &self,
        viewer: &Viewer,
        conversation_id: &ID,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> AppResult<Connection<String, Message>> {
        let conv = self.conversation(viewer, conversation_id).await?;
        if first.is_some() && last.is_some() {
            return Err(AppError::bad_input("give `first` or `last`, not both"));
        }
        let backward = last.is_some() || (first.is_none() && after.is_none());
        let limit = pagination::page_size(
            if backward { last } else { first },
            self.default_page,
            self.max_page,
        )?;
        let seq = |c: &Option<String>| {
            c.as_deref()
                .map(|c| pagination::decode_id_cursor(MESSAGE_CURSOR, c))
                .transpose()
        };
        let (after, before) = (seq(&after)?, seq(&before)?);
        let mut q =
            message::Entity::find().filter(message::Column::ConversationId.eq(conv.model.id));
        if let Some(a) = after {
            q = q.filter(message::Column::Seq.gt(a));
        }
        if let Some(b) = before {
            q = q.filter(message::Column::Seq.lt(b));
        }
        q = if backward {
            q.order_by_desc(message::Column::Seq)
        } else {
            q.order_by_asc(message::Column::Seq)
        };
        let mut rows = q
            .limit(limit + 1)
            .all(&self.stores.sql.reader(viewer.needs_primary()))
            .await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        if backward {
            rows.reverse();
        }
        let (has_prev, has_next) = if backward {
            (more, before.is_some())
        } else {
            (after.is_some(), more)
        };
        let mut conn = Connection::new(has_prev, has_next);
        conn.edges.extend(rows.into_iter().map(|m| {
            Edge::new(
                pagination::encode_cursor(MESSAGE_CURSOR, &m.seq.to_string()),
                Message::from(m),
            )
        }));
        Ok(conn)
    }

    /// Stored messages of a conversation with seq in (after, until], oldest first, from the primary.
    pub async fn stored_after(
        &self,
        conversation: i64,
        after: i64,
        until: Option<i64>,
        limit: u64,
    ) -> AppResult<Vec<Message>> {
        let mut q = message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation))
            .filter(message::Column::Seq.gt(after));
        if let Some(u) = until {
            q = q.filter(message::Column::Seq.lte(u));
        }
        let rows = q
            .order_by_asc(message::Column::Seq)
            .limit(limit)
            .all(self.stores.sql.writer())
            .await?;
        Ok(rows.into_iter().map(Message::from).collect())
    }

    /// Seq of the first message created at or after `ms`, minus one: where a
    /// subscription that started at `ms` begins in a conversation it had not seen.
    pub async fn seq_before_time(&self, conversation: i64, ms: i64) -> AppResult<i64> {
        let first: Option<i64> = message::Entity::find()
            .select_only()
            .column(message::Column::Seq)
            .filter(message::Column::ConversationId.eq(conversation))
            .filter(message::Column::CreatedAtMs.gte(ms))
            .order_by_asc(message::Column::Seq)
            .into_tuple()
            .one(self.stores.sql.writer())
            .await?;
        match first {
            Some(s) => Ok(s - 1),
            None => Ok(conversation::Entity::find_by_id(conversation)
                .one(self.stores.sql.writer())
                .await?
                .map_or(0, |c| c.last_seq)),
        }
    }

    /// The viewer's conversations active since `ms`, with their last seq, from the primary.
    pub async fn active_since(&self, member: i64, ms: i64) -> AppResult<HashMap<i64, i64>> {
        let rows: Vec<(i64, i64)> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::Id)
            .column(conversation::Column::LastSeq)
            .filter(
                Condition::any()
                    .add(conversation::Column::DoctorId.eq(member))
                    .add(conversation::Column::PatientId.eq(member)),
            )
            .filter(conversation::Column::LastActivityMs.gte(ms))
            .into_tuple()
            .all(self.stores.sql.writer())
            .await?;
        Ok(rows.into_iter().collect())
    }

    pub async fn send(&self, viewer: &Viewer, input: SendMessageInput) -> AppResult<Message> {
        let session = viewer.require()?;
        let me = session.account_id.0;
        let conv = self
            .member_conversation(
                viewer,
                parse_id(&input.conversation_id, "conversation")?,
                true,
            )
            .await?
            .model;
        let client_id = input.client_id.trim().to_owned();
        if client_id.is_empty()
            || client_id.chars().count() > 64
            || client_id.chars().any(char::is_control)
        {
            return Err(AppError::bad_input(
                "clientId must be 1 to 64 printable characters",
            ));
        }
        let (text, file_id, case_document_id) = self.payload(&conv, &input, me).await?;
        // A retry: the same message, or a conflict if the content differs.
        let same_client = message::Entity::find()
            .filter(message::Column::ConversationId.eq(conv.id))
            .filter(message::Column::SenderId.eq(me))
            .filter(message::Column::ClientId.eq(client_id.clone()));
        let (want_text, want_case) = (text.clone(), case_document_id.clone());
        let matches = move |m: &message::Model| {
            m.kind == input.kind.as_str()
                && m.text == want_text
                && m.file_id == file_id
                && m.case_document_id == want_case
        };
        if let Some(existing) = same_client.clone().one(self.stores.sql.writer()).await? {
            return if matches(&existing) {
                Ok(existing.into())
            } else {
                Err(AppError::Conflict(
                    "this clientId was used for a different message".into(),
                ))
            };
        }
        if conv.closed {
            return Err(AppError::Forbidden(
                "the care link has ended: this conversation is read-only".into(),
            ));
        }
        let txn = self.stores.sql.writer().begin().await?;
        let now = now_ms();
        let bumped = conversation::Entity::update_many()
            .col_expr(
                conversation::Column::LastSeq,
                Expr::col(conversation::Column::LastSeq).add(1),
            )
            .col_expr(conversation::Column::LastActivityMs, Expr::value(now))
            .filter(conversation::Column::Id.eq(conv.id))
            .filter(conversation::Column::Closed.eq(false))
            .exec(&txn)
            .await?;
        if bumped.rows_affected == 0 {
            txn.rollback().await?;
            return Err(AppError::Forbidden(
                "the care link has ended: this conversation is read-only".into(),
            ));
        }
        let seq: i64 = conversation::Entity::find_by_id(conv.id)
            .select_only()
            .column(conversation::Column::LastSeq)
            .into_tuple()
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound)?;
        let inserted = message::ActiveModel {
            conversation_id: Set(conv.id),
            seq: Set(seq),
            sender_id: Set(me),
            kind: Set(input.kind.as_str().into()),
            text: Set(text),
            file_id: Set(file_id),
            case_document_id: Set(case_document_id),
            client_id: Set(client_id),
            created_at_ms: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let stored = match inserted {
            Ok(m) => {
                txn.commit().await?;
                m
            }
            Err(e) if is_unique_violation(&e) => {
                // The same clientId raced in: answer as the retry it is.
                txn.rollback().await?;
                let existing = same_client
                    .one(self.stores.sql.writer())
                    .await?
                    .ok_or(AppError::NotFound)?;
                return if matches(&existing) {
                    Ok(existing.into())
                } else {
                    Err(AppError::Conflict(
                        "this clientId was used for a different message".into(),
                    ))
                };
            }
            Err(e) => return Err(e.into()),
        };
        let message = Message::from(stored);
        self.accounts.wrote(session).await;
        self.accounts
            .note_write(AccountId(if conv.doctor_id == me {
                conv.patient_id
            } else {
                conv.doctor_id
            }))
            .await;
        publish(
            self.stores.bus.as_ref(),
            &conv,
            &InboxItem::Message(message.clone()),
        )
        .await;
        Ok(message)
    }

    /// Checks the payload for the kind: (text, file id, case document id).
    async fn payload(
        &self,
        conv: &conversation::Model,
        input: &SendMessageInput,
        sender: i64,
    ) -> AppResult<(Option<String>, Option<i64>, Option<String>)> {
        let extra = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(AppError::bad_input(format!(
                    "a {} message takes only {what}",
                    input.kind.as_str()
                )))
            }
        };
        match input.kind {
            MessageKind::Text => {
                extra(
                    input.file_id.is_none() && input.case_document_id.is_none(),
                    "`text`",
                )?;
                let text = input.text.as_deref().unwrap_or("");
                if text.trim().is_empty() {
                    return Err(AppError::bad_input("text must not be empty"));
                }
                if text.chars().count() > MAX_TEXT_CHARS {
                    return Err(AppError::bad_input(format!(
                        "text must be at most {MAX_TEXT_CHARS} characters"
                    )));
                }
                Ok((Some(text.to_owned()), None, None))
            }
            MessageKind::Image | MessageKind::Voice | MessageKind::File => {
                extra(
                    input.text.is_none() && input.case_document_id.is_none(),
                    "`fileId`",
                )?;
                let Some(file) = &input.file_id else {
                    return Err(AppError::bad_input("fileId is required"));
                };
                let id = parse_id(file, "file")?;
                let owned = entity::file::Entity::find_by_id(id)
                    .one(self.stores.sql.writer())
                    .await?;
                let Some(file) = owned.filter(|f| f.owner_id == sender) else {
                    return Err(AppError::NotFound);
                };
                let fits = match input.kind {
                    MessageKind::Image => file.content_type.starts_with("image/"),
                    MessageKind::Voice => file.content_type.starts_with("audio/"),
                    _ => true,
                };
                if !fits {
                    return Err(AppError::bad_input(format!(
                        "a {} message needs a matching file; this one is {}",
                        input.kind.as_str(),
                        file.content_type
                    )));
                }
                Ok((None, Some(file.id), None))
            }
            MessageKind::Case => {
                extra(
                    input.text.is_none() && input.file_id.is_none(),
                    "`caseDocumentId`",
                )?;
                let Some(doc_id) = &input.case_document_id else {
                    return Err(AppError::bad_input("caseDocumentId is required"));
                };
                let doc = self
                    .stores
                    .documents
                    .get_case(doc_id.as_str())
                    .await
                    .map_err(|e| AppError::Unavailable(e.context("document store")))?;
                // Both members may read a document of the conversation's patient
                // (the doctor through the active link this open conversation stands for).
                match doc {
                    Some(d) if d.patient_id == conv.patient_id => Ok((None, None, Some(d.id))),
                    _ => Err(AppError::NotFound),
                }
            }
        }
    }

    /// Moves the viewer's read marker forward to `seq` (never back) and tells the other member.
    pub async fn mark_read(
        &self,
        viewer: &Viewer,
        conversation_id: &ID,
        seq: i64,
    ) -> AppResult<Conversation> {
        let session = viewer.require()?;
        let conv = self
            .member_conversation(viewer, parse_id(conversation_id, "conversation")?, true)
            .await?;
        if seq < 0 || seq > conv.model.last_seq {
            return Err(AppError::bad_input(format!(
                "seq must be between 0 and {}",
                conv.model.last_seq
            )));
        }
        let column = if conv.model.doctor_id == session.account_id.0 {
            conversation::Column::DoctorLastReadSeq
        } else {
            conversation::Column::PatientLastReadSeq
        };
        let moved = conversation::Entity::update_many()
            .col_expr(column, Expr::value(seq))
            .filter(conversation::Column::Id.eq(conv.model.id))
            .filter(column.lt(seq))
            .exec(self.stores.sql.writer())
            .await?;
        self.accounts.wrote(session).await;
        if moved.rows_affected > 0 {
            let event = ConversationEvent {
                kind: ConversationEventKind::Read,
                conversation_id: conv.model.id,
                account_id: session.account_id.0,
                seq: Some(seq),
                at_ms: now_ms(),
            };
            publish(
                self.stores.bus.as_ref(),
                &conv.model,
                &InboxItem::Event(event),
            )
            .await;
        }
        self.member_conversation(viewer, conv.model.id, true).await
    }

    /// Tells the other member the viewer is typing. Not stored.
    pub async fn typing(&self, viewer: &Viewer, conversation_id: &ID) -> AppResult<bool> {
        let session = viewer.require()?;
        let conv = self.conversation(viewer, conversation_id).await?;
        let other = if conv.model.doctor_id == session.account_id.0 {
            conv.model.patient_id
        } else {
            conv.model.doctor_id
        };
        let event = ConversationEvent {
            kind: ConversationEventKind::Typing,
            conversation_id: conv.model.id,
            account_id: session.account_id.0,
            seq: None,
            at_ms: now_ms(),
        };
        if let Ok(bytes) = serde_json::to_vec(&InboxItem::Event(event)) {
            let _ = self.stores.bus.publish(&typing_topic(other), &bytes).await;
        }
        Ok(true)
    }
}
