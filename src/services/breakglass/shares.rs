//! Custodian custody of the break-glass key, offline (`veilctl`): the key
//! ceremony cuts the P-256 recipient key into Feldman shares
//! ([`crate::formats::threshold::split`], randomness from the operating
//! system), seals each share under its custodian's passphrase, and
//! publishes the commitments (`custodians.json`). Nothing here runs in the
//! online service, and no step ever rebuilds the key: custodians open links
//! by partial decryption.
//!
//! Share files of the first format (v1: Shamir over GF(256) of the old
//! X25519 key) still parse and [`combine_legacy`] still rebuilds that key,
//! so links sealed before the P-256 suite stay openable until their
//! accounts are re-sealed.

use std::collections::BTreeSet;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use vsss_rs::Gf256;
use zeroize::Zeroizing;

use super::custody::{CustodyError, open_sealed, seal_key};
use crate::formats::glass_link::Custodians;
use crate::formats::threshold::{
    self, CustodianIndex, CustodianShare, FeldmanCommitments, KemPublicKey, KemSecretKey,
    ThresholdError,
};

const LEGACY_FORMAT: &str = "veil-break-glass-share-v1";
const FORMAT: &str = "veil-break-glass-share-v2";
const RECORD_FORMAT: &str = "veil-break-glass-custodians-v1";

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
    #[error("not a custodians record (custodians.json)")]
    MalformedRecord,
    #[error("this share file predates threshold custody (v1): it only rebuilds the old key")]
    Legacy,
    #[error("secret sharing failed")]
    Sharing,
    #[error(transparent)]
    Threshold(#[from] ThresholdError),
    #[error(transparent)]
    Custody(#[from] CustodyError),
}

/// One custodian's share file: the share sealed under the custodian's
/// passphrase, with the public facts needed to use it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareFile {
    format: String,
    /// Random id of the split: shares of different splits never combine.
    set: String,
    threshold: usize,
    total: usize,
    /// The custodian's index (v2); v1 files carry it inside the share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<CustodianIndex>,
    /// The share, sealed under the custodian's passphrase (a key-file document).
    sealed: String,
}

/// The public record of a key ceremony (`custodians.json`): the Feldman
/// commitments fix the recipient key and every custodian's verification
/// point. Holds no secret; every custodian and requester keeps a copy and
/// compares its fingerprint out of band.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodianRecord {
    format: String,
    pub set: String,
    pub threshold: usize,
    pub total: usize,
    commitments: FeldmanCommitments,
}

/// The output of a ceremony: one share file per passphrase, and the record.
pub struct Ceremony {
    pub shares: Vec<ShareFile>,
    pub record: CustodianRecord,
}

fn random_set() -> Result<String, ShareError> {
    let mut set = [0u8; 16];
    SystemRandom::new().fill(&mut set).map_err(|_| ShareError::Sharing)?;
    Ok(set.iter().map(|b| format!("{b:02x}")).collect())
}

/// Cuts `key` into `passphrases.len()` Feldman shares, `threshold` of which
/// can open links together; share `i` is sealed under `passphrases[i]`.
pub fn split(
    key: &KemSecretKey,
    threshold: usize,
    passphrases: &[Zeroizing<String>],
) -> Result<Ceremony, ShareError> {
    let total = passphrases.len();
    if threshold < 2 || threshold > total || total > 255 {
        return Err(ShareError::BadCounts { threshold, total });
    }
    let made = threshold::split(key, threshold, total)?;
    let set = random_set()?;
    let shares = made
        .shares
        .iter()
        .zip(passphrases)
        .map(|(share, passphrase)| {
            let json = Zeroizing::new(serde_json::to_vec(share).map_err(|_| ShareError::Sharing)?);
            Ok(ShareFile {
                format: FORMAT.into(),
                set: set.clone(),
                threshold,
                total,
                index: Some(share.index()),
                sealed: seal_key(&json, passphrase)?,
            })
        })
        .collect::<Result<Vec<_>, ShareError>>()?;
    let record = CustodianRecord {
        format: RECORD_FORMAT.into(),
        set,
        threshold,
        total,
        commitments: made.commitments,
    };
    Ok(Ceremony { shares, record })
}

impl ShareFile {
    pub fn parse(text: &str) -> Result<Self, ShareError> {
        let file: Self = serde_json::from_str(text).map_err(|_| ShareError::Malformed)?;
        match (file.format.as_str(), file.index) {
            (FORMAT, Some(_)) | (LEGACY_FORMAT, None) => Ok(file),
            _ => Err(ShareError::Malformed),
        }
    }

    pub fn to_json(&self) -> Result<String, ShareError> {
        serde_json::to_string_pretty(self).map_err(|_| ShareError::Malformed)
    }

    pub fn index(&self) -> Option<CustodianIndex> {
        self.index
    }

    /// Opens a v2 share with its custodian's passphrase and checks it
    /// against the ceremony's commitments (a share of another ceremony, or
    /// one altered on disk, is refused here rather than at the reveal).
    pub fn open(
        &self,
        passphrase: &str,
        record: &CustodianRecord,
    ) -> Result<CustodianShare, ShareError> {
        if self.format == LEGACY_FORMAT {
            return Err(ShareError::Legacy);
        }
        if self.set != record.set || self.threshold != record.threshold {
            return Err(ShareError::Mixed);
        }
        let json = open_sealed(&self.sealed, passphrase)?;
        let share: CustodianShare =
            serde_json::from_slice(&json).map_err(|_| ShareError::Malformed)?;
        if Some(share.index()) != self.index {
            return Err(ShareError::Malformed);
        }
        threshold::verify_share(&share, &record.commitments)?;
        Ok(share)
    }
}

impl CustodianRecord {
    pub fn parse(text: &str) -> Result<Self, ShareError> {
        let record: Self = serde_json::from_str(text).map_err(|_| ShareError::MalformedRecord)?;
        let sane = record.format == RECORD_FORMAT
            && record.commitments.threshold() == record.threshold
            && (2..=record.total).contains(&record.threshold)
            && record.total <= 255;
        if !sane {
            return Err(ShareError::MalformedRecord);
        }
        Ok(record)
    }

    pub fn to_json(&self) -> Result<String, ShareError> {
        serde_json::to_string_pretty(self).map_err(|_| ShareError::MalformedRecord)
    }

    /// The recipient public key the ceremony's shares belong to.
    pub fn recipient(&self) -> Result<KemPublicKey, ShareError> {
        Ok(self.commitments.recipient_key()?)
    }

    /// What a requester checks partials against.
    pub fn custodians(&self) -> Result<Custodians, ShareError> {
        let points = (1..=self.total)
            .map(|i| {
                let index = u8::try_from(i)
                    .ok()
                    .and_then(CustodianIndex::new)
                    .ok_or(ShareError::MalformedRecord)?;
                Ok(self.commitments.verification_point(index)?)
            })
            .collect::<Result<Vec<_>, ShareError>>()?;
        Ok(Custodians { threshold: self.threshold, recipient: self.recipient()?, points })
    }
}

/// Rebuilds the old X25519 key from v1 share files and their passphrases,
/// for links sealed before threshold custody. Refuses fewer than the
/// recorded threshold, shares of different splits and duplicates before
/// combining (a short set would otherwise give a wrong key).
pub fn combine_legacy(
    shares: &[(ShareFile, Zeroizing<String>)],
) -> Result<Zeroizing<Vec<u8>>, ShareError> {
    let (first, _) = shares.first().ok_or(ShareError::TooFew { given: 0, threshold: 2 })?;
    let (set, threshold, total) = (&first.set, first.threshold, first.total);
    if shares.iter().any(|(f, _)| f.format != LEGACY_FORMAT) {
        return Err(ShareError::Malformed);
    }
    if shares.iter().any(|(f, _)| &f.set != set || f.threshold != threshold || f.total != total) {
        return Err(ShareError::Mixed);
    }
    if shares.len() < threshold {
        return Err(ShareError::TooFew { given: shares.len(), threshold });
    }
    let opened = shares
        .iter()
        .map(|(file, passphrase)| open_sealed(&file.sealed, passphrase))
        .collect::<Result<Vec<_>, _>>()?;
    let bytes: Zeroizing<Vec<Vec<u8>>> =
        Zeroizing::new(opened.iter().map(|share| share.to_vec()).collect());
    let ids: BTreeSet<u8> = bytes.iter().filter_map(|s| s.first().copied()).collect();
    if ids.len() != bytes.len() {
        return Err(ShareError::Duplicate);
    }
    Gf256::combine_bytes(bytes.as_slice()).map(Zeroizing::new).map_err(|_| ShareError::Sharing)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::glass_link::{self, GlassSealer, SealedLink};
    use crate::formats::threshold::Partial;

    fn words(n: usize) -> Vec<Zeroizing<String>> {
        (0..n).map(|i| Zeroizing::new(format!("custodian {i}"))).collect()
    }

    /// A ceremony's files open a link through partials, `k` of `n`, with
    /// nobody rebuilding the key; the wrong passphrase, another ceremony's
    /// share and `k − 1` partials are refused.
    #[test]
    fn ceremony_shares_open_links_by_partials() {
        let key = KemSecretKey::generate().unwrap();
        let sender = KemSecretKey::generate().unwrap();
        let ceremony = split(&key, 3, &words(5)).unwrap();
        let record = CustodianRecord::parse(&ceremony.record.to_json().unwrap()).unwrap();
        assert_eq!(record.recipient().unwrap(), key.public_key());
        let files: Vec<ShareFile> = ceremony
            .shares
            .iter()
            .map(|f| ShareFile::parse(&f.to_json().unwrap()).unwrap())
            .collect();

        let sealer =
            GlassSealer::new(&key.public_key().to_bytes(), sender.to_bytes().as_slice()).unwrap();
        let aad = b"account-ref".to_vec();
        let sealed = sealer.seal("alice@example.com", &aad).unwrap();
        let link = SealedLink {
            suite: sealer.suite(),
            sealed: sealed.clone(),
            aad,
            sender: Some(sealer.sender_public()),
        };
        let enc = SealedLink::encapsulated(&sealed).unwrap();
        let partial = |i: usize| -> Partial {
            let share = files[i].open(&format!("custodian {i}"), &record).unwrap();
            threshold::partial(&share, &enc, &sealer.sender_public()).unwrap()
        };
        let custodians = record.custodians().unwrap();
        let three = [partial(4), partial(0), partial(2)];
        let account = glass_link::open_with_partials(&three, &custodians, &link).unwrap();
        assert_eq!(account.as_str(), "alice@example.com");
        assert!(glass_link::open_with_partials(&three[..2], &custodians, &link).is_err());

        assert!(matches!(
            files[1].open("guess", &record),
            Err(ShareError::Custody(CustodyError::WrongPassphrase))
        ));
        let other = split(&key, 3, &words(5)).unwrap();
        assert!(matches!(files[1].open("custodian 1", &other.record), Err(ShareError::Mixed)));
        assert!(matches!(split(&key, 1, &words(3)), Err(ShareError::BadCounts { .. })));
    }

    /// v1 share files (GF(256) Shamir of the old X25519 key) still rebuild
    /// that key for legacy links, and only with `k` of them.
    #[test]
    fn legacy_share_files_still_rebuild_the_old_key() {
        let (old_key, _) = glass_link::generate_legacy_keypair();
        let mut rng = threshold::OsRng::new();
        let raw = Gf256::split_bytes(2, 3, old_key.as_slice(), &mut rng).unwrap();
        rng.finish().unwrap();
        let files: Vec<(ShareFile, Zeroizing<String>)> = raw
            .iter()
            .zip(words(3))
            .map(|(share, words)| {
                let text = serde_json::json!({
                    "format": LEGACY_FORMAT, "set": "0011", "threshold": 2, "total": 3,
                    "sealed": seal_key(share, &words).unwrap(),
                });
                (ShareFile::parse(&text.to_string()).unwrap(), words)
            })
            .collect();
        let two = [files[2].0.to_json().unwrap(), files[0].0.to_json().unwrap()];
        let pick: Vec<_> = two
            .iter()
            .zip([files[2].1.clone(), files[0].1.clone()])
            .map(|(t, w)| (ShareFile::parse(t).unwrap(), w))
            .collect();
        assert_eq!(combine_legacy(&pick).unwrap().as_slice(), old_key.as_slice());
        assert!(matches!(
            combine_legacy(&pick[..1]),
            Err(ShareError::TooFew { given: 1, threshold: 2 })
        ));
        let record = split(&KemSecretKey::generate().unwrap(), 2, &words(2)).unwrap().record;
        assert!(matches!(files[0].0.open("custodian 0", &record), Err(ShareError::Legacy)));
    }
}
