//! Care links by id.
use std::collections::HashMap;

use entity::care_link;

use crate::{
    loader::{by_ids, Source},
    store::Stores,
};

pub struct CareLinkSource;

#[async_trait::async_trait]
impl Source for CareLinkSource {
    type Key = i64;
    type Value = care_link::Model;
    const NAME: &'static str = "care_link";
    const LAYOUT: u32 = 1;

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, care_link::Model>> {
        by_ids::<care_link::Entity, _>(stores, fresh, care_link::Column::Id, keys, |l| (l.id, l))
            .await
    }
}
