//! Audit events: every remedy (applied or lifted) and reputation
//! adjustment (and, later, every break-glass step) is written
//! through [`AuditEvent`] in the same transaction as the change it records,
//! so no change lands without its event. The store appends each to a
//! hash-chained log ([`chain`]): any later edit, deletion, reordering or
//! forged row is detectable by `veilctl audit verify`.

pub mod chain;

use base64ct::{Base64, Encoding};

use crate::core::remedy::RemedyAction;
use crate::formats::keys::signer::{Es256Signer, SignError};
use crate::store::{AuditLink, AuditRow, Store, StoreError, StoredAuditEntry, StoredCheckpoint};
use chain::{AuditEntry, Checkpoint, EntryFields, GENESIS, checkpoint_message};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("signing the checkpoint failed")]
    Sign(#[from] SignError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Largest page of entries one read returns.
pub const MAX_PAGE: i64 = 1000;

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

/// The head of the log, `(0, GENESIS)` when it is empty.
async fn head(store: &Store) -> Result<(i64, [u8; 32]), AuditError> {
    Ok(store.audit_last().await?.unwrap_or((0, GENESIS)))
}

/// Signs the current head of the log with the audit key, on demand.
pub async fn checkpoint(store: &Store, signer: &Es256Signer) -> Result<Checkpoint, AuditError> {
    let (seq, hash) = head(store).await?;
    let signature = signer.sign(&checkpoint_message(seq, &hash))?;
    Ok(encode(seq, &hash, signer.kid(), &signature))
}

/// Signs the current head and stores it: the periodic checkpoint. Replicas
/// signing the same head store it once.
pub async fn record_checkpoint(
    store: &Store,
    signer: &Es256Signer,
    now: i64,
) -> Result<Checkpoint, AuditError> {
    let (seq, hash) = head(store).await?;
    let signature = signer.sign(&checkpoint_message(seq, &hash))?;
    let stored = StoredCheckpoint {
        seq,
        hash: hash.to_vec(),
        kid: signer.kid().to_string(),
        signature: signature.to_vec(),
        signed_at: now,
    };
    store.put_audit_checkpoint(&stored).await?;
    Ok(encode(seq, &hash, signer.kid(), &signature))
}

/// The newest `limit` stored checkpoints, newest first.
pub async fn recorded_checkpoints(
    store: &Store,
    limit: i64,
) -> Result<Vec<Checkpoint>, AuditError> {
    let stored = store.audit_checkpoints(limit).await?;
    Ok(stored.iter().map(|c| encode(c.seq, &c.hash, &c.kid, &c.signature)).collect())
}

fn encode(seq: i64, hash: &[u8], kid: &str, signature: &[u8]) -> Checkpoint {
    Checkpoint {
        seq,
        hash: Base64::encode_string(hash),
        kid: kid.to_string(),
        signature: Base64::encode_string(signature),
    }
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
