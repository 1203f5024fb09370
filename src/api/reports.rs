//! Abuse reports: hubs report a pseudonym with MIMI `reportAbuse`
//! (draft-ietf-mimi-protocol-02 §5.9), in its TLS wire form on
//! `/v1/report-abuse/{room}` or as veil's JSON on `/v1/abuse-reports`. Both
//! become one `reports::AbuseReport` and take one path through the domain.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::schemas;
use crate::formats::abuse_report::{self as wire, AbuseType, Frank};
use crate::services::abuse::reports;
use crate::services::access::Scope;

/// The media type of a TLS-encoded `AbuseReport`. The draft names none;
/// this one says what the body is, as `application/mls-credential` does
/// in draft-mahy-mimi-pseudonyms.
pub const WIRE_MEDIA_TYPE: &str = "application/mimi-abuse-report";

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report)).routes(routes!(report_abuse))
}

/// A report as a hub sends it in JSON. The server bounds sizes in bytes of
/// UTF-8; `maxLength` counts characters, so it holds the same number as
/// the byte bound (a text of fewer characters may still have too many
/// bytes).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AbuseReport {
    #[schema(min_length = 1, max_length = 512)]
    room: String,
    /// Left out or empty when the report names no reporting user.
    #[serde(default)]
    #[schema(max_length = 512)]
    reporting_user: Option<String>,
    /// The pseudonym URI reported.
    alleged_abuser: String,
    #[schema(schema_with = schemas::reason_code)]
    reason_code: AbuseType,
    #[serde(default)]
    #[schema(max_length = 4096)]
    note: String,
    #[serde(default)]
    #[schema(max_items = 10)]
    messages: Vec<ReportedMessage>,
}

/// One reported message with its frank.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReportedMessage {
    /// The MIMI content message, standard base64 (at most 4096 bytes
    /// decoded).
    #[schema(max_length = 5464)]
    mimi_content: String,
    /// The message's `Frank` (protocol-02 §5.4.1) as the wire form encodes
    /// it, in standard base64: `franking_tag`, `serverFrank` and
    /// `franking_context_hash`, 32 bytes each.
    #[schema(min_length = 128, max_length = 128, pattern = "^[A-Za-z0-9+/]{128}$")]
    frank: String,
    /// The hub's acceptance time, milliseconds since the UNIX epoch.
    accepted_timestamp: u64,
}

impl TryFrom<AbuseReport> for reports::AbuseReport {
    type Error = Problem;

    fn try_from(body: AbuseReport) -> Result<Self, Problem> {
        let mut messages = Vec::with_capacity(body.messages.len().min(wire::MAX_MESSAGES));
        for (i, m) in body.messages.into_iter().enumerate() {
            let mimi_content = Base64::decode_vec(&m.mimi_content).map_err(|_| {
                Problem::invalid(format!("`messages[{i}].mimi_content` is not standard base64"))
            })?;
            let frank = Frank::from_base64(&m.frank).ok_or_else(|| {
                Problem::invalid(format!(
                    "`messages[{i}].frank` must be standard base64 of the {} bytes of a Frank",
                    wire::FRANK_LEN
                ))
            })?;
            messages.push(reports::ReportedMessage {
                mimi_content,
                frank,
                accepted_timestamp: m.accepted_timestamp,
            });
        }
        Ok(Self {
            room: body.room,
            // The wire form says "no reporting user" with an empty URI.
            reporting_user: body.reporting_user.filter(|u| !u.is_empty()),
            alleged_abuser: body.alleged_abuser,
            reason_code: body.reason_code,
            note: body.note,
            messages,
        })
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
    description = "Report abuse by a pseudonym: MIMI `reportAbuse` as JSON, a convenience \
                   equal to `POST /v1/report-abuse/{room}`. Scopes: `hub`.",
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
    let report = body.parse()?.try_into()?;
    let report_id = state.abuse.report(&client.id, &report).await?;
    Ok((StatusCode::ACCEPTED, Json(ReportAccepted { report_id })))
}

/// The room's URI as one path segment, percent-encoded.
#[derive(utoipa::IntoParams)]
#[into_params(names("room"), parameter_in = Path)]
#[allow(dead_code)] // documentation only: the handler reads `Path<String>`
struct RoomParam(
    /// The room's URI (`mimi://hub.example/r/lobby`), percent-encoded as one
    /// path segment; 1 to 512 bytes decoded.
    #[param(min_length = 1, max_length = 512)]
    String,
);

#[utoipa::path(
    post,
    path = "/v1/report-abuse/{room}",
    tag = "abuse",
    description = "Report abuse by a pseudonym with MIMI `reportAbuse` in its wire form \
                   (draft-ietf-mimi-protocol-02 §5.9): the body is a TLS-encoded \
                   `AbuseReport` sent as `application/mimi-abuse-report`. As in the draft, \
                   the answer has no body. Scopes: `hub`.",
    params(RoomParam),
    request_body(
        content = schemas::WireAbuseReport,
        content_type = "application/mimi-abuse-report",
        description = "A TLS-encoded `AbuseReport`, nothing before or after it",
    ),
    responses(
        (status = 202, description = "Report accepted (an unknown pseudonym too: nothing is stored); no body"),
        (status = 400, description = "The body does not decode as an AbuseReport (empty, truncated, a malformed length, trailing bytes), or the room is not UTF-8"),
        (status = 415, description = "The body is not application/mimi-abuse-report"),
        (status = 422, description = "The report decodes but is refused: an unknown reason code, a field over its bound, text that is not UTF-8, not a pseudonym of this provider"),
        (status = 429, description = "This reporter's hourly quota of reports is used up; see Retry-After"),
    ),
    security(("bearer" = [])),
)]
async fn report_abuse(
    State(state): State<AppState>,
    caller: Caller,
    room: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Problem> {
    let client = caller.require(&[Scope::Hub])?;
    let Path(room) = room?;
    if !is_wire_media_type(&headers) {
        return Err(Problem::unsupported_media_type(WIRE_MEDIA_TYPE));
    }
    let decoded = wire::AbuseReport::decode(&body?)?;
    let report = reports::AbuseReport::from_wire(room, decoded);
    state.abuse.report(&client.id, &report).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Whether `Content-Type` is [`WIRE_MEDIA_TYPE`] (any case, parameters
/// ignored).
fn is_wire_media_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(WIRE_MEDIA_TYPE))
}
