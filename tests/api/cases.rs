//! Case history: the access matrix, versions, validation, audit, events.
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

const CREATE: &str = "mutation($i: CreateCaseDocumentInput!) { createCaseDocument(input: $i) { id version kind title content patient { id } authorId } }";
const GET: &str = "query($id: ID!) { caseDocument(id: $id) { id version title content archived } }";
const LIST: &str = "query($p: ID!, $k: [String!], $from: DateTime, $to: DateTime, $f: Int, $a: String, $arch: Boolean) {
  caseDocuments(patientId: $p, kinds: $k, from: $from, to: $to, first: $f, after: $a, includeArchived: $arch) {
    edges { cursor node { id title kind occurredAt } } pageInfo { hasNextPage endCursor } } }";
const UPDATE: &str = "mutation($id: ID!, $v: Int!, $i: UpdateCaseDocumentInput!) { updateCaseDocument(id: $id, expectedVersion: $v, input: $i) { id version title content } }";
const ARCHIVE: &str = "mutation($id: ID!, $v: Int!) { archiveCaseDocument(id: $id, expectedVersion: $v) { version archived } }";
const RESTORE: &str = "mutation($id: ID!, $v: Int!) { restoreCaseDocument(id: $id, expectedVersion: $v) { version archived } }";
const HISTORY: &str =
    "query($id: ID!) { caseDocument(id: $id) { versions { version title content } } }";
const AUDIT: &str =
    "{ auditTrail(first: 100) { edges { node { actorId action documentId outcome } } } }";

struct World {
    app: TestApp,
    patient: String,
    patient_id: String,
    doctor: String,
    doctor_link: String,
    stranger_doctor: String,
    other_patient: String,
}

async fn world() -> World {
    let app = spawn_app().await;
    let (patient, patient_id) = app.patient("pat@example.com").await;
    let (doctor, doctor_id) = app.doctor("doc@example.com", "Oncology").await;
    let (stranger_doctor, _) = app.doctor("stranger@example.com", "Oncology").await;
    let (other_patient, _) = app.patient("other@example.com").await;
    let doctor_link = app.care_link(&patient, &doctor, &doctor_id).await;
    World {
        app,
        patient,
        patient_id,
        doctor,
        doctor_link,
        stranger_doctor,
        other_patient,
    }
}

fn input(patient: &str, kind: &str, title: &str, occurred: &str, content: Value) -> Value {
    json!({ "i": { "patientId": patient, "kind": kind, "title": title, "occurredAt": occurred, "content": content } })
}

async fn create(w: &World, token: &str, kind: &str, title: &str, occurred: &str) -> String {
    let r = w
        .app
        .gql(
            Some(token),
            CREATE,
            input(
                &w.patient_id,
                kind,
                title,
                occurred,
                json!({ "note": title }),
            ),
        )
        .await;
    r.data("createCaseDocument.id")
        .as_str()
        .expect("id")
        .to_owned()
}

async fn audit(w: &World) -> Vec<Value> {
    let r = w.app.gql(Some(&w.patient), AUDIT, json!({})).await;
    r.data("auditTrail.edges")
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn the_access_matrix_with_an_audit_row_for_every_denial() {
    let w = world().await;
    let app = &w.app;
    let doc = create(
        &w,
        &w.doctor,
        "LAB_RESULT",
        "Blood panel",
        "2026-11-01T08:00:00Z",
    )
    .await;
    let note = create(
        &w,
        &w.patient,
        "PATIENT_NOTE",
        "Headache diary",
        "2026-11-02T08:00:00Z",
    )
    .await;

    // Reads: patient and linked doctor yes; others NOT_FOUND; anonymous UNAUTHENTICATED.
    for t in [&w.patient, &w.doctor] {
        assert_eq!(
            app.gql(Some(t), GET, json!({ "id": doc }))
                .await
                .data("caseDocument.id"),
            &json!(doc)
        );
        let list = app.gql(Some(t), LIST, json!({ "p": w.patient_id })).await;
        assert_eq!(
            list.data("caseDocuments.edges").as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            app.gql(Some(t), HISTORY, json!({ "id": doc }))
                .await
                .data("caseDocument.versions"),
            &json!([])
        );
    }
    let before = audit(&w)
        .await
        .iter()
        .filter(|e| e["outcome"] == "DENIED")
        .count();
    let mut denials = 0;
    for t in [&w.stranger_doctor, &w.other_patient] {
        assert_eq!(
            app.gql(Some(t), GET, json!({ "id": doc })).await.code(),
            "NOT_FOUND"
        );
        assert_eq!(
            app.gql(Some(t), LIST, json!({ "p": w.patient_id }))
                .await
                .code(),
            "NOT_FOUND"
        );
        assert_eq!(
            app.gql(Some(t), HISTORY, json!({ "id": doc })).await.code(),
            "NOT_FOUND"
        );
        assert_eq!(
            app.gql(
                Some(t),
                CREATE,
                input(
                    &w.patient_id,
                    "LAB_RESULT",
                    "x",
                    "2026-11-01T08:00:00Z",
                    json!({})
                )
            )
            .await
            .code(),
            "NOT_FOUND"
        );
        assert_eq!(
            app.gql(
                Some(t),
                UPDATE,
                json!({ "id": doc, "v": 1, "i": { "title": "x" } })
            )
            .await
            .code(),
            "NOT_FOUND"
        );
        assert_eq!(
            app.gql(Some(t), ARCHIVE, json!({ "id": doc, "v": 1 }))
                .await
                .code(),
            "NOT_FOUND"
        );
        denials += 6;
    }
    assert_eq!(
        app.gql(None, GET, json!({ "id": doc })).await.code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.gql(None, LIST, json!({ "p": w.patient_id }))
            .await
            .code(),
        "UNAUTHENTICATED"
    );
    for (q, vars) in [
        (HISTORY, json!({ "id": doc })),
        (UPDATE, json!({ "id": doc, "v": 1, "i": { "title": "x" } })),
        (ARCHIVE, json!({ "id": doc, "v": 1 })),
        (
            CREATE,
            input(
                &w.patient_id,
                "LAB_RESULT",
                "x",
                "2026-11-01T08:00:00Z",
                json!({}),
            ),
        ),
    ] {
        assert_eq!(
            app.gql(None, q, vars).await.code(),
            "UNAUTHENTICATED",
            "anonymous {q:.30}"
        );
    }
    // Only the author changes a document.
    assert_eq!(
        app.gql(
            Some(&w.patient),
            UPDATE,
            json!({ "id": doc, "v": 1, "i": { "title": "x" } })
        )
        .await
        .code(),
        "FORBIDDEN"
    );
    assert_eq!(
        app.gql(
            Some(&w.doctor),
            UPDATE,
            json!({ "id": note, "v": 1, "i": { "title": "x" } })
        )
        .await
        .code(),
        "FORBIDDEN"
    );
    assert_eq!(
        app.gql(Some(&w.patient), ARCHIVE, json!({ "id": doc, "v": 1 }))
            .await
            .code(),
        "FORBIDDEN"
    );
    denials += 3;
    // Kinds: patients write notes only; doctors anything but notes.
    assert_eq!(
        app.gql(
            Some(&w.patient),
            CREATE,
            input(
                &w.patient_id,
                "LAB_RESULT",
                "x",
                "2026-11-01T08:00:00Z",
                json!({})
            )
        )
        .await
        .code(),
        "FORBIDDEN"
    );
    assert_eq!(
        app.gql(
            Some(&w.doctor),
            CREATE,
            input(
                &w.patient_id,
                "PATIENT_NOTE",
                "x",
                "2026-11-01T08:00:00Z",
                json!({})
            )
        )
        .await
        .code(),
        "FORBIDDEN"
    );
    denials += 2;
    let trail = audit(&w).await;
    let denied = trail.iter().filter(|e| e["outcome"] == "DENIED").count();
    // Anonymous attempts on a known document id are recorded against it too (+1 for GET).
    assert!(
        denied >= before + denials,
        "expected at least {} denials, got {denied}: {trail:?}",
        before + denials
    );
    let reads = trail
        .iter()
        .filter(|e| {
            e["outcome"] == "ALLOWED" && e["action"] == "READ" && e["documentId"] == json!(doc)
        })
        .count();
    // Two plain reads and two history queries (which read the document first).
    assert_eq!(reads, 4, "one READ per successful read of the document");
    assert!(trail
        .iter()
        .any(|e| e["action"] == "CREATE" && e["documentId"] == json!(note)));
    assert!(trail.iter().any(|e| e["action"] == "HISTORY"));
    assert!(
        trail.iter().filter(|e| e["action"] == "LIST").count() >= 4,
        "each listed document is audited"
    );
    assert_eq!(
        app.gql(Some(&w.doctor), AUDIT, json!({})).await.code(),
        "FORBIDDEN",
        "doctors cannot read the trail"
    );

    // Ending the link ends the doctor's access.
    app.gql(
        Some(&w.patient),
        "mutation($id: ID!) { endCareLink(id: $id) { id } }",
        json!({ "id": w.doctor_link }),
    )
    .await
    .data("endCareLink");
    assert_eq!(
        app.gql(Some(&w.doctor), GET, json!({ "id": doc }))
            .await
            .code(),
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn versions_conflicts_archive_and_history() {
    let w = world().await;
    let app = &w.app;
    let id = create(
        &w,
        &w.doctor,
        "TREATMENT_REPORT",
        "Plan",
        "2026-10-01T00:00:00Z",
    )
    .await;
    let r = app
        .gql(
            Some(&w.doctor),
            UPDATE,
            json!({ "id": id, "v": 1, "i": { "title": "Plan v2", "content": { "dose": "10mg" } } }),
        )
        .await;
    assert_eq!(r.data("updateCaseDocument.version"), 2);
    // A stale version changes nothing.
    let stale = app
        .gql(
            Some(&w.doctor),
            UPDATE,
            json!({ "id": id, "v": 1, "i": { "title": "lost" } }),
        )
        .await;
    assert_eq!(stale.code(), "CONFLICT");
    assert_eq!(
        app.gql(Some(&w.patient), GET, json!({ "id": id }))
            .await
            .data("caseDocument.title"),
        "Plan v2"
    );
    let a = app
        .gql(Some(&w.doctor), ARCHIVE, json!({ "id": id, "v": 2 }))
        .await;
    assert_eq!(a.data("archiveCaseDocument.archived"), true);
    assert_eq!(
        app.gql(
            Some(&w.doctor),
            UPDATE,
            json!({ "id": id, "v": 3, "i": { "title": "x" } })
        )
        .await
        .code(),
        "CONFLICT",
        "archived documents are not updated"
    );
    let listed = app
        .gql(Some(&w.patient), LIST, json!({ "p": w.patient_id }))
        .await;
    assert_eq!(
        listed.data("caseDocuments.edges"),
        &json!([]),
        "archived are hidden by default"
    );
    let all = app
        .gql(
            Some(&w.patient),
            LIST,
            json!({ "p": w.patient_id, "arch": true }),
        )
        .await;
    assert_eq!(
        all.data("caseDocuments.edges").as_array().map(Vec::len),
        Some(1)
    );
    let r = app
        .gql(Some(&w.doctor), RESTORE, json!({ "id": id, "v": 3 }))
        .await;
    assert_eq!(r.data("restoreCaseDocument.version"), 4);
    let h = app
        .gql(Some(&w.patient), HISTORY, json!({ "id": id }))
        .await;
    let versions = h
        .data("caseDocument.versions")
        .as_array()
        .expect("versions")
        .clone();
    assert_eq!(
        versions
            .iter()
            .map(|v| v["version"].as_i64().unwrap_or(0))
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(versions[0]["title"], "Plan");
    assert_eq!(versions[1]["content"], json!({ "dose": "10mg" }));
}

#[tokio::test]
async fn concurrent_updates_with_the_same_version_let_exactly_one_win() {
    let w = world().await;
    let id = create(
        &w,
        &w.doctor,
        "MEDICAL_RECORD",
        "Record",
        "2026-10-01T00:00:00Z",
    )
    .await;
    let tries = (0..8).map(|i| {
        let app = &w.app;
        let (doctor, id) = (w.doctor.clone(), id.clone());
        async move {
            app.gql(
                Some(&doctor),
                UPDATE,
                json!({ "id": id, "v": 1, "i": { "title": format!("t{i}") } }),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(tries).await;
    let wins = results
        .iter()
        .filter(|r| r.body.get("errors").is_none())
        .count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(results
        .iter()
        .filter(|r| r.body.get("errors").is_some())
        .all(|r| r.code() == "CONFLICT"));
}

#[tokio::test]
async fn listing_filters_and_pages_newest_first() {
    let w = world().await;
    let app = &w.app;
    let dates = [
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    ];
    let mut ids = Vec::new();
    for (i, d) in dates.iter().enumerate() {
        let kind = if i % 2 == 0 {
            "LAB_RESULT"
        } else {
            "PRESCRIPTION"
        };
        ids.push(create(&w, &w.doctor, kind, &format!("doc{i}"), d).await);
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = app
            .gql(
                Some(&w.patient),
                LIST,
                json!({ "p": w.patient_id, "f": 2, "a": after }),
            )
            .await;
        let c = r.data("caseDocuments").clone();
        seen.extend(
            c["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["title"].as_str().expect("t").to_owned()),
        );
        if c["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], "doc4");
    assert_eq!(seen[4], "doc0");
    assert!(seen[1..3].contains(&"doc2".to_owned()) && seen[1..3].contains(&"doc3".to_owned()));
    let labs = app
        .gql(
            Some(&w.patient),
            LIST,
            json!({ "p": w.patient_id, "k": ["LAB_RESULT"] }),
        )
        .await;
    assert_eq!(
        labs.data("caseDocuments.edges").as_array().map(Vec::len),
        Some(3)
    );
    let q1 = app.gql(Some(&w.patient), LIST, json!({ "p": w.patient_id, "from": "2026-02-01T00:00:00Z", "to": "2026-03-02T00:00:00Z" })).await;
    assert_eq!(
        q1.data("caseDocuments.edges").as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        app.gql(
            Some(&w.patient),
            LIST,
            json!({ "p": w.patient_id, "a": "bogus" })
        )
        .await
        .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(
            Some(&w.patient),
            LIST,
            json!({ "p": w.patient_id, "k": ["{\"$ne\": 1}"] })
        )
        .await
        .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(app.gql(Some(&w.patient), LIST, json!({ "p": w.patient_id, "from": "2026-05-01T00:00:00Z", "to": "2026-01-01T00:00:00Z" })).await.code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn bad_content_is_refused_and_nothing_is_stored() {
    let w = world().await;
    let app = &w.app;
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({ "d": deep });
    }
    let big = json!({ "blob": "x".repeat(app.config.max_case_content_bytes + 1) });
    for (content, code) in [
        (json!([1, 2]), "BAD_USER_INPUT"),
        (json!("text"), "BAD_USER_INPUT"),
        (json!({ "$where": "1" }), "BAD_USER_INPUT"),
        (json!({ "a": { "$gt": 1 } }), "BAD_USER_INPUT"),
        (json!({ "a.b": 1 }), "BAD_USER_INPUT"),
        (json!({ "a\u{0}b": 1 }), "BAD_USER_INPUT"),
        (deep, "BAD_USER_INPUT"),
        (big, "PAYLOAD_TOO_LARGE"),
    ] {
        let r = app
            .gql(
                Some(&w.doctor),
                CREATE,
                input(
                    &w.patient_id,
                    "LAB_RESULT",
                    "t",
                    "2026-01-01T00:00:00Z",
                    content,
                ),
            )
            .await;
        assert_eq!(
            r.code(),
            code,
            "{}",
            r.body.to_string().chars().take(200).collect::<String>()
        );
    }
    for (kind, date) in [
        ("lab", "2026-01-01T00:00:00Z"),
        ("LAB_RESULT", "1800-01-01T00:00:00Z"),
        ("LAB_RESULT", "2999-01-01T00:00:00Z"),
    ] {
        let r = app
            .gql(
                Some(&w.doctor),
                CREATE,
                input(&w.patient_id, kind, "t", date, json!({})),
            )
            .await;
        assert_eq!(r.code(), "BAD_USER_INPUT", "{kind} {date}");
    }
    assert_eq!(
        app.gql(
            Some(&w.doctor),
            GET,
            json!({ "id": "ffffffffffffffffffffffff" })
        )
        .await
        .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        app.gql(Some(&w.doctor), GET, json!({ "id": "../../etc" }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    let none = app
        .gql(Some(&w.patient), LIST, json!({ "p": w.patient_id }))
        .await;
    assert_eq!(none.data("caseDocuments.edges"), &json!([]));
}

#[tokio::test]
async fn one_query_spans_both_stores() {
    let w = world().await;
    create(
        &w,
        &w.doctor,
        "MEDICAL_RECORD",
        "Admission",
        "2026-09-01T00:00:00Z",
    )
    .await;
    let q = "query($p: ID!) {
      me { patient { name } }
      contacts { edges { node { doctor { name department } } } }
      caseDocuments(patientId: $p, first: 10) { edges { node { title authorDoctor { name } patient { name } } } } }";
    let r = w
        .app
        .gql(Some(&w.patient), q, json!({ "p": w.patient_id }))
        .await;
    assert_eq!(
        r.data("contacts.edges.0.node.doctor.department"),
        "Oncology"
    );
    assert_eq!(r.data("caseDocuments.edges.0.node.title"), "Admission");
    assert_eq!(
        r.data("caseDocuments.edges.0.node.authorDoctor.name"),
        "Dr. doc@example.com"
    );
    assert_eq!(
        r.data("caseDocuments.edges.0.node.patient.name"),
        r.data("me.patient.name")
    );
}

#[tokio::test]
async fn case_events_reach_the_patient_and_the_care_team() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let w = world().await;
    let mut req = w.app.ws_url().into_client_request().expect("req");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("h"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", w.doctor) } });
    ws.send(Message::Text(init.to_string()))
        .await
        .expect("send");
    let sub = json!({ "id": "c", "type": "subscribe", "payload": { "query": "subscription($p: ID!) { caseDocumentEvents(patientId: $p) { kind documentId version } }", "variables": { "p": w.patient_id } } });
    ws.send(Message::Text(sub.to_string())).await.expect("send");
    let mut got = None;
    for i in 0..20 {
        create(
            &w,
            &w.patient,
            "PATIENT_NOTE",
            &format!("n{i}"),
            "2026-01-01T00:00:00Z",
        )
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        while let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout_at(deadline, ws.next()).await
        {
            let v: Value = serde_json::from_str(&t).expect("json");
            if v["type"] == "next" {
                got = Some(v);
                break;
            }
        }
        if got.is_some() {
            break;
        }
    }
    let v = got.expect("a case event");
    assert_eq!(
        v["payload"]["data"]["caseDocumentEvents"]["kind"],
        "CREATED"
    );
    // A stranger cannot subscribe.
    let (stranger, _) = (w.stranger_doctor.clone(), ());
    let mut req = w.app.ws_url().into_client_request().expect("req");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("h"),
    );
    let (mut ws2, _) = tokio_tungstenite::connect_async(req).await.expect("ws");
    ws2.send(Message::Text(
        json!({ "type": "connection_init", "payload": { "token": stranger } }).to_string(),
    ))
    .await
    .expect("send");
    ws2.send(Message::Text(sub.to_string()))
        .await
        .expect("send");
    let mut code = None;
    while let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_secs(5), ws2.next()).await
    {
        let v: Value = serde_json::from_str(&t).expect("json");
        if v["type"] == "next" {
            code = v["payload"]["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned);
            break;
        }
    }
    assert_eq!(code.as_deref(), Some("NOT_FOUND"));
}

/// Stops FerretDB mid-test: case queries answer UNAVAILABLE, the rest of the
/// API keeps working, `/readyz` reports it, and all is well once it is back.
#[tokio::test]
async fn a_down_document_store_is_unavailable_not_fatal() {
    if !crate::helpers::real_services() {
        eprintln!("a_down_document_store_is_unavailable_not_fatal needs the real document store (FerretDB)");
        return;
    }
    let guard = crate::helpers::exclusive_services().await;
    let app = crate::helpers::spawn_app_guarded(Default::default(), Some(guard)).await;
    let (patient, patient_id) = app.patient("pat@example.com").await;
    let w = |i: usize| {
        input(
            &patient_id,
            "PATIENT_NOTE",
            &format!("n{i}"),
            "2026-01-01T00:00:00Z",
            json!({}),
        )
    };
    app.gql(Some(&patient), CREATE, w(0))
        .await
        .data("createCaseDocument");
    {
        let _stopped = crate::helpers::Stopped::new("ferretdb");
        let r = app
            .gql(Some(&patient), LIST, json!({ "p": patient_id }))
            .await;
        assert_eq!(r.code(), "UNAVAILABLE", "{}", r.body);
        assert_eq!(
            app.gql(Some(&patient), CREATE, w(1)).await.code(),
            "UNAVAILABLE"
        );
        let me = app.gql(Some(&patient), "{ me { id } }", json!({})).await;
        assert_eq!(me.data("me.id"), &json!(patient_id));
        let (status, body) = app.readyz().await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["degraded"], true);
        assert_eq!(body["documents"]["ok"], false);
    }
    crate::helpers::eventually(
        Duration::from_secs(30),
        "the document store to answer again",
        || async {
            app.gql(Some(&patient), LIST, json!({ "p": patient_id }))
                .await
                .body
                .get("errors")
                .is_none()
        },
    )
    .await;
    app.gql(Some(&patient), CREATE, w(2))
        .await
        .data("createCaseDocument");
}
