//! Contact-book scale benchmark: seeds one doctor with N linked patients, starts
//! the release server, fully syncs the contact book page by page, makes K new
//! care-link requests, syncs incrementally, and prints a markdown table.
//!
//! ```text
//! cargo build --release
//! cargo bench --bench contacts -- --contacts 1000000 --changes 1000 [--backend real]
//! ```
//!
//! `--backend real` needs the services of `scripts/services.sh` and the
//! `DRSEEK_TEST_*` variables printed by `scripts/services.sh env`.
use std::{
    collections::HashSet,
    fmt::Write as _,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};
use clap::{Parser, ValueEnum};
use futures_util::{stream, StreamExt as _, TryStreamExt as _};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};

const DOCTOR_LOGIN: &str = "bench-doctor@demo.drseek.test";
const PASSWORD: &str = "drseek-demo-1";
const MAX_PAGE_SIZE: usize = 500;
const CONCURRENCY: usize = 8;
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// SQLite and the in-process stores, in a temporary data directory.
    Embedded,
    /// MariaDB primary + replica, Redis and FerretDB from `scripts/services.sh`.
    Real,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Real => "real",
        }
    }
}

#[derive(Parser, Debug)]
#[command(about = "Contact-book scale benchmark for drseek")]
struct Args {
    /// Patients linked to the benchmark doctor.
    #[arg(long, default_value_t = 100_000)]
    contacts: usize,
    /// `first` of every contacts / contactChanges page.
    #[arg(long, default_value_t = 500)]
    page_size: usize,
    /// New care-link requests made after the full sync.
    #[arg(long, default_value_t = 1000)]
    changes: usize,
    /// Which backing services the server uses.
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    backend: Backend,
    /// The drseek server binary. Default: target/release/drseek.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Give up on seeding after this many seconds.
    #[arg(long, default_value_t = 3600)]
    seed_timeout_secs: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Errors are returned (not `process::exit`) so the server guard, the temp
    // dir and the benchmark database are cleaned up on the way out.
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("contacts bench: ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    if args.page_size == 0 || args.page_size > MAX_PAGE_SIZE {
        bail!("--page-size must be between 1 and {MAX_PAGE_SIZE}");
    }
    let binary = binary_path(args)?;
    let run_id = format!("{:016x}", rand::random::<u64>());
    let dir = tempfile::Builder::new()
        .prefix("drseek-bench-")
        .tempdir()
        .context("creating the temporary data directory")?;

    let mut env: Vec<(String, String)> = vec![
        ("DRSEEK_DATA_DIR".into(), dir.path().display().to_string()),
        ("DRSEEK_MAX_PAGE_SIZE".into(), MAX_PAGE_SIZE.to_string()),
    ];
    let database = match args.backend {
        Backend::Embedded => None,
        Backend::Real => {
            let db = RealDatabase::create(&format!("drseek_bench_{run_id}")).await?;
            env.extend(db.env.iter().cloned());
            Some(db)
        }
    };

    let result = bench(args, &binary, &run_id, dir.path(), &env).await;

    if let Some(db) = database {
        db.drop_database().await;
    }
    let report = result?;
    println!();
    println!("{}", report.table(args));
    Ok(())
}

/// The release binary, or a clear message when it has not been built.
fn binary_path(args: &Args) -> anyhow::Result<PathBuf> {
    let path = match &args.binary {
        Some(p) => p.clone(),
        None => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .map(|t| if t.is_relative() { root.join(t) } else { t })
                .unwrap_or_else(|| root.join("target"));
            target.join("release").join("drseek")
        }
    };
    if !path.is_file() {
        bail!(
            "server binary {} not found: run `cargo build --release` first (or pass --binary PATH)",
            path.display()
        );
    }
    Ok(path)
}

/// A fresh MariaDB database on the primary, replicated to the replica, plus
/// the environment that points every backend of the server at it.
struct RealDatabase {
    name: String,
    admin: DatabaseConnection,
    env: Vec<(String, String)>,
}

impl RealDatabase {
    async fn create(name: &str) -> anyhow::Result<Self> {
        let var = |k: &str| {
            std::env::var(k).map_err(|_| {
                anyhow!("{k} is not set: run `eval \"$(bash scripts/services.sh env)\"` first")
            })
        };
        let primary = var("DRSEEK_TEST_DATABASE_URL")?;
        let replica = var("DRSEEK_TEST_REPLICA_URL")?;
        let redis = var("DRSEEK_TEST_REDIS_URL")?;
        let mongodb = var("DRSEEK_TEST_MONGODB_URL")?;

        let admin = Database::connect(&primary)
            .await
            .with_context(|| format!("connecting to the primary {primary}"))?;
        admin
            .execute(Statement::from_string(
                DbBackend::MySql,
                format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
            ))
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let db = RealDatabase {
            name: name.to_owned(),
            admin,
            env: vec![
                ("DRSEEK_DATABASE_URL".into(), format!("{primary}/{name}")),
                ("DRSEEK_REPLICA_URL".into(), format!("{replica}/{name}")),
                ("DRSEEK_MONGODB_URL".into(), mongodb),
                ("DRSEEK_MONGODB_DATABASE".into(), name.to_owned()),
                ("DRSEEK_REDIS_URL".into(), redis),
                ("DRSEEK_REDIS_PREFIX".into(), name.to_owned()),
            ],
        };
        if let Err(e) = await_replicated(&replica, name).await {
            db.drop_database().await;
            return Err(e);
        }
        eprintln!("contacts bench: created database {name} (primary and replica)");
        Ok(db)
    }

    /// Best effort: a million-row benchmark database is not worth keeping.
    async fn drop_database(self) {
        let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
        match self
            .admin
            .execute(Statement::from_string(DbBackend::MySql, sql))
            .await
        {
            Ok(_) => eprintln!("contacts bench: dropped database {}", self.name),
            Err(e) => eprintln!("contacts bench: could not drop {}: {e}", self.name),
        }
    }
}

async fn await_replicated(replica_url: &str, name: &str) -> anyhow::Result<()> {
    let replica = Database::connect(replica_url)
        .await
        .with_context(|| format!("connecting to the replica {replica_url}"))?;
    let deadline = Instant::now() + REPLICATION_TIMEOUT;
    loop {
        let rows = replica
            .query_all(Statement::from_string(
                DbBackend::MySql,
                format!("SHOW DATABASES LIKE '{name}'"),
            ))
            .await
            .context("SHOW DATABASES on the replica")?;
        if !rows.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("database {name} did not reach the replica within {REPLICATION_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every `DRSEEK_*` variable of our own environment is dropped, so only the
/// settings chosen here reach the server.
fn command(binary: &Path, env: &[(String, String)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DRSEEK_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Kills the server when the benchmark ends, however it ends.
struct ServerGuard {
    child: tokio::process::Child,
    pid: u32,
    log: PathBuf,
}

impl ServerGuard {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Err(e) = self.child.start_kill() {
            eprintln!("contacts bench: could not kill the server: {e}");
        }
    }
}

struct Report {
    seed: Duration,
    pages: Vec<Duration>,
    full_sync: Duration,
    changes: Duration,
    incremental: Duration,
    incremental_pages: usize,
    peak_rss_kib: Option<u64>,
    rss_kib: Option<u64>,
}

async fn bench(
    args: &Args,
    binary: &Path,
    run_id: &str,
    dir: &Path,
    env: &[(String, String)],
) -> anyhow::Result<Report> {
    let n = args.contacts;

    // 1. Seed.
    eprintln!(
        "contacts bench: seeding {n} linked patients ({})",
        args.backend.name()
    );
    let started = Instant::now();
    let mut seed = command(binary, env)
        .args(["seed", "--doctors", "0", "--patients", "0"])
        .args([
            "--link-patients",
            &n.to_string(),
            "--doctor-login",
            DOCTOR_LOGIN,
        ])
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let status = tokio::time::timeout(Duration::from_secs(args.seed_timeout_secs), seed.wait())
        .await
        .map_err(|_| anyhow!("seeding took longer than {} s", args.seed_timeout_secs))?
        .context("waiting for the seed")?;
    if !status.success() {
        bail!("`drseek seed` failed: {status}");
    }
    let seed_time = started.elapsed();
    eprintln!(
        "contacts bench: seeded in {:.1} s ({:.0} rows/s)",
        seed_time.as_secs_f64(),
        per_sec(n, seed_time)
    );

    // 2. Serve.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let log = dir.join("server.log");
    let log_file = std::fs::File::create(&log).context("creating the server log")?;
    let log_err = log_file.try_clone().context("cloning the log handle")?;
    let child = command(binary, env)
        .arg("serve")
        .env("DRSEEK_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .with_context(|| format!("starting {} serve", binary.display()))?;
    let pid = child.id().ok_or_else(|| anyhow!("the server has no pid"))?;
    let mut server = ServerGuard { child, pid, log };
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::new(&base)?;
    if let Err(e) = client.await_healthy(&mut server).await {
        return Err(e.context(format!("server log (last lines):\n{}", server.log_tail())));
    }
    eprintln!("contacts bench: server {pid} listening on {base}");

    log_memory(pid, "after start");
    let result = exercise(args, &client, run_id, pid).await;
    let (peak_rss_kib, rss_kib) = memory(server.pid);
    if server.exited().is_some() {
        eprintln!(
            "contacts bench: the server exited; last lines of its log:\n{}",
            server.log_tail()
        );
    }
    drop(server);
    let Measured {
        pages,
        full_sync,
        changes,
        incremental,
        incremental_pages,
    } = result?;
    Ok(Report {
        seed: seed_time,
        pages,
        full_sync,
        changes,
        incremental,
        incremental_pages,
        peak_rss_kib,
        rss_kib,
    })
}

struct Measured {
    pages: Vec<Duration>,
    full_sync: Duration,
    changes: Duration,
    incremental: Duration,
    incremental_pages: usize,
}

async fn exercise(
    args: &Args,
    client: &Client,
    run_id: &str,
    pid: u32,
) -> anyhow::Result<Measured> {
    let n = args.contacts;
    let p = args.page_size;

    // 3. Log in.
    let data = client
        .gql(
            None,
            "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }",
            json!({ "l": DOCTOR_LOGIN, "p": PASSWORD }),
        )
        .await?;
    let doctor = str_at(&data, &["login", "token"])?.to_owned();

    // 4. Full sync.
    eprintln!("contacts bench: full sync, {p} per page");
    const FIRST: &str = "query($n: Int!) { contacts(first: $n) { totalCount version \
        edges { cursor node { id status patient { id name } } } \
        pageInfo { hasNextPage endCursor } } }";
    const NEXT: &str = "query($n: Int!, $a: String) { contacts(first: $n, after: $a) { \
        edges { cursor node { id status patient { id name } } } \
        pageInfo { hasNextPage endCursor } } }";
    let max_pages = n / p + 10;
    let mut ids: HashSet<String> = HashSet::with_capacity(n + args.changes);
    let mut edges_seen = 0usize;
    let mut pages = Vec::with_capacity(max_pages);
    let mut after: Option<String> = None;
    let mut version = String::new();
    let sync_started = Instant::now();
    loop {
        if pages.len() >= max_pages {
            bail!("full sync still has more pages after {max_pages} pages of {p} ({n} contacts seeded)");
        }
        let page_started = Instant::now();
        let data = match &after {
            None => client.gql(Some(&doctor), FIRST, json!({ "n": p })).await?,
            Some(a) => {
                client
                    .gql(Some(&doctor), NEXT, json!({ "n": p, "a": a }))
                    .await?
            }
        };
        pages.push(page_started.elapsed());
        let contacts = &data["contacts"];
        if after.is_none() {
            let total = contacts["totalCount"]
                .as_u64()
                .ok_or_else(|| anyhow!("no totalCount on the first page: {data}"))?;
            if usize::try_from(total).ok() != Some(n) {
                bail!("totalCount is {total}, expected {n}");
            }
            version = str_at(&data, &["contacts", "version"])?.to_owned();
        }
        let edges = contacts["edges"]
            .as_array()
            .ok_or_else(|| anyhow!("no edges: {}", short(&data.to_string())))?;
        for edge in edges {
            let id = edge["node"]["id"]
                .as_str()
                .ok_or_else(|| anyhow!("an edge without node.id: {edge}"))?;
            ids.insert(id.to_owned());
        }
        edges_seen += edges.len();
        if pages.len() % 200 == 0 {
            eprintln!(
                "contacts bench:   {} pages, {edges_seen} contacts, {:.1} s",
                pages.len(),
                sync_started.elapsed().as_secs_f64()
            );
        }
        if contacts["pageInfo"]["hasNextPage"].as_bool() != Some(true) {
            break;
        }
        let cursor = str_at(&data, &["contacts", "pageInfo", "endCursor"])?;
        if after.as_deref() == Some(cursor) {
            bail!("endCursor did not advance ({cursor})");
        }
        after = Some(cursor.to_owned());
    }
    let full_sync = sync_started.elapsed();
    if edges_seen != n {
        bail!("full sync returned {edges_seen} contacts, expected {n}");
    }
    if ids.len() != n {
        bail!(
            "full sync returned {} distinct contact ids among {edges_seen} edges",
            ids.len()
        );
    }
    eprintln!(
        "contacts bench: full sync of {n} contacts in {} pages took {:.1} s (version {version})",
        pages.len(),
        full_sync.as_secs_f64()
    );
    log_memory(pid, "after the full sync");

    // 5. K new patients, each asking the doctor for a care link.
    let data = client
        .gql(Some(&doctor), "{ me { id } }", json!({}))
        .await?;
    let doctor_id = str_at(&data, &["me", "id"])?.to_owned();
    eprintln!(
        "contacts bench: {} new care-link requests, {CONCURRENCY} at a time",
        args.changes
    );
    let changes_started = Instant::now();
    stream::iter(0..args.changes)
        .map(|i| {
            let doctor_id = doctor_id.as_str();
            async move {
                let data = client
                    .gql(
                        None,
                        "mutation($i: RegisterPatientInput!) { registerPatient(input: $i) { token } }",
                        json!({ "i": {
                            "login": format!("bench-new-{i}-{run_id}@demo.drseek.test"),
                            "password": PASSWORD,
                            "name": format!("New {i}"),
                        } }),
                    )
                    .await?;
                let token = str_at(&data, &["registerPatient", "token"])?.to_owned();
                client
                    .gql(
                        Some(&token),
                        "mutation($d: ID!) { requestCareLink(doctorId: $d) { id status } }",
                        json!({ "d": doctor_id }),
                    )
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let changes = changes_started.elapsed();
    log_memory(pid, "after the changes");

    // 6. Incremental sync from the full sync's version.
    const CHANGES: &str = "query($s: String!, $n: Int!) { contactChanges(since: $s, first: $n) { \
        version hasMore upserts { id status } removals } }";
    let max_pages = (n + args.changes) / p + 10;
    let mut incremental_pages = 0usize;
    let mut upserts = 0usize;
    let mut upsert_ids: HashSet<String> = HashSet::new();
    let incremental_started = Instant::now();
    loop {
        if incremental_pages >= max_pages {
            bail!("contactChanges still hasMore after {max_pages} pages");
        }
        let data = client
            .gql(Some(&doctor), CHANGES, json!({ "s": version, "n": p }))
            .await?;
        incremental_pages += 1;
        let changes = &data["contactChanges"];
        let list = changes["upserts"]
            .as_array()
            .ok_or_else(|| anyhow!("no upserts: {}", short(&data.to_string())))?;
        upserts += list.len();
        for u in list {
            if let Some(id) = u["id"].as_str() {
                upsert_ids.insert(id.to_owned());
            }
        }
        let next = str_at(&data, &["contactChanges", "version"])?.to_owned();
        if changes["hasMore"].as_bool() != Some(true) {
            break;
        }
        if next == version {
            bail!("contactChanges has more but its version did not advance ({next})");
        }
        version = next;
    }
    let incremental = incremental_started.elapsed();
    if upserts != args.changes {
        bail!(
            "incremental sync returned {upserts} upserts ({} distinct ids), expected {}",
            upsert_ids.len(),
            args.changes
        );
    }
    if upsert_ids.iter().any(|id| ids.contains(id)) {
        eprintln!("contacts bench: note: some upserts re-report contacts from the full sync");
    }

    Ok(Measured {
        pages,
        full_sync,
        changes,
        incremental,
        incremental_pages,
    })
}

/// A GraphQL-over-HTTP client; every failure carries the response.
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(CONCURRENCY * 2)
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base: base.to_owned(),
        })
    }

    async fn await_healthy(&self, server: &mut ServerGuard) -> anyhow::Result<()> {
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        let url = format!("{}/healthz", self.base);
        loop {
            if let Some(status) = server.exited() {
                bail!("the server exited before it was healthy: {status}");
            }
            let ok = self
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{url} did not answer 200 within {HEALTH_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `data` of a successful response; an HTTP error or any GraphQL error fails.
    async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let what = query
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        let resp = req
            .send()
            .await
            .with_context(|| format!("sending `{what} …`"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("reading the response to `{what} …`"))?;
        if !status.is_success() {
            bail!("`{what} …` answered HTTP {status}: {}", short(&text));
        }
        let mut body: Value = serde_json::from_str(&text)
            .with_context(|| format!("`{what} …` answered non-JSON: {}", short(&text)))?;
        if body.get("errors").is_some_and(|e| !e.is_null()) {
            bail!("`{what} …` answered errors: {}", short(&text));
        }
        match body.get_mut("data").map(Value::take) {
            Some(data) if !data.is_null() => Ok(data),
            _ => bail!("`{what} …` answered no data: {}", short(&text)),
        }
    }
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> anyhow::Result<&'a str> {
    let mut v = value;
    for part in path {
        v = &v[*part];
    }
    v.as_str().ok_or_else(|| {
        anyhow!(
            "no string at {}: {}",
            path.join("."),
            short(&value.to_string())
        )
    })
}

fn short(text: &str) -> String {
    const LIMIT: usize = 4000;
    match text.char_indices().nth(LIMIT) {
        Some((i, _)) => format!("{} … ({} bytes in all)", &text[..i], text.len()),
        None => text.to_owned(),
    }
}

/// `VmHWM` (peak resident set) and `VmRSS` of a process, in KiB.
fn memory(pid: u32) -> (Option<u64>, Option<u64>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn log_memory(pid: u32, when: &str) {
    let (peak, rss) = memory(pid);
    eprintln!(
        "contacts bench: server memory {when}: RSS {} MiB, peak {} MiB",
        mib(rss),
        mib(peak)
    );
}

fn per_sec(rows: usize, time: Duration) -> f64 {
    rows as f64 / time.as_secs_f64().max(1e-9)
}

fn mean_ms(pages: &[Duration]) -> f64 {
    if pages.is_empty() {
        return 0.0;
    }
    pages.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / pages.len() as f64
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.0}", k as f64 / 1024.0))
}

impl Report {
    fn table(&self, args: &Args) -> String {
        let pages = &self.pages;
        let count = pages.len();
        let window = 10.min(count);
        let start = &pages[..window];
        let mid_from = (count / 2).saturating_sub(window / 2).min(count - window);
        let middle = &pages[mid_from..mid_from + window];
        let end = &pages[count - window..];
        let headers = [
            "backend",
            "contacts",
            "page size",
            "pages",
            "full sync (s)",
            "ms/page start",
            "ms/page middle",
            "ms/page end",
            "rows/s",
            "seed (s)",
            "seed rows/s",
            "changes",
            "changes (s)",
            "incremental sync (ms)",
            "incr. pages",
            "server peak RSS (MiB)",
            "server RSS at end (MiB)",
        ];
        let row = [
            args.backend.name().to_owned(),
            args.contacts.to_string(),
            args.page_size.to_string(),
            count.to_string(),
            format!("{:.1}", self.full_sync.as_secs_f64()),
            format!("{:.1}", mean_ms(start)),
            format!("{:.1}", mean_ms(middle)),
            format!("{:.1}", mean_ms(end)),
            format!("{:.0}", per_sec(args.contacts, self.full_sync)),
            format!("{:.1}", self.seed.as_secs_f64()),
            format!("{:.0}", per_sec(args.contacts, self.seed)),
            args.changes.to_string(),
            format!("{:.1}", self.changes.as_secs_f64()),
            format!("{:.0}", self.incremental.as_secs_f64() * 1000.0),
            self.incremental_pages.to_string(),
            mib(self.peak_rss_kib),
            mib(self.rss_kib),
        ];
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let _ = writeln!(
            out,
            "|{}|",
            headers.iter().map(|_| "---").collect::<Vec<_>>().join("|")
        );
        let _ = write!(out, "| {} |", row.join(" | "));
        out
    }
}
