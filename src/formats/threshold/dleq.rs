//! Chaum–Pedersen proof, made non-interactive with Fiat–Shamir, that one
//! secret `s` links three pairs: `V = s·G`, `e = s·E`, `t = s·S`. The
//! challenge hashes the whole statement (suite, custodian index, every
//! point), so a proof cannot be moved to another link, sender key or
//! custodian.
//!
//! The challenge is SHA-256 reduced modulo the group order `n`. Since
//! `2^256 − n < 2^224`, at most two digests map to one scalar and the
//! challenge keeps over 255 bits of entropy; soundness needs it to be
//! unpredictable, not exactly uniform, so the bias is harmless.

use p256::elliptic_curve::Generate;
use p256::elliptic_curve::Group;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{FieldBytes, NonZeroScalar, ProjectivePoint, Scalar};
use ring::digest;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::encoding;
use super::rng::OsRng;
use super::{ThresholdError, hpke_suite_id};

const DOMAIN: &[u8] = b"veil threshold glass DLEQ v1";

/// The public part of one statement: three bases and their images.
pub(super) struct Statement<'a> {
    pub(super) index: u8,
    pub(super) bases: [&'a ProjectivePoint; 3],
    pub(super) images: [&'a ProjectivePoint; 3],
}

/// `(c, z)` with `z = r + c·s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DleqProof {
    #[serde(with = "encoding::scalar")]
    c: Scalar,
    #[serde(with = "encoding::scalar")]
    z: Scalar,
}

/// SEC1 compressed; `None` for the identity, which no honest statement or
/// commitment contains (and which would break the fixed-width transcript).
fn encode(p: &ProjectivePoint) -> Option<[u8; 33]> {
    if bool::from(p.is_identity()) {
        return None;
    }
    p.to_affine().to_sec1_point(true).as_bytes().try_into().ok()
}

fn challenge(st: &Statement<'_>, commitments: &[ProjectivePoint; 3]) -> Option<Scalar> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(DOMAIN);
    ctx.update(&hpke_suite_id());
    ctx.update(&u16::from(st.index).to_be_bytes());
    for p in st.bases.iter().chain(st.images.iter()).copied().chain(commitments.iter()) {
        ctx.update(&encode(p)?);
    }
    let mut bytes = FieldBytes::default();
    bytes.copy_from_slice(ctx.finish().as_ref());
    Some(<Scalar as Reduce<FieldBytes>>::reduce(&bytes))
}

impl DleqProof {
    /// Proves knowledge of `secret` for `st`, with a fresh nonce from the OS.
    pub(super) fn prove(secret: &Scalar, st: &Statement<'_>) -> Result<Self, ThresholdError> {
        let mut rng = OsRng::new();
        let nonce = NonZeroScalar::generate_from_rng(&mut rng);
        rng.finish()?;
        let mut r: Scalar = *nonce;
        let commitments = st.bases.map(|b| *b * r);
        let c = challenge(st, &commitments).ok_or(ThresholdError::BadKey);
        let proof = c.map(|c| Self { c, z: r + c * secret });
        r.zeroize();
        proof
    }

    pub(super) fn verify(&self, st: &Statement<'_>) -> bool {
        if st.images.iter().any(|p| bool::from(p.is_identity())) {
            return false;
        }
        let mut commitments = [ProjectivePoint::IDENTITY; 3];
        for ((commitment, base), image) in commitments.iter_mut().zip(st.bases).zip(st.images) {
            *commitment = *base * self.z - *image * self.c;
        }
        challenge(st, &commitments).is_some_and(|c| bool::from(c.ct_eq(&self.c)))
    }
}

/// The generator as a base, for statements.
pub(super) fn generator() -> ProjectivePoint {
    ProjectivePoint::generator()
}
