//! Helpers shared by the server benchmarks (contacts, chat, files), so they
//! start, query and measure the release server the same way.
// Each bench is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::{
    fmt::Write as _,
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};
use clap::ValueEnum;
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};

pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
pub const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// SQLite and the in-process stores, in a temporary data directory.
    Embedded,
    /// MariaDB primary + replica, Redis and FerretDB from `scripts/services.sh`.
    Real,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Real => "real",
        }
    }
}

/// The release binary (`binary` when given), or a clear message when it has
/// not been built.
pub fn binary_path(binary: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match binary {
        Some(p) => p.to_path_buf(),
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
pub struct RealDatabase {
    /// Which bench's messages these are (`{bench} bench: …`).
    bench: &'static str,
    name: String,
    admin: DatabaseConnection,
    pub env: Vec<(String, String)>,
}

impl RealDatabase {
    pub async fn create(bench: &'static str, name: &str) -> anyhow::Result<Self> {
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
            bench,
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
        eprintln!("{bench} bench: created database {name} (primary and replica)");
        Ok(db)
    }

    /// Best effort: a benchmark database (up to a million rows) is not worth
    /// keeping.
    pub async fn drop_database(self) {
        let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
        match self
            .admin
            .execute(Statement::from_string(DbBackend::MySql, sql))
            .await
        {
            Ok(_) => eprintln!("{} bench: dropped database {}", self.bench, self.name),
            Err(e) => eprintln!("{} bench: could not drop {}: {e}", self.bench, self.name),
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
pub fn command(binary: &Path, env: &[(String, String)]) -> tokio::process::Command {
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
pub struct ServerGuard {
    child: tokio::process::Child,
    pub pid: u32,
    log: PathBuf,
    /// Which bench's messages these are (`{bench} bench: …`).
    bench: &'static str,
}

impl ServerGuard {
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Err(e) = self.child.start_kill() {
            eprintln!(
                "{} bench: could not kill the server {}: {e}",
                self.bench, self.pid
            );
        }
    }
}

/// A healthy `drseek serve` on a free localhost port.
pub struct Server {
    pub guard: ServerGuard,
    pub client: Client,
    pub port: u16,
}

/// Starts `drseek serve` with `env`, its output in `log`, and waits until it
/// answers `/healthz`. `label` names the server in messages when a bench runs
/// more than one; the client keeps `pool_max_idle_per_host` idle connections.
pub async fn start_server(
    bench: &'static str,
    binary: &Path,
    env: &[(String, String)],
    log: PathBuf,
    label: Option<&str>,
    pool_max_idle_per_host: usize,
) -> anyhow::Result<Server> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
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
    let mut guard = ServerGuard {
        child,
        pid,
        log,
        bench,
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = Client::new(&base, pool_max_idle_per_host)?;
    let name = label.map_or_else(|| "server".to_owned(), |l| format!("server {l}"));
    if let Err(e) = client.await_healthy(&mut guard).await {
        return Err(e.context(format!("{name} log (last lines):\n{}", guard.log_tail())));
    }
    match label {
        Some(l) => eprintln!("{bench} bench: server {l} (pid {pid}) listening on {base}"),
        None => eprintln!("{bench} bench: server {pid} listening on {base}"),
    }
    Ok(Server {
        guard,
        client,
        port,
    })
}

/// A GraphQL-over-HTTP client; every failure carries the response.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// `pool_max_idle_per_host`: `usize::MAX` is reqwest's default.
    pub fn new(base: &str, pool_max_idle_per_host: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(pool_max_idle_per_host)
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base: base.to_owned(),
        })
    }

    pub async fn await_healthy(&self, server: &mut ServerGuard) -> anyhow::Result<()> {
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

    /// A POST to `/graphql`, for requests `gql` does not cover (uploads).
    pub fn post_graphql(&self) -> reqwest::RequestBuilder {
        self.http.post(format!("{}/graphql", self.base))
    }

    /// `data` of a successful response; an HTTP error or any GraphQL error fails.
    pub async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .post_graphql()
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

pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> anyhow::Result<&'a str> {
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

pub fn short(text: &str) -> String {
    const LIMIT: usize = 4000;
    match text.char_indices().nth(LIMIT) {
        Some((i, _)) => format!("{} … ({} bytes in all)", &text[..i], text.len()),
        None => text.to_owned(),
    }
}

/// Resident memory of a process, in KiB; `None` where `/proc` did not say.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: Option<u64>,
    /// `VmHWM`: the peak resident set.
    pub peak_kib: Option<u64>,
}

pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

/// The header and separator lines of a markdown table; the rows follow.
pub fn markdown_header(headers: &[&str]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        headers.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    out
}
