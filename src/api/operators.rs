//! Operators (scope `admin`): the people behind admin clients. One
//! operator requests a new one, a different operator approves it; only
//! then may it be given admin clients.

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
use super::{AppState, time};
use crate::services::access::{self, OperatorStatus, Scope};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request, list_operators))
        .routes(routes!(approve))
        .routes(routes!(revoke))
}

/// An operator (a person).
#[derive(Serialize, utoipa::ToSchema)]
struct Operator {
    id: String,
    name: String,
    status: OperatorStatus,
    /// The operator that asked for it (none: bootstrap, host or upgrade).
    requested_by: Option<String>,
    approved_by: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    activated_at: Option<String>,
    #[schema(format = DateTime)]
    revoked_at: Option<String>,
}

impl From<access::Operator> for Operator {
    fn from(o: access::Operator) -> Self {
        Self {
            id: o.id,
            name: o.name,
            status: o.status,
            requested_by: o.requested_by,
            approved_by: o.approved_by,
            created_at: time(o.created_at),
            activated_at: o.activated_at.map(time),
            revoked_at: o.revoked_at.map(time),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct OperatorList {
    operators: Vec<Operator>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = OperatorRequestBody)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    /// Who the operator is: trimmed, then 1 to 100 characters.
    #[schema(min_length = 1)]
    name: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/operators",
    operation_id = "request_operator",
    tag = "admin",
    description = "Request a new operator; it stays pending until a different operator approves it. Scopes: `admin`.",
    request_body = RequestBody,
    responses((status = 201, description = "Operator pending approval", body = Operator)),
    security(("bearer" = [])),
)]
async fn request(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<RequestBody>,
) -> Result<(StatusCode, Json<Operator>), Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let body = body.parse()?;
    let operator = state.access.request_operator(admin, &body.name, state.clock.now()).await?;
    tracing::info!(operator_id = %operator.id, "operator requested");
    Ok((StatusCode::CREATED, Json(operator.into())))
}

#[utoipa::path(
    get,
    path = "/v1/admin/operators",
    tag = "admin",
    description = "List operators, pending and revoked ones included. Scopes: `admin`.",
    responses((status = 200, description = "Operators", body = OperatorList)),
    security(("bearer" = [])),
)]
async fn list_operators(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<OperatorList>, Problem> {
    caller.require(&[Scope::Admin])?;
    let operators = state.access.list_operators().await?.into_iter().map(Into::into).collect();
    Ok(Json(OperatorList { operators }))
}

#[utoipa::path(
    post,
    path = "/v1/admin/operators/{id}/approve",
    operation_id = "approve_operator",
    tag = "admin",
    description = "Approve a pending operator (not by the operator that requested it). Scopes: `admin`.",
    params(("id" = String, Path, description = "Operator id")),
    responses((status = 200, description = "Operator active", body = Operator), (status = 403, description = "Self-approval"), (status = 404, description = "No such operator"), (status = 409, description = "Not pending")),
    security(("bearer" = [])),
)]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Operator>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let operator = state.access.approve_operator(admin, &id, state.clock.now()).await?;
    tracing::info!(operator_id = %operator.id, "operator approved");
    Ok(Json(operator.into()))
}

#[utoipa::path(
    delete,
    path = "/v1/admin/operators/{id}",
    operation_id = "revoke_operator",
    tag = "admin",
    description = "Revoke an operator and all its clients. Scopes: `admin`.",
    params(("id" = String, Path, description = "Operator id")),
    responses((status = 200, description = "Operator revoked", body = Operator), (status = 404, description = "No such operator"), (status = 409, description = "Already revoked, or the last active operator")),
    security(("bearer" = [])),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Operator>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let operator = state.access.revoke_operator(&admin.id, &id, state.clock.now()).await?;
    tracing::info!(operator_id = %operator.id, "operator revoked");
    Ok(Json(operator.into()))
}
