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
mod common;

use std::{
    collections::HashSet,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use common::{
    binary_path, command, markdown_header, memory, short, start_server, str_at, Backend, Client,
    Memory, RealDatabase, Server,
};
use futures_util::{stream, StreamExt as _, TryStreamExt as _};
use serde_json::json;

const DOCTOR_LOGIN: &str = "bench-doctor@demo.drseek.test";
const PASSWORD: &str = "drseek-demo-1";
const MAX_PAGE_SIZE: usize = 500;
const CONCURRENCY: usize = 8;

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
    let binary = binary_path(args.binary.as_deref())?;
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
            let db = RealDatabase::create("contacts", &format!("drseek_bench_{run_id}")).await?;
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
    let Server {
        guard: mut server,
        client,
        ..
    } = start_server(
        "contacts",
        binary,
        env,
        dir.join("server.log"),
        None,
        CONCURRENCY * 2,
    )
    .await?;
    let pid = server.pid;

    log_memory(pid, "after start");
    let result = exercise(args, &client, run_id, pid).await;
    let Memory {
        rss_kib,
        peak_kib: peak_rss_kib,
    } = memory(server.pid);
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

fn log_memory(pid: u32, when: &str) {
    let Memory {
        rss_kib: rss,
        peak_kib: peak,
    } = memory(pid);
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
        let mut out = markdown_header(&headers);
        let _ = write!(out, "| {} |", row.join(" | "));
        out
    }
}
