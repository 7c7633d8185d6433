//! Read/write routing: reads on the replica, a writer's own reads on the
//! primary, and the primary when the replica is down.
use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{
    eventually, exclusive_services, real_services, spawn_app_guarded, spawn_app_with, Options,
    Stopped,
};

const DOCTOR: &str = "query($id: ID!) { doctor(id: $id) { id name } }";

/// The replica here is a migrated database that never receives the primary's
/// writes, so whatever a read returns shows where it was served.
#[tokio::test]
async fn reads_go_to_the_replica_and_writers_read_their_writes() {
    let app = spawn_app_with(Options {
        stale_replica: true,
        ..Default::default()
    })
    .await;
    let (token, id) = app.doctor("writer@example.com", "Cardiology").await;

    // The author sees its own write at once (primary, read-your-writes).
    let own = app.gql(Some(&token), DOCTOR, json!({ "id": id })).await;
    assert_eq!(own.data("doctor.id"), &json!(id));
    // Everyone else reads the replica, which does not have it.
    let other = app.gql(None, DOCTOR, json!({ "id": id })).await;
    assert_eq!(other.data("doctor"), &json!(null));

    // A row only the replica holds is what ordinary reads return.
    let replica = app
        .services
        .stores
        .sql
        .replica_connection()
        .expect("replica configured");
    let backend = replica.get_database_backend();
    for sql in [
        "INSERT INTO accounts (id, role, login, password_hash, created_at) VALUES (900000001, 'DOCTOR', 'ghost@example.com', 'x', '2026-01-01 00:00:00')",
        "INSERT INTO doctors (account_id, name, title, department, hospital, specialties, bio, accepting_patients, updated_at) VALUES (900000001, 'Only On Replica', 't', 'd', 'h', '', '', 1, '2026-01-01 00:00:00')",
    ] {
        replica.execute(Statement::from_string(backend, sql)).await.expect("insert on replica");
    }
    let ghost = app.gql(None, DOCTOR, json!({ "id": "900000001" })).await;
    assert_eq!(ghost.data("doctor.name"), "Only On Replica");
    let stats = app.readyz().await.1;
    assert!(
        stats["sql"]["replica_reads"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{stats}"
    );

    // Once the window has passed, the author's reads go to the replica too.
    let window = Duration::from_millis(app.config.read_your_writes_ms);
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    let later = app.gql(None, DOCTOR, json!({ "id": id })).await;
    assert_eq!(later.data("doctor"), &json!(null));
}

#[tokio::test]
async fn an_unreachable_replica_sends_reads_to_the_primary() {
    let app = spawn_app_with(Options {
        dead_replica: true,
        ..Default::default()
    })
    .await;
    let (_, id) = app.doctor("d@example.com", "Neurology").await;
    let r = app.gql(None, DOCTOR, json!({ "id": id })).await;
    assert_eq!(r.data("doctor.id"), &json!(id));
    let (status, body) = app.readyz().await;
    assert_eq!(
        status, 200,
        "the primary serves; the server stays ready: {body}"
    );
    assert_eq!(body["sql"]["replica"], "down");
}

/// Stops the real replica mid-test: reads keep working, `/readyz` says so,
/// and reads return to the replica once it is back.
#[tokio::test]
async fn stopping_the_replica_mid_test() {
    if !real_services() {
        eprintln!("stopping_the_replica_mid_test needs the real replica; the embedded run covers an unreachable replica above");
        return;
    }
    let guard = exclusive_services().await;
    let app = spawn_app_guarded(Options::default(), Some(guard)).await;
    let (_, id) = app.doctor("d@example.com", "Neurology").await;
    let stopped = Stopped::new("replica");
    for _ in 0..5 {
        let r = app.gql(None, DOCTOR, json!({ "id": id })).await;
        assert_eq!(r.data("doctor.id"), &json!(id));
    }
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sql"]["replica"], "down", "{body}");
    drop(stopped);
    eventually(
        Duration::from_secs(20),
        "the replica to be used again",
        || async { app.readyz().await.1["sql"]["replica"] == "ok" },
    )
    .await;
    app.caught_up().await;
    let r = app.gql(None, DOCTOR, json!({ "id": id })).await;
    assert_eq!(r.data("doctor.id"), &json!(id));
}
