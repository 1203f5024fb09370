//! The hash-chained audit log: appended inside the caller's transaction,
//! read in pages for auditors. The chain's rules (canonical form, hash,
//! genesis) belong to the audit service; the store only gives an entry its
//! place in the chain and persists it.

use sqlx::{Any, Transaction};

use super::{Store, StoreError};

/// An audit entry waiting to be appended. The audit service implements it,
/// so the store writes entries without knowing how they are hashed.
pub trait AuditLink: std::fmt::Debug + Send + Sync {
    /// When the event happened; the store also stamps it on the change the
    /// entry records.
    fn at(&self) -> i64;
    /// Who acted (an API client id, `auto`, `veild`, ...).
    fn actor(&self) -> &str;
    /// The row at position `seq`, after the entry whose hash is `prev`
    /// (`None`: the chain is empty).
    fn link(&self, seq: i64, prev: Option<[u8; 32]>) -> AuditRow<'_>;
}

/// One audit row to insert, its hashes already computed.
#[derive(Debug, Clone, Copy)]
pub struct AuditRow<'a> {
    pub id: &'a str,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub case_id: Option<&'a str>,
    pub reason: &'a str,
    pub sealed: Option<&'a [u8]>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// One chained entry as stored (raw bytes; the audit service encodes them).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredAuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub case_id: Option<String>,
    pub reason: String,
    pub sealed: Option<Vec<u8>>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct Head {
    seq: i64,
    hash: Option<Vec<u8>>,
}

/// Appends `entry` as the next entry of the chain. The first statement
/// bumps the single `audit_head` row, which serializes appenders across
/// connections and replicas (row lock on PostgreSQL, write lock on
/// SQLite) until this transaction ends; the unique index on `seq` is the
/// backstop. If anything here fails, the caller's action fails with it.
pub(super) async fn append(
    tx: &mut Transaction<'static, Any>,
    entry: &dyn AuditLink,
) -> Result<(), StoreError> {
    let head: Head =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut **tx)
            .await?;
    let prev = head
        .hash
        .map(|h| <[u8; 32]>::try_from(h).map_err(|_| StoreError::Corrupt("audit head hash")))
        .transpose()?;
    let row = entry.link(head.seq, prev);
    sqlx::query(
        "INSERT INTO audit_events \
         (id, at, actor, action, subject, case_id, reason, sealed, seq, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(row.id)
    .bind(row.at)
    .bind(row.actor)
    .bind(row.action)
    .bind(row.subject)
    .bind(row.case_id)
    .bind(row.reason)
    .bind(row.sealed)
    .bind(head.seq)
    .bind(row.prev_hash.as_slice())
    .bind(row.hash.as_slice())
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(row.hash.as_slice())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A checkpoint as stored: tree size (`seq`), tree head (`hash`), the
/// signing key and the whole signed note (what auditors are served).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCheckpoint {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub kid: String,
    pub signature: Vec<u8>,
    pub signed_at: i64,
    pub note: Option<String>,
}

impl Store {
    /// An audit entry on its own (e.g. a refused break-glass call).
    pub async fn append_audit(&self, entry: &dyn AuditLink) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` chained entries after sequence number `after`, in order.
    pub async fn audit_page(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredAuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, at, actor, action, subject, case_id, reason, sealed, prev_hash, hash \
             FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every chained entry, in order, up to sequence number `upto` (all when
    /// `None`): the leaves of the audit tree.
    pub async fn audit_entries(
        &self,
        upto: Option<i64>,
    ) -> Result<Vec<StoredAuditEntry>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, at, actor, action, subject, case_id, reason, sealed, prev_hash, hash \
             FROM audit_events WHERE seq IS NOT NULL AND seq <= $1 ORDER BY seq",
        )
        .bind(upto.unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Stores a signed checkpoint; a head already checkpointed (by this or
    /// another replica) is kept as it was.
    pub async fn put_audit_checkpoint(
        &self,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, kid, signature, signed_at, note) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(checkpoint.seq)
        .bind(checkpoint.hash.as_slice())
        .bind(checkpoint.kid.as_str())
        .bind(checkpoint.signature.as_slice())
        .bind(checkpoint.signed_at)
        .bind(checkpoint.note.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` stored checkpoints, newest first.
    pub async fn audit_checkpoints(&self, limit: i64) -> Result<Vec<StoredCheckpoint>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, hash, kid, signature, signed_at, note FROM audit_checkpoints \
             ORDER BY seq DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
