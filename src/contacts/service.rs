//! Care-link rules and contact-book queries.
//!
//! - A patient asks (by doctor id or invite code); asking again while a link
//!   is open returns it. The doctor accepts or declines; either side ends.
//! - Lists page by link id (keyset, never OFFSET): paging the whole book while
//!   it changes returns every link that existed throughout exactly once.
//! - Every change takes a number of the global change sequence ([`super::sync`]),
//!   so `contactChanges(since)` returns exactly the delta.

use async_graphql::{
    connection::{Connection, Edge},
    ID,
};
use chrono::Utc;
use entity::{care_link, doctor, patient};
use rand::Rng as _;
use sea_orm::{
    sea_query::{Expr, Query},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use super::{
    sync,
    types::{CareLink, CareLinkStatus, ContactChanges, ContactEvent, ContactEventKind},
};
use crate::{
    accounts::{
        service::AccountsService,
        types::{AccountId, Role},
    },
    auth::{Session, Viewer},
    config::Config,
    error::{is_unique_violation, AppError, AppResult},
    pagination,
    store::{sql::Sql, Stores},
};

/// Contact pages: default and maximum size.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 500;
const CURSOR: &str = "link";

#[derive(Clone)]
pub struct ContactsService {
    stores: Stores,
    accounts: AccountsService,
    sync_max_age_secs: u64,
}

pub fn contacts_topic(account: AccountId) -> String {
    format!("contacts:{}", account.0)
}

/// A new invite code: 10 characters from an alphabet without look-alikes.
pub fn new_invite_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Whether `doctor` has an ACTIVE link with `patient`.
pub async fn has_active_link(
    sql: &Sql,
    fresh: bool,
    doctor: AccountId,
    patient: AccountId,
) -> AppResult<bool> {
    let n = care_link::Entity::find()
        .filter(care_link::Column::DoctorId.eq(doctor.0))
        .filter(care_link::Column::PatientId.eq(patient.0))
        .filter(care_link::Column::Status.eq(CareLinkStatus::Active.as_str()))
        .count(&sql.reader(fresh))
        .await?;
    Ok(n > 0)
}

fn party_column(role: Role) -> care_link::Column {
    match role {
        Role::Doctor => care_link::Column::DoctorId,
        _ => care_link::Column::PatientId,
    }
}

fn parse_link_id(id: &ID) -> AppResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AppError::bad_input(format!("`{}` is not a valid id", id.as_str())))
}

impl ContactsService {
    pub fn new(stores: Stores, accounts: AccountsService, config: &Config) -> Self {
        Self {
            stores,
            accounts,
            sync_max_age_secs: config.contact_sync_max_age_secs,
        }
    }

    async fn publish(&self, link: &care_link::Model) {
        let kind = if CareLinkStatus::parse(&link.status).is_open() {
            ContactEventKind::Upsert
        } else {
            ContactEventKind::Remove
        };
        let event = ContactEvent {
            kind,
            link_id: link.id,
            version: link.version,
        };
        let Ok(bytes) = serde_json::to_vec(&event) else {
            return;
        };
        for party in [link.doctor_id, link.patient_id] {
            if let Err(e) = self
                .stores
                .bus
                .publish(&contacts_topic(AccountId(party)), &bytes)
                .await
            {
                tracing::warn!(error = %e, "could not publish a contact event");
            }
        }
    }

    async fn wrote(&self, session: &Session, link: &care_link::Model) {
        self.stores
            .loader_cache
            .invalidate::<super::loader::CareLinkSource>(&[link.id])
            .await;
        self.accounts.wrote(session).await;
        let other = if link.doctor_id == session.account_id.0 {
            link.patient_id
        } else {
            link.doctor_id
        };
        // The other party's next reads should see the change too.
        self.accounts.note_write(AccountId(other)).await;
        self.publish(link).await;
    }

    /// A patient asks a doctor for a link, by id or invite code.
    pub async fn request(
        &self,
        viewer: &Viewer,
        doctor_id: Option<ID>,
        invite_code: Option<String>,
    ) -> AppResult<CareLink> {
        let session = viewer.require()?;
        if session.role != Role::Patient {
            return Err(AppError::Forbidden(
                "only patients can ask for a care link".into(),
            ));
        }
        let db = self.stores.sql.writer();
        let doctor = match (doctor_id, invite_code) {
            (Some(id), None) => {
                let id = AccountId::parse(&id)?;
                doctor::Entity::find_by_id(id.0).one(db).await?
            }
            (None, Some(code)) => {
                let code = code.trim().to_ascii_uppercase();
                if code.is_empty() || code.len() > 32 {
                    return Err(AppError::NotFound);
                }
                doctor::Entity::find()
                    .filter(doctor::Column::InviteCode.eq(code))
                    .one(db)
                    .await?
            }
            _ => {
                return Err(AppError::bad_input(
                    "give exactly one of doctorId and inviteCode",
                ))
            }
        };
        let doctor = doctor.ok_or(AppError::NotFound)?;
        let open_key = format!("{}:{}", doctor.account_id, session.account_id.0);
        if let Some(existing) = care_link::Entity::find()
            .filter(care_link::Column::OpenKey.eq(open_key.clone()))
            .one(db)
            .await?
        {
            return Ok(CareLink { model: existing });
        }
        if !doctor.accepting_patients {
            return Err(AppError::Forbidden(
                "this doctor is not accepting new patients".into(),
            ));
        }
        let txn = db.begin().await?;
        let version = sync::next_seq(&txn).await?;
        let now = Utc::now();
        let inserted = care_link::ActiveModel {
            doctor_id: Set(doctor.account_id),
            patient_id: Set(session.account_id.0),
            status: Set(CareLinkStatus::Pending.as_str().into()),
            is_open: Set(true),
            open_key: Set(Some(open_key.clone())),
            version: Set(version),
            requested_at: Set(now),
            responded_at: Set(None),
            ended_at: Set(None),
            ended_by: Set(None),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let model = match inserted {
            Ok(m) => {
                txn.commit().await?;
                m
            }
            Err(e) if is_unique_violation(&e) => {
                // A concurrent request won: return its link.
                txn.rollback().await?;
                let existing = care_link::Entity::find()
                    .filter(care_link::Column::OpenKey.eq(open_key))
                    .one(db)
                    .await?
                    .ok_or(AppError::NotFound)?;
                return Ok(CareLink { model: existing });
            }
            Err(e) => return Err(e.into()),
        };
        self.wrote(session, &model).await;
        tracing::info!(
            link = model.id,
            doctor = model.doctor_id,
            patient = model.patient_id,
            "care link requested"
        );
        Ok(CareLink { model })
    }

    /// Moves a link from one of `from` to `to`, if the viewer is the right party.
    async fn transition(
        &self,
        viewer: &Viewer,
        id: &ID,
        parties: &[Role],
        from: &[CareLinkStatus],
        to: CareLinkStatus,
    ) -> AppResult<CareLink> {
        let session = viewer.require()?;
        let id = parse_link_id(id)?;
        let db = self.stores.sql.writer();
        let link = care_link::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or(AppError::NotFound)?;
        let me = session.account_id.0;
        let party = if link.doctor_id == me {
            Role::Doctor
        } else if link.patient_id == me {
            Role::Patient
        } else {
            return Err(AppError::NotFound);
        };
        if !parties.contains(&party) {
            return Err(AppError::Forbidden(format!(
                "the {} cannot do this",
                if party == Role::Doctor {
                    "doctor"
                } else {
                    "patient"
                }
            )));
        }
        let txn = db.begin().await?;
        let version = sync::next_seq(&txn).await?;
        let now = Utc::now();
        let mut update = care_link::Entity::update_many()
            .col_expr(care_link::Column::Status, Expr::value(to.as_str()))
            .col_expr(care_link::Column::IsOpen, Expr::value(to.is_open()))
            .col_expr(care_link::Column::Version, Expr::value(version))
            .col_expr(care_link::Column::UpdatedAt, Expr::value(now));
        if !to.is_open() {
            update = update.col_expr(
                care_link::Column::OpenKey,
                Expr::value(Option::<String>::None),
            );
        }
        update = match to {
            CareLinkStatus::Active | CareLinkStatus::Declined => {
                update.col_expr(care_link::Column::RespondedAt, Expr::value(Some(now)))
            }
            CareLinkStatus::Ended => update
                .col_expr(care_link::Column::EndedAt, Expr::value(Some(now)))
                .col_expr(care_link::Column::EndedBy, Expr::value(Some(me))),
            CareLinkStatus::Pending => update,
        };
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let result = update
            .filter(care_link::Column::Id.eq(id))
            .filter(care_link::Column::Status.is_in(from))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            txn.rollback().await?;
            return Err(AppError::Conflict(format!(
                "the link is {}; it cannot become {}",
                link.status,
                to.as_str()
            )));
        }
        let model = care_link::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound)?;
        let closed = match to {
            CareLinkStatus::Active => {
                crate::messaging::service::open_for_link(&txn, &model).await?;
                None
            }
            CareLinkStatus::Ended => {
                crate::messaging::service::close_for_link(&txn, model.id).await?
            }
            _ => None,
        };
        txn.commit().await?;
        if let Some(conversation) = closed {
            crate::messaging::service::publish_closed(self.stores.bus.as_ref(), &conversation, me)
                .await;
        }
        self.wrote(session, &model).await;
        tracing::info!(link = id, status = to.as_str(), "care link changed");
        Ok(CareLink { model })
    }

    pub async fn respond(&self, viewer: &Viewer, id: &ID, accept: bool) -> AppResult<CareLink> {
        let to = if accept {
            CareLinkStatus::Active
        } else {
            CareLinkStatus::Declined
        };
        self.transition(viewer, id, &[Role::Doctor], &[CareLinkStatus::Pending], to)
            .await
    }

    /// Either party ends an active link; the patient may also withdraw a pending request.
    pub async fn end(&self, viewer: &Viewer, id: &ID) -> AppResult<CareLink> {
        let session = viewer.require()?;
        let from: &[CareLinkStatus] = if session.role == Role::Patient {
            &[CareLinkStatus::Active, CareLinkStatus::Pending]
        } else {
            &[CareLinkStatus::Active]
        };
        self.transition(
            viewer,
            id,
            &[Role::Doctor, Role::Patient],
            from,
            CareLinkStatus::Ended,
        )
        .await
    }

    /// The viewer's links, keyset-paged by link id.
    pub async fn contacts(
        &self,
        viewer: &Viewer,
        status: Option<CareLinkStatus>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<String, CareLink, ContactsMeta>> {
        let session = viewer.require()?;
        let limit = pagination::page_size(first, DEFAULT_PAGE, MAX_PAGE)?;
        let after_id = after
            .as_deref()
            .map(|c| pagination::decode_id_cursor(CURSOR, c))
            .transpose()?;
        let search = search
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
            return Err(AppError::bad_input("search must be at most 100 characters"));
        }
        let db = self.stores.sql.reader(viewer.needs_primary());
        // Read the version first: the page may then include changes newer than
        // it, which a later sync repeats harmlessly; it can never miss one.
        let version = sync::current_seq(&db).await?;
        let filter = self.book_filter(session, status, search.as_deref());
        let mut query = care_link::Entity::find().filter(filter.clone());
        if let Some(a) = after_id {
            query = query.filter(care_link::Column::Id.gt(a));
        }
        let mut rows = query
            .order_by_asc(care_link::Column::Id)
            .limit(limit + 1)
            .all(&db)
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let links = rows.into_iter().map(|model| CareLink { model });
        let meta = ContactsMeta {
            stores: self.stores.clone(),
            fresh: viewer.needs_primary(),
            filter,
            version,
        };
        let mut connection = Connection::with_additional_fields(after_id.is_some(), has_next, meta);
        connection.edges.extend(links.into_iter().map(|l| {
            Edge::new(
                pagination::encode_cursor(CURSOR, &l.model.id.to_string()),
                l,
            )
        }));
        Ok(connection)
    }

    fn book_filter(
        &self,
        session: &Session,
        status: Option<CareLinkStatus>,
        search: Option<&str>,
    ) -> Condition {
        let party = party_column(session.role);
        let mut cond = Condition::all().add(party.eq(session.account_id.0));
        cond = match status {
            Some(s) => cond.add(care_link::Column::Status.eq(s.as_str())),
            None => cond.add(care_link::Column::IsOpen.eq(true)),
        };
        if let Some(term) = search {
            let pattern = crate::directory::service::like_pattern(term);
            let sub = if session.role == Role::Doctor {
                Query::select()
                    .column(patient::Column::AccountId)
                    .from(patient::Entity)
                    .and_where(Expr::col(patient::Column::Name).like(pattern))
                    .to_owned()
            } else {
                Query::select()
                    .column(doctor::Column::AccountId)
                    .from(doctor::Entity)
                    .and_where(Expr::col(doctor::Column::Name).like(pattern))
                    .to_owned()
            };
            let other = if session.role == Role::Doctor {
                care_link::Column::PatientId
            } else {
                care_link::Column::DoctorId
            };
            cond = cond.add(other.in_subquery(sub));
        }
        cond
    }

    /// What changed in the viewer's book after `since`, oldest first, at most `first`.
    pub async fn changes(
        &self,
        viewer: &Viewer,
        since: &str,
        first: Option<i32>,
    ) -> AppResult<ContactChanges> {
        let session = viewer.require()?;
        let since = sync::decode_version(since, self.sync_max_age_secs)?;
        let limit = pagination::page_size(first, MAX_PAGE, MAX_PAGE)?;
        let db = self.stores.sql.reader(viewer.needs_primary());
        let current = sync::current_seq(&db).await?;
        if since > current {
            return Err(AppError::ResyncRequired);
        }
        let me = session.account_id.0;
        let party = party_column(session.role);
        // 1. Links that changed themselves.
        let own: Vec<(i64, i64)> = care_link::Entity::find()
            .select_only()
            .column(care_link::Column::Id)
            .column(care_link::Column::Version)
            .filter(party.eq(me))
            .filter(care_link::Column::Version.gt(since))
            .filter(care_link::Column::Version.lte(current))
            .order_by_asc(care_link::Column::Version)
            .limit(limit + 1)
            .into_tuple()
            .all(&db)
            .await?;
        // 2. Open links whose other party's profile changed.
        use sea_orm::sea_query::{Alias, IntoTableRef, Order, SimpleExpr};
        let (other_id, other_version, other_table): (SimpleExpr, SimpleExpr, _) =
            if session.role == Role::Doctor {
                (
                    Expr::col((patient::Entity, patient::Column::AccountId)).into(),
                    Expr::col((patient::Entity, patient::Column::Version)).into(),
                    patient::Entity.into_table_ref(),
                )
            } else {
                (
                    Expr::col((doctor::Entity, doctor::Column::AccountId)).into(),
                    Expr::col((doctor::Entity, doctor::Column::Version)).into(),
                    doctor::Entity.into_table_ref(),
                )
            };
        let other_col = if session.role == Role::Doctor {
            care_link::Column::PatientId
        } else {
            care_link::Column::DoctorId
        };
        let select = Query::select()
            .column((care_link::Entity, care_link::Column::Id))
            .expr_as(other_version.clone(), Alias::new("pv"))
            .from(other_table)
            .inner_join(
                care_link::Entity,
                Condition::all()
                    .add(Expr::col((care_link::Entity, other_col)).eq(other_id))
                    .add(Expr::col((care_link::Entity, party)).eq(me))
                    .add(Expr::col((care_link::Entity, care_link::Column::IsOpen)).eq(true)),
            )
            .and_where(Expr::expr(other_version.clone()).gt(since))
            .and_where(Expr::expr(other_version.clone()).lte(current))
            .order_by_expr(other_version, Order::Asc)
            .limit(limit + 1)
            .to_owned();
        let stmt = db.get_database_backend().build(&select);
        let mut profile: Vec<(i64, i64)> = Vec::new();
        for row in db.query_all(stmt).await? {
            profile.push((row.try_get::<i64>("", "id")?, row.try_get::<i64>("", "pv")?));
        }
        let mut merged: Vec<(i64, i64)> = own
            .into_iter()
            .map(|(id, v)| (v, id))
            .chain(profile.into_iter().map(|(id, v)| (v, id)))
            .collect();
        merged.sort_unstable();
        let has_more = merged.len() as u64 > limit;
        merged.truncate(limit as usize);
        let version = if has_more {
            merged.last().map_or(current, |(v, _)| *v)
        } else {
            current
        };
        let mut ids: Vec<i64> = merged.iter().map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let models = if ids.is_empty() {
            Vec::new()
        } else {
            care_link::Entity::find()
                .filter(care_link::Column::Id.is_in(ids))
                .order_by_asc(care_link::Column::Id)
                .all(&db)
                .await?
        };
        let (open, closed): (Vec<_>, Vec<_>) = models
            .into_iter()
            .partition(|m| CareLinkStatus::parse(&m.status).is_open());
        Ok(ContactChanges {
            upserts: open.into_iter().map(|model| CareLink { model }).collect(),
            removals: closed.into_iter().map(|m| ID(m.id.to_string())).collect(),
            version: sync::encode_version(version),
            has_more,
        })
    }

    /// The doctor's invite code, created on first use.
    pub async fn invite_code(&self, viewer: &Viewer) -> AppResult<String> {
        let session = viewer.require()?;
        if session.role != Role::Doctor {
            return Err(AppError::Forbidden("only doctors have invite codes".into()));
        }
        let row = doctor::Entity::find_by_id(session.account_id.0)
            .one(self.stores.sql.writer())
            .await?
            .ok_or(AppError::NotFound)?;
        match row.invite_code {
            Some(code) => Ok(code),
            None => self.rotate_invite_code(viewer).await,
        }
    }

    /// Replaces the doctor's invite code; the old one stops working at once.
    pub async fn rotate_invite_code(&self, viewer: &Viewer) -> AppResult<String> {
        let session = viewer.require()?;
        if session.role != Role::Doctor {
            return Err(AppError::Forbidden("only doctors have invite codes".into()));
        }
        let db = self.stores.sql.writer();
        for _ in 0..5 {
            let code = new_invite_code();
            let result = doctor::ActiveModel {
                account_id: sea_orm::ActiveValue::Unchanged(session.account_id.0),
                invite_code: Set(Some(code.clone())),
                ..Default::default()
            }
            .update(db)
            .await;
            match result {
                Ok(_) => {
                    self.stores
                        .loader_cache
                        .invalidate::<crate::directory::loader::DoctorSource>(&[session
                            .account_id
                            .0])
                        .await;
                    self.accounts.wrote(session).await;
                    return Ok(code);
                }
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::internal(anyhow::anyhow!(
            "could not find a free invite code"
        )))
    }
}

/// The connection-level fields of `contacts`.
pub struct ContactsMeta {
    stores: Stores,
    fresh: bool,
    filter: Condition,
    version: i64,
}

#[async_graphql::Object]
impl ContactsMeta {
    /// How many links match the filter (all pages).
    async fn total_count(&self) -> async_graphql::Result<u64> {
        let n = care_link::Entity::find()
            .filter(self.filter.clone())
            .count(&self.stores.sql.reader(self.fresh))
            .await
            .map_err(AppError::from)?;
        Ok(n)
    }

    /// The book's version when this page was read: keep the first page's and
    /// pass it to `contactChanges(since)` after the full sync.
    async fn version(&self) -> String {
        sync::encode_version(self.version)
    }
}
