//! API clients: operators create, list and revoke them.

use super::params::ApiPath;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::{AppState, time};
use crate::services::access::Scope;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list_clients)).routes(routes!(revoke))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// Trimmed, then 1 to 100 characters.
    #[schema(min_length = 1)]
    name: String,
    /// At least one.
    #[schema(min_items = 1)]
    scopes: Vec<Scope>,
    /// The operator (person) an admin client belongs to; required with
    /// `admin`, and the operator must be active.
    operator: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Created {
    id: String,
    name: String,
    scopes: Vec<Scope>,
    operator: Option<String>,
    /// Shown only in this response.
    token: String,
}

/// An API client (never its token).
#[derive(Serialize, utoipa::ToSchema)]
struct Client {
    id: String,
    name: String,
    scopes: Vec<Scope>,
    operator: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    revoked_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClientList {
    clients: Vec<Client>,
}

#[utoipa::path(
    post,
    path = "/v1/admin/clients",
    tag = "admin",
    description = "Create an API client; an admin client names its active operator. Scopes: `admin`.",
    request_body = CreateBody,
    responses((status = 201, description = "Client created; the token is shown only here", body = Created), (status = 409, description = "The operator is not active")),
    security(("bearer" = [])),
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<Created>), Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    let body = body.parse()?;
    let operator = body.operator.as_deref();
    let now = state.clock.now();
    let (client, token) =
        state.access.create_client(&admin.id, &body.name, &body.scopes, operator, now).await?;
    tracing::info!(client_id = %client.id, "API client created");
    let created = Created {
        id: client.id,
        name: client.name,
        scopes: client.scopes,
        operator: client.operator_id,
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
async fn list_clients(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ClientList>, Problem> {
    caller.require(&[Scope::Admin])?;
    let clients = state
        .access
        .list()
        .await?
        .into_iter()
        .map(|c| Client {
            id: c.id,
            name: c.name,
            scopes: c.scopes,
            operator: c.operator_id,
            created_at: time(c.created_at),
            revoked_at: c.revoked_at.map(time),
        })
        .collect();
    Ok(Json(ClientList { clients }))
}

#[utoipa::path(
    delete,
    path = "/v1/admin/clients/{id}",
    operation_id = "revoke_client",
    tag = "admin",
    description = "Revoke an API client. Scopes: `admin`.",
    params(("id" = String, Path, description = "Client id")),
    responses((status = 204, description = "Client revoked"), (status = 404, description = "No active client with this id"), (status = 409, description = "The last admin cannot be revoked")),
    security(("bearer" = [])),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, Problem> {
    let admin = caller.require(&[Scope::Admin])?;
    if !state.access.revoke(&admin.id, &id, state.clock.now()).await? {
        return Err(Problem::not_found("no active client with this id"));
    }
    tracing::info!(client_id = %id, "API client revoked");
    Ok(StatusCode::NO_CONTENT)
}
