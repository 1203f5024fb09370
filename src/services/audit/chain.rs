//! The audit entries: one canonical encoding, hashed two ways. Each entry
//! is a leaf of the RFC 9162 Merkle tree that signed checkpoints commit to
//! ([`super::merkle`], [`super::note`]), and it also carries the
//! `prev_hash` chain it was appended with, which names the first altered
//! entry of an export. Pure functions shared by the audit service (which
//! hashes each entry when the store appends it, through
//! `store::AuditLink`), the API and `veilctl audit verify`.

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};

use super::merkle::{self, Hash};

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// One chained entry as stored and as served. `target` names a record
/// (pseudonym URI, request id, remedy id, client id), never an account;
/// `sealed` (base64) exists only on a reveal entry. Hashes are base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub case_id: Option<String>,
    pub justification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields an entry's hash covers (everything but the hashes).
#[derive(Debug, Clone, Copy)]
pub struct EntryFields<'a> {
    pub seq: i64,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub case_id: Option<&'a str>,
    pub justification: &'a str,
    pub sealed: Option<&'a [u8]>,
}

impl<'a> EntryFields<'a> {
    /// Length-prefixed, fixed-order encoding: no two different entries
    /// encode the same (a field boundary cannot be shifted).
    fn canonical(&self) -> Vec<u8> {
        fn bytes(out: &mut Vec<u8>, value: &[u8]) {
            out.extend_from_slice(&(value.len() as u64).to_be_bytes());
            out.extend_from_slice(value);
        }
        fn optional(out: &mut Vec<u8>, value: Option<&[u8]>) {
            match value {
                None => out.push(0),
                Some(value) => {
                    out.push(1);
                    bytes(out, value);
                }
            }
        }
        let mut out = b"veil audit v1\0".to_vec();
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        bytes(&mut out, self.actor.as_bytes());
        bytes(&mut out, self.action.as_bytes());
        bytes(&mut out, self.target.as_bytes());
        optional(&mut out, self.case_id.map(str::as_bytes));
        bytes(&mut out, self.justification.as_bytes());
        optional(&mut out, self.sealed);
        out
    }

    /// The fields of a served entry (`sealed` decoded by the caller).
    pub fn of(entry: &'a AuditEntry, sealed: Option<&'a [u8]>) -> Self {
        EntryFields {
            seq: entry.seq,
            at: entry.at,
            actor: &entry.actor,
            action: &entry.action,
            target: &entry.target,
            case_id: entry.case_id.as_deref(),
            justification: &entry.justification,
            sealed,
        }
    }

    /// The entry's leaf in the audit Merkle tree: `SHA-256(0x00 || canonical
    /// entry)`. The canonical form includes `seq`, so a leaf cannot move.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.canonical())
    }

    /// `SHA-256(prev_hash || canonical entry)`.
    pub fn hash(&self, prev_hash: &[u8]) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(prev_hash);
        ctx.update(&self.canonical());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }
}

/// Why the chain does not hold, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error(
        "entry {found} is out of sequence (expected {expected}): an entry was deleted, reordered or inserted"
    )]
    Sequence { expected: i64, found: i64 },
    #[error(
        "entry {seq} does not follow the entry before it (prev_hash differs): the chain was cut or reordered"
    )]
    Link { seq: i64 },
    #[error("entry {seq} was altered (its hash does not match its content)")]
    Altered { seq: i64 },
    #[error("entry {seq} is malformed: {what}")]
    Malformed { seq: i64, what: &'static str },
}

/// Follows the chain through `entries`, which continue from `(seq, hash)`
/// of the entry before them (`(0, GENESIS)` from the start). Returns the
/// new head. `progress` is called once per entry checked.
pub fn verify_entries(
    start: (i64, [u8; 32]),
    entries: &[AuditEntry],
    mut progress: impl FnMut(usize),
) -> Result<(i64, [u8; 32]), ChainError> {
    let (mut seq, mut head) = start;
    for (index, entry) in entries.iter().enumerate() {
        if entry.seq != seq + 1 {
            return Err(ChainError::Sequence { expected: seq + 1, found: entry.seq });
        }
        let prev = decode_hash(&entry.prev_hash)
            .ok_or(ChainError::Malformed { seq: entry.seq, what: "prev_hash" })?;
        if prev != head {
            return Err(ChainError::Link { seq: entry.seq });
        }
        let sealed = sealed_bytes(entry)?;
        let hash = EntryFields::of(entry, sealed.as_deref()).hash(&head);
        let stored = decode_hash(&entry.hash)
            .ok_or(ChainError::Malformed { seq: entry.seq, what: "hash" })?;
        if hash != stored {
            return Err(ChainError::Altered { seq: entry.seq });
        }
        seq = entry.seq;
        head = hash;
        progress(index + 1);
    }
    Ok((seq, head))
}

/// A served entry's sealed account (base64), decoded.
fn sealed_bytes(entry: &AuditEntry) -> Result<Option<Vec<u8>>, ChainError> {
    entry
        .sealed
        .as_deref()
        .map(Base64::decode_vec)
        .transpose()
        .map_err(|_| ChainError::Malformed { seq: entry.seq, what: "sealed" })
}

pub fn decode_hash(text: &str) -> Option<[u8; 32]> {
    Base64::decode_vec(text).ok()?.try_into().ok()
}

/// The RFC 9162 leaf hashes of `entries`, in order: each entry's canonical
/// encoding is its leaf (the `prev_hash` chain stays outside the tree).
pub fn leaf_hashes(entries: &[AuditEntry]) -> Result<Vec<Hash>, ChainError> {
    entries
        .iter()
        .map(|entry| {
            let sealed = sealed_bytes(entry)?;
            Ok(EntryFields::of(entry, sealed.as_deref()).leaf_hash())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut head = GENESIS;
        (1..=n)
            .map(|seq| {
                let fields = EntryFields {
                    seq,
                    at: 1000 + seq,
                    actor: "admin",
                    action: "client.create",
                    target: "c",
                    case_id: None,
                    justification: "",
                    sealed: None,
                };
                let hash = fields.hash(&head);
                let entry = AuditEntry {
                    seq,
                    at: fields.at,
                    actor: "admin".into(),
                    action: "client.create".into(),
                    target: "c".into(),
                    case_id: None,
                    justification: String::new(),
                    sealed: None,
                    prev_hash: Base64::encode_string(&head),
                    hash: Base64::encode_string(&hash),
                };
                head = hash;
                entry
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies_and_each_tamper_is_named() {
        let entries = chain(4);
        let (seq, _) = verify_entries((0, GENESIS), &entries, |_| {}).unwrap();
        assert_eq!(seq, 4);

        let mut edited = entries.clone();
        edited[1].justification = "edited".into();
        assert_eq!(
            verify_entries((0, GENESIS), &edited, |_| {}),
            Err(ChainError::Altered { seq: 2 })
        );

        let mut deleted = entries.clone();
        deleted.remove(2);
        assert_eq!(
            verify_entries((0, GENESIS), &deleted, |_| {}),
            Err(ChainError::Sequence { expected: 3, found: 4 })
        );

        let mut swapped = entries.clone();
        swapped.swap(1, 2);
        (swapped[1].seq, swapped[2].seq) = (2, 3);
        assert_eq!(
            verify_entries((0, GENESIS), &swapped, |_| {}),
            Err(ChainError::Link { seq: 2 })
        );
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let a = EntryFields {
            seq: 1,
            at: 1,
            actor: "ab",
            action: "c",
            target: "",
            case_id: None,
            justification: "",
            sealed: None,
        };
        let b = EntryFields { actor: "a", action: "bc", ..a };
        assert_ne!(a.hash(&GENESIS), b.hash(&GENESIS));
    }
}
