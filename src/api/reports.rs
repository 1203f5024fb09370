//! Abuse reports: hubs report a pseudonym, in the shape of MIMI
//! `reportAbuse`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use crate::services::abuse::reports;
use crate::services::access::Scope;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}

/// A report as a hub sends it. The server bounds sizes in bytes of UTF-8;
/// `maxLength` counts characters, so it holds the same number as the byte
/// bound (a text of fewer characters may still have too many bytes).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AbuseReport {
    #[schema(min_length = 1, max_length = 512)]
    room: String,
    #[serde(default)]
    #[schema(max_length = 512)]
    reporting_user: Option<String>,
    /// The pseudonym URI reported.
    alleged_abuser: String,
    /// An unsigned 32-bit integer.
    // utoipa documents a u32 as int32, whose upper half the server takes too.
    #[schema(format = Int64, minimum = 0, maximum = 4294967295_u64)]
    reason_code: u32,
    #[serde(default)]
    #[schema(max_length = 4096)]
    note: String,
    #[serde(default)]
    #[schema(max_items = 10)]
    messages: Vec<ReportedMessage>,
}

/// One reported message with its franking tag.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReportedMessage {
    #[schema(max_length = 4096)]
    mimi_content: String,
    #[schema(max_length = 512)]
    frank: String,
    accepted_timestamp: u64,
}

impl From<AbuseReport> for reports::AbuseReport {
    fn from(body: AbuseReport) -> Self {
        Self {
            room: body.room,
            reporting_user: body.reporting_user,
            alleged_abuser: body.alleged_abuser,
            reason_code: body.reason_code,
            note: body.note,
            messages: body
                .messages
                .into_iter()
                .map(|m| reports::ReportedMessage {
                    mimi_content: m.mimi_content,
                    frank: m.frank,
                    accepted_timestamp: m.accepted_timestamp,
                })
                .collect(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct ReportAccepted {
    report_id: String,
}

#[utoipa::path(
    post,
    path = "/v1/abuse-reports",
    tag = "abuse",
    description = "Report abuse by a pseudonym. Scopes: `hub`.",
    request_body = AbuseReport,
    responses(
        (status = 202, description = "Report accepted (an unknown pseudonym too: nothing is stored)", body = ReportAccepted),
        (status = 429, description = "This reporter's hourly quota of reports is used up; see Retry-After"),
    ),
    security(("bearer" = [])),
)]
async fn report(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<AbuseReport>,
) -> Result<(StatusCode, Json<ReportAccepted>), Problem> {
    let client = caller.require(&[Scope::Hub])?;
    let body = body.parse()?;
    let report_id = state.abuse.report(&client.id, &body.into()).await?;
    Ok((StatusCode::ACCEPTED, Json(ReportAccepted { report_id })))
}
