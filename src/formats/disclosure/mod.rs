//! Selectively disclosable credentials: SD-JWT (RFC 9901, SD-JWT VC profile)
//! and SD-CWT (draft-ietf-spice-sd-cwt-07). Each format module issues a
//! credential, builds a holder presentation with key binding, and verifies one.
//!
//! Everything here is pure: the clock is a parameter ([`Expectations::now`]),
//! hashing and signing come from ring, and nothing is logged.

mod issuer_key;
pub mod sd_cwt;
pub mod sd_jwt;

pub use issuer_key::{IssuerAlg, IssuerKey, IssuerKeys};

use serde_json::{Map, Value};

use crate::formats::keys::public_key::P256PublicKey;
use crate::formats::keys::signer::SignError;

/// Largest presentation either verifier will parse, in bytes.
pub const MAX_PRESENTATION_BYTES: usize = 64 * 1024;
/// Most disclosures a presentation (or an issued credential) may carry.
pub const MAX_DISCLOSURES: usize = 64;
/// Deepest nesting the digest walk follows; the SD-CWT draft allows verifiers
/// to refuse anything deeper than 16.
pub const MAX_DEPTH: usize = 16;
/// Leeway for clocks that disagree slightly (exp, nbf, iat in the future).
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Decoy digests added per credential: a random count in `1..=MAX_DECOYS`.
const MAX_DECOYS: usize = 4;
/// Salt length: 128 random bits (RFC 9901 §9.3, SD-CWT §7.1).
const SALT_LEN: usize = 16;

/// Claims a credential reserves for itself: they are set from [`IssueParams`]
/// fields, never from the free-form claims, and are never disclosable
/// (SD-JWT VC: `iss`, `nbf`, `exp`, `cnf`, `vct`, `status`; SD-CWT: the
/// mandatory-to-disclose claims; both: the digest markers).
const RESERVED_CLAIMS: &[&str] = &[
    "iss", "sub", "aud", "iat", "exp", "nbf", "cti", "cnf", "vct", "status", "cnonce", "_sd",
    "_sd_alg", "...",
];

/// Why a presentation was refused. [`VerifyError::code`] is the stable,
/// machine-readable form; the details never contain presented data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed presentation: {0}")]
    Malformed(&'static str),
    #[error("the credential's type header is not the expected one")]
    WrongTyp,
    #[error("unsupported or unexpected algorithm")]
    UnsupportedAlg,
    #[error("no trusted issuer key has this key id")]
    UnknownIssuerKey,
    #[error("the issuer signature does not verify")]
    IssuerSignatureInvalid,
    #[error("the credential's issuer (`iss`) is not the expected one")]
    WrongIssuer,
    #[error("the credential has expired")]
    Expired,
    #[error("the credential is not yet valid")]
    NotYetValid,
    #[error("the presentation carries no key binding")]
    KbMissing,
    #[error("the key binding token has the wrong type header")]
    KbWrongTyp,
    #[error("the key binding signature does not verify with the credential's key")]
    KbSignatureInvalid,
    #[error("the credential's key thumbprint is not that of the presenter's key")]
    CnfThumbprintMismatch,
    #[error("the key binding audience is not this verifier")]
    AudienceMismatch,
    #[error("the key binding nonce is not the expected one")]
    NonceMismatch,
    #[error("the key binding issue time is outside the accepted window")]
    KbStale,
    #[error("the disclosures differ from those the holder signed")]
    SdHashMismatch,
    #[error("a disclosure matches no digest the issuer signed")]
    UnknownDisclosure,
    #[error("a disclosure or digest appears more than once")]
    DuplicateDisclosure,
    #[error("the presentation exceeds a size limit: {0}")]
    TooLarge(&'static str),
}

impl VerifyError {
    /// Stable snake_case code for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::WrongTyp => "wrong_typ",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::UnknownIssuerKey => "unknown_issuer_key",
            Self::IssuerSignatureInvalid => "issuer_signature_invalid",
            Self::WrongIssuer => "wrong_issuer",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::KbMissing => "kb_missing",
            Self::KbWrongTyp => "kb_wrong_typ",
            Self::KbSignatureInvalid => "kb_signature_invalid",
            Self::CnfThumbprintMismatch => "cnf_thumbprint_mismatch",
            Self::AudienceMismatch => "audience_mismatch",
            Self::NonceMismatch => "nonce_mismatch",
            Self::KbStale => "kb_stale",
            Self::SdHashMismatch => "sd_hash_mismatch",
            Self::UnknownDisclosure => "unknown_disclosure",
            Self::DuplicateDisclosure => "duplicate_disclosure",
            Self::TooLarge(_) => "too_large",
        }
    }
}

/// Why a credential could not be issued. All but `Signing`, `Random` and
/// `Encoding` are caller mistakes in [`IssueParams`].
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("claim `{0}` is reserved and is set from the issuance parameters")]
    ReservedClaim(String),
    #[error("claim `{0}` must never be selectively disclosable")]
    NotDisclosable(String),
    #[error("claim `{0}` is marked disclosable but is not among the claims")]
    UnknownClaim(String),
    #[error("claim `{0}` is marked disclosable twice")]
    DuplicateDisclosable(String),
    #[error("this format requires `{0}`")]
    Missing(&'static str),
    #[error("the credential would expire before it is issued")]
    BadValidity,
    #[error("too many disclosable claims (at most {max})")]
    TooManyDisclosable { max: usize },
    #[error("a claim value cannot be encoded: {0}")]
    Encoding(&'static str),
    #[error("the system random generator failed")]
    Random,
    #[error(transparent)]
    Signing(#[from] SignError),
}

/// Why a holder could not build a presentation from a credential.
#[derive(Debug, thiserror::Error)]
pub enum PresentError {
    #[error("the credential is malformed: {0}")]
    Malformed(&'static str),
    #[error("the credential already carries a key binding")]
    AlreadyBound,
    #[error("the credential has no disclosure for `{0}`")]
    NotDisclosable(String),
    #[error("the credential is bound to a different holder key")]
    HolderKeyMismatch,
    #[error("the key binding token cannot be encoded")]
    Encoding,
    #[error(transparent)]
    Signing(#[from] SignError),
}

/// What one issued credential says. The same parameters drive both formats.
#[derive(Debug, Clone)]
pub struct IssueParams {
    pub issuer: String,
    /// The pseudonym URI; required by SD-CWT, optional in SD-JWT. Never disclosable.
    pub subject: Option<String>,
    /// Credential type; required by SD-JWT VC, optional in SD-CWT.
    pub vct: Option<String>,
    pub holder_key: P256PublicKey,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Free-form claims; names in [`RESERVED_CLAIMS`] are refused.
    pub claims: Map<String, Value>,
    /// Top-level claim names to hide behind digests (each disclosed as a whole).
    pub disclosable: Vec<String>,
    /// Where the credential's status is published (draft-ietf-oauth-status-list):
    /// `status.status_list {idx, uri}`, never disclosable.
    pub status: Option<StatusReference>,
}

/// A Referenced Token's entry in a Status List (draft-ietf-oauth-status-list
/// §6.1 JWT, §6.2 CWT): the list's URI and the token's index in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReference {
    pub idx: u64,
    pub uri: String,
}

impl StatusReference {
    /// The `status` claim's JSON value.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"status_list": {"idx": self.idx, "uri": self.uri}})
    }

    /// Reads a `status` claim (as JSON; SD-CWT claims are converted the
    /// same way); `None` when absent or of another mechanism.
    pub fn from_claims(claims: &Map<String, Value>) -> Option<Self> {
        let list = claims.get("status")?.get("status_list")?;
        Some(Self { idx: list.get("idx")?.as_u64()?, uri: list.get("uri")?.as_str()?.to_string() })
    }
}

impl IssueParams {
    /// Checks shared by both formats, before any randomness or signing.
    fn validate(&self) -> Result<(), IssueError> {
        if self.expires_at <= self.issued_at {
            return Err(IssueError::BadValidity);
        }
        if let Some(name) = self.claims.keys().find(|name| RESERVED_CLAIMS.contains(&name.as_str()))
        {
            return Err(IssueError::ReservedClaim(name.clone()));
        }
        if self.claims.values().any(|value| container_depth(value, 1) > MAX_DEPTH) {
            return Err(IssueError::Encoding("claim nesting deeper than verifiers accept"));
        }
        if self.disclosable.len() > MAX_DISCLOSURES - MAX_DECOYS {
            return Err(IssueError::TooManyDisclosable { max: MAX_DISCLOSURES - MAX_DECOYS });
        }
        for (index, name) in self.disclosable.iter().enumerate() {
            if RESERVED_CLAIMS.contains(&name.as_str()) {
                return Err(IssueError::NotDisclosable(name.clone()));
            }
            if !self.claims.contains_key(name) {
                return Err(IssueError::UnknownClaim(name.clone()));
            }
            if self.disclosable.iter().take(index).any(|earlier| earlier == name) {
                return Err(IssueError::DuplicateDisclosable(name.clone()));
            }
        }
        Ok(())
    }

    fn is_disclosable(&self, name: &str) -> bool {
        self.disclosable.iter().any(|d| d == name)
    }
}

/// What the verifier expects of the key binding. The nonce is compared as
/// bytes: SD-JWT carries it as a string (its UTF-8 bytes are compared), SD-CWT
/// as the `cnonce` byte string.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub audience: &'a str,
    pub nonce: &'a [u8],
    /// Current time, unix seconds.
    pub now: i64,
    /// Oldest key binding accepted, in seconds before `now`.
    pub max_kb_age_secs: i64,
    /// The key the presenter is known to hold (for veil, the MLS leaf key).
    /// An SD-CWT whose `cnf` carries only a thumbprint (`ckt`) names its
    /// holder key by hash, so it verifies only against this key.
    pub presenter_key: Option<&'a P256PublicKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    SdJwt,
    SdCwt,
}

/// A verified presentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub format: Format,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    /// The key id of the issuer key that verified the credential.
    pub header_kid: String,
    /// The holder key from `cnf`, which signed the key binding.
    pub holder_key: P256PublicKey,
    /// Only the top-level claims that a disclosure revealed (nested
    /// disclosures show up inside `claims`).
    pub disclosed: Map<String, Value>,
    /// Every claim after digest processing, disclosed ones included. SD-CWT
    /// integer keys become the JWT names (`iss`, `sub`, `exp`, ...) or their
    /// decimal text; byte strings become base64url text.
    pub claims: Map<String, Value>,
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
    /// The key binding's `iat`. Always set for SD-JWT; an SD-CWT key binding
    /// may carry a `cti` instead (draft §8.1), and is then fresh only by its
    /// nonce, audience and the verifier's replay record.
    pub kb_issued_at: Option<i64>,
}

/// Credential validity times as read from either format.
#[derive(Debug, Clone, Copy, Default)]
struct Validity {
    issued_at: Option<i64>,
    not_before: Option<i64>,
    expires_at: Option<i64>,
}

impl Validity {
    fn check(&self, now: i64) -> Result<(), VerifyError> {
        if self.expires_at.is_some_and(|exp| now >= exp.saturating_add(CLOCK_SKEW_SECS)) {
            return Err(VerifyError::Expired);
        }
        let mut starts = self.not_before.into_iter().chain(self.issued_at);
        if starts.any(|start| now.saturating_add(CLOCK_SKEW_SECS) < start) {
            return Err(VerifyError::NotYetValid);
        }
        Ok(())
    }

    /// The key binding must be fresh, not from the future, and (SD-CWT §8.1)
    /// not made outside the credential's own validity period.
    fn check_kb_iat(&self, kb_iat: i64, expected: &Expectations<'_>) -> Result<(), VerifyError> {
        let now = expected.now;
        let too_new = kb_iat > now.saturating_add(CLOCK_SKEW_SECS);
        let too_old = now.saturating_sub(kb_iat) > expected.max_kb_age_secs;
        let before_credential = self
            .not_before
            .into_iter()
            .chain(self.issued_at)
            .any(|start| kb_iat.saturating_add(CLOCK_SKEW_SECS) < start);
        let after_credential = self.expires_at.is_some_and(|exp| kb_iat >= exp);
        if too_new || too_old || before_credential || after_credential {
            return Err(VerifyError::KbStale);
        }
        Ok(())
    }
}

/// How deeply arrays and objects nest inside `value` (a scalar is 0), stopping
/// early once past the limit so a pathological value costs little.
fn container_depth(value: &Value, depth: usize) -> usize {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return depth - 1,
    };
    if depth > MAX_DEPTH {
        return depth;
    }
    children.map(|child| container_depth(child, depth + 1)).max().unwrap_or(depth)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], IssueError> {
    let mut out = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut out)
        .map_err(|_| IssueError::Random)?;
    Ok(out)
}

fn random_salt() -> Result<[u8; SALT_LEN], IssueError> {
    random_bytes::<SALT_LEN>()
}

/// A random decoy count in `1..=MAX_DECOYS`, so the digest count does not
/// reveal how many claims are hidden.
fn decoy_count() -> Result<usize, IssueError> {
    let [byte] = random_bytes::<1>()?;
    Ok(usize::from(byte) % MAX_DECOYS + 1)
}

fn sha256(data: &[u8]) -> ring::digest::Digest {
    ring::digest::digest(&ring::digest::SHA256, data)
}

#[cfg(test)]
pub(crate) mod test_support;
