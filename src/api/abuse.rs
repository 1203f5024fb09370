//! Anti-abuse routes: the backend asks about and seeds its own users, hubs
//! report abuse, operators apply remedies. No response names an account.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use crate::core::remedy::RemedyAction;
use crate::services::abuse::reports::AbuseReport;
use crate::services::abuse::{AbuseError, AccountStatus, Actor, RemedyRequest, Signals};
use crate::services::access::Scope;
use crate::store::RemedyRow;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts/status", post(account_status))
        .route("/v1/admin/accounts/status", post(account_status_by_pseudonym))
        .route("/v1/accounts/signals", post(signals))
        .route("/v1/abuse-reports", post(report))
        .route("/v1/remedies", post(remedy).get(list_remedies))
        .route("/v1/remedies/{id}/lift", post(lift_remedy))
        .route("/v1/reputation-adjustments", post(adjust))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    account: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SignalsBody {
    account: String,
    #[serde(flatten)]
    signals: Signals,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ReportAccepted {
    report_id: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RemedyBody {
    pseudonym: String,
    action: RemedyAction,
    #[serde(default)]
    related: bool,
    case_id: String,
    reason: String,
    #[serde(default)]
    duration: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RemedyApplied {
    remedy_id: String,
    affected_pseudonyms: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PseudonymBody {
    /// A pseudonym URI of the account.
    pseudonym: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/accounts/status",
    tag = "abuse",
    description = "The standing of the account behind a pseudonym, never the account itself. Scopes: `admin`.",
    request_body = PseudonymBody,
    responses(
        (status = 200, description = "The account's standing", body = AccountStatus),
        (status = 404, description = "Unknown pseudonym"),
    ),
    security(("bearer" = [])),
)]
async fn account_status_by_pseudonym(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PseudonymBody>,
) -> Result<Json<AccountStatus>, Problem> {
    caller.require(&[Scope::Admin])?;
    let status =
        state.abuse.account_status_by_pseudonym(&body.pseudonym).await.map_err(abuse_problem)?;
    Ok(Json(status))
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
    ApiJson(body): ApiJson<AccountBody>,
) -> Result<Json<AccountStatus>, Problem> {
    caller.require(&[Scope::Backend])?;
    Ok(Json(state.abuse.account_status(&body.account).await.map_err(abuse_problem)?))
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
    ApiJson(body): ApiJson<SignalsBody>,
) -> Result<StatusCode, Problem> {
    caller.require(&[Scope::Backend])?;
    state.abuse.seed_signals(&body.account, &body.signals).await.map_err(abuse_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/abuse-reports",
    tag = "abuse",
    description = "Report abuse by a pseudonym. Scopes: `hub`.",
    request_body = AbuseReport,
    responses((status = 202, description = "Report accepted", body = ReportAccepted), (status = 404, description = "Unknown pseudonym")),
    security(("bearer" = [])),
)]
async fn report(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AbuseReport>,
) -> Result<(StatusCode, Json<ReportAccepted>), Problem> {
    let client = caller.require(&[Scope::Hub])?;
    let report_id = state.abuse.report(&client.id, &body).await.map_err(abuse_problem)?;
    Ok((StatusCode::ACCEPTED, Json(ReportAccepted { report_id })))
}

#[utoipa::path(
    post,
    path = "/v1/remedies",
    tag = "abuse",
    description = "Apply a remedy to a pseudonym (and, with `related`, the account's other pseudonyms). Scopes: `admin`; `hub` if the policy allows.",
    request_body = RemedyBody,
    responses((status = 201, description = "Remedy applied", body = RemedyApplied), (status = 404, description = "Unknown pseudonym")),
    security(("bearer" = [])),
)]
async fn remedy(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RemedyBody>,
) -> Result<(StatusCode, Json<RemedyApplied>), Problem> {
    let client = caller.require(&[Scope::Admin, Scope::Hub])?;
    let actor = Actor { client_id: &client.id, is_admin: client.has_any(&[Scope::Admin]) };
    let request = RemedyRequest {
        pseudonym: body.pseudonym,
        action: body.action,
        related: body.related,
        case_id: body.case_id,
        reason: body.reason,
        duration: body.duration,
    };
    let outcome = state.abuse.remedy(actor, &request).await.map_err(abuse_problem)?;
    state.metrics.remedy_applied(request.action.as_str());
    Ok((
        StatusCode::CREATED,
        Json(RemedyApplied {
            remedy_id: outcome.remedy_id,
            affected_pseudonyms: outcome.affected_pseudonyms,
        }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
struct RemedyList {
    remedies: Vec<RemedyRow>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LiftBody {
    reason: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AdjustBody {
    pseudonym: String,
    points: i64,
    case_id: String,
    reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Adjusted {
    adjustment_id: String,
}

#[utoipa::path(
    post,
    path = "/v1/reputation-adjustments",
    tag = "abuse",
    description = "Adjust the reputation of a pseudonym's account. Scopes: `admin`.",
    request_body = AdjustBody,
    responses((status = 201, description = "Adjustment recorded", body = Adjusted), (status = 404, description = "Unknown pseudonym")),
    security(("bearer" = [])),
)]
async fn adjust(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AdjustBody>,
) -> Result<(StatusCode, Json<Adjusted>), Problem> {
    let client = caller.require(&[Scope::Admin])?;
    let adjustment_id = state
        .abuse
        .adjust(&client.id, &body.pseudonym, body.points, &body.case_id, &body.reason)
        .await
        .map_err(abuse_problem)?;
    Ok((StatusCode::CREATED, Json(Adjusted { adjustment_id })))
}

#[utoipa::path(
    get,
    path = "/v1/remedies",
    tag = "abuse",
    description = "List remedies. Scopes: `admin`.",
    responses((status = 200, description = "All remedies, without accounts", body = RemedyList)),
    security(("bearer" = [])),
)]
async fn list_remedies(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RemedyList>, Problem> {
    caller.require(&[Scope::Admin])?;
    let remedies = state.abuse.list_remedies().await.map_err(abuse_problem)?;
    Ok(Json(RemedyList { remedies }))
}

#[utoipa::path(
    post,
    path = "/v1/remedies/{id}/lift",
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
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LiftBody>,
) -> Result<StatusCode, Problem> {
    let client = caller.require(&[Scope::Admin])?;
    state.abuse.lift_remedy(&client.id, &id, &body.reason).await.map_err(abuse_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

fn abuse_problem(error: AbuseError) -> Problem {
    match error {
        AbuseError::Invalid(detail) => Problem::invalid(detail),
        AbuseError::UnknownPseudonym => Problem::not_found(error.to_string()),
        AbuseError::NotAllowed => Problem::forbidden_scope(),
        AbuseError::UnknownRemedy => Problem::not_found(error.to_string()),
        AbuseError::NotLiftable => Problem::new(
            StatusCode::CONFLICT,
            "remedy-not-liftable",
            "Remedy not liftable",
            error.to_string(),
        ),
        AbuseError::Internal(cause) => Problem::internal(cause),
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    account_status,
    account_status_by_pseudonym,
    signals,
    report,
    remedy,
    list_remedies,
    lift_remedy,
    adjust
))]
pub(super) struct Doc;
