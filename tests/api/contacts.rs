//! Care links and contact books: states, access, paging, incremental sync.
use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

const REQUEST: &str = "mutation($d: ID, $c: String) { requestCareLink(doctorId: $d, inviteCode: $c) { id status doctor { id } } }";
const RESPOND: &str = "mutation($id: ID!, $a: Boolean!) { respondCareLink(id: $id, accept: $a) { id status respondedAt } }";
const END: &str = "mutation($id: ID!) { endCareLink(id: $id) { id status endedAt } }";
const CONTACTS: &str = "query($s: CareLinkStatus, $q: String, $f: Int, $a: String) {
  contacts(status: $s, search: $q, first: $f, after: $a) {
    totalCount version edges { cursor node { id status patient { id name } doctor { id } } }
    pageInfo { hasNextPage endCursor } } }";
const CHANGES: &str = "query($s: String!, $f: Int) { contactChanges(since: $s, first: $f) {
  version hasMore removals upserts { id status patient { name } } } }";
const PATIENT: &str = "query($id: ID!) { patient(id: $id) { id name } }";

async fn link(app: &TestApp, patient: &str, doctor_id: &str) -> String {
    let r = app
        .gql(Some(patient), REQUEST, json!({ "d": doctor_id }))
        .await;
    r.data("requestCareLink.id")
        .as_str()
        .expect("id")
        .to_owned()
}

async fn accept(app: &TestApp, doctor: &str, link: &str) {
    let r = app
        .gql(Some(doctor), RESPOND, json!({ "id": link, "a": true }))
        .await;
    assert_eq!(r.data("respondCareLink.status"), "ACTIVE");
}

/// Every link id on every page of the viewer's book.
async fn all_contacts(app: &TestApp, token: &str, page: i32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let r = app
            .gql(Some(token), CONTACTS, json!({ "f": page, "a": after }))
            .await;
        let c = r.data("contacts");
        ids.extend(
            c["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["id"].as_str().expect("id").to_owned()),
        );
        if c["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

#[tokio::test]
async fn the_link_lifecycle_decides_who_sees_the_patient() {
    let app = spawn_app().await;
    let (doc, doc_id) = app.doctor("doc@example.com", "Cardiology").await;
    let (pat, pat_id) = app.patient("pat@example.com").await;

    assert_eq!(
        app.gql(Some(&doc), PATIENT, json!({ "id": pat_id }))
            .await
            .code(),
        "NOT_FOUND"
    );
    let id = link(&app, &pat, &doc_id).await;
    // Idempotent: asking again returns the same pending link.
    assert_eq!(link(&app, &pat, &doc_id).await, id);
    assert_eq!(
        app.gql(Some(&doc), PATIENT, json!({ "id": pat_id }))
            .await
            .code(),
        "NOT_FOUND",
        "pending gives no access"
    );

    accept(&app, &doc, &id).await;
    assert_eq!(
        link(&app, &pat, &doc_id).await,
        id,
        "asking while active returns the active link"
    );
    let seen = app.gql(Some(&doc), PATIENT, json!({ "id": pat_id })).await;
    assert_eq!(seen.data("patient.id"), &json!(pat_id));
    // Responding twice is a conflict.
    assert_eq!(
        app.gql(Some(&doc), RESPOND, json!({ "id": id, "a": true }))
            .await
            .code(),
        "CONFLICT"
    );

    let ended = app.gql(Some(&pat), END, json!({ "id": id })).await;
    assert_eq!(ended.data("endCareLink.status"), "ENDED");
    assert_eq!(
        app.gql(Some(&doc), PATIENT, json!({ "id": pat_id }))
            .await
            .code(),
        "NOT_FOUND",
        "ending ends access"
    );
    assert_eq!(
        app.gql(Some(&doc), END, json!({ "id": id })).await.code(),
        "CONFLICT"
    );

    // After an end, a new request is a new link; a decline closes it.
    let again = link(&app, &pat, &doc_id).await;
    assert_ne!(again, id);
    let declined = app
        .gql(Some(&doc), RESPOND, json!({ "id": again, "a": false }))
        .await;
    assert_eq!(declined.data("respondCareLink.status"), "DECLINED");
    let history = app.gql(Some(&pat), CONTACTS, json!({ "s": "ENDED" })).await;
    assert_eq!(history.data("contacts.totalCount"), 1);
    assert_eq!(
        app.gql(Some(&pat), CONTACTS, json!({}))
            .await
            .data("contacts.totalCount"),
        0
    );
}

#[tokio::test]
async fn invite_codes_link_and_rotate() {
    let app = spawn_app().await;
    let (doc, doc_id) = app.doctor("doc@example.com", "Oncology").await;
    let (pat, _) = app.patient("pat@example.com").await;
    let code = app
        .gql(Some(&doc), "{ myInviteCode }", json!({}))
        .await
        .data("myInviteCode")
        .as_str()
        .expect("code")
        .to_owned();
    let r = app
        .gql(Some(&pat), REQUEST, json!({ "c": code.to_lowercase() }))
        .await;
    assert_eq!(r.data("requestCareLink.doctor.id"), &json!(doc_id));
    let rotated = app
        .gql(Some(&doc), "mutation { rotateInviteCode }", json!({}))
        .await;
    assert_ne!(rotated.data("rotateInviteCode"), &json!(code));
    let (other, _) = app.patient("other@example.com").await;
    assert_eq!(
        app.gql(Some(&other), REQUEST, json!({ "c": code }))
            .await
            .code(),
        "NOT_FOUND",
        "old code is dead"
    );
    assert_eq!(
        app.gql(Some(&other), REQUEST, json!({ "c": "NOSUCHCODE" }))
            .await
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        app.gql(Some(&pat), "{ myInviteCode }", json!({}))
            .await
            .code(),
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn bad_link_requests() {
    let app = spawn_app().await;
    let (doc, doc_id) = app.doctor("doc@example.com", "Oncology").await;
    let (doc2, _) = app.doctor("doc2@example.com", "Oncology").await;
    let (pat, pat_id) = app.patient("pat@example.com").await;
    let (pat2, _) = app.patient("pat2@example.com").await;
    assert_eq!(
        app.gql(Some(&pat), REQUEST, json!({ "d": pat_id }))
            .await
            .code(),
        "NOT_FOUND",
        "a patient is no doctor"
    );
    assert_eq!(
        app.gql(Some(&pat), REQUEST, json!({ "d": "999999" }))
            .await
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        app.gql(Some(&doc2), REQUEST, json!({ "d": doc_id }))
            .await
            .code(),
        "FORBIDDEN"
    );
    assert_eq!(
        app.gql(Some(&pat), REQUEST, json!({})).await.code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(None, REQUEST, json!({ "d": doc_id })).await.code(),
        "UNAUTHENTICATED"
    );
    let id = link(&app, &pat, &doc_id).await;
    assert_eq!(
        app.gql(Some(&pat), RESPOND, json!({ "id": id, "a": true }))
            .await
            .code(),
        "FORBIDDEN",
        "patients do not accept"
    );
    assert_eq!(
        app.gql(Some(&doc2), RESPOND, json!({ "id": id, "a": true }))
            .await
            .code(),
        "NOT_FOUND",
        "someone else's request"
    );
    assert_eq!(
        app.gql(Some(&pat2), END, json!({ "id": id })).await.code(),
        "NOT_FOUND"
    );
    assert_eq!(
        app.gql(Some(&doc), RESPOND, json!({ "id": "x", "a": true }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(Some(&doc), CONTACTS, json!({ "f": 501 }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(Some(&doc), CONTACTS, json!({ "a": "Zm9yZ2Vk" }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(Some(&doc), CHANGES, json!({ "s": "forged" }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn paging_is_exactly_once_under_concurrent_changes() {
    let app = spawn_app().await;
    let (doc, doc_id) = app.doctor("doc@example.com", "Neurology").await;
    let mut patients = Vec::new();
    for i in 0..30 {
        let (token, _) = app.patient(&format!("p{i}@example.com")).await;
        let id = link(&app, &token, &doc_id).await;
        accept(&app, &doc, &id).await;
        patients.push((token, id));
    }
    // Page through 7 at a time; between pages, remove one link and add one.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut removed = HashSet::new();
    let mut added = HashSet::new();
    let mut round = 0;
    loop {
        let r = app
            .gql(Some(&doc), CONTACTS, json!({ "f": 7, "a": after }))
            .await;
        let c = r.data("contacts").clone();
        seen.extend(
            c["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["id"].as_str().expect("id").to_owned()),
        );
        // Remove a link from the end (not yet seen) and one from the start (seen).
        let (victim_token, victim) = &patients[(round * 5 + 3) % patients.len()];
        if !removed.contains(victim) {
            app.gql(Some(victim_token), END, json!({ "id": victim }))
                .await
                .data("endCareLink");
            removed.insert(victim.clone());
        }
        let (t, _) = app.patient(&format!("late{round}@example.com")).await;
        added.insert(link(&app, &t, &doc_id).await);
        round += 1;
        if c["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no link twice");
    for (_, id) in &patients {
        if !removed.contains(id) {
            assert!(
                unique.contains(id),
                "link {id} existed throughout and was missed"
            );
        }
    }
    for id in &unique {
        assert!(
            patients.iter().any(|(_, p)| p == id) || added.contains(id),
            "unknown link {id}"
        );
    }
}

#[tokio::test]
async fn contact_changes_return_only_the_delta() {
    let app = spawn_app().await;
    let (doc, doc_id) = app.doctor("doc@example.com", "Neurology").await;
    let mut links = Vec::new();
    for i in 0..5 {
        let (token, _) = app.patient(&format!("p{i}@example.com")).await;
        let id = link(&app, &token, &doc_id).await;
        accept(&app, &doc, &id).await;
        links.push((token, id));
    }
    let first = app.gql(Some(&doc), CONTACTS, json!({})).await;
    assert_eq!(first.data("contacts.totalCount"), 5);
    let v0 = first
        .data("contacts.version")
        .as_str()
        .expect("version")
        .to_owned();
    let nothing = app.gql(Some(&doc), CHANGES, json!({ "s": v0 })).await;
    assert_eq!(nothing.data("contactChanges.upserts"), &json!([]));
    assert_eq!(nothing.data("contactChanges.removals"), &json!([]));

    // One new request, one end, one profile change of a linked patient.
    let (newcomer, _) = app.patient("new@example.com").await;
    let new_link = link(&app, &newcomer, &doc_id).await;
    app.gql(Some(&links[0].0), END, json!({ "id": links[0].1 }))
        .await
        .data("endCareLink");
    app.gql(
        Some(&links[1].0),
        "mutation { updateMyProfile(input: {name: \"Renamed\"}) { id } }",
        json!({}),
    )
    .await
    .data("updateMyProfile");

    let delta = app.gql(Some(&doc), CHANGES, json!({ "s": v0 })).await;
    let d = delta.data("contactChanges");
    let mut upserts: Vec<&str> = d["upserts"]
        .as_array()
        .expect("upserts")
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    upserts.sort_unstable();
    let mut expected = vec![new_link.as_str(), links[1].1.as_str()];
    expected.sort_unstable();
    assert_eq!(upserts, expected);
    assert_eq!(d["removals"], json!([links[0].1]));
    assert_eq!(d["hasMore"], false);
    let renamed = d["upserts"]
        .as_array()
        .expect("upserts")
        .iter()
        .find(|u| u["id"] == json!(links[1].1))
        .expect("renamed");
    assert_eq!(renamed["patient"]["name"], "Renamed");

    // Paginated: one change per call, then nothing.
    let mut since = v0.clone();
    let mut total = 0;
    for _ in 0..10 {
        let r = app
            .gql(Some(&doc), CHANGES, json!({ "s": since, "f": 1 }))
            .await;
        let c = r.data("contactChanges").clone();
        total += c["upserts"].as_array().map_or(0, Vec::len)
            + c["removals"].as_array().map_or(0, Vec::len);
        since = c["version"].as_str().expect("version").to_owned();
        if c["hasMore"] != true {
            break;
        }
    }
    assert_eq!(total, 3);
    let after = app.gql(Some(&doc), CHANGES, json!({ "s": since })).await;
    assert_eq!(after.data("contactChanges.upserts"), &json!([]));
    // The patient's own book saw the end as a removal too.
    let pat_delta = app
        .gql(Some(&links[0].0), CHANGES, json!({ "s": v0 }))
        .await;
    assert_eq!(
        pat_delta.data("contactChanges.removals"),
        &json!([links[0].1])
    );
}

#[tokio::test]
async fn a_too_old_version_asks_for_a_full_resync() {
    let app = spawn_app().await;
    let (doc, _) = app.doctor("doc@example.com", "Neurology").await;
    let v: Value = app
        .gql(Some(&doc), CONTACTS, json!({}))
        .await
        .data("contacts.version")
        .clone();
    let mut config = app.config.clone();
    config.contact_sync_max_age_secs = 0;
    let strict = spawn_app_with(Options {
        same_backends_as: Some(config),
        ..Default::default()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        strict
            .gql(Some(&doc), CHANGES, json!({ "s": v }))
            .await
            .code(),
        "RESYNC_REQUIRED"
    );
}

#[tokio::test]
async fn contact_search_and_both_sides_of_the_book() {
    let app = spawn_app().await;
    let (doc, doc_id) = app.doctor("doc@example.com", "Neurology").await;
    let (a, _) = app.patient("alice@example.com").await;
    let (b, _) = app.patient("bob@example.com").await;
    for t in [&a, &b] {
        let id = link(&app, t, &doc_id).await;
        accept(&app, &doc, &id).await;
    }
    let found = app.gql(Some(&doc), CONTACTS, json!({ "q": "alice" })).await;
    assert_eq!(found.data("contacts.totalCount"), 1);
    assert_eq!(
        found.data("contacts.edges.0.node.patient.name"),
        "Patient alice@example.com"
    );
    assert_eq!(all_contacts(&app, &doc, 1).await.len(), 2);
    let mine = app.gql(Some(&a), CONTACTS, json!({})).await;
    assert_eq!(mine.data("contacts.totalCount"), 1);
    assert_eq!(mine.data("contacts.edges.0.node.doctor.id"), &json!(doc_id));
}
