//! Linked identity disclosures: the backend issues a real-identity
//! credential bound to one of its user's pseudonyms.

use super::params::ApiPath;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::schemas::{self, AccountIdSchema};
use super::{AppState, b64, time};
use crate::formats::x509::der_to_pem;
use crate::services::access::Scope;
use crate::services::disclose::{
    Credential, CredentialFormat, DEFAULT_VALIDITY_DAYS, DisclosureRequest,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    #[schema(value_type = AccountIdSchema)]
    account: String,
    format: CredentialFormat,
    #[schema(schema_with = schemas::claims)]
    claims: Map<String, Value>,
    #[serde(default)]
    #[schema(schema_with = schemas::disclosable)]
    disclosable: Vec<String>,
    /// Days the credential is valid (never past the pseudonym's
    /// certificate): at most the service's `max_validity_days` (default
    /// 90), which is never over 3650.
    #[serde(default = "default_validity")]
    #[schema(minimum = 1, maximum = 3650)]
    validity_days: u32,
    /// A `veil-pop+jwt` made with the pseudonym's private key (see
    /// docs/API.md, "Proof of possession"); without a valid one the answer
    /// is 401 `proof-required`.
    // Optional in the parser only, so that a missing proof gets that same
    // 401 rather than a 422 that would tell it apart.
    #[schema(required = true, value_type = String, max_length = 2048)]
    #[serde(default)]
    proof: Option<String>,
    /// Bind the credential to this further client of the pseudonym (its id,
    /// the last segment of its `/d/` URI) instead of the pseudonym's own
    /// key; the proof is then made with the client's key and covers
    /// `client`. An unknown client gets the same 401 as a bad proof.
    #[serde(default)]
    #[schema(max_length = 64)]
    client: Option<String>,
}

fn default_validity() -> u32 {
    DEFAULT_VALIDITY_DAYS
}

#[derive(Serialize, utoipa::ToSchema)]
struct IssuedBody {
    format: CredentialFormat,
    /// SD-JWT compact form, standard base64 of the SD-CWT, or the PEM chain.
    credential: String,
    #[schema(format = DateTime)]
    not_after: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_chain: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mls_credential: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/pseudonyms/{id}/disclosures",
    tag = "disclosures",
    description = "Issue a real-identity disclosure linked to a pseudonym. Scopes: `backend`.",
    request_body = IssueBody,
    params(("id" = String, Path, description = "Pseudonym id")),
    responses(
        (status = 201, description = "Disclosure issued", body = IssuedBody),
        (status = 401, description = "Missing, unknown or revoked bearer token (`unauthorized`); or no valid proof of possession of the pseudonym's key, also for an unknown pseudonym (`proof-required`)"),
        (status = 404, description = "The proof is valid but the account does not own the pseudonym"),
        (status = 409, description = "Pseudonym not active"),
    ),
    security(("bearer" = [])),
)]
async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<IssueBody>,
) -> Result<(StatusCode, Json<IssuedBody>), Problem> {
    caller.require(&[Scope::Backend])?;
    let body = body.parse()?;
    let request = DisclosureRequest {
        account: body.account,
        format: body.format,
        claims: body.claims,
        disclosable: body.disclosable,
        validity_days: body.validity_days,
        client: body.client,
    };
    let issued = state.disclosures.issue(&id, &request, body.proof.as_deref()).await?;
    state.metrics.disclosure_issued(request.format.as_str());
    tracing::info!(format = request.format.as_str(), "disclosure issued");
    let not_after = time(issued.not_after);
    let body = match issued.credential {
        Credential::SdJwt(compact) => IssuedBody {
            format: request.format,
            credential: compact,
            not_after,
            certificate_chain: None,
            mls_credential: None,
        },
        Credential::SdCwt(bytes) => IssuedBody {
            format: request.format,
            credential: b64(&bytes),
            not_after,
            certificate_chain: None,
            mls_credential: None,
        },
        Credential::X509 { chain, mls_credential } => IssuedBody {
            format: request.format,
            credential: chain.iter().map(|der| der_to_pem(der)).collect(),
            not_after,
            certificate_chain: Some(chain.iter().map(|der| b64(der)).collect()),
            mls_credential: Some(b64(&mls_credential)),
        },
    };
    Ok((StatusCode::CREATED, Json(body)))
}
