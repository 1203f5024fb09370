//! Token Status Lists: public, so a remedy that revokes reaches every
//! verifier, including members and hubs of other providers.

use axum::extract::State;
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::params::ApiPath;
use super::problem::Problem;
use crate::formats::status_list::CWT_TYP;
use crate::services::status_lists::{ListForm, interval_left};

/// Cached until the publication interval ends, when the next one is built.
fn cache_control(now: i64) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(&format!("public, max-age={}", interval_left(now)))
        .map_err(Problem::internal)
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status_list)).routes(routes!(crl))
}

#[utoipa::path(
    get,
    path = "/v1/crl",
    tag = "well-known",
    description = "The pseudonym CA's CRL (RFC 5280, DER): the pseudonym certificates and linked X.509 disclosures of revoked pseudonyms (suspensions are not published), until they expire. Every certificate veil issues names this URL (under the provider's origin) as its CRL Distribution Point. Rebuilt once per 5-minute interval; `nextUpdate` is an hour after `thisUpdate`. Public: no authentication.",
    responses((status = 200, description = "The CRL", content((String = "application/pkix-crl")), headers(("Cache-Control" = String, description = "public, max-age=<seconds until the next one>")))),
)]
async fn crl(State(state): State<AppState>) -> Result<Response, Problem> {
    let der = state.crl.current().await?;
    let cache = cache_control(state.clock.now())?;
    let kind = HeaderValue::from_static("application/pkix-crl");
    Ok(([(CONTENT_TYPE, kind), (CACHE_CONTROL, cache)], der).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/status-lists/{list}",
    tag = "well-known",
    description = "A Token Status List (draft-ietf-oauth-status-list) of the SD-JWT and SD-CWT disclosures: 2 bits per entry (0 valid, 1 revoked; suspensions are not published), zlib-compressed, signed by the issuer key of the same format, rebuilt once per 5-minute interval. `Accept: application/statuslist+cwt` gets the CWT; anything else the JWT (`application/statuslist+jwt`). Each credential's `status.status_list` names its list and index; indices are random. Public: no authentication.",
    params(("list" = i64, Path, description = "The list number (0 to 15)", minimum = 0, maximum = 15)),
    responses(
        (status = 200, description = "The Status List Token", content((String = "application/statuslist+jwt"), (String = "application/statuslist+cwt")), headers(("Cache-Control" = String, description = "public, max-age=<seconds until the next one>"))),
        (status = 404, description = "No such list"),
    ),
)]
async fn status_list(
    State(state): State<AppState>,
    ApiPath(list): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let wants_cwt = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains(CWT_TYP));
    let cache = cache_control(state.clock.now())?;
    Ok(match state.status_lists.token(list, wants_cwt).await? {
        ListForm::Jwt(token) => {
            let kind = HeaderValue::from_static("application/statuslist+jwt");
            ([(CONTENT_TYPE, kind), (CACHE_CONTROL, cache)], token).into_response()
        }
        ListForm::Cwt(token) => {
            let kind = HeaderValue::from_static(CWT_TYP);
            ([(CONTENT_TYPE, kind), (CACHE_CONTROL, cache)], token).into_response()
        }
    })
}
