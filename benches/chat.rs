//! Chat fan-out benchmark: M doctor–patient conversations, N WebSocket
//! subscribers spread over them, M senders posting at a target total rate for
//! D seconds; measures delivery (lost, duplicated, out of order), end-to-end
//! latency and the server memory per connection, and prints a markdown table.
//!
//! ```text
//! cargo build --release
//! ulimit -n 20000
//! cargo bench --bench chat -- --subscribers 200 --senders 20 --rate 200 --duration-secs 10
//! cargo bench --bench chat -- --backend real --instances 2
//! ```
//!
//! `--backend real` needs the services of `scripts/services.sh` and the
//! `DRSEEK_TEST_*` variables printed by `scripts/services.sh env`. With
//! `--instances 2` two servers share those backends; subscribers and sends
//! alternate between them, so most deliveries cross instances through Redis.
//!
//! Every subscription is `messageAdded(conversationId: $c, afterSeq: 0)` on a
//! fresh conversation, so a subscription that becomes live late still gets
//! everything. Before the measured phase one warm-up message per conversation
//! must reach every subscriber; it is not counted.
//!
//! Setup goes through the first instance; each registration hashes a password
//! (Argon2, 19 MiB) and the server keeps much of that memory, so its
//! "RSS before subs" is inflated and freed memory may be reused by the
//! connections. The second instance, which registers nobody, gives the
//! cleanest memory-per-connection figure.
//!
//! Exits non-zero when a message was lost or delivered twice.
mod common;

use std::{
    collections::HashSet,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use common::{
    binary_path, markdown_header, memory, short, start_server, str_at, Backend, Client, Memory,
    RealDatabase, Server, ServerGuard, REPLICATION_TIMEOUT,
};
use futures_util::{stream, SinkExt as _, StreamExt as _, TryStreamExt as _};
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message};

const PASSWORD: &str = "bench-pass-1";
/// Concurrent registrations during setup.
const CONCURRENCY: usize = 8;
/// Concurrent WebSocket handshakes while connecting subscribers.
const CONNECT_CONCURRENCY: usize = 64;
/// Sends in flight at once, over all senders; past it the senders wait.
const MAX_IN_FLIGHT: usize = 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
const WARMUP_TIMEOUT: Duration = Duration::from_secs(60);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
const SUBSCRIPTION: &str = "subscription($c: ID, $a: Int) { messageAdded(conversationId: $c, afterSeq: $a) { seq text conversationId } }";
const SEND: &str = "mutation($i: SendMessageInput!) { sendMessage(input: $i) { seq } }";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Parser, Debug)]
#[command(about = "Chat fan-out benchmark for drseek")]
struct Args {
    /// WebSocket subscribers, spread round robin over the conversations.
    #[arg(long, default_value_t = 200)]
    subscribers: usize,
    /// Senders, one conversation (doctor–patient pair) each.
    #[arg(long, default_value_t = 20)]
    senders: usize,
    /// Target messages per second, over all senders.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// How long the senders send.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Server processes (2 needs `--backend real`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    instances: u8,
    /// Which backing services the server uses.
    #[arg(long, value_enum, default_value_t = Backend::Embedded)]
    backend: Backend,
    /// The drseek server binary. Default: target/release/drseek.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Errors are returned (not `process::exit`) so the server guards, the temp
    // dir and the benchmark database are cleaned up on the way out.
    match run(&args).await {
        Ok(report) => {
            let bad = report.lost > 0 || report.duplicated > 0;
            if bad {
                eprintln!(
                    "chat bench: FAILED: {} lost, {} duplicated",
                    report.lost, report.duplicated
                );
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("chat bench: ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    if args.senders == 0 {
        bail!("--senders must be at least 1");
    }
    if args.subscribers == 0 {
        bail!("--subscribers must be at least 1");
    }
    if args.rate.is_nan() || args.rate <= 0.0 {
        bail!("--rate must be positive");
    }
    if args.instances == 2 && args.backend != Backend::Real {
        bail!("--instances 2 needs --backend real (the instances must share their backends)");
    }
    check_fd_limit(args);
    let binary = binary_path(args.binary.as_deref())?;
    let run_id = format!("{:016x}", rand::random::<u64>());
    let dir = tempfile::Builder::new()
        .prefix("drseek-chat-bench-")
        .tempdir()
        .context("creating the temporary data directory")?;

    let mut env: Vec<(String, String)> = Vec::new();
    let database = match args.backend {
        Backend::Embedded => None,
        Backend::Real => {
            let db = RealDatabase::create("chat", &format!("drseek_chat_{run_id}")).await?;
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
    Ok(report)
}

/// Each subscriber needs a descriptor here and one in a server.
fn check_fd_limit(args: &Args) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|s| s.parse::<usize>().ok());
    if let Some(soft) = soft {
        if soft < args.subscribers + 256 {
            eprintln!(
                "chat bench: warning: the open-file limit is {soft}, too low for {} subscribers: run `ulimit -n 20000` (or more) first",
                args.subscribers
            );
        }
    }
}

/// One running server: its process, an HTTP client and its WebSocket URL.
struct Instance {
    server: ServerGuard,
    client: Client,
    ws_url: String,
}

/// Starts `drseek serve` with its own data directory and port.
async fn start_instance(
    binary: &Path,
    env: &[(String, String)],
    dir: &Path,
    label: &str,
) -> anyhow::Result<Instance> {
    let data = dir.join(label);
    std::fs::create_dir_all(&data).context("creating the instance data directory")?;
    let mut env = env.to_vec();
    env.push(("DRSEEK_DATA_DIR".into(), data.display().to_string()));
    let Server {
        guard,
        client,
        port,
    } = start_server(
        "chat",
        binary,
        &env,
        dir.join(format!("server-{label}.log")),
        Some(label),
        256,
    )
    .await?;
    Ok(Instance {
        server: guard,
        client,
        ws_url: format!("ws://127.0.0.1:{port}/ws"),
    })
}

/// A doctor–patient pair with an active link and its conversation.
struct Pair {
    doctor: String,
    patient: String,
    conversation: String,
}

/// What one subscriber saw.
#[derive(Default)]
struct SubStats {
    conv: usize,
    /// Distinct measured seqs received.
    seqs: HashSet<i64>,
    /// End-to-end latency of each first delivery, in microseconds.
    latencies_us: Vec<u32>,
    duplicated: u64,
    out_of_order: u64,
    misrouted: u64,
    /// Why the socket ended early, if it did.
    error: Option<String>,
}

struct Report {
    sent: u64,
    send_errors: u64,
    send_time: Duration,
    expected: u64,
    delivered: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    unexpected: u64,
    sub_errors: usize,
    delivery_window: Duration,
    drain: Duration,
    latencies_us: Vec<u32>,
    /// One per instance.
    mem_before: Vec<Memory>,
    mem_after: Vec<Memory>,
    mem_end: Vec<Memory>,
}

async fn bench(
    args: &Args,
    binary: &Path,
    run_id: &str,
    dir: &Path,
    env: &[(String, String)],
) -> anyhow::Result<Report> {
    // 1. Serve. The second instance starts once the first has migrated.
    let mut instances = Vec::new();
    for label in ["a", "b"].iter().take(usize::from(args.instances)) {
        instances.push(start_instance(binary, env, dir, label).await?);
    }
    let result = exercise(args, &instances, run_id).await;
    let mut died = false;
    for (i, inst) in instances.iter_mut().enumerate() {
        if let Some(status) = inst.server.exited() {
            died = true;
            eprintln!(
                "chat bench: server {} exited ({status}); last lines of its log:\n{}",
                label(i),
                inst.server.log_tail()
            );
        }
    }
    let report = result?;
    if died {
        bail!("a server exited during the benchmark");
    }
    Ok(report)
}

fn label(i: usize) -> &'static str {
    ["a", "b"].get(i).copied().unwrap_or("?")
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Which account and instance subscriber `i` uses: conversations round robin;
/// within a conversation its k-th subscriber is the doctor for even k, and
/// the instances alternate so both roles sit on both instances.
fn subscriber_plan(i: usize, m: usize, instances: usize) -> (usize, bool, usize) {
    let conv = i % m;
    let k = i / m;
    let doctor = k % 2 == 0;
    let instance = if instances == 1 { 0 } else { (k + k / 2) % 2 };
    (conv, doctor, instance)
}

async fn exercise(args: &Args, instances: &[Instance], run_id: &str) -> anyhow::Result<Report> {
    let m = args.senders;
    let n = args.subscribers;
    let ni = instances.len();
    let setup = &instances[0].client;

    // 2. M linked pairs and their conversations.
    eprintln!("chat bench: registering {m} doctor–patient pairs");
    let started = Instant::now();
    let pairs: Vec<Pair> = stream::iter(0..m)
        .map(|j| make_pair(setup, run_id, j))
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    eprintln!(
        "chat bench: {m} conversations ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mem_before: Vec<_> = instances.iter().map(|i| memory(i.server.pid)).collect();
    for (i, inst) in instances.iter().enumerate() {
        log_memory(inst.server.pid, label(i), "before subscribers");
    }

    // 3. N subscribers.
    eprintln!("chat bench: connecting {n} subscribers, {CONNECT_CONCURRENCY} at a time");
    let started = Instant::now();
    let connected = AtomicUsize::new(0);
    let sockets: Vec<(usize, Ws)> = stream::iter(0..n)
        .map(|i| {
            let (conv, doctor, inst) = subscriber_plan(i, m, ni);
            let pair = &pairs[conv];
            let token = if doctor { &pair.doctor } else { &pair.patient };
            let url = &instances[inst].ws_url;
            let connected = &connected;
            async move {
                let ws = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    subscribe(url, token, &pair.conversation),
                )
                .await
                .map_err(|_| {
                    anyhow!("subscriber {i}: no connection_ack within {CONNECT_TIMEOUT:?}")
                })?
                .with_context(|| format!("subscriber {i} on {url}"))?;
                let c = connected.fetch_add(1, Ordering::Relaxed) + 1;
                if c % 1000 == 0 {
                    eprintln!("chat bench:   {c} subscribers connected");
                }
                anyhow::Ok((conv, ws))
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;
    eprintln!(
        "chat bench: {n} subscribers connected in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let warmed = Arc::new(AtomicUsize::new(0));
    let unique = Arc::new(AtomicU64::new(0));
    let last_delivery = Arc::new(AtomicU64::new(0));
    let mut subs_per_conv = vec![0u64; m];
    let mut tasks = Vec::with_capacity(n);
    for (conv, ws) in sockets {
        subs_per_conv[conv] += 1;
        tasks.push(tokio::spawn(read_messages(
            ws,
            conv,
            pairs[conv].conversation.clone(),
            stop_rx.clone(),
            Arc::clone(&warmed),
            Arc::clone(&unique),
            Arc::clone(&last_delivery),
        )));
    }

    // 4. Warm-up: one message per conversation must reach every subscriber.
    let started = Instant::now();
    for (j, pair) in pairs.iter().enumerate() {
        let inst = &instances[j % ni].client;
        let seq = send(inst, &pair.patient, &pair.conversation, "warmup", "warmup").await?;
        if seq != 1 {
            bail!("the warm-up message of conversation {j} got seq {seq}, expected 1");
        }
    }
    let deadline = Instant::now() + WARMUP_TIMEOUT;
    while warmed.load(Ordering::Relaxed) < n {
        if Instant::now() > deadline {
            bail!(
                "only {} of {n} subscribers got the warm-up message within {WARMUP_TIMEOUT:?}",
                warmed.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "chat bench: every subscriber is live (warm-up delivered in {:.0} ms)",
        started.elapsed().as_secs_f64() * 1000.0
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mem_after: Vec<_> = instances.iter().map(|i| memory(i.server.pid)).collect();
    for (i, inst) in instances.iter().enumerate() {
        log_memory(inst.server.pid, label(i), "with subscribers");
    }

    // 5. Send at the target rate.
    let period = Duration::from_secs_f64(m as f64 / args.rate);
    let duration = Duration::from_secs(args.duration_secs);
    eprintln!(
        "chat bench: {m} senders, one message every {:.1} ms each, for {} s",
        period.as_secs_f64() * 1000.0,
        args.duration_secs
    );
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let clients: Arc<Vec<Client>> = Arc::new(instances.iter().map(|i| i.client.clone()).collect());
    let pairs = Arc::new(pairs);
    let send_start = Instant::now();
    let send_start_nanos = unix_nanos();
    let mut senders = Vec::with_capacity(m);
    for j in 0..m {
        let (clients, pairs, in_flight) = (
            Arc::clone(&clients),
            Arc::clone(&pairs),
            Arc::clone(&in_flight),
        );
        senders.push(tokio::spawn(async move {
            // Spread the senders over one period.
            tokio::time::sleep(period.mul_f64(j as f64 / m as f64)).await;
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut sends = Vec::new();
            let mut k = 0usize;
            loop {
                tick.tick().await;
                if send_start.elapsed() >= duration {
                    break;
                }
                let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                    break;
                };
                let (clients, pairs) = (Arc::clone(&clients), Arc::clone(&pairs));
                sends.push(tokio::spawn(async move {
                    let pair = &pairs[j];
                    let client = &clients[(j + k) % clients.len()];
                    let token = if k % 2 == 0 {
                        &pair.patient
                    } else {
                        &pair.doctor
                    };
                    let text = unix_nanos().to_string();
                    let r = send(
                        client,
                        token,
                        &pair.conversation,
                        &format!("s{j}-{k}"),
                        &text,
                    )
                    .await;
                    drop(permit);
                    r
                }));
                k += 1;
            }
            let mut seqs = Vec::with_capacity(sends.len());
            let mut errors = Vec::new();
            for s in sends {
                match s.await {
                    Ok(Ok(seq)) => seqs.push(seq),
                    Ok(Err(e)) => errors.push(format!("{e:#}")),
                    Err(e) => errors.push(format!("send task: {e}")),
                }
            }
            (seqs, errors)
        }));
    }
    let mut sent_seqs: Vec<HashSet<i64>> = Vec::with_capacity(m);
    let mut send_errors = 0u64;
    let mut shown = 0;
    for s in senders {
        let (seqs, errors) = s.await.context("a sender panicked")?;
        send_errors += errors.len() as u64;
        for e in errors {
            if shown < 5 {
                eprintln!("chat bench: send failed: {}", short(&e));
                shown += 1;
            }
        }
        sent_seqs.push(seqs.into_iter().collect());
    }
    let send_time = send_start.elapsed();
    let sent: u64 = sent_seqs.iter().map(|s| s.len() as u64).sum();
    let expected: u64 = sent_seqs
        .iter()
        .zip(&subs_per_conv)
        .map(|(s, subs)| s.len() as u64 * subs)
        .sum();
    eprintln!(
        "chat bench: sent {sent} messages ({send_errors} failed) in {:.1} s; waiting for {expected} deliveries",
        send_time.as_secs_f64()
    );

    // 6. Drain.
    let drain_start = Instant::now();
    while unique.load(Ordering::Relaxed) < expected && drain_start.elapsed() < DRAIN_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain = drain_start.elapsed();
    // Late duplicates would show up right after the last delivery.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mem_end: Vec<_> = instances.iter().map(|i| memory(i.server.pid)).collect();
    let _ = stop_tx.send(true);

    let mut delivered = 0u64;
    let mut unexpected = 0u64;
    let mut duplicated = 0u64;
    let mut out_of_order = 0u64;
    let mut misrouted = 0u64;
    let mut sub_errors = 0usize;
    let mut latencies_us = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    for t in tasks {
        let st = match t.await {
            Ok(st) => st,
            Err(e) => {
                sub_errors += 1;
                eprintln!("chat bench: a subscriber task failed: {e}");
                continue;
            }
        };
        if let Some(e) = &st.error {
            sub_errors += 1;
            if sub_errors <= 5 {
                eprintln!(
                    "chat bench: a subscriber of conversation {} ended early: {e}",
                    st.conv
                );
            }
        }
        let want = &sent_seqs[st.conv];
        let hit = st.seqs.iter().filter(|s| want.contains(s)).count() as u64;
        delivered += hit;
        unexpected += st.seqs.len() as u64 - hit;
        duplicated += st.duplicated;
        out_of_order += st.out_of_order;
        misrouted += st.misrouted;
        latencies_us.extend(st.latencies_us);
    }
    if misrouted > 0 {
        eprintln!("chat bench: {misrouted} deliveries carried another conversation's id");
    }
    if unexpected > 0 {
        eprintln!(
            "chat bench: {unexpected} deliveries of messages whose send failed (stored anyway)"
        );
    }
    let last = last_delivery.load(Ordering::Relaxed);
    let delivery_window = Duration::from_nanos(last.saturating_sub(send_start_nanos));
    latencies_us.sort_unstable();
    Ok(Report {
        sent,
        send_errors,
        send_time,
        expected,
        delivered,
        lost: expected.saturating_sub(delivered),
        duplicated,
        out_of_order,
        unexpected,
        sub_errors,
        delivery_window,
        drain,
        latencies_us,
        mem_before,
        mem_after,
        mem_end,
    })
}

/// Registers doctor and patient `j`, links them, and finds their conversation.
async fn make_pair(client: &Client, run_id: &str, j: usize) -> anyhow::Result<Pair> {
    let data = client
        .gql(
            None,
            "mutation($i: RegisterDoctorInput!) { registerDoctor(input: $i) { token account { id } } }",
            json!({ "i": {
                "login": format!("chat-doc-{j}-{run_id}@bench.drseek.test"),
                "password": PASSWORD,
                "name": format!("Dr. Bench {j}"),
                "title": "Attending Physician",
                "department": "Cardiology",
                "hospital": "Bench General",
            } }),
        )
        .await?;
    let doctor = str_at(&data, &["registerDoctor", "token"])?.to_owned();
    let doctor_id = str_at(&data, &["registerDoctor", "account", "id"])?.to_owned();
    let data = client
        .gql(
            None,
            "mutation($i: RegisterPatientInput!) { registerPatient(input: $i) { token account { id } } }",
            json!({ "i": {
                "login": format!("chat-pat-{j}-{run_id}@bench.drseek.test"),
                "password": PASSWORD,
                "name": format!("Patient {j}"),
            } }),
        )
        .await?;
    let patient = str_at(&data, &["registerPatient", "token"])?.to_owned();
    let data = client
        .gql(
            Some(&patient),
            "mutation($d: ID!) { requestCareLink(doctorId: $d) { id } }",
            json!({ "d": doctor_id }),
        )
        .await?;
    let link = str_at(&data, &["requestCareLink", "id"])?.to_owned();
    client
        .gql(
            Some(&doctor),
            "mutation($id: ID!) { respondCareLink(id: $id, accept: true) { id } }",
            json!({ "id": link }),
        )
        .await?;
    // The conversation may take a moment to show on a lagging replica.
    let deadline = Instant::now() + REPLICATION_TIMEOUT;
    loop {
        let data = client
            .gql(
                Some(&patient),
                "{ conversations { edges { node { id } } } }",
                json!({}),
            )
            .await?;
        if let Some(id) = data["conversations"]["edges"][0]["node"]["id"].as_str() {
            return Ok(Pair {
                doctor,
                patient,
                conversation: id.to_owned(),
            });
        }
        if Instant::now() > deadline {
            bail!("pair {j}: no conversation after the link was accepted: {data}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `sendMessage`; the seq of the stored message.
async fn send(
    client: &Client,
    token: &str,
    conversation: &str,
    client_id: &str,
    text: &str,
) -> anyhow::Result<i64> {
    let data = client
        .gql(
            Some(token),
            SEND,
            json!({ "i": {
                "conversationId": conversation,
                "clientId": client_id,
                "kind": "TEXT",
                "text": text,
            } }),
        )
        .await?;
    data["sendMessage"]["seq"]
        .as_i64()
        .ok_or_else(|| anyhow!("sendMessage answered no seq: {data}"))
}

/// Opens a `graphql-transport-ws` socket, authenticates and subscribes.
async fn subscribe(url: &str, token: &str, conversation: &str) -> anyhow::Result<Ws> {
    let mut req = url.into_client_request().context("WebSocket request")?;
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().context("header")?,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .context("WebSocket handshake")?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::Text(init.to_string()))
        .await
        .context("sending connection_init")?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).context("a non-JSON message")?;
                match v["type"].as_str() {
                    Some("connection_ack") => break,
                    Some("ping") => {
                        ws.send(Message::Text(json!({ "type": "pong" }).to_string()))
                            .await
                            .context("sending pong")?;
                    }
                    _ => bail!("expected connection_ack, got {t}"),
                }
            }
            Some(Ok(Message::Close(frame))) => bail!("closed before the ack: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(anyhow!(e).context("before the ack")),
            None => bail!("the connection ended before the ack"),
        }
    }
    let sub = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": SUBSCRIPTION,
        "variables": { "c": conversation, "a": 0 },
    } });
    ws.send(Message::Text(sub.to_string()))
        .await
        .context("sending subscribe")?;
    Ok(ws)
}

/// Reads `messageAdded` until told to stop, answering pings.
async fn read_messages(
    mut ws: Ws,
    conv: usize,
    conversation: String,
    mut stop: watch::Receiver<bool>,
    warmed: Arc<AtomicUsize>,
    unique: Arc<AtomicU64>,
    last_delivery: Arc<AtomicU64>,
) -> SubStats {
    let mut st = SubStats {
        conv,
        ..SubStats::default()
    };
    let mut warm = false;
    let mut last_seq = 0i64;
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => msg,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => {
                st.error = Some(format!("closed by the server: {frame:?}"));
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                st.error = Some(format!("socket error: {e}"));
                break;
            }
            None => {
                st.error = Some("the connection ended".into());
                break;
            }
        };
        let now = unix_nanos();
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => {
                st.error = Some(format!("non-JSON message: {}", short(&text)));
                break;
            }
        };
        match v["type"].as_str() {
            Some("next") => {}
            Some("ping") => {
                if ws
                    .send(Message::Text(json!({ "type": "pong" }).to_string()))
                    .await
                    .is_err()
                {
                    st.error = Some("could not answer a ping".into());
                    break;
                }
                continue;
            }
            Some("pong") => continue,
            _ => {
                st.error = Some(format!("unexpected message: {}", short(&text)));
                break;
            }
        }
        let m = &v["payload"]["data"]["messageAdded"];
        let Some(seq) = m["seq"].as_i64() else {
            st.error = Some(format!(
                "a `next` without messageAdded.seq: {}",
                short(&text)
            ));
            break;
        };
        if m["conversationId"].as_str() != Some(conversation.as_str()) {
            st.misrouted += 1;
            continue;
        }
        if seq < last_seq {
            st.out_of_order += 1;
        }
        last_seq = last_seq.max(seq);
        let body = m["text"].as_str().unwrap_or_default();
        if body == "warmup" {
            if !warm {
                warm = true;
                warmed.fetch_add(1, Ordering::Relaxed);
            } else {
                st.duplicated += 1;
            }
            continue;
        }
        if !st.seqs.insert(seq) {
            st.duplicated += 1;
            continue;
        }
        unique.fetch_add(1, Ordering::Relaxed);
        last_delivery.fetch_max(now, Ordering::Relaxed);
        if let Ok(sent) = body.parse::<u64>() {
            let us = now.saturating_sub(sent) / 1000;
            st.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
    }
    let _ = ws.close(None).await;
    st
}

fn log_memory(pid: u32, label: &str, when: &str) {
    let Memory {
        rss_kib: rss,
        peak_kib: peak,
    } = memory(pid);
    eprintln!(
        "chat bench: server {label} memory {when}: RSS {} MiB, peak {} MiB",
        mib(rss),
        mib(peak)
    );
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// One value per instance, `a / b` when there are two.
fn per_instance(values: &[Memory], pick: fn(&Memory) -> Option<u64>) -> String {
    values
        .iter()
        .map(|v| mib(pick(v)))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> String {
    if sorted_us.is_empty() {
        return "-".into();
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted_us.len()) - 1;
    format!("{:.1}", f64::from(sorted_us[i]) / 1000.0)
}

impl Report {
    fn table(&self, args: &Args) -> String {
        let rss = |v: &Memory| v.rss_kib;
        let hwm = |v: &Memory| v.peak_kib;
        let growth: Option<u64> = self
            .mem_before
            .iter()
            .zip(&self.mem_after)
            .map(|(b, a)| Some(a.rss_kib?.saturating_sub(b.rss_kib?)))
            .sum();
        let per_conn = growth.map_or_else(
            || "?".into(),
            |g| format!("{:.1}", g as f64 / args.subscribers as f64),
        );
        let per_sec = |count: u64, t: Duration| {
            if t.is_zero() {
                "-".into()
            } else {
                format!("{:.0}", count as f64 / t.as_secs_f64())
            }
        };
        let headers = [
            "backend",
            "instances",
            "subscribers",
            "senders",
            "target msg/s",
            "duration (s)",
            "sent",
            "send errors",
            "sent/s",
            "deliveries expected",
            "delivered",
            "lost",
            "duplicated",
            "out of order",
            "delivered/s",
            "latency p50 (ms)",
            "p99 (ms)",
            "max (ms)",
            "drain (s)",
            "socket errors",
            "RSS before subs (MiB)",
            "RSS with subs (MiB)",
            "RSS at end (MiB)",
            "peak RSS (MiB)",
            "KiB/connection",
        ];
        let row = [
            args.backend.name().to_owned(),
            args.instances.to_string(),
            args.subscribers.to_string(),
            args.senders.to_string(),
            format!("{}", args.rate),
            args.duration_secs.to_string(),
            self.sent.to_string(),
            self.send_errors.to_string(),
            per_sec(self.sent, self.send_time),
            self.expected.to_string(),
            if self.unexpected > 0 {
                format!("{} (+{} unexpected)", self.delivered, self.unexpected)
            } else {
                self.delivered.to_string()
            },
            self.lost.to_string(),
            self.duplicated.to_string(),
            self.out_of_order.to_string(),
            per_sec(self.delivered, self.delivery_window),
            percentile_ms(&self.latencies_us, 50.0),
            percentile_ms(&self.latencies_us, 99.0),
            percentile_ms(&self.latencies_us, 100.0),
            format!("{:.2}", self.drain.as_secs_f64()),
            self.sub_errors.to_string(),
            per_instance(&self.mem_before, rss),
            per_instance(&self.mem_after, rss),
            per_instance(&self.mem_end, rss),
            per_instance(&self.mem_end, hwm),
            per_conn,
        ];
        let mut out = markdown_header(&headers);
        let _ = write!(out, "| {} |", row.join(" | "));
        out
    }
}
