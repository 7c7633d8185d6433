//! Documents as JSON text in the SQL database: the generic `documents`
//! table, and case documents with indexed metadata columns.
use chrono::{DateTime, Utc};
use entity::{case_document, case_document_version, document};
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;

use super::{CaseDoc, CaseFilter, DocumentStore, Json};
use crate::store::sql::Sql;

pub struct EmbeddedDocuments {
    sql: Sql,
}

impl EmbeddedDocuments {
    pub fn new(sql: Sql) -> Self {
        Self { sql }
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

fn to_row(doc: &CaseDoc) -> anyhow::Result<case_document::ActiveModel> {
    Ok(case_document::ActiveModel {
        id: Set(doc.id.clone()),
        patient_id: Set(doc.patient_id),
        author_id: Set(doc.author_id),
        kind: Set(doc.kind.clone()),
        title: Set(doc.title.clone()),
        occurred_at_ms: Set(ms(doc.occurred_at)),
        version: Set(doc.version),
        archived: Set(doc.archived),
        created_at_ms: Set(ms(doc.created_at)),
        updated_at_ms: Set(ms(doc.updated_at)),
        body: Set(serde_json::to_string(
            &json!({ "content": doc.content, "attachments": doc.attachments }),
        )?),
    })
}

fn from_row(row: case_document::Model) -> anyhow::Result<CaseDoc> {
    #[derive(serde::Deserialize)]
    struct Body {
        content: Json,
        attachments: Vec<i64>,
    }
    let body: Body = serde_json::from_str(&row.body)?;
    Ok(CaseDoc {
        id: row.id,
        patient_id: row.patient_id,
        author_id: row.author_id,
        kind: row.kind,
        title: row.title,
        occurred_at: from_ms(row.occurred_at_ms),
        content: body.content,
        attachments: body.attachments,
        version: row.version,
        archived: row.archived,
        created_at: from_ms(row.created_at_ms),
        updated_at: from_ms(row.updated_at_ms),
    })
}

#[async_trait::async_trait]
impl DocumentStore for EmbeddedDocuments {
    async fn insert(&self, collection: &str, id: &str, doc: &Json) -> anyhow::Result<()> {
        let row = document::ActiveModel {
            collection: Set(collection.to_owned()),
            id: Set(id.to_owned()),
            body: Set(serde_json::to_string(doc)?),
            updated_at: Set(Utc::now()),
        };
        document::Entity::insert(row)
            .exec(self.sql.writer())
            .await?;
        Ok(())
    }

    async fn get(&self, collection: &str, id: &str) -> anyhow::Result<Option<Json>> {
        // Documents are read right after they are written: read the primary.
        let row = document::Entity::find_by_id((collection.to_owned(), id.to_owned()))
            .one(self.sql.writer())
            .await?;
        Ok(match row {
            Some(row) => Some(serde_json::from_str(&row.body)?),
            None => None,
        })
    }

    async fn insert_case(&self, doc: &CaseDoc) -> anyhow::Result<()> {
        case_document::Entity::insert(to_row(doc)?)
            .exec(self.sql.writer())
            .await?;
        Ok(())
    }

    async fn get_case(&self, id: &str) -> anyhow::Result<Option<CaseDoc>> {
        // Medical records are read from the primary: a stale read could hide
        // an update a doctor just made, and the write that follows needs the
        // current version anyway.
        let row = case_document::Entity::find_by_id(id.to_owned())
            .one(self.sql.writer())
            .await?;
        row.map(from_row).transpose()
    }

    async fn get_cases(&self, ids: &[String]) -> anyhow::Result<Vec<CaseDoc>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        case_document::Entity::find()
            .filter(case_document::Column::Id.is_in(ids.iter().cloned()))
            .all(self.sql.writer())
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    }

    async fn update_case(&self, previous: &CaseDoc, next: &CaseDoc) -> anyhow::Result<bool> {
        let db = self.sql.writer();
        let snapshot = case_document_version::ActiveModel {
            document_id: Set(previous.id.clone()),
            version: Set(previous.version),
            snapshot: Set(serde_json::to_string(previous)?),
        };
        // Idempotent: the same version always has the same content.
        case_document_version::Entity::insert(snapshot)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    case_document_version::Column::DocumentId,
                    case_document_version::Column::Version,
                ])
                .update_column(case_document_version::Column::Version)
                .to_owned(),
            )
            .exec(db)
            .await?;
        let row = to_row(next)?;
        let result = case_document::Entity::update_many()
            .set(row)
            .filter(case_document::Column::Id.eq(previous.id.clone()))
            .filter(case_document::Column::Version.eq(previous.version))
            .exec(db)
            .await?;
        Ok(result.rows_affected == 1)
    }

    async fn list_cases(&self, f: &CaseFilter) -> anyhow::Result<Vec<CaseDoc>> {
        let mut q =
            case_document::Entity::find().filter(case_document::Column::PatientId.eq(f.patient_id));
        if let Some(kinds) = &f.kinds {
            q = q.filter(case_document::Column::Kind.is_in(kinds.clone()));
        }
        if let Some(from) = f.from {
            q = q.filter(case_document::Column::OccurredAtMs.gte(ms(from)));
        }
        if let Some(to) = f.to {
            q = q.filter(case_document::Column::OccurredAtMs.lt(ms(to)));
        }
        if !f.include_archived {
            q = q.filter(case_document::Column::Archived.eq(false));
        }
        if let Some((t, id)) = &f.before {
            q = q.filter(
                Condition::any()
                    .add(case_document::Column::OccurredAtMs.lt(ms(*t)))
                    .add(
                        Condition::all()
                            .add(Expr::col(case_document::Column::OccurredAtMs).eq(ms(*t)))
                            .add(case_document::Column::Id.lt(id.clone())),
                    ),
            );
        }
        let rows = q
            .order_by_desc(case_document::Column::OccurredAtMs)
            .order_by_desc(case_document::Column::Id)
            .limit(f.limit)
            .all(self.sql.writer())
            .await?;
        rows.into_iter().map(from_row).collect()
    }

    async fn case_history(&self, id: &str) -> anyhow::Result<Vec<CaseDoc>> {
        let rows = case_document_version::Entity::find()
            .filter(case_document_version::Column::DocumentId.eq(id))
            .order_by_asc(case_document_version::Column::Version)
            .all(self.sql.writer())
            .await?;
        rows.into_iter()
            .map(|r| Ok(serde_json::from_str(&r.snapshot)?))
            .collect()
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.sql.writer().ping().await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }
}
