use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

const ME: &str = "{ me { id role login patient { name } doctor { name department } } }";

#[tokio::test]
async fn register_login_me_logout() {
    let app = spawn_app().await;
    let (token, id) = app.patient("ann@example.com").await;
    let me = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(me.data("me.id"), &json!(id));
    assert_eq!(me.data("me.role"), "PATIENT");
    assert_eq!(me.data("me.patient.name"), "Patient ann@example.com");
    assert_eq!(me.data("me.doctor"), &json!(null));

    let login = app
        .gql(None, "mutation { login(login: \"ANN@example.com\", password: \"correct-horse-1\") { token account { id } } }", json!({}))
        .await;
    let second = login
        .data("login.token")
        .as_str()
        .expect("token")
        .to_owned();
    assert_ne!(second, token);
    assert_eq!(
        app.gql(Some(&second), ME, json!({})).await.data("me.id"),
        &json!(id)
    );

    let out = app
        .gql(Some(&second), "mutation { logout }", json!({}))
        .await;
    assert_eq!(out.data("logout"), true);
    assert_eq!(
        app.gql(Some(&second), ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    // The first session is unaffected.
    assert_eq!(
        app.gql(Some(&token), ME, json!({})).await.data("me.id"),
        &json!(id)
    );
}

#[tokio::test]
async fn doctors_register_with_a_profile() {
    let app = spawn_app().await;
    let (token, _) = app.doctor("+8613800138000", "Cardiology").await;
    let me = app.gql(Some(&token), ME, json!({})).await;
    assert_eq!(me.data("me.role"), "DOCTOR");
    assert_eq!(me.data("me.login"), "+8613800138000");
    assert_eq!(me.data("me.doctor.department"), "Cardiology");
    assert_eq!(me.data("me.patient"), &json!(null));
}

#[tokio::test]
async fn wrong_password_and_unknown_login_fail_alike() {
    let app = spawn_app().await;
    app.patient("bob@example.com").await;
    let q = "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }";
    let wrong = app
        .gql(
            None,
            q,
            json!({ "l": "bob@example.com", "p": "wrong-password-1" }),
        )
        .await;
    let unknown = app
        .gql(
            None,
            q,
            json!({ "l": "nobody@example.com", "p": "wrong-password-1" }),
        )
        .await;
    assert_eq!(wrong.code(), "UNAUTHENTICATED");
    assert_eq!(unknown.code(), "UNAUTHENTICATED");
    assert_eq!(
        wrong.body["errors"][0]["message"],
        unknown.body["errors"][0]["message"]
    );
}

#[tokio::test]
async fn duplicate_login_is_a_conflict() {
    let app = spawn_app().await;
    app.patient("dup@example.com").await;
    let r = app
        .gql(
            None,
            "mutation { registerDoctor(input: {login: \"Dup@Example.com\", password: \"abcdefg12\", name: \"X\", title: \"T\", department: \"D\", hospital: \"H\"}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(r.code(), "CONFLICT");
}

async fn register_code(app: &TestApp, login: &str, password: &str, phone: Option<&str>) -> String {
    let r = app
        .gql(
            None,
            "mutation($i: RegisterPatientInput!) { registerPatient(input: $i) { token } }",
            json!({ "i": { "login": login, "password": password, "name": "N", "phone": phone } }),
        )
        .await;
    r.code().to_owned()
}

#[tokio::test]
async fn bad_registration_input_is_bad_user_input() {
    let app = spawn_app().await;
    for (login, password, phone) in [
        ("weak@example.com", "short1", None),
        ("weak@example.com", "lettersonly", None),
        ("not-an-email@", "abcdefg12", None),
        ("13800138000", "abcdefg12", None),
        ("+12ab", "abcdefg12", None),
        ("ok@example.com", "abcdefg12", Some("555-0100")),
    ] {
        assert_eq!(
            register_code(&app, login, password, phone).await,
            "BAD_USER_INPUT",
            "{login} {password} {phone:?}"
        );
    }
    // Nothing was created by the failures.
    let r = app
        .gql(
            None,
            "mutation { login(login: \"ok@example.com\", password: \"abcdefg12\") { token } }",
            json!({}),
        )
        .await;
    assert_eq!(r.code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn missing_malformed_expired_and_revoked_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    assert_eq!(app.gql(None, ME, json!({})).await.code(), "UNAUTHENTICATED");
    assert_eq!(
        app.gql(Some("garbage"), ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    let forged = format!("dsk_{}", "A".repeat(43));
    assert_eq!(
        app.gql(Some(&forged), ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );

    // Expired: an app whose tokens live zero hours, on the same backends.
    let mut config = app.config.clone();
    config.token_ttl_hours = 0;
    let short = crate::helpers::spawn_app_with(crate::helpers::Options {
        same_backends_as: Some(config),
        ..Default::default()
    })
    .await;
    let (token, _) = short.patient("brief@example.com").await;
    assert_eq!(
        short.gql(Some(&token), ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.gql(Some(&token), ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );

    let (token, _) = app.patient("revoked@example.com").await;
    app.gql(Some(&token), "mutation { logout }", json!({}))
        .await
        .data("logout");
    assert_eq!(
        app.gql(Some(&token), ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.gql(Some(&token), "mutation { logout }", json!({}))
            .await
            .code(),
        "UNAUTHENTICATED"
    );
}
