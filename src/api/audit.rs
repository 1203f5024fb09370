//! Audit log routes (scopes `auditor` or `admin`): page the hash-chained
//! log and get a signed checkpoint of its head.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::services::access::Scope;
use crate::services::audit::chain::{AuditEntry, Checkpoint};
use crate::services::audit::{self, AuditError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/audit", get(list))
        .route("/v1/admin/audit/checkpoint", get(checkpoint))
        .route("/v1/admin/audit/checkpoints", get(checkpoints))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    /// Entries after this sequence number (0: from the start).
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

#[derive(Serialize, utoipa::ToSchema)]
struct Page {
    entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_after: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "audit",
    description = "Page the audit log. Scopes: `auditor`, `admin`.",
    params(PageQuery),
    responses((status = 200, description = "A page of the hash-chained audit log", body = Page)),
    security(("bearer" = [])),
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let limit = query.limit.clamp(1, audit::MAX_PAGE);
    let entries = audit::page(&state.store, query.after, limit).await.map_err(audit_problem)?;
    let next_after = match entries.last() {
        Some(last) if entries.len() as i64 == limit => Some(last.seq),
        _ => None,
    };
    Ok(Json(Page { entries, next_after }))
}

#[utoipa::path(
    get,
    path = "/v1/admin/audit/checkpoint",
    tag = "audit",
    description = "Sign the current head of the audit log. Scopes: `auditor`, `admin`.",
    responses((status = 200, description = "A signed checkpoint of the log head", body = Checkpoint)),
    security(("bearer" = [])),
)]
async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Checkpoint>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let checkpoint =
        audit::checkpoint(&state.store, &state.keys.audit).await.map_err(audit_problem)?;
    Ok(Json(checkpoint))
}

fn audit_problem(error: AuditError) -> Problem {
    Problem::internal(error)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CheckpointsQuery {
    #[serde(default = "default_limit")]
    limit: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CheckpointList {
    /// Newest first.
    checkpoints: Vec<Checkpoint>,
}

#[utoipa::path(
    get,
    path = "/v1/admin/audit/checkpoints",
    tag = "audit",
    description = "The checkpoints the service signed periodically. Scopes: `auditor`, `admin`.",
    params(CheckpointsQuery),
    responses((status = 200, description = "Recorded checkpoints, newest first", body = CheckpointList)),
    security(("bearer" = [])),
)]
/// The checkpoints the service signed periodically (`audit_checkpoint_secs`).
async fn checkpoints(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<CheckpointsQuery>,
) -> Result<Json<CheckpointList>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let limit = query.limit.clamp(1, audit::MAX_PAGE);
    let checkpoints =
        audit::recorded_checkpoints(&state.store, limit).await.map_err(audit_problem)?;
    Ok(Json(CheckpointList { checkpoints }))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, checkpoint, checkpoints))]
pub(super) struct Doc;
