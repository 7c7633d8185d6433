//! GraphQL over HTTP, following the GraphQL-over-HTTP spec:
//! - `POST` with `application/json`; `GET` for queries only (405 for mutations);
//! - responses as `application/graphql-response+json` when the client accepts
//!   it (then parse and validation failures are 400), else `application/json`
//!   (always 200 for a well-formed request);
//! - a malformed body is 400, an unsupported media type 415, an oversized body 413.
use async_graphql::{
    parser::{parse_query, types::OperationType},
    Request as GqlRequest, Response as GqlResponse, Variables,
};
use futures_util::StreamExt as _;
use poem::{
    handler,
    http::{header, Method, StatusCode},
    web::Data,
    Body, IntoResponse, Request, Response,
};
use serde::Deserialize;

use super::SharedState;
use crate::auth::{self, Viewer};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// Which response media type the client asked for.
fn negotiate(req: &Request) -> Option<&'static str> {
    let Some(accept) = req.header(header::ACCEPT) else {
        return Some(JSON);
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    if types.contains(&GRAPHQL_RESPONSE_JSON) {
        Some(GRAPHQL_RESPONSE_JSON)
    } else if types
        .iter()
        .any(|t| *t == JSON || *t == "*/*" || *t == "application/*")
        || types.iter().all(|t| t.is_empty())
    {
        Some(JSON)
    } else {
        None
    }
}

/// Why a request is not a GraphQL request at all; becomes a non-200 response.
pub struct Rejection {
    status: StatusCode,
    message: String,
}

pub fn reject(status: StatusCode, message: &str) -> Rejection {
    Rejection {
        status,
        message: message.to_owned(),
    }
}

impl Rejection {
    fn into_response(self, media: &'static str) -> Response {
        let body = serde_json::json!({
            "errors": [{ "message": self.message, "extensions": { "code": code_for(self.status) } }]
        });
        let mut builder = Response::builder().status(self.status).content_type(media);
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            builder = builder.header(header::ALLOW, "POST");
        }
        builder.body(body.to_string())
    }
}

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        _ => "BAD_REQUEST",
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRequest {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<serde_json::Value>,
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl WireRequest {
    pub fn into_request(self) -> Result<GqlRequest, Rejection> {
        let query = self
            .query
            .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "the request has no `query`"))?;
        let mut request = GqlRequest::new(query);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        match self.variables {
            None | Some(serde_json::Value::Null) => {}
            Some(v @ serde_json::Value::Object(_)) => {
                request = request.variables(Variables::from_json(v))
            }
            Some(_) => {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    "`variables` must be an object",
                ))
            }
        }
        if let Some(ext) = self.extensions {
            for (k, v) in ext {
                if let Ok(v) = async_graphql::Value::from_json(v) {
                    request.extensions.insert(k, v);
                }
            }
        }
        Ok(request)
    }
}

/// The client's address: the peer, or, behind a trusted proxy, the last
/// `X-Forwarded-For` entry (the one that proxy added; earlier ones are
/// whatever the client claimed).
pub fn client_ip(req: &Request, trust_forwarded_for: bool) -> crate::limits::ClientIp {
    let forwarded = trust_forwarded_for
        .then(|| req.header("x-forwarded-for"))
        .flatten()
        .and_then(|h| h.rsplit(',').next())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() <= 64);
    let peer = || {
        req.remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    crate::limits::ClientIp(forwarded.unwrap_or_else(peer))
}

/// Whether the named operation in `query` is a mutation (or subscription): not allowed over GET.
fn is_mutation(query: &str, operation: Option<&str>) -> bool {
    operation_kind(query, operation).is_some_and(|kind| kind != "query")
}

/// `query`, `mutation` or `subscription` for the operation a request runs;
/// None when the document does not parse or names no such operation.
fn operation_kind(query: &str, operation: Option<&str>) -> Option<&'static str> {
    let doc = parse_query(query).ok()?;
    let (_, op) = doc.operations.iter().find(|(name, _)| match operation {
        Some(op) => name.map(|n| n.as_str()) == Some(op),
        None => true,
    })?;
    Some(match op.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    })
}

/// Reads and discards the rest of a body, up to `cap` bytes and 30 s.
async fn drain<B: AsRef<[u8]>, E>(
    mut stream: impl futures_util::Stream<Item = Result<B, E>> + Unpin,
    cap: u64,
) {
    let mut seen = 0u64;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.as_ref().len() as u64;
            if seen > cap {
                break;
            }
        }
    })
    .await;
}

/// A "request error" in the spec's terms: the request never executed.
fn is_request_error(response: &GqlResponse) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

async fn read_request(
    req: &Request,
    body: Body,
    state: &SharedState,
) -> Result<(GqlRequest, super::upload::Uploads), Rejection> {
    if req.method() == Method::GET {
        let wire: WireRequest = match req.uri().query() {
            Some(q) => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Params {
                    query: Option<String>,
                    operation_name: Option<String>,
                    variables: Option<String>,
                    extensions: Option<String>,
                }
                let p: Params = serde_urlencoded::from_str(q)
                    .map_err(|_| reject(StatusCode::BAD_REQUEST, "malformed query string"))?;
                let json = |s: Option<String>,
                            what: &str|
                 -> Result<Option<serde_json::Value>, Rejection> {
                    s.map(|s| serde_json::from_str(&s))
                        .transpose()
                        .map_err(|_| {
                            reject(
                                StatusCode::BAD_REQUEST,
                                &format!("`{what}` is not valid JSON"),
                            )
                        })
                };
                let variables = json(p.variables, "variables")?;
                let extensions = match json(p.extensions, "extensions")? {
                    None => None,
                    Some(serde_json::Value::Object(m)) => Some(m),
                    Some(_) => {
                        return Err(reject(
                            StatusCode::BAD_REQUEST,
                            "`extensions` must be an object",
                        ))
                    }
                };
                WireRequest {
                    query: p.query,
                    operation_name: p.operation_name,
                    variables,
                    extensions,
                }
            }
            None => {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    "the request has no `query`",
                ))
            }
        };
        if let Some(q) = &wire.query {
            if is_mutation(q, wire.operation_name.as_deref()) {
                return Err(reject(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "mutations must be sent with POST",
                ));
            }
        }
        return Ok((wire.into_request()?, Default::default()));
    }
    let content_type = req.header(header::CONTENT_TYPE).unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "multipart/form-data" {
        // Multipart is a CORS-simple request: without a header a browser must
        // preflight, any site could make a logged-in browser upload (CSRF).
        let preflighted = [
            "graphql-preflight",
            "apollo-require-preflight",
            "x-apollo-operation-name",
        ]
        .iter()
        .any(|h| req.headers().contains_key(*h));
        if !preflighted {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "multipart requests need a `GraphQL-Preflight: 1` header",
            ));
        }
        return super::upload::read(content_type, body, state).await;
    }
    if essence != JSON {
        return Err(reject(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json or multipart/form-data",
        ));
    }
    let limit = state.services.config.max_body_bytes;
    let too_large = || {
        reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    // Bodies up to the largest request drseek takes at all (an upload) are
    // read to the end before a 413, so a proxy that is still sending them
    // gets the answer rather than a reset connection (nginx makes that a 502).
    let drain_cap = state
        .services
        .config
        .max_upload_bytes
        .saturating_add(limit as u64);
    if declared.is_some_and(|n| n > limit as u64) {
        if declared.is_some_and(|n| n <= drain_cap) {
            drain(body.into_bytes_stream(), drain_cap).await;
        }
        return Err(too_large());
    }
    let mut stream = body.into_bytes_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "could not read the request body",
            ));
        };
        if bytes.len() + chunk.len() > limit {
            drain(stream, drain_cap).await;
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let wire: WireRequest = serde_json::from_slice(&bytes).map_err(|e| {
        reject(
            StatusCode::BAD_REQUEST,
            &format!("the body is not a valid GraphQL request: {e}"),
        )
    })?;
    Ok((wire.into_request()?, Default::default()))
}

#[handler]
pub async fn graphql(req: &Request, body: Body, Data(state): Data<&SharedState>) -> Response {
    let Some(media) = negotiate(req) else {
        return Response::builder()
            .status(StatusCode::NOT_ACCEPTABLE)
            .body(format!("accept {GRAPHQL_RESPONSE_JSON} or {JSON}"));
    };
    let request = match read_request(req, body, state).await {
        Ok((r, uploads)) => r.data(uploads),
        Err(rejection) => return rejection.into_response(media),
    };
    let token = req.header(header::AUTHORIZATION).and_then(auth::bearer);
    let viewer: Viewer = state.services.accounts.authenticate(token).await;
    let kind = operation_kind(&request.query, request.operation_name.as_deref());
    let operation = super::observe::operation_label(request.operation_name.as_deref());
    if let Some(account) = viewer.account_id() {
        if kind.is_some_and(|k| k != "query") {
            let limits = &state.services.limits;
            if let Err(e) = limits
                .hit(
                    &format!("mutations:{}", account.0),
                    limits.mutations_per_account,
                )
                .await
            {
                let response = async_graphql::Response::from_errors(vec![
                    async_graphql::Error::from(e).into_server_error(Default::default()),
                ]);
                return Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header(header::RETRY_AFTER, "60")
                    .content_type(media)
                    .body(serde_json::to_string(&response).unwrap_or_default());
            }
        }
    }
    let ip = client_ip(req, state.services.config.trust_forwarded_for);
    let loaders = crate::loader::Loaders::for_request(&state.services.stores, &viewer);
    let started = std::time::Instant::now();
    let response = state
        .schema
        .execute(request.data(viewer).data(ip).data(loaders))
        .await;
    super::observe::graphql_operation(
        operation,
        kind.unwrap_or("invalid"),
        response.errors.is_empty(),
        started.elapsed(),
    );
    let status = if media == GRAPHQL_RESPONSE_JSON && is_request_error(&response) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match serde_json::to_string(&response) {
        Ok(body) => Response::builder()
            .status(status)
            .content_type(media)
            .header(header::CACHE_CONTROL, "no-store")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_detection() {
        assert!(is_mutation("mutation { logout }", None));
        assert!(!is_mutation("{ me { id } }", None));
        assert!(is_mutation(
            "query A { me { id } } mutation B { logout }",
            Some("B")
        ));
        assert!(!is_mutation(
            "query A { me { id } } mutation B { logout }",
            Some("A")
        ));
    }
}
