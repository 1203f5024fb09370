//! Client-supplied P-256 public keys: parsed once, validated strictly, then
//! carried as SEC1 bytes so no curve-crate type crosses a module boundary
//! (openmls and x509-cert pin different RustCrypto generations).

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};

/// Why a client key was refused; each maps to one problem type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the key must be an EC JWK on curve P-256")]
    UnsupportedKeyType,
    #[error("the JWK coordinate `{0}` is not 32 bytes of base64url")]
    BadCoordinate(&'static str),
    #[error("the point is not on the P-256 curve")]
    NotOnCurve,
    #[error("the key is not a valid SEC1 P-256 public key")]
    BadEncoding,
}

/// A public JWK as clients send it. Only EC P-256 is accepted; `d` (a private
/// key) is refused by `deny_unknown_fields` so a confused client cannot leak one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// A validated P-256 public key, held as the 65-byte uncompressed SEC1 point
/// (`04 || X || Y`), which is also the MLS `signature_key` encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct P256PublicKey([u8; 65]);

impl std::fmt::Debug for P256PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P256PublicKey({})", Base64UrlUnpadded::encode_string(&self.0[1..9]))
    }
}

impl P256PublicKey {
    /// Accepts compressed or uncompressed SEC1; refuses the identity point and
    /// points off the curve (p256 checks both).
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        let key = p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| {
            if bytes.len() == 65 && bytes.first() == Some(&4) {
                KeyError::NotOnCurve
            } else {
                KeyError::BadEncoding
            }
        })?;
        let point = key.to_sec1_bytes();
        let mut out = [0u8; 65];
        if point.len() == 65 {
            out.copy_from_slice(&point);
            Ok(Self(out))
        } else {
            // p256 returns compressed points for keys parsed from compressed form.
            let uncompressed = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&key, false);
            out.copy_from_slice(uncompressed.as_bytes());
            Ok(Self(out))
        }
    }

    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        if jwk.kty != "EC" || jwk.crv.as_deref() != Some("P-256") {
            return Err(KeyError::UnsupportedKeyType);
        }
        let x = coordinate(jwk.x.as_deref(), "x")?;
        let y = coordinate(jwk.y.as_deref(), "y")?;
        let mut sec1 = [0u8; 65];
        sec1[0] = 4;
        sec1[1..33].copy_from_slice(&x);
        sec1[33..].copy_from_slice(&y);
        p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| KeyError::NotOnCurve)?;
        Ok(Self(sec1))
    }

    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(Base64UrlUnpadded::encode_string(&self.0[1..33])),
            y: Some(Base64UrlUnpadded::encode_string(&self.0[33..])),
            kid: None,
            alg: None,
            use_: None,
        }
    }

    /// Uncompressed SEC1 point, the MLS `signature_key` and X.509 SPKI bit string.
    pub fn sec1(&self) -> &[u8; 65] {
        &self.0
    }

    pub fn x(&self) -> &[u8] {
        &self.0[1..33]
    }

    pub fn y(&self) -> &[u8] {
        &self.0[33..]
    }

    /// Verifies a raw `r || s` ES256 signature (JWS, COSE).
    pub fn verify_es256(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl rcgen::PublicKeyData for P256PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

fn coordinate(value: Option<&str>, name: &'static str) -> Result<[u8; 32], KeyError> {
    let mut out = [0u8; 32];
    let decoded = Base64UrlUnpadded::decode(value.ok_or(KeyError::BadCoordinate(name))?, &mut out)
        .map_err(|_| KeyError::BadCoordinate(name))?;
    if decoded.len() != 32 {
        return Err(KeyError::BadCoordinate(name));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated() -> P256PublicKey {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        P256PublicKey::from_sec1(ring::signature::KeyPair::public_key(&pair).as_ref()).unwrap()
    }

    #[test]
    fn jwk_round_trip() {
        let key = generated();
        assert_eq!(P256PublicKey::from_jwk(&key.to_jwk()).unwrap(), key);
    }

    #[test]
    fn point_off_curve_is_refused() {
        let mut jwk = generated().to_jwk();
        let mut y = [0u8; 32];
        Base64UrlUnpadded::decode(jwk.y.as_deref().unwrap(), &mut y).unwrap();
        y[31] ^= 1;
        jwk.y = Some(Base64UrlUnpadded::encode_string(&y));
        assert_eq!(P256PublicKey::from_jwk(&jwk), Err(KeyError::NotOnCurve));
    }

    #[test]
    fn other_curves_and_identity_are_refused() {
        let mut jwk = generated().to_jwk();
        jwk.crv = Some("P-384".into());
        assert_eq!(P256PublicKey::from_jwk(&jwk), Err(KeyError::UnsupportedKeyType));
        assert!(P256PublicKey::from_sec1(&[0u8]).is_err());
        let zero = P256PublicKey::from_jwk(&Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(Base64UrlUnpadded::encode_string(&[0u8; 32])),
            y: Some(Base64UrlUnpadded::encode_string(&[0u8; 32])),
            kid: None,
            alg: None,
            use_: None,
        });
        assert_eq!(zero, Err(KeyError::NotOnCurve));
    }
}
