//! The checks every MLS leaf credential of ours must pass, wherever a hub
//! meets it: in a KeyPackage (`key_package.rs`), in a LeafNode of a
//! Commit or an Update (`leaf_node.rs`), or as a bare `Credential` beside
//! its leaf's `signature_key` (`POST /v1/mls/credentials/validate`).
//!
//! One path for all three: the credential must be x509, its end-entity
//! certificate must chain to our CA, certify the leaf `signature_key` (no
//! MLS library checks this, so a copied certificate could otherwise front
//! any key) and name one of our pseudonyms with that key, whose status
//! (`PseudonymStatus::of`, as for disclosures) must be active. A readable
//! credential always gets a report with one stable code per failed check.

use openmls::prelude::tls_codec::{Deserialize as _, VLBytes};
use openmls::prelude::{Credential, CredentialType};
use serde_json::Value;
use x509_cert::Certificate;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::x509::TrustAnchor;
use super::{Finding, Verifier, VerifyRequestError, status_finding};
use crate::core::client_id::{CLIENT_PATH, ClientId};
use crate::core::pseudonym_id::PseudonymId;
use crate::core::status::PseudonymStatus;
use crate::formats::disclosure::VerifyError;
use crate::services::disclose::{certified_client, pseudonym_status};
use crate::services::mint::StatusView;

/// [`crate::formats::x509::CONNECTION_ONLY_OID`] in x509-cert's form (checked equal by a test).
const CONNECTION_ONLY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.1.1");

/// The verdict on one leaf credential. `valid` is true only when `errors`
/// is empty; `pseudonym` and the fields after it are set once the
/// certificate is known to be ours.
#[derive(Debug, Clone)]
pub struct CredentialReport {
    pub valid: bool,
    /// The room policy's `pseudonyms_allowed` (draft-ietf-mimi-room-policy
    /// `BaseRoomPolicy`), when the hub named the room's policy.
    pub pseudonyms_allowed: Option<bool>,
    pub pseudonym: Option<StatusView>,
    /// The pseudonym's further client the certificate names
    /// (`mimi://<domain>/d/<id>`), when it is one of ours.
    pub client: Option<String>,
    /// The leaf may only be used to add its holder to a connection room
    /// (draft §7), by either marker: the KeyPackage's connection-only
    /// extension, or the certificate's (the pseudonym was minted so).
    pub connection_only: Option<bool>,
    /// The KeyPackage carries the connection-only extension
    /// ([`crate::formats::mls::CONNECTION_ONLY_EXTENSION_TYPE`]); `None`
    /// for a leaf in no KeyPackage, or a KeyPackage openmls refused.
    pub connection_only_extension: Option<bool>,
    pub errors: Vec<Finding>,
}

/// Input that cannot be judged at all.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Undecodable input; the text says what could not be read.
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Policy(#[from] VerifyRequestError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the checks that need no store established about a leaf.
#[derive(Debug, Clone, Default)]
pub struct CredentialChecks {
    /// The failed checks so far.
    pub errors: Vec<Finding>,
    /// Set once the leaf certificate chains to one of our CAs.
    pub certificate: Option<IssuedLeaf>,
    /// Whether a KeyPackage carries the connection-only extension: set
    /// once openmls accepted the package, never for a leaf in none.
    pub connection_only_extension: Option<bool>,
}

/// A leaf certificate of ours, as an MLS leaf carries it.
#[derive(Debug, Clone)]
pub struct IssuedLeaf {
    /// The certified key (SEC1), which must also be the leaf `signature_key`.
    pub key: Vec<u8>,
    /// The certificate carries the connection-only marker.
    pub connection_only: bool,
    /// The pseudonym its SAN URI names, if any.
    pub pseudonym: Option<PseudonymId>,
    /// The pseudonym's further client its second SAN URI names, if any.
    pub client: Option<ClientId>,
}

/// The leaf as the credential checks see it.
#[derive(Debug, Clone, Copy)]
pub struct Leaf<'a> {
    pub credential: &'a Credential,
    /// The leaf `signature_key` the certificate must certify.
    pub signature_key: &'a [u8],
    /// The leaf's MLS lifetime end (seconds), for a leaf made by a
    /// KeyPackage: it must not outlive the certificate.
    pub lifetime_not_after: Option<u64>,
}

/// What the hub said of the room a leaf is to enter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Admission {
    /// The room policy's `pseudonyms_allowed`, when a policy was named.
    pub pseudonyms_allowed: Option<bool>,
    /// Whether the room is a connection (bootstrap or knock) room, when
    /// the hub said.
    pub connection_room: Option<bool>,
}

/// Who the credential must come from, and when it is judged.
#[derive(Debug, Clone, Copy)]
pub struct Anchors<'a> {
    pub anchors: &'a [TrustAnchor],
    pub pseudonym_prefix: &'a str,
    pub now: i64,
}

/// The credential checks that need no store, added to `checks`: x509,
/// the chain to `trust`, the certified key against the leaf key, the MLS
/// lifetime against the certificate's, the pseudonym its SAN names.
pub fn check_credential(
    leaf: Leaf<'_>,
    trust: Anchors<'_>,
    mut checks: CredentialChecks,
) -> Result<CredentialChecks, CredentialError> {
    if leaf.credential.credential_type() != CredentialType::X509 {
        checks.errors.push(Finding::new("credential_not_x509", "the leaf credential is not x509"));
        return Ok(checks);
    }
    let cert = match leaf_certificate(leaf.credential.serialized_content())
        .and_then(|der| super::x509::verify_issued(&der, trust.anchors, trust.now))
    {
        Ok(cert) => cert,
        Err(error) => {
            checks.errors.push(certificate_finding(error));
            return Ok(checks);
        }
    };
    let tbs = cert.tbs_certificate();
    let cert_key = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    if cert_key != leaf.signature_key {
        checks.errors.push(Finding::new(
            "leaf_key_mismatch",
            "the certificate certifies a different key than the leaf signature_key",
        ));
    }
    let cert_not_after = tbs.validity().not_after.to_unix_duration().as_secs();
    if let Some(not_after) = leaf.lifetime_not_after.filter(|end| *end > cert_not_after) {
        checks.errors.push(Finding::new(
            "lifetime_exceeds_certificate",
            format!(
                "the leaf lifetime ends at {not_after}, after the certificate's notAfter \
                 {cert_not_after}: a client must not offer a leaf its credential does not cover"
            ),
        ));
    }
    let (pseudonym, client) = names_in(&cert, trust.pseudonym_prefix)?;
    checks.certificate = Some(IssuedLeaf {
        key: cert_key.to_vec(),
        connection_only: has_connection_only_marker(&cert),
        pseudonym,
        client,
    });
    Ok(checks)
}

/// Decodes a TLS `Credential` and checks it against the leaf key
/// `signature_key`: the whole check when the hub has no LeafNode to show.
pub fn check_bare_credential(
    credential: &[u8],
    signature_key: &[u8],
    trust: Anchors<'_>,
) -> Result<CredentialChecks, CredentialError> {
    if credential.len() > crate::formats::mls::MAX_LEAF_NODE_BYTES {
        return Err(CredentialError::Malformed("the credential is larger than 64 KiB".into()));
    }
    let credential = Credential::tls_deserialize_exact(credential).map_err(|_| {
        CredentialError::Malformed("`credential` is not a TLS-serialized MLS Credential".into())
    })?;
    let leaf = Leaf { credential: &credential, signature_key, lifetime_not_after: None };
    check_credential(leaf, trust, CredentialChecks::default())
}

impl Verifier {
    /// The policy's `pseudonyms_allowed`, if the hub named the room's policy
    /// (a name or an inline policy).
    pub(super) fn pseudonyms_allowed(
        &self,
        policy: Option<&Value>,
    ) -> Result<Option<bool>, CredentialError> {
        Ok(match policy {
            Some(choice) => Some(self.policy(choice)?.pseudonyms_allowed()),
            None => None,
        })
    }

    /// Who our credentials come from, now.
    pub(super) fn anchors(&self) -> Anchors<'_> {
        Anchors {
            anchors: self.trust.anchors(),
            pseudonym_prefix: self.trust.pseudonym_prefix(),
            now: self.clock.now(),
        }
    }

    /// What the hub said of the room: its policy's `pseudonyms_allowed`
    /// and whether it is a connection room. Once the hub names the room
    /// (either argument), a room it does not call a connection room is
    /// not one: a connection-only leaf is refused (fail closed).
    pub(super) fn admission(
        &self,
        policy: Option<&Value>,
        connection_room: Option<bool>,
    ) -> Result<Admission, CredentialError> {
        Ok(Admission {
            pseudonyms_allowed: self.pseudonyms_allowed(policy)?,
            connection_room: connection_room.or(policy.map(|_| false)),
        })
    }

    /// Validates a TLS `Credential` as carried by a leaf whose
    /// `signature_key` the hub read from the tree.
    pub async fn validate_credential(
        &self,
        credential: &[u8],
        signature_key: &[u8],
        room: (Option<&Value>, Option<bool>),
    ) -> Result<CredentialReport, CredentialError> {
        let admission = self.admission(room.0, room.1)?;
        let trust = self.anchors();
        let checks = check_bare_credential(credential, signature_key, trust)?;
        self.judge(checks, admission, trust.now).await
    }

    /// What only the issuer knows, on top of `checks`: whether the
    /// certificate names a pseudonym of ours with that key, its status, and
    /// admission to the room: under a policy that does (not) allow
    /// pseudonyms (`pseudonym_forbidden`: every credential veil issues is
    /// one), and of a connection-only leaf to a room that is not a
    /// connection room (`connection_room_required`).
    pub(super) async fn judge(
        &self,
        checks: CredentialChecks,
        admission: Admission,
        now: i64,
    ) -> Result<CredentialReport, CredentialError> {
        let extension = checks.connection_only_extension;
        let mut report = self.judge_pseudonym(checks, now).await?;
        report.pseudonyms_allowed = admission.pseudonyms_allowed;
        report.connection_only_extension = extension;
        // The client's own marker holds whoever issued the certificate.
        if extension == Some(true) {
            report.connection_only = Some(true);
        }
        if admission.pseudonyms_allowed == Some(false) && report.pseudonym.is_some() {
            report.errors.push(Finding::new(
                "pseudonym_forbidden",
                "the room does not admit pseudonymous members",
            ));
        }
        if admission.connection_room == Some(false) && report.connection_only == Some(true) {
            report.errors.push(Finding::new(
                "connection_room_required",
                "the leaf is connection-only: it may only add its holder to a connection room",
            ));
        }
        report.valid = report.errors.is_empty();
        Ok(report)
    }

    async fn judge_pseudonym(
        &self,
        checks: CredentialChecks,
        now: i64,
    ) -> Result<CredentialReport, CredentialError> {
        let mut errors = checks.errors;
        let Some(leaf) = checks.certificate else {
            return Ok(report(None, None, errors));
        };
        let stored = match &leaf.pseudonym {
            Some(id) => self.store.pseudonym(id).await.map_err(internal)?,
            None => None,
        };
        // The pseudonym's own key, or (with a client URI) a client of it
        // whose certified key this is.
        let mut client_inactive = false;
        let row = match (stored, &leaf.client) {
            (Some(row), None) if row.public_key == leaf.key => row,
            (Some(row), Some(client)) => {
                let link = &self.keys.link;
                match certified_client(&self.store, link, client, &row.id, &leaf.key, now)
                    .await
                    .map_err(internal)?
                {
                    Some(inactive) => {
                        client_inactive = inactive;
                        row
                    }
                    None => {
                        errors.push(Finding::new(
                            "unknown_pseudonym",
                            "the certificate does not name a client of a pseudonym of this issuer",
                        ));
                        return Ok(report(None, Some(leaf.connection_only), errors));
                    }
                }
            }
            _ => {
                errors.push(Finding::new(
                    "unknown_pseudonym",
                    "the certificate does not name a pseudonym of this issuer",
                ));
                return Ok(report(None, Some(leaf.connection_only), errors));
            }
        };
        let status =
            pseudonym_status(&self.store, &self.keys.link, &row, now).await.map_err(internal)?;
        errors.extend(status_finding(status));
        if client_inactive && status == PseudonymStatus::Active {
            errors.push(Finding::new(
                "client_revoked",
                "this client of the pseudonym was revoked or has expired",
            ));
        }
        let view = StatusView {
            uri: format!("{}{}", self.trust.pseudonym_prefix(), row.id),
            status,
            not_after: row.not_after,
        };
        // The stored flag covers pseudonyms minted before the marker existed.
        let only = Some(leaf.connection_only || row.connection_only);
        let mut judged = report(Some(view), only, errors);
        judged.client = leaf.client.as_ref().and_then(|client| {
            client_prefix(self.trust.pseudonym_prefix()).map(|p| format!("{p}{client}"))
        });
        Ok(judged)
    }
}

fn internal(error: impl std::fmt::Display) -> CredentialError {
    CredentialError::Internal(error.to_string())
}

/// The pseudonym id and the client id the certificate's SAN URIs name: the
/// pseudonym under `prefix` (`mimi://<domain>/p/`), a further client under
/// the same domain's client path (`mimi://<domain>/d/`).
fn names_in(
    cert: &Certificate,
    prefix: &str,
) -> Result<(Option<PseudonymId>, Option<ClientId>), CredentialError> {
    let names = cert
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(|_| CredentialError::Malformed("the certificate's subjectAltName".into()))?
        .map(|(_, san)| san.0)
        .unwrap_or_default();
    let uris: Vec<&str> = names
        .iter()
        .filter_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => Some(uri.as_str()),
            _ => None,
        })
        .collect();
    let pseudonym = uris.iter().find_map(|uri| PseudonymId::from_uri(uri, prefix));
    let client = client_prefix(prefix).and_then(|clients| {
        uris.iter().find_map(|uri| uri.strip_prefix(clients.as_str()).and_then(ClientId::parse))
    });
    Ok((pseudonym, client))
}

/// `mimi://<domain>/d/` from `mimi://<domain>/<p or u>/`.
fn client_prefix(pseudonym_prefix: &str) -> Option<String> {
    let (domain, _) = pseudonym_prefix.trim_end_matches('/').rsplit_once('/')?;
    Some(format!("{domain}/{CLIENT_PATH}/"))
}

fn report(
    pseudonym: Option<StatusView>,
    connection_only: Option<bool>,
    errors: Vec<Finding>,
) -> CredentialReport {
    CredentialReport {
        valid: errors.is_empty(),
        pseudonyms_allowed: None,
        pseudonym,
        client: None,
        connection_only,
        connection_only_extension: None,
        errors,
    }
}

/// The end-entity certificate: the first `opaque cert_data<V>` of the x509
/// credential (RFC 9420 §5.3).
fn leaf_certificate(content: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let mut rest = content;
    let leaf = VLBytes::tls_deserialize(&mut rest)
        .map_err(|_| VerifyError::Malformed("the x509 credential holds no certificate"))?;
    Ok(leaf.as_slice().to_vec())
}

fn has_connection_only_marker(cert: &Certificate) -> bool {
    let extensions = cert.tbs_certificate().extensions();
    extensions.is_some_and(|list| list.iter().any(|ext| ext.extn_id == CONNECTION_ONLY))
}

fn certificate_finding(error: VerifyError) -> Finding {
    match error {
        VerifyError::Expired => Finding::new("certificate_expired", "the certificate has expired"),
        VerifyError::NotYetValid => {
            Finding::new("certificate_not_yet_valid", "the certificate is not valid yet")
        }
        other => Finding::new(
            "certificate_untrusted",
            format!("the certificate does not chain to this issuer's CA: {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::x509::CONNECTION_ONLY_OID;

    #[test]
    fn the_marker_oid_is_the_one_the_ca_writes() {
        let written = CONNECTION_ONLY_OID.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
        assert_eq!(CONNECTION_ONLY.to_string(), written);
    }

    #[test]
    fn undecodable_credentials_are_malformed() {
        let trust = Anchors { anchors: &[], pseudonym_prefix: "mimi://example.com/p/", now: 0 };
        for bytes in [&b""[..], &[0, 2], &[0, 2, 0, 0], &[0, 2, 5, 1]] {
            let result = check_bare_credential(bytes, &[4; 65], trust);
            assert!(matches!(result, Err(CredentialError::Malformed(_))), "{bytes:?}");
        }
    }
}
