//! Account rules: registration, password checks, token issue, revocation and
//! lookup. Tokens are cached by their hash; a revoked token is dropped from the
//! cache in the same call that revokes it.
use std::{sync::OnceLock, time::Duration};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use chrono::{DateTime, Utc};
use entity::{account, doctor, patient, session};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::{
    types::{
        Account, AccountEvent, AccountEventKind, AccountId, AuthPayload, RegisterDoctorInput,
        RegisterPatientInput, Role,
    },
    validate::{self, Login},
};
use crate::{
    auth::{self, Session, Viewer},
    config::Config,
    error::{is_unique_violation, AppError, AppResult},
    store::Stores,
};

#[derive(Clone)]
pub struct AccountsService {
    stores: Stores,
    token_ttl: Duration,
    read_your_writes: Duration,
}

/// What the cache holds for a token hash.
#[derive(Serialize, Deserialize)]
struct CachedSession {
    account_id: i64,
    role: Role,
    session_id: i64,
    expires_at: DateTime<Utc>,
}

/// The longest a token lookup stays cached; revocation deletes it sooner.
const SESSION_CACHE_TTL: Duration = Duration::from_secs(60);

fn session_key(hash: &str) -> String {
    format!("session:v1:{hash}")
}

fn wrote_key(account: AccountId) -> String {
    format!("wrote:v1:{}", account.0)
}

pub fn account_topic(account: AccountId) -> String {
    format!("account:{}", account.0)
}

impl From<account::Model> for Account {
    fn from(m: account::Model) -> Self {
        Account {
            id: AccountId(m.id),
            role: Role::parse(&m.role).unwrap_or(Role::Patient),
            login: m.login,
            created_at: m.created_at,
        }
    }
}

/// A hash to verify against when the login is unknown, so that an unknown
/// login and a wrong password cost the same time.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("not-a-real-password-0").unwrap_or_default())
}

fn hash_password(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::internal(anyhow::anyhow!("argon2: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Argon2 is deliberately slow and takes 19 MiB per hash: keep it off the
/// async workers, and run at most one per core, so a burst of logins can
/// neither starve requests nor grow memory with the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        )
    });
    let _permit = permits.acquire().await.map_err(AppError::internal)?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(AppError::internal)
}

impl AccountsService {
    pub fn new(stores: Stores, config: &Config) -> Self {
        Self {
            stores,
            token_ttl: Duration::from_secs(config.token_ttl_hours * 3600),
            read_your_writes: config.read_your_writes(),
        }
    }

    pub async fn register_patient(&self, input: RegisterPatientInput) -> AppResult<AuthPayload> {
        let login = Login::parse(&input.login)?;
        validate::password(&input.password)?;
        let name = validate::required_text("name", &input.name, 100)?;
        let gender = input
            .gender
            .as_deref()
            .map(|g| validate::optional_text("gender", g, 32))
            .transpose()?;
        let birth_date = input.birth_date.map(validate::birth_date).transpose()?;
        let phone = input
            .phone
            .as_deref()
            .map(|p| validate::Phone::parse(p).map(validate::Phone::into_string))
            .transpose()?;
        let password = input.password;
        let hash = blocking(move || hash_password(&password)).await??;
        let now = Utc::now();
        self.register(login, Role::Patient, hash, |txn, id| {
            Box::pin(async move {
                patient::ActiveModel {
                    account_id: Set(id),
                    name: Set(name),
                    gender: Set(gender),
                    birth_date: Set(birth_date),
                    phone: Set(phone),
                    updated_at: Set(now),
                    version: Set(0),
                }
                .insert(txn)
                .await
                .map(drop)
            })
        })
        .await
    }

    pub async fn register_doctor(&self, input: RegisterDoctorInput) -> AppResult<AuthPayload> {
        let login = Login::parse(&input.login)?;
        validate::password(&input.password)?;
        let profile = doctor::ActiveModel {
            account_id: Set(0),
            name: Set(validate::required_text("name", &input.name, 100)?),
            title: Set(validate::required_text("title", &input.title, 100)?),
            department: Set(validate::required_text(
                "department",
                &input.department,
                100,
            )?),
            hospital: Set(validate::required_text("hospital", &input.hospital, 200)?),
            specialties: Set(validate::specialties(&input.specialties)?),
            bio: Set(validate::optional_text("bio", &input.bio, 4000)?),
            accepting_patients: Set(input.accepting_patients),
            updated_at: Set(Utc::now()),
            invite_code: Set(Some(crate::contacts::service::new_invite_code())),
            version: Set(0),
        };
        let password = input.password;
        let hash = blocking(move || hash_password(&password)).await??;
        self.register(login, Role::Doctor, hash, |txn, id| {
            Box::pin(async move {
                let mut profile = profile;
                profile.account_id = Set(id);
                profile.insert(txn).await.map(drop)
            })
        })
        .await
    }

    /// Inserts the account, its profile (by `profile`) and a first session in one transaction.
    async fn register<F>(
        &self,
        login: Login,
        role: Role,
        password_hash: String,
        profile: F,
    ) -> AppResult<AuthPayload>
    where
        F: for<'t> FnOnce(
                &'t DatabaseTransaction,
                i64,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<(), sea_orm::DbErr>> + Send + 't>,
            > + Send,
    {
        let txn = self.stores.sql.writer().begin().await?;
        let inserted = account::ActiveModel {
            role: Set(role.as_str().to_owned()),
            login: Set(login.as_str().to_owned()),
            password_hash: Set(password_hash),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let account = match inserted {
            Ok(a) => a,
            Err(e) if is_unique_violation(&e) => {
                return Err(AppError::Conflict(
                    "an account with this login already exists".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        profile(&txn, account.id).await?;
        let (token, expires_at) = self.insert_session(&txn, account.id).await?;
        txn.commit().await?;
        tracing::info!(
            account = account.id,
            role = role.as_str(),
            "account registered"
        );
        self.note_write(AccountId(account.id)).await;
        Ok(AuthPayload {
            token,
            expires_at,
            account: account.into(),
        })
    }

    async fn insert_session<C: sea_orm::ConnectionTrait>(
        &self,
        db: &C,
        account_id: i64,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let token = auth::new_token();
        let hash = auth::token_hash(&token)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("fresh token does not hash")))?;
        let now = Utc::now();
        let expires_at =
            now + chrono::Duration::from_std(self.token_ttl).unwrap_or(chrono::Duration::days(30));
        session::ActiveModel {
            account_id: Set(account_id),
            token_hash: Set(hash),
            created_at: Set(now),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(db)
        .await?;
        Ok((token, expires_at))
    }

    /// Unknown login and wrong password give the same error after the same work.
    pub async fn login(&self, login: &str, password: &str) -> AppResult<AuthPayload> {
        let invalid = || AppError::Unauthenticated;
        let Ok(login) = Login::parse(login) else {
            let p = password.to_owned();
            blocking(move || verify_password(&p, dummy_hash())).await?;
            return Err(invalid());
        };
        let found = account::Entity::find()
            .filter(account::Column::Login.eq(login.as_str()))
            .one(&self.stores.sql.reader(true))
            .await?;
        let hash = found
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| dummy_hash().to_owned());
        let p = password.to_owned();
        let ok = blocking(move || verify_password(&p, &hash)).await?;
        let account = match found {
            Some(a) if ok => a,
            _ => {
                tracing::info!("failed login");
                return Err(invalid());
            }
        };
        let (token, expires_at) = self
            .insert_session(self.stores.sql.writer(), account.id)
            .await?;
        self.note_write(AccountId(account.id)).await;
        Ok(AuthPayload {
            token,
            expires_at,
            account: account.into(),
        })
    }

    /// Revokes the viewer's current token.
    pub async fn logout(&self, viewer: &Viewer) -> AppResult<bool> {
        let session = viewer.require()?;
        let row = session::Entity::find_by_id(session.session_id)
            .one(self.stores.sql.writer())
            .await?;
        let Some(row) = row else { return Ok(false) };
        let hash = row.token_hash.clone();
        let mut active: session::ActiveModel = row.into();
        active.revoked_at = Set(Some(Utc::now()));
        active.update(self.stores.sql.writer()).await?;
        // A hold marker rather than a delete: a lookup that read the session
        // before the revocation cannot cache it again afterwards; replayed
        // later if the cache is unreachable now.
        self.stores
            .loader_cache
            .invalidate_keys(vec![session_key(&hash)])
            .await;
        self.publish(session.account_id, AccountEventKind::SessionRevoked)
            .await;
        Ok(true)
    }

    /// The viewer a token stands for. Cache first, then the replica, then the
    /// primary (a token issued a moment ago may not have replicated yet).
    pub async fn authenticate(&self, token: Option<&str>) -> Viewer {
        let Some(token) = token else {
            return Viewer::Anonymous;
        };
        let Some(hash) = auth::token_hash(token) else {
            return Viewer::Rejected;
        };
        match self.lookup_session(&hash).await {
            Ok(Some(viewer)) => viewer,
            Ok(None) => Viewer::Rejected,
            Err(e) => {
                tracing::warn!(error = ?e, "token lookup failed");
                Viewer::Rejected
            }
        }
    }

    async fn lookup_session(&self, hash: &str) -> AppResult<Option<Viewer>> {
        let key = session_key(hash);
        let cached = self
            .stores
            .loader_cache
            .get_raw(std::slice::from_ref(&key))
            .await;
        // A hold marker (the session was just revoked) or an unreachable
        // cache (a revocation may not be visible there): only the primary
        // knows for sure; the replica may not have the revocation yet.
        let primary = match &cached {
            None => true,
            Some(values) => values
                .first()
                .and_then(Option::as_deref)
                .is_some_and(crate::loader::is_hold),
        };
        let now = Utc::now();
        let hit = cached
            .and_then(|v| v.into_iter().next())
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<CachedSession>(&bytes).ok());
        let session = match hit {
            Some(s) => s,
            None => {
                let query = session::Entity::find().filter(session::Column::TokenHash.eq(hash));
                let mut row = query.clone().one(&self.stores.sql.reader(primary)).await?;
                if row.is_none() {
                    row = query.one(self.stores.sql.writer()).await?;
                }
                let Some(row) = row else { return Ok(None) };
                if row.revoked_at.is_some() || row.expires_at <= now {
                    return Ok(None);
                }
                let account = account::Entity::find_by_id(row.account_id)
                    .one(&self.stores.sql.reader(false))
                    .await?;
                let account = match account {
                    Some(a) => a,
                    None => match account::Entity::find_by_id(row.account_id)
                        .one(self.stores.sql.writer())
                        .await?
                    {
                        Some(a) => a,
                        None => return Ok(None),
                    },
                };
                let s = CachedSession {
                    account_id: row.account_id,
                    role: Role::parse(&account.role)?,
                    session_id: row.id,
                    expires_at: row.expires_at,
                };
                if let Ok(bytes) = serde_json::to_vec(&s) {
                    self.stores
                        .loader_cache
                        .fill_raw(&[(key, bytes)], SESSION_CACHE_TTL)
                        .await;
                }
                s
            }
        };
        if session.expires_at <= now {
            return Ok(None);
        }
        let id = AccountId(session.account_id);
        // Unknown (cache unreachable) counts as a recent write: the primary is never stale.
        let wrote = self
            .stores
            .loader_cache
            .get_raw(&[wrote_key(id)])
            .await
            .is_none_or(|v| v.first().is_some_and(Option::is_some));
        Ok(Some(Viewer::Account(std::sync::Arc::new(Session::new(
            id,
            session.role,
            session.session_id,
            wrote,
        )))))
    }

    /// Records that `account` just wrote: its reads go to the primary for the
    /// read-your-writes window, on every instance.
    pub async fn note_write(&self, account: AccountId) {
        // If the cache is unreachable, every reader counts as a recent
        // writer until it returns (see `lookup_session`), so nothing is lost.
        self.stores
            .loader_cache
            .set_raw(&[(wrote_key(account), vec![1])], self.read_your_writes)
            .await;
    }

    /// Marks the viewer as a recent writer, for this request and the window after it.
    pub async fn wrote(&self, session: &Session) {
        session.mark_wrote();
        self.note_write(session.account_id).await;
    }

    pub async fn account(&self, viewer: &Viewer, id: AccountId) -> AppResult<Option<Account>> {
        let row = account::Entity::find_by_id(id.0)
            .one(&self.stores.sql.reader(viewer.needs_primary()))
            .await?;
        Ok(row.map(Account::from))
    }

    pub async fn publish(&self, account: AccountId, kind: AccountEventKind) {
        let event = AccountEvent {
            kind,
            at: Utc::now(),
        };
        let Ok(bytes) = serde_json::to_vec(&event) else {
            return;
        };
        if let Err(e) = self
            .stores
            .bus
            .publish(&account_topic(account), &bytes)
            .await
        {
            tracing::warn!(error = %e, "could not publish an account event");
        }
    }
}
