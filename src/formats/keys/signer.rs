//! Issuer signing keys. Every format (X.509 via rcgen, SD-JWT, SD-CWT, audit
//! checkpoints) signs through ring: it is ~5x faster than RustCrypto here, and
//! the parsed key stays in memory so no request re-parses a PEM.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use zeroize::Zeroizing;

use super::public_key::P256PublicKey;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the signing key could not be parsed: {0}")]
    BadKey(String),
    #[error("the signature could not be produced")]
    Failed,
}

/// An ES256 key producing raw `r || s` signatures (JWS and COSE encoding).
/// The private half is never printed: `Debug` shows only the key id.
pub struct Es256Signer {
    kid: String,
    pair: EcdsaKeyPair,
    public: P256PublicKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Signer").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Es256Signer {
    /// Generates a fresh key and returns it with its PKCS#8 DER for storage.
    pub fn generate(kid: impl Into<String>) -> Result<(Self, Zeroizing<Vec<u8>>), SignError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| SignError::Failed)?;
        let der = Zeroizing::new(pkcs8.as_ref().to_vec());
        Ok((Self::from_pkcs8(kid, &der)?, der))
    }

    pub fn from_pkcs8(kid: impl Into<String>, pkcs8_der: &[u8]) -> Result<Self, SignError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der, &rng)
            .map_err(|e| SignError::BadKey(e.to_string()))?;
        let public = P256PublicKey::from_sec1(pair.public_key().as_ref())
            .map_err(|e| SignError::BadKey(e.to_string()))?;
        Ok(Self { kid: kid.into(), pair, public, rng })
    }

    /// Loads a stored key; its id is derived from the public key (`key_id`).
    pub fn load(pkcs8_der: &[u8]) -> Result<Self, SignError> {
        let mut signer = Self::from_pkcs8("", pkcs8_der)?;
        signer.kid = super::key_id(&signer.public);
        Ok(signer)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> &P256PublicKey {
        &self.public
    }

    /// Signs `message` (hashing it with SHA-256) and returns the 64-byte `r || s`.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let signature = self.pair.sign(&self.rng, message).map_err(|_| SignError::Failed)?;
        signature.as_ref().try_into().map_err(|_| SignError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_with_public_key() {
        let (signer, der) = Es256Signer::generate("k1").unwrap();
        let sig = signer.sign(b"hello").unwrap();
        assert!(signer.public_key().verify_es256(b"hello", &sig));
        assert!(!signer.public_key().verify_es256(b"hellp", &sig));
        let again = Es256Signer::from_pkcs8("k1", &der).unwrap();
        assert_eq!(again.public_key(), signer.public_key());
        assert!(!format!("{signer:?}").contains(&format!("{:?}", der.as_slice())));
    }
}
