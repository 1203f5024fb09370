//! Break-glass routes (scope `admin`) and the user's transparency view
//! (scope `backend`). The reveal response is the only one in the whole API
//! that carries an account id.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use crate::services::access::Scope;
use zeroize::Zeroizing;

use crate::services::breakglass::custody::CustodyError;
use crate::services::breakglass::shares::{ShareError, SubmittedShare};
use crate::services::breakglass::{BreakGlassError, NewRequest, RequestView, Status};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/break-glass", get(list).post(request))
        .route("/v1/admin/break-glass/{id}/approve", post(approve))
        .route("/v1/admin/break-glass/{id}/deny", post(deny))
        .route("/v1/admin/break-glass/{id}/reveal", post(reveal))
        .route("/v1/accounts/transparency", post(transparency))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    pseudonym: String,
    case_id: String,
    justification: String,
    reason_code: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass",
    tag = "break-glass",
    description = "Request a break-glass reveal of a pseudonym's account. Scopes: `admin`.",
    request_body = RequestBody,
    responses((status = 201, description = "Request created", body = RequestView), (status = 404, description = "Unknown pseudonym")),
    security(("bearer" = [])),
)]
async fn request(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RequestBody>,
) -> Result<(StatusCode, Json<RequestView>), Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let new = NewRequest {
        pseudonym: &body.pseudonym,
        case_id: &body.case_id,
        justification: &body.justification,
        reason_code: &body.reason_code,
    };
    let view = state.break_glass.request(&admin.id, &new).await.map_err(problem)?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<Status>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RequestList {
    requests: Vec<RequestView>,
}

#[utoipa::path(
    get,
    path = "/v1/admin/break-glass",
    tag = "break-glass",
    description = "List break-glass requests. Scopes: `admin`.",
    params(ListQuery),
    responses((status = 200, description = "Break-glass requests", body = RequestList)),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<RequestList>, Problem> {
    caller.require(&[Scope::Admin])?;
    let requests = state.break_glass.list(query.status).await.map_err(problem)?;
    Ok(Json(RequestList { requests }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    /// In custodian custody: the approver's opened share.
    share: Option<SubmittedShare>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass/{id}/approve",
    tag = "break-glass",
    description = "Approve a break-glass request (not one's own). Scopes: `admin`.",
    request_body = ApproveBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "Approval recorded", body = RequestView), (status = 404, description = "No such request"), (status = 409, description = "Not pending or already approved"), (status = 410, description = "Request expired")),
    security(("bearer" = [])),
)]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ApproveBody>,
) -> Result<Json<RequestView>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let view =
        state.break_glass.approve(&admin.id, &id, body.share.as_ref()).await.map_err(problem)?;
    Ok(Json(view))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DenyBody {
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass/{id}/deny",
    tag = "break-glass",
    description = "Deny a break-glass request. Scopes: `admin`.",
    request_body = DenyBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "Request denied", body = RequestView), (status = 404, description = "No such request"), (status = 409, description = "Not pending")),
    security(("bearer" = [])),
)]
async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DenyBody>,
) -> Result<Json<RequestView>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    Ok(Json(state.break_glass.deny(&admin.id, &id, &body.reason).await.map_err(problem)?))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Revealed {
    request_id: String,
    account: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevealBody {
    /// For a passphrase-sealed key file.
    passphrase: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass/{id}/reveal",
    tag = "break-glass",
    description = "Reveal the account of an approved request (the requester only). Scopes: `admin`.",
    request_body = RevealBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "The account behind the pseudonym", body = Revealed), (status = 404, description = "No such request"), (status = 409, description = "Not approved, already revealed or not enough shares"), (status = 410, description = "Request expired or account deleted")),
    security(("bearer" = [])),
)]
async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RevealBody>,
) -> Result<Json<Revealed>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let passphrase = body.passphrase.map(Zeroizing::new);
    let account = state
        .break_glass
        .reveal(&admin.id, &id, passphrase.as_ref().map(|p| p.as_str()))
        .await
        .map_err(problem)?;
    Ok(Json(Revealed { request_id: id, account: account.as_str().to_string() }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TransparencyBody {
    account: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Reveal {
    revealed_at: i64,
    reason_code: String,
    case_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Reveals {
    reveals: Vec<Reveal>,
}

#[utoipa::path(
    post,
    path = "/v1/accounts/transparency",
    tag = "break-glass",
    description = "The user's transparency view: every reveal of their account. Scopes: `backend`.",
    request_body = TransparencyBody,
    responses((status = 200, description = "Reveals of this account", body = Reveals)),
    security(("bearer" = [])),
)]
async fn transparency(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TransparencyBody>,
) -> Result<Json<Reveals>, Problem> {
    caller.require(&[Scope::Backend])?;
    let records = state.break_glass.transparency(&body.account).await.map_err(problem)?;
    let reveals = records
        .into_iter()
        .map(|r| Reveal {
            revealed_at: r.revealed_at,
            reason_code: r.reason_code,
            case_id: r.case_id,
        })
        .collect();
    Ok(Json(Reveals { reveals }))
}

fn problem(error: BreakGlassError) -> Problem {
    let detail = error.to_string();
    match error {
        BreakGlassError::Invalid(_) => Problem::invalid(detail),
        BreakGlassError::UnknownReason(_) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-reason-code",
            "Unknown reason code",
            detail,
        ),
        BreakGlassError::UnknownPseudonym | BreakGlassError::NotFound => Problem::not_found(detail),
        BreakGlassError::SelfApproval => {
            Problem::new(StatusCode::FORBIDDEN, "self-approval", "Self-approval refused", detail)
        }
        BreakGlassError::NotRequester => {
            Problem::new(StatusCode::FORBIDDEN, "not-requester", "Not the requester", detail)
        }
        BreakGlassError::AlreadyApproved => {
            Problem::new(StatusCode::CONFLICT, "already-approved", "Already approved", detail)
        }
        BreakGlassError::NotPending(_) => {
            Problem::new(StatusCode::CONFLICT, "not-pending", "Not pending", detail)
        }
        BreakGlassError::NotApproved(_) => {
            Problem::new(StatusCode::CONFLICT, "not-approved", "Not approved", detail)
        }
        BreakGlassError::AlreadyRevealed => {
            Problem::new(StatusCode::CONFLICT, "already-revealed", "Already revealed", detail)
        }
        BreakGlassError::Expired => {
            Problem::new(StatusCode::GONE, "expired", "Request expired", detail)
        }
        BreakGlassError::AccountDeleted => {
            Problem::new(StatusCode::GONE, "account-deleted", "Account deleted", detail)
        }
        BreakGlassError::Shares(ShareError::TooFew { .. }) => Problem::new(
            StatusCode::CONFLICT,
            "not-enough-shares",
            "Not enough custodian shares",
            detail,
        ),
        BreakGlassError::Shares(ShareError::Sharing | ShareError::Custody(_)) => {
            Problem::internal(error)
        }
        BreakGlassError::Shares(_) => Problem::invalid(detail),
        BreakGlassError::Custody(CustodyError::PassphraseRequired) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "passphrase-required",
            "Passphrase required",
            detail,
        ),
        BreakGlassError::Custody(CustodyError::WrongPassphrase) => {
            Problem::new(StatusCode::FORBIDDEN, "wrong-passphrase", "Wrong passphrase", detail)
        }
        BreakGlassError::Custody(_) | BreakGlassError::Link(_) | BreakGlassError::Store(_) => {
            Problem::internal(error)
        }
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(request, list, approve, deny, reveal, transparency))]
pub(super) struct Doc;
