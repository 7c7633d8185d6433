//! Demo data so a newcomer has something to query: doctors across departments
//! and hospitals, and patients. Every demo account logs in with [`DEMO_PASSWORD`].
use chrono::{NaiveDate, Utc};
use entity::{account, doctor, patient};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};

use crate::store::Stores;

pub const DEMO_PASSWORD: &str = "drseek-demo-1";

const DEPARTMENTS: &[(&str, &[&str])] = &[
    (
        "Cardiology",
        &["hypertension", "arrhythmia", "heart failure"],
    ),
    ("Dermatology", &["eczema", "psoriasis", "acne"]),
    ("Endocrinology", &["diabetes", "thyroid disorders"]),
    ("Gastroenterology", &["IBD", "hepatology", "endoscopy"]),
    ("Neurology", &["epilepsy", "stroke", "migraine"]),
    (
        "Oncology",
        &["breast cancer", "lung cancer", "chemotherapy"],
    ),
    (
        "Orthopedics",
        &["sports injuries", "spine", "joint replacement"],
    ),
    (
        "Pediatrics",
        &["neonatology", "childhood asthma", "vaccination"],
    ),
    ("Psychiatry", &["depression", "anxiety", "sleep disorders"]),
    ("Respiratory Medicine", &["asthma", "COPD", "sleep apnea"]),
];
const HOSPITALS: &[&str] = &[
    "Riverside General Hospital",
    "St. Mary's University Hospital",
    "Lakeview Medical Center",
    "Northgate Children's Hospital",
    "Harbor City Clinic",
];
const TITLES: &[&str] = &[
    "Resident",
    "Attending Physician",
    "Associate Chief Physician",
    "Chief Physician",
];
const GIVEN: &[&str] = &[
    "Wei", "Anna", "Omar", "Li", "Sofia", "Kenji", "Maria", "David", "Amara", "Lucas", "Mei",
    "Noah", "Priya", "Elena", "Jun", "Fatima",
];
const FAMILY: &[&str] = &[
    "Zhang", "Smith", "Haddad", "Wang", "Rossi", "Tanaka", "Garcia", "Cohen", "Okafor", "Martin",
    "Chen", "Brown", "Patel", "Ivanova", "Liu", "Khan",
];

fn name(i: usize) -> String {
    format!(
        "{} {}",
        GIVEN[i % GIVEN.len()],
        FAMILY[(i / GIVEN.len() + i) % FAMILY.len()]
    )
}

pub fn doctor_login(i: usize) -> String {
    format!("doctor{i}@demo.drseek.test")
}

pub fn patient_login(i: usize) -> String {
    format!("patient{i}@demo.drseek.test")
}

/// Inserts `doctors` doctors and `patients` patients unless the demo set exists.
/// Returns how many accounts it created.
pub async fn seed(stores: &Stores, doctors: usize, patients: usize) -> anyhow::Result<usize> {
    let db = stores.sql.writer();
    let exists = account::Entity::find()
        .filter(account::Column::Login.eq(doctor_login(1)))
        .one(db)
        .await?
        .is_some();
    if exists {
        tracing::info!("demo data already present; nothing to do");
        return Ok(0);
    }
    let hash = tokio::task::spawn_blocking(|| {
        use argon2::{
            password_hash::{rand_core::OsRng, PasswordHasher, SaltString},
            Argon2,
        };
        Argon2::default()
            .hash_password(DEMO_PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await??;
    let now = Utc::now();
    let txn = db.begin().await?;
    for i in 1..=doctors {
        let a = account::Entity::insert(account::ActiveModel {
            role: Set("DOCTOR".into()),
            login: Set(doctor_login(i)),
            password_hash: Set(hash.clone()),
            created_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        let (department, specialties) = DEPARTMENTS[i % DEPARTMENTS.len()];
        doctor::Entity::insert(doctor::ActiveModel {
            account_id: Set(a.last_insert_id),
            name: Set(format!("Dr. {}", name(i))),
            title: Set(TITLES[i % TITLES.len()].into()),
            department: Set(department.into()),
            hospital: Set(HOSPITALS[i % HOSPITALS.len()].into()),
            specialties: Set(specialties.join(",")),
            bio: Set(format!(
                "{department} specialist with {} years of practice.",
                3 + i % 25
            )),
            accepting_patients: Set(i % 7 != 0),
            updated_at: Set(now),
        })
        .exec(&txn)
        .await?;
    }
    for i in 1..=patients {
        let a = account::Entity::insert(account::ActiveModel {
            role: Set("PATIENT".into()),
            login: Set(patient_login(i)),
            password_hash: Set(hash.clone()),
            created_at: Set(now),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        patient::Entity::insert(patient::ActiveModel {
            account_id: Set(a.last_insert_id),
            name: Set(name(i * 7 + 3)),
            gender: Set(Some(["female", "male", "other"][i % 3].into())),
            birth_date: Set(NaiveDate::from_ymd_opt(
                1940 + (i % 80) as i32,
                1 + (i % 12) as u32,
                1 + (i % 28) as u32,
            )),
            phone: Set(Some(format!("+1555{:07}", i))),
            updated_at: Set(now),
        })
        .exec(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(doctors + patients)
}
