//! Break-glass (scope `admin`): request, approve or deny, and reveal the
//! account behind a pseudonym. The reveal response is the only one in the
//! whole API that carries an account id.

use super::params::{ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::auth::Caller;
use super::json::{ApiJson, OptionalJson};
use super::problem::Problem;
use super::{AppState, time};
use crate::services::access::Scope;
use crate::services::breakglass::shares::SubmittedShare;
use crate::services::breakglass::{self, NewRequest, Status};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request, list_break_glass))
        .routes(routes!(approve))
        .routes(routes!(deny))
        .routes(routes!(reveal))
}

/// What operators see of a request (never the account).
#[derive(Serialize, utoipa::ToSchema)]
struct RequestView {
    request_id: String,
    pseudonym: String,
    reason_code: String,
    case_id: String,
    justification: String,
    requester: String,
    status: Status,
    approvals: i64,
    approvals_required: i64,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

impl From<breakglass::RequestView> for RequestView {
    fn from(v: breakglass::RequestView) -> Self {
        Self {
            request_id: v.request_id,
            pseudonym: v.pseudonym,
            reason_code: v.reason_code,
            case_id: v.case_id,
            justification: v.justification,
            requester: v.requester,
            status: v.status,
            approvals: v.approvals,
            approvals_required: v.approvals_required,
            created_at: time(v.created_at),
            expires_at: time(v.expires_at),
        }
    }
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
    let view = state.break_glass.request(&admin.id, &new).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
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
async fn list_break_glass(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<RequestList>, Problem> {
    caller.require(&[Scope::Admin])?;
    let requests = state.break_glass.list(query.status).await?;
    let requests = requests.into_iter().map(RequestView::from).collect();
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
    description = "Approve a break-glass request (not one's own). The body may be omitted (no content type, no body: `{}`). Scopes: `admin`.",
    request_body = ApproveBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "Approval recorded", body = RequestView), (status = 404, description = "No such request"), (status = 409, description = "Not pending or already approved"), (status = 410, description = "Request expired")),
    security(("bearer" = [])),
)]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<ApproveBody>,
) -> Result<Json<RequestView>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let view = state.break_glass.approve(&admin.id, &id, body.share.as_ref()).await?;
    Ok(Json(view.into()))
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
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DenyBody>,
) -> Result<Json<RequestView>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    Ok(Json(state.break_glass.deny(&admin.id, &id, &body.reason).await?.into()))
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
    description = "Reveal the account of an approved request (the requester only). The body may be omitted (no content type, no body: `{}`). Scopes: `admin`.",
    request_body = RevealBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "The account behind the pseudonym", body = Revealed), (status = 404, description = "No such request"), (status = 409, description = "Not approved, already revealed or not enough shares"), (status = 410, description = "Request expired or account deleted")),
    security(("bearer" = [])),
)]
async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<RevealBody>,
) -> Result<Json<Revealed>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let passphrase = body.passphrase.map(Zeroizing::new);
    let account =
        state.break_glass.reveal(&admin.id, &id, passphrase.as_ref().map(|p| p.as_str())).await?;
    Ok(Json(Revealed { request_id: id, account: account.as_str().to_string() }))
}
