//! Doctor and patient profiles by account id.
use std::collections::HashMap;

use entity::{doctor, patient};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{loader::Source, store::Stores};

pub struct DoctorSource;

#[async_trait::async_trait]
impl Source for DoctorSource {
    type Key = i64;
    type Value = doctor::Model;
    const NAME: &'static str = "doctor";
    const LAYOUT: u32 = 1;

    fn id(key: &i64) -> String {
        key.to_string()
    }

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, doctor::Model>> {
        Ok(doctor::Entity::find()
            .filter(doctor::Column::AccountId.is_in(keys.iter().copied()))
            .all(&stores.sql.reader(fresh))
            .await?
            .into_iter()
            .map(|d| (d.account_id, d))
            .collect())
    }
}

pub struct PatientSource;

#[async_trait::async_trait]
impl Source for PatientSource {
    type Key = i64;
    type Value = patient::Model;
    const NAME: &'static str = "patient";
    const LAYOUT: u32 = 1;

    fn id(key: &i64) -> String {
        key.to_string()
    }

    async fn fetch(
        stores: &Stores,
        fresh: bool,
        keys: &[i64],
    ) -> anyhow::Result<HashMap<i64, patient::Model>> {
        Ok(patient::Entity::find()
            .filter(patient::Column::AccountId.is_in(keys.iter().copied()))
            .all(&stores.sql.reader(fresh))
            .await?
            .into_iter()
            .map(|p| (p.account_id, p))
            .collect())
    }
}
