//! Partial decryptions and their combination: the DHKEM(P-256) `AuthDecap`
//! of RFC 9180 with `skR` applied in shares.

use std::collections::{BTreeMap, BTreeSet};

use p256::elliptic_curve::point::AffineCoordinates;
use p256::{ProjectivePoint, Scalar};
use serde::{Deserialize, Serialize};
use vsss_rs::{GroupShare, ReadableShareSet, ValueGroup};
use zeroize::Zeroizing;

use super::ThresholdError;
use super::dleq::{DleqProof, Statement, generator};
use super::encoding;
use super::keys::{Encapsulated, KemPublicKey, NPK};
use super::schedule::{extract_and_expand, key_schedule_auth, open_first};
use super::shares::{CustodianIndex, CustodianShare, VerificationPoint};

/// One custodian's contribution to opening one link: `e_i = s_i·E`,
/// `s_i_s = s_i·S`, and the proof that both use the `s_i` behind `V_i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partial {
    pub index: CustodianIndex,
    #[serde(with = "encoding::point")]
    pub(super) e_i: ProjectivePoint,
    #[serde(with = "encoding::point")]
    pub(super) s_i_s: ProjectivePoint,
    pub(super) proof: DleqProof,
}

/// What the requester opens: a link sealed Auth-mode to `pk_r` by `pk_s`.
#[derive(Clone, Copy, Debug)]
pub struct Envelope<'a> {
    pub pk_r: &'a KemPublicKey,
    pub pk_s: &'a KemPublicKey,
    pub enc: &'a Encapsulated,
    pub info: &'a [u8],
    pub aad: &'a [u8],
    pub ct: &'a [u8],
}

fn statement<'a>(
    index: CustodianIndex,
    bases: [&'a ProjectivePoint; 3],
    images: [&'a ProjectivePoint; 3],
) -> Statement<'a> {
    Statement { index: index.get(), bases, images }
}

/// A custodian's partial decryption of the link with encapsulated key
/// `enc`, sealed by the holder of `pk_s`.
pub fn partial(
    share: &CustodianShare,
    enc: &Encapsulated,
    pk_s: &KemPublicKey,
) -> Result<Partial, ThresholdError> {
    let (g, e, s) = (generator(), enc.point(), pk_s.point());
    let s_i: &Scalar = &share.scalar;
    let (v_i, e_i, s_i_s) = (g * s_i, e * s_i, s * s_i);
    let proof = DleqProof::prove(s_i, &statement(share.index, [&g, &e, &s], [&v_i, &e_i, &s_i_s]))?;
    Ok(Partial { index: share.index, e_i, s_i_s, proof })
}

/// Lagrange interpolation at 0 of `(index, point)` pairs, in the exponent.
fn interpolate(
    points: &[(CustodianIndex, ProjectivePoint)],
) -> Result<ProjectivePoint, ThresholdError> {
    let shares: Vec<GroupShare<ProjectivePoint>> = points
        .iter()
        .map(|(i, p)| GroupShare { identifier: i.scalar(), value: ValueGroup(*p) })
        .collect();
    shares.combine().map(|v| v.0).map_err(|_| ThresholdError::Sharing)
}

/// Checks every partial against its custodian's verification point,
/// combines `k` of them and opens the link. The recipient key is never
/// rebuilt: only `skR·E` and `skR·S`, which open this one link.
pub fn open_threshold(
    partials: &[Partial],
    points: &[VerificationPoint],
    k: usize,
    env: &Envelope<'_>,
) -> Result<Zeroizing<Vec<u8>>, ThresholdError> {
    let shared_secret = decapsulate(partials, points, k, env)?;
    let schedule = key_schedule_auth(shared_secret.as_slice(), env.info)?;
    open_first(&schedule, env.aad, env.ct)
}

/// `AuthDecap` from partials: the KEM shared secret of `env`.
pub(super) fn decapsulate(
    partials: &[Partial],
    points: &[VerificationPoint],
    k: usize,
    env: &Envelope<'_>,
) -> Result<Zeroizing<[u8; 32]>, ThresholdError> {
    if !(2..=255).contains(&k) {
        return Err(ThresholdError::BadCounts { k, n: points.len() });
    }
    let mut published = BTreeMap::new();
    for p in points {
        if published.insert(p.index, p.point).is_some() {
            return Err(ThresholdError::WrongCustodians);
        }
    }
    let mut seen = BTreeSet::new();
    for p in partials {
        if !seen.insert(p.index) {
            return Err(ThresholdError::DuplicatePartial { index: p.index.get() });
        }
    }
    if partials.len() < k {
        return Err(ThresholdError::NotEnough { have: partials.len(), need: k });
    }
    let (g, e, s) = (generator(), env.enc.point(), env.pk_s.point());
    let mut verified = Vec::with_capacity(partials.len());
    for p in partials {
        let v_i = published
            .get(&p.index)
            .ok_or(ThresholdError::UnknownCustodian { index: p.index.get() })?;
        if !p.proof.verify(&statement(p.index, [&g, &e, &s], [v_i, &p.e_i, &p.s_i_s])) {
            return Err(ThresholdError::BadPartial { index: p.index.get() });
        }
        verified.push((p, *v_i));
    }
    let used =
        verified.get(..k).ok_or(ThresholdError::NotEnough { have: verified.len(), need: k })?;
    let column = |f: fn(&(&Partial, ProjectivePoint)) -> ProjectivePoint| -> Vec<_> {
        used.iter().map(|u| (u.0.index, f(u))).collect()
    };
    // The same k points must rebuild pkR, or these are not its custodians
    // (or k is not its threshold) and the open below would fail anyway.
    if interpolate(&column(|u| u.1))? != env.pk_r.point() {
        return Err(ThresholdError::WrongCustodians);
    }
    let z_e = Zeroizing::new(interpolate(&column(|u| u.0.e_i))?);
    let z_s = Zeroizing::new(interpolate(&column(|u| u.0.s_i_s))?);
    // DHKEM(P-256)'s DH output is the x-coordinate of the shared point.
    let (a_e, a_s) = (Zeroizing::new(z_e.to_affine()), Zeroizing::new(z_s.to_affine()));
    let mut dh = Zeroizing::new(Vec::with_capacity(64));
    dh.extend_from_slice(&Zeroizing::new(a_e.x()));
    dh.extend_from_slice(&Zeroizing::new(a_s.x()));
    let mut kem_context = Vec::with_capacity(3 * NPK);
    kem_context.extend_from_slice(&env.enc.to_bytes());
    kem_context.extend_from_slice(&env.pk_r.to_bytes());
    kem_context.extend_from_slice(&env.pk_s.to_bytes());
    extract_and_expand(dh.as_slice(), &kem_context)
}
