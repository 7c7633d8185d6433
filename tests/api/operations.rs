//! Operations: request ids, metrics, graceful shutdown.
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message};

use crate::{helpers::spawn_app, messaging::ws_init};

#[tokio::test]
async fn responses_carry_request_ids_and_the_instance() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/graphql"))
        .header("x-request-id", "abc-123")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    assert!(r.headers().contains_key("x-drseek-instance"));
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("send");
    let id = r.headers()["x-request-id"].to_str().expect("id").to_owned();
    assert_eq!(id.len(), 16, "a fresh id replaces an unsafe one");
}

#[tokio::test]
async fn metrics_count_requests_connections_and_replica_state() {
    let app = spawn_app().await;
    let (token, _) = app.patient("m@example.com").await;
    let _ws = ws_init(&app, &token).await;
    let named = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "query MyProfileScreen { me { id } }", "operationName": "MyProfileScreen" }))
        .send()
        .await
        .expect("send");
    assert_eq!(named.status(), 200);
    let body = app.metrics().await;
    for name in [
        "drseek_http_requests_total",
        "drseek_http_request_duration_seconds",
        "drseek_ws_connections",
        "drseek_replica_lag_seconds",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics");
    }
    assert!(body.contains("route=\"graphql\""));
    assert!(
        body.contains("drseek_graphql_operations_total{operation=\"MyProfileScreen\",type=\"query\",outcome=\"ok\"}"),
        "per-operation counts missing"
    );
    assert!(body.contains(
        "drseek_graphql_operation_duration_seconds_count{operation=\"MyProfileScreen\",type=\"query\"}"
    ) || body.contains("drseek_graphql_operation_duration_seconds{operation=\"MyProfileScreen\",type=\"query\",quantile="));
}

#[tokio::test]
async fn shutdown_closes_websockets_with_going_away() {
    let mut app = spawn_app().await;
    let (token, _) = app.patient("s@example.com").await;
    let mut ws = ws_init(&app, &token).await;
    app.stop();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed within 5 s");
    assert_eq!(closed, Some(CloseCode::Away));
}

#[tokio::test]
async fn a_flood_of_failed_logins_is_limited() {
    let app = spawn_app().await;
    app.patient("target@example.com").await;
    let q =
        "mutation { login(login: \"target@example.com\", password: \"wrong-guess-1\") { token } }";
    let mut codes = Vec::new();
    for _ in 0..=app.config.login_attempts_per_minute_per_login {
        codes.push(app.gql(None, q, json!({})).await.code().to_owned());
    }
    assert!(
        codes[..codes.len() - 1]
            .iter()
            .all(|c| c == "UNAUTHENTICATED"),
        "{codes:?}"
    );
    let last = app.gql(None, q, json!({})).await;
    assert_eq!(last.code(), "RATE_LIMITED");
    assert_eq!(last.body["errors"][0]["extensions"]["retryAfter"], 60);
    // Even the right password waits now: that is what stops guessing.
    let right = app.gql(None, "mutation { login(login: \"target@example.com\", password: \"correct-horse-1\") { token } }", json!({})).await;
    assert_eq!(right.code(), "RATE_LIMITED");
}

#[tokio::test]
async fn mutations_are_limited_per_account() {
    let first = spawn_app().await;
    let mut config = first.config.clone();
    config.mutations_per_minute = 3;
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        same_backends_as: Some(config),
        ..Default::default()
    })
    .await;
    let (token, _) = app.patient("busy@example.com").await;
    let m = "mutation { updateMyProfile(input: {name: \"N\"}) { id } }";
    for _ in 0..3 {
        app.gql(Some(&token), m, json!({}))
            .await
            .data("updateMyProfile");
    }
    let r = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": m }))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    // Queries are not limited.
    assert_eq!(
        app.gql(Some(&token), "{ me { id } }", json!({}))
            .await
            .status,
        200
    );
}
