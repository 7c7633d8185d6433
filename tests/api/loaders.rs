//! Loaders: statements per request independent of page size, the shared
//! cache's invalidation (also across instances), bad cache values, hostile
//! ids, and Redis going away.
use std::time::Duration;

use drseek::directory::loader::DoctorSource;
use serde_json::{json, Value};

use crate::helpers::{
    eventually, exclusive_services, real_services, shared_services, spawn_app, spawn_app_guarded,
    Options, Stopped, TestApp,
};

const CONTACTS: &str = "query($f: Int) { contacts(first: $f) { edges { node { id status doctor { id name } patient { id name } } } } }";
const CONVERSATIONS: &str = "query($f: Int) { conversations(first: $f) { edges { node { id unreadCount lastMessage { seq text } doctor { name } patient { name } } } } }";
const CASES: &str = "query($p: ID!, $f: Int) { caseDocuments(patientId: $p, first: $f) { edges { node { id title authorDoctor { name } patient { name } } } } }";
const CREATE_CASE: &str =
    "mutation($i: CreateCaseDocumentInput!) { createCaseDocument(input: $i) { id } }";
const DOCTOR: &str = "query($id: ID!) { doctor(id: $id) { id name } }";
const RENAME: &str = "mutation($n: String!) { updateMyProfile(input: { name: $n }) { id } }";

/// SQL statements and document-store calls one request costs.
async fn cost(app: &TestApp, token: &str, query: &str, vars: Value) -> (u64, u64, Value) {
    let stores = &app.services.stores;
    let (sql, docs) = (stores.sql.statement_count(), stores.documents.calls());
    let r = app.gql(Some(token), query, vars).await;
    assert!(r.body.get("errors").is_none(), "{}", r.body);
    (
        stores.sql.statement_count() - sql,
        stores.documents.calls() - docs,
        r.body["data"].clone(),
    )
}

fn edges(data: &Value, field: &str) -> Vec<Value> {
    data[field]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Links `n` new patients to the doctor through the API; returns their tokens and ids.
async fn link_patients(
    app: &TestApp,
    doctor: &str,
    doctor_id: &str,
    tag: &str,
    n: usize,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let (token, id) = app.patient(&format!("{tag}{i}@example.com")).await;
        app.care_link(&token, doctor, doctor_id).await;
        out.push((token, id));
    }
    out
}

/// Waits out the read-your-writes window, so reads take the ordinary path.
async fn settle(app: &TestApp) {
    tokio::time::sleep(Duration::from_millis(app.config.read_your_writes_ms + 100)).await;
    app.caught_up().await;
}

#[tokio::test]
async fn a_contact_page_costs_the_same_few_statements_at_any_size() {
    let app = spawn_app().await;
    let login = "bulk-doctor@example.com";
    drseek::seed::link_patients(&app.services.stores, login, 500)
        .await
        .expect("seed");
    let token = app
        .gql(
            None,
            "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }",
            json!({ "l": login, "p": drseek::seed::DEMO_PASSWORD }),
        )
        .await
        .data("login.token")
        .as_str()
        .expect("token")
        .to_owned();
    app.caught_up().await;
    cost(&app, &token, "{ me { id } }", json!({})).await;

    let (small, _, data) = cost(&app, &token, CONTACTS, json!({ "f": 5 })).await;
    assert_eq!(edges(&data, "contacts").len(), 5);
    let (large, _, data) = cost(&app, &token, CONTACTS, json!({ "f": 500 })).await;
    let nodes = edges(&data, "contacts");
    assert_eq!(nodes.len(), 500);
    assert!(nodes
        .iter()
        .all(|n| n["patient"]["name"].is_string() && n["doctor"]["name"].is_string()));
    // Version, page, doctors, patients: one statement each, whatever the size.
    assert!(small <= 4, "5 contacts cost {small} statements");
    assert!(large <= 4, "500 contacts cost {large} statements");

    // The profiles are now in the shared cache: only the page itself is read.
    let (again, _, data) = cost(&app, &token, CONTACTS, json!({ "f": 500 })).await;
    assert_eq!(edges(&data, "contacts"), nodes);
    assert!(again <= 2, "a cached page of 500 cost {again} statements");
}

#[tokio::test]
async fn a_conversation_list_costs_the_same_few_statements_at_any_size() {
    let app = spawn_app().await;
    let (doctor, doctor_id) = app.doctor("conv-doc@example.com", "Cardiology").await;
    let patients = link_patients(&app, &doctor, &doctor_id, "conv-p", 12).await;
    let c = app
        .gql(
            Some(&doctor),
            "{ conversations(first: 100) { edges { node { id patient { id } } } } }",
            json!({}),
        )
        .await;
    for conv in edges(&c.body["data"], "conversations") {
        let (token, _) = patients
            .iter()
            .find(|(_, id)| conv["patient"]["id"] == json!(id))
            .expect("a member");
        for k in 0..2 {
            let r = app
                .gql(Some(token), "mutation($i: SendMessageInput!) { sendMessage(input: $i) { seq } }",
                    json!({ "i": { "conversationId": conv["id"], "clientId": format!("m{k}"), "kind": "TEXT", "text": format!("hello {k}") } }))
                .await;
            r.data("sendMessage");
        }
    }
    settle(&app).await;
    let (small, _, data) = cost(&app, &doctor, CONVERSATIONS, json!({ "f": 2 })).await;
    assert_eq!(edges(&data, "conversations").len(), 2);
    let (large, _, data) = cost(&app, &doctor, CONVERSATIONS, json!({ "f": 12 })).await;
    let nodes = edges(&data, "conversations");
    assert_eq!(nodes.len(), 12);
    for n in &nodes {
        assert_eq!(n["unreadCount"], 2, "{n}");
        assert_eq!(n["lastMessage"]["text"], "hello 1", "{n}");
        assert!(n["patient"]["name"].is_string(), "{n}");
    }
    // Page, last messages, doctors, patients.
    assert!(small <= 4, "2 conversations cost {small} statements");
    assert!(large <= 4, "12 conversations cost {large} statements");
}

#[tokio::test]
async fn a_case_document_list_with_authors_costs_the_same_at_any_size() {
    let app = spawn_app().await;
    let (patient, patient_id) = app.patient("cases-p@example.com").await;
    let mut doctors = Vec::new();
    for i in 0..3 {
        let (d, d_id) = app
            .doctor(&format!("cases-d{i}@example.com"), "Oncology")
            .await;
        app.care_link(&patient, &d, &d_id).await;
        doctors.push(d);
    }
    for i in 0..15 {
        app.gql(
            Some(&doctors[i % doctors.len()]),
            CREATE_CASE,
            json!({ "i": { "patientId": patient_id, "kind": "MEDICAL_RECORD", "title": format!("visit {i}"),
                "occurredAt": format!("2026-01-{:02}T10:00:00Z", i + 1), "content": { "n": i } } }),
        )
        .await
        .data("createCaseDocument");
    }
    settle(&app).await;
    let vars = |f: i32| json!({ "p": patient_id, "f": f });
    let (small, small_docs, data) = cost(&app, &patient, CASES, vars(2)).await;
    assert_eq!(edges(&data, "caseDocuments").len(), 2);
    let (large, large_docs, data) = cost(&app, &patient, CASES, vars(15)).await;
    let nodes = edges(&data, "caseDocuments");
    assert_eq!(nodes.len(), 15);
    assert!(nodes
        .iter()
        .all(|n| n["authorDoctor"]["name"].is_string() && n["patient"]["name"].is_string()));
    assert_eq!(
        (small_docs, large_docs),
        (1, 1),
        "one document-store call per list"
    );
    // Access check, audit insert, authors, patient.
    assert!(small <= 5, "2 documents cost {small} statements");
    assert!(large <= 5, "15 documents cost {large} statements");
}

#[tokio::test]
async fn a_profile_change_is_read_at_once_by_everyone() {
    let app = spawn_app().await;
    let (doctor, id) = app.doctor("rename@example.com", "Cardiology").await;
    let (reader, _) = app.patient("reader@example.com").await;
    settle(&app).await;
    for round in 0..5 {
        // Cache it, change it, read it: never the old name.
        let before = app.gql(Some(&reader), DOCTOR, json!({ "id": id })).await;
        assert!(before.data("doctor.name").is_string());
        let name = format!("Dr. Renamed {round}");
        app.gql(Some(&doctor), RENAME, json!({ "n": name }))
            .await
            .data("updateMyProfile");
        for token in [&reader, &doctor] {
            let after = app.gql(Some(token), DOCTOR, json!({ "id": id })).await;
            assert_eq!(after.data("doctor.name"), &json!(name), "round {round}");
        }
    }
    let metrics = app.metrics().await;
    for series in [
        "drseek_loader_invalidations_total{loader=\"doctor\"}",
        "drseek_loader_keys_total{loader=\"doctor\",result=\"held\"}",
        "drseek_loader_keys_total{loader=\"doctor\",result=\"miss\"}",
        "drseek_loader_batches_total{loader=\"doctor\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
}

#[tokio::test]
async fn undecodable_cache_values_are_misses_and_get_overwritten() {
    let app = spawn_app().await;
    let (_, id) = app.doctor("garbage@example.com", "Cardiology").await;
    settle(&app).await;
    let numeric: i64 = id.parse().expect("numeric id");
    let stores = &app.services.stores;
    let key = stores.loader_cache.key::<DoctorSource>(&numeric);
    for garbage in [
        b"not json".to_vec(),
        b"{\"account_id\": \"x\"}".to_vec(),
        vec![0xff, 0xfe],
        Vec::new(),
    ] {
        stores
            .cache
            .set_many(&[(key.clone(), garbage.clone())], Duration::from_secs(60))
            .await
            .expect("plant");
        let r = app.gql(None, DOCTOR, json!({ "id": id })).await;
        assert_eq!(
            r.data("doctor.name"),
            "Dr. garbage@example.com",
            "{garbage:?}"
        );
        let stored = stores
            .cache
            .get_many(std::slice::from_ref(&key))
            .await
            .expect("get")
            .pop()
            .flatten()
            .expect("the value was stored again");
        let v: Value = serde_json::from_slice(&stored).expect("valid JSON now");
        assert_eq!(v["name"], "Dr. garbage@example.com");
    }
}

#[tokio::test]
async fn hostile_ids_never_reach_the_cache() {
    let app = spawn_app().await;
    let (_, id) = app.doctor("hostile@example.com", "Cardiology").await;
    let long = "9".repeat(10_000);
    for bad in [
        "1\r\nFLUSHALL\r\n",
        "*",
        "ld:1:doctor:1:1",
        long.as_str(),
        "-1",
        "",
    ] {
        for query in [
            DOCTOR,
            "query($id: ID!) { patient(id: $id) { id } }",
            "query($id: ID!) { conversation(id: $id) { id } }",
            "query($id: ID!) { file(id: $id) { id } }",
        ] {
            let r = app.gql(None, query, json!({ "id": bad })).await;
            assert!(
                r.body["errors"][0]["extensions"]["code"].is_string(),
                "{query} with {bad:.20}: {}",
                r.body
            );
        }
    }
    // The cache still answers for real keys.
    let r = app.gql(None, DOCTOR, json!({ "id": id })).await;
    assert_eq!(r.data("doctor.id"), &json!(id));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("drseek_loader_keys_total{loader=\"doctor\""),
        "{metrics}"
    );
}

/// Two instances on one Redis: a write through one is read through the other at once.
#[tokio::test]
async fn a_write_through_one_instance_is_read_at_once_through_another() {
    if !real_services() {
        eprintln!("embedded backends run one instance; the in-process cache is not shared");
        return;
    }
    let a = spawn_app_guarded(Options::default(), Some(shared_services().await)).await;
    let b = spawn_app_guarded(
        Options {
            same_backends_as: Some(a.config.clone()),
            ..Default::default()
        },
        None,
    )
    .await;
    let (doctor, id) = a.doctor("two-instances@example.com", "Cardiology").await;
    let (reader, _) = b.patient("two-instances-reader@example.com").await;
    settle(&a).await;
    for round in 0..5 {
        let before = b.gql(Some(&reader), DOCTOR, json!({ "id": id })).await;
        assert!(before.data("doctor.name").is_string());
        let name = format!("Dr. Across {round}");
        a.gql(Some(&doctor), RENAME, json!({ "n": name }))
            .await
            .data("updateMyProfile");
        let after = b.gql(Some(&reader), DOCTOR, json!({ "id": id })).await;
        assert_eq!(after.data("doctor.name"), &json!(name), "round {round}");
    }
}

/// Redis stops: every read still answers from the databases, `/readyz` and
/// the metrics say so, a write made meanwhile is not lost to a stale cache
/// entry, and the cache is used again once Redis is back.
#[tokio::test]
async fn reads_survive_redis_going_away_and_the_cache_recovers() {
    if !real_services() {
        eprintln!("the in-process cache cannot be stopped; this runs with the real services");
        return;
    }
    let app = spawn_app_guarded(Options::default(), Some(exclusive_services().await)).await;
    let (doctor, id) = app.doctor("redis-down@example.com", "Cardiology").await;
    let (reader, _) = app.patient("redis-down-reader@example.com").await;
    settle(&app).await;
    // Cached before Redis goes.
    let r = app.gql(Some(&reader), DOCTOR, json!({ "id": id })).await;
    assert_eq!(r.data("doctor.name"), "Dr. redis-down@example.com");

    let stopped = Stopped::new("redis");
    for round in 0..3 {
        let r = app.gql(Some(&reader), DOCTOR, json!({ "id": id })).await;
        assert_eq!(
            r.data("doctor.name"),
            "Dr. redis-down@example.com",
            "{round}"
        );
    }
    let r = app
        .gql(Some(&doctor), RENAME, json!({ "n": "Dr. While Down" }))
        .await;
    r.data("updateMyProfile");
    let r = app.gql(Some(&reader), DOCTOR, json!({ "id": id })).await;
    assert_eq!(r.data("doctor.name"), "Dr. While Down");
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["loader_cache"]["state"], "down", "{body}");
    assert_eq!(body["degraded"], true, "{body}");
    let metrics = app.metrics().await;
    assert!(metrics.contains("drseek_cache_errors_total"), "{metrics}");
    assert!(metrics.contains("drseek_cache_up 0"), "{metrics}");

    drop(stopped);
    eventually(
        Duration::from_secs(20),
        "the loader cache is used again",
        || async {
            // Reads drive the probe; the cache is back once readyz says so.
            let r = app.gql(Some(&reader), DOCTOR, json!({ "id": id })).await;
            assert_eq!(r.data("doctor.name"), "Dr. While Down");
            app.readyz().await.1["loader_cache"]["state"] == "ok"
        },
    )
    .await;
    // Whatever Redis kept from before, the rename made while it was away wins.
    settle(&app).await;
    for _ in 0..3 {
        let r = app.gql(Some(&reader), DOCTOR, json!({ "id": id })).await;
        assert_eq!(r.data("doctor.name"), "Dr. While Down");
    }
}

/// Case documents shared in a chat: a page of CASE messages costs one
/// document-store call, one access check and one audit insert; each read is
/// audited; a doctor whose link ended gets null, audited as denied.
#[tokio::test]
async fn case_documents_in_chat_are_batched_checked_and_audited() {
    let chat = crate::messaging::chat_on(spawn_app().await, "cases-in-chat").await;
    let app = &chat.app;
    let patient_id = app
        .gql(Some(&chat.patient), "{ me { id } }", json!({}))
        .await
        .data("me.id")
        .clone();
    let mut docs = Vec::new();
    for i in 0..6 {
        let id = app
            .gql(
                Some(&chat.doctor),
                CREATE_CASE,
                json!({ "i": { "patientId": patient_id, "kind": "LAB_RESULT", "title": format!("result {i}"),
                    "occurredAt": "2026-02-01T09:00:00Z", "content": { "i": i } } }),
            )
            .await
            .data("createCaseDocument.id")
            .clone();
        app.gql(
            Some(&chat.doctor),
            "mutation($i: SendMessageInput!) { sendMessage(input: $i) { seq } }",
            json!({ "i": { "conversationId": chat.conversation, "clientId": format!("case{i}"), "kind": "CASE", "caseDocumentId": id } }),
        )
        .await
        .data("sendMessage");
        docs.push(id);
    }
    settle(app).await;
    const PAGE: &str = "query($c: ID!, $n: Int) { messages(conversationId: $c, last: $n) { edges { node { seq caseDocument { id title } } } } }";
    for token in [&chat.patient, &chat.doctor] {
        let (small, small_docs, _) =
            cost(app, token, PAGE, json!({ "c": chat.conversation, "n": 2 })).await;
        let (large, large_docs, data) =
            cost(app, token, PAGE, json!({ "c": chat.conversation, "n": 6 })).await;
        let shown: Vec<Value> = edges(&data, "messages")
            .iter()
            .map(|n| n["caseDocument"]["id"].clone())
            .collect();
        assert_eq!(shown, docs, "every shared document, in order");
        assert_eq!(
            (small_docs, large_docs),
            (1, 1),
            "one document-store call per page"
        );
        // Membership, page, access (doctors), audit insert; and on the
        // embedded backends the document store's one read is SQL too.
        assert!(small <= 5 && large <= 5, "{small} and {large} statements");
    }
    let reads = |trail: &Value, actor: &Value, outcome: &str| {
        edges(trail, "auditTrail")
            .iter()
            .filter(|e| e["action"] == "READ" && &e["actorId"] == actor && e["outcome"] == outcome)
            .count()
    };
    let doctor_id = app
        .gql(Some(&chat.doctor), "{ me { id } }", json!({}))
        .await
        .data("me.id")
        .clone();
    const AUDIT: &str =
        "{ auditTrail(first: 100) { edges { node { actorId action documentId outcome } } } }";
    let trail = app.gql(Some(&chat.patient), AUDIT, json!({})).await.body["data"].clone();
    assert_eq!(
        reads(&trail, &patient_id, "ALLOWED"),
        8,
        "2 + 6 reads by the patient"
    );
    assert_eq!(
        reads(&trail, &doctor_id, "ALLOWED"),
        8,
        "2 + 6 reads by the doctor"
    );

    // The link ends: the doctor still sees the messages, not the documents.
    app.gql(
        Some(&chat.patient),
        "mutation($id: ID!) { endCareLink(id: $id) { status } }",
        json!({ "id": chat.link }),
    )
    .await
    .data("endCareLink");
    let r = app
        .gql(
            Some(&chat.doctor),
            PAGE,
            json!({ "c": chat.conversation, "n": 6 }),
        )
        .await;
    let nodes = edges(&r.body["data"], "messages");
    assert_eq!(nodes.len(), 6);
    assert!(
        nodes.iter().all(|n| n["caseDocument"].is_null()),
        "{nodes:?}"
    );
    let trail = app.gql(Some(&chat.patient), AUDIT, json!({})).await.body["data"].clone();
    assert_eq!(
        reads(&trail, &doctor_id, "DENIED"),
        6,
        "denied reads are audited"
    );
}
