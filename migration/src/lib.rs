//! Schema migrations, applied by the server at start (and by `drseek migrate`).
pub use sea_orm_migration::prelude::*;

mod m20261204_000001_accounts;
mod m20261204_000002_care_links;
mod m20261204_000003_cases;
mod m20261204_000004_messaging;
mod m20261204_000005_files;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261204_000001_accounts::Migration),
            Box::new(m20261204_000002_care_links::Migration),
            Box::new(m20261204_000003_cases::Migration),
            Box::new(m20261204_000004_messaging::Migration),
            Box::new(m20261204_000005_files::Migration),
        ]
    }
}
