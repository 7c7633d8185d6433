//! Files: multipart uploads with MD5 check, BLAKE3 de-duplication, claims,
//! authorised downloads with ranges, hooks into messages and case documents, GC.
use std::path::Path;

use md5::{Digest as _, Md5};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

const UPLOAD: &str = "mutation($f: Upload!, $m: String) { uploadFile(file: $f, md5: $m) { id fileName contentType size blake3 url } }";
const CLAIM: &str = "mutation($m: String!, $b: String!, $s: Int!, $n: String!) { claimFile(md5: $m, blake3: $b, size: $s, fileName: $n) { id blake3 } }";

/// A tiny valid PNG.
fn png() -> Vec<u8> {
    let mut v = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R',
    ];
    v.extend((0..2000u32).map(|i| (i * 7 % 251) as u8));
    v
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode(Md5::digest(b))
}

pub async fn upload_raw(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
    md5: Option<String>,
    preflight: bool,
) -> reqwest::Response {
    let ops = json!({ "query": UPLOAD, "variables": { "f": null, "m": md5 } });
    let form = Form::new()
        .text("operations", ops.to_string())
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part("0", Part::bytes(bytes).file_name(name.to_owned()));
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .multipart(form);
    if preflight {
        req = req.header("graphql-preflight", "1");
    }
    req.send().await.expect("upload")
}

pub async fn upload(app: &TestApp, token: &str, bytes: Vec<u8>, name: &str) -> Value {
    let md5 = md5_hex(&bytes);
    let r = upload_raw(app, token, bytes, name, Some(md5), true).await;
    let body: Value = r.json().await.expect("json");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["uploadFile"].clone()
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn blob_count(app: &TestApp) -> usize {
    let root = app.config.blob_dir();
    std::fs::read_dir(&root)
        .expect("blob dir")
        .flatten()
        .filter(|e| e.path().is_dir() && e.file_name().len() == 2)
        .map(|e| count_files(&e.path()))
        .sum()
}

#[tokio::test]
async fn upload_dedupe_download_and_ranges() {
    let app = spawn_app().await;
    let (ann, _) = app.patient("ann@example.com").await;
    let (bob, _) = app.patient("bob@example.com").await;
    let bytes = png();
    let f = upload(&app, &ann, bytes.clone(), "scan.png").await;
    assert_eq!(f["contentType"], "image/png");
    assert_eq!(f["size"], bytes.len());
    assert_eq!(f["blake3"], blake3::hash(&bytes).to_hex().to_string());
    let g = upload(&app, &bob, bytes.clone(), "mine.png").await;
    assert_ne!(f["id"], g["id"]);
    assert_eq!(blob_count(&app), 1, "identical bytes are stored once");
    assert_eq!(
        count_files(&app.config.blob_dir().join("tmp")),
        0,
        "no temporary file left"
    );

    let url = app.url(&format!("/files/{}", f["id"].as_str().expect("id")));
    let r = app
        .client
        .get(&url)
        .bearer_auth(&ann)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(
        r.headers()["etag"],
        format!("\"{}\"", f["blake3"].as_str().expect("b3"))
    );
    assert!(r.headers()["content-disposition"]
        .to_str()
        .expect("cd")
        .contains("scan.png"));
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), bytes);
    let part = app
        .client
        .get(&url)
        .bearer_auth(&ann)
        .header("range", "bytes=10-19")
        .send()
        .await
        .expect("get");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 10-19/{}", bytes.len())
    );
    assert_eq!(
        part.bytes().await.expect("bytes").to_vec(),
        bytes[10..20].to_vec()
    );
    let bad = app
        .client
        .get(&url)
        .bearer_auth(&ann)
        .header("range", "bytes=99999-")
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status(), 416);
    let junk = app
        .client
        .get(&url)
        .bearer_auth(&ann)
        .header("range", "lines=1-2")
        .send()
        .await
        .expect("get");
    assert_eq!(junk.status(), 416);

    // Someone else's file: 404, as for a file that does not exist.
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&bob)
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(
        app.client.get(&url).send().await.expect("get").status(),
        404
    );
    assert_eq!(
        app.client
            .get(app.url("/files/999999"))
            .bearer_auth(&ann)
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    // The signed URL works without a token; a forged or expired one does not.
    let signed = app.url(f["url"].as_str().expect("url"));
    assert_eq!(
        app.client.get(&signed).send().await.expect("get").status(),
        200
    );
    let forged = signed.replace("sig=", "sig=00");
    assert_eq!(
        app.client.get(&forged).send().await.expect("get").status(),
        404
    );
    let id = f["id"].as_str().expect("id");
    let expired = app.url(&format!("/files/{id}?expires=1000&sig=abcd"));
    assert_eq!(
        app.client.get(&expired).send().await.expect("get").status(),
        404
    );
    let q = app
        .gql(
            Some(&bob),
            "query($id: ID!) { file(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(q.code(), "NOT_FOUND");
}

#[tokio::test]
async fn claims_need_all_three_and_never_md5_alone() {
    let app = spawn_app().await;
    let (ann, _) = app.patient("ann@example.com").await;
    let (bob, _) = app.patient("bob@example.com").await;
    let bytes = png();
    let f = upload(&app, &ann, bytes.clone(), "scan.png").await;
    let (m, b, s) = (
        md5_hex(&bytes),
        f["blake3"].as_str().expect("b3").to_owned(),
        bytes.len(),
    );
    let ok = app
        .gql(
            Some(&bob),
            CLAIM,
            json!({ "m": m, "b": b, "s": s, "n": "copy.png" }),
        )
        .await;
    assert_eq!(ok.data("claimFile.blake3"), &json!(b));
    let wrong_b3 = app
        .gql(
            Some(&bob),
            CLAIM,
            json!({ "m": m, "b": "0".repeat(64), "s": s, "n": "x.png" }),
        )
        .await;
    assert_eq!(wrong_b3.data("claimFile"), &json!(null));
    let wrong_size = app
        .gql(
            Some(&bob),
            CLAIM,
            json!({ "m": m, "b": b, "s": s + 1, "n": "x.png" }),
        )
        .await;
    assert_eq!(wrong_size.data("claimFile"), &json!(null));
    assert_eq!(
        app.gql(
            Some(&bob),
            CLAIM,
            json!({ "m": "zz", "b": b, "s": s, "n": "x" })
        )
        .await
        .code(),
        "BAD_USER_INPUT"
    );
    // Bob's claimed file is his; Ann's stays hers.
    let url = app.url(&format!(
        "/files/{}",
        ok.data("claimFile.id").as_str().expect("id")
    ));
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&bob)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    // Claims are rate-limited per account.
    let mut limited = false;
    for _ in 0..40 {
        let r = app
            .gql(
                Some(&bob),
                CLAIM,
                json!({ "m": m, "b": "1".repeat(64), "s": s, "n": "x" }),
            )
            .await;
        if r.body.get("errors").is_some() {
            assert_eq!(r.code(), "RATE_LIMITED");
            assert!(r.body["errors"][0]["extensions"]["retryAfter"]
                .as_u64()
                .is_some());
            limited = true;
            break;
        }
    }
    assert!(limited);
}

#[tokio::test]
async fn bad_uploads_keep_nothing() {
    let first = crate::helpers::spawn_app().await;
    let mut config = first.config.clone();
    config.max_upload_bytes = 4096;
    let app = spawn_app_with(Options {
        same_backends_as: Some(config),
        ..Default::default()
    })
    .await;
    let (ann, _) = app.patient("ann@example.com").await;
    let body = |r: reqwest::Response| async move {
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    // MD5 mismatch.
    let (_, b) =
        body(upload_raw(&app, &ann, png(), "a.png", Some("0".repeat(32)), true).await).await;
    assert_eq!(
        b["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{b}"
    );
    // Over the limit.
    let (status, _) =
        body(upload_raw(&app, &ann, vec![7u8; 5000], "big.bin", None, true).await).await;
    assert_eq!(status, 413);
    // No preflight header: a cross-site form could have sent it.
    let (status, _) = body(upload_raw(&app, &ann, png(), "a.png", None, false).await).await;
    assert_eq!(status, 400);
    // Bad names.
    for name in [
        "../etc/passwd",
        "a/b.png",
        "a\\b.png",
        "bad\u{7}.png",
        &"x".repeat(10_000),
    ] {
        let (status, b) = body(upload_raw(&app, &ann, png(), name, None, true).await).await;
        // A control character already breaks the multipart headers: 400 before GraphQL.
        let refused = status == 400 || b["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT";
        assert!(refused, "{name:.40}: {status} {b}");
    }
    // A body cut off in the middle of a file.
    let boundary = "XyZ";
    let ops = json!({ "query": UPLOAD, "variables": { "f": null } }).to_string();
    let truncated = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{ops}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\":[\"variables.f\"]}}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"cut.bin\"\r\n\r\nsome bytes but no end"
    );
    let r = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&ann)
        .header("graphql-preflight", "1")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(truncated)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(blob_count(&app), 0, "no blob kept");
    assert_eq!(
        count_files(&app.config.blob_dir().join("tmp")),
        0,
        "temporary files removed"
    );
    let mine = app.gql(Some(&ann), CLAIM, json!({ "m": md5_hex(&png()), "b": blake3::hash(&png()).to_hex().to_string(), "s": png().len(), "n": "x.png" })).await;
    assert_eq!(
        mine.data("claimFile"),
        &json!(null),
        "no file record either"
    );
}

#[tokio::test]
async fn files_in_messages_and_case_documents() {
    let c = crate::messaging::chat_on(spawn_app().await, "f").await;
    let app = &c.app;
    let img = upload(app, &c.patient, png(), "rash.png").await;
    let send = |kind: &str, file: &Value, token: &str, client: &str| {
        let input = json!({ "i": { "conversationId": c.conversation, "clientId": client, "kind": kind, "fileId": file["id"] } });
        let token = token.to_owned();
        async move {
            app.gql(
                Some(&token),
                "mutation($i: SendMessageInput!) { sendMessage(input: $i) { fileId kind } }",
                input,
            )
            .await
        }
    };
    assert_eq!(
        send("IMAGE", &img, &c.patient, "1")
            .await
            .data("sendMessage.kind"),
        "IMAGE"
    );
    assert_eq!(
        send("VOICE", &img, &c.patient, "2").await.code(),
        "BAD_USER_INPUT",
        "a PNG is no voice note"
    );
    assert_eq!(
        send("FILE", &img, &c.doctor, "3").await.code(),
        "NOT_FOUND",
        "only your own files"
    );
    // The doctor may now download it: it was sent in their conversation.
    let url = app.url(&format!("/files/{}", img["id"].as_str().expect("id")));
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&c.doctor)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    // A doctor's attachment is readable by the patient.
    let report = upload(app, &c.doctor, b"%PDF-1.4 report".to_vec(), "report.pdf").await;
    let pid = app
        .gql(Some(&c.patient), "{ me { id } }", json!({}))
        .await
        .data("me.id")
        .clone();
    let doc = app
        .gql(
            Some(&c.doctor),
            "mutation($i: CreateCaseDocumentInput!) { createCaseDocument(input: $i) { id attachments } }",
            json!({ "i": { "patientId": pid, "kind": "TREATMENT_REPORT", "title": "t", "occurredAt": "2026-01-01T00:00:00Z", "content": {}, "attachments": [report["id"]] } }),
        )
        .await;
    assert_eq!(
        doc.data("createCaseDocument.attachments"),
        &json!([report["id"]])
    );
    let rurl = app.url(&format!("/files/{}", report["id"].as_str().expect("id")));
    assert_eq!(
        app.client
            .get(&rurl)
            .bearer_auth(&c.patient)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    let bad = app
        .gql(
            Some(&c.doctor),
            "mutation($i: CreateCaseDocumentInput!) { createCaseDocument(input: $i) { id } }",
            json!({ "i": { "patientId": pid, "kind": "TREATMENT_REPORT", "title": "t", "occurredAt": "2026-01-01T00:00:00Z", "content": {}, "attachments": [img["id"]] } }),
        )
        .await;
    assert_eq!(
        bad.code(),
        "BAD_USER_INPUT",
        "attachments must be the author's files"
    );
}

#[tokio::test]
async fn garbage_collection_removes_only_unreferenced_blobs() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    let (ann, _) = app.patient("ann@example.com").await;
    let keep = upload(&app, &ann, png(), "keep.png").await;
    let gone = upload(&app, &ann, b"temporary bytes".to_vec(), "gone.txt").await;
    assert_eq!(blob_count(&app), 2);
    // A file deleted by hand leaves its blob unreferenced.
    let db = app.services.stores.sql.writer();
    let id = gone["id"].as_str().expect("id");
    db.execute(Statement::from_string(
        db.get_database_backend(),
        format!("DELETE FROM files WHERE id = {id}"),
    ))
    .await
    .expect("delete");
    let removed = app
        .services
        .files
        .collect_garbage(std::time::Duration::ZERO)
        .await
        .expect("gc");
    assert_eq!(removed, 1);
    assert_eq!(blob_count(&app), 1);
    let url = app.url(&format!("/files/{}", keep["id"].as_str().expect("id")));
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&ann)
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    // Recently used blobs are left alone.
    assert_eq!(
        app.services
            .files
            .collect_garbage(std::time::Duration::from_secs(3600))
            .await
            .expect("gc"),
        0
    );
}
