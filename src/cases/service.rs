//! Case-history rules. Who may do what:
//!
//! | who                         | read / list / history | create              | update, archive, restore |
//! |-----------------------------|-----------------------|---------------------|--------------------------|
//! | the patient                 | yes                   | PATIENT_NOTE only   | own documents            |
//! | a doctor with ACTIVE link   | yes                   | any other kind      | own documents            |
//! | anyone else                 | NOT_FOUND             | NOT_FOUND           | NOT_FOUND                |
//!
//! Every attempt, allowed or not, is audited ([`super::audit`]): reads after
//! they succeed and before the response, writes before they are made.
use async_graphql::{
    connection::{Connection, Edge},
    ID,
};
use chrono::{DateTime, Utc};
use entity::audit_event;
use rand::RngCore as _;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{
    audit::{self, Access, AuditAction, AuditEvent},
    types::{
        CaseDocument, CaseEvent, CaseEventKind, CreateCaseDocumentInput, UpdateCaseDocumentInput,
    },
    validate,
};
use crate::{
    accounts::{
        service::AccountsService,
        types::{AccountId, Role},
        validate::required_text,
    },
    auth::{Session, Viewer},
    config::Config,
    contacts::service::has_active_link,
    error::{AppError, AppResult},
    pagination,
    store::documents::DocumentStore as _,
    store::{
        documents::{CaseDoc, CaseFilter},
        Stores,
    },
};

pub const PATIENT_NOTE: &str = "PATIENT_NOTE";
const CURSOR: &str = "case";

#[derive(Clone)]
pub struct CasesService {
    stores: Stores,
    accounts: AccountsService,
    max_content_bytes: usize,
    default_page: usize,
    max_page: usize,
}

pub fn cases_topic(patient: i64) -> String {
    format!("cases:{patient}")
}

fn unavailable(e: anyhow::Error) -> AppError {
    AppError::Unavailable(e.context("document store"))
}

fn new_id() -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_doc_id(id: &ID) -> AppResult<String> {
    let ok = id.len() <= 32 && !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric());
    if !ok {
        return Err(AppError::bad_input(format!(
            "`{}` is not a valid document id",
            id.as_str().chars().take(40).collect::<String>()
        )));
    }
    Ok(id.to_string())
}

/// Attachment ids: files the author owns.
async fn attachments(sql: &crate::store::sql::Sql, author: i64, ids: &[ID]) -> AppResult<Vec<i64>> {
    if ids.len() > 50 {
        return Err(AppError::bad_input("at most 50 attachments"));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let n = id
            .parse::<i64>()
            .map_err(|_| AppError::bad_input("not a valid file id in attachments"))?;
        let owned = entity::file::Entity::find_by_id(n)
            .one(sql.writer())
            .await?;
        if owned.is_none_or(|f| f.owner_id != author) {
            return Err(AppError::bad_input(format!(
                "attachments: file {n} is not one of yours"
            )));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Records which files a document version attaches, for download checks.
async fn index_attachments(sql: &crate::store::sql::Sql, doc: &CaseDoc) -> AppResult<()> {
    use sea_orm::{sea_query::OnConflict, ActiveValue::Set};
    if doc.attachments.is_empty() {
        return Ok(());
    }
    let rows = doc
        .attachments
        .iter()
        .map(|f| entity::case_attachment::ActiveModel {
            document_id: Set(doc.id.clone()),
            file_id: Set(*f),
            patient_id: Set(doc.patient_id),
        });
    entity::case_attachment::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                entity::case_attachment::Column::DocumentId,
                entity::case_attachment::Column::FileId,
            ])
            .update_column(entity::case_attachment::Column::FileId)
            .to_owned(),
        )
        .exec(sql.writer())
        .await?;
    Ok(())
}

impl CasesService {
    pub fn new(stores: Stores, accounts: AccountsService, config: &Config) -> Self {
        Self {
            stores,
            accounts,
            max_content_bytes: config.max_case_content_bytes,
            default_page: config.default_page_size,
            max_page: config.max_page_size,
        }
    }

    /// Whether the session may read `patient`'s case history. Checked on the
    /// primary: a link that just ended must end access at once.
    pub async fn can_read(&self, session: &Session, patient: i64) -> AppResult<bool> {
        Ok(session.account_id.0 == patient
            || (session.role == Role::Doctor
                && has_active_link(
                    &self.stores.sql,
                    true,
                    session.account_id,
                    AccountId(patient),
                )
                .await?))
    }

    async fn audit(
        &self,
        actor: Option<AccountId>,
        action: AuditAction,
        document: Option<&str>,
        patient: Option<i64>,
        allowed: bool,
    ) -> AppResult<()> {
        audit::record(
            &self.stores.sql,
            vec![Access {
                actor,
                action,
                document: document.map(str::to_owned),
                patient,
                allowed,
            }],
        )
        .await
    }

    /// Records a denial and returns the error to give the client.
    async fn deny(
        &self,
        viewer: &Viewer,
        action: AuditAction,
        document: Option<&str>,
        patient: Option<i64>,
        err: AppError,
    ) -> AppError {
        match self
            .audit(viewer.account_id(), action, document, patient, false)
            .await
        {
            Ok(()) => err,
            Err(e) => e,
        }
    }

    /// The session, or an audited UNAUTHENTICATED.
    async fn session<'v>(
        &self,
        viewer: &'v Viewer,
        action: AuditAction,
        document: Option<&str>,
    ) -> AppResult<&'v std::sync::Arc<Session>> {
        match viewer.require() {
            Ok(s) => Ok(s),
            Err(e) => Err(self.deny(viewer, action, document, None, e).await),
        }
    }

    /// A document the viewer may read, or an audited NOT_FOUND.
    async fn readable(&self, viewer: &Viewer, action: AuditAction, id: &ID) -> AppResult<CaseDoc> {
        let session = self.session(viewer, action, Some(id.as_str())).await?;
        let id = parse_doc_id(id)?;
        let doc = self
            .stores
            .documents
            .get_case(&id)
            .await
            .map_err(unavailable)?;
        let Some(doc) = doc else {
            return Err(self
                .deny(viewer, action, Some(&id), None, AppError::NotFound)
                .await);
        };
        if !self.can_read(session, doc.patient_id).await? {
            return Err(self
                .deny(
                    viewer,
                    action,
                    Some(&id),
                    Some(doc.patient_id),
                    AppError::NotFound,
                )
                .await);
        }
        Ok(doc)
    }

    pub async fn get(&self, viewer: &Viewer, id: &ID) -> AppResult<CaseDocument> {
        let doc = self.readable(viewer, AuditAction::Read, id).await?;
        self.audit(
            viewer.account_id(),
            AuditAction::Read,
            Some(&doc.id),
            Some(doc.patient_id),
            true,
        )
        .await?;
        Ok(CaseDocument(doc))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn list(
        &self,
        viewer: &Viewer,
        patient_id: &ID,
        kinds: Option<Vec<String>>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        include_archived: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<String, CaseDocument>> {
        let session = self.session(viewer, AuditAction::List, None).await?;
        let patient = AccountId::parse(patient_id)?.0;
        if !self.can_read(session, patient).await? {
            return Err(self
                .deny(
                    viewer,
                    AuditAction::List,
                    None,
                    Some(patient),
                    AppError::NotFound,
                )
                .await);
        }
        let limit = pagination::page_size(first, self.default_page, self.max_page)?;
        let kinds = kinds
            .map(|ks| {
                ks.iter()
                    .map(|k| validate::kind(k))
                    .collect::<AppResult<Vec<_>>>()
            })
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(AppError::bad_input("`from` must be before `to`"));
            }
        }
        let before = match &after {
            Some(c) => {
                let key = pagination::decode_cursor(CURSOR, c)?;
                let (ms, id) = key
                    .split_once(':')
                    .ok_or_else(|| AppError::bad_input("malformed cursor"))?;
                let ms: i64 = ms
                    .parse()
                    .map_err(|_| AppError::bad_input("malformed cursor"))?;
                let t = DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| AppError::bad_input("malformed cursor"))?;
                Some((t, id.to_owned()))
            }
            None => None,
        };
        let filter = CaseFilter {
            patient_id: patient,
            kinds,
            from,
            to,
            include_archived,
            before,
            limit: limit + 1,
        };
        let mut docs = self
            .stores
            .documents
            .list_cases(&filter)
            .await
            .map_err(unavailable)?;
        let has_next = docs.len() as u64 > limit;
        docs.truncate(limit as usize);
        let mut accesses: Vec<Access> = docs
            .iter()
            .map(|d| Access {
                actor: Some(session.account_id),
                action: AuditAction::List,
                document: Some(d.id.clone()),
                patient: Some(patient),
                allowed: true,
            })
            .collect();
        if accesses.is_empty() {
            accesses.push(Access {
                actor: Some(session.account_id),
                action: AuditAction::List,
                document: None,
                patient: Some(patient),
                allowed: true,
            });
        }
        audit::record(&self.stores.sql, accesses).await?;
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(docs.into_iter().map(|d| {
            let cursor = pagination::encode_cursor(
                CURSOR,
                &format!("{}:{}", d.occurred_at.timestamp_millis(), d.id),
            );
            Edge::new(cursor, CaseDocument(d))
        }));
        Ok(connection)
    }

    pub async fn history(&self, viewer: &Viewer, id: &str) -> AppResult<Vec<CaseDocument>> {
        let doc = self
            .readable(viewer, AuditAction::History, &ID(id.to_owned()))
            .await?;
        let versions = self
            .stores
            .documents
            .case_history(&doc.id)
            .await
            .map_err(unavailable)?;
        self.audit(
            viewer.account_id(),
            AuditAction::History,
            Some(&doc.id),
            Some(doc.patient_id),
            true,
        )
        .await?;
        Ok(versions
            .into_iter()
            .filter(|v| v.version < doc.version)
            .map(CaseDocument)
            .collect())
    }

    pub async fn create(
        &self,
        viewer: &Viewer,
        input: CreateCaseDocumentInput,
    ) -> AppResult<CaseDocument> {
        let action = AuditAction::Create;
        let session = self.session(viewer, action, None).await?;
        let patient = AccountId::parse(&input.patient_id)?.0;
        if !self.can_read(session, patient).await? {
            return Err(self
                .deny(viewer, action, None, Some(patient), AppError::NotFound)
                .await);
        }
        let kind = validate::kind(&input.kind)?;
        let allowed_kind = match session.role {
            Role::Patient => kind == PATIENT_NOTE,
            Role::Doctor => kind != PATIENT_NOTE,
            Role::Admin => false,
        };
        if !allowed_kind {
            let msg = if session.role == Role::Patient {
                "patients can only add PATIENT_NOTE documents"
            } else {
                "PATIENT_NOTE is reserved for the patient's own notes"
            };
            return Err(self
                .deny(
                    viewer,
                    action,
                    None,
                    Some(patient),
                    AppError::Forbidden(msg.into()),
                )
                .await);
        }
        let now = crate::store::documents::to_millis(Utc::now());
        let doc = CaseDoc {
            id: new_id(),
            patient_id: patient,
            author_id: session.account_id.0,
            kind,
            title: required_text("title", &input.title, 200)?,
            occurred_at: validate::occurred_at(input.occurred_at)?,
            content: validate::content(input.content.0, self.max_content_bytes)?,
            attachments: attachments(&self.stores.sql, session.account_id.0, &input.attachments)
                .await?,
            version: 1,
            archived: false,
            created_at: now,
            updated_at: now,
        };
        self.audit(
            Some(session.account_id),
            action,
            Some(&doc.id),
            Some(patient),
            true,
        )
        .await?;
        index_attachments(&self.stores.sql, &doc).await?;
        self.stores
            .documents
            .insert_case(&doc)
            .await
            .map_err(unavailable)?;
        self.accounts.wrote(session).await;
        self.publish(CaseEventKind::Created, &doc).await;
        Ok(CaseDocument(doc))
    }

    /// Applies `change` to the current version if it is `expected` and the viewer wrote it.
    async fn change(
        &self,
        viewer: &Viewer,
        action: AuditAction,
        id: &ID,
        expected: i32,
        change: impl FnOnce(&mut CaseDoc) -> AppResult<()>,
    ) -> AppResult<CaseDocument> {
        let current = self.readable(viewer, action, id).await?;
        let session = viewer.require()?;
        let deny = |err| {
            self.deny(
                viewer,
                action,
                Some(&current.id),
                Some(current.patient_id),
                err,
            )
        };
        if current.author_id != session.account_id.0 {
            return Err(deny(AppError::Forbidden(
                "only the author can change a document".into(),
            ))
            .await);
        }
        if current.version != expected {
            return Err(deny(AppError::Conflict(format!(
                "the document is at version {}, not {expected}: reload it and apply your change again",
                current.version
            )))
            .await);
        }
        let mut next = current.clone();
        change(&mut next)?;
        next.version = current.version + 1;
        next.updated_at = crate::store::documents::to_millis(Utc::now());
        self.audit(
            Some(session.account_id),
            action,
            Some(&current.id),
            Some(current.patient_id),
            true,
        )
        .await?;
        index_attachments(&self.stores.sql, &next).await?;
        let applied = self
            .stores
            .documents
            .update_case(&current, &next)
            .await
            .map_err(unavailable)?;
        if !applied {
            return Err(AppError::Conflict(
                "the document changed meanwhile: reload it and apply your change again".into(),
            ));
        }
        self.accounts.wrote(session).await;
        let kind = match action {
            AuditAction::Archive => CaseEventKind::Archived,
            AuditAction::Restore => CaseEventKind::Restored,
            _ => CaseEventKind::Updated,
        };
        self.publish(kind, &next).await;
        Ok(CaseDocument(next))
    }

    pub async fn update(
        &self,
        viewer: &Viewer,
        id: &ID,
        expected: i32,
        input: UpdateCaseDocumentInput,
    ) -> AppResult<CaseDocument> {
        if input.title.is_none()
            && input.occurred_at.is_none()
            && input.content.is_none()
            && input.attachments.is_none()
        {
            return Err(AppError::bad_input("nothing to update"));
        }
        let title = input
            .title
            .as_deref()
            .map(|t| required_text("title", t, 200))
            .transpose()?;
        let occurred_at = input.occurred_at.map(validate::occurred_at).transpose()?;
        let content = input
            .content
            .map(|c| validate::content(c.0, self.max_content_bytes))
            .transpose()?;
        let files = match (input.attachments.as_deref(), viewer.account_id()) {
            (Some(ids), Some(me)) => Some(attachments(&self.stores.sql, me.0, ids).await?),
            _ => None,
        };
        self.change(viewer, AuditAction::Update, id, expected, |doc| {
            if doc.archived {
                return Err(AppError::Conflict(
                    "the document is archived: restore it first".into(),
                ));
            }
            if let Some(t) = title {
                doc.title = t;
            }
            if let Some(t) = occurred_at {
                doc.occurred_at = t;
            }
            if let Some(c) = content {
                doc.content = c;
            }
            if let Some(f) = files {
                doc.attachments = f;
            }
            Ok(())
        })
        .await
    }

    pub async fn set_archived(
        &self,
        viewer: &Viewer,
        id: &ID,
        expected: i32,
        archived: bool,
    ) -> AppResult<CaseDocument> {
        let action = if archived {
            AuditAction::Archive
        } else {
            AuditAction::Restore
        };
        self.change(viewer, action, id, expected, |doc| {
            if doc.archived == archived {
                return Err(AppError::Conflict(format!(
                    "the document is {} archived",
                    if archived { "already" } else { "not" }
                )));
            }
            doc.archived = archived;
            Ok(())
        })
        .await
    }

    async fn publish(&self, kind: CaseEventKind, doc: &CaseDoc) {
        let event = CaseEvent {
            kind,
            document_id: doc.id.clone(),
            patient_id: doc.patient_id,
            version: doc.version,
        };
        let Ok(bytes) = serde_json::to_vec(&event) else {
            return;
        };
        if let Err(e) = self
            .stores
            .bus
            .publish(&cases_topic(doc.patient_id), &bytes)
            .await
        {
            tracing::warn!(error = %e, "could not publish a case event");
        }
    }

    /// Checks and audits a subscription to a patient's case events.
    pub async fn subscribe_check(&self, viewer: &Viewer, patient_id: &ID) -> AppResult<i64> {
        let session = self.session(viewer, AuditAction::Subscribe, None).await?;
        let patient = AccountId::parse(patient_id)?.0;
        let allowed = self.can_read(session, patient).await?;
        self.audit(
            Some(session.account_id),
            AuditAction::Subscribe,
            None,
            Some(patient),
            allowed,
        )
        .await?;
        if !allowed {
            return Err(AppError::NotFound);
        }
        Ok(patient)
    }

    /// The patient's own audit trail, newest first.
    pub async fn audit_trail(
        &self,
        viewer: &Viewer,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<String, AuditEvent>> {
        let session = viewer.require()?;
        if session.role != Role::Patient {
            return Err(AppError::Forbidden(
                "only patients have an audit trail".into(),
            ));
        }
        let limit = pagination::page_size(first, self.default_page, self.max_page)?;
        let mut q = audit_event::Entity::find()
            .filter(audit_event::Column::PatientId.eq(session.account_id.0));
        if let Some(c) = &after {
            q = q.filter(audit_event::Column::Id.lt(pagination::decode_id_cursor("audit", c)?));
        }
        let mut rows = q
            .order_by_desc(audit_event::Column::Id)
            .limit(limit + 1)
            .all(&self.stores.sql.reader(true))
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(rows.into_iter().map(|r| {
            Edge::new(
                pagination::encode_cursor("audit", &r.id.to_string()),
                AuditEvent(r),
            )
        }));
        Ok(connection)
    }
}
