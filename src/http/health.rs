//! `/healthz`: the process answers. `/readyz`: every backend answers; the body
//! says which backend is which and how far the replica lags.
use poem::{
    handler,
    http::StatusCode,
    web::{Data, Json},
    IntoResponse, Response,
};

use super::SharedState;

#[handler]
pub fn healthz() -> &'static str {
    "ok"
}

#[handler]
pub async fn readyz(Data(state): Data<&SharedState>) -> Response {
    let readiness = state.services.stores.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(readiness).with_status(status).into_response()
}
