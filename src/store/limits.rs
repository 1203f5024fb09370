//! Rate-limit counters. A window charge is one statement that adds to a
//! counter only if the result stays within its limit and returns no row
//! otherwise, so concurrent requests on any number of replicas can never
//! overshoot. The rows every mint shares (the client's bucket, the global
//! window) are charged once per batch by the mint writer's [`SharedLedger`]:
//! it locks them, charges each request in memory in order, and writes the
//! totals before the batch commits.

use std::collections::BTreeMap;

use sqlx::{Any, Transaction};

use super::{AuditLink, Store, StoreError};

impl Store {
    /// Charges one fixed window on its own (`OverLimit` when it is full).
    pub async fn charge_window(&self, window: &WindowCharge) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        charge_windows(&mut tx, std::slice::from_ref(window), 0).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Charges one fixed window and appends an audit entry in one
    /// transaction: a privacy read is answered only once both are recorded,
    /// and a refused charge (`OverLimit`) records neither.
    pub async fn charge_and_audit(
        &self,
        window: &WindowCharge,
        entry: &dyn AuditLink,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
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
pub struct WindowCharge {
    pub subject: Vec<u8>,
    pub action: &'static str,
    pub window_start: i64,
    pub expires_at: i64,
    pub amount: i64,
    pub limit: i64,
}

/// A token bucket to draw from: `rate` tokens per second up to `burst`.
#[derive(Debug, Clone)]
pub struct BucketCharge {
    pub client_id: String,
    pub cost: i64,
    pub rate: i64,
    pub burst: i64,
}

/// Everything one mint must pay, checked in the mint's batch transaction.
#[derive(Debug, Clone, Default)]
pub struct Charges {
    /// Windows keyed by the account (charged per request: they do not contend).
    pub windows: Vec<WindowCharge>,
    /// The client's bucket and the global windows: rows every mint shares,
    /// charged once per batch (see [`SharedLedger`]).
    pub bucket: Option<BucketCharge>,
    pub shared_windows: Vec<WindowCharge>,
    /// Reputation points each minted pseudonym costs (0: no event written).
    pub reputation_per_pseudonym: i64,
    pub now: i64,
}

pub(super) async fn charge_windows(
    tx: &mut Transaction<'static, Any>,
    windows: &[WindowCharge],
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
        .bind(w.subject.as_slice())
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
            .bind(w.subject.as_slice())
            .bind(w.action)
            .bind(w.window_start)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// The shared rows of one batch (global windows, client buckets), locked
/// at the start of the batch transaction in a fixed order (so two
/// replicas' batches queue instead of deadlocking) and charged in memory,
/// request by request, in the batch's order: exact, because nobody else
/// can change them until the batch commits.
#[derive(Debug, Default)]
pub(super) struct SharedLedger {
    windows: BTreeMap<WindowKey, WindowLevel>,
    buckets: BTreeMap<String, BucketLevel>,
}

type WindowKey = (Vec<u8>, &'static str, i64);

#[derive(Debug)]
struct WindowLevel {
    /// The count as stored when the batch locked it.
    stored: i64,
    taken: i64,
}

#[derive(Debug)]
struct BucketLevel {
    millitokens: i64,
    updated_at: i64,
    changed: bool,
}

impl SharedLedger {
    /// Locks (creating if needed) every shared row the batch will charge
    /// and reads its level.
    pub(super) async fn lock<'c>(
        tx: &mut Transaction<'static, Any>,
        batch: impl Iterator<Item = &'c Charges> + Clone,
    ) -> Result<Self, StoreError> {
        let mut ledger = SharedLedger::default();
        let mut windows: BTreeMap<WindowKey, i64> = BTreeMap::new();
        let mut buckets: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for charges in batch {
            for w in &charges.shared_windows {
                windows.insert((w.subject.clone(), w.action, w.window_start), w.expires_at);
            }
            if let Some(b) = &charges.bucket {
                let full = b.burst.saturating_mul(1000);
                let first = buckets.entry(b.client_id.as_str()).or_insert((full, charges.now));
                first.1 = first.1.min(charges.now);
            }
        }
        for (key, expires_at) in windows {
            // A no-op write: it takes the row lock (SQLite: the write lock)
            // and returns the count as the last committed batch left it.
            let stored: i64 = sqlx::query_scalar(
                "INSERT INTO rate_windows (subject, action, window_start, expires_at, n) \
                 VALUES ($1, $2, $3, $4, 0) ON CONFLICT (subject, action, window_start) \
                 DO UPDATE SET n = rate_windows.n RETURNING n",
            )
            .bind(key.0.as_slice())
            .bind(key.1)
            .bind(key.2)
            .bind(expires_at)
            .fetch_one(&mut **tx)
            .await?;
            ledger.windows.insert(key, WindowLevel { stored, taken: 0 });
        }
        for (client_id, (full, now)) in buckets {
            // A new bucket starts full at the batch's earliest time.
            let (millitokens, updated_at): (i64, i64) = sqlx::query_as(
                "INSERT INTO rate_buckets (client_id, millitokens, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (client_id) DO UPDATE SET millitokens = rate_buckets.millitokens \
                 RETURNING millitokens, updated_at",
            )
            .bind(client_id)
            .bind(full)
            .bind(now)
            .fetch_one(&mut **tx)
            .await?;
            ledger.buckets.insert(
                client_id.to_string(),
                BucketLevel { millitokens, updated_at, changed: false },
            );
        }
        Ok(ledger)
    }

    /// Charges one request's shared limits, all or nothing. `first_index`
    /// numbers the shared windows after the account's in a refusal.
    pub(super) fn charge(&mut self, charges: &Charges) -> Result<(), Limited> {
        let refill = |b: &BucketCharge, level: &BucketLevel| -> (i64, i64) {
            // Time never runs backwards: a request that read an earlier
            // second than the bucket's last use refills nothing.
            let elapsed = (charges.now - level.updated_at).max(0);
            let full = b.burst.saturating_mul(1000);
            let refilled = level
                .millitokens
                .saturating_add(elapsed.saturating_mul(b.rate.saturating_mul(1000)))
                .min(full);
            (refilled, level.updated_at.max(charges.now))
        };
        if let Some(b) = &charges.bucket {
            let level = self.buckets.get(&b.client_id).ok_or(Limited::Client)?;
            let (refilled, _) = refill(b, level);
            if refilled < b.cost.saturating_mul(1000) {
                return Err(Limited::Client);
            }
        }
        let first_index = charges.windows.len();
        for (i, w) in charges.shared_windows.iter().enumerate() {
            let key = (w.subject.clone(), w.action, w.window_start);
            let level = self.windows.get(&key).ok_or(Limited::Window(first_index + i))?;
            if level.stored.saturating_add(level.taken).saturating_add(w.amount) > w.limit {
                return Err(Limited::Window(first_index + i));
            }
        }
        if let Some(b) = &charges.bucket
            && let Some(level) = self.buckets.get_mut(&b.client_id)
        {
            let (refilled, at) = refill(b, level);
            level.millitokens = refilled - b.cost.saturating_mul(1000);
            level.updated_at = at;
            level.changed = true;
        }
        for w in &charges.shared_windows {
            if let Some(level) =
                self.windows.get_mut(&(w.subject.clone(), w.action, w.window_start))
            {
                level.taken = level.taken.saturating_add(w.amount);
            }
        }
        Ok(())
    }

    /// Writes what the batch took. The first charge of a window deletes the
    /// counter's earlier windows, so the global counter leaves no rows behind.
    pub(super) async fn write(self, tx: &mut Transaction<'static, Any>) -> Result<(), StoreError> {
        for ((subject, action, window_start), level) in self.windows {
            if level.taken == 0 {
                continue;
            }
            sqlx::query(
                "UPDATE rate_windows SET n = n + $1 \
                 WHERE subject = $2 AND action = $3 AND window_start = $4",
            )
            .bind(level.taken)
            .bind(subject.as_slice())
            .bind(action)
            .bind(window_start)
            .execute(&mut **tx)
            .await?;
            if level.stored == 0 {
                sqlx::query(
                    "DELETE FROM rate_windows \
                     WHERE subject = $1 AND action = $2 AND window_start < $3",
                )
                .bind(subject.as_slice())
                .bind(action)
                .bind(window_start)
                .execute(&mut **tx)
                .await?;
            }
        }
        for (client_id, level) in self.buckets {
            if !level.changed {
                continue;
            }
            sqlx::query(
                "UPDATE rate_buckets SET millitokens = $1, updated_at = $2 WHERE client_id = $3",
            )
            .bind(level.millitokens)
            .bind(level.updated_at)
            .bind(client_id.as_str())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}
