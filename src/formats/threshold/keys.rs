//! DHKEM(P-256) keys in HPKE's own encodings: public keys and `enc` are
//! SEC1 uncompressed (65 bytes), private keys the 32-byte scalar.

use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{NonZeroScalar, ProjectivePoint, PublicKey, SecretKey};
use zeroize::Zeroizing;

use super::ThresholdError;
use super::rng::OsRng;

/// `Npk` of DHKEM(P-256): the length of a public key and of `enc`.
pub(super) const NPK: usize = 65;

fn uncompressed(pk: &PublicKey) -> [u8; NPK] {
    let mut out = [0u8; NPK];
    out.copy_from_slice(pk.as_affine().to_sec1_point(false).as_bytes());
    out
}

/// A recipient (break-glass) or sender (veil) public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KemPublicKey(PublicKey);

impl KemPublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ThresholdError> {
        PublicKey::from_sec1_bytes(bytes).map(Self).map_err(|_| ThresholdError::BadKey)
    }

    /// `SerializePublicKey`: SEC1 uncompressed.
    pub fn to_bytes(&self) -> [u8; NPK] {
        uncompressed(&self.0)
    }

    pub(super) fn point(&self) -> ProjectivePoint {
        self.0.to_projective()
    }
}

/// A DHKEM(P-256) private key; zeroized on drop (by `p256`).
#[derive(Clone)]
pub struct KemSecretKey(SecretKey);

impl std::fmt::Debug for KemSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KemSecretKey(..)")
    }
}

impl KemSecretKey {
    /// A fresh key from the operating system's generator.
    pub fn generate() -> Result<Self, ThresholdError> {
        let mut rng = OsRng::new();
        let scalar = NonZeroScalar::generate_from_rng(&mut rng);
        rng.finish()?;
        Ok(Self(SecretKey::from(scalar)))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ThresholdError> {
        SecretKey::from_slice(bytes).map(Self).map_err(|_| ThresholdError::BadKey)
    }

    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&Zeroizing::new(self.0.to_bytes()));
        out
    }

    pub fn public_key(&self) -> KemPublicKey {
        KemPublicKey(self.0.public_key())
    }

    pub(super) fn scalar(&self) -> NonZeroScalar {
        self.0.to_nonzero_scalar()
    }
}

/// HPKE's `enc`: the sender's ephemeral public key `E`, the first 65 bytes
/// of a `glass_link`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encapsulated(PublicKey);

impl Encapsulated {
    pub const LEN: usize = NPK;

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ThresholdError> {
        PublicKey::from_sec1_bytes(bytes)
            .ok()
            .filter(|_| bytes.len() == NPK)
            .map(Self)
            .ok_or(ThresholdError::BadKey)
    }

    pub fn to_bytes(&self) -> [u8; NPK] {
        uncompressed(&self.0)
    }

    pub(super) fn point(&self) -> ProjectivePoint {
        self.0.to_projective()
    }
}
