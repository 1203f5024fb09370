//! What an auditor checks, as pure functions (`veilctl audit verify` and
//! `veilctl audit witness` run them; the tests run them too): a new
//! checkpoint against the one the auditor pinned before, with the server's
//! consistency proof, and a full log against a checkpoint. The database
//! can be rewritten and the server will sign whatever it then holds, so
//! only the pinned checkpoint, kept outside the database, catches an edit
//! that was re-hashed to the end, a cut tail or a fork.

use base64ct::{Base64, Encoding};

use super::chain::{AuditEntry, ChainError, GENESIS, leaf_hashes, verify_entries};
use super::merkle::{self, Hash};
use super::note::TreeHead;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("the checkpoint is for log `{found}`, but the pinned one is for `{pinned}`")]
    Origin { pinned: String, found: String },
    #[error(
        "the log has {size} entries but a checkpoint verified earlier covers {pinned}: the log was truncated"
    )]
    Truncated { pinned: u64, size: u64 },
    #[error(
        "the log at {size} entries has another tree head than the checkpoint verified earlier at the same size: the log was rewritten or forked"
    )]
    Fork { size: u64 },
    #[error(
        "the log at {to} entries does not extend the checkpoint verified earlier at {from} entries (no consistency proof holds): the log was rewritten"
    )]
    Inconsistent { from: u64, to: u64 },
    #[error(
        "the checkpoint covers {size} entries but only {entries} were served: the log was truncated"
    )]
    Missing { size: u64, entries: u64 },
    #[error("the entries do not hash to the signed tree head at {size}: the log was rewritten")]
    Root { size: u64 },
    #[error("the consistency proof is malformed")]
    MalformedProof,
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// The part of the check that needs no proof: same log, no shrinking, no
/// other head at the same size. `true` when `head` is larger and so needs
/// a consistency proof.
fn compare(pinned: &TreeHead, head: &TreeHead) -> Result<bool, LogError> {
    if pinned.origin != head.origin {
        return Err(LogError::Origin { pinned: pinned.origin.clone(), found: head.origin.clone() });
    }
    if head.size < pinned.size {
        return Err(LogError::Truncated { pinned: pinned.size, size: head.size });
    }
    if head.size == pinned.size {
        return if head.root == pinned.root {
            Ok(false)
        } else {
            Err(LogError::Fork { size: head.size })
        };
    }
    Ok(true)
}

/// Decodes a served proof (base64 hashes).
pub fn decode_proof(proof: &[String]) -> Result<Vec<Hash>, LogError> {
    proof
        .iter()
        .map(|h| {
            Base64::decode_vec(h)
                .ok()
                .and_then(|h| Hash::try_from(h).ok())
                .ok_or(LogError::MalformedProof)
        })
        .collect()
}

/// `head` (signature already checked) extends `pinned`: the consistency
/// proof from `pinned.size` to `head.size` holds.
pub fn check_consistency(
    pinned: &TreeHead,
    head: &TreeHead,
    proof: &[Hash],
) -> Result<(), LogError> {
    if compare(pinned, head)?
        && !merkle::verify_consistency(pinned.size, head.size, proof, &pinned.root, &head.root)
    {
        return Err(LogError::Inconsistent { from: pinned.size, to: head.size });
    }
    Ok(())
}

/// A full log (entries from seq 1, in order, possibly beyond the
/// checkpoint) against the signed `head`: the chain holds, no entry the
/// checkpoint covers is missing, the entries hash to its tree head, and
/// (when given) their first `pinned.size` entries hash to the pinned head.
/// Returns how many entries the checkpoint covers.
pub fn check_entries(
    head: &TreeHead,
    pinned: Option<&TreeHead>,
    entries: &[AuditEntry],
) -> Result<usize, LogError> {
    let covered = entries.iter().take_while(|e| e.seq as u64 <= head.size).count();
    let entries = entries.get(..covered).unwrap_or_default();
    verify_entries((0, GENESIS), entries, |_| {})?;
    if (covered as u64) < head.size {
        return Err(LogError::Missing { size: head.size, entries: covered as u64 });
    }
    let leaves = leaf_hashes(entries)?;
    if merkle::root(&leaves) != head.root {
        return Err(LogError::Root { size: head.size });
    }
    if let Some(pinned) = pinned
        && compare(pinned, head)?
        && merkle::root(leaves.get(..pinned.size as usize).unwrap_or_default()) != pinned.root
    {
        return Err(LogError::Inconsistent { from: pinned.size, to: head.size });
    }
    Ok(covered)
}
