use async_graphql::{Context, Enum, InputObject, Json as GqlJson, Object, ID};
use chrono::{DateTime, Utc};

use crate::{
    accounts::types::AccountId,
    auth::Viewer,
    directory::types::{Doctor, Patient},
    loader::{load_one, loaders},
    schema::services,
    store::documents::CaseDoc,
};

/// A medical record, treatment report, lab result, … Its `content` has no
/// fixed shape. Every change keeps the previous version.
#[derive(Clone, Debug)]
pub struct CaseDocument(pub CaseDoc);

#[Object]
impl CaseDocument {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// A free label such as MEDICAL_RECORD, TREATMENT_REPORT, LAB_RESULT,
    /// PRESCRIPTION; patients' own notes are PATIENT_NOTE.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// The document body: any JSON object.
    async fn content(&self) -> GqlJson<serde_json::Map<String, serde_json::Value>> {
        GqlJson(self.0.content.clone())
    }
    /// Ids of attached files.
    async fn attachments(&self) -> Vec<ID> {
        self.0
            .attachments
            .iter()
            .map(|a| ID(a.to_string()))
            .collect()
    }
    /// Starts at 1; pass it as `expectedVersion` to change the document.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn archived(&self) -> bool {
        self.0.archived
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The patient the document is about (from the relational store).
    async fn patient(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Patient>> {
        Ok(load_one(&loaders(ctx)?.patients, self.0.patient_id)
            .await?
            .map(Patient))
    }
    async fn author_id(&self) -> ID {
        AccountId(self.0.author_id).to_id()
    }
    /// The author when a doctor wrote it; null for the patient's own notes.
    async fn author_doctor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Doctor>> {
        Ok(load_one(&loaders(ctx)?.doctors, self.0.author_id)
            .await?
            .map(Doctor))
    }
    /// Every earlier version, oldest first (reading them is audited).
    async fn versions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CaseDocument>> {
        let viewer = Viewer::from_ctx(ctx);
        Ok(services(ctx)?.cases.history(&viewer, &self.0.id).await?)
    }
}

#[derive(InputObject)]
pub struct CreateCaseDocumentInput {
    pub patient_id: ID,
    /// 1–64 of A-Z, 0-9, _ (e.g. LAB_RESULT). Patients may only create PATIENT_NOTE.
    pub kind: String,
    pub title: String,
    pub occurred_at: DateTime<Utc>,
    /// Any JSON object: no `$`-prefixed keys, no `.` or NUL in keys, at most
    /// 32 levels deep and 1 MiB (configurable).
    pub content: GqlJson<serde_json::Value>,
    #[graphql(default)]
    pub attachments: Vec<ID>,
}

/// Fields to change; omitted ones stay as they are.
#[derive(InputObject, Default)]
pub struct UpdateCaseDocumentInput {
    pub title: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    /// Replaces the whole content.
    pub content: Option<GqlJson<serde_json::Value>>,
    pub attachments: Option<Vec<ID>>,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CaseEventKind {
    Created,
    Updated,
    Archived,
    Restored,
}

/// A change to a patient's case history.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CaseEvent {
    pub kind: CaseEventKind,
    pub document_id: String,
    pub patient_id: i64,
    pub version: i32,
}

#[Object]
impl CaseEvent {
    async fn kind(&self) -> CaseEventKind {
        self.kind
    }
    async fn document_id(&self) -> ID {
        ID(self.document_id.clone())
    }
    async fn patient_id(&self) -> ID {
        AccountId(self.patient_id).to_id()
    }
    async fn version(&self) -> i32 {
        self.version
    }
}
