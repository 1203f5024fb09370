//! HPKE mode Auth sealing, DHKEM(P-256), for a fixed recipient and sender:
//! what the online service does once per new account. `AuthEncap`'s second
//! Diffie–Hellman, `DH(skS, pkR)`, is the same for every link, so it is
//! computed once; the ephemeral one runs on ring's ECDH (the fast path the
//! signatures use), and the rest is RFC 9180's key schedule
//! (`schedule.rs`). Tested against the `hpke` crate's own open.

use p256::elliptic_curve::point::AffineCoordinates;
use ring::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use ring::rand::SystemRandom;
use zeroize::Zeroizing;

use super::ThresholdError;
use super::keys::{Encapsulated, KemPublicKey, KemSecretKey, NPK};
use super::schedule::{extract_and_expand, key_schedule_auth, seal_first};

/// Seals to one recipient as one sender, Auth mode.
pub struct AuthSealer {
    pk_r: KemPublicKey,
    pk_s: KemPublicKey,
    /// x-coordinate of `skS·pkR`: secret (it opens every link with pkR's holder).
    dh_static: Zeroizing<[u8; 32]>,
    rng: SystemRandom,
}

impl std::fmt::Debug for AuthSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthSealer(..)")
    }
}

impl AuthSealer {
    pub fn new(pk_r: &KemPublicKey, sk_s: &KemSecretKey) -> Self {
        let shared = (pk_r.point() * *sk_s.scalar()).to_affine();
        let mut dh_static = Zeroizing::new([0u8; 32]);
        dh_static.copy_from_slice(&shared.x());
        Self { pk_r: *pk_r, pk_s: sk_s.public_key(), dh_static, rng: SystemRandom::new() }
    }

    /// `(enc, ct)` of `pt`, as RFC 9180's `SealAuth(pkR, info, aad, pt, skS)`.
    pub fn seal(
        &self,
        info: &[u8],
        aad: &[u8],
        pt: &[u8],
    ) -> Result<(Encapsulated, Vec<u8>), ThresholdError> {
        let ephemeral = EphemeralPrivateKey::generate(&ECDH_P256, &self.rng)
            .map_err(|_| ThresholdError::Random)?;
        let enc = ephemeral.compute_public_key().map_err(|_| ThresholdError::Seal)?;
        let enc = Encapsulated::from_bytes(enc.as_ref())?;
        let pk_r = self.pk_r.to_bytes();
        let mut dh = Zeroizing::new(Vec::with_capacity(64));
        agree_ephemeral(ephemeral, &UnparsedPublicKey::new(&ECDH_P256, &pk_r), |x| {
            dh.extend_from_slice(x)
        })
        .map_err(|_| ThresholdError::Seal)?;
        dh.extend_from_slice(self.dh_static.as_slice());
        let mut kem_context = Vec::with_capacity(3 * NPK);
        kem_context.extend_from_slice(&enc.to_bytes());
        kem_context.extend_from_slice(&pk_r);
        kem_context.extend_from_slice(&self.pk_s.to_bytes());
        let shared_secret = extract_and_expand(dh.as_slice(), &kem_context)?;
        let schedule = key_schedule_auth(shared_secret.as_slice(), info)?;
        Ok((enc, seal_first(&schedule, aad, pt)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::threshold::open_auth;

    /// Every link this sealer makes opens with the `hpke` crate's own
    /// `open_auth` (an independent implementation), and only with the right
    /// sender, aad and info.
    #[test]
    fn what_it_seals_the_hpke_crate_opens() {
        let sk_r = KemSecretKey::generate().unwrap();
        let sk_s = KemSecretKey::generate().unwrap();
        let sealer = AuthSealer::new(&sk_r.public_key(), &sk_s);
        for pt in [&b""[..], b"alice@example.com", &[7u8; 300]] {
            let (enc, ct) = sealer.seal(b"info", b"aad", pt).unwrap();
            let opened = open_auth(&sk_r, &sk_s.public_key(), &enc, b"info", b"aad", &ct).unwrap();
            assert_eq!(opened.as_slice(), pt);
            let other = KemSecretKey::generate().unwrap().public_key();
            assert!(open_auth(&sk_r, &other, &enc, b"info", b"aad", &ct).is_err());
            assert!(open_auth(&sk_r, &sk_s.public_key(), &enc, b"info", b"dda", &ct).is_err());
            assert!(open_auth(&sk_r, &sk_s.public_key(), &enc, b"ofni", b"aad", &ct).is_err());
        }
        let (one, _) = sealer.seal(b"info", b"aad", b"x").unwrap();
        let (two, _) = sealer.seal(b"info", b"aad", b"x").unwrap();
        assert_ne!(one.to_bytes(), two.to_bytes(), "a fresh ephemeral key each time");
    }
}
