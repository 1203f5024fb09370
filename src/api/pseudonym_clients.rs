//! A pseudonym's further clients (devices): the backend adds one with a
//! proof from the pseudonym's own key, lists them, and revokes one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::params::ApiPath;
use super::problem::Problem;
use super::pseudonyms::CertificateBody;
use super::schemas::AccountIdSchema;
use super::{AppState, time};
use crate::core::status::PseudonymStatus;
use crate::formats::keys::public_key::Jwk;
use crate::services::access::Scope;
use crate::services::disclose::{AddClientRequest, ClientView};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add, list)).routes(routes!(revoke))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddBody {
    #[schema(value_type = AccountIdSchema)]
    account: String,
    /// The new client's public key, a P-256 JWK (`kty` `EC`, `crv` `P-256`);
    /// any other key is 422.
    #[schema(value_type = Object)]
    key: Jwk,
    /// A `veil-pop+jwt` made with the pseudonym's own private key over
    /// `{"action": "add_client", "key": <the key as kty, crv, x, y>}` (see
    /// docs/API.md); without a valid one the answer is 401 `proof-required`.
    #[schema(required = true, value_type = String, max_length = 2048)]
    #[serde(default)]
    proof: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AddedBody {
    /// The client id, the last segment of `uri`.
    id: String,
    /// `mimi://<domain>/d/<id>`, the certificate's second SAN URI.
    uri: String,
    /// The pseudonym's URI, the certificate's first SAN URI.
    pseudonym_uri: String,
    // The client's certificate, within the pseudonym's validity.
    #[serde(flatten)]
    certificate: CertificateBody,
}

#[utoipa::path(
    post,
    path = "/v1/pseudonyms/{id}/clients",
    tag = "backend",
    description = "Add a client (device) to a pseudonym: a certificate whose SAN holds the pseudonym URI and a client URI. Scopes: `backend`.",
    request_body = AddBody,
    params(("id" = String, Path, description = "Pseudonym id")),
    responses(
        (status = 201, description = "Client added", body = AddedBody),
        (status = 401, description = "Missing, unknown or revoked bearer token (`unauthorized`); or no valid proof of possession of the pseudonym's key, also for an unknown pseudonym (`proof-required`)"),
        (status = 404, description = "The proof is valid but the account does not own the pseudonym"),
        (status = 409, description = "Pseudonym not active (`pseudonym-inactive`), key already used (`key-in-use`), or as many clients as the policy allows (`too-many-clients`)"),
        (status = 429, description = "The account's hourly or daily limit; see Retry-After"),
    ),
    security(("bearer" = [])),
)]
async fn add(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<AddBody>,
) -> Result<(StatusCode, Json<AddedBody>), Problem> {
    caller.require(&[Scope::Backend])?;
    let body = body.parse()?;
    let request = AddClientRequest { account: body.account, key: body.key };
    let added = state.disclosures.add_client(&id, &request, body.proof.as_deref()).await?;
    tracing::info!("pseudonym client added");
    let (ca_der, validity) = (state.keys.ca.cert_der(), (added.not_before, added.not_after));
    let certificate =
        CertificateBody::new(&added.leaf_der, &added.mls_credential, ca_der, validity);
    let body = AddedBody {
        id: added.id.to_string(),
        uri: added.uri,
        pseudonym_uri: added.pseudonym_uri,
        certificate,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClientsBody {
    /// In client id order (random: it says nothing of when each was added).
    clients: Vec<ClientBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClientBody {
    id: String,
    uri: String,
    /// The pseudonym's status when it is not active, else the client's own.
    status: PseudonymStatus,
    #[schema(format = DateTime)]
    not_after: String,
}

impl From<ClientView> for ClientBody {
    fn from(view: ClientView) -> Self {
        Self {
            id: view.id.to_string(),
            uri: view.uri,
            status: view.status,
            not_after: time(view.not_after),
        }
    }
}

#[utoipa::path(
    get,
    path = "/v1/pseudonyms/{id}/clients",
    tag = "hub",
    description = "A pseudonym's further clients and their status (its own key is not listed). Scopes: `hub`, `backend`.",
    params(("id" = String, Path, description = "Pseudonym id")),
    responses(
        (status = 200, description = "The clients", body = ClientsBody),
        (status = 404, description = "No such pseudonym"),
    ),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientsBody>, Problem> {
    caller.require(&[Scope::Hub, Scope::Backend])?;
    let clients = state.disclosures.clients(&id).await?.ok_or_else(Problem::no_such_pseudonym)?;
    Ok(Json(ClientsBody { clients: clients.into_iter().map(ClientBody::from).collect() }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[schema(value_type = AccountIdSchema)]
    account: String,
    /// A `veil-pop+jwt` over `{"action": "revoke_client", "client": <the
    /// client id>}`, made with the pseudonym's own key, or with the key of
    /// the live client `prover` names; without a valid one the answer is
    /// 401 `proof-required`.
    #[schema(required = true, value_type = String, max_length = 2048)]
    #[serde(default)]
    proof: Option<String>,
    /// The client whose key made `proof`, when not the pseudonym's own.
    #[serde(default)]
    #[schema(max_length = 64)]
    prover: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/pseudonyms/{id}/clients/{client}/revoke",
    tag = "backend",
    description = "Revoke one client of a pseudonym; the pseudonym and its other clients stay. Scopes: `backend`.",
    request_body = RevokeBody,
    params(
        ("id" = String, Path, description = "Pseudonym id"),
        ("client" = String, Path, description = "Client id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing, unknown or revoked bearer token (`unauthorized`); or no valid proof of possession, also for an unknown pseudonym or prover (`proof-required`)"),
        (status = 404, description = "The proof is valid, but the account does not own the pseudonym or the client is not one of its live clients"),
    ),
    security(("bearer" = [])),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, client)): ApiPath<(String, String)>,
    body: ApiJson<RevokeBody>,
) -> Result<StatusCode, Problem> {
    caller.require(&[Scope::Backend])?;
    let body = body.parse()?;
    let (prover, proof) = (body.prover.as_deref(), body.proof.as_deref());
    state.disclosures.revoke_client(&id, &client, &body.account, prover, proof).await?;
    tracing::info!("pseudonym client revoked");
    Ok(StatusCode::NO_CONTENT)
}
