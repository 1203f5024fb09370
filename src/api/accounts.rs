//! Accounts, seen only through what may be told about them: the backend
//! asks about and seeds its own users and shows them every reveal of their
//! account; operators see the standing behind a pseudonym. No response
//! names an account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::schemas::AccountIdSchema;
use super::{AppState, time};
use crate::services::abuse::Signals;
use crate::services::access::Scope;
use crate::services::audit::note::SignedCheckpoint;
use crate::services::audit::{self, InclusionProof};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account_status))
        .routes(routes!(account_status_by_pseudonym))
        .routes(routes!(signals))
        .routes(routes!(transparency))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    #[schema(value_type = AccountIdSchema)]
    account: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PseudonymRef {
    /// A pseudonym URI of the account.
    pseudonym: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SignalsBody {
    #[schema(value_type = AccountIdSchema)]
    account: String,
    verified_phone: Option<bool>,
    /// An unsigned 32-bit integer.
    // utoipa documents a u32 as int32, whose upper half the server takes too.
    #[schema(format = Int64, minimum = 0, maximum = 4294967295_u64)]
    account_age_days: Option<u32>,
}

/// What the backend may learn about its own user.
#[derive(Serialize, utoipa::ToSchema)]
struct AccountStatus {
    /// `active`, `muted` or `suspended`.
    status: String,
    score: i64,
    min_score_to_mint: i64,
    min_score_to_disclose: i64,
    remaining_this_hour: i64,
    remaining_today: i64,
    active_pseudonyms: i64,
    max_active_pseudonyms: i64,
}

impl From<crate::services::abuse::AccountStatus> for AccountStatus {
    fn from(s: crate::services::abuse::AccountStatus) -> Self {
        Self {
            status: s.status,
            score: s.score,
            min_score_to_mint: s.min_score_to_mint,
            min_score_to_disclose: s.min_score_to_disclose,
            remaining_this_hour: s.remaining_this_hour,
            remaining_today: s.remaining_today,
            active_pseudonyms: s.active_pseudonyms,
            max_active_pseudonyms: s.max_active_pseudonyms,
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/accounts/status",
    tag = "abuse",
    description = "What the backend may learn about its own user. Scopes: `backend`.",
    request_body = AccountBody,
    responses((status = 200, description = "The account's standing", body = AccountStatus)),
    security(("bearer" = [])),
)]
async fn account_status(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<AccountBody>,
) -> Result<Json<AccountStatus>, Problem> {
    caller.require(&[Scope::Backend])?;
    let body = body.parse()?;
    Ok(Json(state.abuse.account_status(&body.account).await?.into()))
}

#[utoipa::path(
    post,
    path = "/v1/admin/accounts/status",
    tag = "abuse",
    description = "The standing of the account behind a pseudonym, never the account itself. Each call is an audit event (`account.status_read`, the pseudonym as subject) and counts against the admin client's hourly limit (`admin.privacy_reads_per_hour`). Scopes: `admin`.",
    request_body = PseudonymRef,
    responses(
        (status = 200, description = "The account's standing", body = AccountStatus),
        (status = 404, description = "Unknown pseudonym"),
        (status = 429, description = "This admin client's privacy reads this hour are used up"),
    ),
    security(("bearer" = [])),
)]
async fn account_status_by_pseudonym(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<PseudonymRef>,
) -> Result<Json<AccountStatus>, Problem> {
    let client = caller.require(&[Scope::Admin])?;
    let body = body.parse()?;
    let status = state.abuse.account_status_by_pseudonym(&client.id, &body.pseudonym).await?;
    Ok(Json(status.into()))
}

#[utoipa::path(
    post,
    path = "/v1/accounts/signals",
    tag = "abuse",
    description = "Seed what the backend knows about its user. Scopes: `backend`.",
    request_body = SignalsBody,
    responses((status = 204, description = "Signals recorded")),
    security(("bearer" = [])),
)]
async fn signals(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<SignalsBody>,
) -> Result<StatusCode, Problem> {
    caller.require(&[Scope::Backend])?;
    let body = body.parse()?;
    let signals =
        Signals { verified_phone: body.verified_phone, account_age_days: body.account_age_days };
    state.abuse.seed_signals(&body.account, &signals).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
struct Reveal {
    #[schema(format = DateTime)]
    revealed_at: String,
    reason_code: String,
    case_id: String,
    /// Proof that the audit entry recording this reveal is in the tree
    /// `checkpoint` signs (absent only for a reveal that predates the
    /// audit chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_inclusion: Option<InclusionProof>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Reveals {
    reveals: Vec<Reveal>,
    /// A fresh signed checkpoint of the audit log: the tree each
    /// `audit_inclusion` proves against. Absent when there are no reveals.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<SignedCheckpoint>,
}

#[utoipa::path(
    post,
    path = "/v1/accounts/transparency",
    tag = "break-glass",
    description = "The user's transparency view: every reveal of their account, each with \
an RFC 9162 inclusion proof of its audit entry in a signed checkpoint. Scopes: `backend`.",
    request_body = AccountBody,
    responses((status = 200, description = "Reveals of this account", body = Reveals)),
    security(("bearer" = [])),
)]
async fn transparency(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<AccountBody>,
) -> Result<Json<Reveals>, Problem> {
    caller.require(&[Scope::Backend])?;
    let body = body.parse()?;
    let records = state.break_glass.transparency(&body.account).await?;
    if records.is_empty() {
        return Ok(Json(Reveals { reveals: Vec::new(), checkpoint: None }));
    }
    let seqs: Vec<i64> = records.iter().filter_map(|r| r.audit_seq).collect();
    let origin = audit::origin(&state.config.domain);
    let (checkpoint, proofs) =
        audit::checkpoint_with_proofs(&state.store, &state.keys.audit, &origin, &seqs).await?;
    let mut proofs = proofs.into_iter();
    let reveals = records
        .into_iter()
        .map(|r| Reveal {
            revealed_at: time(r.revealed_at),
            reason_code: r.reason_code,
            case_id: r.case_id,
            audit_inclusion: r.audit_seq.and_then(|_| proofs.next()),
        })
        .collect();
    Ok(Json(Reveals { reveals, checkpoint: Some(checkpoint) }))
}
