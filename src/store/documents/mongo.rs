//! MongoDB through the official driver. Works with MongoDB and with FerretDB:
//! it uses single-document operations only, never multi-document transactions.
use std::time::Duration;

use mongodb::{
    bson::{self, doc, Document},
    options::ClientOptions,
    Client, Database,
};

use super::{DocumentStore, Json};

pub struct MongoDocuments {
    db: Database,
}

impl MongoDocuments {
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url).await?;
        options.app_name = Some("drseek".into());
        options.server_selection_timeout = Some(Duration::from_secs(3));
        options.connect_timeout = Some(Duration::from_secs(3));
        let client = Client::with_options(options)?;
        let db = client.database(database);
        db.run_command(doc! { "ping": 1 }).await?;
        Ok(Self { db })
    }
}

fn to_bson(id: &str, doc: &Json) -> anyhow::Result<Document> {
    let mut out = bson::to_document(doc)?;
    out.insert("_id", id);
    Ok(out)
}

fn from_bson(mut doc: Document) -> anyhow::Result<Json> {
    doc.remove("_id");
    let value = bson::Bson::Document(doc).into_relaxed_extjson();
    match value {
        serde_json::Value::Object(map) => Ok(map),
        other => anyhow::bail!("document is not an object: {other}"),
    }
}

#[async_trait::async_trait]
impl DocumentStore for MongoDocuments {
    async fn insert(&self, collection: &str, id: &str, doc: &Json) -> anyhow::Result<()> {
        self.db
            .collection::<Document>(collection)
            .insert_one(to_bson(id, doc)?)
            .await?;
        Ok(())
    }

    async fn get(&self, collection: &str, id: &str) -> anyhow::Result<Option<Json>> {
        let found = self
            .db
            .collection::<Document>(collection)
            .find_one(doc! { "_id": id })
            .await?;
        found.map(from_bson).transpose()
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "mongodb"
    }
}
