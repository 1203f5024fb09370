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
mod mls;
pub mod problem;
mod well_known;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use base64ct::{Base64, Encoding};

pub use json::MAX_BODY_BYTES;

use crate::abuse::Abuse;
use crate::access::Access;
use crate::breakglass::BreakGlass;
use crate::clock::Clock;
use crate::config::Config;
use crate::issuance::Minter;
use crate::issuance::disclosures::DisclosureIssuer;
use crate::keys::directory::KeySet;
use crate::store::Store;
use crate::verify::Verifier;

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
        .fallback(|| async { problem::Problem::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Standard base64 with padding: the encoding of every binary value in the API.
fn b64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}
