//! HTTP interface: one module per caller. Handlers parse, authenticate,
//! call one domain method and map its error; no business logic here.

mod abuse;
mod admin;
mod audit;
mod auth;
mod backend;
mod break_glass;
mod disclosures;
mod health;
mod hub;
mod json;
pub mod metrics;
mod mls;
pub mod openapi;
pub mod problem;
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

pub use json::MAX_BODY_BYTES;

use crate::api::metrics::Metrics;
use crate::core::clock::Clock;
use crate::services::abuse::Abuse;
use crate::services::access::Access;
use crate::services::breakglass::BreakGlass;
use crate::services::config::Config;
use crate::services::disclose::DisclosureIssuer;
use crate::services::keyring::KeySet;
use crate::services::mint::Minter;
use crate::services::verify::Verifier;
use crate::store::Store;

/// Everything a handler may reach, shared by all requests.
pub struct Services {
    pub config: Config,
    pub store: Store,
    pub keys: Arc<KeySet>,
    pub access: Access,
    pub minter: Minter,
    pub abuse: Abuse,
    pub break_glass: BreakGlass,
    pub disclosures: DisclosureIssuer,
    pub verifier: Verifier,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Services>);

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(well_known::routes())
        .merge(backend::routes())
        .merge(disclosures::routes())
        .merge(hub::routes())
        .merge(mls::routes())
        .merge(admin::routes())
        .merge(audit::routes())
        .merge(break_glass::routes())
        .merge(abuse::routes())
        .merge(openapi::routes())
        .fallback(|| async { problem::Problem::not_found("no such route") })
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
    state.metrics.observe_request(method.as_str(), &route, response.status().as_u16(), seconds);
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
