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
