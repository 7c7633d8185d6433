//! Doctor and patient profiles by account id.
use std::collections::HashMap;

use entity::{doctor, patient};

use crate::{
    loader::{by_ids, Source},
    store::Stores,
};

pub struct DoctorSource;

#[async_trait::async_trait]
impl Source for DoctorSource {
    type Key = i64;
    type Value = doctor::Model;
    const NAME: &'static str = "doctor";
    const LAYOUT: u32 = 1;

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, doctor::Model>> {
        by_ids::<doctor::Entity, _>(stores, fresh, doctor::Column::AccountId, keys, |d| {
            (d.account_id, d)
        })
        .await
    }
}

pub struct PatientSource;

#[async_trait::async_trait]
impl Source for PatientSource {
    type Key = i64;
    type Value = patient::Model;
    const NAME: &'static str = "patient";
    const LAYOUT: u32 = 1;

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, patient::Model>> {
        by_ids::<patient::Entity, _>(stores, fresh, patient::Column::AccountId, keys, |p| {
            (p.account_id, p)
        })
        .await
    }
}
