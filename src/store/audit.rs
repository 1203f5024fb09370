//! The hash-chained audit log: appended inside the caller's transaction,
//! read in pages for auditors.

use base64ct::{Base64, Encoding};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::{Store, StoreError, get};
use crate::services::audit::AuditEvent;
use crate::services::audit::chain::{AuditEntry, EntryFields, GENESIS};

/// Appends `event` as the next entry of the chain. The first statement
/// bumps the single `audit_head` row, which serializes appenders across
/// connections and replicas (row lock on PostgreSQL, write lock on
/// SQLite) until this transaction ends; the unique index on `seq` is the
/// backstop. If anything here fails, the caller's action fails with it.
pub(super) async fn append(
    tx: &mut Transaction<'static, Any>,
    event: &AuditEvent<'_>,
) -> Result<(), StoreError> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut **tx)
        .await?;
    let seq: i64 = get(&head, "seq")?;
    let prev: Vec<u8> = get::<Option<Vec<u8>>>(&head, "hash")?.unwrap_or_else(|| GENESIS.to_vec());
    let fields = EntryFields {
        seq,
        at: event.at,
        actor: event.actor,
        action: event.action.as_str(),
        target: event.subject,
        case_id: event.case_id,
        justification: event.reason,
        sealed: event.sealed.as_deref(),
    };
    let hash = fields.hash(&prev);
    sqlx::query(
        "INSERT INTO audit_events \
         (id, at, actor, action, subject, case_id, reason, sealed, seq, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(event.id.as_str())
    .bind(event.at)
    .bind(event.actor)
    .bind(event.action.as_str())
    .bind(event.subject)
    .bind(event.case_id)
    .bind(event.reason)
    .bind(event.sealed.as_deref())
    .bind(seq)
    .bind(prev)
    .bind(hash.to_vec())
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(hash.to_vec())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    let sealed: Option<Vec<u8>> = get(row, "sealed")?;
    let prev_hash: Vec<u8> = get(row, "prev_hash")?;
    let hash: Vec<u8> = get(row, "hash")?;
    Ok(AuditEntry {
        seq: get(row, "seq")?,
        at: get(row, "at")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        target: get(row, "subject")?,
        case_id: get(row, "case_id")?,
        justification: get(row, "reason")?,
        sealed: sealed.map(|s| Base64::encode_string(&s)),
        prev_hash: Base64::encode_string(&prev_hash),
        hash: Base64::encode_string(&hash),
    })
}

/// A checkpoint as stored: raw hash and `r || s` signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub kid: String,
    pub signature: Vec<u8>,
    pub signed_at: i64,
}

impl Store {
    /// An audit entry on its own (e.g. a refused break-glass call).
    pub async fn append_audit(&self, event: &AuditEvent<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        append(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` chained entries after sequence number `after`, in order.
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, subject, case_id, reason, sealed, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// The last chained entry as stored, `(seq, hash)`; `(0, GENESIS)` when
    /// the log is empty. What a checkpoint signs.
    pub async fn audit_last(&self) -> Result<(i64, [u8; 32]), StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok((0, GENESIS)) };
        let hash: Vec<u8> = get(&row, "hash")?;
        let hash = hash.try_into().map_err(|_| StoreError::Corrupt("audit hash length"))?;
        Ok((get(&row, "seq")?, hash))
    }

    /// Stores a signed checkpoint; a head already checkpointed (by this or
    /// another replica) is kept as it was.
    pub async fn put_audit_checkpoint(
        &self,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, kid, signature, signed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(checkpoint.seq)
        .bind(checkpoint.hash.as_slice())
        .bind(checkpoint.kid.as_str())
        .bind(checkpoint.signature.as_slice())
        .bind(checkpoint.signed_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` stored checkpoints, newest first.
    pub async fn audit_checkpoints(&self, limit: i64) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, hash, kid, signature, signed_at FROM audit_checkpoints \
             ORDER BY seq DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredCheckpoint {
                    seq: get(row, "seq")?,
                    hash: get(row, "hash")?,
                    kid: get(row, "kid")?,
                    signature: get(row, "signature")?,
                    signed_at: get(row, "signed_at")?,
                })
            })
            .collect()
    }
}
