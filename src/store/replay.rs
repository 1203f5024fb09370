//! Seen key bindings and proof-of-possession `jti`s, for replay protection
//! across replicas: the primary key decides, so two replicas racing on the
//! same presentation or proof cannot both accept it. Records are written
//! by a group-commit writer (`seen_writer`).

use super::seen_writer::{Record, SeenWriter};
use super::{Backend, Store, StoreError};

/// Expired rows removed per prune: bounded, so one request never pays for a
/// long backlog.
const PRUNE_BATCH: i64 = 100;

/// The two replay tables share one shape and one rule: a record is taken
/// over once it has expired, so a value may recur only when the earlier one
/// could no longer be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Seen {
    /// `kb_replay`: key bindings of presentations.
    KeyBindings,
    /// `pop_replay`: SHA-256 of proof-of-possession `jti`s.
    Proofs,
}

impl Seen {
    pub(super) fn record_sql(self) -> &'static str {
        match self {
            Seen::KeyBindings => {
                "INSERT INTO kb_replay (binding, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (binding) DO UPDATE SET expires_at = $2 \
                 WHERE kb_replay.expires_at <= $3"
            }
            Seen::Proofs => {
                "INSERT INTO pop_replay (jti_hash, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (jti_hash) DO UPDATE SET expires_at = $2 \
                 WHERE pop_replay.expires_at <= $3"
            }
        }
    }

    /// Deletes a bounded batch of expired rows (index range on `expires_at`).
    /// The outer condition is checked again on the row as it is when
    /// deleted, so a record the writer took over meanwhile (a new expiry)
    /// stays; on PostgreSQL rows a replay batch holds are skipped, not
    /// waited for: the prune never waits on a batch, so the two cannot
    /// deadlock.
    fn prune_sql(self, backend: Backend) -> &'static str {
        match (self, backend) {
            (Seen::KeyBindings, Backend::Sqlite) => {
                "DELETE FROM kb_replay WHERE expires_at <= $1 AND binding IN \
                 (SELECT binding FROM kb_replay WHERE expires_at <= $1 LIMIT $2)"
            }
            (Seen::KeyBindings, Backend::Postgres) => {
                "DELETE FROM kb_replay WHERE expires_at <= $1 AND binding IN \
                 (SELECT binding FROM kb_replay WHERE expires_at <= $1 LIMIT $2 \
                 FOR UPDATE SKIP LOCKED)"
            }
            (Seen::Proofs, Backend::Sqlite) => {
                "DELETE FROM pop_replay WHERE expires_at <= $1 AND jti_hash IN \
                 (SELECT jti_hash FROM pop_replay WHERE expires_at <= $1 LIMIT $2)"
            }
            (Seen::Proofs, Backend::Postgres) => {
                "DELETE FROM pop_replay WHERE expires_at <= $1 AND jti_hash IN \
                 (SELECT jti_hash FROM pop_replay WHERE expires_at <= $1 LIMIT $2 \
                 FOR UPDATE SKIP LOCKED)"
            }
        }
    }
}

impl Store {
    /// Records a key binding; false when an unexpired record of it exists
    /// (a replay).
    pub async fn record_key_binding(
        &self,
        binding: &[u8],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.record_seen(Seen::KeyBindings, binding, expires_at, now).await
    }

    /// Deletes up to a batch of expired key-binding records.
    pub async fn prune_key_bindings(&self, now: i64) -> Result<u64, StoreError> {
        self.prune_seen(Seen::KeyBindings, now).await
    }

    /// Records a proof of possession's `jti` hash; false when an unexpired
    /// record of it exists (a replay).
    pub async fn record_proof_jti(
        &self,
        jti_hash: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.record_seen(Seen::Proofs, jti_hash, expires_at, now).await
    }

    /// Deletes up to a batch of expired proof records.
    pub async fn prune_proof_jtis(&self, now: i64) -> Result<u64, StoreError> {
        self.prune_seen(Seen::Proofs, now).await
    }

    async fn record_seen(
        &self,
        table: Seen,
        value: &[u8],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let record = Record { table, value: value.to_vec(), expires_at, now };
        let writer = self.seen_writer.get_or_init(|| SeenWriter::spawn(self));
        writer.submit(record).await
    }

    async fn prune_seen(&self, table: Seen, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(table.prune_sql(self.backend))
            .bind(now)
            .bind(PRUNE_BATCH)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
