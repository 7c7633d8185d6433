//! Accounts by id, without their password hashes (which never reach the cache).
use std::collections::HashMap;

use entity::account;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::types::Account;
use crate::{loader::Source, store::Stores};

pub struct AccountSource;

#[async_trait::async_trait]
impl Source for AccountSource {
    type Key = i64;
    type Value = Account;
    const NAME: &'static str = "account";
    const LAYOUT: u32 = 1;

    fn id(key: &i64) -> String {
        key.to_string()
    }

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, Account>> {
        Ok(account::Entity::find()
            .filter(account::Column::Id.is_in(keys.iter().copied()))
            .all(&stores.sql.reader(fresh))
            .await?
            .into_iter()
            .map(|a| (a.id, Account::from(a)))
            .collect())
    }
}
