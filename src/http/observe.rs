//! Request ids, request logs and Prometheus metrics.
//!
//! Every response carries `x-request-id` (the client's, if it sent a sane
//! one, else a new one) and `x-drseek-instance`; every request is logged in
//! a span with that id, so one request can be followed through the logs.
use std::{sync::OnceLock, time::Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use poem::{handler, web::Data, Endpoint, IntoResponse, Middleware, Request, Response};
use tracing::Instrument as _;

use super::SharedState;

/// The process-wide Prometheus recorder. `metrics` has one recorder per
/// process by design; several apps in one process (tests) share it.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        })
        .as_ref()
}

fn sane_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A route label with bounded cardinality.
fn route(path: &str) -> &'static str {
    match path {
        "/graphql" => "graphql",
        "/ws" => "ws",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        p if p.starts_with("/files/") => "files",
        p if p == "/" || p.starts_with("/assets/") => "graphiql",
        _ => "other",
    }
}

/// Middleware: id, span, log line and metrics for every request.
pub struct Observe {
    pub instance: &'static str,
}

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = Observed<E>;

    fn transform(&self, inner: E) -> Self::Output {
        Observed {
            inner,
            instance: self.instance,
        }
    }
}

pub struct Observed<E> {
    inner: E,
    instance: &'static str,
}

impl<E: Endpoint> Endpoint for Observed<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let id = req
            .header("x-request-id")
            .filter(|h| sane_id(h))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let label = route(&path);
        let span = tracing::info_span!("request", request_id = %id, %method, %path);
        let started = Instant::now();
        let result = self.inner.call(req).instrument(span.clone()).await;
        let mut response = match result {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        ::metrics::counter!("drseek_http_requests_total", "route" => label, "status" => status.to_string()).increment(1);
        ::metrics::histogram!("drseek_http_request_duration_seconds", "route" => label)
            .record(elapsed.as_secs_f64());
        span.in_scope(|| {
            if matches!(label, "healthz" | "readyz" | "metrics") {
                tracing::debug!(status, ms = elapsed.as_millis() as u64, "request");
            } else {
                tracing::info!(status, ms = elapsed.as_millis() as u64, "request");
            }
        });
        if let Ok(v) = id.parse() {
            response.headers_mut().insert("x-request-id", v);
        }
        if let Ok(v) = self.instance.parse() {
            response.headers_mut().insert("x-drseek-instance", v);
        }
        Ok(response)
    }
}

/// Prometheus text format.
#[handler]
pub async fn metrics_endpoint(Data(state): Data<&SharedState>) -> Response {
    let sql = state.services.stores.sql.status().await;
    ::metrics::gauge!("drseek_replica_lag_seconds").set(sql.replica_lag_secs.unwrap_or(-1) as f64);
    ::metrics::gauge!("drseek_replica_reads").set(sql.replica_reads as f64);
    ::metrics::gauge!("drseek_primary_fallback_reads").set(sql.fallback_reads as f64);
    let body = prometheus()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

/// Distinct operation names kept as metric labels; later ones count as `other`.
const MAX_OPERATION_LABELS: usize = 200;

/// The metric label for a client-chosen operation name: the name if it is a
/// plain GraphQL name of at most 64 characters and one of the first
/// [`MAX_OPERATION_LABELS`] seen, else `other` (bounded cardinality);
/// `anonymous` without a name.
pub fn operation_label(name: Option<&str>) -> String {
    static SEEN: std::sync::Mutex<Option<std::collections::HashSet<String>>> =
        std::sync::Mutex::new(None);
    let Some(name) = name else {
        return "anonymous".into();
    };
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if !plain {
        return "other".into();
    }
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    let seen = seen.get_or_insert_with(Default::default);
    if seen.contains(name) || seen.len() < MAX_OPERATION_LABELS {
        seen.insert(name.to_owned());
        name.to_owned()
    } else {
        "other".into()
    }
}

/// Counts one executed GraphQL operation and its duration.
pub fn graphql_operation(name: String, kind: &'static str, ok: bool, elapsed: std::time::Duration) {
    let outcome = if ok { "ok" } else { "error" };
    ::metrics::counter!("drseek_graphql_operations_total", "operation" => name.clone(), "type" => kind, "outcome" => outcome).increment(1);
    ::metrics::histogram!("drseek_graphql_operation_duration_seconds", "operation" => name, "type" => kind)
        .record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::operation_label;

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("ContactsPage")), "ContactsPage");
        for bad in ["", "1abc", "a b", "x{y}", "é", &"a".repeat(65)] {
            assert_eq!(operation_label(Some(bad)), "other", "{bad}");
        }
        for i in 0..300 {
            let _ = operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(operation_label(Some("ContactsPage")), "ContactsPage");
        assert_eq!(operation_label(Some("NeverSeenBefore")), "other");
    }
}
