//! Directory rules: who may see which profile, search and keyset paging.
use async_graphql::connection::{Connection, Edge};
use chrono::Utc;
use entity::{doctor, patient};
use sea_orm::{
    sea_query::{Expr, LikeExpr},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use sea_orm::TransactionTrait;

use super::types::{Doctor, UpdateProfileInput};
use crate::{
    accounts::{
        service::AccountsService,
        types::{Account, AccountEventKind, AccountId, Role},
        validate,
    },
    auth::Viewer,
    config::Config,
    error::{AppError, AppResult},
    pagination,
    store::Stores,
};

#[derive(Clone)]
pub struct DirectoryService {
    stores: Stores,
    accounts: AccountsService,
    default_page: usize,
    max_page: usize,
}

#[derive(Default)]
pub struct DoctorFilter {
    pub search: Option<String>,
    pub department: Option<String>,
    pub hospital: Option<String>,
}

const DOCTOR_CURSOR: &str = "doctor";

/// `%term%` with LIKE's wildcards in the term escaped.
pub fn like_pattern(term: &str) -> LikeExpr {
    let escaped: String = term
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

impl DirectoryService {
    pub fn new(stores: Stores, accounts: AccountsService, config: &Config) -> Self {
        Self {
            stores,
            accounts,
            default_page: config.default_page_size,
            max_page: config.max_page_size,
        }
    }

    pub async fn doctors(
        &self,
        viewer: &Viewer,
        filter: DoctorFilter,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<String, Doctor>> {
        let limit = pagination::page_size(first, self.default_page, self.max_page)?;
        let mut query = doctor::Entity::find();
        if let Some(after) = &after {
            query = query.filter(
                doctor::Column::AccountId.gt(pagination::decode_id_cursor(DOCTOR_CURSOR, after)?),
            );
        }
        if let Some(term) = filter
            .search
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            if term.chars().count() > 100 {
                return Err(AppError::bad_input("search must be at most 100 characters"));
            }
            let mut any = Condition::any();
            for col in [
                doctor::Column::Name,
                doctor::Column::Title,
                doctor::Column::Hospital,
                doctor::Column::Department,
                doctor::Column::Specialties,
            ] {
                any = any.add(Expr::col((doctor::Entity, col)).like(like_pattern(term)));
            }
            query = query.filter(any);
        }
        if let Some(d) = &filter.department {
            query = query.filter(doctor::Column::Department.eq(d.trim()));
        }
        if let Some(h) = &filter.hospital {
            query = query.filter(doctor::Column::Hospital.eq(h.trim()));
        }
        let mut rows = query
            .order_by_asc(doctor::Column::AccountId)
            .limit(limit + 1)
            .all(&self.stores.sql.reader(viewer.needs_primary()))
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(rows.into_iter().map(|row| {
            Edge::new(
                pagination::encode_cursor(DOCTOR_CURSOR, &row.account_id.to_string()),
                Doctor(row),
            )
        }));
        Ok(connection)
    }

    /// NOT_FOUND unless the viewer is the patient or a doctor with an active link.
    pub async fn check_patient_visible(&self, viewer: &Viewer, id: AccountId) -> AppResult<()> {
        let session = viewer.require()?;
        let allowed = session.account_id == id
            || (session.role == Role::Doctor
                && crate::contacts::service::has_active_link(
                    &self.stores.sql,
                    viewer.needs_primary(),
                    session.account_id,
                    id,
                )
                .await?);
        if !allowed {
            return Err(AppError::NotFound);
        }
        Ok(())
    }

    pub async fn update_my_profile(
        &self,
        viewer: &Viewer,
        input: UpdateProfileInput,
    ) -> AppResult<Account> {
        let session = viewer.require()?;
        let id = session.account_id;
        let txn = self.stores.sql.writer().begin().await?;
        let db = &txn;
        let version = crate::contacts::sync::next_seq(db).await?;
        let doctor_only = input.title.is_some()
            || input.department.is_some()
            || input.hospital.is_some()
            || input.specialties.is_some()
            || input.bio.is_some()
            || input.accepting_patients.is_some();
        let patient_only =
            input.gender.is_some() || input.birth_date.is_some() || input.phone.is_some();
        match session.role {
            Role::Doctor => {
                if patient_only {
                    return Err(AppError::bad_input(
                        "gender, birthDate and phone are patient fields",
                    ));
                }
                let row = doctor::Entity::find_by_id(id.0)
                    .one(db)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let mut m: doctor::ActiveModel = row.into();
                if let Some(v) = &input.name {
                    m.name = Set(validate::required_text("name", v, 100)?);
                }
                if let Some(v) = &input.title {
                    m.title = Set(validate::required_text("title", v, 100)?);
                }
                if let Some(v) = &input.department {
                    m.department = Set(validate::required_text("department", v, 100)?);
                }
                if let Some(v) = &input.hospital {
                    m.hospital = Set(validate::required_text("hospital", v, 200)?);
                }
                if let Some(v) = &input.specialties {
                    m.specialties = Set(validate::specialties(v)?);
                }
                if let Some(v) = &input.bio {
                    m.bio = Set(validate::optional_text("bio", v, 4000)?);
                }
                if let Some(v) = input.accepting_patients {
                    m.accepting_patients = Set(v);
                }
                m.updated_at = Set(Utc::now());
                m.version = Set(version);
                m.update(db).await?;
            }
            Role::Patient => {
                if doctor_only {
                    return Err(AppError::bad_input(
                        "title, department, hospital, specialties, bio and acceptingPatients are doctor fields",
                    ));
                }
                let row = patient::Entity::find_by_id(id.0)
                    .one(db)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let mut m: patient::ActiveModel = row.into();
                if let Some(v) = &input.name {
                    m.name = Set(validate::required_text("name", v, 100)?);
                }
                if let Some(v) = &input.gender {
                    m.gender =
                        Set(Some(validate::optional_text("gender", v, 32)?)
                            .filter(|g| !g.is_empty()));
                }
                if let Some(v) = input.birth_date {
                    m.birth_date = Set(Some(validate::birth_date(v)?));
                }
                if let Some(v) = &input.phone {
                    m.phone = Set(Some(validate::Phone::parse(v)?.into_string()));
                }
                m.updated_at = Set(Utc::now());
                m.version = Set(version);
                m.update(db).await?;
            }
            Role::Admin => {
                return Err(AppError::Forbidden("administrators have no profile".into()))
            }
        }
        txn.commit().await?;
        match session.role {
            Role::Doctor => {
                self.stores
                    .loader_cache
                    .invalidate::<super::loader::DoctorSource>(&[id.0])
                    .await
            }
            _ => {
                self.stores
                    .loader_cache
                    .invalidate::<super::loader::PatientSource>(&[id.0])
                    .await
            }
        }
        self.accounts.wrote(session).await;
        self.accounts
            .publish(id, AccountEventKind::ProfileUpdated)
            .await;
        self.accounts
            .account(viewer, id)
            .await?
            .ok_or(AppError::NotFound)
    }
}
