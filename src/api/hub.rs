//! Routes for MIMI hubs (and the backend): pseudonym status.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::core::clock::rfc3339;
use crate::core::status::PseudonymStatus;
use crate::services::access::Scope;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/pseudonyms/{id}", get(status))
}

#[derive(Serialize, utoipa::ToSchema)]
struct StatusBody {
    uri: String,
    status: PseudonymStatus,
    not_after: String,
}

#[utoipa::path(
    get,
    path = "/v1/pseudonyms/{id}",
    tag = "hub",
    description = "Status of a pseudonym. Scopes: `hub`, `backend`.",
    params(("id" = String, Path, description = "Pseudonym id")),
    responses((status = 200, description = "The pseudonym's status", body = StatusBody), (status = 404, description = "No such pseudonym")),
    security(("bearer" = [])),
)]
async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<StatusBody>, Problem> {
    caller.require(&[Scope::Hub, Scope::Backend])?;
    match state.minter.status(&id).await {
        Ok(Some(view)) => Ok(Json(StatusBody {
            uri: view.uri,
            status: view.status,
            not_after: rfc3339(view.not_after),
        })),
        Ok(None) => Err(Problem::not_found("no such pseudonym")),
        Err(e) => Err(Problem::internal(e)),
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(status))]
pub(super) struct Doc;
