//! KeyPackage validation for hubs: before a hub adds a member by a
//! KeyPackage, it asks whether the package is one an openmls client would
//! accept *and* whether its credential is a live pseudonym of ours.
//!
//! openmls checks the signatures and the lifetime; it does not check that
//! the certificate's key is the leaf `signature_key` (STACK.md), so without
//! our check anyone could wrap a stolen pseudonym certificate around their
//! own key. That check and the rest of the leaf credential's are shared
//! with LeafNodes and bare credentials (`credential.rs`). As with
//! presentations, a readable package always gets a report with one stable
//! code per failed check; only undecodable bytes are errors.
//!
//! A client marks a KeyPackage it offers only for connection rooms with
//! the connection-only KeyPackage extension (`formats::mls`), which the
//! report carries; with the room named, a connection-only package (by the
//! extension or by its certificate) is refused for any other room.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{
    Ciphersuite, KeyPackageIn, KeyPackageVerifyError, MlsMessageBodyIn, MlsMessageIn,
    ProtocolVersion,
};
use openmls_rust_crypto::RustCrypto;

use super::credential::{
    Anchors, CredentialChecks, CredentialError, CredentialReport, Leaf, check_credential,
};
use super::x509::TrustAnchor;
use super::{Finding, Verifier};
use crate::formats::disclosure::MAX_PRESENTATION_BYTES;
use crate::formats::mls::ConnectionOnlyExtension;

/// The only suite whose signature scheme (ECDSA P-256) our certificates
/// carry: a package in another suite cannot be signed by a pseudonym key.
const ACCEPTED_SUITES: &[Ciphersuite] = &[Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256];

/// Decodes a KeyPackage and runs every check that needs no store: openmls'
/// own validation (which refuses a KeyPackage extension the leaf's
/// capabilities do not list), the suite, the connection-only extension's
/// form, then the leaf credential's checks (the
/// certificate chain to `anchors` at `now`, the leaf key, the lifetime
/// within the certificate's). Pure, so the fuzz targets drive it.
pub fn check_key_package(
    bytes: &[u8],
    anchors: &[TrustAnchor],
    pseudonym_prefix: &str,
    now: i64,
) -> Result<CredentialChecks, CredentialError> {
    let package = decode(bytes)?;
    let claimed = package.unverified_credential();
    let mut checks = CredentialChecks::default();
    // openmls judges the leaf lifetime by the system clock, not ours.
    let mut lifetime_not_after = None;
    match package.validate(&RustCrypto::default(), ProtocolVersion::Mls10) {
        Ok(valid) => {
            lifetime_not_after = Some(valid.life_time().not_after());
            if !ACCEPTED_SUITES.contains(&valid.ciphersuite()) {
                checks.errors.push(Finding::new(
                    "ciphersuite_unsupported",
                    "pseudonym keys are P-256: use MLS_128_DHKEMP256_AES128GCM_SHA256_P256 (0x0002)",
                ));
            }
            let extension = ConnectionOnlyExtension::of(valid.extensions());
            if extension == ConnectionOnlyExtension::Malformed {
                checks.errors.push(Finding::new(
                    "connection_only_extension_invalid",
                    "the connection-only KeyPackage extension must have empty extension_data",
                ));
            }
            // A malformed marker still restricts the package: fail closed.
            checks.connection_only_extension = Some(extension != ConnectionOnlyExtension::Absent);
        }
        Err(error) => checks.errors.push(openmls_finding(&error)),
    }
    let leaf = Leaf {
        credential: &claimed.credential,
        signature_key: claimed.signature_key.as_slice(),
        lifetime_not_after,
    };
    check_credential(leaf, Anchors { anchors, pseudonym_prefix, now }, checks)
}

impl Verifier {
    /// Validates the TLS bytes of an `MLSMessage` holding a KeyPackage, or
    /// of a bare KeyPackage. With the room's `policy` (a name or an inline
    /// policy), admission is judged too: a room whose policy does not allow
    /// pseudonyms refuses every credential veil issues, which are all
    /// pseudonyms (`pseudonym_forbidden`). Whether the room is a connection
    /// room is `connection_room`; once the hub names the room (either
    /// argument), a room it does not call one refuses a connection-only
    /// package (`connection_room_required`).
    pub async fn validate_key_package(
        &self,
        bytes: &[u8],
        policy: Option<&serde_json::Value>,
        connection_room: Option<bool>,
    ) -> Result<CredentialReport, CredentialError> {
        let admission = self.admission(policy, connection_room)?;
        let trust = self.anchors();
        let checks = check_key_package(bytes, trust.anchors, trust.pseudonym_prefix, trust.now)?;
        self.judge(checks, admission, trust.now).await
    }
}

/// An `MLSMessage` whose body is a KeyPackage (what clients publish), else
/// a bare KeyPackage.
fn decode(bytes: &[u8]) -> Result<KeyPackageIn, CredentialError> {
    let malformed = |detail: &str| {
        CredentialError::Malformed(format!("the key package cannot be read: {detail}"))
    };
    if bytes.len() > MAX_PRESENTATION_BYTES {
        return Err(malformed("larger than 64 KiB"));
    }
    if let Ok(message) = MlsMessageIn::tls_deserialize_exact(bytes) {
        return match message.extract() {
            MlsMessageBodyIn::KeyPackage(package) => Ok(package),
            _ => Err(malformed("the MLSMessage does not hold a KeyPackage")),
        };
    }
    KeyPackageIn::tls_deserialize_exact(bytes)
        .map_err(|_| malformed("neither an MLSMessage nor a KeyPackage"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_bytes_are_malformed() {
        for bytes in [&b""[..], b"garbage", &[0, 1, 0, 5], &[0, 1, 0, 1, 0, 0]] {
            assert!(matches!(decode(bytes), Err(CredentialError::Malformed(_))));
        }
    }
}
