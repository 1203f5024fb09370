//! Verification in a member's own client (draft-mahy-mimi-pseudonyms §3.1,
//! §4): a disclosure travels inside the end-to-end encrypted room, so the
//! member who receives it checks it, with no database and no network. The
//! hub never sees it.
//!
//! The member fetches the issuer's public documents once (its
//! `/.well-known/veil-issuer`, `/.well-known/jwt-vc-issuer` and
//! `/.well-known/cose-keys`), keeps them as [`IssuerDocuments`], and builds
//! an [`IssuerTrust`] from them. Each disclosure is then checked against the
//! room as audience, the nonce the member asked with, the presenter's MLS
//! leaf signature key and the room's policy ([`IssuerTrust::verify`]).
//!
//! Revocation: [`IssuerTrust::verify_with_status`] reads the credential's
//! entry in the issuer's Token Status Lists, which the member fetched and
//! keeps in a [`StatusCache`]. Never checked here: replay (the member made
//! the nonce and knows whether it was answered already).
//! veil's own hub-facing verifier runs these same checks first.

use std::collections::HashMap;

use base64ct::{Base64, Encoding};
use coset::{CborSerializable, CoseKeySet, KeyType, Label, iana};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::policy::{Pseudonyms, RoomPolicy};
use super::x509::{self, TrustAnchor};
use super::{CREDENTIAL_CLAIMS, Finding, Verification, VerifyRequestError, format_finding};
use crate::core::pseudonym_id::PseudonymId;
use crate::formats::disclosure::{
    Expectations, IssuerKey, StatusReference, Verified, VerifyError, sd_cwt, sd_jwt,
};
use crate::formats::keys::public_key::{Jwk, P256PublicKey};
use crate::formats::status_list::{self, ListToken, StatusListError};
use crate::services::disclose::{CredentialFormat, LEGACY_VCT};

/// What the offline verifier cannot know and leaves to the caller (the
/// status too, unless checked against a [`StatusCache`]).
pub const UNCHECKED: &[&str] = &["replay", "revocation_status"];

/// An issuer's published documents, as fetched from its well-known URLs:
/// all a member needs to trust its disclosures. Serializable, so a client
/// (or `veilctl verify --save-keys`) can keep them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerDocuments {
    /// `GET /.well-known/veil-issuer` (JSON): the CA certificates and the
    /// pseudonym URI prefix.
    pub veil_issuer: Value,
    /// `GET /.well-known/jwt-vc-issuer` (JSON): `issuer` and the SD-JWT keys.
    pub jwt_vc_issuer: Value,
    /// `GET /.well-known/cose-keys` (CBOR COSE_KeySet), standard base64.
    pub cose_keys: String,
}

/// Documents that do not describe a usable issuer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    #[error("issuer documents: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> TrustError {
    TrustError::Invalid(message.into())
}

/// One presentation as the member received it in the room.
#[derive(Debug, Clone)]
pub struct MemberPresentation<'a> {
    pub format: CredentialFormat,
    /// SD-JWT+KB compact form; the SD-CWT KBT bytes; a PEM chain or the DER
    /// of the linked certificate.
    pub presentation: &'a [u8],
    /// The room URI, the audience the key binding must name (SD formats).
    pub room: &'a str,
    /// The nonce the member asked with (SD formats): the SD-JWT nonce
    /// string's bytes, or the SD-CWT `cnonce` bytes.
    pub nonce: &'a [u8],
    /// The presenter's MLS leaf signature key.
    pub leaf_key: &'a P256PublicKey,
}

/// What the cryptographic checks established about a credential.
pub(super) struct Genuine {
    pub holder_key: P256PublicKey,
    /// Pseudonym URI from `sub` (SD formats); X.509 names no pseudonym.
    pub subject: Option<String>,
    pub disclosed: Map<String, Value>,
    /// The key binding's `iat` and the credential's `exp` (SD formats),
    /// for how long a replay record must last.
    pub verified: Option<Verified>,
}

/// The keys of one issuer, current and retired, and its names.
#[derive(Debug, Clone)]
pub struct IssuerTrust {
    issuer: String,
    /// The issuer's credential types (`vct`), accepted when a room policy
    /// names none.
    types: Vec<String>,
    pseudonym_prefix: String,
    jwt_keys: Vec<IssuerKey>,
    cwt_keys: Vec<IssuerKey>,
    anchors: Vec<TrustAnchor>,
}

impl IssuerTrust {
    pub(super) fn new(
        names: (String, String, String),
        jwt_keys: Vec<IssuerKey>,
        cwt_keys: Vec<IssuerKey>,
        anchors: Vec<TrustAnchor>,
    ) -> Self {
        let (issuer, vct, pseudonym_prefix) = names;
        let types = vec![vct, LEGACY_VCT.to_string()];
        Self { issuer, types, pseudonym_prefix, jwt_keys, cwt_keys, anchors }
    }

    /// Reads the issuer's published documents.
    pub fn from_documents(documents: &IssuerDocuments) -> Result<Self, TrustError> {
        let text = |doc: &Value, field: &str| -> Result<String, TrustError> {
            doc.get(field)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("`{field}` is missing")))
        };
        let issuer = text(&documents.jwt_vc_issuer, "issuer")?;
        let pseudonym_prefix = text(&documents.veil_issuer, "pseudonym_uri_prefix")?;
        let anchors = documents
            .veil_issuer
            .get("ca_certificates")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("`ca_certificates` is missing"))?
            .iter()
            .map(|pem| {
                let pem = pem.as_str().ok_or_else(|| invalid("a CA certificate is not text"))?;
                let block = pem::parse(pem).map_err(|e| invalid(format!("CA certificate: {e}")))?;
                TrustAnchor::from_ca_der(block.contents()).map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let jwks = documents
            .jwt_vc_issuer
            .pointer("/jwks/keys")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("`jwks.keys` is missing"))?;
        let jwt_keys = jwks.iter().map(jwt_key).collect::<Result<Vec<_>, _>>()?;
        let cose = Base64::decode_vec(&documents.cose_keys)
            .map_err(|_| invalid("`cose_keys` is not standard base64"))?;
        let set = CoseKeySet::from_slice(&cose)
            .map_err(|_| invalid("`cose_keys` is not a COSE_KeySet"))?;
        let cwt_keys = set.0.iter().map(cose_key).collect::<Result<Vec<_>, _>>()?;
        if anchors.is_empty() || jwt_keys.is_empty() || cwt_keys.is_empty() {
            return Err(invalid("an issuer needs a CA, an SD-JWT key and an SD-CWT key"));
        }
        // A veil from before typed credentials publishes no `vct`.
        let vct = text(&documents.veil_issuer, "vct").unwrap_or_else(|_| LEGACY_VCT.into());
        Ok(Self::new((issuer, vct, pseudonym_prefix), jwt_keys, cwt_keys, anchors))
    }

    /// The `iss` of this issuer's SD-JWTs and SD-CWTs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn pseudonym_prefix(&self) -> &str {
        &self.pseudonym_prefix
    }

    /// The CAs whose certificates are trusted, current first.
    pub fn anchors(&self) -> &[TrustAnchor] {
        &self.anchors
    }

    /// Verifies a disclosure as a member of `presentation.room` under the
    /// room's `policy`. The error is a presentation that cannot be read at
    /// all; every failed check is a finding in the verdict.
    pub fn verify(
        &self,
        presentation: &MemberPresentation<'_>,
        policy: &RoomPolicy,
        now: i64,
    ) -> Result<Verification, VerifyRequestError> {
        self.verify_inner(presentation, policy, now, None)
    }

    /// [`IssuerTrust::verify`], and the credential's status in the issuer's
    /// status lists the member fetched (`lists`): a revoked or suspended
    /// pseudonym is refused, and so is a credential whose list is missing
    /// or older than its `ttl` (`status_unavailable`).
    pub fn verify_with_status(
        &self,
        presentation: &MemberPresentation<'_>,
        policy: &RoomPolicy,
        now: i64,
        lists: &StatusCache,
    ) -> Result<Verification, VerifyRequestError> {
        self.verify_inner(presentation, policy, now, Some(lists))
    }

    fn verify_inner(
        &self,
        presentation: &MemberPresentation<'_>,
        policy: &RoomPolicy,
        now: i64,
        lists: Option<&StatusCache>,
    ) -> Result<Verification, VerifyRequestError> {
        let genuine = match self.check_credential(presentation, policy, now)? {
            Ok(genuine) => genuine,
            Err(finding) => return Ok(Verification::refused(policy, presentation.format, finding)),
        };
        let mut errors = Vec::new();
        let subject = genuine.subject.clone();
        self.judge(&genuine, presentation, policy, &mut errors);
        let reference =
            genuine.verified.as_ref().and_then(|v| StatusReference::from_claims(&v.claims));
        match (lists, &reference) {
            (Some(lists), Some(reference)) => errors.extend(lists.finding(reference, now)),
            // Asked to check status, for an SD credential that names no
            // entry (issued before status lists): it cannot be vouched for.
            (Some(_), None) if genuine.verified.is_some() => errors.push(Finding::new(
                "status_unavailable",
                "the credential names no status list entry",
            )),
            _ => {}
        }
        let disclosed = genuine.disclosed;
        let mut verdict =
            Verification::new(Some(self.issuer.clone()), subject, disclosed, policy, errors);
        verdict.status_list = reference;
        Ok(verdict)
    }

    /// The checks every verifier makes on a genuine credential, offline or
    /// not: the room accepts the format, the credential is bound to the
    /// presenter's leaf key and names one of this issuer's pseudonyms, and
    /// the room admits pseudonymous members.
    pub(super) fn judge(
        &self,
        genuine: &Genuine,
        presentation: &MemberPresentation<'_>,
        policy: &RoomPolicy,
        errors: &mut Vec<Finding>,
    ) {
        errors.extend(format_finding(policy, presentation.format));
        if let Some(verified) = &genuine.verified {
            let vct = verified.claims.get("vct").and_then(Value::as_str);
            if !vct.is_some_and(|vct| policy.accepts_type(vct, &self.types)) {
                errors.push(Finding::new(
                    "wrong_type",
                    "the room policy does not accept this credential type (`vct`)",
                ));
            }
        }
        if genuine.holder_key != *presentation.leaf_key {
            errors.push(Finding::new(
                "leaf_key_mismatch",
                "the credential is bound to a different key than the MLS leaf",
            ));
        }
        if let Some(subject) = &genuine.subject
            && PseudonymId::from_uri(subject, &self.pseudonym_prefix).is_none()
        {
            errors.push(Finding::new(
                "unknown_pseudonym",
                "the credential is not bound to a pseudonym of this issuer",
            ));
        }
        if policy.pseudonyms == Pseudonyms::Forbidden {
            errors.push(Finding::new(
                "pseudonym_forbidden",
                "the room does not admit pseudonymous members",
            ));
        }
    }

    /// Signature, issuer, expiry and key binding. The outer error is a
    /// presentation that cannot be read; the inner one a failed check.
    pub(super) fn check_credential(
        &self,
        presentation: &MemberPresentation<'_>,
        policy: &RoomPolicy,
        now: i64,
    ) -> Result<Result<Genuine, Finding>, VerifyRequestError> {
        let expected = Expectations {
            audience: presentation.room,
            nonce: presentation.nonce,
            now,
            max_kb_age_secs: policy.max_kb_age_secs,
            presenter_key: Some(presentation.leaf_key),
        };
        let outcome = match presentation.format {
            CredentialFormat::X509 => {
                let text = std::str::from_utf8(presentation.presentation).map_err(|_| {
                    VerifyRequestError::Malformed("the certificate is not text".into())
                })?;
                x509::verify(text, &self.anchors, &self.pseudonym_prefix, now).map(|cert| Genuine {
                    holder_key: cert.key,
                    subject: None,
                    disclosed: cert.claims,
                    verified: None,
                })
            }
            CredentialFormat::SdJwt => {
                let text = std::str::from_utf8(presentation.presentation)
                    .map_err(|_| VerifyRequestError::Malformed("SD-JWT is not text".into()))?;
                sd_jwt::verify(text, &self.jwt_keys, &expected).and_then(|v| self.genuine(v))
            }
            CredentialFormat::SdCwt => {
                sd_cwt::verify(presentation.presentation, &self.cwt_keys, &expected)
                    .and_then(|v| self.genuine(v))
            }
        };
        match outcome {
            Ok(genuine) => Ok(Ok(genuine)),
            Err(error @ (VerifyError::Malformed(_) | VerifyError::TooLarge(_))) => {
                Err(VerifyRequestError::Malformed(error.to_string()))
            }
            Err(error) => Ok(Err(error.into())),
        }
    }

    /// A verified SD credential of this issuer (its `iss`), with the claims
    /// that describe the credential set aside.
    fn genuine(&self, verified: Verified) -> Result<Genuine, VerifyError> {
        if verified.issuer.as_deref() != Some(self.issuer.as_str()) {
            return Err(VerifyError::WrongIssuer);
        }
        let disclosed = verified
            .claims
            .iter()
            .filter(|(name, _)| !CREDENTIAL_CLAIMS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Ok(Genuine {
            holder_key: verified.holder_key.clone(),
            subject: verified.subject.clone(),
            disclosed,
            verified: Some(verified),
        })
    }
}

/// Status List Tokens a member fetched from the issuer, verified as they
/// were added, by list URI.
#[derive(Debug, Default)]
pub struct StatusCache {
    lists: HashMap<String, ListToken>,
}

impl StatusCache {
    /// Adds the JWT form of the list at `uri`, after checking it is the
    /// issuer's (signature by an SD-JWT key, `sub` = `uri`, not expired).
    pub fn add_jwt(
        &mut self,
        trust: &IssuerTrust,
        uri: &str,
        token: &str,
        now: i64,
    ) -> Result<(), StatusListError> {
        let list = status_list::verify_jwt(token, &trust.jwt_keys, uri, now)?;
        self.lists.insert(uri.to_string(), list);
        Ok(())
    }

    /// Adds the CWT form (signed by an SD-CWT key).
    pub fn add_cwt(
        &mut self,
        trust: &IssuerTrust,
        uri: &str,
        token: &[u8],
        now: i64,
    ) -> Result<(), StatusListError> {
        let list = status_list::verify_cwt(token, &trust.cwt_keys, uri, now)?;
        self.lists.insert(uri.to_string(), list);
        Ok(())
    }

    /// The finding for `reference` at `now`, if any.
    fn finding(&self, reference: &StatusReference, now: i64) -> Option<Finding> {
        let unavailable = || {
            Finding::new(
                "status_unavailable",
                "the credential's status list is missing, expired or older than its ttl",
            )
        };
        let Some(token) = self.lists.get(&reference.uri) else { return Some(unavailable()) };
        let stale = now >= token.expires_at || now.saturating_sub(token.issued_at) > token.ttl;
        let entry = usize::try_from(reference.idx).ok().and_then(|i| token.list.get(i).ok());
        match (stale, entry) {
            (true, _) | (_, None) => Some(unavailable()),
            (false, Some(0)) => None,
            (false, Some(2)) => {
                Some(Finding::new("pseudonym_suspended", "the status list says: suspended"))
            }
            (false, Some(_)) => {
                Some(Finding::new("pseudonym_revoked", "the status list says: revoked"))
            }
        }
    }
}

/// An SD-JWT issuer key from the JWK set.
fn jwt_key(value: &Value) -> Result<IssuerKey, TrustError> {
    let jwk: Jwk =
        serde_json::from_value(value.clone()).map_err(|e| invalid(format!("a JWK: {e}")))?;
    let kid = jwk.kid.clone().ok_or_else(|| invalid("a JWK has no `kid`"))?;
    let key = P256PublicKey::from_jwk(&jwk).map_err(|e| invalid(format!("JWK `{kid}`: {e}")))?;
    Ok(IssuerKey::es256(kid, &key))
}

/// An SD-CWT issuer key from the COSE_KeySet: EC2 P-256 with a text `kid`.
fn cose_key(key: &coset::CoseKey) -> Result<IssuerKey, TrustError> {
    let kid =
        String::from_utf8(key.key_id.clone()).map_err(|_| invalid("a COSE key id is not text"))?;
    if key.kty != KeyType::Assigned(iana::KeyType::EC2) {
        return Err(invalid(format!("COSE key `{kid}` is not EC2")));
    }
    let param = |label: iana::Ec2KeyParameter| {
        key.params.iter().find(|(l, _)| *l == Label::Int(label as i64)).map(|(_, v)| v)
    };
    let crv = param(iana::Ec2KeyParameter::Crv)
        .and_then(|v| v.as_integer())
        .and_then(|i| i64::try_from(i).ok());
    if crv != Some(iana::EllipticCurve::P_256 as i64) {
        return Err(invalid(format!("COSE key `{kid}` is not on P-256")));
    }
    let coordinate = |label| param(label).and_then(|v| v.as_bytes()).cloned();
    let (Some(x), Some(y)) =
        (coordinate(iana::Ec2KeyParameter::X), coordinate(iana::Ec2KeyParameter::Y))
    else {
        return Err(invalid(format!("COSE key `{kid}` lacks a coordinate")));
    };
    let sec1 = [[4u8].as_slice(), &x, &y].concat();
    let public =
        P256PublicKey::from_sec1(&sec1).map_err(|e| invalid(format!("COSE key `{kid}`: {e}")))?;
    Ok(IssuerKey::es256(kid, &public))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::disclosure::IssueParams;
    use crate::formats::disclosure::test_support::{AUDIENCE, NONCE, NOW, keys, params, signer};
    use crate::formats::keys::signer::Es256Signer;
    use crate::formats::status_list::{self, Status, StatusList, TokenTimes};

    const LIST: &str = "https://veil.example/v1/status-lists/0";

    fn trust(issuer: &Es256Signer) -> IssuerTrust {
        let names = (
            "https://veil.example".to_string(),
            "https://veil.example/vct/pseudonym".to_string(),
            "mimi://veil.example/p/".to_string(),
        );
        IssuerTrust::new(names, keys(issuer), Vec::new(), Vec::new())
    }

    /// The status findings (the room policy's own are not under test).
    fn codes(verdict: &Verification) -> Vec<&str> {
        let status = ["status_unavailable", "pseudonym_revoked", "pseudonym_suspended"];
        verdict.errors.iter().map(|f| f.code).filter(|c| status.contains(c)).collect()
    }

    /// With status asked for, a credential that names no entry, one whose
    /// list is missing, and one whose entry is set are all refused; only a
    /// valid entry in a fresh list passes.
    #[test]
    fn status_is_checked_or_the_credential_is_refused() {
        let (issuer, holder) = (signer("issuer"), signer("holder"));
        let trust = trust(&issuer);
        let policy = RoomPolicy::from_json(serde_json::json!({
            "types": ["https://veil.example/vct/pseudonym"]
        }))
        .unwrap();
        let show = |status: Option<StatusReference>| {
            let credential =
                sd_jwt::issue(&IssueParams { status, ..params(&holder) }, &issuer).unwrap();
            sd_jwt::present(&credential, &["display_name"], &holder, AUDIENCE, NONCE, NOW).unwrap()
        };
        let verify = |presented: &str, lists: &StatusCache| {
            let member = MemberPresentation {
                format: CredentialFormat::SdJwt,
                presentation: presented.as_bytes(),
                room: AUDIENCE,
                nonce: NONCE.as_bytes(),
                leaf_key: holder.public_key(),
            };
            trust.verify_with_status(&member, &policy, NOW, lists).unwrap()
        };
        let mut list = StatusList::new(1 << 10);
        list.set(7, Status::Invalid).unwrap();
        let times = TokenTimes { issued_at: NOW - 10, expires_at: NOW + 3600, ttl: 600 };
        let token = status_list::sign_jwt(&list, LIST, times, &issuer).unwrap();
        let mut lists = StatusCache::default();
        lists.add_jwt(&trust, LIST, &token, NOW).unwrap();
        let entry = |idx| Some(StatusReference { idx, uri: LIST.into() });

        assert_eq!(codes(&verify(&show(entry(3)), &lists)), Vec::<&str>::new());
        assert_eq!(codes(&verify(&show(entry(7)), &lists)), ["pseudonym_revoked"]);
        assert_eq!(codes(&verify(&show(entry(1 << 12)), &lists)), ["status_unavailable"]);
        assert_eq!(codes(&verify(&show(None), &lists)), ["status_unavailable"]);
        let other = Some(StatusReference { idx: 3, uri: format!("{LIST}9") });
        assert_eq!(codes(&verify(&show(other), &lists)), ["status_unavailable"]);
        // A list signed by someone else is not taken.
        let stranger = signer("issuer");
        let forged = status_list::sign_jwt(&StatusList::new(8), LIST, times, &stranger).unwrap();
        assert!(StatusCache::default().add_jwt(&trust, LIST, &forged, NOW).is_err());
    }
}
