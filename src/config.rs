//! Settings from `DRSEEK_*` environment variables and CLI flags. Every setting
//! has an embedded default, so `drseek` starts with none. The value is built
//! once in `main` and passed down; nothing reads the environment later.
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "DRSEEK_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// Directory for the embedded database, documents and blobs.
    #[arg(long, env = "DRSEEK_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Primary SQL database (writes). Default: SQLite in the data directory.
    /// `mysql://user:pass@host:3306/db` selects MySQL/MariaDB.
    #[arg(long, env = "DRSEEK_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Read replica of the primary. Default: reads go to the primary.
    #[arg(long, env = "DRSEEK_REPLICA_URL")]
    pub replica_url: Option<String>,

    /// Reads fall back to the primary when the replica lags more than this (seconds).
    #[arg(long, env = "DRSEEK_REPLICA_MAX_LAG_SECS", default_value_t = 5)]
    pub replica_max_lag_secs: u64,

    /// How long an account's own writes are read from the primary (milliseconds).
    #[arg(long, env = "DRSEEK_READ_YOUR_WRITES_MS", default_value_t = 3000)]
    pub read_your_writes_ms: u64,

    /// How often the replica's health and lag are checked (milliseconds).
    #[arg(long, env = "DRSEEK_REPLICA_CHECK_MS", default_value_t = 1000)]
    pub replica_check_ms: u64,

    /// Maximum SQL connections per pool.
    #[arg(long, env = "DRSEEK_SQL_MAX_CONNECTIONS", default_value_t = 20)]
    pub sql_max_connections: u32,

    /// MongoDB URL for case-history documents. Default: the embedded store.
    #[arg(long, env = "DRSEEK_MONGODB_URL")]
    pub mongodb_url: Option<String>,

    /// MongoDB database name.
    #[arg(long, env = "DRSEEK_MONGODB_DATABASE", default_value = "drseek")]
    pub mongodb_database: String,

    /// Redis URL for the shared cache and the message bus. Default: in-process.
    #[arg(long, env = "DRSEEK_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    #[arg(long, env = "DRSEEK_REDIS_PREFIX", default_value = "drseek")]
    pub redis_prefix: String,

    /// Whether loaders keep entities in the shared cache (Redis, or in process).
    /// Off, every request batches its reads but goes to the database.
    #[arg(long, env = "DRSEEK_LOADER_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub loader_cache: bool,

    /// How long a loaded entity stays in the shared cache (seconds).
    #[arg(long, env = "DRSEEK_LOADER_CACHE_TTL_SECS", default_value_t = 300)]
    pub loader_cache_ttl_secs: u64,

    /// Longest wait for the shared cache before a read goes to the database
    /// instead (milliseconds).
    #[arg(long, env = "DRSEEK_CACHE_TIMEOUT_MS", default_value_t = 250)]
    pub cache_timeout_ms: u64,

    /// Lifetime of a login token (hours).
    #[arg(long, env = "DRSEEK_TOKEN_TTL_HOURS", default_value_t = 720)]
    pub token_ttl_hours: u64,

    /// Largest accepted HTTP request body for GraphQL (bytes).
    #[arg(long, env = "DRSEEK_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Deepest accepted GraphQL query. The standard introspection query
    /// (GraphiQL's) needs 15.
    #[arg(long, env = "DRSEEK_MAX_QUERY_DEPTH", default_value_t = 16)]
    pub max_query_depth: usize,

    /// Highest accepted GraphQL query complexity.
    #[arg(long, env = "DRSEEK_MAX_QUERY_COMPLEXITY", default_value_t = 10_000)]
    pub max_query_complexity: usize,

    /// Page size when a list query gives no `first`/`last`.
    #[arg(long, env = "DRSEEK_DEFAULT_PAGE_SIZE", default_value_t = 20)]
    pub default_page_size: usize,

    /// Largest accepted `first`/`last`.
    #[arg(long, env = "DRSEEK_MAX_PAGE_SIZE", default_value_t = 100)]
    pub max_page_size: usize,

    /// Contact-book versions older than this ask the client to resync in full (seconds).
    #[arg(long, env = "DRSEEK_CONTACT_SYNC_MAX_AGE_SECS", default_value_t = 30 * 24 * 3600)]
    pub contact_sync_max_age_secs: u64,

    /// Largest accepted case-document `content` (bytes of JSON).
    #[arg(long, env = "DRSEEK_MAX_CASE_CONTENT_BYTES", default_value_t = 1024 * 1024)]
    pub max_case_content_bytes: usize,

    /// Where uploaded file contents are kept. Default: `<data dir>/blobs`.
    /// Several instances must share it (a shared volume).
    #[arg(long, env = "DRSEEK_BLOB_DIR")]
    pub blob_dir: Option<PathBuf>,

    /// Largest accepted upload (bytes).
    #[arg(long, env = "DRSEEK_MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// Secret for signed download URLs. Default: random per process (set it
    /// when running several instances, so a URL works on all of them).
    #[arg(long, env = "DRSEEK_FILE_URL_SECRET")]
    pub file_url_secret: Option<String>,

    /// Lifetime of a signed download URL (seconds).
    #[arg(long, env = "DRSEEK_FILE_URL_TTL_SECS", default_value_t = 600)]
    pub file_url_ttl_secs: u64,

    /// `claimFile` calls allowed per account per minute.
    #[arg(long, env = "DRSEEK_CLAIMS_PER_MINUTE", default_value_t = 30)]
    pub claims_per_minute: u32,

    /// Login attempts allowed per client address per minute (0: no limit).
    #[arg(
        long,
        env = "DRSEEK_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP",
        default_value_t = 30
    )]
    pub login_attempts_per_minute_per_ip: u32,

    /// Login attempts allowed per login name per minute (0: no limit).
    #[arg(
        long,
        env = "DRSEEK_LOGIN_ATTEMPTS_PER_MINUTE_PER_LOGIN",
        default_value_t = 10
    )]
    pub login_attempts_per_minute_per_login: u32,

    /// Mutations allowed per account per minute (0: no limit).
    #[arg(long, env = "DRSEEK_MUTATIONS_PER_MINUTE", default_value_t = 600)]
    pub mutations_per_minute: u32,

    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy only).
    #[arg(long, env = "DRSEEK_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,

    /// A WebSocket must send `connection_init` within this time (milliseconds).
    #[arg(long, env = "DRSEEK_WS_INIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_init_timeout_ms: u64,

    /// The server pings WebSocket connections this often (milliseconds); a
    /// graphql-transport-ws client silent for two periods is closed with 4408.
    #[arg(long, env = "DRSEEK_WS_KEEPALIVE_MS", default_value_t = 15_000)]
    pub ws_keepalive_ms: u64,

    /// Serve GraphiQL at `/`.
    #[arg(long, env = "DRSEEK_GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphiql: bool,

    /// Allow schema introspection (GraphiQL needs it).
    #[arg(long, env = "DRSEEK_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,

    /// An HTTP connection with no bytes in either direction for this long is
    /// closed (seconds): idle keep-alive connections, and clients that stop
    /// half-way through a request. WebSockets have their own keep-alive.
    #[arg(long, env = "DRSEEK_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub http_idle_timeout_secs: u64,

    /// Time in-flight requests get to finish on shutdown (seconds).
    #[arg(long, env = "DRSEEK_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Log as JSON lines instead of text.
    #[arg(long, env = "DRSEEK_LOG_JSON", default_value_t = false, action = clap::ArgAction::Set)]
    pub log_json: bool,
}

impl Config {
    /// All defaults, ignoring the environment: the embedded stack under `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        // Parsing no arguments only yields defaults; env vars would leak in,
        // so every env-backed optional field is reset below.
        let mut config = <Only as clap::Parser>::try_parse_from(["drseek"])
            .map(|o| o.config)
            .unwrap_or_else(|_| unreachable!("defaults always parse"));
        config.data_dir = data_dir.into();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database_url = None;
        config.replica_url = None;
        config.mongodb_url = None;
        config.redis_url = None;
        config
    }

    /// The primary's URL, defaulting to SQLite in the data directory.
    pub fn primary_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("drseek.db").display()
            )
        })
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.blob_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    pub fn read_your_writes(&self) -> Duration {
        Duration::from_millis(self.read_your_writes_ms)
    }
}
