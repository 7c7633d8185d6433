//! HTTP routes: GraphQL over HTTP, GraphQL over WebSocket, GraphiQL, health.
pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod idle;
pub mod observe;
pub mod transport_ws;
pub mod upload;
pub mod ws;

use std::sync::Arc;

use crate::schema::{AppSchema, Services};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    /// Flips to true when the server starts shutting down: WebSockets then
    /// close with 1001 (going away) so clients reconnect elsewhere.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// This process's id, sent as `x-drseek-instance`.
    pub instance: &'static str,
}

pub type SharedState = Arc<AppState>;
