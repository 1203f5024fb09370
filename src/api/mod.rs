//! HTTP interface: one module per resource. Handlers parse, authenticate,
//! call one domain method and let `?` map its error (`problem.rs`); no
//! business logic here. Request and response bodies are declared here and
//! never leave this module.

mod accounts;
mod audit;
mod auth;
mod break_glass;
mod clients;
mod credentials;
mod disclosures;
mod health;
mod json;
mod key_packages;
pub mod metrics;
pub mod openapi;
mod operators;
mod params;
mod presentations;
mod problem;
mod pseudonym_clients;
mod pseudonyms;
mod remedies;
mod reports;
mod reputation;
mod schemas;
pub mod serve;
mod status_lists;
mod well_known;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{HeaderName, Request};
use base64ct::{Base64, Encoding};
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::openapi::Deprecated;
use utoipa::openapi::path::Paths;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

/// Largest accepted request body (the router's limit; a larger one is a
/// 413 problem).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

use crate::api::metrics::Metrics;
use crate::services::Services;

/// What every request reaches: the domain services and the metrics.
#[derive(Clone)]
pub struct AppState {
    services: Arc<Services>,
    metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self { services: Arc::new(services), metrics: Arc::new(Metrics::new()) }
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

/// Every route, each registered once: the router and the OpenAPI document
/// (`openapi::document`) are both split from this.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(openapi::routes())
        .merge(health::routes())
        .merge(well_known::routes())
        .merge(status_lists::routes())
        .merge(pseudonyms::routes())
        .merge(disclosures::routes())
        .merge(pseudonym_clients::routes())
        .merge(presentations::routes())
        .merge(key_packages::routes())
        .merge(credentials::routes())
        .merge(accounts::routes())
        .merge(reports::routes())
        .merge(remedies::routes())
        .merge(reputation::routes())
        .merge(clients::routes())
        .merge(operators::routes())
        .merge(audit::routes())
        .merge(break_glass::routes())
}

/// Registers `routes` a second time under the pre-`/v1/admin/` path `old`:
/// the same handlers, documented as deprecated (with `_deprecated` operation
/// ids and a pointer to the new path). Kept for one release.
fn deprecated_alias(
    router: OpenApiRouter<AppState>,
    old: &str,
    (schemas, paths, method_router): UtoipaMethodRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let mut aliased = Paths::new();
    for (new, mut item) in paths.paths {
        for operation in openapi::operations_mut(&mut item) {
            operation.deprecated = Some(Deprecated::True);
            let description = operation.description.take().unwrap_or_default();
            operation.description = Some(format!(
                "Deprecated alias of `{new}`, removed in the next release. {description}"
            ));
            operation.operation_id = operation.operation_id.take().map(|id| id + "_deprecated");
        }
        aliased.paths.insert(old.to_string(), item);
    }
    router.routes((schemas, aliased, method_router))
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(|| async { problem::Problem::not_found("no such route") })
        .method_not_allowed_fallback(|| async { problem::Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(request_span).on_response(
            DefaultOnResponse::new().level(Level::INFO).latency_unit(LatencyUnit::Micros),
        ))
        // Outermost, so the id exists before the span is made.
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// Counts every request by route template and status, with its latency.
async fn track(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    state.metrics.observe_request(&method, &route, response.status().as_u16(), seconds);
    response
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One span per request: method, route template (never the concrete path,
/// which may carry a pseudonym id) and the request id echoed to the caller.
fn request_span(request: &Request<Body>) -> tracing::Span {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    // A caller's id is logged only when it looks like one: no log injection.
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .unwrap_or("invalid");
    tracing::info_span!("request", method = %request.method(), route, request_id = id)
}

/// One failed check in a verification or validation report: a stable code
/// and a human-readable detail.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct FindingBody {
    code: &'static str,
    detail: String,
}

impl From<crate::services::verify::Finding> for FindingBody {
    fn from(finding: crate::services::verify::Finding) -> Self {
        Self { code: finding.code, detail: finding.detail }
    }
}

/// Standard base64 with padding: the encoding of every binary value in the API.
fn b64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// RFC 3339 (UTC, whole seconds): the format of every time in the API.
fn time(unix: i64) -> String {
    crate::core::clock::rfc3339(unix)
}
