//! Rate-limit counters, charged inside the mint transaction: each charge is
//! one statement that adds to a counter only if the result stays within its
//! limit and returns no row otherwise, so concurrent requests on any number
//! of replicas can never overshoot, and a refused batch rolls back whole.

use sqlx::{Any, Transaction};

use super::{AuditLink, Store, StoreError};

impl Store {
    /// Charges one fixed window on its own (`OverLimit` when it is full).
    pub async fn charge_window(&self, window: &WindowCharge<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        charge_windows(&mut tx, std::slice::from_ref(window), 0).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Charges one fixed window and appends an audit entry in one
    /// transaction: a privacy read is answered only once both are recorded,
    /// and a refused charge (`OverLimit`) records neither.
    pub async fn charge_and_audit(
        &self,
        window: &WindowCharge<'_>,
        entry: &dyn AuditLink,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        charge_windows(&mut tx, std::slice::from_ref(window), 0).await?;
        super::audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// A fixed-window counter (the index into [`Charges::windows`]).
    Window(usize),
    /// The account's maximum of active pseudonyms.
    Active,
    /// The API client's token bucket.
    Client,
}

/// A fixed-window counter to bump.
#[derive(Debug, Clone)]
pub struct WindowCharge<'a> {
    pub subject: &'a [u8],
    pub action: &'static str,
    pub window_start: i64,
    pub expires_at: i64,
    pub amount: i64,
    pub limit: i64,
}

/// A token bucket to draw from: `rate` tokens per second up to `burst`.
#[derive(Debug, Clone)]
pub struct BucketCharge<'a> {
    pub client_id: &'a str,
    pub cost: i64,
    pub rate: i64,
    pub burst: i64,
}

/// Everything one mint must pay, checked in the mint transaction.
#[derive(Debug, Clone, Default)]
pub struct Charges<'a> {
    /// Windows keyed by the account (charged early: they do not contend).
    pub windows: Vec<WindowCharge<'a>>,
    /// The client's bucket and the global windows: shared rows, so they are
    /// charged last to hold their locks for the shortest time.
    pub bucket: Option<BucketCharge<'a>>,
    pub shared_windows: Vec<WindowCharge<'a>>,
    /// Reputation points each minted pseudonym costs (0: no event written).
    pub reputation_per_pseudonym: i64,
    pub now: i64,
}

impl Charges<'_> {
    /// Charges every window and the client's bucket; the account's maximum
    /// of active pseudonyms is checked against its sealed index by the
    /// caller, which alone can open it.
    pub(super) async fn apply(&self, tx: &mut Transaction<'static, Any>) -> Result<(), StoreError> {
        charge_windows(tx, &self.windows, 0).await?;
        if let Some(bucket) = &self.bucket {
            bucket.charge(tx, self.now).await?;
        }
        charge_windows(tx, &self.shared_windows, self.windows.len()).await
    }
}

async fn charge_windows(
    tx: &mut Transaction<'static, Any>,
    windows: &[WindowCharge<'_>],
    first_index: usize,
) -> Result<(), StoreError> {
    for (i, w) in windows.iter().enumerate() {
        let limited = StoreError::OverLimit(Limited::Window(first_index + i));
        if w.amount > w.limit {
            return Err(limited);
        }
        let n: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rate_windows (subject, action, window_start, expires_at, n) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (subject, action, window_start) \
             DO UPDATE SET n = rate_windows.n + excluded.n \
             WHERE rate_windows.n + excluded.n <= $6 RETURNING n",
        )
        .bind(w.subject)
        .bind(w.action)
        .bind(w.window_start)
        .bind(w.expires_at)
        .bind(w.amount)
        .bind(w.limit)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(n) = n else {
            return Err(limited);
        };
        // The first charge of a window (its count is just this amount)
        // deletes the counter's earlier windows: once per window, keyed,
        // so neither accounts nor the global counter leave rows behind.
        if n == w.amount {
            sqlx::query(
                "DELETE FROM rate_windows WHERE subject = $1 AND action = $2 AND window_start < $3",
            )
            .bind(w.subject)
            .bind(w.action)
            .bind(w.window_start)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Refill then draw: `$1` client, `$2` a new bucket's level, `$3` now, `$4`
/// refill in millitokens per second, `$5` bucket size, `$6` cost. The level
/// is written twice because SQL cannot name it; a refusal updates nothing.
const BUCKET_UPSERT: &str = "INSERT INTO rate_buckets (client_id, millitokens, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (client_id) DO UPDATE SET \
     millitokens = (CASE WHEN rate_buckets.millitokens + (CASE WHEN $3 > rate_buckets.updated_at \
     THEN ($3 - rate_buckets.updated_at) * $4 ELSE 0 END) > $5 THEN $5 \
     ELSE rate_buckets.millitokens + (CASE WHEN $3 > rate_buckets.updated_at \
     THEN ($3 - rate_buckets.updated_at) * $4 ELSE 0 END) END) - $6, \
     updated_at = CASE WHEN $3 > rate_buckets.updated_at THEN $3 ELSE rate_buckets.updated_at END \
     WHERE (CASE WHEN rate_buckets.millitokens + (CASE WHEN $3 > rate_buckets.updated_at \
     THEN ($3 - rate_buckets.updated_at) * $4 ELSE 0 END) > $5 THEN $5 \
     ELSE rate_buckets.millitokens + (CASE WHEN $3 > rate_buckets.updated_at \
     THEN ($3 - rate_buckets.updated_at) * $4 ELSE 0 END) END) - $6 >= 0 RETURNING millitokens";

impl BucketCharge<'_> {
    /// Refills the bucket for the time since its last use (capped at the
    /// burst), then takes `cost` if that many tokens are there.
    async fn charge(&self, tx: &mut Transaction<'static, Any>, now: i64) -> Result<(), StoreError> {
        let full = self.burst.saturating_mul(1000);
        let cost = self.cost.saturating_mul(1000);
        if cost > full {
            return Err(StoreError::OverLimit(Limited::Client));
        }
        // `now` was read before this transaction waited for the row lock, so
        // a request that read an earlier second may commit after one that
        // read a later second: time never runs backwards here (no negative
        // refill that drains the bucket, no rewound `updated_at` that would
        // refill the same second twice).
        let row = sqlx::query(BUCKET_UPSERT)
            .bind(self.client_id)
            .bind(full - cost)
            .bind(now)
            .bind(self.rate.saturating_mul(1000))
            .bind(full)
            .bind(cost)
            .fetch_optional(&mut **tx)
            .await?;
        match row {
            Some(_) => Ok(()),
            None => Err(StoreError::OverLimit(Limited::Client)),
        }
    }
}
