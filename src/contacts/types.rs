use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::care_link;

use crate::{
    auth::Viewer,
    directory::types::{Doctor, Patient},
    loader::{load_one, loaders},
};

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CareLinkStatus {
    /// Asked for by the patient, not yet answered by the doctor.
    Pending,
    /// Accepted: the doctor may see the patient's profile and records.
    Active,
    /// Refused by the doctor.
    Declined,
    /// Ended by either side (or a pending request withdrawn).
    Ended,
}

impl CareLinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Active => "ACTIVE",
            Self::Declined => "DECLINED",
            Self::Ended => "ENDED",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "PENDING" => Self::Pending,
            "ACTIVE" => Self::Active,
            "DECLINED" => Self::Declined,
            _ => Self::Ended,
        }
    }

    /// In the contact book (as opposed to its history).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Active)
    }
}

/// A care link as one of its two parties sees it. Profiles come from the
/// request's loaders, so a page of links costs one query per table (none
/// when the shared cache has them).
#[derive(Clone, Debug)]
pub struct CareLink {
    pub model: care_link::Model,
}

impl CareLink {
    pub fn link_status(&self) -> CareLinkStatus {
        CareLinkStatus::parse(&self.model.status)
    }
}

#[Object]
impl CareLink {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    async fn status(&self) -> CareLinkStatus {
        self.link_status()
    }

    async fn requested_at(&self) -> DateTime<Utc> {
        self.model.requested_at
    }

    async fn responded_at(&self) -> Option<DateTime<Utc>> {
        self.model.responded_at
    }

    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.model.ended_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }

    /// The doctor (a public profile).
    async fn doctor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Doctor>> {
        let loaders = loaders(ctx)?;
        Ok(load_one(&loaders.doctors, self.model.doctor_id)
            .await?
            .map(Doctor))
    }

    /// The patient: shown to the patient, and to the doctor while the link is
    /// pending or active; null once it has ended.
    async fn patient(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Patient>> {
        let viewer = Viewer::from_ctx(ctx);
        let me = viewer.require()?.account_id;
        let visible = me.0 == self.model.patient_id
            || (me.0 == self.model.doctor_id && self.link_status().is_open());
        if !visible {
            return Ok(None);
        }
        let loaders = loaders(ctx)?;
        Ok(load_one(&loaders.patients, self.model.patient_id)
            .await?
            .map(Patient))
    }
}

/// What changed in the viewer's contact book since a version.
#[derive(SimpleObject)]
pub struct ContactChanges {
    /// Links added to the book or changed (including the other party's profile).
    pub upserts: Vec<CareLink>,
    /// Ids of links that left the book (declined or ended).
    pub removals: Vec<ID>,
    /// Pass as `since` next time.
    pub version: String,
    /// More changes are waiting: call again with `version` at once.
    pub has_more: bool,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ContactEventKind {
    /// The link was added or changed; fetch it or apply `link`.
    Upsert,
    /// The link left the book.
    Remove,
}

/// A change to the viewer's contact book, as it happens.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ContactEvent {
    pub kind: ContactEventKind,
    pub link_id: i64,
    pub version: i64,
}

#[Object]
impl ContactEvent {
    async fn kind(&self) -> ContactEventKind {
        self.kind
    }

    async fn link_id(&self) -> ID {
        ID(self.link_id.to_string())
    }

    /// The book's version after this change; `contactChanges(since)` from an
    /// earlier version includes it.
    async fn version(&self) -> String {
        super::sync::encode_version(self.version)
    }

    /// The link as it is now.
    async fn link(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CareLink>> {
        let me = Viewer::from_ctx(ctx).require()?.account_id.0;
        let link = load_one(&loaders(ctx)?.links, self.link_id).await?;
        Ok(link
            .filter(|l| l.doctor_id == me || l.patient_id == me)
            .map(|model| CareLink { model }))
    }
}
