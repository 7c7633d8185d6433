//! Builds the application: stores, migrations, schema and routes, bound to a
//! port the caller can read before serving (tests bind port 0).
use std::{future::Future, sync::Arc, time::Duration};

use migration::{Migrator, MigratorTrait};
use poem::{
    get,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::CatchPanic,
    EndpointExt, Route, Server,
};

use crate::{
    config::Config,
    http::{graphiql, graphql, health, ws, AppState, SharedState},
    schema::{self, Services},
    store::Stores,
};

pub struct App {
    acceptor: TcpAcceptor,
    port: u16,
    state: SharedState,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    grace: Duration,
}

/// Applies pending migrations on the primary.
pub async fn migrate(stores: &Stores) -> anyhow::Result<()> {
    Migrator::up(stores.sql.writer(), None).await?;
    Ok(())
}

impl App {
    /// Connects every backend, applies migrations and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let stores = Stores::connect(&config).await?;
        migrate(&stores).await?;
        stores
            .sql
            .spawn_replica_monitor(Duration::from_millis(config.replica_check_ms));
        let services = Services::new(Arc::clone(&config), stores);
        let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
        let instance: &'static str =
            Box::leak(format!("{:08x}", rand::random::<u32>()).into_boxed_str());
        crate::http::observe::prometheus();
        let state = Arc::new(AppState {
            schema: schema::build(services.clone()),
            services,
            shutdown,
            instance,
        });
        let acceptor = TcpListener::bind(config.listen).into_acceptor().await?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .unwrap_or(config.listen.port());
        Ok(Self {
            acceptor,
            port,
            state,
            shutdown_tx,
            grace: Duration::from_secs(config.shutdown_grace_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn services(&self) -> &Services {
        &self.state.services
    }

    /// Serves until `shutdown` completes, then drains for the grace period.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let config = &self.state.services.config;
        let mut route = Route::new()
            .at("/graphql", get(graphql::graphql).post(graphql::graphql))
            .at("/ws", get(ws::ws))
            .at("/healthz", get(health::healthz))
            .at("/readyz", get(health::readyz))
            .at("/metrics", get(crate::http::observe::metrics_endpoint))
            .at("/files/:id", get(crate::files::download::download));
        if config.graphiql {
            route = route
                .at("/", get(graphiql::index))
                .at("/assets/graphiql/:name", get(graphiql::asset));
        }
        let instance = self.state.instance;
        let endpoint = route
            .data(Arc::clone(&self.state))
            .with(CatchPanic::new())
            .with(crate::http::observe::Observe { instance });
        tracing::info!(port = self.port, instance, "drseek serving");
        let tx = self.shutdown_tx;
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: closing WebSockets, draining requests");
            let _ = tx.send(true);
        };
        let idle = Duration::from_secs(config.http_idle_timeout_secs.max(1));
        Server::new_with_acceptor(crate::http::idle::IdleTimeout::new(self.acceptor, idle))
            .run_with_graceful_shutdown(endpoint, signal, Some(self.grace))
            .await
    }
}
