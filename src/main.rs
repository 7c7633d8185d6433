//! `drseek`: config → telemetry → App::build → run.
use clap::{Parser, Subcommand};
use drseek::{app::App, config::Config, schema, seed, store::Stores};
use tracing_subscriber::EnvFilter;

/// Every password hash (argon2id) allocates 19 MiB. glibc's malloc raises its
/// mmap threshold after the first such block is freed, so later ones come
/// from the heap arenas and stay resident after use: 100 registrations left
/// the server at about 600 MiB. A fixed threshold keeps large blocks in their
/// own mappings, returned to the system on free (24 MiB after the same 100).
fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt takes no pointers; it adjusts allocator parameters
        // under the allocator's own lock.
        let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20) };
        if ok != 1 {
            eprintln!("drseek: mallopt(M_MMAP_THRESHOLD) failed; large blocks may stay resident");
        }
    }
}

#[derive(Parser)]
#[command(name = "drseek", version, about = "The drseek GraphQL server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) and exit.
    ExportSchema,
    /// Delete stored bytes no file points to (not used for `--min-age-secs`).
    GcBlobs {
        #[arg(long, default_value_t = 3600)]
        min_age_secs: u64,
    },
    /// Insert demo doctors and patients (all with password `drseek-demo-1`).
    Seed {
        #[arg(long, default_value_t = 60)]
        doctors: usize,
        #[arg(long, default_value_t = 200)]
        patients: usize,
        /// Also link this many new patients (ACTIVE) to one doctor, in bulk.
        #[arg(long, default_value_t = 0)]
        link_patients: usize,
        /// The doctor `--link-patients` links to (created if missing).
        #[arg(long, default_value = "bigdoctor@demo.drseek.test")]
        doctor_login: String,
    },
}

fn telemetry(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,mongodb=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: draining requests");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    return_large_allocations();
    let cli = Cli::parse();
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::ExportSchema => {
            print!("{}", schema::sdl());
        }
        Command::GcBlobs { min_age_secs } => {
            telemetry(&config);
            let stores = Stores::connect(&config).await?;
            drseek::app::migrate(&stores).await?;
            let files = drseek::files::service::FilesService::new(stores, &config);
            let removed = files
                .collect_garbage(std::time::Duration::from_secs(min_age_secs))
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            tracing::info!(removed, "unreferenced blobs removed");
        }
        Command::Migrate => {
            telemetry(&config);
            let stores = Stores::connect(&config).await?;
            drseek::app::migrate(&stores).await?;
            tracing::info!("migrations applied");
        }
        Command::Seed {
            doctors,
            patients,
            link_patients,
            doctor_login,
        } => {
            telemetry(&config);
            let stores = Stores::connect(&config).await?;
            drseek::app::migrate(&stores).await?;
            let n = seed::seed(&stores, doctors, patients).await?;
            tracing::info!(
                accounts = n,
                password = seed::DEMO_PASSWORD,
                "demo data seeded"
            );
            if link_patients > 0 {
                let id = seed::link_patients(&stores, &doctor_login, link_patients).await?;
                tracing::info!(doctor = id, login = %doctor_login, linked = link_patients, "patients linked");
            }
        }
        Command::Serve => {
            telemetry(&config);
            let app = App::build(config).await?;
            app.run_until(shutdown_signal()).await?;
        }
    }
    Ok(())
}
