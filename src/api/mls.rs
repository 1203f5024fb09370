//! Routes for MIMI hubs about MLS: KeyPackage validation.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::FindingBody;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use crate::core::clock::rfc3339;
use crate::core::status::PseudonymStatus;
use crate::services::access::Scope;
use crate::services::verify::key_package::KeyPackageError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/mls/key-packages/validate", post(validate))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    /// Standard base64 of a TLS `MLSMessage` holding a KeyPackage, or of a
    /// bare KeyPackage.
    key_package: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ReportBody {
    valid: bool,
    pseudonym: Option<String>,
    status: Option<PseudonymStatus>,
    connection_only: Option<bool>,
    not_after: Option<String>,
    errors: Vec<FindingBody>,
}

#[utoipa::path(
    post,
    path = "/v1/mls/key-packages/validate",
    tag = "mls",
    description = "Validate an MLS KeyPackage carrying a veil credential. Scopes: `hub`.",
    request_body = ValidateBody,
    responses((status = 200, description = "The validation report", body = ReportBody)),
    security(("bearer" = [])),
)]
async fn validate(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ValidateBody>,
) -> Result<Json<ReportBody>, Problem> {
    caller.require(&[Scope::Hub])?;
    let bytes = Base64::decode_vec(body.key_package.trim())
        .map_err(|_| Problem::invalid("`key_package` is not standard base64"))?;
    let report = state.verifier.validate_key_package(&bytes).await.map_err(|e| match e {
        KeyPackageError::Malformed(_) => Problem::invalid(e.to_string()),
        KeyPackageError::Internal(cause) => Problem::internal(cause),
    })?;
    let (pseudonym, status, not_after) = match report.pseudonym {
        Some(view) => (Some(view.uri), Some(view.status), Some(rfc3339(view.not_after))),
        None => (None, None, None),
    };
    let errors = report.errors.into_iter().map(FindingBody::from).collect();
    Ok(Json(ReportBody {
        valid: report.valid,
        pseudonym,
        status,
        connection_only: report.connection_only,
        not_after,
        errors,
    }))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(validate))]
pub(super) struct Doc;
