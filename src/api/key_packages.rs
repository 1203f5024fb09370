//! MLS KeyPackages: hubs validate one carrying a veil credential.

use axum::Json;
use axum::extract::State;
use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::json::ApiJson;
use super::problem::Problem;
use super::{AppState, FindingBody, time};
use crate::core::status::PseudonymStatus;
use crate::services::access::Scope;
use crate::services::verify::credential::CredentialReport;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(validate))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    /// Standard base64 of a TLS `MLSMessage` holding a KeyPackage, or of a
    /// bare KeyPackage.
    key_package: String,
    /// The room's policy (a name from `policies/rooms/`, or an inline
    /// policy), to judge admission: a room whose policy forbids pseudonyms
    /// refuses the package (`pseudonym_forbidden`).
    #[serde(default)]
    #[schema(value_type = Option<super::presentations::RoomPolicyChoice>)]
    policy: Option<serde_json::Value>,
    /// Whether the room is a connection (bootstrap or knock) room, the only
    /// kind a connection-only package may enter (`connection_room_required`
    /// otherwise). False when omitted with a `policy`; without either,
    /// admission is not judged.
    #[serde(default)]
    connection_room: Option<bool>,
}

/// The report on an MLS leaf credential, shared by KeyPackage, LeafNode and
/// credential validation.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ReportBody {
    valid: bool,
    /// The room policy's `pseudonyms_allowed` (draft-ietf-mimi-room-policy),
    /// when a policy was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pseudonyms_allowed: Option<bool>,
    pseudonym: Option<String>,
    /// The pseudonym's further client (`mimi://<domain>/d/<id>`) the
    /// certificate names, when it is one; absent for the pseudonym's own key.
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<String>,
    status: Option<PseudonymStatus>,
    /// The leaf may only add its holder to a connection room, by either
    /// marker: the KeyPackage's connection-only extension (0xF0C0) or the
    /// certificate's (the pseudonym was minted connection-only). Null until
    /// one is known: the extension once openmls accepts the package, the
    /// certificate once it is verified.
    connection_only: Option<bool>,
    /// The KeyPackage carries the connection-only extension (type 0xF0C0).
    /// Absent when not known: openmls refused the package, or the leaf came
    /// in no KeyPackage.
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_only_extension: Option<bool>,
    #[schema(format = DateTime)]
    not_after: Option<String>,
    errors: Vec<FindingBody>,
}

#[utoipa::path(
    post,
    path = "/v1/mls/key-packages/validate",
    tag = "mls",
    description = "Validate an MLS KeyPackage carrying a veil credential. Scopes: `hub`.",
    request_body = ValidateBody,
    responses((status = 200, description = "The validation report", body = ReportBody)),
    security(("bearer" = [])),
)]
async fn validate(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<ValidateBody>,
) -> Result<Json<ReportBody>, Problem> {
    hub_report(caller, body, |body| async move {
        let bytes = decode(&body.key_package, "key_package")?;
        let (policy, connection_room) = (body.policy.as_ref(), body.connection_room);
        Ok(state.verifier.validate_key_package(&bytes, policy, connection_room).await?)
    })
    .await
}

/// What both validate routes (this one and `credentials.rs`) do around the
/// verifier: a `hub` token first (so a caller without one never learns
/// what its body did wrong), then the body, then `judge`'s report.
pub(super) async fn hub_report<B, J, F>(
    caller: Caller,
    body: ApiJson<B>,
    judge: J,
) -> Result<Json<ReportBody>, Problem>
where
    J: FnOnce(B) -> F,
    F: Future<Output = Result<CredentialReport, Problem>>,
{
    caller.require(&[Scope::Hub])?;
    let report = judge(body.parse()?).await?;
    Ok(Json(ReportBody::from(report)))
}

/// A body field in standard base64 (white space around it ignored); 422
/// naming the field otherwise.
pub(super) fn decode(text: &str, field: &str) -> Result<Vec<u8>, Problem> {
    Base64::decode_vec(text.trim())
        .map_err(|_| Problem::invalid(format!("`{field}` is not standard base64")))
}

impl From<CredentialReport> for ReportBody {
    fn from(report: CredentialReport) -> Self {
        let (pseudonym, status, not_after) = match report.pseudonym {
            Some(view) => (Some(view.uri), Some(view.status), Some(time(view.not_after))),
            None => (None, None, None),
        };
        Self {
            valid: report.valid,
            pseudonyms_allowed: report.pseudonyms_allowed,
            pseudonym,
            client: report.client,
            status,
            connection_only: report.connection_only,
            connection_only_extension: report.connection_only_extension,
            not_after,
            errors: report.errors.into_iter().map(FindingBody::from).collect(),
        }
    }
}
