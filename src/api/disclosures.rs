//! Linked identity disclosures (backend) and presentation verification
//! (hubs and backend).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::FindingBody;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::{AppState, b64};
use crate::core::clock::rfc3339;
use crate::formats::x509::der_to_pem;
use crate::services::access::Scope;
use crate::services::disclose::{Credential, CredentialFormat, DisclosureError, DisclosureRequest};
use crate::services::verify::policy::PolicyOutcome;
use crate::services::verify::{PresentationRequest, Verification, VerifyRequestError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/pseudonyms/{id}/disclosures", post(issue))
        .route("/v1/presentations/verify", post(verify))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    account: String,
    format: CredentialFormat,
    #[schema(value_type = Object)]
    claims: Map<String, Value>,
    #[serde(default)]
    disclosable: Vec<String>,
    #[serde(default = "default_validity")]
    validity_days: u32,
}

fn default_validity() -> u32 {
    30
}

#[derive(Serialize, utoipa::ToSchema)]
struct IssuedBody {
    format: CredentialFormat,
    /// SD-JWT compact form, standard base64 of the SD-CWT, or the PEM chain.
    credential: String,
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
    responses((status = 201, description = "Disclosure issued", body = IssuedBody), (status = 404, description = "No such pseudonym"), (status = 409, description = "Pseudonym not active")),
    security(("bearer" = [])),
)]
async fn issue(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<(StatusCode, Json<IssuedBody>), Problem> {
    caller.require(&[Scope::Backend])?;
    let request = DisclosureRequest {
        account: body.account,
        format: body.format,
        claims: body.claims,
        disclosable: body.disclosable,
        validity_days: body.validity_days,
    };
    let issued = state.disclosures.issue(&id, &request).await.map_err(disclosure_problem)?;
    state.metrics.disclosure_issued(request.format.as_str());
    tracing::info!(format = request.format.as_str(), "disclosure issued");
    let not_after = rfc3339(issued.not_after);
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

fn disclosure_problem(error: DisclosureError) -> Problem {
    match error {
        DisclosureError::InvalidRequest(_) | DisclosureError::InvalidClaim(_) => {
            Problem::invalid(error.to_string())
        }
        // Word for word what an unknown pseudonym gets (`GET /v1/pseudonyms/{id}`).
        DisclosureError::NotFound => Problem::not_found("no such pseudonym"),
        DisclosureError::Inactive(_) => Problem::new(
            StatusCode::CONFLICT,
            "pseudonym-inactive",
            "Pseudonym not active",
            error.to_string(),
        ),
        DisclosureError::AccountRestricted => Problem::new(
            StatusCode::FORBIDDEN,
            "account-restricted",
            "Account restricted",
            error.to_string(),
        ),
        DisclosureError::ReputationTooLow => Problem::new(
            StatusCode::FORBIDDEN,
            "reputation-too-low",
            "Reputation too low",
            error.to_string(),
        ),
        DisclosureError::Internal(cause) => Problem::internal(cause),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    format: CredentialFormat,
    presentation: String,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[schema(value_type = Object)]
    leaf_signature_key: Value,
    #[schema(value_type = Object)]
    policy: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
struct VerdictBody {
    valid: bool,
    issuer: Option<String>,
    subject_pseudonym: Option<String>,
    #[schema(value_type = Object)]
    disclosed: Map<String, Value>,
    policy: PolicyOutcome,
    errors: Vec<FindingBody>,
}

#[utoipa::path(
    post,
    path = "/v1/presentations/verify",
    tag = "disclosures",
    description = "Verify a presentation against a room policy. Scopes: `hub`, `backend`.",
    request_body = VerifyBody,
    responses((status = 200, description = "The verdict", body = VerdictBody)),
    security(("bearer" = [])),
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Json<VerdictBody>, Problem> {
    caller.require(&[Scope::Hub, Scope::Backend])?;
    let request = PresentationRequest {
        format: body.format,
        presentation: body.presentation,
        audience: body.audience,
        nonce: body.nonce,
        leaf_signature_key: body.leaf_signature_key,
        policy: body.policy,
    };
    let verdict = state.verifier.verify(&request).await.map_err(verify_problem)?;
    state.metrics.presentation_verified(request.format.as_str(), verdict.valid);
    Ok(Json(verdict_body(verdict)))
}

fn verdict_body(verdict: Verification) -> VerdictBody {
    VerdictBody {
        valid: verdict.valid,
        issuer: verdict.issuer,
        subject_pseudonym: verdict.subject_pseudonym,
        disclosed: verdict.disclosed,
        policy: verdict.policy,
        errors: verdict.errors.into_iter().map(FindingBody::from).collect(),
    }
}

fn verify_problem(error: VerifyRequestError) -> Problem {
    match error {
        VerifyRequestError::Invalid(detail) => Problem::invalid(detail),
        VerifyRequestError::UnknownPolicy(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-policy",
            "Unknown room policy",
            error.to_string(),
        ),
        VerifyRequestError::Malformed(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "malformed-presentation",
            "Malformed presentation",
            error.to_string(),
        ),
        VerifyRequestError::Internal(cause) => Problem::internal(cause),
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(issue, verify))]
pub(super) struct Doc;
