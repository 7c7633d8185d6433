//! Case documents by id, the viewer's read access per patient, and the
//! audit rows of the request's reads: each batched per request. Case
//! documents never go to the shared cache; they stay in their own store.
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use async_graphql::dataloader::Loader;
use entity::care_link;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::audit::{self, Access, AuditAction};
use crate::{
    accounts::types::{AccountId, Role},
    auth::Viewer,
    contacts::types::CareLinkStatus,
    loader::Source,
    store::{
        documents::{CaseDoc, DocumentStore as _},
        Stores,
    },
};

pub struct CaseDocSource;

#[async_trait::async_trait]
impl Source for CaseDocSource {
    type Key = String;
    type Value = CaseDoc;
    const NAME: &'static str = "case_document";
    const LAYOUT: u32 = 1;
    const SHARED: bool = false;

    async fn fetch(
        stores: &Stores,
        _fresh: bool,
        keys: &[String],
    ) -> anyhow::Result<HashMap<String, CaseDoc>> {
        Ok(stores
            .documents
            .get_cases(keys)
            .await?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect())
    }
}

/// Whether the viewer may read a patient's case history: the patient, or a
/// doctor with an ACTIVE link, checked on the primary (an ended link ends
/// access at once). One query for all the patients of a request.
pub struct ReadAccess {
    stores: Stores,
    viewer: Option<(i64, Role)>,
}

impl ReadAccess {
    pub fn new(stores: &Stores, viewer: &Viewer) -> Self {
        Self {
            stores: stores.clone(),
            viewer: viewer.require().ok().map(|s| (s.account_id.0, s.role)),
        }
    }
}

impl Loader<i64> for ReadAccess {
    type Value = bool;
    type Error = Arc<anyhow::Error>;

    async fn load(&self, patients: &[i64]) -> Result<HashMap<i64, bool>, Self::Error> {
        let Some((me, role)) = self.viewer else {
            return Ok(patients.iter().map(|p| (*p, false)).collect());
        };
        let mut allowed: HashSet<i64> = patients.iter().copied().filter(|p| *p == me).collect();
        if role == Role::Doctor {
            let linked: Vec<i64> = care_link::Entity::find()
                .select_only()
                .column(care_link::Column::PatientId)
                .filter(care_link::Column::DoctorId.eq(me))
                .filter(care_link::Column::Status.eq(CareLinkStatus::Active.as_str()))
                .filter(care_link::Column::PatientId.is_in(patients.iter().copied()))
                .into_tuple()
                .all(self.stores.sql.writer())
                .await
                .map_err(|e| Arc::new(e.into()))?;
            allowed.extend(linked);
        }
        Ok(patients.iter().map(|p| (*p, allowed.contains(p))).collect())
    }
}

/// One read of a case document to record: (document, patient, allowed).
pub type AuditedRead = (String, i64, bool);

/// Writes the audit rows of a request's reads in one insert, before any of
/// them is answered: a read whose row cannot be written fails.
pub struct AuditWriter {
    stores: Stores,
    actor: Option<AccountId>,
}

impl AuditWriter {
    pub fn new(stores: &Stores, viewer: &Viewer) -> Self {
        Self {
            stores: stores.clone(),
            actor: viewer.account_id(),
        }
    }
}

impl Loader<AuditedRead> for AuditWriter {
    type Value = ();
    type Error = Arc<anyhow::Error>;

    async fn load(&self, reads: &[AuditedRead]) -> Result<HashMap<AuditedRead, ()>, Self::Error> {
        let accesses = reads
            .iter()
            .map(|(document, patient, allowed)| Access {
                actor: self.actor,
                action: AuditAction::Read,
                document: Some(document.clone()),
                patient: Some(*patient),
                allowed: *allowed,
            })
            .collect();
        audit::record(&self.stores.sql, accesses)
            .await
            .map_err(|e| Arc::new(anyhow::anyhow!("writing audit rows: {e:?}")))?;
        Ok(reads.iter().map(|r| (r.clone(), ())).collect())
    }
}

/// The documents among `ids` the viewer may read, after their reads are
/// audited (allowed and denied alike). One batch each for the documents,
/// the access checks and the audit rows; a page calls it for all its items
/// first, so each item then finds all three in the request's loaders.
pub async fn read(
    loaders: &crate::loader::Loaders,
    ids: impl IntoIterator<Item = String>,
) -> crate::error::AppResult<HashMap<String, CaseDoc>> {
    use crate::loader::loader_error;
    let mut docs = loaders
        .case_docs
        .load_many(ids)
        .await
        .map_err(|e| loader_error(CaseDocSource::NAME, e))?;
    if docs.is_empty() {
        return Ok(docs);
    }
    let access = loaders
        .case_access
        .load_many(docs.values().map(|d| d.patient_id))
        .await
        .map_err(|e| loader_error("case access", e))?;
    let allowed = |d: &CaseDoc| access.get(&d.patient_id).copied().unwrap_or(false);
    loaders
        .case_audit
        .load_many(
            docs.values()
                .map(|d| (d.id.clone(), d.patient_id, allowed(d))),
        )
        .await
        .map_err(|e| loader_error("case audit", e))?;
    docs.retain(|_, d| allowed(d));
    Ok(docs)
}
