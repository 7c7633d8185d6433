//! GraphQL types of the accounts domain and the ID newtypes everyone uses.
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    directory::types::{Doctor, Patient},
    error::{AppError, AppResult},
};

/// An account's id; also the id of its doctor or patient profile.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct AccountId(pub i64);

impl AccountId {
    /// Parses a client-given id. Malformed ids are BAD_USER_INPUT.
    pub fn parse(id: &ID) -> AppResult<Self> {
        id.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(AccountId)
            .ok_or_else(|| AppError::bad_input(format!("`{}` is not a valid id", id.as_str())))
    }

    pub fn to_id(self) -> ID {
        ID(self.0.to_string())
    }
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Role {
    Patient,
    Doctor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "PATIENT",
            Role::Doctor => "DOCTOR",
            Role::Admin => "ADMIN",
        }
    }

    pub fn parse(s: &str) -> AppResult<Self> {
        match s {
            "PATIENT" => Ok(Role::Patient),
            "DOCTOR" => Ok(Role::Doctor),
            "ADMIN" => Ok(Role::Admin),
            other => Err(AppError::internal(anyhow::anyhow!(
                "unknown role {other:?} in database"
            ))),
        }
    }
}

/// A login identity: a patient, a doctor or an administrator.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub role: Role,
    pub login: String,
    pub created_at: DateTime<Utc>,
}

#[Object]
impl Account {
    async fn id(&self) -> ID {
        self.id.to_id()
    }

    async fn role(&self) -> Role {
        self.role
    }

    /// The e-mail address or phone number used to log in.
    async fn login(&self) -> &str {
        &self.login
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The doctor profile, for doctors.
    async fn doctor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Doctor>> {
        if self.role != Role::Doctor {
            return Ok(None);
        }
        let loaders = crate::loader::loaders(ctx)?;
        Ok(crate::loader::load_one(&loaders.doctors, self.id.0)
            .await?
            .map(Doctor))
    }

    /// The patient profile, for patients.
    async fn patient(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Patient>> {
        if self.role != Role::Patient {
            return Ok(None);
        }
        let loaders = crate::loader::loaders(ctx)?;
        Ok(crate::loader::load_one(&loaders.patients, self.id.0)
            .await?
            .map(Patient))
    }
}

/// A fresh login.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <token>` over HTTP, or as
    /// `{"Authorization": "Bearer <token>"}` in the WebSocket `connection_init` payload.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub account: Account,
}

#[derive(InputObject)]
pub struct RegisterPatientInput {
    /// An e-mail address or a phone number in international form (`+8613800138000`).
    pub login: String,
    /// 8 to 128 characters, with at least one letter and one digit.
    pub password: String,
    pub name: String,
    pub gender: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
}

#[derive(InputObject)]
pub struct RegisterDoctorInput {
    /// An e-mail address or a phone number in international form (`+8613800138000`).
    pub login: String,
    /// 8 to 128 characters, with at least one letter and one digit.
    pub password: String,
    pub name: String,
    pub title: String,
    pub department: String,
    pub hospital: String,
    #[graphql(default)]
    pub specialties: Vec<String>,
    #[graphql(default)]
    pub bio: String,
    #[graphql(default = true)]
    pub accepting_patients: bool,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AccountEventKind {
    /// The account's profile changed (possibly through another device).
    ProfileUpdated,
    /// One of the account's sessions logged out.
    SessionRevoked,
}

/// Something happened to the viewer's own account.
#[derive(SimpleObject, Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AccountEvent {
    pub kind: AccountEventKind,
    pub at: DateTime<Utc>,
}
