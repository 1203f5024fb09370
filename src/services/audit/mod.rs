//! Audit events: every remedy (applied or lifted) and reputation
//! adjustment (and, later, every break-glass step) is written
//! through [`AuditEvent`] in the same transaction as the change it records,
//! so no change lands without its event. The store appends each to a
//! hash-chained log ([`chain`]) whose entries are the leaves of an RFC 9162
//! Merkle tree ([`merkle`]); the service signs the tree head as a C2SP
//! checkpoint ([`note`]). Auditors pin the last checkpoint they verified and
//! demand a consistency proof to the next ([`verify`]), so a rewrite, even
//! one re-hashed to the end, a truncation or a fork is detected.

pub mod chain;
pub mod merkle;
pub mod note;
pub mod verify;

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};

use crate::core::remedy::RemedyAction;
use crate::formats::keys::signer::{Es256Signer, SignError};
use crate::store::{AuditLink, AuditRow, Store, StoreError, StoredAuditEntry, StoredCheckpoint};
use chain::{AuditEntry, EntryFields, GENESIS};
use merkle::Hash;
use note::{SignedCheckpoint, TreeHead};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("signing the checkpoint failed")]
    Sign(#[from] SignError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database lost or renumbered an entry: no tree can be built.
    #[error("the audit log in the database has no entry {0}")]
    Gap(i64),
    /// A proof was asked for sizes or entries the log does not have.
    #[error("{0}")]
    OutOfRange(String),
}

/// Largest page of entries one read returns.
pub const MAX_PAGE: i64 = 1000;

/// The log's name in its checkpoints (and the signed-note key name): the
/// service's domain, so two deployments' checkpoints never pass for each
/// other.
pub fn origin(domain: &str) -> String {
    format!("{domain}/veil/audit")
}

/// Up to `limit` (the caller caps it at [`MAX_PAGE`]) entries after
/// sequence number `after`.
pub async fn page(store: &Store, after: i64, limit: i64) -> Result<Vec<AuditEntry>, AuditError> {
    Ok(store.audit_page(after.max(0), limit).await?.into_iter().map(served).collect())
}

/// A stored entry as served: hashes and the sealed account in base64.
fn served(stored: StoredAuditEntry) -> AuditEntry {
    AuditEntry {
        seq: stored.seq,
        at: stored.at,
        actor: stored.actor,
        action: stored.action,
        target: stored.subject,
        case_id: stored.case_id,
        justification: stored.reason,
        sealed: stored.sealed.map(|s| Base64::encode_string(&s)),
        prev_hash: Base64::encode_string(&stored.prev_hash),
        hash: Base64::encode_string(&stored.hash),
    }
}

/// The leaf hashes of the whole log as the database holds it now. Built
/// from the entries' content on every call (O(n)): the database is what an
/// attacker would edit, so no stored hash is trusted, and a rewrite shows
/// as a tree that no longer extends what auditors pinned.
async fn leaves(store: &Store) -> Result<Vec<Hash>, AuditError> {
    let rows = store.audit_entries(None).await?;
    rows.iter()
        .enumerate()
        .map(|(index, row)| {
            let expected = index as i64 + 1;
            if row.seq != expected {
                return Err(AuditError::Gap(expected));
            }
            let fields = EntryFields {
                seq: row.seq,
                at: row.at,
                actor: &row.actor,
                action: &row.action,
                target: &row.subject,
                case_id: row.case_id.as_deref(),
                justification: &row.reason,
                sealed: row.sealed.as_deref(),
            };
            Ok(fields.leaf_hash())
        })
        .collect()
}

fn sign(
    leaves: &[Hash],
    signer: &Es256Signer,
    origin: &str,
) -> Result<SignedCheckpoint, AuditError> {
    let head = TreeHead {
        origin: origin.to_string(),
        size: leaves.len() as u64,
        root: merkle::root(leaves),
    };
    Ok(head.sign(signer)?)
}

/// Signs the current tree head with the audit key, on demand.
pub async fn checkpoint(
    store: &Store,
    signer: &Es256Signer,
    origin: &str,
) -> Result<SignedCheckpoint, AuditError> {
    sign(&leaves(store).await?, signer, origin)
}

/// Signs the current tree head and stores it: the periodic checkpoint.
/// Replicas signing the same size store it once.
pub async fn record_checkpoint(
    store: &Store,
    signer: &Es256Signer,
    origin: &str,
    now: i64,
) -> Result<SignedCheckpoint, AuditError> {
    let leaves = leaves(store).await?;
    let signed = sign(&leaves, signer, origin)?;
    let signature = signed
        .note
        .trim_end()
        .rsplit_once(' ')
        .and_then(|(_, sig)| Base64::decode_vec(sig).ok())
        .unwrap_or_default();
    let stored = StoredCheckpoint {
        seq: leaves.len() as i64,
        hash: merkle::root(&leaves).to_vec(),
        kid: signer.kid().to_string(),
        signature,
        signed_at: now,
        note: Some(signed.note.clone()),
    };
    store.put_audit_checkpoint(&stored).await?;
    Ok(signed)
}

/// The newest `limit` stored checkpoints, newest first.
pub async fn recorded_checkpoints(
    store: &Store,
    limit: i64,
) -> Result<Vec<SignedCheckpoint>, AuditError> {
    let stored = store.audit_checkpoints(limit).await?;
    Ok(stored
        .into_iter()
        .filter_map(|c| {
            let note = c.note?;
            let body = note.rsplit_once("\n\n").map(|(body, _)| format!("{body}\n"))?;
            Some(TreeHead::parse_body(&body).ok()?.with_note(note))
        })
        .collect())
}

/// A consistency proof (RFC 9162 §2.1.4) between two tree sizes; hashes
/// in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub proof: Vec<String>,
}

/// An inclusion proof (RFC 9162 §2.1.3) of entry `seq` (leaf `seq - 1`) in
/// the tree of `tree_size` entries; hashes in base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionProof {
    pub seq: i64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub proof: Vec<String>,
}

fn encode_all(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| Base64::encode_string(h)).collect()
}

/// Proves that the tree of `from` entries is a prefix of the tree of `to`
/// entries (`0 <= from <= to <=` the log's size).
pub async fn consistency(
    store: &Store,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, AuditError> {
    let leaves = leaves(store).await?;
    let size = leaves.len() as u64;
    if from > to || to > size {
        return Err(AuditError::OutOfRange(format!(
            "need 0 <= from <= to <= {size} (the log's size), got from = {from}, to = {to}"
        )));
    }
    let first = leaves.get(..to as usize).unwrap_or_default();
    let proof = merkle::consistency_proof(first, from as usize)
        .ok_or_else(|| AuditError::OutOfRange("from exceeds to".into()))?;
    Ok(ConsistencyProof { from, to, proof: encode_all(&proof) })
}

fn inclusion_in(leaves: &[Hash], seq: i64, size: u64) -> Result<InclusionProof, AuditError> {
    let out_of_range = || {
        AuditError::OutOfRange(format!(
            "need 1 <= seq <= tree_size <= {} (the log's size), got seq = {seq}, tree_size = {size}",
            leaves.len()
        ))
    };
    if seq < 1 || seq as u64 > size || size > leaves.len() as u64 {
        return Err(out_of_range());
    }
    let index = (seq - 1) as usize;
    let tree = leaves.get(..size as usize).ok_or_else(out_of_range)?;
    let proof = merkle::inclusion_proof(tree, index).ok_or_else(out_of_range)?;
    let leaf = tree.get(index).ok_or_else(out_of_range)?;
    Ok(InclusionProof {
        seq,
        tree_size: size,
        leaf_hash: Base64::encode_string(leaf),
        proof: encode_all(&proof),
    })
}

/// Proves that entry `seq` is in the tree of `size` entries.
pub async fn inclusion(store: &Store, seq: i64, size: u64) -> Result<InclusionProof, AuditError> {
    inclusion_in(&leaves(store).await?, seq, size)
}

/// A fresh checkpoint and, for each of `seqs`, its inclusion proof in the
/// tree that checkpoint signs (one pass over the log for all of them).
pub async fn checkpoint_with_proofs(
    store: &Store,
    signer: &Es256Signer,
    origin: &str,
    seqs: &[i64],
) -> Result<(SignedCheckpoint, Vec<InclusionProof>), AuditError> {
    let leaves = leaves(store).await?;
    let signed = sign(&leaves, signer, origin)?;
    let proofs = seqs
        .iter()
        .map(|&seq| inclusion_in(&leaves, seq, leaves.len() as u64))
        .collect::<Result<_, _>>()?;
    Ok((signed, proofs))
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    ClientCreated,
    ClientRevoked,
    /// Issuer and link keys generated (first start or `veilctl init`).
    KeyGenerated,
    /// An issuer key replaced by `veilctl keys rotate`; the subject names the
    /// kind and both key ids, never key material.
    KeyRotated,
    /// Policies read at startup; the justification is their digest.
    PolicyLoaded,
    RemedyApplied(RemedyAction),
    RemedyLifted,
    ReputationAdjusted,
    /// An admin read the standing of the account behind a pseudonym (the
    /// subject); audited because it can tell whether pseudonyms share one.
    AccountStatusRead,
    BreakGlassRequested,
    BreakGlassApproved,
    BreakGlassDenied,
    BreakGlassRevealed,
    /// A custodian's partial decryption, sealed to the requester, relayed.
    BreakGlassPartial,
    /// An authenticated admin's break-glass call that was refused.
    BreakGlassRefused,
    /// An operator requested through the API (pending until approved).
    OperatorRequested,
    /// An operator activated at once: bootstrap or `veilctl operator add`.
    OperatorAdded,
    OperatorApproved,
    OperatorRevoked,
    /// A refused operator call (self-approval, last operator, a client for
    /// a non-active operator…).
    OperatorRefused,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ClientCreated => "client.create",
            AuditAction::ClientRevoked => "client.revoke",
            AuditAction::KeyGenerated => "key.generate",
            AuditAction::KeyRotated => "key.rotate",
            AuditAction::PolicyLoaded => "policy.load",
            AuditAction::RemedyApplied(action) => match action {
                RemedyAction::Mute => "remedy.mute",
                RemedyAction::Suspend => "remedy.suspend",
                RemedyAction::SuspendAndRevoke => "remedy.suspend_and_revoke",
                RemedyAction::Delete => "remedy.delete",
            },
            AuditAction::RemedyLifted => "remedy.lift",
            AuditAction::ReputationAdjusted => "reputation.adjust",
            AuditAction::AccountStatusRead => "account.status_read",
            AuditAction::BreakGlassRequested => "break_glass.request",
            AuditAction::BreakGlassApproved => "break_glass.approve",
            AuditAction::BreakGlassDenied => "break_glass.deny",
            AuditAction::BreakGlassRevealed => "break_glass.reveal",
            AuditAction::BreakGlassPartial => "break_glass.partial",
            AuditAction::BreakGlassRefused => "break_glass.refused",
            AuditAction::OperatorRequested => "operator.request",
            AuditAction::OperatorAdded => "operator.add",
            AuditAction::OperatorApproved => "operator.approve",
            AuditAction::OperatorRevoked => "operator.revoke",
            AuditAction::OperatorRefused => "operator.refused",
        }
    }
}

/// One audit event. Never account data: `subject` names the record
/// (e.g. a remedy id), `actor` the API client (or `auto`).
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub id: String,
    pub at: i64,
    pub actor: &'a str,
    pub action: AuditAction,
    pub subject: &'a str,
    pub case_id: Option<&'a str>,
    pub reason: &'a str,
    /// Only on a reveal: the account, HPKE-sealed to the break-glass key.
    pub sealed: Option<Vec<u8>>,
}

impl<'a> AuditEvent<'a> {
    pub fn new(
        at: i64,
        actor: &'a str,
        action: AuditAction,
        subject: &'a str,
        case_id: Option<&'a str>,
        reason: &'a str,
    ) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        Self { id, at, actor, action, subject, case_id, reason, sealed: None }
    }

    pub fn with_sealed(mut self, sealed: Vec<u8>) -> Self {
        self.sealed = Some(sealed);
        self
    }
}

/// The store appends an event at the head of the chain it holds; the hash
/// is computed here, by the chain's own rules.
impl AuditLink for AuditEvent<'_> {
    fn at(&self) -> i64 {
        self.at
    }

    fn actor(&self) -> &str {
        self.actor
    }

    fn link(&self, seq: i64, prev: Option<[u8; 32]>) -> AuditRow<'_> {
        let prev_hash = prev.unwrap_or(GENESIS);
        let fields = EntryFields {
            seq,
            at: self.at,
            actor: self.actor,
            action: self.action.as_str(),
            target: self.subject,
            case_id: self.case_id,
            justification: self.reason,
            sealed: self.sealed.as_deref(),
        };
        AuditRow {
            id: &self.id,
            at: self.at,
            actor: self.actor,
            action: self.action.as_str(),
            subject: self.subject,
            case_id: self.case_id,
            reason: self.reason,
            sealed: self.sealed.as_deref(),
            prev_hash,
            hash: fields.hash(&prev_hash),
        }
    }
}
