//! Documents as JSON text in the `documents` table of the SQL database.
use chrono::Utc;
use entity::document;
use sea_orm::{ActiveValue::Set, EntityTrait};

use super::{DocumentStore, Json};
use crate::store::sql::Sql;

pub struct EmbeddedDocuments {
    sql: Sql,
}

impl EmbeddedDocuments {
    pub fn new(sql: Sql) -> Self {
        Self { sql }
    }
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

    async fn ping(&self) -> anyhow::Result<()> {
        self.sql.writer().ping().await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }
}
