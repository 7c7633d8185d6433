//! Demo data so a newcomer has something to query: doctors across departments
//! and hospitals, and patients; and, for scale tests, one doctor linked to many
//! patients in bulk. Every demo account logs in with [`DEMO_PASSWORD`].
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use entity::{account, care_link, doctor, patient};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};

use crate::{
    contacts::{service::new_invite_code, sync},
    store::Stores,
};

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

async fn demo_hash() -> anyhow::Result<String> {
    tokio::task::spawn_blocking(|| {
        use argon2::{
            password_hash::{rand_core::OsRng, PasswordHasher, SaltString},
            Argon2,
        };
        Argon2::default()
            .hash_password(DEMO_PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await?
}

fn doctor_profile(account_id: i64, i: usize) -> doctor::ActiveModel {
    let (department, specialties) = DEPARTMENTS[i % DEPARTMENTS.len()];
    doctor::ActiveModel {
        account_id: Set(account_id),
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
        updated_at: Set(Utc::now()),
        invite_code: Set(Some(new_invite_code())),
        version: Set(0),
    }
}

fn patient_profile(account_id: i64, i: usize) -> patient::ActiveModel {
    patient::ActiveModel {
        account_id: Set(account_id),
        name: Set(name(i * 7 + 3)),
        gender: Set(Some(["female", "male", "other"][i % 3].into())),
        birth_date: Set(NaiveDate::from_ymd_opt(
            1940 + (i % 80) as i32,
            1 + (i % 12) as u32,
            1 + (i % 28) as u32,
        )),
        phone: Set(Some(format!("+1555{:07}", i % 10_000_000))),
        updated_at: Set(Utc::now()),
        version: Set(0),
    }
}

fn new_account(role: &str, login: String, hash: &str) -> account::ActiveModel {
    account::ActiveModel {
        role: Set(role.into()),
        login: Set(login),
        password_hash: Set(hash.to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
}

/// Inserts accounts for `logins` in one statement and returns their ids in order.
async fn insert_accounts<C: ConnectionTrait>(
    db: &C,
    role: &str,
    logins: &[String],
    hash: &str,
) -> anyhow::Result<Vec<i64>> {
    account::Entity::insert_many(logins.iter().map(|l| new_account(role, l.clone(), hash)))
        .exec(db)
        .await?;
    let rows: Vec<(i64, String)> = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .column(account::Column::Login)
        .filter(account::Column::Login.is_in(logins.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    let by_login: std::collections::HashMap<String, i64> =
        rows.into_iter().map(|(id, l)| (l, id)).collect();
    logins
        .iter()
        .map(|l| {
            by_login
                .get(l)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("inserted account {l} not found"))
        })
        .collect()
}

/// Inserts `doctors` doctors and `patients` patients unless the demo set exists.
/// Returns how many accounts it created.
pub async fn seed(stores: &Stores, doctors: usize, patients: usize) -> anyhow::Result<usize> {
    let db = stores.sql.writer();
    if doctors + patients == 0 {
        return Ok(0);
    }
    let exists = account::Entity::find()
        .filter(account::Column::Login.is_in([doctor_login(1), patient_login(1)]))
        .one(db)
        .await?
        .is_some();
    if exists {
        tracing::info!("demo data already present; nothing to do");
        return Ok(0);
    }
    let hash = demo_hash().await?;
    let txn = db.begin().await?;
    let logins: Vec<String> = (1..=doctors).map(doctor_login).collect();
    for (chunk_no, chunk) in logins.chunks(1000).enumerate() {
        let ids = insert_accounts(&txn, "DOCTOR", chunk, &hash).await?;
        let rows = ids
            .iter()
            .enumerate()
            .map(|(k, id)| doctor_profile(*id, chunk_no * 1000 + k + 1));
        doctor::Entity::insert_many(rows).exec(&txn).await?;
    }
    let logins: Vec<String> = (1..=patients).map(patient_login).collect();
    for (chunk_no, chunk) in logins.chunks(1000).enumerate() {
        let ids = insert_accounts(&txn, "PATIENT", chunk, &hash).await?;
        let rows = ids
            .iter()
            .enumerate()
            .map(|(k, id)| patient_profile(*id, chunk_no * 1000 + k + 1));
        patient::Entity::insert_many(rows).exec(&txn).await?;
    }
    txn.commit().await?;
    Ok(doctors + patients)
}

/// Links `count` new patients to the doctor `doctor_login` (created if missing),
/// all ACTIVE, in batches; logs progress. Returns the doctor's account id.
pub async fn link_patients(
    stores: &Stores,
    doctor_login: &str,
    count: usize,
) -> anyhow::Result<i64> {
    const BATCH: usize = 1000;
    let db = stores.sql.writer();
    let hash = demo_hash().await?;
    let doctor_id = match account::Entity::find()
        .filter(account::Column::Login.eq(doctor_login))
        .one(db)
        .await?
    {
        Some(a) => a.id,
        None => {
            let txn = db.begin().await?;
            let ids = insert_accounts(&txn, "DOCTOR", &[doctor_login.to_owned()], &hash).await?;
            let id = ids
                .first()
                .copied()
                .ok_or_else(|| anyhow::anyhow!("doctor not inserted"))?;
            doctor::Entity::insert(doctor_profile(id, id as usize))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            id
        }
    };
    let run = Utc::now().timestamp_millis();
    let started = Instant::now();
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let logins: Vec<String> = (done..done + n)
            .map(|i| format!("linked{i}.{run}@demo.drseek.test"))
            .collect();
        let txn = db.begin().await?;
        let ids = insert_accounts(&txn, "PATIENT", &logins, &hash).await?;
        patient::Entity::insert_many(
            ids.iter()
                .enumerate()
                .map(|(k, id)| patient_profile(*id, done + k)),
        )
        .exec(&txn)
        .await?;
        let version = sync::next_seq(&txn).await?;
        let now = Utc::now();
        care_link::Entity::insert_many(ids.iter().map(|pid| care_link::ActiveModel {
            doctor_id: Set(doctor_id),
            patient_id: Set(*pid),
            status: Set("ACTIVE".into()),
            is_open: Set(true),
            open_key: Set(Some(format!("{doctor_id}:{pid}"))),
            version: Set(version),
            requested_at: Set(now),
            responded_at: Set(Some(now)),
            ended_at: Set(None),
            ended_by: Set(None),
            updated_at: Set(now),
            ..Default::default()
        }))
        .exec(&txn)
        .await?;
        txn.commit().await?;
        done += n;
        if done % 50_000 == 0 || done == count {
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(
                linked = done,
                of = count,
                rows_per_sec = (done as f64 / secs) as u64,
                "linking patients"
            );
        }
    }
    Ok(doctor_id)
}
