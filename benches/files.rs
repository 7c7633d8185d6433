//! File upload benchmark: the hashing speed of this machine, then a large
//! upload streamed to the release server (wall time, server peak memory), then
//! a claim of already-stored bytes against an upload of the same file.
//!
//! ```text
//! cargo build --release
//! cargo bench --bench files -- --size-mib 1024 --claim-mib 100
//! ```
//!
//! Uses the embedded backend in a temporary data directory, which holds about
//! `size + claim` MiB of blobs while it runs. Neither the client nor (it is
//! checked here) the server should hold the file in memory: the client streams
//! it from a pseudo-random generator in 1 MiB chunks, hashing it beforehand in
//! a separate streaming pass over the same generator.
//!
//! Exits non-zero on any error or wrong answer (size, BLAKE3, a null claim).
mod common;

use std::{
    fmt::Write as _,
    path::PathBuf,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use clap::Parser;
use common::{
    binary_path, markdown_header, memory, short, start_server, str_at, Client, Memory, Server,
};
use md5::{Digest as _, Md5};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const PASSWORD: &str = "bench-pass-1";
const MIB: u64 = 1024 * 1024;
/// Bytes per chunk of the generated upload stream.
const CHUNK: usize = 1024 * 1024;
/// Chunk size of the one-pass MD5 + BLAKE3 baseline (about what the server
/// gets from its multipart parser, and small enough to stay in cache).
const HASH_CHUNK: usize = 64 * 1024;
const SEED_LARGE: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED_CLAIM: u64 = 0xd1b5_4a32_d192_ed03;
const CLAIM_REPEATS: usize = 5;
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(3600);
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(20);

const UPLOAD: &str = "mutation($f: Upload!, $m: String) { uploadFile(file: $f, md5: $m) { id size blake3 contentType } }";
const CLAIM: &str = "mutation($m: String!, $b: String!, $s: Int!, $n: String!) { claimFile(md5: $m, blake3: $b, size: $s, fileName: $n) { id size blake3 } }";

#[derive(Parser, Debug)]
#[command(about = "File upload / claim benchmark for drseek (embedded backend)")]
struct Args {
    /// Size of the large upload and of the in-memory hashing baseline (MiB).
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Size of the file uploaded once and then claimed (MiB).
    #[arg(long, default_value_t = 100)]
    claim_mib: u64,
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
    // Errors are returned (not `process::exit`) so the server guard and the
    // temp dir are cleaned up on the way out.
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("files bench: ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// xorshift64: fast, deterministic, not all zeros. Bytes are the little-endian
/// words in order, so any chunking into multiples of 8 bytes gives the same stream.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn fill(&mut self, buf: &mut [u8]) {
        assert!(buf.len() % 8 == 0, "chunks are whole words");
        for word in buf.chunks_exact_mut(8) {
            word.copy_from_slice(&self.next().to_le_bytes());
        }
    }
}

/// The chunks of a generated file of `size` bytes (a multiple of 8).
fn chunks(seed: u64, size: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut gen = XorShift::new(seed);
    let mut left = size;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK as u64) as usize;
        left -= n as u64;
        let mut buf = vec![0u8; n];
        gen.fill(&mut buf);
        Some(buf)
    })
}

/// MD5, BLAKE3 and size of a generated file, in one streaming pass.
struct Digests {
    md5: String,
    blake3: String,
    size: u64,
}

fn digest_stream(seed: u64, size: u64) -> Digests {
    let (mut md5, mut b3) = (Md5::new(), blake3::Hasher::new());
    for chunk in chunks(seed, size) {
        md5.update(&chunk);
        b3.update(&chunk);
    }
    Digests {
        md5: hex::encode(md5.finalize()),
        blake3: b3.finalize().to_hex().to_string(),
        size,
    }
}

/// One row of the report.
struct Row {
    operation: String,
    bytes: u64,
    time: Duration,
    /// Bytes the MiB/s figure is computed over (the file size for a claim).
    rate_bytes: u64,
    rate_note: &'static str,
    peak_kib: Option<u64>,
    max_rss_kib: Option<u64>,
}

impl Row {
    fn local(operation: String, bytes: u64, time: Duration) -> Self {
        Row {
            operation,
            bytes,
            time,
            rate_bytes: bytes,
            rate_note: "",
            peak_kib: None,
            max_rss_kib: None,
        }
    }
}

fn mib_per_sec(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / MIB as f64 / time.as_secs_f64().max(1e-9)
}

fn fmt_time(t: Duration) -> String {
    let s = t.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.2} ms", s * 1000.0)
    }
}

fn fmt_bytes(b: u64) -> String {
    if b >= MIB {
        format!("{} ({:.0} MiB)", b, b as f64 / MIB as f64)
    } else {
        b.to_string()
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "–".into(), |k| format!("{:.0}", k as f64 / 1024.0))
}

fn table(rows: &[Row]) -> String {
    let headers = [
        "operation",
        "bytes",
        "time",
        "MiB/s",
        "server peak RSS after (VmHWM, MiB)",
        "server max RSS during (sampled, MiB)",
    ];
    let mut out = markdown_header(&headers);
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1}{} | {} | {} |",
            r.operation,
            fmt_bytes(r.bytes),
            fmt_time(r.time),
            mib_per_sec(r.rate_bytes, r.time),
            r.rate_note,
            mib(r.peak_kib),
            mib(r.max_rss_kib),
        );
    }
    out
}

async fn run(args: &Args) -> anyhow::Result<()> {
    if args.size_mib == 0 || args.claim_mib == 0 {
        bail!("--size-mib and --claim-mib must be at least 1");
    }
    let binary = binary_path(args.binary.as_deref())?;
    let size = args.size_mib * MIB;
    let claim_size = args.claim_mib * MIB;
    let mut rows = Vec::new();

    // 1. Baseline: hashing speed of this machine, in memory.
    eprintln!("files bench: generating {} MiB in memory", args.size_mib);
    let buf = {
        let mut buf = vec![0u8; usize::try_from(size).context("--size-mib too large")?];
        let started = Instant::now();
        XorShift::new(SEED_LARGE).fill(&mut buf);
        rows.push(Row::local(
            "generate (xorshift, memory)".into(),
            size,
            started.elapsed(),
        ));
        buf
    };
    let started = Instant::now();
    let md5_mem = hex::encode(Md5::digest(&buf));
    rows.push(Row::local("MD5 (memory)".into(), size, started.elapsed()));
    let started = Instant::now();
    let b3_mem = blake3::hash(&buf).to_hex().to_string();
    rows.push(Row::local(
        "BLAKE3 (memory)".into(),
        size,
        started.elapsed(),
    ));
    let started = Instant::now();
    let (mut m, mut b) = (Md5::new(), blake3::Hasher::new());
    for chunk in buf.chunks(HASH_CHUNK) {
        m.update(chunk);
        b.update(chunk);
    }
    let (md5_one, b3_one) = (hex::encode(m.finalize()), b.finalize().to_hex().to_string());
    rows.push(Row::local(
        format!(
            "MD5 + BLAKE3 one pass ({} KiB chunks, memory)",
            HASH_CHUNK / 1024
        ),
        size,
        started.elapsed(),
    ));
    drop(buf);
    if md5_one != md5_mem || b3_one != b3_mem {
        bail!("the one-pass digests differ from the separate ones");
    }

    // The client's streaming pass over the generator (what a client does
    // before uploading with `md5`, or before a claim).
    eprintln!(
        "files bench: hashing the {} MiB upload, streaming",
        args.size_mib
    );
    let started = Instant::now();
    let large = digest_stream(SEED_LARGE, size);
    rows.push(Row::local(
        "client pre-pass: generate 1 MiB chunks + MD5 + BLAKE3".into(),
        size,
        started.elapsed(),
    ));
    if large.md5 != md5_mem || large.blake3 != b3_mem {
        bail!("the streamed file differs from the in-memory buffer");
    }
    let claim = digest_stream(SEED_CLAIM, claim_size);

    // 2. Serve.
    let dir = tempfile::Builder::new()
        .prefix("drseek-bench-files-")
        .tempdir()
        .context("creating the temporary data directory")?;
    let env: Vec<(String, String)> = vec![
        ("DRSEEK_DATA_DIR".into(), dir.path().display().to_string()),
        (
            "DRSEEK_MAX_UPLOAD_BYTES".into(),
            (size.max(claim_size) + 16 * MIB).to_string(),
        ),
    ];
    let Server {
        guard: mut server,
        client,
        port,
    } = start_server(
        "files",
        &binary,
        &env,
        dir.path().join("server.log"),
        None,
        usize::MAX,
    )
    .await?;
    let pid = server.pid;

    let result = exercise(args, &client, pid, port, &large, &claim, &mut rows).await;
    if server.exited().is_some() {
        eprintln!(
            "files bench: the server exited; last lines of its log:\n{}",
            server.log_tail()
        );
    }
    drop(server);
    let notes = result?;
    println!();
    print!("{}", table(&rows));
    println!();
    for n in notes {
        println!("- {n}");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn exercise(
    args: &Args,
    client: &Client,
    pid: u32,
    port: u16,
    large: &Digests,
    claim: &Digests,
    rows: &mut Vec<Row>,
) -> anyhow::Result<Vec<String>> {
    let mut notes = Vec::new();
    let run_id = format!("{:08x}", rand::random::<u32>());
    // Both users first: each registration hashes a password (Argon2), which
    // moves the server's peak memory; it should not count against uploads.
    let mut tokens = Vec::new();
    for who in ["uploader", "claimer"] {
        let data = client
            .gql(
                None,
                "mutation($i: RegisterPatientInput!) { registerPatient(input: $i) { token } }",
                json!({ "i": {
                    "login": format!("bench-{who}-{run_id}@demo.drseek.test"),
                    "password": PASSWORD,
                    "name": format!("Bench {who}"),
                } }),
            )
            .await?;
        tokens.push(str_at(&data, &["registerPatient", "token"])?.to_owned());
    }
    let (uploader, claimer) = (&tokens[0], &tokens[1]);

    let Memory {
        rss_kib: idle_rss,
        peak_kib: idle_peak,
    } = memory(pid);
    eprintln!(
        "files bench: server memory before uploads: RSS {} MiB, peak {} MiB",
        mib(idle_rss),
        mib(idle_peak)
    );
    notes.push(format!(
        "server before any upload (after 2 registrations): RSS {} MiB, VmHWM {} MiB; client RSS now {} MiB",
        mib(idle_rss),
        mib(idle_peak),
        mib(memory(std::process::id()).rss_kib),
    ));

    // 3. The large upload.
    eprintln!("files bench: uploading {} MiB", args.size_mib);
    let (time, max_rss) = sampled(
        pid,
        upload(client, uploader, SEED_LARGE, large, "large.bin"),
    )
    .await?;
    let Memory {
        rss_kib: rss,
        peak_kib: peak,
    } = memory(pid);
    rows.push(Row {
        operation: format!("upload {} MiB (with md5)", args.size_mib),
        bytes: large.size,
        time,
        rate_bytes: large.size,
        rate_note: "",
        peak_kib: peak,
        max_rss_kib: max_rss,
    });
    notes.push(format!(
        "after the {} MiB upload: server RSS {} MiB, VmHWM {} MiB (growth of the peak: {} MiB); client RSS {} MiB",
        args.size_mib,
        mib(rss),
        mib(peak),
        match (peak, idle_peak) {
            (Some(a), Some(b)) => format!("{:.0}", a.saturating_sub(b) as f64 / 1024.0),
            _ => "?".into(),
        },
        mib(memory(std::process::id()).rss_kib),
    ));

    // 4. Upload the claim file once, then claim it as another user.
    eprintln!("files bench: uploading {} MiB to claim", args.claim_mib);
    let (upload_time, max_rss) = sampled(
        pid,
        upload(client, uploader, SEED_CLAIM, claim, "claim.bin"),
    )
    .await?;
    rows.push(Row {
        operation: format!("upload {} MiB (with md5)", args.claim_mib),
        bytes: claim.size,
        time: upload_time,
        rate_bytes: claim.size,
        rate_note: "",
        peak_kib: memory(pid).peak_kib,
        max_rss_kib: max_rss,
    });

    let vars = json!({ "m": claim.md5, "b": claim.blake3, "s": claim.size, "n": "claimed.bin" });
    let mut times = Vec::with_capacity(CLAIM_REPEATS);
    let mut max_rss = None;
    for _ in 0..CLAIM_REPEATS {
        let (t, rss) = sampled(pid, async {
            let started = Instant::now();
            let data = client.gql(Some(claimer), CLAIM, vars.clone()).await?;
            let elapsed = started.elapsed();
            check_file(&data["claimFile"], claim, "claimFile")?;
            anyhow::Ok(elapsed)
        })
        .await?;
        times.push(t);
        max_rss = max_rss.max(rss);
    }
    times.sort();
    let median = times[times.len() / 2];
    let wire = claim_wire_bytes(port, claimer, &vars).await?;
    rows.push(Row {
        operation: format!(
            "claimFile {} MiB (median of {CLAIM_REPEATS}; bytes = HTTP request + response)",
            args.claim_mib
        ),
        bytes: wire.0 + wire.1,
        time: median,
        rate_bytes: claim.size,
        rate_note: " (effective)",
        peak_kib: memory(pid).peak_kib,
        max_rss_kib: max_rss,
    });
    notes.push(format!(
        "claim: {} B request + {} B response on the wire (HTTP/1.1, headers included); \
         times {:?}; {:.0}× faster than uploading the same {} MiB ({}), {:.0}× fewer bytes",
        wire.0,
        wire.1,
        times
            .iter()
            .map(|t| format!("{:.2} ms", t.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>(),
        upload_time.as_secs_f64() / median.as_secs_f64().max(1e-9),
        args.claim_mib,
        fmt_time(upload_time),
        claim.size as f64 / (wire.0 + wire.1) as f64,
    ));
    Ok(notes)
}

/// Runs `work` while sampling the server's VmRSS; returns its result and the
/// largest RSS seen.
async fn sampled<T>(
    pid: u32,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, Option<u64>)> {
    let done = Arc::new(AtomicBool::new(false));
    let max = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let (done, max) = (done.clone(), max.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = memory(pid).rss_kib {
                    max.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(RSS_SAMPLE_EVERY).await;
            }
        }
    });
    let result = work.await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    if let Some(rss) = memory(pid).rss_kib {
        max.fetch_max(rss, Ordering::Relaxed);
    }
    let max = max.load(Ordering::Relaxed);
    Ok((result?, (max > 0).then_some(max)))
}

fn check_file(file: &Value, want: &Digests, what: &str) -> anyhow::Result<()> {
    if file.is_null() {
        bail!("{what} answered null");
    }
    if file["size"].as_u64() != Some(want.size) {
        bail!(
            "{what} answered size {}, expected {}",
            file["size"],
            want.size
        );
    }
    if file["blake3"].as_str() != Some(want.blake3.as_str()) {
        bail!(
            "{what} answered blake3 {}, expected {}",
            file["blake3"],
            want.blake3
        );
    }
    Ok(())
}

/// Exact bytes of one claim call in each direction, counted by a localhost
/// TCP relay in front of the server: (request, response).
async fn claim_wire_bytes(port: u16, token: &str, vars: &Value) -> anyhow::Result<(u64, u64)> {
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the byte-counting relay")?;
    let relay_port = relay.local_addr()?.port();
    let up = Arc::new(AtomicU64::new(0));
    let down = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn({
        let (up, down) = (up.clone(), down.clone());
        async move {
            let (inbound, _) = relay.accept().await?;
            let outbound = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let (mut ir, mut iw) = inbound.into_split();
            let (mut or, mut ow) = outbound.into_split();
            let a = pump(&mut ir, &mut ow, &up);
            let b = pump(&mut or, &mut iw, &down);
            let _ = tokio::join!(a, b);
            anyhow::Ok(())
        }
    });
    let client = Client::new(&format!("http://127.0.0.1:{relay_port}"), usize::MAX)?;
    let data = client.gql(Some(token), CLAIM, vars.clone()).await?;
    if data["claimFile"].is_null() {
        bail!("claimFile through the relay answered null");
    }
    // The whole response has passed the relay once it has been read.
    let counts = (up.load(Ordering::SeqCst), down.load(Ordering::SeqCst));
    drop(client);
    task.abort();
    Ok(counts)
}

async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    count: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf[..n]).await?;
        count.fetch_add(n as u64, Ordering::SeqCst);
    }
}

/// Uploads the generated file `seed`/`want.size` with its MD5, streamed in
/// 1 MiB chunks; checks the answer; returns the wall time of the request.
async fn upload(
    client: &Client,
    token: &str,
    seed: u64,
    want: &Digests,
    name: &str,
) -> anyhow::Result<Duration> {
    let ops = json!({ "query": UPLOAD, "variables": { "f": null, "m": want.md5 } });
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(
        chunks(seed, want.size).map(Ok::<_, std::io::Error>),
    ));
    let part = Part::stream_with_length(body, want.size)
        .file_name(name.to_owned())
        .mime_str("application/octet-stream")?;
    let form = Form::new()
        .text("operations", ops.to_string())
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part("0", part);
    let req = client
        .post_graphql()
        .bearer_auth(token)
        .header("graphql-preflight", "1")
        .timeout(UPLOAD_TIMEOUT)
        .multipart(form);
    let started = Instant::now();
    let resp = req.send().await.context("sending the upload")?;
    let status = resp.status();
    let text = resp.text().await.context("reading the upload's response")?;
    let elapsed = started.elapsed();
    if !status.is_success() {
        bail!("the upload answered HTTP {status}: {}", short(&text));
    }
    let body: Value = serde_json::from_str(&text)
        .with_context(|| format!("the upload answered non-JSON: {}", short(&text)))?;
    if body.get("errors").is_some_and(|e| !e.is_null()) {
        bail!("the upload answered errors: {}", short(&text));
    }
    let file = &body["data"]["uploadFile"];
    check_file(file, want, "uploadFile")?;
    eprintln!(
        "files bench:   stored file {} ({}) in {}",
        file["id"],
        file["contentType"],
        fmt_time(elapsed)
    );
    Ok(elapsed)
}
