//! The audit trail: one row per access to a case document, allowed or denied.
//! Rows are written on the primary before the response leaves: a read whose
//! audit row cannot be written fails instead of going unrecorded.
use async_graphql::{Enum, Object, ID};
use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::{accounts::types::AccountId, error::AppResult, store::sql::Sql};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    Read,
    List,
    History,
    Create,
    Update,
    Archive,
    Restore,
    Subscribe,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::List => "LIST",
            Self::History => "HISTORY",
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Archive => "ARCHIVE",
            Self::Restore => "RESTORE",
            Self::Subscribe => "SUBSCRIBE",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "READ" => Self::Read,
            "LIST" => Self::List,
            "HISTORY" => Self::History,
            "CREATE" => Self::Create,
            "UPDATE" => Self::Update,
            "ARCHIVE" => Self::Archive,
            "RESTORE" => Self::Restore,
            _ => Self::Subscribe,
        }
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Allowed,
    Denied,
}

/// One access to be recorded.
pub struct Access {
    pub actor: Option<AccountId>,
    pub action: AuditAction,
    pub document: Option<String>,
    pub patient: Option<i64>,
    pub allowed: bool,
}

/// Writes the rows, all or nothing.
pub async fn record(sql: &Sql, accesses: Vec<Access>) -> AppResult<()> {
    if accesses.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = accesses.into_iter().map(|a| audit_event::ActiveModel {
        actor_id: Set(a.actor.map(|x| x.0)),
        action: Set(a.action.as_str().into()),
        document_id: Set(a.document),
        patient_id: Set(a.patient),
        outcome: Set(if a.allowed { "ALLOWED" } else { "DENIED" }.into()),
        at: Set(now),
        ..Default::default()
    });
    audit_event::Entity::insert_many(rows)
        .exec(sql.writer())
        .await?;
    Ok(())
}

/// An entry of a patient's audit trail.
pub struct AuditEvent(pub audit_event::Model);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Who acted; null for an anonymous attempt.
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_id.map(|a| ID(a.to_string()))
    }
    async fn action(&self) -> AuditAction {
        AuditAction::parse(&self.0.action)
    }
    async fn document_id(&self) -> Option<ID> {
        self.0.document_id.clone().map(ID)
    }
    async fn outcome(&self) -> AuditOutcome {
        if self.0.outcome == "ALLOWED" {
            AuditOutcome::Allowed
        } else {
            AuditOutcome::Denied
        }
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}
