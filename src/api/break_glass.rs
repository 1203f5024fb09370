//! Break-glass (scope `admin`): request, approve or deny, relay custodians'
//! partials, and release the sealed link of the account behind a pseudonym.
//! No response carries an account id: the requester's `veilctl` opens the
//! released link on its own machine.

use super::auth::Caller;
use super::json::ApiJson;
use super::params::{ApiPath, ApiQuery};
use super::problem::Problem;
use super::{AppState, b64, time};
use crate::core::page::{Cursor, PageLimit};
use crate::services::access::Scope;
use crate::services::breakglass::{self, NewRequest, Status};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request, list_break_glass))
        .routes(routes!(approve))
        .routes(routes!(deny))
        .routes(routes!(partial_input))
        .routes(routes!(submit_partial))
        .routes(routes!(reveal))
}

fn decode(field: &str, text: &str) -> Result<Vec<u8>, Problem> {
    Base64::decode_vec(text)
        .map_err(|_| Problem::invalid(format!("`{field}` is not standard base64")))
}

/// What operators see of a request (never the account).
#[derive(Serialize, utoipa::ToSchema)]
struct RequestView {
    request_id: String,
    pseudonym: String,
    reason_code: String,
    case_id: String,
    justification: String,
    requester: String,
    status: Status,
    approvals: i64,
    approvals_required: i64,
    /// Custodians' partials relayed so far (sealed to the requester).
    partials: i64,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

impl From<breakglass::RequestView> for RequestView {
    fn from(v: breakglass::RequestView) -> Self {
        Self {
            request_id: v.request_id,
            pseudonym: v.pseudonym,
            reason_code: v.reason_code,
            case_id: v.case_id,
            justification: v.justification,
            requester: v.requester,
            status: v.status,
            approvals: v.approvals,
            approvals_required: v.approvals_required,
            partials: v.partials,
            created_at: time(v.created_at),
            expires_at: time(v.expires_at),
        }
    }
}

// Named apart from the operator request's body in the document: two
// schemas of one name are merged silently (the break-glass request was
// documented as `{"name"}`).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = BreakGlassRequestBody)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    pseudonym: String,
    /// Trimmed, then 1 to 200 bytes.
    #[schema(min_length = 1)]
    case_id: String,
    /// Trimmed, then 1 to 2000 bytes (recorded in the audit log).
    #[schema(min_length = 1)]
    justification: String,
    /// One of the reason codes of `policies/break-glass.toml`.
    reason_code: String,
    /// Custodian custody: the requester's one-time reveal public key
    /// (standard base64 of a SEC1 P-256 point), to which custodians seal
    /// their partials. `veilctl break-glass request --reveal-key` makes it.
    /// 44 characters for a compressed point, 88 for an uncompressed one.
    #[schema(min_length = 44, max_length = 88, pattern = "^[A-Za-z0-9+/]+={0,2}$")]
    reveal_key: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass",
    operation_id = "request_break_glass",
    tag = "break-glass",
    description = "Request a break-glass reveal of a pseudonym's account. Scopes: `admin`.",
    request_body = RequestBody,
    responses((status = 201, description = "Request created", body = RequestView), (status = 404, description = "Unknown pseudonym")),
    security(("bearer" = [])),
)]
async fn request(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<RequestBody>,
) -> Result<(StatusCode, Json<RequestView>), Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let body = body.parse()?;
    let reveal_key = body.reveal_key.as_deref().map(|k| decode("reveal_key", k)).transpose()?;
    let new = NewRequest {
        pseudonym: &body.pseudonym,
        case_id: &body.case_id,
        justification: &body.justification,
        reason_code: &body.reason_code,
        reveal_key: reveal_key.as_deref(),
    };
    let view = state.break_glass.request(&admin.id, &new).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only requests in this status (filtered before paging).
    status: Option<Status>,
    /// Requests per page.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500, default = 100)]
    limit: Option<PageLimit>,
    /// The `next` of the page before: this page starts after its last
    /// request. Opaque; absent for the newest page.
    #[param(value_type = Option<String>, min_length = 14, max_length = 98, pattern = "^[A-Za-z0-9_-]+$")]
    after: Option<Cursor>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RequestList {
    /// Newest first.
    requests: Vec<RequestView>,
    /// Pass as `after` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/admin/break-glass",
    tag = "break-glass",
    description = "List break-glass requests, newest first, one page at a time: `limit` \
(1 to 500, default 100) per page; the answer's `next`, passed as `after`, gives the \
following page (keyset pagination: rows created meanwhile never shift a page). \
`status` filters before paging. Scopes: `admin`.",
    params(ListQuery),
    responses((status = 200, description = "A page of break-glass requests", body = RequestList)),
    security(("bearer" = [])),
)]
async fn list_break_glass(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery<ListQuery>,
) -> Result<Json<RequestList>, Problem> {
    caller.require(&[Scope::Admin])?;
    let query = query.parse()?;
    let limit = query.limit.unwrap_or_default();
    let page = state.break_glass.list(query.status, query.after.as_ref(), limit).await?;
    let requests = page.items.into_iter().map(RequestView::from).collect();
    Ok(Json(RequestList { requests, next: page.next.map(|c| c.encode()) }))
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass/{id}/approve",
    operation_id = "approve_break_glass",
    tag = "break-glass",
    description = "Approve a break-glass request: counts operators, never tokens, and never the requester's operator. No body. Scopes: `admin` (a client of an active operator).",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "Approval recorded", body = RequestView), (status = 404, description = "No such request"), (status = 409, description = "Not pending or already approved"), (status = 410, description = "Request expired")),
    security(("bearer" = [])),
)]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RequestView>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let view = state.break_glass.approve(&admin.id, &id).await?;
    Ok(Json(view.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DenyBody {
    /// Trimmed, then 1 to 2000 bytes (recorded in the audit log).
    #[schema(min_length = 1)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass/{id}/deny",
    tag = "break-glass",
    description = "Deny a break-glass request. Scopes: `admin`.",
    request_body = DenyBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "Request denied", body = RequestView), (status = 404, description = "No such request"), (status = 409, description = "Not pending")),
    security(("bearer" = [])),
)]
async fn deny(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<DenyBody>,
) -> Result<Json<RequestView>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let body = body.parse()?;
    Ok(Json(state.break_glass.deny(&admin.id, &id, &body.reason).await?.into()))
}

/// What a custodian's `veilctl` computes its partial decryption on.
#[derive(Serialize, utoipa::ToSchema)]
struct PartialInput {
    request_id: String,
    /// The link's HPKE encapsulated key `E` (standard base64, SEC1).
    enc: String,
    /// veil's HPKE sender public key `S` (standard base64, SEC1).
    sender_key: String,
    /// The requester's reveal key to seal the partial to (standard base64).
    reveal_key: String,
}

#[utoipa::path(
    get,
    path = "/v1/admin/break-glass/{id}/partial-input",
    tag = "break-glass",
    description = "What a custodian needs for its partial decryption of an approved request's link: public values only. Scopes: `admin` (a client of an active operator).",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "The link's public inputs", body = PartialInput), (status = 404, description = "No such request"), (status = 409, description = "Not approved, already revealed, no reveal key, or a legacy link"), (status = 410, description = "Request expired or account deleted")),
    security(("bearer" = [])),
)]
async fn partial_input(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PartialInput>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let input = state.break_glass.partial_input(&admin.id, &id).await?;
    Ok(Json(PartialInput {
        request_id: id,
        enc: b64(&input.enc.to_bytes()),
        sender_key: b64(&input.sender.to_bytes()),
        reveal_key: b64(&input.reveal_key.to_bytes()),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PartialBody {
    /// The custodian's index (1..=255) in the key ceremony.
    #[schema(minimum = 1, maximum = 255)]
    custodian: u8,
    /// The partial decryption with its DLEQ proof, HPKE-sealed to the
    /// requester's reveal key (standard base64). veil cannot read it.
    sealed: String,
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass/{id}/partials",
    tag = "break-glass",
    description = "Relay a custodian's sealed partial decryption to the requester. Scopes: `admin` (a client of an active operator).",
    request_body = PartialBody,
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "Partial relayed", body = RequestView), (status = 404, description = "No such request"), (status = 409, description = "Not approved, already revealed, no reveal key, or this custodian already sent one"), (status = 410, description = "Request expired")),
    security(("bearer" = [])),
)]
async fn submit_partial(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<PartialBody>,
) -> Result<Json<RequestView>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let body = body.parse()?;
    let sealed = decode("sealed", &body.sealed)?;
    let view = state.break_glass.submit_partial(&admin.id, &id, body.custodian, &sealed).await?;
    Ok(Json(view.into()))
}

/// A custodian's sealed partial as released to the requester.
#[derive(Serialize, utoipa::ToSchema)]
struct SealedPartial {
    custodian: u8,
    /// Standard base64; opens only with the requester's reveal key.
    sealed: String,
}

/// The released link: opened by the requester's `veilctl`, never here.
#[derive(Serialize, utoipa::ToSchema)]
struct Released {
    request_id: String,
    /// `p256-auth` (HPKE Auth, DHKEM(P-256)) or `x25519-base` (a legacy
    /// link, opened with the old whole key).
    suite: String,
    /// `enc || ciphertext`, standard base64.
    sealed_link: String,
    /// The HPKE aad (the account's `account_ref`), standard base64.
    aad: String,
    /// veil's HPKE sender public key for `p256-auth` links.
    sender_key: Option<String>,
    /// Custodians' partials relayed for this request.
    partials: Vec<SealedPartial>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/break-glass/{id}/reveal",
    tag = "break-glass",
    description = "Release the sealed link of an approved request's account, once, to the requester, audited in the same transaction. No body. The service opens nothing: `veilctl break-glass reveal` opens the link with the break-glass key file or the custodians' partials. Scopes: `admin`.",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, description = "The sealed link and relayed partials", body = Released), (status = 403, description = "Not the requester"), (status = 404, description = "No such request"), (status = 409, description = "Not approved or already revealed"), (status = 410, description = "Request expired or account deleted")),
    security(("bearer" = [])),
)]
async fn reveal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Released>, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let released = state.break_glass.reveal(&admin.id, &id).await?;
    let link = released.link;
    Ok(Json(Released {
        request_id: id,
        suite: link.suite.as_str().to_string(),
        sealed_link: b64(&link.sealed),
        aad: b64(&link.aad),
        sender_key: link.sender.map(|k| b64(&k.to_bytes())),
        partials: released
            .partials
            .into_iter()
            .map(|(index, sealed)| SealedPartial { custodian: index.get(), sealed: b64(&sealed) })
            .collect(),
    }))
}
