//! Loader-cache benchmark: a read-heavy mix (a doctor's profile, a contact
//! page with profiles, a conversation list with last messages) against two
//! instances of the server on the same backends, one with the shared cache
//! off and one with it on. Prints a markdown table: requests per second,
//! p50/p99 latency and SQL statements per request, per mix and in total.
//!
//! ```text
//! cargo bench --bench cache -- [--backend real] [--secs 15] [--concurrency 16]
//! ```
//!
//! Both instances and the load generator run in this one process, so the
//! numbers compare the two modes rather than measure a deployment.
//! `--backend real` needs `scripts/services.sh start` and the variables of
//! `scripts/services.sh env`.
use std::{
    fmt::Write as _,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use clap::{Parser, ValueEnum};
use drseek::{app::App, config::Config, schema::Services};
use rand::Rng as _;
use sea_orm::{ConnectionTrait as _, Database, EntityTrait as _, QueryFilter as _};
use serde_json::{json, Value};

const DOCTOR_LOGIN: &str = "cache-bench-doctor@demo.drseek.test";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    Embedded,
    Real,
}

#[derive(Parser, Debug)]
#[command(about = "Loader-cache benchmark for drseek")]
struct Args {
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    backend: Backend,
    /// Seconds of load per mode and round (after a warm-up of a quarter of it).
    #[arg(long, default_value_t = 15)]
    secs: u64,
    /// Rounds; the modes alternate (off, on, off, on, ...), so a noisy
    /// neighbour or a warming database does not favour one of them.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Patients linked to the benchmark doctor.
    #[arg(long, default_value_t = 2000)]
    contacts: usize,
    /// Other doctors whose profiles are read.
    #[arg(long, default_value_t = 300)]
    doctors: usize,
    /// Conversations with messages.
    #[arg(long, default_value_t = 50)]
    conversations: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Doctor,
    Contacts,
    Conversations,
}

const KINDS: [(Kind, &str); 3] = [
    (Kind::Doctor, "doctor profile"),
    (Kind::Contacts, "contacts(first: 50)"),
    (Kind::Conversations, "conversations(first: 20)"),
];

fn pick(rng: &mut impl rand::Rng) -> Kind {
    match rng.gen_range(0..4) {
        0 | 1 => Kind::Doctor,
        2 => Kind::Contacts,
        _ => Kind::Conversations,
    }
}

struct Instance {
    url: String,
    services: Services,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(config: Config) -> anyhow::Result<Instance> {
    let app = App::build(config).await?;
    let url = format!("http://127.0.0.1:{}/graphql", app.port());
    let services = app.services().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    Ok(Instance {
        url,
        services,
        _stop: tx,
    })
}

async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &str,
    vars: Value,
) -> anyhow::Result<Value> {
    let body: Value = client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": vars }))
        .send()
        .await?
        .json()
        .await?;
    if body.get("errors").is_some() {
        bail!("GraphQL errors: {body}");
    }
    Ok(body["data"].clone())
}

async fn config(args: &Args, dir: &std::path::Path) -> anyhow::Result<Config> {
    let mut config = Config::embedded(dir);
    if args.backend == Backend::Embedded {
        return Ok(config);
    }
    let var = |k: &str| {
        std::env::var(k).with_context(|| format!("{k} unset: eval \"$(scripts/services.sh env)\""))
    };
    let (primary, replica) = (
        var("DRSEEK_TEST_DATABASE_URL")?,
        var("DRSEEK_TEST_REPLICA_URL")?,
    );
    let name = format!("drseek_bench_{:08x}", rand::random::<u32>());
    let admin = Database::connect(primary.as_str()).await?;
    admin
        .execute_unprepared(&format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .await?;
    let replica_admin = Database::connect(replica.as_str()).await?;
    for _ in 0..100 {
        let found = replica_admin
            .query_one(sea_orm::Statement::from_string(
                replica_admin.get_database_backend(),
                format!("SHOW DATABASES LIKE '{name}'"),
            ))
            .await?;
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    config.database_url = Some(format!("{primary}/{name}"));
    config.replica_url = Some(format!("{replica}/{name}"));
    config.mongodb_url = Some(var("DRSEEK_TEST_MONGODB_URL")?);
    config.mongodb_database = name.clone();
    config.redis_url = Some(var("DRSEEK_TEST_REDIS_URL")?);
    config.redis_prefix = name;
    Ok(config)
}

struct Sample {
    kind: Kind,
    micros: u64,
}

/// Runs the mix against one instance; returns the samples and SQL statements.
async fn load(
    args: &Args,
    inst: &Instance,
    token: &str,
    doctor_ids: &[i64],
    secs: u64,
) -> anyhow::Result<(Vec<Sample>, u64)> {
    let client = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let statements = inst.services.stores.sql.statement_count();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, token, stop) = (
            client.clone(),
            inst.url.clone(),
            token.to_owned(),
            Arc::clone(&stop),
        );
        let doctor_ids = doctor_ids.to_vec();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
            while !stop.load(Ordering::Relaxed) {
                let kind = pick(&mut rng);
                let (query, vars) = match kind {
                    Kind::Doctor => (
                        "query($id: ID!) { doctor(id: $id) { id name title hospital specialties } }",
                        json!({ "id": doctor_ids[rng.gen_range(0..doctor_ids.len())].to_string() }),
                    ),
                    Kind::Contacts => (
                        "{ contacts(first: 50) { edges { node { id status patient { id name phone } } } } }",
                        json!({}),
                    ),
                    Kind::Conversations => (
                        "{ conversations(first: 20) { edges { node { id unreadCount lastMessage { seq text } patient { name } } } } }",
                        json!({}),
                    ),
                };
                let t = Instant::now();
                gql(&client, &url, &token, query, vars).await?;
                samples.push(Sample { kind, micros: t.elapsed().as_micros() as u64 });
            }
            anyhow::Ok(samples)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await??);
    }
    Ok((all, inst.services.stores.sql.statement_count() - statements))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn rows(out: &mut String, mode: &str, samples: &[Sample], statements: u64, secs: u64) {
    let mut line = |what: &str, picked: Vec<u64>, stmts: Option<f64>| {
        let mut sorted = picked;
        sorted.sort_unstable();
        let _ = writeln!(
            out,
            "| {mode} | {what} | {} | {:.0} | {:.2} | {:.2} | {} |",
            sorted.len(),
            sorted.len() as f64 / secs as f64,
            percentile(&sorted, 0.50),
            percentile(&sorted, 0.99),
            stmts.map_or("".into(), |s| format!("{s:.2}")),
        );
    };
    line(
        "all",
        samples.iter().map(|s| s.micros).collect(),
        Some(statements as f64 / samples.len().max(1) as f64),
    );
    for (kind, name) in KINDS {
        line(
            name,
            samples
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| s.micros)
                .collect(),
            None,
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let mut base = config(&args, dir.path()).await?;
    base.mutations_per_minute = 1_000_000;
    let mut off = base.clone();
    off.loader_cache = false;
    let mut on = base;
    on.loader_cache = true;
    let a = start(off).await?;
    let b = start(on).await?;
    let stores = &a.services.stores;

    eprintln!(
        "seeding {} doctors, {} contacts, {} conversations",
        args.doctors, args.contacts, args.conversations
    );
    drseek::seed::seed(stores, args.doctors, 0).await?;
    let doctor = drseek::seed::link_patients(stores, DOCTOR_LOGIN, args.contacts).await?;
    let links = entity::care_link::Entity::find()
        .filter(sea_orm::ColumnTrait::eq(
            &entity::care_link::Column::DoctorId,
            doctor,
        ))
        .all(stores.sql.writer())
        .await?;
    for link in links.iter().take(args.conversations) {
        drseek::messaging::service::open_for_link(stores.sql.writer(), link).await?;
    }
    let doctor_ids: Vec<i64> = entity::doctor::Entity::find()
        .all(stores.sql.writer())
        .await?
        .into_iter()
        .map(|d| d.account_id)
        .collect();
    let client = reqwest::Client::new();
    let login: Value = client
        .post(&a.url)
        .json(&json!({ "query": "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }",
            "variables": { "l": DOCTOR_LOGIN, "p": drseek::seed::DEMO_PASSWORD } }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["data"]["login"]["token"]
        .as_str()
        .context("login")?
        .to_owned();
    let convs = gql(
        &client,
        &a.url,
        &token,
        "{ conversations(first: 100) { edges { node { id } } } }",
        json!({}),
    )
    .await?;
    for (i, c) in convs["conversations"]["edges"]
        .as_array()
        .context("edges")?
        .iter()
        .enumerate()
    {
        gql(&client, &a.url, &token,
            "mutation($i: SendMessageInput!) { sendMessage(input: $i) { seq } }",
            json!({ "i": { "conversationId": c["node"]["id"], "clientId": format!("b{i}"), "kind": "TEXT", "text": "How are you feeling today?" } }),
        ).await?;
    }
    // Past the read-your-writes window, so reads take the ordinary path.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nbackend: {:?}, {} rounds of {} s per mode (alternating), {} in flight, {} doctors, {} contacts\n",
        args.backend,
        args.rounds.max(1),
        args.secs,
        args.concurrency,
        doctor_ids.len(),
        args.contacts
    );
    let _ = writeln!(
        out,
        "| shared cache | requests | count | req/s | p50 ms | p99 ms | SQL statements/request |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    let modes = [("off", &a), ("on", &b)];
    let mut totals: Vec<(Vec<Sample>, u64)> = modes.iter().map(|_| (Vec::new(), 0)).collect();
    for round in 1..=args.rounds.max(1) {
        for ((mode, inst), total) in modes.iter().zip(totals.iter_mut()) {
            eprintln!("round {round}, cache {mode}: warming up");
            load(&args, inst, &token, &doctor_ids, (args.secs / 4).max(1)).await?;
            eprintln!("round {round}, cache {mode}: measuring {} s", args.secs);
            let (samples, statements) = load(&args, inst, &token, &doctor_ids, args.secs).await?;
            total.0.extend(samples);
            total.1 += statements;
        }
    }
    let secs = args.secs * u64::from(args.rounds.max(1));
    for ((mode, _), (samples, statements)) in modes.iter().zip(&totals) {
        rows(&mut out, mode, samples, *statements, secs);
    }
    println!("{out}");
    Ok(())
}
