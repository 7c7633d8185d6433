//! The `graphql-transport-ws` protocol (enisdenjo/graphql-ws PROTOCOL.md),
//! implemented here because async-graphql's handler closes with the wrong
//! codes (1002 instead of 4403/4400, 1011 instead of 4401), has no 4408 and
//! lets a duplicate id replace a running stream.
//!
//! | event                                        | server does                      |
//! |----------------------------------------------|----------------------------------|
//! | no `connection_init` within the timeout      | close 4408                       |
//! | `connection_init` with a bad token           | close 4403                       |
//! | a second `connection_init`                   | close 4429                       |
//! | `subscribe` before `connection_ack`          | close 4401                       |
//! | `subscribe` with an id already running       | close 4409                       |
//! | a message that is not valid protocol         | close 4400                       |
//! | `ping`                                       | `pong`                           |
//! | idle connection                              | `ping` every keep-alive interval |
use std::{collections::HashMap, time::Duration};

use async_graphql::{Data, Request as GqlRequest, Variables};
use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocketStream};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::{sync::mpsc, task::JoinHandle};

use super::SharedState;
use crate::auth::Viewer;

pub const PROTOCOL: &str = "graphql-transport-ws";

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        payload: Option<Value>,
    },
    Ping {
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Pong {
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    Complete {
        id: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribePayload {
    query: String,
    operation_name: Option<String>,
    variables: Option<Value>,
    extensions: Option<serde_json::Map<String, Value>>,
}

enum Out {
    Text(String),
    Close(u16, &'static str),
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some((CloseCode::from(code), reason.to_owned())))
}

/// Serves one connection until either side closes it.
pub async fn serve(
    socket: WebSocketStream,
    state: SharedState,
    init_timeout: Duration,
    keepalive: Duration,
) {
    let (mut sink, mut source) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Out>(256);
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let (msg, last) = match out {
                Out::Text(t) => (Message::Text(t), false),
                Out::Close(code, reason) => (close(code, reason), true),
            };
            if sink.send(msg).await.is_err() || last {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut session = Session {
        state,
        tx,
        viewer: None,
        init_seen: false,
        running: HashMap::new(),
    };
    let deadline = tokio::time::sleep(init_timeout);
    tokio::pin!(deadline);
    let mut ping = tokio::time::interval(keepalive);
    ping.reset();
    let mut shutdown = session.state.shutdown.clone();
    // A client that answers nothing for two keep-alive periods (not even our
    // pings) is gone: a dead network path, or a peer that stopped reading.
    let mut last_heard = tokio::time::Instant::now();
    metrics::gauge!("drseek_ws_connections").increment(1.0);
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                session.close(1001, "Server shutting down").await;
                break;
            }
            () = &mut deadline, if session.viewer.is_none() => {
                session.close(4408, "Connection initialisation timeout").await;
                break;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > keepalive * 2 {
                    session.close(4408, "Pong timeout").await;
                    break;
                }
                if session.send(json!({ "type": "ping" })).await.is_err() {
                    break;
                }
            }
            incoming = source.next() => {
                last_heard = tokio::time::Instant::now();
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(b))) => match String::from_utf8(b) {
                        Ok(t) => t,
                        Err(_) => { session.close(4400, "Invalid message").await; break; }
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                if !session.handle(&text).await {
                    break;
                }
            }
        }
    }
    metrics::gauge!("drseek_ws_connections").decrement(1.0);
    for (_, task) in session.running.drain() {
        task.abort();
    }
    drop(session);
    let _ = writer.await;
}

/// Counts a running subscription until its task ends or is aborted.
struct ActiveSubscription;

impl Drop for ActiveSubscription {
    fn drop(&mut self) {
        metrics::gauge!("drseek_subscriptions").decrement(1.0);
    }
}

struct Session {
    state: SharedState,
    tx: mpsc::Sender<Out>,
    /// Set once `connection_init` was accepted.
    viewer: Option<Viewer>,
    init_seen: bool,
    running: HashMap<String, JoinHandle<()>>,
}

impl Session {
    async fn send(&self, v: Value) -> Result<(), ()> {
        self.tx.send(Out::Text(v.to_string())).await.map_err(drop)
    }

    async fn close(&self, code: u16, reason: &'static str) {
        let _ = self.tx.send(Out::Close(code, reason)).await;
    }

    /// Handles one client message; false when the connection must end.
    async fn handle(&mut self, text: &str) -> bool {
        self.running.retain(|_, t| !t.is_finished());
        let Ok(message) = serde_json::from_str::<ClientMessage>(text) else {
            self.close(4400, "Invalid message").await;
            return false;
        };
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.init_seen {
                    self.close(4429, "Too many initialisation requests").await;
                    return false;
                }
                self.init_seen = true;
                let token = payload.as_ref().and_then(super::ws::payload_token);
                let viewer = self
                    .state
                    .services
                    .accounts
                    .authenticate(token.as_deref())
                    .await;
                if matches!(viewer, Viewer::Rejected) {
                    self.close(4403, "Forbidden").await;
                    return false;
                }
                self.viewer = Some(viewer);
                self.send(json!({ "type": "connection_ack" })).await.is_ok()
            }
            ClientMessage::Ping { .. } => self.send(json!({ "type": "pong" })).await.is_ok(),
            ClientMessage::Pong { .. } => true,
            ClientMessage::Subscribe { id, payload } => {
                let Some(viewer) = self.viewer.clone() else {
                    self.close(4401, "Unauthorized").await;
                    return false;
                };
                if self.running.contains_key(&id) {
                    self.close(4409, "Subscriber for this id already exists")
                        .await;
                    return false;
                }
                let mut request = GqlRequest::new(payload.query);
                if let Some(name) = payload.operation_name {
                    request = request.operation_name(name);
                }
                match payload.variables {
                    None | Some(Value::Null) => {}
                    Some(v @ Value::Object(_)) => {
                        request = request.variables(Variables::from_json(v))
                    }
                    Some(_) => {
                        self.close(4400, "Invalid message").await;
                        return false;
                    }
                }
                for (k, v) in payload.extensions.unwrap_or_default() {
                    if let Ok(v) = async_graphql::Value::from_json(v) {
                        request.extensions.insert(k, v);
                    }
                }
                let mut data = Data::default();
                data.insert(crate::loader::Loaders::for_connection(
                    &self.state.services.stores,
                    &viewer,
                ));
                data.insert(viewer);
                let stream = self
                    .state
                    .schema
                    .execute_stream_with_session_data(request, std::sync::Arc::new(data));
                let tx = self.tx.clone();
                let task_id = id.clone();
                let task = tokio::spawn(async move {
                    metrics::gauge!("drseek_subscriptions").increment(1.0);
                    let _active = ActiveSubscription;
                    futures_util::pin_mut!(stream);
                    let mut first = true;
                    while let Some(response) = stream.next().await {
                        // A request that never started (parse, validation) is an `error`.
                        let request_error = first
                            && !response.errors.is_empty()
                            && response.data == async_graphql::Value::Null
                            && response.errors.iter().all(|e| e.path.is_empty());
                        first = false;
                        let msg = if request_error {
                            json!({ "id": task_id, "type": "error", "payload": response.errors })
                        } else {
                            json!({ "id": task_id, "type": "next", "payload": response })
                        };
                        if tx.send(Out::Text(msg.to_string())).await.is_err() || request_error {
                            return;
                        }
                    }
                    let _ = tx
                        .send(Out::Text(
                            json!({ "id": task_id, "type": "complete" }).to_string(),
                        ))
                        .await;
                });
                self.running.insert(id, task);
                true
            }
            ClientMessage::Complete { id } => {
                if let Some(task) = self.running.remove(&id) {
                    task.abort();
                }
                true
            }
        }
    }
}
