//! Chat: store-then-publish, idempotent sends, lossless resume, receipts,
//! the exact graphql-transport-ws protocol, and delivery across instances.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest, protocol::frame::coding::CloseCode, Message,
};

use crate::helpers::{real_services, spawn_app, spawn_app_with, Options, TestApp};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const SEND: &str =
    "mutation($i: SendMessageInput!) { sendMessage(input: $i) { id seq kind text clientId } }";
const CONVERSATIONS: &str = "{ conversations { edges { node { id lastSeq unreadCount lastReadSeq otherLastReadSeq closed lastMessage { seq text } doctor { id } } } } }";

/// A doctor and a patient with an active link and its conversation.
pub struct Chat {
    pub app: TestApp,
    pub doctor: String,
    pub patient: String,
    pub link: String,
    pub conversation: String,
}

pub async fn chat_on(app: TestApp, tag: &str) -> Chat {
    let (doctor, doctor_id) = app
        .doctor(&format!("doc-{tag}@example.com"), "Cardiology")
        .await;
    let (patient, _) = app.patient(&format!("pat-{tag}@example.com")).await;
    let link = app.care_link(&patient, &doctor, &doctor_id).await;
    let c = app.gql(Some(&patient), CONVERSATIONS, json!({})).await;
    let conversation = c
        .data("conversations.edges.0.node.id")
        .as_str()
        .expect("conversation")
        .to_owned();
    Chat {
        app,
        doctor,
        patient,
        link,
        conversation,
    }
}

async fn chat() -> Chat {
    chat_on(spawn_app().await, "a").await
}

pub async fn send_text(
    app: &TestApp,
    token: &str,
    conversation: &str,
    client_id: &str,
    text: &str,
) -> Value {
    let r = app
        .gql(Some(token), SEND, json!({ "i": { "conversationId": conversation, "clientId": client_id, "kind": "TEXT", "text": text } }))
        .await;
    r.data("sendMessage").clone()
}

pub async fn ws_connect(app: &TestApp, protocol: &str) -> Ws {
    let mut req = app.ws_url().into_client_request().expect("request");
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().expect("header"));
    tokio_tungstenite::connect_async(req)
        .await
        .expect("connect")
        .0
}

pub async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string())).await.expect("send");
}

/// The next protocol message other than a server ping; panics after 10 s.
pub async fn ws_next(ws: &mut Ws) -> Result<Value, Option<(u16, String)>> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s");
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["type"] == "ping" {
                    continue;
                }
                return Ok(v);
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

pub async fn ws_init(app: &TestApp, token: &str) -> Ws {
    let mut ws = ws_connect(app, "graphql-transport-ws").await;
    ws_send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(
        ws_next(&mut ws).await.expect("ack")["type"],
        "connection_ack"
    );
    ws
}

/// Subscribes to messageAdded and returns the socket.
pub async fn subscribe_messages(
    app: &TestApp,
    token: &str,
    conversation: Option<&str>,
    after_seq: Option<i64>,
) -> Ws {
    let mut ws = ws_init(app, token).await;
    let q = "subscription($c: ID, $a: Int) { messageAdded(conversationId: $c, afterSeq: $a) { seq text conversationId } }";
    ws_send(&mut ws, json!({ "id": "m", "type": "subscribe", "payload": { "query": q, "variables": { "c": conversation, "a": after_seq } } })).await;
    ws
}

/// Collects `n` messageAdded payloads.
pub async fn collect(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let v = ws_next(ws)
            .await
            .unwrap_or_else(|c| panic!("closed {c:?} after {} of {n}", out.len()));
        assert_eq!(v["type"], "next", "{v}");
        out.push(v["payload"]["data"]["messageAdded"].clone());
    }
    out
}

fn seqs(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

#[tokio::test]
async fn messages_are_stored_numbered_and_idempotent() {
    let c = chat().await;
    let app = &c.app;
    let m1 = send_text(app, &c.patient, &c.conversation, "c1", "hello doctor").await;
    assert_eq!(m1["seq"], 1);
    // A retry with the same clientId returns the same message.
    let again = send_text(app, &c.patient, &c.conversation, "c1", "hello doctor").await;
    assert_eq!(again, m1);
    let differs = app
        .gql(Some(&c.patient), SEND, json!({ "i": { "conversationId": c.conversation, "clientId": "c1", "kind": "TEXT", "text": "other" } }))
        .await;
    assert_eq!(differs.code(), "CONFLICT");
    let m2 = send_text(app, &c.doctor, &c.conversation, "c1", "hello patient").await;
    assert_eq!(m2["seq"], 2, "client ids are per sender");
    // Concurrent sends get distinct, gap-free seqs.
    let sends = (0..10).map(|i| {
        let (app, t, conv) = (app, c.patient.clone(), c.conversation.clone());
        async move { send_text(app, &t, &conv, &format!("p{i}"), &format!("m{i}")).await }
    });
    let mut got: Vec<i64> = futures_util::future::join_all(sends)
        .await
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect();
    got.sort_unstable();
    assert_eq!(got, (3..=12).collect::<Vec<_>>());
    let page = app
        .gql(Some(&c.doctor), "query($c: ID!) { messages(conversationId: $c, last: 5) { edges { node { seq } } pageInfo { hasPreviousPage } } }", json!({ "c": c.conversation }))
        .await;
    let edges = page
        .data("messages.edges")
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(
        edges
            .iter()
            .map(|e| e["node"]["seq"].as_i64().unwrap_or(0))
            .collect::<Vec<_>>(),
        vec![8, 9, 10, 11, 12]
    );
    assert_eq!(page.data("messages.pageInfo.hasPreviousPage"), true);
    let fwd = app
        .gql(Some(&c.doctor), "query($c: ID!) { messages(conversationId: $c, first: 3, after: null) { edges { node { seq } } } }", json!({ "c": c.conversation }))
        .await;
    assert_eq!(fwd.data("messages.edges.2.node.seq"), 3);
    let list = app.gql(Some(&c.doctor), CONVERSATIONS, json!({})).await;
    assert_eq!(list.data("conversations.edges.0.node.lastSeq"), 12);
    assert_eq!(list.data("conversations.edges.0.node.unreadCount"), 12);
    assert_eq!(list.data("conversations.edges.0.node.lastMessage.seq"), 12);
}

#[tokio::test]
async fn bad_messages_are_refused() {
    let c = chat().await;
    let app = &c.app;
    let (stranger, _) = app.patient("stranger@example.com").await;
    let send = |token: String, input: Value| async move {
        app.gql(Some(&token), SEND, json!({ "i": input }))
            .await
            .code()
            .to_owned()
    };
    let conv = c.conversation.clone();
    assert_eq!(
        send(
            c.patient.clone(),
            json!({ "conversationId": conv, "clientId": "x", "kind": "TEXT", "text": "  " })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(send(c.patient.clone(), json!({ "conversationId": conv, "clientId": "x", "kind": "TEXT", "text": "x".repeat(4001) })).await, "BAD_USER_INPUT");
    assert_eq!(
        send(
            c.patient.clone(),
            json!({ "conversationId": conv, "clientId": "x", "kind": "SHOUT", "text": "x" })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        send(
            c.patient.clone(),
            json!({ "conversationId": conv, "clientId": "", "kind": "TEXT", "text": "x" })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        send(
            c.patient.clone(),
            json!({ "conversationId": conv, "clientId": "x", "kind": "IMAGE", "fileId": "5" })
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(send(c.patient.clone(), json!({ "conversationId": conv, "clientId": "x", "kind": "CASE", "caseDocumentId": "ffffffffffffffffffffffff" })).await, "NOT_FOUND");
    assert_eq!(
        send(
            stranger.clone(),
            json!({ "conversationId": conv, "clientId": "x", "kind": "TEXT", "text": "hi" })
        )
        .await,
        "NOT_FOUND"
    );
    let read = |token: String, seq: i64| {
        let conv = c.conversation.clone();
        async move {
            app.gql(Some(&token), "mutation($c: ID!, $s: Int!) { markRead(conversationId: $c, seq: $s) { lastReadSeq } }", json!({ "c": conv, "s": seq })).await
        }
    };
    send_text(app, &c.patient, &c.conversation, "a", "one").await;
    send_text(app, &c.patient, &c.conversation, "b", "two").await;
    assert_eq!(read(c.doctor.clone(), 3).await.code(), "BAD_USER_INPUT");
    assert_eq!(
        read(c.doctor.clone(), 2).await.data("markRead.lastReadSeq"),
        2
    );
    assert_eq!(
        read(c.doctor.clone(), 1).await.data("markRead.lastReadSeq"),
        2,
        "markers never move back"
    );
    assert_eq!(read(stranger, 1).await.code(), "NOT_FOUND");
    // A CASE message with a document of this patient works.
    let pid = app
        .gql(Some(&c.patient), "{ me { id } }", json!({}))
        .await
        .data("me.id")
        .clone();
    let doc = app
        .gql(Some(&c.doctor), "mutation($i: CreateCaseDocumentInput!) { createCaseDocument(input: $i) { id } }", json!({ "i": { "patientId": pid, "kind": "LAB_RESULT", "title": "t", "occurredAt": "2026-01-01T00:00:00Z", "content": {} } }))
        .await;
    let doc_id = doc.data("createCaseDocument.id").clone();
    let r = app.gql(Some(&c.doctor), SEND, json!({ "i": { "conversationId": c.conversation, "clientId": "case", "kind": "CASE", "caseDocumentId": doc_id } })).await;
    assert_eq!(r.data("sendMessage.kind"), "CASE");
}

#[tokio::test]
async fn resume_after_seq_is_lossless_ordered_and_exactly_once() {
    let c = chat().await;
    for i in 1..=5 {
        send_text(
            &c.app,
            &c.patient,
            &c.conversation,
            &format!("b{i}"),
            &format!("backlog {i}"),
        )
        .await;
    }
    let mut ws = subscribe_messages(&c.app, &c.doctor, Some(&c.conversation), Some(2)).await;
    // Live messages race with the backlog being read.
    let sender = {
        let (app_url, token, conv) = (
            c.app.url("/graphql"),
            c.patient.clone(),
            c.conversation.clone(),
        );
        let client = c.app.client.clone();
        tokio::spawn(async move {
            for i in 6..=15 {
                let body = json!({ "query": SEND, "variables": { "i": { "conversationId": conv, "clientId": format!("l{i}"), "kind": "TEXT", "text": format!("live {i}") } } });
                client
                    .post(&app_url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
            }
        })
    };
    let got = collect(&mut ws, 13).await;
    sender.await.expect("sender");
    assert_eq!(seqs(&got), (3..=15).collect::<Vec<_>>());
    // Nothing more (no duplicates) arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), ws_next(&mut ws))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_dashboard_subscription_sees_every_conversation() {
    let app = spawn_app().await;
    let (doctor, doctor_id) = app.doctor("dash@example.com", "Cardiology").await;
    let mut patients = Vec::new();
    for i in 0..3 {
        let (p, _) = app.patient(&format!("dp{i}@example.com")).await;
        app.care_link(&p, &doctor, &doctor_id).await;
        let conv = app
            .gql(Some(&p), CONVERSATIONS, json!({}))
            .await
            .data("conversations.edges.0.node.id")
            .as_str()
            .expect("id")
            .to_owned();
        patients.push((p, conv));
    }
    let mut ws = subscribe_messages(&app, &doctor, None, None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (i, (p, conv)) in patients.iter().enumerate() {
        send_text(&app, p, conv, "x", &format!("from {i}")).await;
    }
    let got = collect(&mut ws, 3).await;
    let mut convs: Vec<String> = got
        .iter()
        .map(|m| m["conversationId"].as_str().expect("c").to_owned())
        .collect();
    convs.sort();
    let mut want: Vec<String> = patients.iter().map(|(_, c)| c.clone()).collect();
    want.sort();
    assert_eq!(convs, want);
}

#[tokio::test]
async fn ending_the_link_closes_the_conversation_and_its_stream() {
    let c = chat().await;
    send_text(&c.app, &c.patient, &c.conversation, "1", "before").await;
    let mut ws = subscribe_messages(&c.app, &c.doctor, Some(&c.conversation), Some(0)).await;
    assert_eq!(seqs(&collect(&mut ws, 1).await), vec![1]);
    c.app
        .gql(
            Some(&c.patient),
            "mutation($id: ID!) { endCareLink(id: $id) { id } }",
            json!({ "id": c.link }),
        )
        .await
        .data("endCareLink");
    let done = ws_next(&mut ws).await.expect("complete");
    assert_eq!(done["type"], "complete", "{done}");
    let r = c.app.gql(Some(&c.patient), SEND, json!({ "i": { "conversationId": c.conversation, "clientId": "2", "kind": "TEXT", "text": "after" } })).await;
    assert_eq!(r.code(), "FORBIDDEN");
    let history = c
        .app
        .gql(
            Some(&c.doctor),
            "query($c: ID!) { messages(conversationId: $c) { edges { node { text } } } }",
            json!({ "c": c.conversation }),
        )
        .await;
    assert_eq!(
        history.data("messages.edges.0.node.text"),
        "before",
        "history stays readable"
    );
}

#[tokio::test]
async fn read_receipts_and_typing_reach_the_other_member() {
    let c = chat().await;
    send_text(&c.app, &c.patient, &c.conversation, "1", "hi").await;
    let mut ws = ws_init(&c.app, &c.patient).await;
    let q =
        "subscription($c: ID) { conversationEvents(conversationId: $c) { kind seq accountId } }";
    ws_send(&mut ws, json!({ "id": "e", "type": "subscribe", "payload": { "query": q, "variables": { "c": c.conversation } } })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.app
        .gql(
            Some(&c.doctor),
            "mutation($c: ID!) { typing(conversationId: $c) }",
            json!({ "c": c.conversation }),
        )
        .await
        .data("typing");
    c.app
        .gql(
            Some(&c.doctor),
            "mutation($c: ID!) { markRead(conversationId: $c, seq: 1) { id } }",
            json!({ "c": c.conversation }),
        )
        .await
        .data("markRead");
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let v = ws_next(&mut ws).await.expect("event");
        kinds.push(
            v["payload"]["data"]["conversationEvents"]["kind"]
                .as_str()
                .expect("kind")
                .to_owned(),
        );
    }
    kinds.sort();
    assert_eq!(kinds, vec!["READ", "TYPING"]);
    let list = c.app.gql(Some(&c.patient), CONVERSATIONS, json!({})).await;
    assert_eq!(list.data("conversations.edges.0.node.otherLastReadSeq"), 1);
}

#[tokio::test]
async fn graphql_transport_ws_close_codes() {
    let app = spawn_app().await;
    let mut config = Some(app.config.clone());
    let (token, _) = app.patient("ws@example.com").await;
    let code = |r: Result<Value, Option<(u16, String)>>| match r {
        Err(Some((code, _))) => code,
        other => panic!("expected a close, got {other:?}"),
    };
    // 4400: not a protocol message.
    let mut ws = ws_connect(&app, "graphql-transport-ws").await;
    ws_send(&mut ws, json!({ "type": "hello" })).await;
    assert_eq!(code(ws_next(&mut ws).await), 4400);
    // 4401: subscribe before the ack.
    let mut ws = ws_connect(&app, "graphql-transport-ws").await;
    ws_send(&mut ws, json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { accountEvents { kind } }" } })).await;
    assert_eq!(code(ws_next(&mut ws).await), 4401);
    // 4403: a bad token.
    let mut ws = ws_connect(&app, "graphql-transport-ws").await;
    ws_send(
        &mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer dsk_nope" } }),
    )
    .await;
    assert_eq!(code(ws_next(&mut ws).await), 4403);
    // 4429: a second connection_init.
    let mut ws = ws_init(&app, &token).await;
    ws_send(&mut ws, json!({ "type": "connection_init" })).await;
    assert_eq!(code(ws_next(&mut ws).await), 4429);
    // 4409: a duplicate subscription id.
    let mut ws = ws_init(&app, &token).await;
    let sub = json!({ "id": "dup", "type": "subscribe", "payload": { "query": "subscription { accountEvents { kind } }" } });
    ws_send(&mut ws, sub.clone()).await;
    ws_send(&mut ws, sub).await;
    assert_eq!(code(ws_next(&mut ws).await), 4409);
    // ping → pong; a validation failure is an `error` message.
    let mut ws = ws_init(&app, &token).await;
    ws_send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(ws_next(&mut ws).await.expect("pong")["type"], "pong");
    ws_send(&mut ws, json!({ "id": "bad", "type": "subscribe", "payload": { "query": "subscription { nope }" } })).await;
    let e = ws_next(&mut ws).await.expect("error");
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // 4408: no connection_init in time, and the server pings idle sockets.
    let mut cfg = config.take().expect("config");
    cfg.ws_init_timeout_ms = 300;
    cfg.ws_keepalive_ms = 100;
    let quick = spawn_app_with(Options {
        same_backends_as: Some(cfg),
        ..Default::default()
    })
    .await;
    let mut ws = ws_connect(&quick, "graphql-transport-ws").await;
    let mut saw_ping = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Text(t))) => saw_ping |= t.contains("\"ping\""),
            Some(Ok(Message::Close(Some(f)))) => {
                assert_eq!(f.code, CloseCode::from(4408));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_ping, "the server pings idle connections");
}

/// Two instances on one database and one Redis: what is sent through B
/// reaches a subscriber on A, in order; and nothing is lost when Redis
/// restarts mid-stream.
#[tokio::test]
async fn across_instances_and_a_redis_restart() {
    if !real_services() {
        eprintln!("across_instances_and_a_redis_restart needs shared MariaDB and Redis (the real-services run)");
        return;
    }
    let guard = crate::helpers::exclusive_services().await;
    let a = crate::helpers::spawn_app_guarded(Options::default(), Some(guard)).await;
    let b = spawn_app_with(Options {
        same_backends_as: Some(a.config.clone()),
        ..Default::default()
    })
    .await;
    let c = chat_on(a, "x").await;
    let mut ws = subscribe_messages(&c.app, &c.doctor, Some(&c.conversation), Some(0)).await;
    for i in 1..=10 {
        send_text(
            &b,
            &c.patient,
            &c.conversation,
            &format!("b{i}"),
            &format!("via b {i}"),
        )
        .await;
    }
    assert_eq!(
        seqs(&collect(&mut ws, 10).await),
        (1..=10).collect::<Vec<_>>()
    );
    {
        let _down = crate::helpers::Stopped::new("redis");
        for i in 11..=15 {
            // Stored even though nothing can be published.
            send_text(
                &b,
                &c.patient,
                &c.conversation,
                &format!("b{i}"),
                &format!("redis down {i}"),
            )
            .await;
        }
    }
    for i in 16..=20 {
        send_text(
            &b,
            &c.patient,
            &c.conversation,
            &format!("b{i}"),
            &format!("after restart {i}"),
        )
        .await;
    }
    let got = collect(&mut ws, 10).await;
    assert_eq!(seqs(&got), (11..=20).collect::<Vec<_>>());
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), ws_next(&mut ws))
            .await
            .is_err(),
        "no duplicates"
    );
}
