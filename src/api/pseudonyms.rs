//! Pseudonyms: minted by the provider's backend, their status checked by
//! MIMI hubs.

use super::params::ApiPath;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::schemas::{self, AccountIdSchema};
use super::{AppState, b64, time};
use crate::core::status::PseudonymStatus;
use crate::formats::keys::public_key::Jwk;
use crate::formats::x509::der_to_pem;
use crate::services::abuse::relations;
use crate::services::access::Scope;
use crate::services::mint::{MintRequest, Minted};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mint)).routes(routes!(status))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MintBody {
    #[schema(value_type = AccountIdSchema)]
    account: String,
    /// Public keys as P-256 JWKs (`kty` `EC`, `crv` `P-256`), one pseudonym each;
    /// any other key is 422 `invalid-key`.
    #[schema(schema_with = schemas::mint_keys)]
    keys: Vec<Jwk>,
    #[serde(default)]
    connection_only: bool,
    /// Days the certificates are valid: at most the service's
    /// `max_validity_days` (default 90), which is never over 3650.
    #[serde(default = "default_validity")]
    #[schema(minimum = 1, maximum = 3650)]
    validity_days: u32,
    /// Identifiers this account may share with others (remedies with
    /// `related` reach them).
    #[serde(default)]
    #[schema(max_items = 8)]
    relations: Vec<Relation>,
}

fn default_validity() -> u32 {
    30
}

/// One relation key as the backend sends it, e.g. `{"kind": "email", "value": "a@b.example"}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Relation {
    /// Lower-case letters and `_`, e.g. `email`, `phone`.
    #[schema(min_length = 1, max_length = 32, pattern = "^[a-z_]+$")]
    kind: String,
    /// Compared trimmed and lower-cased (phone numbers also without spaces,
    /// dots, dashes and brackets); 1 to 256 bytes once normalized.
    #[schema(min_length = 1)]
    value: String,
}

impl From<Relation> for relations::Relation {
    fn from(r: Relation) -> Self {
        Self { kind: r.kind, value: r.value }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct MintResponse {
    pseudonyms: Vec<PseudonymBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PseudonymBody {
    id: String,
    uri: String,
    #[serde(flatten)]
    certificate: CertificateBody,
    connection_only: bool,
}

/// A certificate veil issued (a pseudonym's, or a further client's), as
/// every response that issues one carries it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CertificateBody {
    /// Standard base64 DER: the certificate first, then the CA.
    certificate_chain: Vec<String>,
    certificate_pem: String,
    /// Standard base64 of the MLS x509 `Credential` holding that chain.
    mls_credential: String,
    #[schema(format = DateTime)]
    not_before: String,
    /// A further client's is its pseudonym's own end: a client never
    /// outlives its pseudonym.
    #[schema(format = DateTime)]
    not_after: String,
}

impl CertificateBody {
    pub(super) fn new(
        leaf_der: &[u8],
        mls_credential: &[u8],
        ca_der: &[u8],
        (not_before, not_after): (i64, i64),
    ) -> Self {
        Self {
            certificate_chain: vec![b64(leaf_der), b64(ca_der)],
            certificate_pem: der_to_pem(leaf_der),
            mls_credential: b64(mls_credential),
            not_before: time(not_before),
            not_after: time(not_after),
        }
    }
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
    body: ApiJson<MintBody>,
) -> Result<(StatusCode, Json<MintResponse>), Problem> {
    let client = caller.require(&[Scope::Backend])?;
    let body = body.parse()?;
    let request = MintRequest {
        account: body.account,
        client_id: client.id.clone(),
        relations: body.relations.into_iter().map(Into::into).collect(),
        keys: body.keys,
        connection_only: body.connection_only,
        validity_days: body.validity_days,
    };
    let minted = state.minter.mint(&request).await?;
    state.metrics.pseudonyms_minted(minted.len() as u64);
    let ca_der = state.keys.ca.cert_der();
    let pseudonyms = minted.into_iter().map(|m| pseudonym_body(m, ca_der)).collect();
    Ok((StatusCode::CREATED, Json(MintResponse { pseudonyms })))
}

fn pseudonym_body(m: Minted, ca_der: &[u8]) -> PseudonymBody {
    let validity = (m.not_before, m.not_after);
    PseudonymBody {
        certificate: CertificateBody::new(&m.leaf_der, &m.mls_credential, ca_der, validity),
        connection_only: m.connection_only,
        id: m.id,
        uri: m.uri,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct StatusBody {
    uri: String,
    status: PseudonymStatus,
    #[schema(format = DateTime)]
    not_after: String,
}

#[utoipa::path(
    get,
    path = "/v1/pseudonyms/{id}",
    tag = "hub",
    description = "Status of a pseudonym. Scopes: `hub`, `backend`.",
    params(("id" = String, Path, description = "Pseudonym id")),
    responses((status = 200, description = "The pseudonym's status", body = StatusBody), (status = 404, description = "No such pseudonym")),
    security(("bearer" = [])),
)]
async fn status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<StatusBody>, Problem> {
    caller.require(&[Scope::Hub, Scope::Backend])?;
    let view = state.minter.status(&id).await?.ok_or_else(Problem::no_such_pseudonym)?;
    Ok(Json(StatusBody { uri: view.uri, status: view.status, not_after: time(view.not_after) }))
}
