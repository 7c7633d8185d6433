//! Accounts by id, without their password hashes (which never reach the cache).
use std::collections::HashMap;

use entity::account;

use super::types::Account;
use crate::{
    loader::{by_ids, Source},
    store::Stores,
};

pub struct AccountSource;

#[async_trait::async_trait]
impl Source for AccountSource {
    type Key = i64;
    type Value = Account;
    const NAME: &'static str = "account";
    const LAYOUT: u32 = 1;

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, Account>> {
        by_ids::<account::Entity, _>(stores, fresh, account::Column::Id, keys, |a| {
            (a.id, Account::from(a))
        })
        .await
    }
}
