//! The linked X.509 disclosure (draft-mahy-mimi-pseudonyms §4.1): a second
//! certificate from the pseudonym CA for the *same* public key as the
//! pseudonym certificate, naming the real identity. Possession of the MLS
//! leaf key proves it belongs to the member using the pseudonym.

use rcgen::{SanType, SerialNumber};

use super::x509::{PseudonymCa, X509Error};
use crate::formats::keys::public_key::P256PublicKey;

/// Longest CN (RFC 5280 `ub-common-name`), in characters.
pub const MAX_COMMON_NAME_CHARS: usize = 64;

/// What the linked certificate says: CN = display name (UTF8String, any
/// script), SAN URI = real user URI, SAN rfc822Name = email.
#[derive(Debug, Clone, Copy)]
pub struct LinkedIdentity<'a> {
    pub name: &'a str,
    pub user_uri: Option<&'a str>,
    pub email: Option<&'a str>,
}

/// Issues the linked certificate (DER) with serial `serial` (see
/// [`new_serial`]; the issuer records it, so the CRL can list it). IA5 names
/// must be ASCII; callers validate that first, so an error here is a caller
/// bug or a CA failure.
pub fn issue(
    ca: &PseudonymCa,
    identity: &LinkedIdentity<'_>,
    key: &P256PublicKey,
    (not_before, not_after): (i64, i64),
    serial: &[u8; 16],
) -> Result<Vec<u8>, X509Error> {
    let mut names = Vec::new();
    if let Some(uri) = identity.user_uri {
        let uri = uri.try_into().map_err(|_| X509Error::Field("user_uri is not ASCII".into()))?;
        names.push(SanType::URI(uri));
    }
    if let Some(email) = identity.email {
        let email = email.try_into().map_err(|_| X509Error::Field("email is not ASCII".into()))?;
        names.push(SanType::Rfc822Name(email));
    }
    let serial = SerialNumber::from_slice(serial);
    ca.issue_end_entity(identity.name, names, key, (not_before, not_after), Vec::new(), serial)
}

/// A fresh serial for a linked certificate: 127 random bits.
pub fn new_serial() -> Result<[u8; 16], X509Error> {
    let serial = super::x509::random_serial()?;
    serial.as_ref().try_into().map_err(|_| X509Error::Random)
}
