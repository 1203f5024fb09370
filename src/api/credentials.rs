//! MLS leaf credentials: hubs validate the leaf of an external join, an
//! Update or a Commit, which comes in no KeyPackage.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Caller;
use super::json::ApiJson;
use super::key_packages::{ReportBody, decode, hub_report};
use super::problem::Problem;
use crate::formats::mls::LeafPosition;
use crate::services::verify::credential::CredentialReport;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(validate_credential))
}

/// Either `leaf_node` (with `group_id` and `leaf_index` for a leaf made by
/// a Commit or an Update), or `credential` with `signature_key`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    /// Standard base64 of a TLS `LeafNode` (RFC 9420 §7.2): its signature
    /// is checked, then its credential.
    #[serde(default)]
    leaf_node: Option<String>,
    /// Standard base64 of the group id. With `leaf_index`, required for a
    /// leaf whose `leaf_node_source` is `commit` or `update`: its signature
    /// covers both (`leaf_position_required` otherwise); ignored for a
    /// KeyPackage's leaf.
    #[serde(default)]
    group_id: Option<String>,
    /// The leaf's index in the group's tree (see `group_id`).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    leaf_index: Option<u32>,
    /// Standard base64 of a TLS MLS `Credential`, when the hub has the
    /// credential and key from its tree but no LeafNode to show: no
    /// signature is checked then.
    #[serde(default)]
    credential: Option<String>,
    /// Standard base64 of the leaf `signature_key` (SEC1) the credential
    /// sits beside; required with `credential`.
    #[serde(default)]
    signature_key: Option<String>,
    /// The room's policy (a name from `policies/rooms/`, or an inline
    /// policy), to judge admission (`pseudonym_forbidden`).
    #[serde(default)]
    #[schema(value_type = Option<super::presentations::RoomPolicyChoice>)]
    policy: Option<serde_json::Value>,
    /// Whether the room is a connection (bootstrap or knock) room, the only
    /// kind a connection-only leaf may enter (`connection_room_required`
    /// otherwise). False when omitted with a `policy`; without either,
    /// admission is not judged.
    #[serde(default)]
    connection_room: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/v1/mls/credentials/validate",
    tag = "mls",
    description = "Validate the credential of an MLS leaf that comes in no KeyPackage (external join, Update, Commit): a whole LeafNode, whose signature is checked, or a credential with the leaf's signature key. Scopes: `hub`.",
    request_body = ValidateBody,
    responses(
        (status = 200, description = "The validation report", body = ReportBody),
        (status = 422, description = "Not base64, undecodable, both or neither of `leaf_node` and `credential`, `signature_key` missing, `group_id` without `leaf_index` or the reverse, or an unknown or invalid policy"),
    ),
    security(("bearer" = [])),
)]
async fn validate_credential(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<ValidateBody>,
) -> Result<Json<ReportBody>, Problem> {
    hub_report(caller, body, |body| async move { judge(&state, &body).await }).await
}

/// The leaf or credential `body` names, validated.
async fn judge(state: &AppState, body: &ValidateBody) -> Result<CredentialReport, Problem> {
    let room = (body.policy.as_ref(), body.connection_room);
    Ok(match (&body.leaf_node, &body.credential) {
        (Some(leaf), None) => {
            if body.signature_key.is_some() {
                return Err(Problem::invalid(
                    "`signature_key` goes with `credential`; a LeafNode carries its own",
                ));
            }
            let leaf = decode(leaf, "leaf_node")?;
            let group_id = body.group_id.as_deref().map(|id| decode(id, "group_id")).transpose()?;
            let position = match (&group_id, body.leaf_index) {
                (Some(group_id), Some(leaf_index)) => Some(LeafPosition { group_id, leaf_index }),
                (None, None) => None,
                _ => return Err(Problem::invalid("`group_id` and `leaf_index` go together")),
            };
            state.verifier.validate_leaf_node(&leaf, position, room).await?
        }
        (None, Some(credential)) => {
            if body.group_id.is_some() || body.leaf_index.is_some() {
                return Err(Problem::invalid(
                    "`group_id` and `leaf_index` go with `leaf_node`, whose signature covers them",
                ));
            }
            let key = body
                .signature_key
                .as_deref()
                .ok_or_else(|| Problem::invalid("`signature_key` is required with `credential`"))?;
            let (credential, key) =
                (decode(credential, "credential")?, decode(key, "signature_key")?);
            state.verifier.validate_credential(&credential, &key, room).await?
        }
        _ => return Err(Problem::invalid("give exactly one of `leaf_node` and `credential`")),
    })
}
