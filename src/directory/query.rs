use async_graphql::{connection::Connection, Context, Object, ID};

use super::types::{Doctor, Patient};
use crate::{
    accounts::types::AccountId,
    auth::Viewer,
    error::AppError,
    loader::{load_one, loaders},
    schema::services,
};

#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// A doctor's public profile; null for an unknown id.
    async fn doctor(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Doctor>> {
        let id = AccountId::parse(&id)?;
        Ok(load_one(&loaders(ctx)?.doctors, id.0).await?.map(Doctor))
    }

    /// Doctors, in a stable order, optionally filtered. `search` matches name,
    /// title, hospital, department and specialties (case-insensitive substring);
    /// `department` and `hospital` match exactly.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 500) as usize * child_complexity + 1")]
    async fn doctors(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        department: Option<String>,
        hospital: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Doctor>> {
        let filter = super::service::DoctorFilter {
            search,
            department,
            hospital,
        };
        Ok(services(ctx)?
            .directory
            .doctors(&Viewer::from_ctx(ctx), filter, first, after)
            .await?)
    }

    /// A patient's profile: the patient themself, or a doctor with an active
    /// care link. Anyone else gets NOT_FOUND, whether or not the id exists.
    async fn patient(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Patient>> {
        let id = AccountId::parse(&id)?;
        services(ctx)?
            .directory
            .check_patient_visible(&Viewer::from_ctx(ctx), id)
            .await?;
        let patient = load_one(&loaders(ctx)?.patients, id.0).await?;
        Ok(Some(patient.map(Patient).ok_or(AppError::NotFound)?))
    }
}
