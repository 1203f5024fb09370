//! Feldman shares of the recipient key (vsss-rs): each custodian gets a
//! scalar `s_i = f(i)` of a random polynomial `f` of degree `k − 1` with
//! `f(0) = skR`; everyone may see the commitments `a_j·G` to its
//! coefficients, which fix every `V_i = s_i·G` and `skR·G = pkR`.

use p256::elliptic_curve::Group;
use p256::{ProjectivePoint, Scalar};
use serde::{Deserialize, Serialize};
use vsss_rs::{
    FeldmanVerifierSet, IdentifierPrimeField, PrimeFieldShare, ShareVerifierGroup, feldman,
};
use zeroize::Zeroize;

use super::ThresholdError;
use super::encoding;
use super::keys::{KemPublicKey, KemSecretKey};
use super::rng::OsRng;

type Verifier = ShareVerifierGroup<ProjectivePoint>;

/// A custodian's number: the x-coordinate of its share, 1..=255.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct CustodianIndex(u8);

impl CustodianIndex {
    pub fn new(index: u8) -> Option<Self> {
        (index != 0).then_some(Self(index))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    pub(super) fn scalar(self) -> IdentifierPrimeField<Scalar> {
        IdentifierPrimeField(Scalar::from(u64::from(self.0)))
    }
}

impl TryFrom<u8> for CustodianIndex {
    type Error = &'static str;

    fn try_from(index: u8) -> Result<Self, Self::Error> {
        Self::new(index).ok_or("a custodian index is 1..=255")
    }
}

impl From<CustodianIndex> for u8 {
    fn from(index: CustodianIndex) -> u8 {
        index.0
    }
}

/// One custodian's share of the recipient key. Secret: zeroized on drop,
/// never printed.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodianShare {
    pub(super) index: CustodianIndex,
    #[serde(with = "encoding::scalar")]
    pub(super) scalar: Scalar,
}

impl CustodianShare {
    pub fn index(&self) -> CustodianIndex {
        self.index
    }
}

impl Drop for CustodianShare {
    fn drop(&mut self) {
        self.scalar.zeroize();
    }
}

impl std::fmt::Debug for CustodianShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustodianShare({}, ..)", self.index.0)
    }
}

/// A custodian's public `V_i = s_i·G`, against which its partial
/// decryptions are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationPoint {
    pub index: CustodianIndex,
    #[serde(with = "encoding::point")]
    pub(super) point: ProjectivePoint,
}

/// The Feldman commitments `a_0·G, …, a_{k−1}·G`; `a_0·G` is `pkR`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeldmanCommitments(#[serde(with = "encoding::points")] Vec<ProjectivePoint>);

impl FeldmanCommitments {
    /// vsss-rs's verifier set: the generator, then the commitments.
    fn verifier_set(&self) -> Vec<Verifier> {
        std::iter::once(ProjectivePoint::generator())
            .chain(self.0.iter().copied())
            .map(Verifier::from)
            .collect()
    }

    /// The threshold `k` these commitments were made for.
    pub fn threshold(&self) -> usize {
        self.0.len()
    }

    /// The recipient public key the shares rebuild.
    pub fn recipient_key(&self) -> Result<KemPublicKey, ThresholdError> {
        let first = self.0.first().ok_or(ThresholdError::BadKey)?;
        KemPublicKey::from_bytes(&encoding::compressed(first))
    }

    /// `V_i` as the commitments fix it: lets anyone check a published
    /// verification point.
    pub fn verification_point(
        &self,
        index: CustodianIndex,
    ) -> Result<VerificationPoint, ThresholdError> {
        let set = self.verifier_set();
        let point = <Vec<Verifier> as FeldmanVerifierSet<PrimeFieldShare<Scalar>, Verifier>>::evaluate_verifier_at(&set, &index.scalar())
            .map_err(|_| ThresholdError::BadKey)?;
        Ok(VerificationPoint { index, point: point.0 })
    }
}

/// The output of the key ceremony: shares go one to each custodian, points
/// and commitments are published.
#[derive(Debug)]
pub struct Split {
    pub shares: Vec<CustodianShare>,
    pub points: Vec<VerificationPoint>,
    pub commitments: FeldmanCommitments,
}

/// Cuts `sk_r` into `n` shares, any `k` of which determine it.
pub fn split(sk_r: &KemSecretKey, k: usize, n: usize) -> Result<Split, ThresholdError> {
    if k < 2 || k > n || n > 255 {
        return Err(ThresholdError::BadCounts { k, n });
    }
    let indices: Vec<CustodianIndex> = (1..=n)
        .map(|i| u8::try_from(i).ok().and_then(CustodianIndex::new))
        .collect::<Option<_>>()
        .ok_or(ThresholdError::BadCounts { k, n })?;
    let mut sk = sk_r.scalar();
    let mut secret = IdentifierPrimeField(*sk);
    sk.zeroize();
    let mut rng = OsRng::new();
    let made = feldman::split_secret_with_participant_ids_iter::<PrimeFieldShare<Scalar>, Verifier>(
        k,
        n,
        &secret,
        None,
        &mut rng,
        indices.iter().map(|i| i.scalar()),
    );
    secret.0.zeroize();
    rng.finish()?;
    let (raw, verifiers) = made.map_err(|_| ThresholdError::Sharing)?;
    let mut shares = Vec::with_capacity(n);
    for (index, share) in indices.iter().zip(&raw) {
        if share.identifier != index.scalar() {
            return Err(ThresholdError::Sharing);
        }
        shares.push(CustodianShare { index: *index, scalar: share.value.0 });
    }
    let points = shares
        .iter()
        .map(|s| VerificationPoint {
            index: s.index,
            point: ProjectivePoint::generator() * s.scalar,
        })
        .collect();
    let commitments = FeldmanCommitments(verifiers.iter().skip(1).map(|v| v.0).collect());
    if commitments.threshold() != k {
        return Err(ThresholdError::Sharing);
    }
    Ok(Split { shares, points, commitments })
}

/// A custodian's check that its share lies on the committed polynomial.
pub fn verify_share(
    share: &CustodianShare,
    commitments: &FeldmanCommitments,
) -> Result<(), ThresholdError> {
    let set = commitments.verifier_set();
    let vsss = PrimeFieldShare::<Scalar> {
        identifier: share.index.scalar(),
        value: IdentifierPrimeField(share.scalar),
    };
    FeldmanVerifierSet::<PrimeFieldShare<Scalar>, Verifier>::verify_share(&set, &vsss)
        .map_err(|_| ThresholdError::BadShare { index: share.index.0 })
}
