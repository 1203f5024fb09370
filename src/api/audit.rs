//! The audit log (scopes `auditor` or `admin`): page the hash-chained log
//! and get signed checkpoints of its head.

use super::params::ApiQuery;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::problem::Problem;
use super::{AppState, time};
use crate::services::access::Scope;
use crate::services::audit::{self, chain};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(checkpoint))
        .routes(routes!(checkpoints))
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

/// One chained entry. `target` names a record (pseudonym URI, request id,
/// remedy id, client id), never an account; `sealed` (base64) exists only
/// on a reveal entry. Hashes are base64; the hash covers `at` as Unix
/// seconds.
#[derive(Serialize, utoipa::ToSchema)]
struct AuditEntry {
    seq: i64,
    #[schema(format = DateTime)]
    at: String,
    actor: String,
    action: String,
    target: String,
    case_id: Option<String>,
    justification: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
    prev_hash: String,
    hash: String,
}

impl From<chain::AuditEntry> for AuditEntry {
    fn from(e: chain::AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: time(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            case_id: e.case_id,
            justification: e.justification,
            sealed: e.sealed,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A signed statement "the log had `seq` entries ending in `hash`", by the
/// service's audit key (`kid`). Kept by auditors, it pins the log: a later
/// rewrite of any entry up to `seq`, or truncation before it, no longer
/// matches. Hash and signature (`r || s`) are base64.
#[derive(Serialize, utoipa::ToSchema)]
struct Checkpoint {
    seq: i64,
    hash: String,
    kid: String,
    signature: String,
}

impl From<chain::Checkpoint> for Checkpoint {
    fn from(c: chain::Checkpoint) -> Self {
        Self { seq: c.seq, hash: c.hash, kid: c.kid, signature: c.signature }
    }
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
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let limit = query.limit.clamp(1, audit::MAX_PAGE);
    let entries = audit::page(&state.store, query.after, limit).await?;
    let next_after = match entries.last() {
        Some(last) if entries.len() as i64 == limit => Some(last.seq),
        _ => None,
    };
    let entries = entries.into_iter().map(AuditEntry::from).collect();
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
    Ok(Json(audit::checkpoint(&state.store, &state.keys.audit).await?.into()))
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
    ApiQuery(query): ApiQuery<CheckpointsQuery>,
) -> Result<Json<CheckpointList>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let limit = query.limit.clamp(1, audit::MAX_PAGE);
    let checkpoints = audit::recorded_checkpoints(&state.store, limit).await?;
    Ok(Json(CheckpointList {
        checkpoints: checkpoints.into_iter().map(Checkpoint::from).collect(),
    }))
}
