//! Routes for the provider's backend: minting.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::{AppState, b64};
use crate::core::clock::rfc3339;
use crate::formats::keys::public_key::Jwk;
use crate::formats::x509::der_to_pem;
use crate::services::abuse::relations::Relation;
use crate::services::access::Scope;
use crate::services::mint::{MintError, MintRequest, Minted};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/pseudonyms", post(mint))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MintBody {
    account: String,
    /// Public keys as JWKs (P-256 `EC` or `OKP` Ed25519), one pseudonym each.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<Jwk>,
    #[serde(default)]
    connection_only: bool,
    #[serde(default = "default_validity")]
    validity_days: u32,
    #[serde(default)]
    relations: Vec<Relation>,
}

fn default_validity() -> u32 {
    30
}

#[derive(Serialize, utoipa::ToSchema)]
struct MintResponse {
    pseudonyms: Vec<PseudonymBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PseudonymBody {
    id: String,
    uri: String,
    certificate_chain: Vec<String>,
    certificate_pem: String,
    mls_credential: String,
    not_before: String,
    not_after: String,
    connection_only: bool,
}

#[utoipa::path(
    post,
    path = "/v1/pseudonyms",
    tag = "backend",
    description = "Mint pseudonyms for an account. Scopes: `backend`.",
    request_body = MintBody,
    responses((status = 201, description = "Pseudonyms minted, one per key", body = MintResponse), (status = 409, description = "Key already used"), (status = 429, description = "Rate limited; see Retry-After")),
    security(("bearer" = [])),
)]
async fn mint(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<MintBody>,
) -> Result<(StatusCode, Json<MintResponse>), Problem> {
    let client = caller.require(&[Scope::Backend])?;
    let request = MintRequest {
        account: body.account,
        client_id: client.id.clone(),
        relations: body.relations,
        keys: body.keys,
        connection_only: body.connection_only,
        validity_days: body.validity_days,
    };
    let minted = state.minter.mint(&request).await.map_err(mint_problem)?;
    state.metrics.pseudonyms_minted(minted.len() as u64);
    let ca_der = state.keys.ca.cert_der();
    let pseudonyms = minted.into_iter().map(|m| pseudonym_body(m, ca_der)).collect();
    Ok((StatusCode::CREATED, Json(MintResponse { pseudonyms })))
}

fn pseudonym_body(m: Minted, ca_der: &[u8]) -> PseudonymBody {
    PseudonymBody {
        certificate_pem: der_to_pem(&m.leaf_der),
        certificate_chain: vec![b64(&m.leaf_der), b64(ca_der)],
        mls_credential: b64(&m.mls_credential),
        not_before: rfc3339(m.not_before),
        not_after: rfc3339(m.not_after),
        connection_only: m.connection_only,
        id: m.id,
        uri: m.uri,
    }
}

fn mint_problem(error: MintError) -> Problem {
    match error {
        MintError::InvalidRequest(detail) => Problem::invalid(detail),
        MintError::InvalidKey { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-key",
            "Invalid key",
            error.to_string(),
        ),
        MintError::DuplicateKey { .. } | MintError::KeyInUse => {
            Problem::new(StatusCode::CONFLICT, "key-in-use", "Key already used", error.to_string())
        }
        MintError::AccountRestricted => Problem::new(
            StatusCode::FORBIDDEN,
            "account-restricted",
            "Account restricted",
            error.to_string(),
        ),
        MintError::ReputationTooLow => Problem::new(
            StatusCode::FORBIDDEN,
            "reputation-too-low",
            "Reputation too low",
            error.to_string(),
        ),
        MintError::RateLimited { retry_after, .. } => {
            Problem::rate_limited(error.to_string(), retry_after)
        }
        MintError::Internal(cause) => Problem::internal(cause),
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(mint))]
pub(super) struct Doc;
