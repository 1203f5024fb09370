//! Seen key bindings, for replay protection across replicas: the primary
//! key decides, so two replicas racing on the same presentation cannot both
//! accept it.

use super::{Store, StoreError};

/// Expired rows removed per prune: bounded, so one request never pays for a
/// long backlog.
const PRUNE_BATCH: i64 = 100;

impl Store {
    /// Records a key binding; false when an unexpired record of it exists
    /// (a replay). An expired record is taken over, so a binding may recur
    /// once the earlier one could no longer be accepted.
    pub async fn record_key_binding(
        &self,
        binding: &[u8],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO kb_replay (binding, expires_at) VALUES ($1, $2) \
             ON CONFLICT (binding) DO UPDATE SET expires_at = $2 WHERE kb_replay.expires_at <= $3",
        )
        .bind(binding)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes up to a batch of expired records (index range on `expires_at`).
    pub async fn prune_key_bindings(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM kb_replay WHERE binding IN \
             (SELECT binding FROM kb_replay WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(now)
        .bind(PRUNE_BATCH)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Records a proof of possession's `jti` hash; false when an unexpired
    /// record of it exists (a replay). Same take-over rule as key bindings.
    pub async fn record_proof_jti(
        &self,
        jti_hash: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO pop_replay (jti_hash, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti_hash) DO UPDATE SET expires_at = $2 \
             WHERE pop_replay.expires_at <= $3",
        )
        .bind(jti_hash.as_slice())
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes up to a batch of expired proof records.
    pub async fn prune_proof_jtis(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM pop_replay WHERE jti_hash IN \
             (SELECT jti_hash FROM pop_replay WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(now)
        .bind(PRUNE_BATCH)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
