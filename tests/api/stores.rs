//! Each storage trait, through the implementation the server chose.
use std::time::Duration;

use drseek::store::documents::DocumentStore as _;
use serde_json::json;

use crate::helpers::{real_services, spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn document_store_round_trips_json() {
    let app = spawn_app().await;
    let docs = &app.services.stores.documents;
    let body = json!({ "title": "Discharge summary", "vitals": { "bp": [120, 80] }, "notes": ["a", "b"], "ok": true });
    let body = body.as_object().expect("object").clone();
    docs.insert("probe", "doc-1", &body).await.expect("insert");
    assert_eq!(
        docs.get("probe", "doc-1").await.expect("get"),
        Some(body.clone())
    );
    assert_eq!(docs.get("probe", "missing").await.expect("get"), None);
    assert!(
        docs.insert("probe", "doc-1", &body).await.is_err(),
        "ids are unique"
    );
    docs.ping().await.expect("ping");
}

#[tokio::test]
async fn cache_gets_sets_deletes_and_expires() {
    let app = spawn_app().await;
    let cache = &app.services.stores.cache;
    let keys = vec!["t:a".to_owned(), "t:b".to_owned(), "t:c".to_owned()];
    cache
        .set_many(
            &[
                (keys[0].clone(), b"1".to_vec()),
                (keys[1].clone(), b"2".to_vec()),
            ],
            Duration::from_secs(60),
        )
        .await
        .expect("set");
    assert_eq!(
        cache.get_many(&keys).await.expect("get"),
        vec![Some(b"1".to_vec()), Some(b"2".to_vec()), None]
    );
    cache.delete(&keys[..1]).await.expect("delete");
    assert_eq!(cache.get_many(&keys[..1]).await.expect("get"), vec![None]);
    cache
        .set_many(
            &[(keys[2].clone(), b"3".to_vec())],
            Duration::from_millis(50),
        )
        .await
        .expect("set");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cache.get_many(&keys[2..]).await.expect("get"), vec![None]);
}

#[tokio::test]
async fn bus_delivers_to_subscribers() {
    let app = spawn_app().await;
    let bus = &app.services.stores.bus;
    let mut rx = bus.subscribe("probe");
    let mut other = bus.subscribe("other-topic");
    bus.publish("probe", b"hello").await.expect("publish");
    let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("in time")
        .expect("message");
    assert_eq!(&*got, b"hello");
    assert!(other.try_recv().is_err(), "topics are separate");
}

/// With Redis, what one instance publishes reaches every instance.
#[tokio::test]
async fn bus_reaches_other_instances() {
    let a = spawn_app().await;
    let b = spawn_app_with(Options {
        same_backends_as: Some(a.config.clone()),
        ..Default::default()
    })
    .await;
    let mut rx = b.services.stores.bus.subscribe("cross");
    a.services
        .stores
        .bus
        .publish("cross", b"from-a")
        .await
        .expect("publish");
    let got = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
    if real_services() {
        assert_eq!(&*got.expect("in time").expect("message"), b"from-a");
    } else {
        // The in-process bus is per process by design.
        assert!(
            got.is_err(),
            "in-process buses must not share state between instances"
        );
    }
}
