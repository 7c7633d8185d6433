//! The SQL router: writes and transactions on the primary, reads on the replica.
//!
//! A read goes to the primary instead when
//! - the reader wrote within the read-your-writes window (the caller says so), or
//! - the replica is unreachable or lags past the threshold (a background
//!   monitor keeps [`ReplicaHealth`] current), or
//! - the replica fails the statement with a connection error (it is then
//!   marked down at once and the statement retried on the primary).
use std::{
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};
use serde::Serialize;

use crate::config::Config;

/// Shared view of the replica's health, written by the monitor and by readers.
#[derive(Debug, Default)]
pub struct ReplicaHealth {
    usable: AtomicBool,
    /// Seconds behind the primary; -1 when unknown.
    lag_secs: AtomicI64,
    /// Reads sent to the replica / rerouted to the primary, for `/readyz` and metrics.
    replica_reads: AtomicU64,
    fallback_reads: AtomicU64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SqlStatus {
    pub primary: bool,
    /// `none` when no replica is configured, else `ok`, `lagging` or `down`.
    pub replica: &'static str,
    pub replica_lag_secs: Option<i64>,
    pub replica_reads: u64,
    pub fallback_reads: u64,
}

#[derive(Clone)]
pub struct Sql {
    primary: DatabaseConnection,
    replica: Option<DatabaseConnection>,
    health: Arc<ReplicaHealth>,
    max_lag_secs: i64,
    /// Statements sent through the router, for tests and the statement-count metric.
    statements: Arc<AtomicU64>,
}

async fn connect(url: &str, config: &Config) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(config.sql_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer at a time; WAL lets readers run beside it.
        options.max_connections(config.sql_max_connections.min(8));
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
        )
        .await?;
    }
    Ok(db)
}

impl Sql {
    /// Connects to the primary and, if configured, the replica. A replica that
    /// cannot be reached at start is not fatal: reads use the primary until it answers.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir)?;
        }
        let primary = connect(&config.primary_url(), config).await?;
        let replica = match &config.replica_url {
            Some(url) => {
                let mut options = ConnectOptions::new(url.clone());
                options
                    .max_connections(config.sql_max_connections)
                    .min_connections(0)
                    .connect_timeout(Duration::from_secs(2))
                    .acquire_timeout(Duration::from_secs(2))
                    .connect_lazy(true)
                    .sqlx_logging(false);
                Some(Database::connect(options).await?)
            }
            None => None,
        };
        let sql = Self {
            primary,
            replica,
            health: Arc::new(ReplicaHealth::default()),
            max_lag_secs: i64::try_from(config.replica_max_lag_secs).unwrap_or(i64::MAX),
            statements: Arc::default(),
        };
        sql.health.lag_secs.store(-1, Ordering::Relaxed);
        sql.check_replica().await;
        Ok(sql)
    }

    /// The primary, for writes and transactions.
    pub fn writer(&self) -> &DatabaseConnection {
        self.statements.fetch_add(1, Ordering::Relaxed);
        &self.primary
    }

    /// A connection for reads. `fresh` asks for the primary (the reader wrote recently).
    pub fn reader(&self, fresh: bool) -> Reader<'_> {
        let use_replica =
            !fresh && self.replica.is_some() && self.health.usable.load(Ordering::Relaxed);
        Reader {
            sql: self,
            use_replica,
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.primary.get_database_backend()
    }

    pub fn statement_count(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// The replica connection itself, for tests that prove where reads go.
    pub fn replica_connection(&self) -> Option<&DatabaseConnection> {
        self.replica.as_ref()
    }

    /// Checks the replica once: reachable, replicating, and within the lag threshold.
    pub async fn check_replica(&self) {
        let Some(replica) = &self.replica else { return };
        let lag = replica_lag(replica).await;
        let was = self.health.usable.load(Ordering::Relaxed);
        let now = match lag {
            Ok(Some(secs)) => {
                self.health.lag_secs.store(secs, Ordering::Relaxed);
                secs <= self.max_lag_secs
            }
            Ok(None) => {
                self.health.lag_secs.store(-1, Ordering::Relaxed);
                false
            }
            Err(ref err) => {
                self.health.lag_secs.store(-1, Ordering::Relaxed);
                if was {
                    tracing::warn!(error = %err, "replica unreachable; reads go to the primary");
                }
                false
            }
        };
        self.health.usable.store(now, Ordering::Relaxed);
        match (was, now, lag) {
            (false, true, _) => tracing::info!("replica usable; reads go to the replica"),
            (true, false, Ok(secs)) => {
                tracing::warn!(lag_secs = ?secs, max = self.max_lag_secs, "replica lagging or not replicating; reads go to the primary")
            }
            _ => {}
        }
    }

    /// Runs [`Self::check_replica`] every `every` until the process ends.
    pub fn spawn_replica_monitor(&self, every: Duration) {
        if self.replica.is_none() {
            return;
        }
        let sql = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                sql.check_replica().await;
            }
        });
    }

    pub async fn status(&self) -> SqlStatus {
        let primary = self.primary.ping().await.is_ok();
        let lag = self.health.lag_secs.load(Ordering::Relaxed);
        let replica = match &self.replica {
            None => "none",
            Some(_) if self.health.usable.load(Ordering::Relaxed) => "ok",
            Some(_) if lag >= 0 => "lagging",
            Some(_) => "down",
        };
        SqlStatus {
            primary,
            replica,
            replica_lag_secs: (lag >= 0).then_some(lag),
            replica_reads: self.health.replica_reads.load(Ordering::Relaxed),
            fallback_reads: self.health.fallback_reads.load(Ordering::Relaxed),
        }
    }

    fn mark_replica_down(&self, err: &DbErr) {
        self.health.lag_secs.store(-1, Ordering::Relaxed);
        if self.health.usable.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %err, "replica failed a read; reads go to the primary");
        }
    }
}

/// Seconds behind the primary; `Ok(None)` when replication is stopped.
/// A server that reports no replication status at all (a managed replica
/// without the privilege, or a plain server) counts as current.
async fn replica_lag(db: &DatabaseConnection) -> Result<Option<i64>, DbErr> {
    if db.get_database_backend() != DbBackend::MySql {
        return db.ping().await.map(|()| Some(0));
    }
    let backend = DbBackend::MySql;
    let row = match db
        .query_one(Statement::from_string(backend, "SHOW REPLICA STATUS"))
        .await
    {
        Ok(row) => row,
        Err(DbErr::Conn(e)) => return Err(DbErr::Conn(e)),
        Err(DbErr::ConnectionAcquire(e)) => return Err(DbErr::ConnectionAcquire(e)),
        Err(_) => {
            db.query_one(Statement::from_string(backend, "SHOW SLAVE STATUS"))
                .await?
        }
    };
    let Some(row) = row else { return Ok(Some(0)) };
    for column in ["Seconds_Behind_Master", "Seconds_Behind_Source"] {
        if let Ok(value) = row.try_get::<Option<u64>>("", column) {
            return Ok(value.map(|v| i64::try_from(v).unwrap_or(i64::MAX)));
        }
    }
    Ok(Some(0))
}

fn is_connection_error(err: &DbErr) -> bool {
    matches!(err, DbErr::Conn(_) | DbErr::ConnectionAcquire(_))
        || matches!(err, DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
            if matches!(e, sqlx_error::Io(_) | sqlx_error::PoolTimedOut | sqlx_error::PoolClosed | sqlx_error::Protocol(_)))
}

use sea_orm::sqlx::Error as sqlx_error;

/// A read connection chosen by [`Sql::reader`]; usable wherever SeaORM takes a connection.
pub struct Reader<'a> {
    sql: &'a Sql,
    use_replica: bool,
}

macro_rules! routed {
    ($self:ident, $method:ident, $arg:expr) => {{
        $self.sql.statements.fetch_add(1, Ordering::Relaxed);
        if let (true, Some(replica)) = ($self.use_replica, &$self.sql.replica) {
            match replica.$method($arg.clone()).await {
                Err(err) if is_connection_error(&err) => {
                    $self.sql.mark_replica_down(&err);
                    $self
                        .sql
                        .health
                        .fallback_reads
                        .fetch_add(1, Ordering::Relaxed);
                }
                result => {
                    $self
                        .sql
                        .health
                        .replica_reads
                        .fetch_add(1, Ordering::Relaxed);
                    return result;
                }
            }
        } else if $self.sql.replica.is_some() {
            $self
                .sql
                .health
                .fallback_reads
                .fetch_add(1, Ordering::Relaxed);
        }
        $self.sql.primary.$method($arg).await
    }};
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.sql.primary.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        routed!(self, execute, stmt)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        routed!(self, execute_unprepared, sql)
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        routed!(self, query_one, stmt)
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        routed!(self, query_all, stmt)
    }
}
