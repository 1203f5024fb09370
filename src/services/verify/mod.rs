//! Presentation verification for hubs: is this disclosure genuine, fresh,
//! bound to the member's MLS leaf key, from a live pseudonym, and acceptable
//! under the room's policy?
//!
//! A well-formed request always gets a [`Verification`], valid or not, with
//! one stable code per failed check; only requests that cannot be read at
//! all (unknown policy, bad key, undecodable presentation) are errors.
//!
//! Order matters for what is recorded: the replay record is written only
//! once the credential and its key binding are cryptographically genuine, so
//! garbage cannot burn a room's nonces.

pub mod credential;
pub mod key_package;
pub mod leaf_node;
pub mod offline;
pub mod policy;
pub mod x509;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64ct::{Base64, Encoding};
use serde_json::{Map, Value};

use crate::core::clock::Clock;
use crate::core::pseudonym_id::PseudonymId;
use crate::core::status::PseudonymStatus;
use crate::formats::disclosure::{
    CLOCK_SKEW_SECS, IssuerKey, StatusReference, Verified, VerifyError,
};
use crate::formats::keys::public_key::{Jwk, P256PublicKey};
use crate::services::disclose::{CredentialFormat, IssuerNames, client_of_key, pseudonym_status};
use crate::services::keyring::{KeyKind, KeySet, RetiredPublic};
use crate::store::{PseudonymRow, Store};
use offline::{Genuine, IssuerTrust, MemberPresentation};
use policy::{MAX_KB_AGE_SECS, PolicyOutcome, RoomPolicies, RoomPolicy};
use x509::TrustAnchor;

/// Claims that describe the credential rather than the person: never
/// "disclosed" and never judged by a room policy.
const CREDENTIAL_CLAIMS: &[&str] =
    &["iss", "sub", "aud", "exp", "nbf", "iat", "cti", "cnf", "vct", "status", "cnonce", "_sd_alg"];
/// Expired replay records are pruned on every this-many recorded bindings.
const PRUNE_EVERY: u64 = 32;
/// Domain separation for the replay digest.
const REPLAY_CONTEXT: &[u8] = b"veil kb replay v2";

/// A verification request, as the hub sent it.
#[derive(Debug, Clone)]
pub struct PresentationRequest {
    /// The API client asking: a challenge is answered once per verifier,
    /// so two hubs (or a hub and a member) can check the same disclosure.
    pub verifier: String,
    pub format: CredentialFormat,
    /// SD-JWT+KB compact form; standard base64 of the SD-CWT KBT; PEM chain
    /// or standard base64 DER of the linked certificate.
    pub presentation: String,
    /// The room URI the key binding must name (SD-JWT, SD-CWT).
    pub audience: Option<String>,
    /// SD-JWT: the nonce string; SD-CWT: standard base64 of `cnonce`.
    pub nonce: Option<String>,
    /// A P-256 JWK, or standard base64 of the MLS `signature_key` (SEC1).
    pub leaf_signature_key: Value,
    /// A policy name (file stem in `policies/rooms/`) or an inline policy.
    pub policy: Value,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: &'static str,
    pub detail: String,
}

impl Finding {
    pub(crate) fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }
}

impl From<VerifyError> for Finding {
    fn from(error: VerifyError) -> Self {
        Self::new(error.code(), error.to_string())
    }
}

/// The verdict. `valid` is true only when `errors` is empty, which
/// includes the room policy being satisfied.
#[derive(Debug, Clone)]
pub struct Verification {
    pub valid: bool,
    pub issuer: Option<String>,
    pub subject_pseudonym: Option<String>,
    pub disclosed: Map<String, Value>,
    pub policy: PolicyOutcome,
    pub errors: Vec<Finding>,
    /// Where the credential's status is published (SD formats): what a
    /// member fetches to check revocation offline.
    pub status_list: Option<StatusReference>,
}

impl Verification {
    /// The verdict on a genuine credential: the room policy judges what was
    /// disclosed, and each claim it misses or forbids is a finding.
    pub(crate) fn new(
        issuer: Option<String>,
        subject_pseudonym: Option<String>,
        disclosed: Map<String, Value>,
        policy: &RoomPolicy,
        mut errors: Vec<Finding>,
    ) -> Self {
        let outcome = policy.evaluate(&disclosed);
        for claim in &outcome.forbidden_disclosed {
            errors.push(Finding::new(
                "forbidden_claim_disclosed",
                format!("the room policy forbids disclosing `{claim}`"),
            ));
        }
        for claim in &outcome.missing_required {
            errors.push(Finding::new(
                "required_claim_missing",
                format!("the room policy requires `{claim}`"),
            ));
        }
        let valid = errors.is_empty();
        Self {
            valid,
            issuer,
            subject_pseudonym,
            disclosed,
            policy: outcome,
            errors,
            status_list: None,
        }
    }

    /// The verdict on a `format` credential that failed the check
    /// `finding`: nothing disclosed, and only that and the room's refusal
    /// of the format, if it refuses it, as findings.
    pub(crate) fn refused(policy: &RoomPolicy, format: CredentialFormat, finding: Finding) -> Self {
        let mut errors: Vec<Finding> = format_finding(policy, format).into_iter().collect();
        errors.push(finding);
        let outcome = policy.evaluate(&Map::new());
        Self {
            valid: false,
            issuer: None,
            subject_pseudonym: None,
            disclosed: Map::new(),
            policy: outcome,
            errors,
            status_list: None,
        }
    }
}

/// The finding of a room that does not accept `format`, if it does not.
fn format_finding(policy: &RoomPolicy, format: CredentialFormat) -> Option<Finding> {
    (!policy.allows_format(format)).then(|| {
        Finding::new(
            "format_not_allowed",
            format!("the room policy does not accept {}", format.as_str()),
        )
    })
}

/// Requests that cannot be judged at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyRequestError {
    #[error("{0}")]
    Invalid(String),
    #[error("no room policy is named `{0}`")]
    UnknownPolicy(String),
    #[error("the presentation cannot be read: {0}")]
    Malformed(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The verification service.
pub struct Verifier {
    keys: Arc<KeySet>,
    store: Store,
    clock: Arc<dyn Clock>,
    /// Our keys and the retired ones still trusted, as a member holds them:
    /// the same checks run here first.
    trust: IssuerTrust,
    policies: RoomPolicies,
    recorded: AtomicU64,
}

impl Verifier {
    /// Trusts the issuer keys of `keys`, current and retired (until each
    /// retired key's `not_after`, when what it signed has expired), and our
    /// CAs likewise: credentials issued before a rotation keep verifying.
    pub fn new(
        keys: Arc<KeySet>,
        store: Store,
        clock: Arc<dyn Clock>,
        names: IssuerNames,
        policies: RoomPolicies,
    ) -> Result<Self, String> {
        let now = clock.now();
        let mut jwt_keys = vec![IssuerKey::es256(keys.sd_jwt.kid(), keys.sd_jwt.public_key())];
        let mut cwt_keys = vec![IssuerKey::es256(keys.sd_cwt.kid(), keys.sd_cwt.public_key())];
        let mut anchors = vec![TrustAnchor::from_ca_der(keys.ca.cert_der())?];
        for retired in &keys.retired {
            if retired.not_after <= now {
                continue;
            }
            match (&retired.public, retired.kind) {
                (RetiredPublic::Es256(public), KeyKind::SdJwt) => {
                    jwt_keys.push(IssuerKey::es256(&retired.kid, public))
                }
                (RetiredPublic::Es256(public), KeyKind::SdCwt) => {
                    cwt_keys.push(IssuerKey::es256(&retired.kid, public))
                }
                (RetiredPublic::Ca { cert_der, .. }, KeyKind::Ca) => {
                    anchors.push(TrustAnchor::from_ca_der(cert_der)?)
                }
                _ => {}
            }
        }
        let names = (names.issuer, names.vct, names.pseudonym_prefix);
        let trust = IssuerTrust::new(names, jwt_keys, cwt_keys, anchors);
        Ok(Self { keys, store, clock, trust, policies, recorded: AtomicU64::new(0) })
    }

    /// The member's checks ([`IssuerTrust::verify`]), then what only the
    /// issuer knows: whether this challenge was answered before, and the
    /// pseudonym's status.
    pub async fn verify(
        &self,
        request: &PresentationRequest,
    ) -> Result<Verification, VerifyRequestError> {
        let policy = self.policy(&request.policy)?;
        let leaf_key = leaf_key(&request.leaf_signature_key)?;
        let now = self.clock.now();
        let (room, nonce, presentation) = match request.format {
            CredentialFormat::X509 => ("", Vec::new(), request.presentation.as_bytes().to_vec()),
            CredentialFormat::SdJwt => {
                let (audience, nonce) = binding_inputs(request)?;
                (audience, nonce.as_bytes().to_vec(), request.presentation.as_bytes().to_vec())
            }
            CredentialFormat::SdCwt => {
                let (audience, nonce) = binding_inputs(request)?;
                let kbt = decode_b64(&request.presentation, "presentation")?;
                (audience, decode_b64(nonce, "nonce")?, kbt)
            }
        };
        let member = MemberPresentation {
            format: request.format,
            presentation: &presentation,
            room,
            nonce: &nonce,
            leaf_key: &leaf_key,
        };
        let genuine = match self.trust.check_credential(&member, &policy, now)? {
            Ok(genuine) => genuine,
            Err(finding) => return Ok(Verification::refused(&policy, request.format, finding)),
        };
        let mut errors = Vec::new();
        if let Some(verified) = &genuine.verified {
            let binding = replay_binding(&request.verifier, room, &nonce);
            let expires_at = replay_record_expiry(verified, now);
            self.check_replay(&binding, expires_at, now, &mut errors).await?;
        }
        self.trust.judge(&genuine, &member, &policy, &mut errors);
        let subject = self.check_pseudonym(&genuine, now, &mut errors).await?;
        let issuer = Some(self.trust.issuer().to_string());
        Ok(Verification::new(issuer, subject, genuine.disclosed, &policy, errors))
    }

    fn policy<'a>(&'a self, choice: &Value) -> Result<PolicyRef<'a>, VerifyRequestError> {
        match choice {
            Value::String(name) => {
                self.policies.get(name).map(PolicyRef::Named).ok_or_else(|| {
                    VerifyRequestError::UnknownPolicy(name.chars().take(64).collect())
                })
            }
            Value::Object(_) => RoomPolicy::from_json(choice.clone())
                .map(|policy| PolicyRef::Inline(Box::new(policy)))
                .map_err(|e| VerifyRequestError::Invalid(format!("`policy`: {e}"))),
            _ => Err(VerifyRequestError::Invalid(
                "`policy` must be a policy name or an inline policy object".into(),
            )),
        }
    }

    /// Records the (audience, nonce) binding until `expires_at`; a live
    /// record means replay.
    async fn check_replay(
        &self,
        binding: &[u8; 32],
        expires_at: i64,
        now: i64,
        errors: &mut Vec<Finding>,
    ) -> Result<(), VerifyRequestError> {
        let fresh =
            self.store.record_key_binding(binding, expires_at, now).await.map_err(internal)?;
        if !fresh {
            errors.push(Finding::new(
                "replayed",
                "this audience and nonce were already presented; ask for a new nonce",
            ));
        }
        if self.recorded.fetch_add(1, Ordering::Relaxed).is_multiple_of(PRUNE_EVERY)
            && let Err(error) = self.store.prune_key_bindings(now).await
        {
            tracing::warn!(%error, "pruning expired key-binding records failed");
        }
        Ok(())
    }

    /// Finds the pseudonym the credential is bound to and checks it is live
    /// and holds the same key; returns its URI.
    async fn check_pseudonym(
        &self,
        genuine: &Genuine,
        now: i64,
        errors: &mut Vec<Finding>,
    ) -> Result<Option<String>, VerifyRequestError> {
        let prefix = self.trust.pseudonym_prefix();
        let row = match &genuine.subject {
            Some(subject) => match PseudonymId::from_uri(subject, prefix) {
                Some(id) => self.store.pseudonym(&id).await.map_err(internal)?,
                None => None,
            },
            None => self
                .store
                .pseudonym_by_public_key(genuine.holder_key.sec1())
                .await
                .map_err(internal)?,
        };
        let key = genuine.holder_key.sec1();
        // The pseudonym's own key, or one of its further clients'.
        let (row, client) = match row {
            Some(row) if row.public_key == key => (Some(row), None),
            named => {
                let link = &self.keys.link;
                let client = client_of_key(&self.store, link, key).await.map_err(internal)?;
                let client = client.filter(|c| named.as_ref().is_none_or(|r| r.id == c.pseudonym));
                match client {
                    Some(client) => {
                        let row =
                            self.store.pseudonym(&client.pseudonym).await.map_err(internal)?;
                        (row, Some(client))
                    }
                    None => (None, None),
                }
            }
        };
        let Some(row) = row else {
            errors.push(Finding::new(
                "unknown_pseudonym",
                "the credential is not bound to a pseudonym of this issuer",
            ));
            return Ok(None);
        };
        let before = errors.len();
        self.check_status(&row, now, errors).await?;
        // The pseudonym's own state first; then the client's.
        if errors.len() == before && client.is_some_and(|c| c.inactive(now)) {
            errors.push(Finding::new(
                "client_revoked",
                "the credential is bound to a client of the pseudonym that was revoked or expired",
            ));
        }
        Ok(Some(format!("{prefix}{}", row.id)))
    }

    async fn check_status(
        &self,
        row: &PseudonymRow,
        now: i64,
        errors: &mut Vec<Finding>,
    ) -> Result<(), VerifyRequestError> {
        let status =
            pseudonym_status(&self.store, &self.keys.link, row, now).await.map_err(internal)?;
        errors.extend(status_finding(status));
        Ok(())
    }
}

/// The finding for a pseudonym that is not active, if it is not.
fn status_finding(status: PseudonymStatus) -> Option<Finding> {
    Some(match status {
        PseudonymStatus::Active => return None,
        PseudonymStatus::Revoked => Finding::new("pseudonym_revoked", "the pseudonym is revoked"),
        PseudonymStatus::Suspended => {
            Finding::new("pseudonym_suspended", "the pseudonym is suspended")
        }
        PseudonymStatus::Expired => Finding::new("pseudonym_expired", "the pseudonym has expired"),
    })
}

/// A named policy is borrowed; an inline one lives for the request.
enum PolicyRef<'a> {
    Named(&'a RoomPolicy),
    Inline(Box<RoomPolicy>),
}

impl std::ops::Deref for PolicyRef<'_> {
    type Target = RoomPolicy;

    fn deref(&self) -> &RoomPolicy {
        match self {
            Self::Named(policy) => policy,
            Self::Inline(policy) => policy,
        }
    }
}

/// Until when the (audience, nonce) record must be kept. With an `iat` the
/// record outlives any window a policy may set, so a replay cannot slip
/// through under a laxer policy once the record is gone. An SD-CWT key
/// binding with only a `cti` has no time of its own: the nonce and this
/// record are its freshness, so the record lasts as long as the credential
/// verifies (the format refuses such a key binding on a credential without
/// `exp`; the fallback only keeps this total).
fn replay_record_expiry(verified: &Verified, now: i64) -> i64 {
    match (verified.kb_issued_at, verified.expires_at) {
        (Some(kb_iat), _) => kb_iat.saturating_add(MAX_KB_AGE_SECS + 2 * CLOCK_SKEW_SECS),
        (None, Some(exp)) => exp.saturating_add(CLOCK_SKEW_SECS),
        (None, None) => now.saturating_add(MAX_KB_AGE_SECS + 2 * CLOCK_SKEW_SECS),
    }
}

/// SHA-256 over the length-prefixed verifier, audience and nonce: the
/// challenge one verifier made, so a second presentation answering it is a
/// replay whatever else it changes, while another verifier checking the
/// same disclosure is not.
fn replay_binding(verifier: &str, audience: &str, nonce: &[u8]) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(REPLAY_CONTEXT);
    for part in [verifier.as_bytes(), audience.as_bytes(), nonce] {
        context.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// Audience and nonce are mandatory for the key-bound formats.
fn binding_inputs(request: &PresentationRequest) -> Result<(&str, &str), VerifyRequestError> {
    Ok((required(&request.audience, "audience")?, required(&request.nonce, "nonce")?))
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, VerifyRequestError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| VerifyRequestError::Invalid(format!("`{name}` is required for this format")))
}

fn decode_b64(text: &str, field: &str) -> Result<Vec<u8>, VerifyRequestError> {
    Base64::decode_vec(text)
        .map_err(|_| VerifyRequestError::Invalid(format!("`{field}` is not standard base64")))
}

/// The MLS leaf's signature key: a JWK object or base64 SEC1 bytes.
fn leaf_key(value: &Value) -> Result<P256PublicKey, VerifyRequestError> {
    let invalid =
        |detail: String| VerifyRequestError::Invalid(format!("`leaf_signature_key`: {detail}"));
    match value {
        Value::String(text) => {
            let bytes =
                Base64::decode_vec(text).map_err(|_| invalid("is not standard base64".into()))?;
            P256PublicKey::from_sec1(&bytes).map_err(|e| invalid(e.to_string()))
        }
        Value::Object(_) => {
            let jwk: Jwk =
                serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
            P256PublicKey::from_jwk(&jwk).map_err(|e| invalid(e.to_string()))
        }
        _ => Err(invalid("must be a JWK object or base64 of the SEC1 point".into())),
    }
}

fn internal(error: impl std::fmt::Display) -> VerifyRequestError {
    VerifyRequestError::Internal(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::disclosure::Format;
    use crate::formats::keys::signer::Es256Signer;

    fn verified(kb_issued_at: Option<i64>, expires_at: Option<i64>) -> Verified {
        let holder = Es256Signer::generate("holder").unwrap().0;
        Verified {
            format: Format::SdCwt,
            issuer: None,
            subject: None,
            header_kid: "k".into(),
            holder_key: holder.public_key().clone(),
            disclosed: Map::new(),
            claims: Map::new(),
            issued_at: None,
            expires_at,
            kb_issued_at,
        }
    }

    /// With an `iat` the record outlives the widest key-binding window; a
    /// `cti`-only SD-CWT key binding is remembered until its credential expires.
    #[test]
    fn replay_record_outlives_the_window_or_the_credential() {
        let now = 1_000;
        let window = MAX_KB_AGE_SECS + 2 * CLOCK_SKEW_SECS;
        assert_eq!(replay_record_expiry(&verified(Some(990), Some(9_000)), now), 990 + window);
        assert_eq!(
            replay_record_expiry(&verified(None, Some(9_000)), now),
            9_000 + CLOCK_SKEW_SECS
        );
        assert_eq!(replay_record_expiry(&verified(None, None), now), now + window);
    }
}
