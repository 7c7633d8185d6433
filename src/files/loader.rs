//! File records by id. A record never changes once written, so nothing
//! invalidates it.
use std::collections::HashMap;

use entity::file;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{loader::Source, store::Stores};

pub struct FileSource;

#[async_trait::async_trait]
impl Source for FileSource {
    type Key = i64;
    type Value = file::Model;
    const NAME: &'static str = "file";
    const LAYOUT: u32 = 1;

    fn id(key: &i64) -> String {
        key.to_string()
    }

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, file::Model>> {
        Ok(file::Entity::find()
            .filter(file::Column::Id.is_in(keys.iter().copied()))
            .all(&stores.sql.reader(fresh))
            .await?
            .into_iter()
            .map(|f| (f.id, f))
            .collect())
    }
}
