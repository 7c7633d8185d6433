use serde_json::json;

use crate::helpers::spawn_app;

const DOCTORS: &str = "query($s: String, $d: String, $h: String, $f: Int, $a: String) {
  doctors(search: $s, department: $d, hospital: $h, first: $f, after: $a) {
    edges { cursor node { id name department } } pageInfo { hasNextPage endCursor } } }";

#[tokio::test]
async fn doctors_page_through_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let dept = if i % 2 == 0 { "Neurology" } else { "Oncology" };
        ids.push(app.doctor(&format!("doc{i}@example.com"), dept).await.1);
    }
    app.caught_up().await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let r = app.gql(None, DOCTORS, json!({ "f": 3, "a": after })).await;
        let page = r.data("doctors");
        pages += 1;
        for e in page["edges"].as_array().expect("edges") {
            seen.push(e["node"]["id"].as_str().expect("id").to_owned());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().expect("bool") {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    let neuro = app.gql(None, DOCTORS, json!({ "d": "Neurology" })).await;
    assert_eq!(
        neuro.data("doctors.edges").as_array().map(Vec::len),
        Some(4)
    );
    let search = app.gql(None, DOCTORS, json!({ "s": "doc3@" })).await;
    let edges = search
        .data("doctors.edges")
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["node"]["id"], json!(ids[3]));
    // LIKE wildcards in a search are literal.
    let wild = app.gql(None, DOCTORS, json!({ "s": "%" })).await;
    assert_eq!(wild.data("doctors.edges").as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn bad_paging_input_is_bad_user_input() {
    let app = spawn_app().await;
    assert_eq!(
        app.gql(None, DOCTORS, json!({ "f": 101 })).await.code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(None, DOCTORS, json!({ "f": -1 })).await.code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(None, DOCTORS, json!({ "a": "not-a-cursor" }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(None, "{ doctor(id: \"abc\") { id } }", json!({}))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(None, "{ doctor(id: \"999999\") { id } }", json!({}))
            .await
            .data("doctor"),
        &json!(null)
    );
}

#[tokio::test]
async fn patients_see_only_themselves() {
    let app = spawn_app().await;
    let (ann, ann_id) = app.patient("ann@example.com").await;
    let (bob, _) = app.patient("bob@example.com").await;
    let (doc, _) = app.doctor("doc@example.com", "Cardiology").await;
    let q = "query($id: ID!) { patient(id: $id) { id name } }";
    assert_eq!(
        app.gql(Some(&ann), q, json!({ "id": ann_id }))
            .await
            .data("patient.id"),
        &json!(ann_id)
    );
    assert_eq!(
        app.gql(Some(&bob), q, json!({ "id": ann_id })).await.code(),
        "NOT_FOUND"
    );
    assert_eq!(
        app.gql(Some(&doc), q, json!({ "id": ann_id })).await.code(),
        "NOT_FOUND"
    );
    assert_eq!(
        app.gql(Some(&bob), q, json!({ "id": "987654" }))
            .await
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        app.gql(None, q, json!({ "id": ann_id })).await.code(),
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn profiles_update_and_role_fields_are_checked() {
    let app = spawn_app().await;
    let (doc, doc_id) = app.doctor("doc@example.com", "Cardiology").await;
    let (pat, _) = app.patient("pat@example.com").await;
    let m = "mutation($i: UpdateProfileInput!) { updateMyProfile(input: $i) { doctor { department specialties } patient { phone } } }";
    let r = app
        .gql(
            Some(&doc),
            m,
            json!({ "i": { "department": "Neurology", "specialties": ["stroke", "epilepsy"] } }),
        )
        .await;
    assert_eq!(r.data("updateMyProfile.doctor.department"), "Neurology");
    // Read back anonymously: the directory serves the new value.
    app.caught_up().await;
    let d = app
        .gql(
            None,
            "query($id: ID!) { doctor(id: $id) { department } }",
            json!({ "id": doc_id }),
        )
        .await;
    assert_eq!(d.data("doctor.department"), "Neurology");
    assert_eq!(
        app.gql(Some(&doc), m, json!({ "i": { "phone": "+8613800138000" } }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(Some(&pat), m, json!({ "i": { "bio": "x" } }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    let p = app
        .gql(
            Some(&pat),
            m,
            json!({ "i": { "phone": "+44 20 7946 0958" } }),
        )
        .await;
    assert_eq!(p.data("updateMyProfile.patient.phone"), "+442079460958");
    assert_eq!(
        app.gql(Some(&pat), m, json!({ "i": { "name": " " } }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.gql(None, m, json!({ "i": { "name": "x" } }))
            .await
            .code(),
        "UNAUTHENTICATED"
    );
}
