//! HTTP routes: GraphQL over HTTP, GraphQL over WebSocket, GraphiQL, health.
pub mod graphiql;
pub mod graphql;
pub mod health;
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
}

pub type SharedState = Arc<AppState>;
