//! File records by id. A record never changes once written, so nothing
//! invalidates it.
use std::collections::HashMap;

use entity::file;

use crate::{
    loader::{by_ids, Source},
    store::Stores,
};

pub struct FileSource;

#[async_trait::async_trait]
impl Source for FileSource {
    type Key = i64;
    type Value = file::Model;
    const NAME: &'static str = "file";
    const LAYOUT: u32 = 1;

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, file::Model>> {
        by_ids::<file::Entity, _>(stores, fresh, file::Column::Id, keys, |f| (f.id, f)).await
    }
}
