//! The audit log (scopes `auditor` or `admin`): page the log, get signed
//! checkpoints (C2SP signed notes) of its RFC 9162 Merkle tree, and the
//! consistency and inclusion proofs an auditor checks them with.

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
use crate::services::audit::note::SignedCheckpoint;
use crate::services::audit::{self, ConsistencyProof, InclusionProof, chain};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(checkpoint))
        .routes(routes!(checkpoints))
        .routes(routes!(consistency))
        .routes(routes!(inclusion))
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
    query: ApiQuery<PageQuery>,
) -> Result<Json<Page>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let query = query.parse()?;
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
    description = "Sign the current RFC 9162 tree head of the audit log as a C2SP \
tlog-checkpoint signed note (ECDSA, signed-note type 0x02, key name = origin). \
Scopes: `auditor`, `admin`.",
    responses((status = 200, description = "A signed checkpoint of the log", body = SignedCheckpoint)),
    security(("bearer" = [])),
)]
async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SignedCheckpoint>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let origin = audit::origin(&state.config.domain);
    Ok(Json(audit::checkpoint(&state.store, &state.keys.audit, &origin).await?))
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
    checkpoints: Vec<SignedCheckpoint>,
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
    query: ApiQuery<CheckpointsQuery>,
) -> Result<Json<CheckpointList>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let query = query.parse()?;
    let limit = query.limit.clamp(1, audit::MAX_PAGE);
    let checkpoints = audit::recorded_checkpoints(&state.store, limit).await?;
    Ok(Json(CheckpointList { checkpoints }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    /// The smaller tree size (e.g. of the checkpoint the auditor pinned).
    from: u64,
    /// The larger tree size (e.g. of the latest checkpoint).
    to: u64,
}

#[utoipa::path(
    get,
    path = "/v1/admin/audit/consistency",
    tag = "audit",
    description = "An RFC 9162 consistency proof that the tree of `from` entries is a \
prefix of the tree of `to` entries. Scopes: `auditor`, `admin`.",
    params(ConsistencyQuery),
    responses(
        (status = 200, description = "The consistency proof", body = ConsistencyProof),
        (status = 422, description = "Not `0 <= from <= to <=` the log's size"),
    ),
    security(("bearer" = [])),
)]
async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery<ConsistencyQuery>,
) -> Result<Json<ConsistencyProof>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let query = query.parse()?;
    Ok(Json(audit::consistency(&state.store, query.from, query.to).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    /// The entry's sequence number (leaf index `seq - 1`).
    #[param(minimum = 1)]
    seq: i64,
    /// The tree size of the checkpoint to prove against.
    #[param(minimum = 1)]
    tree_size: u64,
}

#[utoipa::path(
    get,
    path = "/v1/admin/audit/inclusion",
    tag = "audit",
    description = "An RFC 9162 inclusion proof of entry `seq` in the tree of `tree_size` \
entries. Scopes: `auditor`, `admin`.",
    params(InclusionQuery),
    responses(
        (status = 200, description = "The inclusion proof", body = InclusionProof),
        (status = 422, description = "Not `1 <= seq <= tree_size <=` the log's size"),
    ),
    security(("bearer" = [])),
)]
async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery<InclusionQuery>,
) -> Result<Json<InclusionProof>, Problem> {
    caller.require(&[Scope::Auditor, Scope::Admin])?;
    let query = query.parse()?;
    Ok(Json(audit::inclusion(&state.store, query.seq, query.tree_size).await?))
}
