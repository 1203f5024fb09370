//! KeyPackage validation for hubs: before a hub adds a member by a
//! KeyPackage, it asks whether the package is one an openmls client would
//! accept *and* whether its credential is a live pseudonym of ours.
//!
//! openmls checks the signatures and the lifetime; it does not check that
//! the certificate's key is the leaf `signature_key` (STACK.md), so without
//! our check anyone could wrap a stolen pseudonym certificate around their
//! own key. As with presentations, a readable package always gets a report
//! with one stable code per failed check; only undecodable bytes are errors.

use openmls::prelude::tls_codec::{Deserialize as _, VLBytes};
use openmls::prelude::{
    Ciphersuite, CredentialType, KeyPackageIn, KeyPackageVerifyError, MlsMessageBodyIn,
    MlsMessageIn, ProtocolVersion,
};
use openmls_rust_crypto::RustCrypto;
use x509_cert::Certificate;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::x509::TrustAnchor;
use super::{Finding, Verifier, status_finding};
use crate::core::pseudonym_id::PseudonymId;
use crate::formats::disclosure::{MAX_PRESENTATION_BYTES, VerifyError};
use crate::services::disclose::pseudonym_status;
use crate::services::mint::StatusView;

/// [`crate::formats::x509::CONNECTION_ONLY_OID`] in x509-cert's form (checked equal by a test).
const CONNECTION_ONLY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.32473.1.1");

/// The only suite whose signature scheme (ECDSA P-256) our certificates
/// carry: a package in another suite cannot be signed by a pseudonym key.
const ACCEPTED_SUITES: &[Ciphersuite] = &[Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256];

/// The verdict on one KeyPackage. `valid` is true only when `errors` is
/// empty; `pseudonym` and the fields after it are set once the certificate
/// is known to be ours.
#[derive(Debug, Clone)]
pub struct KeyPackageReport {
    pub valid: bool,
    /// The room policy's `pseudonyms_allowed` (draft-ietf-mimi-room-policy
    /// `BaseRoomPolicy`), when the hub named the room's policy.
    pub pseudonyms_allowed: Option<bool>,
    pub pseudonym: Option<StatusView>,
    /// The certificate carries the connection-only marker (draft §7): the
    /// package may only be used to add its holder to a connection room.
    pub connection_only: Option<bool>,
    pub errors: Vec<Finding>,
}

/// Input that cannot be judged at all.
#[derive(Debug, thiserror::Error)]
pub enum KeyPackageError {
    #[error("the key package cannot be read: {0}")]
    Malformed(&'static str),
    #[error("{0}")]
    Policy(#[from] super::VerifyRequestError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the checks that need no store established about a KeyPackage.
#[derive(Debug, Clone)]
pub struct PackageChecks {
    /// The failed checks so far.
    pub errors: Vec<Finding>,
    /// Set once the leaf certificate chains to one of our CAs.
    pub certificate: Option<IssuedLeaf>,
}

/// A leaf certificate of ours, as a KeyPackage carries it.
#[derive(Debug, Clone)]
pub struct IssuedLeaf {
    /// The certified key (SEC1), which must also be the leaf `signature_key`.
    pub key: Vec<u8>,
    /// The certificate carries the connection-only marker.
    pub connection_only: bool,
    /// The pseudonym its SAN URI names, if any.
    pub pseudonym: Option<PseudonymId>,
}

/// Decodes a KeyPackage and runs every check that needs no store: openmls'
/// own validation, the suite, the credential type, the certificate chain
/// to `anchors` at `now` and the leaf key. Pure, so the fuzz targets drive it.
pub fn check_key_package(
    bytes: &[u8],
    anchors: &[TrustAnchor],
    pseudonym_prefix: &str,
    now: i64,
) -> Result<PackageChecks, KeyPackageError> {
    let package = decode(bytes)?;
    let claimed = package.unverified_credential();
    let mut errors = Vec::new();
    // openmls judges the leaf lifetime by the system clock, not ours.
    match package.validate(&RustCrypto::default(), ProtocolVersion::Mls10) {
        Ok(valid) if !ACCEPTED_SUITES.contains(&valid.ciphersuite()) => errors.push(Finding::new(
            "ciphersuite_unsupported",
            "pseudonym keys are P-256: use MLS_128_DHKEMP256_AES128GCM_SHA256_P256 (0x0002)",
        )),
        Ok(_) => {}
        Err(error) => errors.push(openmls_finding(&error)),
    }
    if claimed.credential.credential_type() != CredentialType::X509 {
        errors.push(Finding::new("credential_not_x509", "the leaf credential is not x509"));
        return Ok(PackageChecks { errors, certificate: None });
    }
    let cert = match leaf_certificate(claimed.credential.serialized_content())
        .and_then(|der| super::x509::verify_issued(&der, anchors, now))
    {
        Ok(cert) => cert,
        Err(error) => {
            errors.push(certificate_finding(error));
            return Ok(PackageChecks { errors, certificate: None });
        }
    };
    let tbs = cert.tbs_certificate();
    let cert_key = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    if cert_key != claimed.signature_key.as_slice() {
        errors.push(Finding::new(
            "leaf_key_mismatch",
            "the certificate certifies a different key than the leaf signature_key",
        ));
    }
    let certificate = IssuedLeaf {
        key: cert_key.to_vec(),
        connection_only: has_connection_only_marker(&cert),
        pseudonym: pseudonym_named(&cert, pseudonym_prefix)?,
    };
    Ok(PackageChecks { errors, certificate: Some(certificate) })
}

impl Verifier {
    /// Validates the TLS bytes of an `MLSMessage` holding a KeyPackage, or
    /// of a bare KeyPackage. With the room's `policy` (a name or an inline
    /// policy), admission is judged too: a room whose policy does not allow
    /// pseudonyms refuses every credential veil issues, which are all
    /// pseudonyms (`pseudonym_forbidden`).
    pub async fn validate_key_package(
        &self,
        bytes: &[u8],
        policy: Option<&serde_json::Value>,
    ) -> Result<KeyPackageReport, KeyPackageError> {
        let allowed = match policy {
            Some(choice) => Some(self.policy(choice)?.pseudonyms_allowed()),
            None => None,
        };
        let mut report = self.check_key_package_now(bytes).await?;
        report.pseudonyms_allowed = allowed;
        if allowed == Some(false) && report.pseudonym.is_some() {
            report.errors.push(Finding::new(
                "pseudonym_forbidden",
                "the room does not admit pseudonymous members",
            ));
            report.valid = false;
        }
        Ok(report)
    }

    async fn check_key_package_now(
        &self,
        bytes: &[u8],
    ) -> Result<KeyPackageReport, KeyPackageError> {
        let now = self.clock.now();
        let checks =
            check_key_package(bytes, self.trust.anchors(), self.trust.pseudonym_prefix(), now)?;
        let mut errors = checks.errors;
        let Some(leaf) = checks.certificate else {
            return Ok(report(None, None, errors));
        };
        let stored = match &leaf.pseudonym {
            Some(id) => self
                .store
                .pseudonym(id)
                .await
                .map_err(|e| KeyPackageError::Internal(e.to_string()))?,
            None => None,
        };
        let row = match stored {
            Some(row) if row.public_key == leaf.key => row,
            _ => {
                errors.push(Finding::new(
                    "unknown_pseudonym",
                    "the certificate does not name a pseudonym of this issuer",
                ));
                return Ok(report(None, Some(leaf.connection_only), errors));
            }
        };
        let status = pseudonym_status(&self.store, &self.keys.link, &row, now)
            .await
            .map_err(|e| KeyPackageError::Internal(e.to_string()))?;
        errors.extend(status_finding(status));
        let view = StatusView {
            uri: format!("{}{}", self.trust.pseudonym_prefix(), row.id),
            status,
            not_after: row.not_after,
        };
        // The stored flag covers pseudonyms minted before the marker existed.
        Ok(report(Some(view), Some(leaf.connection_only || row.connection_only), errors))
    }
}

/// The pseudonym id named by the certificate's SAN URI.
fn pseudonym_named(
    cert: &Certificate,
    prefix: &str,
) -> Result<Option<PseudonymId>, KeyPackageError> {
    let names = cert
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .map_err(|_| KeyPackageError::Malformed("subjectAltName"))?
        .map(|(_, san)| san.0)
        .unwrap_or_default();
    Ok(names.iter().find_map(|name| match name {
        GeneralName::UniformResourceIdentifier(uri) => PseudonymId::from_uri(uri.as_str(), prefix),
        _ => None,
    }))
}

fn report(
    pseudonym: Option<StatusView>,
    connection_only: Option<bool>,
    errors: Vec<Finding>,
) -> KeyPackageReport {
    KeyPackageReport {
        valid: errors.is_empty(),
        pseudonyms_allowed: None,
        pseudonym,
        connection_only,
        errors,
    }
}

/// An `MLSMessage` whose body is a KeyPackage (what clients publish), else
/// a bare KeyPackage.
fn decode(bytes: &[u8]) -> Result<KeyPackageIn, KeyPackageError> {
    if bytes.len() > MAX_PRESENTATION_BYTES {
        return Err(KeyPackageError::Malformed("larger than 64 KiB"));
    }
    if let Ok(message) = MlsMessageIn::tls_deserialize_exact(bytes) {
        return match message.extract() {
            MlsMessageBodyIn::KeyPackage(package) => Ok(package),
            _ => Err(KeyPackageError::Malformed("the MLSMessage does not hold a KeyPackage")),
        };
    }
    KeyPackageIn::tls_deserialize_exact(bytes)
        .map_err(|_| KeyPackageError::Malformed("neither an MLSMessage nor a KeyPackage"))
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

fn openmls_finding(error: &KeyPackageVerifyError) -> Finding {
    match error {
        KeyPackageVerifyError::InvalidSignature
        | KeyPackageVerifyError::InvalidLeafNodeSignature => {
            Finding::new("signature_invalid", "the KeyPackage or leaf node signature is invalid")
        }
        KeyPackageVerifyError::LifetimeError(_) | KeyPackageVerifyError::MissingLifetime => {
            Finding::new("lifetime_invalid", "the leaf lifetime is missing or not current")
        }
        other => Finding::new("key_package_invalid", other.to_string()),
    }
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
    fn undecodable_bytes_are_malformed() {
        for bytes in [&b""[..], b"garbage", &[0, 1, 0, 5], &[0, 1, 0, 1, 0, 0]] {
            assert!(matches!(decode(bytes), Err(KeyPackageError::Malformed(_))));
        }
    }
}
