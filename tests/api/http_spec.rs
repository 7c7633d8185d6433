//! GraphQL over HTTP as the spec says, limits, GraphiQL and health.
use serde_json::{json, Value};

use crate::helpers::spawn_app;

const GQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test]
async fn malformed_bodies_and_media_types() {
    let app = spawn_app().await;
    let post = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(
        post("{not json", "application/json")
            .await
            .expect("send")
            .status(),
        400
    );
    assert_eq!(
        post("{\"variables\": {}}", "application/json")
            .await
            .expect("send")
            .status(),
        400
    );
    assert_eq!(
        post(
            "{\"query\": \"{ __typename }\", \"variables\": 3}",
            "application/json"
        )
        .await
        .expect("send")
        .status(),
        400
    );
    assert_eq!(
        post("query { __typename }", "text/plain")
            .await
            .expect("send")
            .status(),
        415
    );
    let ok = post(
        "{\"query\": \"{ __typename }\"}",
        "application/json; charset=utf-8",
    )
    .await
    .expect("send");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "application/json");
    assert_eq!(
        ok.json::<Value>().await.expect("json")["data"]["__typename"],
        "Query"
    );
}

#[tokio::test]
async fn invalid_queries_get_the_spec_status_per_media_type() {
    let app = spawn_app().await;
    for (query, what) in [
        ("{ doctors( }", "unparseable"),
        ("{ noSuchField }", "invalid"),
    ] {
        let legacy = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("send");
        assert_eq!(legacy.status(), 200, "{what} with application/json");
        let body: Value = legacy.json().await.expect("json");
        assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()));
        let modern = app
            .client
            .post(app.url("/graphql"))
            .header("accept", GQL_RESPONSE)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("send");
        assert_eq!(modern.status(), 400, "{what} with graphql-response+json");
        assert_eq!(modern.headers()["content-type"], GQL_RESPONSE);
    }
    // A field error is not a request error: 200 even with graphql-response+json.
    let field_error = app
        .client
        .post(app.url("/graphql"))
        .header("accept", GQL_RESPONSE)
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .expect("send");
    assert_eq!(field_error.status(), 200);
    let not_acceptable = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/html")
        .json(&json!({"query": "{__typename}"}))
        .send()
        .await
        .expect("send");
    assert_eq!(not_acceptable.status(), 406);
}

#[tokio::test]
async fn get_serves_queries_and_refuses_mutations() {
    let app = spawn_app().await;
    let ok = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ doctors { edges { cursor } } }")])
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    assert!(ok.json::<Value>().await.expect("json")["data"]["doctors"]["edges"].is_array());
    let mutation = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { logout }")])
        .send()
        .await
        .expect("send");
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
    let bad_vars = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }"), ("variables", "{oops")])
        .send()
        .await
        .expect("send");
    assert_eq!(bad_vars.status(), 400);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let padding = "x".repeat(app.config.max_body_bytes + 10);
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ __typename }", "variables": { "p": padding } }))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 413);
    // Without a Content-Length (chunked), the limit still holds.
    let chunks =
        futures_util::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 100_000])));
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn depth_and_complexity_limits() {
    let app = spawn_app().await;
    // Depth: nest __type.ofType beyond the limit.
    let mut deep = String::from("name");
    for _ in 0..app.config.max_query_depth {
        deep = format!("ofType {{ {deep} }}");
    }
    let q = format!("{{ __type(name: \"Query\") {{ {deep} }} }}");
    let r = app.gql(None, &q, json!({})).await;
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too deep")),
        "{}",
        r.body
    );
    // Complexity: a list's cost is its page size times its items' cost.
    let aliases = app.config.max_query_complexity / 600 + 2;
    let fields: String = (0..aliases).map(|i| format!("a{i}: doctors(first: 100) {{ edges {{ node {{ id name title department hospital }} }} }} ")).collect();
    let r = app.gql(None, &format!("{{ {fields} }}"), json!({})).await;
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too complex")),
        "{}",
        r.body
    );
}

/// GraphiQL loads the schema with the standard introspection query: the
/// depth and complexity limits must let it through.
#[tokio::test]
async fn the_standard_introspection_query_passes_the_limits() {
    let app = spawn_app().await;
    let mut type_ref = String::from("kind name");
    for _ in 0..9 {
        type_ref = format!("kind name ofType {{ {type_ref} }}");
    }
    let q = format!(
        "query IntrospectionQuery {{ __schema {{ queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
           types {{ ...FullType }} directives {{ name args {{ ...InputValue }} }} }} }}
         fragment FullType on __Type {{ kind name description
           fields(includeDeprecated: true) {{ name args {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated }}
           inputFields {{ ...InputValue }} interfaces {{ ...TypeRef }}
           enumValues(includeDeprecated: true) {{ name }} possibleTypes {{ ...TypeRef }} }}
         fragment InputValue on __InputValue {{ name type {{ ...TypeRef }} defaultValue }}
         fragment TypeRef on __Type {{ {type_ref} }}"
    );
    let r = app.gql(None, &q, json!({})).await;
    assert!(r
        .data("__schema.types")
        .as_array()
        .is_some_and(|t| t.len() > 20));
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/")).send().await.expect("send");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("graphiql"));
    // Everything it loads comes from this server.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(
            !html.contains(attr),
            "GraphiQL page loads an external resource: {attr}"
        );
    }
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        assert!(
            html.contains(&format!("/assets/graphiql/{asset}")),
            "{asset} not referenced"
        );
        let r = app
            .client
            .get(app.url(&format!("/assets/graphiql/{asset}")))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.bytes().await.expect("bytes").len() > 1000);
    }
    assert_eq!(
        app.client
            .get(app.url("/assets/graphiql/nope.js"))
            .send()
            .await
            .expect("send")
            .status(),
        404
    );
}

#[tokio::test]
async fn health_and_readiness_report_every_backend() {
    let app = spawn_app().await;
    let h = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("send");
    assert_eq!(h.status(), 200);
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    let (docs, cache, bus) = if crate::helpers::real_services() {
        ("mongodb", "redis", "redis")
    } else {
        ("embedded", "memory", "memory")
    };
    assert_eq!(body["documents"]["kind"], docs);
    assert_eq!(body["cache"]["kind"], cache);
    assert_eq!(body["bus"]["kind"], bus);
    let replica = if crate::helpers::real_services() {
        "ok"
    } else {
        "none"
    };
    assert_eq!(body["sql"]["replica"], replica, "{body}");
}

/// A client that stops half-way through its request headers (slowloris) is
/// disconnected after the idle timeout, and the server keeps serving.
#[tokio::test]
async fn a_half_sent_request_is_dropped_after_the_idle_timeout() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app().await;
    let mut config = app.config.clone();
    config.http_idle_timeout_secs = 1;
    let quick = crate::helpers::spawn_app_with(crate::helpers::Options {
        same_backends_as: Some(config),
        ..Default::default()
    })
    .await;
    for partial in [
        "POST /graphql HTTP/1.1\r\nHost: drseek\r\nContent-Type: appl",
        "POST /graphql HTTP/1.1\r\nHost: drseek\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":",
    ] {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", quick.port))
            .await
            .expect("connect");
        socket.write_all(partial.as_bytes()).await.expect("write");
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            socket.read_to_end(&mut buf),
        )
        .await;
        assert!(read.is_ok(), "still connected after 10 s: {partial:?}");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(500),
            "closed before the timeout"
        );
    }
    let r = quick.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(r.data("__typename"), "Query");
}
