//! An account's index of its pseudonyms: one value sealed under `k_ops` on
//! the account row, so a remedy reaches every pseudonym while a copy of the
//! database shows neither which pseudonyms an account has nor how many
//! (beyond the sealed length).
//!
//! The index also carries the account-wide revocations: a
//! `suspend_and_revoke` flags the entries here instead of stamping the
//! pseudonym rows, so a remedy never writes a pseudonym-side row in the
//! same transaction as an account-side one, and no shared revocation stamp
//! groups an account's pseudonyms in a dump.

use super::linkage::{AccountRef, LinkError, LinkKeys};
use super::ops_keys::OpsPurpose;
use super::pseudonym_id::{ID_LEN, PseudonymId};

/// Domain separation of the AEAD's associated data.
const AAD_LABEL: &[u8] = b"veil pseudonym index v1\0";
/// Encoding version (first plaintext byte).
const VERSION: u8 = 1;
/// One encoded entry: id, `not_after` (i64, big endian), flags.
const ENTRY_LEN: usize = ID_LEN + 8 + 1;
/// Flag bit: revoked by an account-wide remedy.
const REVOKED: u8 = 1;

/// One pseudonym of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub id: PseudonymId,
    pub not_after: i64,
    /// Revoked by an account-wide remedy (`suspend_and_revoke`, `delete`).
    pub revoked: bool,
}

impl IndexEntry {
    /// Neither revoked by the account's remedies nor expired at `now`.
    pub fn live(&self, now: i64) -> bool {
        !self.revoked && self.not_after > now
    }
}

/// The opened index. Entries past `not_after` are dropped when it is
/// sealed again: an expired pseudonym reads `expired` without it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PseudonymIndex {
    entries: Vec<IndexEntry>,
}

impl PseudonymIndex {
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    pub fn push(&mut self, entry: IndexEntry) {
        self.entries.push(entry);
    }

    /// How many entries are live at `now`.
    pub fn live(&self, now: i64) -> usize {
        self.entries.iter().filter(|e| e.live(now)).count()
    }

    /// The ids of the entries live at `now`.
    pub fn live_ids(&self, now: i64) -> Vec<PseudonymId> {
        self.entries.iter().filter(|e| e.live(now)).map(|e| e.id.clone()).collect()
    }

    /// Whether an account-wide remedy revoked `id`.
    pub fn revoked(&self, id: &PseudonymId) -> bool {
        self.entries.iter().any(|e| e.revoked && e.id == *id)
    }

    /// Flags every live entry revoked; returns the ids it flagged.
    pub fn revoke_all(&mut self, now: i64) -> Vec<PseudonymId> {
        let mut flagged = Vec::new();
        for entry in self.entries.iter_mut().filter(|e| e.live(now)) {
            entry.revoked = true;
            flagged.push(entry.id.clone());
        }
        flagged
    }

    /// Keeps only the entries `keep` accepts (e.g. drops those naming no
    /// stored pseudonym: a mint that crashed between its two transactions).
    pub fn retain(&mut self, keep: impl FnMut(&IndexEntry) -> bool) {
        self.entries.retain(keep);
    }

    /// Opens a sealed index; `None` (never sealed) is the empty index.
    pub fn open(
        link: &LinkKeys,
        account: &AccountRef,
        sealed: Option<&[u8]>,
    ) -> Result<Self, LinkError> {
        let Some(sealed) = sealed else { return Ok(Self::default()) };
        let plain = link.open_ops(OpsPurpose::PseudonymIndex, sealed, &aad(account))?;
        Self::decode(&plain).ok_or(LinkError::Open)
    }

    /// Seals the index for `account`, dropping entries expired at `now`.
    pub fn seal(
        &self,
        link: &LinkKeys,
        account: &AccountRef,
        now: i64,
    ) -> Result<Vec<u8>, LinkError> {
        link.seal_ops(OpsPurpose::PseudonymIndex, &self.encode(now), &aad(account))
    }

    fn encode(&self, now: i64) -> Vec<u8> {
        let kept = self.entries.iter().filter(|e| e.not_after > now);
        let mut out = Vec::with_capacity(1 + self.entries.len() * ENTRY_LEN);
        out.push(VERSION);
        for entry in kept {
            out.extend_from_slice(entry.id.as_str().as_bytes());
            out.extend_from_slice(&entry.not_after.to_be_bytes());
            out.push(if entry.revoked { REVOKED } else { 0 });
        }
        out
    }

    fn decode(plain: &[u8]) -> Option<Self> {
        let (&version, body) = plain.split_first()?;
        if version != VERSION || body.len() % ENTRY_LEN != 0 {
            return None;
        }
        let entries = body
            .chunks_exact(ENTRY_LEN)
            .map(|chunk| {
                let (id, rest) = chunk.split_at(ID_LEN);
                let (not_after, flags) = rest.split_at(8);
                Some(IndexEntry {
                    id: PseudonymId::parse(std::str::from_utf8(id).ok()?)?,
                    not_after: i64::from_be_bytes(not_after.try_into().ok()?),
                    revoked: flags.first()? & REVOKED != 0,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { entries })
    }
}

/// The index is bound to its account: moved to another account's row it
/// does not open.
fn aad(account: &AccountRef) -> Vec<u8> {
    let mut aad = AAD_LABEL.to_vec();
    aad.extend_from_slice(&account.0);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn keys() -> LinkKeys {
        LinkKeys::new(&[1; 32], &[2; 32]).expect("keys")
    }

    fn entry(not_after: i64) -> IndexEntry {
        let id = PseudonymId::random(&SystemRandom::new()).expect("id");
        IndexEntry { id, not_after, revoked: false }
    }

    #[test]
    fn seals_opens_and_drops_expired_entries() {
        let link = keys();
        let account = AccountRef([7; 32]);
        let mut index = PseudonymIndex::default();
        index.push(entry(100));
        index.push(entry(50));
        let sealed = index.seal(&link, &account, 60).expect("seal");
        let opened = PseudonymIndex::open(&link, &account, Some(&sealed)).expect("open");
        assert_eq!(opened.entries(), &index.entries()[..1]);
        assert_eq!(PseudonymIndex::open(&link, &account, None).expect("empty").live(0), 0);
    }

    #[test]
    fn another_accounts_row_does_not_open_it() {
        let link = keys();
        let index = PseudonymIndex { entries: vec![entry(100)] };
        let sealed = index.seal(&link, &AccountRef([7; 32]), 0).expect("seal");
        assert!(PseudonymIndex::open(&link, &AccountRef([8; 32]), Some(&sealed)).is_err());
    }

    #[test]
    fn revoking_flags_live_entries_once() {
        let mut index = PseudonymIndex { entries: vec![entry(100), entry(10)] };
        let first = index.entries()[0].id.clone();
        assert_eq!(index.revoke_all(20), vec![first.clone()]);
        assert!(index.revoked(&first));
        assert!(index.revoke_all(20).is_empty());
        assert_eq!(index.live(20), 0);
    }

    #[test]
    fn malformed_plaintext_is_refused() {
        assert!(PseudonymIndex::decode(&[]).is_none());
        assert!(PseudonymIndex::decode(&[2]).is_none());
        assert!(PseudonymIndex::decode(&[1, 0, 0]).is_none());
        let mut bad_id = vec![1];
        bad_id.extend_from_slice(&[b'!'; ENTRY_LEN]);
        assert!(PseudonymIndex::decode(&bad_id).is_none());
    }
}
