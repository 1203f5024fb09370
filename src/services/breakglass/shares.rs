//! Custodian shares of the break-glass key: Shamir over GF(256) (vsss-rs),
//! each share sealed under its custodian's passphrase like a key file.
//! Combining fewer shares than the threshold does not fail in Shamir, it
//! silently yields a wrong key; so every share file records the threshold
//! and the set it belongs to, and [`combine`] refuses short or mixed sets
//! before combining.

use std::collections::BTreeSet;
use std::convert::Infallible;

use base64ct::{Base64, Encoding};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use vsss_rs::Gf256;
use zeroize::{Zeroize, Zeroizing};

use super::custody::{CustodyError, open_sealed, seal_key};

const FORMAT: &str = "veil-break-glass-share-v1";

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("a threshold must be 2..=N and N at most 255 (got {threshold} of {total})")]
    BadCounts { threshold: usize, total: usize },
    #[error("{given} share(s) given but {threshold} are needed")]
    TooFew { given: usize, threshold: usize },
    #[error("the shares do not belong to one split of one key")]
    Mixed,
    #[error("the same share was given twice")]
    Duplicate,
    #[error("not a break-glass share file")]
    Malformed,
    #[error("secret sharing failed")]
    Sharing,
    #[error(transparent)]
    Custody(#[from] CustodyError),
}

/// One custodian's share file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareFile {
    format: String,
    /// Random id of the split: shares of different splits never combine.
    set: String,
    threshold: usize,
    total: usize,
    /// The share, sealed under the custodian's passphrase (a key-file document).
    sealed: String,
}

/// A CSPRNG for vsss-rs: HMAC-SHA256 in counter mode under a key drawn
/// from the OS once (fallibly, up front), so drawing from it cannot fail.
struct HmacDrbg {
    key: hmac::Key,
    counter: u64,
}

impl HmacDrbg {
    fn new() -> Result<Self, ShareError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(seed.as_mut()).map_err(|_| ShareError::Sharing)?;
        Ok(Self { key: hmac::Key::new(hmac::HMAC_SHA256, seed.as_ref()), counter: 0 })
    }
}

impl rand_core_010::TryRng for HmacDrbg {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(32) {
            self.counter += 1;
            let block = hmac::sign(&self.key, &self.counter.to_be_bytes());
            // A chunk is at most 32 bytes, an HMAC-SHA256 block exactly 32.
            for (byte, random) in chunk.iter_mut().zip(block.as_ref()) {
                *byte = *random;
            }
        }
        Ok(())
    }
}

impl rand_core_010::TryCryptoRng for HmacDrbg {}

/// Splits `key` into `total` share files, `threshold` of which rebuild it;
/// share `i` is sealed under `passphrases[i]`.
pub fn split(
    key: &[u8],
    threshold: usize,
    passphrases: &[Zeroizing<String>],
) -> Result<Vec<ShareFile>, ShareError> {
    let total = passphrases.len();
    if threshold < 2 || threshold > total || total > 255 {
        return Err(ShareError::BadCounts { threshold, total });
    }
    let shares = Gf256::split_bytes(threshold, total, key, HmacDrbg::new()?)
        .map_err(|_| ShareError::Sharing)?;
    let mut set = [0u8; 16];
    SystemRandom::new().fill(&mut set).map_err(|_| ShareError::Sharing)?;
    let set = set.iter().map(|b| format!("{b:02x}")).collect::<String>();
    shares
        .into_iter()
        .zip(passphrases)
        .map(|(share, passphrase)| {
            let share = Zeroizing::new(share);
            Ok(ShareFile {
                format: FORMAT.into(),
                set: set.clone(),
                threshold,
                total,
                sealed: seal_key(&share, passphrase)?,
            })
        })
        .collect()
}

impl ShareFile {
    pub fn parse(text: &str) -> Result<Self, ShareError> {
        let file: Self = serde_json::from_str(text).map_err(|_| ShareError::Malformed)?;
        if file.format != FORMAT {
            return Err(ShareError::Malformed);
        }
        Ok(file)
    }

    pub fn to_json(&self) -> Result<String, ShareError> {
        serde_json::to_string_pretty(self).map_err(|_| ShareError::Malformed)
    }
}

/// An opened share as a custodian submits it with an approval: the share
/// (base64) with the threshold and split it belongs to. Zeroized on drop.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmittedShare {
    pub set: String,
    pub threshold: usize,
    pub total: usize,
    pub share: String,
}

impl std::fmt::Debug for SubmittedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmittedShare").field("set", &self.set).finish_non_exhaustive()
    }
}

impl Drop for SubmittedShare {
    fn drop(&mut self) {
        self.share.zeroize();
    }
}

impl ShareFile {
    /// Opens the share with its custodian's passphrase.
    pub fn open(&self, passphrase: &str) -> Result<SubmittedShare, ShareError> {
        let share = open_sealed(&self.sealed, passphrase)?;
        Ok(SubmittedShare {
            set: self.set.clone(),
            threshold: self.threshold,
            total: self.total,
            share: Base64::encode_string(&share),
        })
    }
}

/// Rebuilds the key from share files and their passphrases.
pub fn combine(
    shares: &[(ShareFile, Zeroizing<String>)],
) -> Result<Zeroizing<Vec<u8>>, ShareError> {
    let opened = shares
        .iter()
        .map(|(file, passphrase)| file.open(passphrase))
        .collect::<Result<Vec<_>, _>>()?;
    combine_submitted(&opened)
}

/// Rebuilds the key from opened shares. Refuses fewer than the recorded
/// threshold, shares of different splits and duplicates before combining
/// (a short set would otherwise give a wrong key).
pub fn combine_submitted(shares: &[SubmittedShare]) -> Result<Zeroizing<Vec<u8>>, ShareError> {
    let first = shares.first().ok_or(ShareError::TooFew { given: 0, threshold: 2 })?;
    let (set, threshold, total) = (&first.set, first.threshold, first.total);
    if shares.iter().any(|s| &s.set != set || s.threshold != threshold || s.total != total) {
        return Err(ShareError::Mixed);
    }
    if shares.len() < threshold {
        return Err(ShareError::TooFew { given: shares.len(), threshold });
    }
    let bytes = shares
        .iter()
        .map(|s| Base64::decode_vec(&s.share).map_err(|_| ShareError::Malformed))
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = Zeroizing::new(bytes);
    let ids: BTreeSet<u8> = bytes.iter().filter_map(|s| s.first().copied()).collect();
    if ids.len() != bytes.len() {
        return Err(ShareError::Duplicate);
    }
    Gf256::combine_bytes(bytes.as_slice()).map(Zeroizing::new).map_err(|_| ShareError::Sharing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize) -> Vec<Zeroizing<String>> {
        (0..n).map(|i| Zeroizing::new(format!("custodian {i}"))).collect()
    }

    #[test]
    fn k_shares_rebuild_the_key_and_k_minus_one_are_refused() {
        let key = [42u8; 32];
        let files = split(&key, 3, &words(5)).unwrap();
        let texts: Vec<String> = files.iter().map(|f| f.to_json().unwrap()).collect();
        let pick = |idx: &[usize]| -> Vec<(ShareFile, Zeroizing<String>)> {
            idx.iter()
                .map(|&i| {
                    (ShareFile::parse(&texts[i]).unwrap(), Zeroizing::new(format!("custodian {i}")))
                })
                .collect()
        };
        assert_eq!(combine(&pick(&[0, 2, 4])).unwrap().as_slice(), &key);
        assert_eq!(combine(&pick(&[4, 1, 3])).unwrap().as_slice(), &key);
        assert!(matches!(
            combine(&pick(&[0, 2])),
            Err(ShareError::TooFew { given: 2, threshold: 3 })
        ));
        assert!(matches!(combine(&pick(&[0, 0, 1])), Err(ShareError::Duplicate)));
        let mut wrong = pick(&[0, 1, 2]);
        wrong[1].1 = Zeroizing::new("guess".into());
        assert!(matches!(combine(&wrong), Err(ShareError::Custody(CustodyError::WrongPassphrase))));
        let other = split(&key, 3, &words(5)).unwrap();
        let mut mixed = pick(&[0, 1]);
        mixed.push((other.into_iter().nth(2).unwrap(), Zeroizing::new("custodian 2".into())));
        assert!(matches!(combine(&mixed), Err(ShareError::Mixed)));
        assert!(matches!(split(&key, 1, &words(3)), Err(ShareError::BadCounts { .. })));
    }
}
