//! GraphQL over WebSocket: authentication in `connection_init`, both protocols.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

use crate::helpers::{spawn_app, TestApp};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(app: &TestApp, protocol: &str) -> Ws {
    let mut req = app.ws_url().into_client_request().expect("request");
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().expect("header"));
    let (ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    assert_eq!(resp.headers()["sec-websocket-protocol"], protocol);
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string())).await.expect("send");
}

/// The next text message as JSON, skipping pings; `None` when the server closes.
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["type"] == "ping" || v["type"] == "ka" {
                    continue;
                }
                return Some(v);
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn subscriptions_receive_events_with_the_init_token() {
    let app = spawn_app().await;
    let (token, _) = app.patient("ws@example.com").await;
    let mut ws = connect(&app, "graphql-transport-ws").await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut ws).await.expect("ack")["type"], "connection_ack");
    send(&mut ws, json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { accountEvents { kind at } }" } })).await;
    // The subscription is live once the server has it; update until an event arrives.
    let mut got = None;
    for _ in 0..20 {
        app.gql(
            Some(&token),
            "mutation { updateMyProfile(input: {name: \"New Name\"}) { id } }",
            json!({}),
        )
        .await
        .data("updateMyProfile");
        if let Ok(Some(v)) = tokio::time::timeout(Duration::from_millis(250), next(&mut ws)).await {
            got = Some(v);
            break;
        }
    }
    let v = got.expect("an account event");
    assert_eq!(v["type"], "next");
    assert_eq!(v["id"], "1");
    assert_eq!(
        v["payload"]["data"]["accountEvents"]["kind"],
        "PROFILE_UPDATED"
    );
}

#[tokio::test]
async fn a_bad_init_token_closes_the_connection() {
    let app = spawn_app().await;
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut ws = connect(&app, protocol).await;
        send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": "Bearer dsk_forged" } })).await;
        // The server answers with an error or closes; either way no ack and the socket ends.
        let first = next(&mut ws).await;
        if let Some(v) = &first {
            assert_ne!(v["type"], "connection_ack", "{protocol}: {v}");
            assert!(
                next(&mut ws).await.is_none(),
                "{protocol}: connection left open"
            );
        }
    }
}

#[tokio::test]
async fn an_anonymous_subscription_to_account_events_is_refused() {
    let app = spawn_app().await;
    let mut ws = connect(&app, "graphql-transport-ws").await;
    send(&mut ws, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut ws).await.expect("ack")["type"], "connection_ack");
    send(&mut ws, json!({ "id": "a", "type": "subscribe", "payload": { "query": "subscription { accountEvents { kind } }" } })).await;
    // An execution error: one `next` carrying the error, then `complete`; no stream stays open.
    let v = next(&mut ws).await.expect("error");
    assert_eq!(v["type"], "next", "{v}");
    assert_eq!(
        v["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{v}"
    );
    assert_eq!(next(&mut ws).await.expect("complete")["type"], "complete");
}

#[tokio::test]
async fn legacy_graphql_ws_still_works() {
    let app = spawn_app().await;
    let mut ws = connect(&app, "graphql-ws").await;
    send(&mut ws, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(next(&mut ws).await.expect("ack")["type"], "connection_ack");
    send(&mut ws, json!({ "id": "1", "type": "start", "payload": { "query": "{ doctors(first: 1) { edges { cursor } } }" } })).await;
    let v = next(&mut ws).await.expect("data");
    assert_eq!(v["type"], "data", "{v}");
    assert!(v["payload"]["data"]["doctors"]["edges"].is_array());
}

/// A graphql-transport-ws client that answers nothing, not even pings, is
/// closed with 4408 after two keep-alive periods; one that answers stays.
#[tokio::test]
async fn a_silent_client_is_closed_and_a_responsive_one_stays() {
    let app = spawn_app().await;
    let (token, _) = app.patient("silent@example.com").await;
    let mut config = app.config.clone();
    // Pings every 0.5 s; silence for 1 s closes. Wide enough for a busy machine.
    config.ws_keepalive_ms = 500;
    let quick = crate::helpers::spawn_app_with(crate::helpers::Options {
        same_backends_as: Some(config),
        ..Default::default()
    })
    .await;
    let mut responsive = crate::messaging::ws_init(&quick, &token).await;
    let mut silent = crate::messaging::ws_init(&quick, &token).await;
    let keep_answering = async {
        let until = tokio::time::Instant::now() + Duration::from_millis(3000);
        let mut pongs = 0;
        while let Ok(msg) = tokio::time::timeout_at(until, responsive.next()).await {
            match msg {
                Some(Ok(Message::Text(t))) if t.contains("\"ping\"") => {
                    responsive
                        .send(Message::Text(json!({ "type": "pong" }).to_string()))
                        .await
                        .expect("pong");
                    pongs += 1;
                }
                Some(Ok(Message::Text(_))) => {}
                other => panic!("the responsive client lost its connection: {other:?}"),
            }
        }
        pongs
    };
    let closed = async {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), silent.next())
                .await
                .expect("closed within 5 s")
            {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason)
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    };
    let (pongs, (code, reason)) = tokio::join!(keep_answering, closed);
    assert_eq!(code, 4408, "{reason}");
    assert!(pongs >= 3, "the server kept pinging ({pongs})");
}
