//! Trusted issuer public keys, looked up by key id so that rotation works: a
//! verifier trusts every key it lists, old and new, and each credential names
//! its key in the `kid` header.

use ring::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, UnparsedPublicKey};

use crate::formats::keys::public_key::{KeyError, P256PublicKey};

/// Uncompressed SEC1 P-384 point length (`04 || X || Y`).
const P384_SEC1_LEN: usize = 97;

/// Signature algorithms accepted from issuers. The algorithm is a property of
/// the trusted key, never taken from the token's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerAlg {
    /// ECDSA P-256 with SHA-256 (JOSE `ES256`; COSE ESP256 -9, or -7).
    Es256,
    /// ECDSA P-384 with SHA-384 (COSE ESP384 -51, or -35); accepted for SD-CWT only.
    Es384,
}

/// COSE algorithm ids (RFC 9053, RFC 9864).
const ES256: i64 = -7;
const ESP256: i64 = -9;
const ES384: i64 = -35;
const ESP384: i64 = -51;

impl IssuerAlg {
    /// Whether a COSE `alg` header may name this key's algorithm. The fully
    /// specified id (RFC 9864; the SD-CWT draft requires one) is what veil
    /// issues; the polymorphic one stays accepted for credentials issued
    /// before the switch and by issuers that have not made it yet.
    pub(crate) fn accepts_cose_alg(self, alg: i64) -> bool {
        match self {
            Self::Es256 => alg == ESP256 || alg == ES256,
            Self::Es384 => alg == ESP384 || alg == ES384,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerKey {
    kid: String,
    alg: IssuerAlg,
    sec1: Vec<u8>,
}

impl IssuerKey {
    pub fn es256(kid: impl Into<String>, key: &P256PublicKey) -> Self {
        Self { kid: kid.into(), alg: IssuerAlg::Es256, sec1: key.sec1().to_vec() }
    }

    /// An ES384 key from its uncompressed SEC1 point. ring checks that the
    /// point is on the curve when verifying; a bad point never verifies.
    pub fn es384(kid: impl Into<String>, sec1: &[u8]) -> Result<Self, KeyError> {
        if sec1.len() != P384_SEC1_LEN || sec1.first() != Some(&4) {
            return Err(KeyError::BadEncoding);
        }
        Ok(Self { kid: kid.into(), alg: IssuerAlg::Es384, sec1: sec1.to_vec() })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> IssuerAlg {
        self.alg
    }

    /// Verifies a raw `r || s` signature (JWS and COSE encoding).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg = match self.alg {
            IssuerAlg::Es256 => &ECDSA_P256_SHA256_FIXED,
            IssuerAlg::Es384 => &ECDSA_P384_SHA384_FIXED,
        };
        UnparsedPublicKey::new(alg, &self.sec1).verify(message, signature).is_ok()
    }
}

/// Where verifiers look up an issuer key by the `kid` of a credential.
pub trait IssuerKeys {
    fn find(&self, kid: &[u8]) -> Option<&IssuerKey>;
}

impl IssuerKeys for [IssuerKey] {
    fn find(&self, kid: &[u8]) -> Option<&IssuerKey> {
        self.iter().find(|key| key.kid.as_bytes() == kid)
    }
}

impl IssuerKeys for Vec<IssuerKey> {
    fn find(&self, kid: &[u8]) -> Option<&IssuerKey> {
        self.as_slice().find(kid)
    }
}
