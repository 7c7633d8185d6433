use async_graphql::{InputObject, Object, ID};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{doctor, patient};

use crate::accounts::types::AccountId;

/// A doctor's public profile. Its id is the doctor's account id.
#[derive(Clone, Debug)]
pub struct Doctor(pub doctor::Model);

#[Object]
impl Doctor {
    async fn id(&self) -> ID {
        AccountId(self.0.account_id).to_id()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Professional title, e.g. "Chief Physician".
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn department(&self) -> &str {
        &self.0.department
    }
    async fn hospital(&self) -> &str {
        &self.0.hospital
    }
    async fn specialties(&self) -> Vec<&str> {
        self.0
            .specialties
            .split(',')
            .filter(|s| !s.is_empty())
            .collect()
    }
    async fn bio(&self) -> &str {
        &self.0.bio
    }
    /// Whether the doctor takes new care-link requests.
    async fn accepting_patients(&self) -> bool {
        self.0.accepting_patients
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A patient's profile: visible to the patient and to doctors with an active care link.
#[derive(Clone, Debug)]
pub struct Patient(pub patient::Model);

#[Object]
impl Patient {
    async fn id(&self) -> ID {
        AccountId(self.0.account_id).to_id()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn gender(&self) -> Option<&str> {
        self.0.gender.as_deref()
    }
    async fn birth_date(&self) -> Option<NaiveDate> {
        self.0.birth_date
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Changes to the viewer's own profile; omitted fields stay as they are.
/// Patients may set the patient fields, doctors the doctor fields.
#[derive(InputObject, Default)]
pub struct UpdateProfileInput {
    pub name: Option<String>,
    /// Patients only.
    pub gender: Option<String>,
    /// Patients only.
    pub birth_date: Option<NaiveDate>,
    /// Patients only.
    pub phone: Option<String>,
    /// Doctors only.
    pub title: Option<String>,
    /// Doctors only.
    pub department: Option<String>,
    /// Doctors only.
    pub hospital: Option<String>,
    /// Doctors only.
    pub specialties: Option<Vec<String>>,
    /// Doctors only.
    pub bio: Option<String>,
    /// Doctors only.
    pub accepting_patients: Option<bool>,
}
