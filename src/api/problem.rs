//! RFC 9457 problem details: the one error map. Every domain error becomes
//! HTTP here (`impl From<…> for Problem`, so handlers use `?`), and every
//! problem slug is spelled once in this file. Internal detail goes to the
//! log, never to the body.

use axum::Json;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::MAX_BODY_BYTES;
use crate::formats::abuse_report::AbuseReportError;
use crate::services::abuse::AbuseError;
use crate::services::access::AccessError;
use crate::services::audit::AuditError;
use crate::services::breakglass::BreakGlassError;
use crate::services::disclose::DisclosureError;
use crate::services::mint::MintError;
use crate::services::status_lists::StatusListsError;
use crate::services::verify::VerifyRequestError;
use crate::services::verify::credential::CredentialError;

/// Prefix of every problem `type`; the slug after it is stable API.
pub const TYPE_PREFIX: &str = "urn:veil:problem:";

/// The slug of a missing or refused proof of possession (disclosures).
const PROOF_REQUIRED: &str = "proof-required";

/// An error response. `slug` is the stable machine-readable kind.
#[derive(Debug, Clone)]
pub struct Problem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    /// Seconds to send as `Retry-After` (429 responses).
    retry_after: Option<i64>,
}

/// The body of every error response (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub(super) struct Body<'a> {
    /// `urn:veil:problem:<slug>`; the slug is stable API.
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self { status, slug, title, detail: detail.into(), retry_after: None }
    }

    /// 429: a limit was reached; the client may retry after `seconds`.
    fn rate_limited(detail: impl Into<String>, seconds: i64) -> Self {
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Rate limited", detail)
        }
    }

    pub fn unauthorized(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required", detail)
    }

    pub fn forbidden_scope() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "Insufficient scope",
            "this client's scopes do not allow this route",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 405: the route exists, the method does not (axum adds `Allow`).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this route does not take this method; the Allow header lists those it takes",
        )
    }

    /// What every route says of a pseudonym it does not know, word for
    /// word, so the routes cannot be told apart by their answer.
    pub fn no_such_pseudonym() -> Self {
        Self::not_found("no such pseudonym")
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", "Invalid request", detail)
    }

    /// 503: the database does not answer (readiness).
    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "the database is not reachable",
        )
    }

    /// 503: the answer was not ready within `request_timeout_secs`.
    pub fn request_timeout(seconds: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            format!("no answer within {seconds} s; try again later"),
        )
    }

    /// 408: the body did not arrive within `request_body_timeout_secs`.
    fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request timeout",
            "the request body did not arrive in time",
        )
    }

    /// Logs the cause and answers a detail-free 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the request could not be completed; the error was logged",
        )
    }

    fn account_restricted(detail: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "account-restricted", "Account restricted", detail)
    }

    fn reputation_too_low(detail: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "reputation-too-low", "Reputation too low", detail)
    }

    /// 400: a query or path parameter that does not parse.
    fn invalid_parameter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-parameter", "Invalid parameter", detail)
    }

    fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    }

    /// 415: the body is not of the one media type the route takes.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("send the body as {expected}"),
        )
    }

    fn conflict(slug: &'static str, title: &'static str, detail: String) -> Self {
        Self::new(StatusCode::CONFLICT, slug, title, detail)
    }
}

/// A JSON body the extractor refused: malformed JSON is 400, a body of the
/// wrong shape (unknown or missing fields) 422, a body over the limit 413, a
/// missing JSON content type 415.
impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let detail = rejection.body_text();
        match rejection {
            JsonRejection::JsonDataError(_) => Problem::invalid(detail),
            JsonRejection::JsonSyntaxError(_) => {
                Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON", detail)
            }
            JsonRejection::MissingJsonContentType(_) => {
                Problem::unsupported_media_type("application/json")
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Problem::payload_too_large()
            }
            other if body_timed_out(&other) => Problem::body_timeout(),
            _ => Problem::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail),
        }
    }
}

/// A body that could not be read: over the limit is 413, anything else 400.
impl From<BytesRejection> for Problem {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::payload_too_large()
        } else if body_timed_out(&rejection) {
            Problem::body_timeout()
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                "the request body could not be read",
            )
        }
    }
}

/// Whether reading the body failed on the body deadline (api/serve.rs),
/// found among the causes axum wraps it in.
fn body_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A query string that does not parse: 400 naming the parameter when it
/// is known (an unknown or duplicate one is not), never echoing a value.
impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        type Failed = serde_path_to_error::Error<serde_urlencoded::de::Error>;
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
        let mut parameter = None;
        while let Some(error) = cause {
            if let Some(failed) = error.downcast_ref::<Failed>() {
                parameter = failed.path().iter().next().map(|_| failed.path().to_string());
                break;
            }
            cause = error.source();
        }
        Problem::invalid_parameter(match parameter {
            Some(name) => format!("query parameter `{name}` is invalid"),
            None => "the query string has an unknown or malformed parameter".to_string(),
        })
    }
}

/// A path parameter that does not parse (not UTF-8 once decoded, or not
/// of its type): 400 naming it, never echoing the value. A route whose
/// parameters do not fit its extractor is a bug: 500.
impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        let PathRejection::FailedToDeserializePathParams(failed) = &rejection else {
            return Problem::internal(rejection);
        };
        match failed.kind() {
            ErrorKind::InvalidUtf8InPathParam { key }
            | ErrorKind::ParseErrorAtKey { key, .. }
            | ErrorKind::DeserializeError { key, .. } => {
                Problem::invalid_parameter(format!("path parameter `{key}` is invalid"))
            }
            ErrorKind::ParseError { .. }
            | ErrorKind::ParseErrorAtIndex { .. }
            | ErrorKind::Message(_) => Problem::invalid_parameter("a path parameter is invalid"),
            _ => Problem::internal(rejection),
        }
    }
}

impl From<MintError> for Problem {
    fn from(error: MintError) -> Self {
        let detail = error.to_string();
        match error {
            MintError::InvalidRequest(detail) => Problem::invalid(detail),
            MintError::InvalidKey { .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-key", "Invalid key", detail)
            }
            MintError::DuplicateKey { .. } | MintError::KeyInUse => {
                Problem::conflict("key-in-use", "Key already used", detail)
            }
            MintError::AccountRestricted => Problem::account_restricted(detail),
            MintError::ReputationTooLow => Problem::reputation_too_low(detail),
            MintError::RateLimited { retry_after, .. } => {
                Problem::rate_limited(detail, retry_after)
            }
            MintError::Internal(cause) => Problem::internal(cause),
        }
    }
}

impl From<DisclosureError> for Problem {
    fn from(error: DisclosureError) -> Self {
        let detail = error.to_string();
        match error {
            DisclosureError::InvalidRequest(_) | DisclosureError::InvalidClaim(_) => {
                Problem::invalid(detail)
            }
            DisclosureError::ProofRequired => Problem::new(
                StatusCode::UNAUTHORIZED,
                PROOF_REQUIRED,
                "Proof of possession required",
                detail,
            ),
            DisclosureError::NotFound => Problem::no_such_pseudonym(),
            DisclosureError::Inactive(_) => {
                Problem::conflict("pseudonym-inactive", "Pseudonym not active", detail)
            }
            DisclosureError::AccountRestricted => Problem::account_restricted(detail),
            DisclosureError::ReputationTooLow => Problem::reputation_too_low(detail),
            DisclosureError::TooManyClients(_) => {
                Problem::conflict("too-many-clients", "Too many clients", detail)
            }
            DisclosureError::KeyInUse => {
                Problem::conflict("key-in-use", "Key already used", detail)
            }
            DisclosureError::RateLimited { retry_after, .. } => {
                Problem::rate_limited(detail, retry_after)
            }
            DisclosureError::Internal(cause) => Problem::internal(cause),
        }
    }
}

impl From<VerifyRequestError> for Problem {
    fn from(error: VerifyRequestError) -> Self {
        let detail = error.to_string();
        match error {
            VerifyRequestError::Invalid(detail) => Problem::invalid(detail),
            VerifyRequestError::UnknownPolicy(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-policy",
                "Unknown room policy",
                detail,
            ),
            VerifyRequestError::Malformed(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "malformed-presentation",
                "Malformed presentation",
                detail,
            ),
            VerifyRequestError::Internal(cause) => Problem::internal(cause),
        }
    }
}

impl From<StatusListsError> for Problem {
    fn from(error: StatusListsError) -> Self {
        match error {
            StatusListsError::NoSuchList(_) => Problem::not_found(error.to_string()),
            StatusListsError::Full | StatusListsError::Internal(_) => Problem::internal(error),
        }
    }
}

impl From<CredentialError> for Problem {
    fn from(error: CredentialError) -> Self {
        match error {
            CredentialError::Malformed(_) => Problem::invalid(error.to_string()),
            CredentialError::Policy(error) => error.into(),
            CredentialError::Internal(cause) => Problem::internal(cause),
        }
    }
}

/// A body that is not a TLS-encoded `AbuseReport`: bytes that do not parse
/// are 400, a parsed report with a refused value 422.
impl From<AbuseReportError> for Problem {
    fn from(error: AbuseReportError) -> Self {
        if error.is_malformed() {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-report",
                "Malformed abuse report",
                error.to_string(),
            )
        } else {
            Problem::invalid(error.to_string())
        }
    }
}

impl From<AbuseError> for Problem {
    fn from(error: AbuseError) -> Self {
        let detail = error.to_string();
        match error {
            AbuseError::Invalid(detail) => Problem::invalid(detail),
            AbuseError::UnknownPseudonym | AbuseError::UnknownRemedy => Problem::not_found(detail),
            AbuseError::NotAllowed => Problem::forbidden_scope(),
            AbuseError::RateLimited { retry_after } | AbuseError::ReportQuota { retry_after } => {
                Problem::rate_limited(detail, retry_after)
            }
            AbuseError::NotLiftable => {
                Problem::conflict("remedy-not-liftable", "Remedy not liftable", detail)
            }
            AbuseError::Internal(cause) => Problem::internal(cause),
        }
    }
}

impl From<AccessError> for Problem {
    fn from(error: AccessError) -> Self {
        match error {
            AccessError::BadName
            | AccessError::NoScopes
            | AccessError::OperatorRequired
            | AccessError::BadOperatorName => Problem::invalid(error.to_string()),
            AccessError::LastAdmin => {
                Problem::conflict("last-admin", "Last admin", error.to_string())
            }
            AccessError::LastOperator => {
                Problem::conflict("last-operator", "Last operator", error.to_string())
            }
            AccessError::OperatorNotActive => {
                Problem::conflict("operator-not-active", "Operator not active", error.to_string())
            }
            AccessError::OperatorNotPending => {
                Problem::conflict("not-pending", "Not pending", error.to_string())
            }
            AccessError::UnknownOperator => Problem::not_found(error.to_string()),
            AccessError::OperatorSelfApproval => Problem::new(
                StatusCode::FORBIDDEN,
                "self-approval",
                "Self-approval refused",
                error.to_string(),
            ),
            AccessError::NotAnOperator => Problem::new(
                StatusCode::FORBIDDEN,
                "not-an-operator",
                "Not an active operator",
                error.to_string(),
            ),
            AccessError::Random | AccessError::Store(_) => Problem::internal(error),
        }
    }
}

impl From<AuditError> for Problem {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::OutOfRange(_) => Problem::invalid(error.to_string()),
            AuditError::Sign(_) | AuditError::Store(_) | AuditError::Gap(_) => {
                Problem::internal(error)
            }
        }
    }
}

impl From<BreakGlassError> for Problem {
    fn from(error: BreakGlassError) -> Self {
        let detail = error.to_string();
        match error {
            BreakGlassError::Invalid(_) => Problem::invalid(detail),
            BreakGlassError::UnknownReason(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-reason-code",
                "Unknown reason code",
                detail,
            ),
            BreakGlassError::UnknownPseudonym | BreakGlassError::NotFound => {
                Problem::not_found(detail)
            }
            BreakGlassError::SelfApproval => Problem::new(
                StatusCode::FORBIDDEN,
                "self-approval",
                "Self-approval refused",
                detail,
            ),
            BreakGlassError::NotAnOperator => Problem::new(
                StatusCode::FORBIDDEN,
                "not-an-operator",
                "Not an active operator",
                detail,
            ),
            BreakGlassError::OperatorTooNew => {
                Problem::new(StatusCode::FORBIDDEN, "operator-too-new", "Operator too new", detail)
            }
            BreakGlassError::NotRequester => {
                Problem::new(StatusCode::FORBIDDEN, "not-requester", "Not the requester", detail)
            }
            BreakGlassError::AlreadyApproved => {
                Problem::conflict("already-approved", "Already approved", detail)
            }
            BreakGlassError::NotPending(_) => {
                Problem::conflict("not-pending", "Not pending", detail)
            }
            BreakGlassError::NotApproved(_) => {
                Problem::conflict("not-approved", "Not approved", detail)
            }
            BreakGlassError::AlreadyRevealed => {
                Problem::conflict("already-revealed", "Already revealed", detail)
            }
            BreakGlassError::Expired => {
                Problem::new(StatusCode::GONE, "expired", "Request expired", detail)
            }
            BreakGlassError::AccountDeleted => {
                Problem::new(StatusCode::GONE, "account-deleted", "Account deleted", detail)
            }
            BreakGlassError::NoRevealKey => {
                Problem::conflict("no-reveal-key", "No reveal key", detail)
            }
            BreakGlassError::DuplicatePartial(_) => {
                Problem::conflict("duplicate-partial", "Partial already sent", detail)
            }
            BreakGlassError::LegacyLink => {
                Problem::conflict("legacy-link", "Link predates threshold custody", detail)
            }
            BreakGlassError::LinkChanged => {
                Problem::conflict("link-changed", "Link re-sealed meanwhile", detail)
            }
            BreakGlassError::ForgedLink => {
                Problem::conflict("forged-link", "Link not written by this service", detail)
            }
            BreakGlassError::Link(_)
            | BreakGlassError::CorruptLink
            | BreakGlassError::Seal(_)
            | BreakGlassError::Store(_) => Problem::internal(error),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            kind: format!("{TYPE_PREFIX}{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // The bearer token was fine when a proof is what is missing; the
            // challenge names the scheme the `proof` member must use.
            let challenge = if self.slug == PROOF_REQUIRED { "veil-pop" } else { "Bearer" };
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}
