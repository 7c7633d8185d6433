//! The production shape: two instances on one MariaDB primary/replica and one
//! Redis behind Debian's nginx running docker/nginx/drseek.conf (ports
//! templated by scripts/nginx.sh). Real services only.
use std::{
    collections::{BTreeSet, HashSet},
    time::Duration,
};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest as _, Message};

use crate::helpers::{real_services, shared_services, spawn_app_guarded, Options, TestApp};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An nginx started by scripts/nginx.sh in front of the given ports; stopped on drop.
struct Nginx {
    dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    fn start(upstreams: &[u16]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut args = vec![
            "scripts/nginx.sh".to_owned(),
            "start".into(),
            dir.path().display().to_string(),
            port.to_string(),
        ];
        args.extend(upstreams.iter().map(u16::to_string));
        let out = std::process::Command::new("bash")
            .args(&args)
            .output()
            .expect("run scripts/nginx.sh");
        assert!(
            out.status.success(),
            "nginx did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .args([
                "scripts/nginx.sh",
                "stop",
                &self.dir.path().display().to_string(),
            ])
            .output();
    }
}

/// A client of the deployment: every call goes through nginx and notes which
/// instance answered.
struct Front<'a> {
    nginx: &'a Nginx,
    client: reqwest::Client,
    served: HashSet<String>,
}

impl Front<'_> {
    /// One GraphQL call; a 502/503 (the instance went away mid-request) is
    /// retried as a client would, which is safe for mutations with client ids.
    async fn gql(&mut self, token: Option<&str>, query: &str, vars: Value) -> Value {
        for _ in 0..50 {
            let mut req = self
                .client
                .post(self.nginx.url("/graphql"))
                .json(&json!({ "query": query, "variables": vars }));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.expect("request through nginx");
            if matches!(resp.status().as_u16(), 502..=504) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if let Some(i) = resp.headers().get("x-drseek-instance") {
                self.served.insert(i.to_str().expect("ascii").to_owned());
            }
            let body: Value = resp.json().await.expect("json");
            assert!(body.get("errors").is_none(), "{query}: {body}");
            return body["data"].clone();
        }
        panic!("nginx kept answering 5xx for {query}");
    }
}

/// A subscriber to one conversation through nginx, resuming after what it has.
struct Subscriber {
    token: String,
    ws: Option<Ws>,
    /// The instance serving the current connection.
    instance: String,
    seqs: Vec<i64>,
    reconnects: usize,
}

impl Subscriber {
    async fn connect(nginx: &Nginx, token: &str, conversation: &str, after: i64) -> (Ws, String) {
        for _ in 0..50 {
            let mut req = format!("ws://127.0.0.1:{}/ws", nginx.port)
                .into_client_request()
                .expect("request");
            req.headers_mut().insert(
                "sec-websocket-protocol",
                "graphql-transport-ws".parse().expect("header"),
            );
            let Ok((mut ws, resp)) = tokio_tungstenite::connect_async(req).await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let instance = resp
                .headers()
                .get("x-drseek-instance")
                .and_then(|v| v.to_str().ok())
                .expect("instance header on the upgrade")
                .to_owned();
            let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
            ws.send(Message::Text(init.to_string()))
                .await
                .expect("init");
            let q = "subscription($c: ID, $a: Int) { messageAdded(conversationId: $c, afterSeq: $a) { seq text } }";
            let sub = json!({ "id": "m", "type": "subscribe", "payload": { "query": q, "variables": { "c": conversation, "a": after } } });
            ws.send(Message::Text(sub.to_string()))
                .await
                .expect("subscribe");
            return (ws, instance);
        }
        panic!("could not open a WebSocket through nginx");
    }

    /// Reads until it has `n` messages, reconnecting (with `afterSeq`) when
    /// the server closes the connection.
    async fn collect(&mut self, nginx: &Nginx, conversation: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.seqs.len() < n {
            let ws = match &mut self.ws {
                Some(ws) => ws,
                None => {
                    let after = self.seqs.last().copied().unwrap_or(0);
                    let (ws, instance) =
                        Self::connect(nginx, &self.token, conversation, after).await;
                    self.instance = instance;
                    self.reconnects += 1;
                    self.ws.insert(ws)
                }
            };
            let msg = tokio::time::timeout_at(deadline, ws.next())
                .await
                .unwrap_or_else(|_| panic!("only {:?} of {n} messages in 30 s", self.seqs));
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    match v["type"].as_str() {
                        Some("next") => self.seqs.push(
                            v["payload"]["data"]["messageAdded"]["seq"]
                                .as_i64()
                                .expect("seq"),
                        ),
                        Some("ping") => {
                            let pong = json!({ "type": "pong" }).to_string();
                            let _ = ws.send(Message::Text(pong)).await;
                        }
                        Some("connection_ack" | "pong") => {}
                        _ => panic!("unexpected {v}"),
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => self.ws = None,
                Some(Ok(_)) => {}
            }
        }
    }
}

async fn instance_of(app: &TestApp) -> String {
    app.client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz")
        .headers()["x-drseek-instance"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn two_instances_behind_nginx_lose_nothing_when_one_stops() {
    if !real_services() {
        eprintln!("runs with the real services (nginx, MariaDB, Redis): scripts/test.sh real");
        return;
    }
    let a = spawn_app_guarded(Options::default(), Some(shared_services().await)).await;
    let mut b = spawn_app_guarded(
        Options {
            same_backends_as: Some(a.config.clone()),
            ..Default::default()
        },
        None,
    )
    .await;
    let (ia, ib) = (instance_of(&a).await, instance_of(&b).await);
    assert_ne!(ia, ib);
    let nginx = Nginx::start(&[a.port, b.port]);
    let mut front = Front {
        nginx: &nginx,
        client: reqwest::Client::new(),
        served: HashSet::new(),
    };

    let register = |role: &str, login: &str| {
        let extra = if role == "Doctor" {
            r#", title: "Attending", department: "Cardiology", hospital: "Test General", specialties: ["heart"], bio: """#
        } else {
            ""
        };
        format!(
            r#"mutation {{ register{role}(input: {{ login: "{login}", password: "correct-horse-1", name: "{login}"{extra} }}) {{ token account {{ id }} }} }}"#
        )
    };
    let d = front
        .gql(
            None,
            &register("Doctor", "nginx-doc@example.com"),
            json!({}),
        )
        .await;
    let (doctor, doctor_id) = (
        d["registerDoctor"]["token"]
            .as_str()
            .expect("token")
            .to_owned(),
        d["registerDoctor"]["account"]["id"].clone(),
    );
    let p = front
        .gql(
            None,
            &register("Patient", "nginx-pat@example.com"),
            json!({}),
        )
        .await;
    let patient = p["registerPatient"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let link = front
        .gql(
            Some(&patient),
            "mutation($d: ID!) { requestCareLink(doctorId: $d) { id } }",
            json!({ "d": doctor_id }),
        )
        .await["requestCareLink"]["id"]
        .clone();
    front
        .gql(
            Some(&doctor),
            "mutation($id: ID!) { respondCareLink(id: $id, accept: true) { id } }",
            json!({ "id": link }),
        )
        .await;
    let conversation = front
        .gql(
            Some(&patient),
            "{ conversations { edges { node { id } } } }",
            json!({}),
        )
        .await["conversations"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("conversation")
        .to_owned();

    // Subscribers through nginx until both instances hold some.
    let mut subscribers: Vec<Subscriber> = Vec::new();
    for i in 0..8 {
        let token = if i % 2 == 0 { &doctor } else { &patient };
        let (ws, instance) = Subscriber::connect(&nginx, token, &conversation, 0).await;
        subscribers.push(Subscriber {
            token: token.clone(),
            ws: Some(ws),
            instance,
            seqs: Vec::new(),
            reconnects: 0,
        });
        let on: BTreeSet<&str> = subscribers.iter().map(|s| s.instance.as_str()).collect();
        if subscribers.len() >= 4 && on.len() == 2 {
            break;
        }
    }
    let on: BTreeSet<&str> = subscribers.iter().map(|s| s.instance.as_str()).collect();
    assert_eq!(
        on,
        BTreeSet::from([ia.as_str(), ib.as_str()]),
        "subscriptions on both instances"
    );

    let send = |k: usize| json!({ "i": { "conversationId": conversation, "clientId": format!("c{k}"), "kind": "TEXT", "text": format!("m{k}") } });
    const SEND: &str = "mutation($i: SendMessageInput!) { sendMessage(input: $i) { seq } }";
    for k in 1..=10 {
        let token = if k % 2 == 0 { &doctor } else { &patient };
        let seq = front.gql(Some(token), SEND, send(k)).await["sendMessage"]["seq"].clone();
        assert_eq!(seq, json!(k));
    }
    assert_eq!(
        front.served,
        HashSet::from([ia.clone(), ib.clone()]),
        "requests served by both instances"
    );
    for s in &mut subscribers {
        s.collect(&nginx, &conversation, 10).await;
        assert_eq!(
            s.seqs,
            (1..=10).collect::<Vec<_>>(),
            "every message once, in order"
        );
    }

    // Instance B goes away (SIGTERM): its WebSockets close with 1001, clients
    // reconnect through nginx, land on A and resume after their last seq.
    b.stop();
    for k in 11..=20 {
        let token = if k % 2 == 0 { &doctor } else { &patient };
        let seq = front.gql(Some(token), SEND, send(k)).await["sendMessage"]["seq"].clone();
        assert_eq!(seq, json!(k));
    }
    for s in &mut subscribers {
        let was = s.instance.clone();
        s.collect(&nginx, &conversation, 20).await;
        assert_eq!(
            s.seqs,
            (1..=20).collect::<Vec<_>>(),
            "nothing lost or repeated across the failover"
        );
        if was == ib {
            assert!(s.reconnects >= 1, "a subscriber on B reconnected");
            assert_eq!(s.instance, ia, "and is now served by A");
        }
    }
    // And the deployment keeps answering through nginx.
    let r = front.gql(Some(&patient), "{ me { id } }", json!({})).await;
    assert!(r["me"]["id"].is_string());
}

/// nginx refuses what drseek would refuse, and more: bodies over the limits
/// and clients that trickle their headers.
#[tokio::test]
async fn nginx_refuses_oversized_and_trickled_requests() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    if !real_services() {
        eprintln!("runs with the real services (nginx): scripts/test.sh real");
        return;
    }
    let app = spawn_app_guarded(Options::default(), Some(shared_services().await)).await;
    let nginx = Nginx::start(&[app.port]);
    let client = reqwest::Client::new();

    // A declared 200 MB upload: refused by nginx before any byte of the body.
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", nginx.port))
        .await
        .expect("connect");
    socket
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: drseek\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 200000000\r\n\r\n")
        .await
        .expect("write");
    let mut head = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut head))
        .await
        .expect("an answer")
        .expect("read");
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // 2 MiB of JSON: nginx lets it through to /graphql, drseek refuses it.
    let big = json!({ "query": "{ __typename }", "pad": "x".repeat(2 << 20) });
    let r = client
        .post(nginx.url("/graphql"))
        .json(&big)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    assert!(
        r.headers().contains_key("x-drseek-instance"),
        "drseek answered"
    );
    // Elsewhere nginx's own 1 MiB limit answers.
    let r = client
        .post(nginx.url("/"))
        .body(vec![b'x'; 2 << 20])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    assert!(
        !r.headers().contains_key("x-drseek-instance"),
        "nginx answered"
    );

    // Slowloris: a header line every second never completes the request;
    // nginx's client_header_timeout (10 s) ends it.
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", nginx.port))
        .await
        .expect("connect");
    socket
        .write_all(b"GET /graphql?query=%7B__typename%7D HTTP/1.1\r\nHost: drseek\r\n")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut ended = false;
    for i in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if socket
            .write_all(format!("X-Trickle-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            ended = true;
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(10), socket.read(&mut buf)).await
        {
            // 408 or a plain close: either way the request is over.
            let _ = r;
            ended = true;
            break;
        }
    }
    assert!(ended, "nginx kept a trickling client for 30 s");
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "ended early: {:?}",
        started.elapsed()
    );
    // The instance never saw it and still serves.
    let r = client
        .get(nginx.url("/graphql?query=%7B__typename%7D"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}
