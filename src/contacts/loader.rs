//! Care links by id.
use std::collections::HashMap;

use entity::care_link;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{loader::Source, store::Stores};

pub struct CareLinkSource;

#[async_trait::async_trait]
impl Source for CareLinkSource {
    type Key = i64;
    type Value = care_link::Model;
    const NAME: &'static str = "care_link";
    const LAYOUT: u32 = 1;

    fn id(key: &i64) -> String {
        key.to_string()
    }

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, care_link::Model>> {
        Ok(care_link::Entity::find()
            .filter(care_link::Column::Id.is_in(keys.iter().copied()))
            .all(&stores.sql.reader(fresh))
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect())
    }
}
