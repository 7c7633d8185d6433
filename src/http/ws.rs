//! GraphQL subscriptions over WebSocket, `graphql-transport-ws` and legacy
//! `graphql-ws`. The token comes in the `connection_init` payload as
//! `{"Authorization": "Bearer <token>"}` (GraphiQL sends its headers so) or
//! `{"token": "<token>"}`; a bad token closes the connection at once.
use std::time::Duration;

use async_graphql::{http::ALL_WEBSOCKET_PROTOCOLS, Data};
use async_graphql_poem::{GraphQLProtocol, GraphQLWebSocket};
use poem::{
    handler,
    web::{websocket::WebSocket, Data as PoemData},
    IntoResponse,
};

use super::SharedState;
use crate::auth::{self, Viewer};

/// The token in a `connection_init` payload, if any.
pub fn payload_token(payload: &serde_json::Value) -> Option<String> {
    let obj = payload.as_object()?;
    for key in ["Authorization", "authorization"] {
        if let Some(h) = obj.get(key).and_then(|v| v.as_str()) {
            return Some(auth::bearer(h).unwrap_or(h).to_owned());
        }
    }
    if let Some(headers) = obj.get("headers") {
        return payload_token(headers);
    }
    obj.get("token").and_then(|v| v.as_str()).map(str::to_owned)
}

#[handler]
pub async fn ws(
    protocol: GraphQLProtocol,
    websocket: WebSocket,
    PoemData(state): PoemData<&SharedState>,
) -> impl IntoResponse {
    let state = state.clone();
    let config = &state.services.config;
    let init_timeout = Duration::from_millis(config.ws_init_timeout_ms);
    let keepalive = Duration::from_millis(config.ws_keepalive_ms.max(100));
    let modern = protocol.0 == async_graphql::http::WebSocketProtocols::GraphQLWS;
    websocket
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| async move {
            if modern {
                super::transport_ws::serve(stream, state, init_timeout, keepalive).await;
                return;
            }
            // Legacy `graphql-ws` (subscriptions-transport-ws): async-graphql's handler.
            let accounts = state.services.accounts.clone();
            let stores = state.services.stores.clone();
            GraphQLWebSocket::new(stream, state.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    let token = payload_token(&payload);
                    let viewer = accounts.authenticate(token.as_deref()).await;
                    if matches!(viewer, Viewer::Rejected) {
                        return Err(async_graphql::Error::new("invalid or expired token"));
                    }
                    let mut data = Data::default();
                    data.insert(crate::loader::Loaders::for_connection(&stores, &viewer));
                    data.insert(viewer);
                    Ok(data)
                })
                .keepalive_timeout(keepalive * 4)
                .serve()
                .await
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_init_payloads() {
        let t = |v: serde_json::Value| payload_token(&v);
        assert_eq!(
            t(serde_json::json!({"Authorization": "Bearer abc"})).as_deref(),
            Some("abc")
        );
        assert_eq!(
            t(serde_json::json!({"headers": {"authorization": "Bearer x"}})).as_deref(),
            Some("x")
        );
        assert_eq!(t(serde_json::json!({"token": "y"})).as_deref(), Some("y"));
        assert_eq!(t(serde_json::json!({})), None);
        assert_eq!(t(serde_json::json!(null)), None);
    }
}
