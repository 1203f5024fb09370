//! Presentations: hubs and the backend verify a disclosure presented in a
//! room against the room's policy.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::{AppState, FindingBody};
use crate::services::access::Scope;
use crate::services::disclose::CredentialFormat;
use crate::services::verify::policy;
use crate::services::verify::{PresentationRequest, Verification};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify))
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
    #[schema(value_type = LeafSignatureKey)]
    leaf_signature_key: Value,
    #[schema(value_type = RoomPolicyChoice)]
    policy: Value,
}

/// The presenter's MLS leaf signature key: a P-256 JWK, or standard base64
/// of the SEC1 point as MLS carries it. (Documentation only: the body keeps
/// the JSON value and `services::verify` reads both forms.)
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum LeafSignatureKey {
    Sec1(String),
    Jwk(std::collections::BTreeMap<String, Value>),
}

/// The room policy: the name of a file in `policies/rooms/`, or an inline
/// policy object. (Documentation only, as above.)
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum RoomPolicyChoice {
    Named(String),
    Inline(std::collections::BTreeMap<String, Value>),
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

/// How a room's policy judged a presentation's disclosed claims.
#[derive(Serialize, utoipa::ToSchema)]
struct PolicyOutcome {
    satisfied: bool,
    missing_required: Vec<String>,
    forbidden_disclosed: Vec<String>,
}

impl From<policy::PolicyOutcome> for PolicyOutcome {
    fn from(p: policy::PolicyOutcome) -> Self {
        Self {
            satisfied: p.satisfied,
            missing_required: p.missing_required,
            forbidden_disclosed: p.forbidden_disclosed,
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/presentations/verify",
    tag = "disclosures",
    description = "Verify a presentation against a room policy, for a hub that enforces admission policy (members verify disclosures in their own clients: docs/MEMBER_VERIFICATION.md). A challenge (audience, nonce) is answered once per API client: the same presentation again from the same client is `replayed`, from another it is checked afresh. Scopes: `hub`, `backend`.",
    request_body = VerifyBody,
    responses((status = 200, description = "The verdict", body = VerdictBody)),
    security(("bearer" = [])),
)]
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<VerifyBody>,
) -> Result<Json<VerdictBody>, Problem> {
    let client = caller.require(&[Scope::Hub, Scope::Backend])?;
    let body = body.parse()?;
    let request = PresentationRequest {
        verifier: client.id.clone(),
        format: body.format,
        presentation: body.presentation,
        audience: body.audience,
        nonce: body.nonce,
        leaf_signature_key: body.leaf_signature_key,
        policy: body.policy,
    };
    let verdict = state.verifier.verify(&request).await?;
    state.metrics.presentation_verified(request.format.as_str(), verdict.valid);
    Ok(Json(verdict_body(verdict)))
}

fn verdict_body(verdict: Verification) -> VerdictBody {
    VerdictBody {
        valid: verdict.valid,
        issuer: verdict.issuer,
        subject_pseudonym: verdict.subject_pseudonym,
        disclosed: verdict.disclosed,
        policy: verdict.policy.into(),
        errors: verdict.errors.into_iter().map(FindingBody::from).collect(),
    }
}
