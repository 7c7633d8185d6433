//! MongoDB through the official driver. Works with MongoDB and with FerretDB:
//! it uses single-document operations only, never multi-document transactions.
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::{
    bson::{self, doc, Bson, Document},
    options::{ClientOptions, IndexOptions},
    Client, Collection, Database, IndexModel,
};

use super::{CaseDoc, CaseFilter, DocumentStore, Json};

const CASES: &str = "case_documents";
const VERSIONS: &str = "case_document_versions";

pub struct MongoDocuments {
    db: Database,
}

impl MongoDocuments {
    /// Connects, checks the server answers and creates the indexes the queries need.
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url).await?;
        options.app_name = Some("drseek".into());
        options.server_selection_timeout = Some(Duration::from_secs(3));
        options.connect_timeout = Some(Duration::from_secs(3));
        let client = Client::with_options(options)?;
        let store = Self {
            db: client.database(database),
        };
        // A document store that is down at start must not stop the server:
        // the rest of the API works without it. Indexes are created as soon as it answers.
        for attempt in 1..=3 {
            match store.create_indexes().await {
                Ok(()) => return Ok(store),
                Err(e) if attempt == 3 => {
                    tracing::warn!(error = %format!("{e:#}"), "document store not ready; retrying in the background");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200 * attempt)).await,
            }
        }
        let background = Self {
            db: store.db.clone(),
        };
        tokio::spawn(async move {
            let mut delay = Duration::from_secs(1);
            loop {
                tokio::time::sleep(delay).await;
                match background.create_indexes().await {
                    Ok(()) => {
                        tracing::info!("document store ready; indexes in place");
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, "document store still not ready"),
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        });
        Ok(store)
    }

    async fn create_indexes(&self) -> anyhow::Result<()> {
        let named = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_owned()).build())
                .build()
        };
        self.cases()
            .create_indexes([
                named(
                    doc! { "patientId": 1, "occurredAt": -1, "_id": -1 },
                    "patient_time",
                ),
                named(
                    doc! { "patientId": 1, "kind": 1, "occurredAt": -1 },
                    "patient_kind_time",
                ),
            ])
            .await?;
        self.versions()
            .create_indexes([named(
                doc! { "documentId": 1, "version": 1 },
                "document_version",
            )])
            .await?;
        Ok(())
    }

    fn cases(&self) -> Collection<Document> {
        self.db.collection(CASES)
    }

    fn versions(&self) -> Collection<Document> {
        self.db.collection(VERSIONS)
    }

    /// Records `doc` as version `doc.version` of its document. `Ok(false)`:
    /// that version exists already (another writer made it).
    async fn claim_version(&self, doc: &CaseDoc) -> anyhow::Result<bool> {
        let mut record = case_to_bson(doc)?;
        record.insert("_id", format!("{}:{}", doc.id, doc.version));
        record.insert("documentId", &doc.id);
        match self.versions().insert_one(record).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    matches!(
        e.kind.as_ref(),
        mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) if w.code == 11000
    )
}

fn bdate(t: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(t.timestamp_millis())
}

fn cdate(t: &bson::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default()
}

fn case_to_bson(d: &CaseDoc) -> anyhow::Result<Document> {
    Ok(doc! {
        "_id": &d.id,
        "patientId": d.patient_id,
        "authorId": d.author_id,
        "kind": &d.kind,
        "title": &d.title,
        "occurredAt": bdate(d.occurred_at),
        "content": bson::to_document(&d.content)?,
        "attachments": d.attachments.iter().map(|a| Bson::Int64(*a)).collect::<Vec<_>>(),
        "version": d.version,
        "archived": d.archived,
        "createdAt": bdate(d.created_at),
        "updatedAt": bdate(d.updated_at),
    })
}

fn case_from_bson(d: &Document) -> anyhow::Result<CaseDoc> {
    let content = match Bson::Document(d.get_document("content")?.clone()).into_relaxed_extjson() {
        serde_json::Value::Object(m) => m,
        _ => Json::new(),
    };
    let int = |key: &str| -> anyhow::Result<i64> {
        match d.get(key) {
            Some(Bson::Int64(v)) => Ok(*v),
            Some(Bson::Int32(v)) => Ok(i64::from(*v)),
            Some(Bson::Double(v)) => Ok(*v as i64),
            other => anyhow::bail!("field {key} is {other:?}"),
        }
    };
    let attachments = d
        .get_array("attachments")?
        .iter()
        .filter_map(|b| match b {
            Bson::Int64(v) => Some(*v),
            Bson::Int32(v) => Some(i64::from(*v)),
            _ => None,
        })
        .collect();
    Ok(CaseDoc {
        id: d.get_str("_id")?.to_owned(),
        patient_id: int("patientId")?,
        author_id: int("authorId")?,
        kind: d.get_str("kind")?.to_owned(),
        title: d.get_str("title")?.to_owned(),
        occurred_at: cdate(d.get_datetime("occurredAt")?),
        content,
        attachments,
        version: i32::try_from(int("version")?)?,
        archived: d.get_bool("archived")?,
        created_at: cdate(d.get_datetime("createdAt")?),
        updated_at: cdate(d.get_datetime("updatedAt")?),
    })
}

#[async_trait::async_trait]
impl DocumentStore for MongoDocuments {
    async fn insert(&self, collection: &str, id: &str, doc: &Json) -> anyhow::Result<()> {
        let mut out = bson::to_document(doc)?;
        out.insert("_id", id);
        self.db
            .collection::<Document>(collection)
            .insert_one(out)
            .await?;
        Ok(())
    }

    async fn get(&self, collection: &str, id: &str) -> anyhow::Result<Option<Json>> {
        let found = self
            .db
            .collection::<Document>(collection)
            .find_one(doc! { "_id": id })
            .await?;
        let Some(mut doc) = found else {
            return Ok(None);
        };
        doc.remove("_id");
        match Bson::Document(doc).into_relaxed_extjson() {
            serde_json::Value::Object(map) => Ok(Some(map)),
            other => anyhow::bail!("document is not an object: {other}"),
        }
    }

    async fn insert_case(&self, doc: &CaseDoc) -> anyhow::Result<()> {
        self.claim_version(doc).await?;
        self.cases().insert_one(case_to_bson(doc)?).await?;
        Ok(())
    }

    async fn get_case(&self, id: &str) -> anyhow::Result<Option<CaseDoc>> {
        let Some(found) = self.cases().find_one(doc! { "_id": id }).await? else {
            return Ok(None);
        };
        let current = case_from_bson(&found)?;
        // A writer that claimed the next version but stopped before replacing
        // the document: finish its work (the same replacement it would make).
        let next_id = format!("{id}:{}", current.version + 1);
        match self.versions().find_one(doc! { "_id": &next_id }).await? {
            Some(mut claimed) => {
                claimed.insert("_id", id);
                claimed.remove("documentId");
                let next = case_from_bson(&claimed)?;
                self.cases()
                    .replace_one(
                        doc! { "_id": id, "version": current.version },
                        case_to_bson(&next)?,
                    )
                    .await?;
                Ok(Some(next))
            }
            None => Ok(Some(current)),
        }
    }

    async fn get_cases(&self, ids: &[String]) -> anyhow::Result<Vec<CaseDoc>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found: Vec<Document> = self
            .cases()
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await?;
        let mut docs = found
            .iter()
            .map(case_from_bson)
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Replacements a crashed writer left undone (see `get_case`): look
        // for all of them at once, finish each one found (rare).
        let next: Vec<String> = docs
            .iter()
            .map(|d| format!("{}:{}", d.id, d.version + 1))
            .collect();
        let claimed: Vec<Document> = self
            .versions()
            .find(doc! { "_id": { "$in": &next } })
            .await?
            .try_collect()
            .await?;
        if !claimed.is_empty() {
            for d in &mut docs {
                if let Some(current) = self.get_case(&d.id).await? {
                    *d = current;
                }
            }
        }
        Ok(docs)
    }

    async fn update_case(&self, previous: &CaseDoc, next: &CaseDoc) -> anyhow::Result<bool> {
        // The unique `_id` of the version record decides who made version
        // `next.version`: exactly one insert succeeds, on MongoDB and on
        // FerretDB alike (whose replace-with-filter is not atomic under
        // concurrency, as the tests showed).
        if !self.claim_version(next).await? {
            return Ok(false);
        }
        self.cases()
            .replace_one(
                doc! { "_id": &previous.id, "version": previous.version },
                case_to_bson(next)?,
            )
            .await?;
        Ok(true)
    }
    async fn list_cases(&self, f: &CaseFilter) -> anyhow::Result<Vec<CaseDoc>> {
        let mut filter = doc! { "patientId": f.patient_id };
        if let Some(kinds) = &f.kinds {
            filter.insert("kind", doc! { "$in": kinds.clone() });
        }
        let mut range = Document::new();
        if let Some(from) = f.from {
            range.insert("$gte", bdate(from));
        }
        if let Some(to) = f.to {
            range.insert("$lt", bdate(to));
        }
        if !range.is_empty() {
            filter.insert("occurredAt", range);
        }
        if !f.include_archived {
            filter.insert("archived", false);
        }
        if let Some((t, id)) = &f.before {
            filter.insert(
                "$or",
                vec![
                    doc! { "occurredAt": { "$lt": bdate(*t) } },
                    doc! { "occurredAt": bdate(*t), "_id": { "$lt": id } },
                ],
            );
        }
        let limit = i64::try_from(f.limit).unwrap_or(i64::MAX);
        let cursor = self
            .cases()
            .find(filter)
            .sort(doc! { "occurredAt": -1, "_id": -1 })
            .limit(limit)
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        docs.iter().map(case_from_bson).collect()
    }

    async fn case_history(&self, id: &str) -> anyhow::Result<Vec<CaseDoc>> {
        let cursor = self
            .versions()
            .find(doc! { "documentId": id })
            .sort(doc! { "version": 1 })
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        docs.iter()
            .map(|d| {
                let mut d = d.clone();
                d.insert("_id", id);
                case_from_bson(&d)
            })
            .collect()
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "mongodb"
    }
}
