//! Admin routes: API clients.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use crate::services::access::{AccessError, Client, Scope};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/clients", get(list).post(create))
        .route("/v1/admin/clients/{id}", delete(revoke))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    scopes: Vec<Scope>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Created {
    id: String,
    name: String,
    scopes: Vec<Scope>,
    /// Shown only in this response.
    token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClientList {
    clients: Vec<Client>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/clients",
    tag = "admin",
    description = "Create an API client. Scopes: `admin`.",
    request_body = CreateBody,
    responses((status = 201, description = "Client created; the token is shown only here", body = Created)),
    security(("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Created>), Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let (client, token) = state
        .access
        .create_client(&admin.id, &body.name, &body.scopes, state.clock.now())
        .await
        .map_err(access_problem)?;
    tracing::info!(client_id = %client.id, "API client created");
    let created = Created {
        id: client.id,
        name: client.name,
        scopes: client.scopes,
        token: token.expose().to_string(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get,
    path = "/v1/admin/clients",
    tag = "admin",
    description = "List API clients. Scopes: `admin`.",
    responses((status = 200, description = "Active clients", body = ClientList)),
    security(("bearer" = [])),
)]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<ClientList>, Problem> {
    caller.require(&[Scope::Admin])?;
    let clients = state.access.list().await.map_err(access_problem)?;
    Ok(Json(ClientList { clients }))
}

#[utoipa::path(
    delete,
    path = "/v1/admin/clients/{id}",
    tag = "admin",
    description = "Revoke an API client. Scopes: `admin`.",
    params(("id" = String, Path, description = "Client id")),
    responses((status = 204, description = "Client revoked"), (status = 404, description = "No active client with this id"), (status = 409, description = "The last admin cannot be revoked")),
    security(("bearer" = [])),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    match state.access.revoke(&admin.id, &id, state.clock.now()).await.map_err(access_problem)? {
        true => {
            tracing::info!(client_id = %id, "API client revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        false => Err(Problem::not_found("no active client with this id")),
    }
}

fn access_problem(error: AccessError) -> Problem {
    match error {
        AccessError::BadName | AccessError::NoScopes => Problem::invalid(error.to_string()),
        AccessError::LastAdmin => {
            Problem::new(StatusCode::CONFLICT, "last-admin", "Last admin", error.to_string())
        }
        AccessError::Random | AccessError::Store(_) => Problem::internal(error),
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, revoke))]
pub(super) struct Doc;
