//! Liveness, readiness and the Prometheus scrape endpoint.

use axum::extract::State;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::services::access::Scope;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(ready)).routes(routes!(metrics))
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    description = "Liveness. Public: no authentication.",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")),
)]
/// Alive while the process answers.
async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    description = "Readiness: the database answers. Public: no authentication.",
    responses((status = 200, description = "Ready", body = String, content_type = "text/plain"), (status = 503, description = "The database is not reachable")),
)]
/// Ready when the database answers.
async fn ready(State(state): State<AppState>) -> Result<&'static str, Problem> {
    state.ping_database().await.map(|()| "ready").map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        Problem::not_ready()
    })
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    description = "Prometheus scrape endpoint. Scopes: `auditor`, `admin`.",
    responses((status = 200, description = "Prometheus metrics", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")),
    security(("bearer" = [])),
)]
/// Prometheus scrape endpoint (OpenMetrics text). It holds nothing about
/// any user, but traffic and key-operation counts are for operators only.
async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let (size, idle) = state.pool_usage();
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(size, idle),
    ))
}
