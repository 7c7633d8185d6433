//! `spawn_app()` and the clients tests use.
use std::{path::PathBuf, sync::OnceLock, time::Duration};

use drseek::{app::App, config::Config, schema::Services};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};
use tokio::sync::{oneshot, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// Tests that stop or restart a shared service take this lock for writing;
/// every other test holds it for reading while it runs.
fn service_lock() -> std::sync::Arc<RwLock<()>> {
    static LOCK: OnceLock<std::sync::Arc<RwLock<()>>> = OnceLock::new();
    LOCK.get_or_init(Default::default).clone()
}

pub enum Guard {
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

pub async fn shared_services() -> Guard {
    Guard::Shared(service_lock().read_owned().await)
}

/// For tests that stop shared services: waits until no other test runs.
pub async fn exclusive_services() -> Guard {
    Guard::Exclusive(service_lock().write_owned().await)
}

pub fn real_services() -> bool {
    match std::env::var("DRSEEK_TEST_SERVICES").as_deref() {
        Ok("real") => true,
        Ok("embedded") | Err(_) => false,
        Ok(other) => panic!("DRSEEK_TEST_SERVICES must be `real` or `embedded`, not {other:?}"),
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} must be set for the real-services run (see scripts/services.sh env)")
    })
}

/// `scripts/services.sh <args>`; panics with the script's output on failure.
pub fn services_script(args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/services.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("run services.sh");
    assert!(
        out.status.success(),
        "services.sh {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops a shared service until dropped; restarting it on drop even when the test panics.
pub struct Stopped(&'static str);

impl Stopped {
    pub fn new(service: &'static str) -> Self {
        services_script(&["stop", service]);
        Self(service)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        services_script(&["start", self.0]);
    }
}

fn unique_name() -> String {
    use rand::Rng as _;
    let n: u64 = rand::thread_rng().gen();
    format!("drseek_t_{n:016x}")
}

/// How a test wants its backends.
#[derive(Default, Clone)]
pub struct Options {
    /// Point reads at a database that never receives the primary's writes
    /// (a migrated copy that does not replicate), to prove where reads go.
    pub stale_replica: bool,
    /// Point reads at a replica that cannot be reached.
    pub dead_replica: bool,
    /// Share another app's backends (a second instance of the same deployment).
    pub same_backends_as: Option<Config>,
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub config: Config,
    pub services: Services,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: std::sync::Arc<tempfile::TempDir>,
    _guard: Option<Guard>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn sql(url: &str) -> DatabaseConnection {
    Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach {url}: {e}"))
}

async fn exec(db: &DatabaseConnection, statement: &str) {
    db.execute(Statement::from_string(
        db.get_database_backend(),
        statement.to_owned(),
    ))
    .await
    .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Waits until `database` exists on the replica (it arrives by replication).
async fn await_replicated(replica: &DatabaseConnection, database: &str) {
    for _ in 0..200 {
        let rows = replica
            .query_all(Statement::from_string(
                DbBackend::MySql,
                format!("SHOW DATABASES LIKE '{database}'"),
            ))
            .await
            .unwrap_or_default();
        if !rows.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("database {database} did not reach the replica within 5 s");
}

/// Applies migrations to the database at `url`.
async fn migrate_at(url: &str) {
    let mut config = Config::embedded(std::env::temp_dir());
    config.database_url = Some(url.to_owned());
    let stores = drseek::store::Stores::connect(&config)
        .await
        .expect("connect for migration");
    drseek::app::migrate(&stores).await.expect("migrate");
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    // A second instance belongs to a test that already holds a guard; taking
    // another could deadlock behind a queued exclusive test.
    let guard = match options.same_backends_as {
        Some(_) => None,
        None => Some(shared_services().await),
    };
    spawn_app_guarded(options, guard).await
}

/// Like [`spawn_app_with`], for a test that already holds a [`Guard`].
pub async fn spawn_app_guarded(options: Options, guard: Option<Guard>) -> TestApp {
    // Logs stay silent unless asked for: `RUST_LOG=drseek=debug cargo test`.
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("tempdir"));
    let config = match options.same_backends_as.clone() {
        Some(mut c) => {
            c.listen = ([127, 0, 0, 1], 0).into();
            c
        }
        None => fresh_config(&options, dir.path()).await,
    };
    let app = App::build(config.clone()).await.expect("app builds");
    if real_services() && !options.stale_replica && !options.dead_replica {
        // The migrations must reach the replica before anything reads there.
        replica_caught_up(&config).await;
    }
    let port = app.port();
    let services = app.services().clone();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        config,
        services,
        shutdown: Some(tx),
        _dir: dir,
        _guard: guard,
    }
}

async fn fresh_config(options: &Options, dir: &std::path::Path) -> Config {
    let mut config = Config::embedded(dir);
    // Tests run many apps at once; keep pools small.
    config.sql_max_connections = 5;
    config.replica_check_ms = 200;
    // A stale replica proves where reads go; the shared cache would answer
    // from rows the primary gave it and hide that.
    config.loader_cache = !options.stale_replica;
    if !real_services() {
        if options.stale_replica {
            let url = format!("sqlite://{}?mode=rwc", dir.join("replica.db").display());
            migrate_at(&url).await;
            config.replica_url = Some(url);
        }
        if options.dead_replica {
            config.replica_url = Some(format!(
                "sqlite://{}?mode=ro",
                dir.join("missing/replica.db").display()
            ));
        }
        return config;
    }
    let name = unique_name();
    let primary = env("DRSEEK_TEST_DATABASE_URL");
    let replica = env("DRSEEK_TEST_REPLICA_URL");
    let admin = sql(&primary).await;
    exec(
        &admin,
        &format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
    )
    .await;
    config.database_url = Some(format!("{primary}/{name}"));
    if options.dead_replica {
        config.replica_url = Some("mysql://drseek:drseek@127.0.0.1:1/none".into());
    } else if options.stale_replica {
        // A database created on the replica server itself: replication never writes to it.
        let replica_admin = sql(&replica).await;
        let stale = format!("{name}_stale");
        exec(&replica_admin, &format!("CREATE DATABASE {stale}")).await;
        migrate_at(&format!("{replica}/{stale}")).await;
        config.replica_url = Some(format!("{replica}/{stale}"));
    } else {
        await_replicated(&sql(&replica).await, &name).await;
        config.replica_url = Some(format!("{replica}/{name}"));
    }
    config.mongodb_url = Some(env("DRSEEK_TEST_MONGODB_URL"));
    config.mongodb_database = name.clone();
    config.redis_url = Some(env("DRSEEK_TEST_REDIS_URL"));
    config.redis_prefix = name;
    config
}

/// Waits until the replica has applied everything the primary has written
/// (same GTID position). Tests call it before one account reads what another
/// wrote: read-your-writes covers only an account's own writes.
pub async fn replica_caught_up(config: &Config) {
    let (Some(primary), Some(replica)) = (&config.database_url, &config.replica_url) else {
        return;
    };
    if !primary.starts_with("mysql") {
        return;
    }
    let primary = sql(primary).await;
    let replica = sql(replica).await;
    let pos = |db: DatabaseConnection, var: &'static str| async move {
        let row = db
            .query_one(Statement::from_string(
                DbBackend::MySql,
                format!("SELECT @@global.{var} AS p"),
            ))
            .await
            .expect("gtid position")
            .expect("row");
        row.try_get::<String>("", "p").expect("string")
    };
    // Positions are `domain-server-seq` lists; the replica has caught up when
    // every domain's sequence number has reached the primary's.
    let parse = |p: &str| -> Vec<(u64, u64)> {
        p.split(',')
            .filter_map(|g| {
                let mut it = g.trim().split('-');
                let domain = it.next()?.parse().ok()?;
                let _server = it.next()?;
                Some((domain, it.next()?.parse().ok()?))
            })
            .collect()
    };
    let target = pos(primary.clone(), "gtid_binlog_pos").await;
    let wanted = parse(&target);
    for _ in 0..2400 {
        let have = parse(&pos(replica.clone(), "gtid_slave_pos").await);
        if wanted
            .iter()
            .all(|(d, seq)| have.iter().any(|(hd, hs)| hd == d && hs >= seq))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the replica did not reach the primary's position {target} within 60 s");
}

/// A GraphQL response, with helpers to read it.
#[derive(Debug)]
pub struct Gql {
    #[allow(dead_code)]
    pub status: u16,
    pub body: Value,
}

impl Gql {
    /// `data` at a dotted path, panicking with the whole response if there are errors.
    pub fn data(&self, path: &str) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        let mut v = &self.body["data"];
        for part in path.split('.').filter(|p| !p.is_empty()) {
            v = match part.parse::<usize>() {
                Ok(i) => &v[i],
                Err(_) => &v[part],
            };
        }
        v
    }

    /// The first error's `extensions.code`.
    pub fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error with a code: {}", self.body))
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Gql {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json().await.expect("json body");
        Gql { status, body }
    }

    /// Registers a patient; returns (token, account id).
    pub async fn patient(&self, login: &str) -> (String, String) {
        let r = self
            .gql(
                None,
                "mutation($i: RegisterPatientInput!) { registerPatient(input: $i) { token account { id } } }",
                json!({ "i": { "login": login, "password": "correct-horse-1", "name": format!("Patient {login}") } }),
            )
            .await;
        let p = r.data("registerPatient");
        (
            p["token"].as_str().expect("token").to_owned(),
            p["account"]["id"].as_str().expect("id").to_owned(),
        )
    }

    /// Registers a doctor; returns (token, account id).
    pub async fn doctor(&self, login: &str, department: &str) -> (String, String) {
        let r = self
            .gql(
                None,
                "mutation($i: RegisterDoctorInput!) { registerDoctor(input: $i) { token account { id } } }",
                json!({ "i": {
                    "login": login, "password": "correct-horse-1", "name": format!("Dr. {login}"),
                    "title": "Attending Physician", "department": department, "hospital": "Test General",
                    "specialties": ["general"], "bio": "" } }),
            )
            .await;
        let p = r.data("registerDoctor");
        (
            p["token"].as_str().expect("token").to_owned(),
            p["account"]["id"].as_str().expect("id").to_owned(),
        )
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// See [`replica_caught_up`].
    pub async fn caught_up(&self) {
        replica_caught_up(&self.config).await;
    }

    /// A care link the patient asks for and the doctor accepts; returns its id.
    pub async fn care_link(&self, patient: &str, doctor: &str, doctor_id: &str) -> String {
        let link = self
            .gql(
                Some(patient),
                "mutation($d: ID!) { requestCareLink(doctorId: $d) { id } }",
                json!({ "d": doctor_id }),
            )
            .await
            .data("requestCareLink.id")
            .as_str()
            .expect("link id")
            .to_owned();
        self.gql(
            Some(doctor),
            "mutation($id: ID!) { respondCareLink(id: $id, accept: true) { id } }",
            json!({ "id": link }),
        )
        .await
        .data("respondCareLink");
        link
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// `/readyz` as JSON.
    pub async fn readyz(&self) -> (u16, Value) {
        let resp = self
            .client
            .get(self.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        (
            resp.status().as_u16(),
            resp.json().await.expect("readyz json"),
        )
    }
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
