//! Verifying a linked X.509 disclosure: the leaf must be signed by our
//! pseudonym CA, be within its validity, be an end-entity certificate naming
//! a real identity (not a pseudonym certificate), and its key is returned so
//! the caller can match it against the MLS leaf and the pseudonym.
//!
//! There is no key binding token: proof of possession of the key comes from
//! MLS itself (the member signs its LeafNode with it), so audience, nonce and
//! replay do not apply to this format.

use base64ct::{Base64, Encoding};
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use serde_json::{Map, Value};
use x509_cert::Certificate;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, SubjectAltName};

use crate::core::pseudonym_id::PseudonymId;
use crate::formats::disclosure::{CLOCK_SKEW_SECS, MAX_PRESENTATION_BYTES, VerifyError};
use crate::formats::keys::public_key::P256PublicKey;

/// ecdsa-with-SHA256, the only signature our CA makes.
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Our CA, parsed once: its subject (DER) and public key (SEC1).
#[derive(Debug, Clone)]
pub struct TrustAnchor {
    subject_der: Vec<u8>,
    public_key: Vec<u8>,
}

impl TrustAnchor {
    pub fn from_ca_der(der: &[u8]) -> Result<Self, String> {
        let ca = Certificate::from_der(der).map_err(|e| format!("CA certificate: {e}"))?;
        let tbs = ca.tbs_certificate();
        Ok(Self {
            subject_der: tbs.subject().to_der().map_err(|e| format!("CA subject: {e}"))?,
            public_key: tbs.subject_public_key_info().subject_public_key.raw_bytes().to_vec(),
        })
    }
}

/// A linked certificate that chains to our CA.
#[derive(Debug, Clone)]
pub struct LinkedCertificate {
    pub key: P256PublicKey,
    /// `name` (CN), `user_uri` (SAN URI), `email` (SAN rfc822Name), when present.
    pub claims: Map<String, Value>,
}

/// Verifies the leaf of a PEM chain (leaf first) or the standard base64 of
/// one DER certificate. `pseudonym_prefix` marks pseudonym certificates,
/// which disclose nothing and are refused as the wrong type.
pub fn verify(
    presentation: &str,
    anchors: &[TrustAnchor],
    pseudonym_prefix: &str,
    now: i64,
) -> Result<LinkedCertificate, VerifyError> {
    if presentation.len() > MAX_PRESENTATION_BYTES {
        return Err(VerifyError::TooLarge("presentation"));
    }
    let der = leaf_der(presentation)?;
    let cert = verify_issued(&der, anchors, now)?;
    let tbs = cert.tbs_certificate();
    let spki = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    let key = P256PublicKey::from_sec1(spki)
        .map_err(|_| VerifyError::Malformed("the certified key is not P-256"))?;
    let claims = identity_claims(&cert, pseudonym_prefix)?;
    Ok(LinkedCertificate { key, claims })
}

/// Parses an end-entity certificate and checks it was issued by one of our
/// CAs (the current one or a retired one still trusted):
/// issuer name, ECDSA P-256 signature over the TBS DER, validity (with clock
/// skew) and CA:FALSE. Shared by linked disclosures and MLS credentials.
pub fn verify_issued(
    der: &[u8],
    anchors: &[TrustAnchor],
    now: i64,
) -> Result<Certificate, VerifyError> {
    let cert = Certificate::from_der(der)
        .map_err(|_| VerifyError::Malformed("not a DER X.509 certificate"))?;
    let tbs = cert.tbs_certificate();
    if cert.signature_algorithm().oid != ECDSA_WITH_SHA256
        || tbs.signature().oid != ECDSA_WITH_SHA256
    {
        return Err(VerifyError::UnsupportedAlg);
    }
    let issuer = tbs.issuer().to_der().map_err(|_| VerifyError::Malformed("issuer name"))?;
    let mut named = anchors.iter().filter(|anchor| anchor.subject_der == issuer).peekable();
    if named.peek().is_none() {
        return Err(VerifyError::UnknownIssuerKey);
    }
    let signed = tbs.to_der().map_err(|_| VerifyError::Malformed("certificate body"))?;
    let signature = cert.signature().as_bytes().ok_or(VerifyError::IssuerSignatureInvalid)?;
    // A rotated CA keeps its name, so every CA of that name is tried.
    if !named.any(|anchor| {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &anchor.public_key)
            .verify(&signed, signature)
            .is_ok()
    }) {
        return Err(VerifyError::IssuerSignatureInvalid);
    }
    check_validity(&cert, now)?;
    let is_ca = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|_| VerifyError::Malformed("basicConstraints"))?
        .is_some_and(|(_, constraints)| constraints.ca);
    if is_ca {
        return Err(VerifyError::WrongTyp);
    }
    Ok(cert)
}

/// The first certificate of a PEM text, or the decoded base64 DER.
fn leaf_der(presentation: &str) -> Result<Vec<u8>, VerifyError> {
    if presentation.contains("-----BEGIN") {
        let blocks =
            pem::parse_many(presentation).map_err(|_| VerifyError::Malformed("PEM chain"))?;
        let leaf = blocks.into_iter().next().ok_or(VerifyError::Malformed("empty PEM chain"))?;
        if leaf.tag() != "CERTIFICATE" {
            return Err(VerifyError::Malformed("the first PEM block is not a certificate"));
        }
        Ok(leaf.into_contents())
    } else {
        Base64::decode_vec(presentation.trim())
            .map_err(|_| VerifyError::Malformed("neither PEM nor standard base64 DER"))
    }
}

fn check_validity(cert: &Certificate, now: i64) -> Result<(), VerifyError> {
    let validity = cert.tbs_certificate().validity();
    let seconds = |time: x509_cert::time::Time| {
        i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    if now >= seconds(validity.not_after).saturating_add(CLOCK_SKEW_SECS) {
        return Err(VerifyError::Expired);
    }
    if now.saturating_add(CLOCK_SKEW_SECS) < seconds(validity.not_before) {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

/// CN and SAN as claims. A SAN URI that is one of our pseudonym URIs (the
/// prefix and a pseudonym id) means this is the pseudonym certificate
/// itself, not a linked identity.
fn identity_claims(
    cert: &Certificate,
    pseudonym_prefix: &str,
) -> Result<Map<String, Value>, VerifyError> {
    let tbs = cert.tbs_certificate();
    let mut claims = Map::new();
    if let Some(name) =
        tbs.subject().common_name().map_err(|_| VerifyError::Malformed("subject common name"))?
    {
        claims.insert("name".into(), Value::String(String::from(name)));
    }
    let names = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|_| VerifyError::Malformed("subjectAltName"))?
        .map(|(_, san)| san.0)
        .unwrap_or_default();
    for name in names {
        let (claim, value) = match name {
            GeneralName::UniformResourceIdentifier(uri) => ("user_uri", uri.to_string()),
            GeneralName::Rfc822Name(email) => ("email", email.to_string()),
            _ => continue,
        };
        // A pseudonym's URI: this is a pseudonym certificate (its own or a
        // further client's), which discloses nothing. Under `/u/` a user
        // URI shares the prefix and differs in shape only (a user URI is
        // never issued in a pseudonym id's shape, `claims::UriPrefixes`).
        if claim == "user_uri" && PseudonymId::from_uri(&value, pseudonym_prefix).is_some() {
            return Err(VerifyError::WrongTyp);
        }
        if claims.insert(claim.into(), Value::String(value)).is_some() {
            return Err(VerifyError::Malformed("a subjectAltName kind appears twice"));
        }
    }
    Ok(claims)
}
