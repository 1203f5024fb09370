//! Remedies on the account behind a pseudonym: applied by operators (and by
//! hubs when `reputation.reports.hub_may_remedy` allows), listed and lifted
//! by operators. Served under `/v1/admin/`; the pre-1.0 paths under
//! `/v1/remedies` stay for one release as deprecated aliases.

use super::params::{ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::{AppState, deprecated_alias, time};
use crate::core::page::{Cursor, PageLimit};
use crate::core::remedy::RemedyAction;
use crate::services::abuse::{Actor, RemedyRequest};
use crate::services::access::Scope;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new()
        .routes(routes!(apply_remedy, list_remedies))
        .routes(routes!(lift_remedy));
    let router = deprecated_alias(router, "/v1/remedies", routes!(apply_remedy, list_remedies));
    deprecated_alias(router, "/v1/remedies/{id}/lift", routes!(lift_remedy))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RemedyBody {
    pseudonym: String,
    action: RemedyAction,
    #[serde(default)]
    related: bool,
    /// Trimmed, then 1 to 200 bytes.
    #[schema(min_length = 1)]
    case_id: String,
    /// Trimmed, then 1 to 2000 bytes (recorded in the audit log).
    #[schema(min_length = 1)]
    reason: String,
    /// For `mute` and `suspend` only: seconds, minutes, hours or days, e.g.
    /// `90m`, `12h`, `7d`; at most a year. Without it the remedy is
    /// permanent.
    #[serde(default)]
    #[schema(pattern = "^[0-9]+[smhd]$")]
    duration: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RemedyApplied {
    remedy_id: String,
    affected_pseudonyms: i64,
}

#[utoipa::path(
    post,
    path = "/v1/admin/remedies",
    tag = "abuse",
    description = "Apply a remedy to a pseudonym (and, with `related`, the account's other pseudonyms). Scopes: `admin`; `hub` if the policy allows.",
    request_body = RemedyBody,
    responses((status = 201, description = "Remedy applied", body = RemedyApplied), (status = 404, description = "Unknown pseudonym")),
    security(("bearer" = [])),
)]
async fn apply_remedy(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<RemedyBody>,
) -> Result<(StatusCode, Json<RemedyApplied>), Problem> {
    let client = caller.require(&[Scope::Admin, Scope::Hub])?;
    let body = body.parse()?;
    let actor = Actor { client_id: &client.id, is_admin: client.has_any(&[Scope::Admin]) };
    let request = RemedyRequest {
        pseudonym: body.pseudonym,
        action: body.action,
        related: body.related,
        case_id: body.case_id,
        reason: body.reason,
        duration: body.duration,
    };
    let outcome = state.abuse.remedy(actor, &request).await?;
    state.metrics.remedy_applied(request.action.as_str());
    Ok((
        StatusCode::CREATED,
        Json(RemedyApplied {
            remedy_id: outcome.remedy_id,
            affected_pseudonyms: outcome.affected_pseudonyms,
        }),
    ))
}

/// A remedy as operators see it: never the account.
#[derive(Serialize, utoipa::ToSchema)]
struct Remedy {
    id: String,
    action: String,
    case_id: String,
    reason: String,
    actor: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// Absent for a permanent remedy.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[schema(format = DateTime)]
    lifted_at: Option<String>,
    affected_pseudonyms: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RemedyList {
    /// Newest first.
    remedies: Vec<Remedy>,
    /// Pass as `after` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Remedies per page.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500, default = 100)]
    limit: Option<PageLimit>,
    /// The `next` of the page before: this page starts after its last
    /// remedy. Opaque; absent for the newest page.
    #[param(value_type = Option<String>, min_length = 14, max_length = 98, pattern = "^[A-Za-z0-9_-]+$")]
    after: Option<Cursor>,
}

#[utoipa::path(
    get,
    path = "/v1/admin/remedies",
    tag = "abuse",
    description = "List remedies, lifted and expired ones included, newest first, one page \
at a time: `limit` (1 to 500, default 100) per page; the answer's `next`, passed as \
`after`, gives the following page (keyset pagination: remedies applied meanwhile never \
shift a page). Scopes: `admin`.",
    params(ListQuery),
    responses((status = 200, description = "A page of remedies, without accounts", body = RemedyList)),
    security(("bearer" = [])),
)]
async fn list_remedies(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery<ListQuery>,
) -> Result<Json<RemedyList>, Problem> {
    caller.require(&[Scope::Admin])?;
    let query = query.parse()?;
    let limit = query.limit.unwrap_or_default();
    let page = state.abuse.list_remedies(query.after.as_ref(), limit).await?;
    let remedies = page
        .items
        .into_iter()
        .map(|r| Remedy {
            id: r.id,
            action: r.action,
            case_id: r.case_id,
            reason: r.reason,
            actor: r.actor,
            created_at: time(r.created_at),
            expires_at: r.expires_at.map(time),
            lifted_at: r.lifted_at.map(time),
            affected_pseudonyms: r.affected_pseudonyms,
        })
        .collect();
    Ok(Json(RemedyList { remedies, next: page.next.map(|c| c.encode()) }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LiftBody {
    /// Trimmed, then 1 to 2000 bytes (recorded in the audit log).
    #[schema(min_length = 1)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/remedies/{id}/lift",
    tag = "abuse",
    description = "Lift a remedy. Scopes: `admin`.",
    request_body = LiftBody,
    params(("id" = String, Path, description = "Remedy id")),
    responses((status = 204, description = "Remedy lifted"), (status = 404, description = "Unknown remedy"), (status = 409, description = "Remedy not liftable")),
    security(("bearer" = [])),
)]
async fn lift_remedy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<LiftBody>,
) -> Result<StatusCode, Problem> {
    let client = caller.require(&[Scope::Admin])?;
    let body = body.parse()?;
    state.abuse.lift_remedy(&client.id, &id, &body.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}
