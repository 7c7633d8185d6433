use async_graphql::{Context, Object};

use super::types::{AuthPayload, RegisterDoctorInput, RegisterPatientInput};
use crate::{auth::Viewer, schema::services};

#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Creates a patient account and logs it in.
    async fn register_patient(
        &self,
        ctx: &Context<'_>,
        input: RegisterPatientInput,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(services(ctx)?.accounts.register_patient(input).await?)
    }

    /// Creates a doctor account and logs it in.
    async fn register_doctor(
        &self,
        ctx: &Context<'_>,
        input: RegisterDoctorInput,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(services(ctx)?.accounts.register_doctor(input).await?)
    }

    /// Exchanges a login and password for a token. Unknown logins and wrong
    /// passwords fail alike, with UNAUTHENTICATED.
    async fn login(
        &self,
        ctx: &Context<'_>,
        login: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let svc = services(ctx)?;
        let ip = ctx
            .data_opt::<crate::limits::ClientIp>()
            .map_or("unknown", |c| c.0.as_str());
        svc.limits
            .hit(&format!("login-ip:{ip}"), svc.limits.login_per_ip)
            .await?;
        let normalized = login.trim().to_lowercase();
        svc.limits
            .hit(&format!("login:{normalized}"), svc.limits.login_per_account)
            .await?;
        Ok(services(ctx)?.accounts.login(&login, &password).await?)
    }

    /// Revokes the token sent with this request.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(services(ctx)?
            .accounts
            .logout(&Viewer::from_ctx(ctx))
            .await?)
    }
}
