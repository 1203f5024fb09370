//! Reputation adjustments by operators, on the account behind a pseudonym
//! (audited). Served under `/v1/admin/`; the pre-1.0 path stays for one
//! release as a deprecated alias.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::{AppState, deprecated_alias};
use crate::services::access::Scope;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new().routes(routes!(adjust));
    deprecated_alias(router, "/v1/reputation-adjustments", routes!(adjust))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AdjustBody {
    pseudonym: String,
    /// Non-zero, at most 1000000 either way.
    #[schema(minimum = -1000000, maximum = 1000000)]
    points: i64,
    /// Trimmed, then 1 to 200 bytes.
    #[schema(min_length = 1)]
    case_id: String,
    /// Trimmed, then 1 to 2000 bytes (recorded in the audit log).
    #[schema(min_length = 1)]
    reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Adjusted {
    adjustment_id: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/reputation-adjustments",
    tag = "abuse",
    description = "Adjust the reputation of a pseudonym's account. Scopes: `admin`.",
    request_body = AdjustBody,
    responses((status = 201, description = "Adjustment recorded", body = Adjusted), (status = 404, description = "Unknown pseudonym")),
    security(("bearer" = [])),
)]
async fn adjust(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<AdjustBody>,
) -> Result<(StatusCode, Json<Adjusted>), Problem> {
    let client = caller.require(&[Scope::Admin])?;
    let body = body.parse()?;
    let adjustment_id = state
        .abuse
        .adjust(&client.id, &body.pseudonym, body.points, &body.case_id, &body.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(Adjusted { adjustment_id })))
}
