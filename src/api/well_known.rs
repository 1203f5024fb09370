//! Public issuer metadata: what a hub needs to trust our pseudonyms.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/.well-known/veil-issuer", get(issuer))
}

#[derive(Serialize)]
struct IssuerMetadata {
    domain: String,
    pseudonym_uri_prefix: String,
    ca_certificates: Vec<String>,
    key_ids: KeyIds,
}

#[derive(Serialize)]
struct KeyIds {
    ca: String,
    sd_jwt: String,
    sd_cwt: String,
}

async fn issuer(State(state): State<AppState>) -> Json<IssuerMetadata> {
    let keys = &state.keys;
    Json(IssuerMetadata {
        domain: state.config.domain.clone(),
        pseudonym_uri_prefix: state.minter.uri_prefix().to_string(),
        ca_certificates: vec![keys.ca.cert_pem().to_string()],
        key_ids: KeyIds {
            ca: keys.ca.key_id().to_string(),
            sd_jwt: keys.sd_jwt.kid().to_string(),
            sd_cwt: keys.sd_cwt.kid().to_string(),
        },
    })
}
