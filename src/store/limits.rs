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
        charge_windows(&mut tx, std::slice::from_ref(window), 0, true).await?;
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
        charge_windows(&mut tx, std::slice::from_ref(window), 0, true).await?;
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

/// All or nothing without a savepoint: a refusal takes back what the
/// windows before it took (exact, as the caller holds what keys them: the
/// account row, or its own transaction's only window).
/// `prune`: a window's first charge deletes the counter's earlier windows
/// (false for an account created in this transaction: it has none).
pub(super) async fn charge_windows(
    tx: &mut Transaction<'static, Any>,
    windows: &[WindowCharge],
    first_index: usize,
    prune: bool,
) -> Result<(), StoreError> {
    if let Some(i) = windows.iter().position(|w| w.amount > w.limit) {
        return Err(StoreError::OverLimit(Limited::Window(first_index + i)));
    }
    for (i, w) in windows.iter().enumerate() {
        let limited = StoreError::OverLimit(Limited::Window(first_index + i));
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
            for taken in windows.iter().take(i) {
                sqlx::query(
                    "UPDATE rate_windows SET n = n - $1 \
                     WHERE subject = $2 AND action = $3 AND window_start = $4",
                )
                .bind(taken.amount)
                .bind(taken.subject.as_slice())
                .bind(taken.action)
                .bind(taken.window_start)
                .execute(&mut **tx)
                .await?;
            }
            return Err(limited);
        };
        // The first charge of a window (its count is just this amount)
        // deletes the counter's earlier windows: once per window, keyed,
        // so neither accounts nor the global counter leave rows behind.
        if prune && n == w.amount {
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

/// The shared rows of one batch (global windows, client buckets), charged
/// in memory, request by request, in the batch's order, then written once.
///
/// Optimistic by default ([`SharedLedger::read`]): the batch reads their
/// levels without a lock and decides each request against them; at the end
/// [`SharedLedger::write`] locks the rows (in a fixed order, so writers
/// queue instead of deadlocking) and checks that the batch's totals still
/// fit what is there now. Counters only grow and buckets only lose what a
/// batch takes, so totals that fit mean no limit is passed. If they do not
/// fit (another writer took the room meanwhile), the caller rolls the batch
/// back and runs it again with [`SharedLedger::lock`], which locks first and
/// is exact request by request. Holding the hot rows only from the end of
/// the batch to its commit lets several writers work at once.
#[derive(Debug, Default)]
pub(super) struct SharedLedger {
    locked: bool,
    windows: BTreeMap<WindowKey, WindowLevel>,
    buckets: BTreeMap<String, BucketLevel>,
}

type WindowKey = (Vec<u8>, &'static str, i64);

#[derive(Debug)]
struct WindowLevel {
    /// The count as read (or locked) at the start of the batch.
    stored: i64,
    expires_at: i64,
    taken: i64,
    limit: i64,
}

#[derive(Debug)]
struct BucketLevel {
    millitokens: i64,
    updated_at: i64,
    /// What the batch took, and the latest request time it saw.
    taken: i64,
    last_now: i64,
    rate: i64,
    full: i64,
}

impl BucketLevel {
    /// The level at `now` from (`millitokens`, `updated_at`): time never
    /// runs backwards, so a request that read an earlier second than the
    /// bucket's last use refills nothing.
    fn refilled(millitokens: i64, updated_at: i64, now: i64, rate: i64, full: i64) -> i64 {
        let elapsed = (now - updated_at).max(0);
        millitokens.saturating_add(elapsed.saturating_mul(rate)).min(full)
    }
}

/// The no-op write that locks a window row (SQLite: the write lock) and
/// returns its count as the last committed writer left it.
const LOCK_WINDOW: &str = "INSERT INTO rate_windows (subject, action, window_start, expires_at, n) \
     VALUES ($1, $2, $3, $4, 0) ON CONFLICT (subject, action, window_start) \
     DO UPDATE SET n = rate_windows.n RETURNING n";

/// The same for a bucket; a new bucket starts full.
const LOCK_BUCKET: &str = "INSERT INTO rate_buckets (client_id, millitokens, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (client_id) \
     DO UPDATE SET millitokens = rate_buckets.millitokens RETURNING millitokens, updated_at";

impl SharedLedger {
    /// Reads every shared row the batch will charge, without a lock.
    pub(super) async fn read<'c>(
        tx: &mut Transaction<'static, Any>,
        batch: impl Iterator<Item = &'c Charges>,
    ) -> Result<Self, StoreError> {
        Self::load(tx, batch, false).await
    }

    /// Locks (creating if needed) every shared row the batch will charge
    /// and reads its level: exact, since nobody else can change them until
    /// the batch commits.
    pub(super) async fn lock<'c>(
        tx: &mut Transaction<'static, Any>,
        batch: impl Iterator<Item = &'c Charges>,
    ) -> Result<Self, StoreError> {
        Self::load(tx, batch, true).await
    }

    async fn load<'c>(
        tx: &mut Transaction<'static, Any>,
        batch: impl Iterator<Item = &'c Charges>,
        lock: bool,
    ) -> Result<Self, StoreError> {
        let mut ledger = SharedLedger { locked: lock, ..Default::default() };
        for charges in batch {
            for w in &charges.shared_windows {
                let key = (w.subject.clone(), w.action, w.window_start);
                ledger.windows.entry(key).or_insert(WindowLevel {
                    stored: 0,
                    expires_at: w.expires_at,
                    taken: 0,
                    limit: w.limit,
                });
            }
            if let Some(b) = &charges.bucket {
                let full = b.burst.saturating_mul(1000);
                let level = ledger.buckets.entry(b.client_id.clone()).or_insert(BucketLevel {
                    millitokens: full,
                    updated_at: charges.now,
                    taken: 0,
                    last_now: charges.now,
                    rate: b.rate.saturating_mul(1000),
                    full,
                });
                // A new bucket starts full at the batch's earliest time.
                level.updated_at = level.updated_at.min(charges.now);
            }
        }
        for ((subject, action, window_start), level) in &mut ledger.windows {
            level.stored = if lock {
                sqlx::query_scalar(LOCK_WINDOW)
                    .bind(subject.as_slice())
                    .bind(*action)
                    .bind(*window_start)
                    .bind(level.expires_at)
                    .fetch_one(&mut **tx)
                    .await?
            } else {
                window_count(&mut *tx, subject, action, *window_start).await?.unwrap_or(0)
            };
        }
        for (client_id, level) in &mut ledger.buckets {
            let stored: Option<(i64, i64)> = if lock {
                Some(
                    sqlx::query_as(LOCK_BUCKET)
                        .bind(client_id.as_str())
                        .bind(level.full)
                        .bind(level.updated_at)
                        .fetch_one(&mut **tx)
                        .await?,
                )
            } else {
                sqlx::query_as(
                    "SELECT millitokens, updated_at FROM rate_buckets WHERE client_id = $1",
                )
                .bind(client_id.as_str())
                .fetch_optional(&mut **tx)
                .await?
            };
            if let Some((millitokens, updated_at)) = stored {
                level.millitokens = millitokens;
                level.updated_at = updated_at;
            }
        }
        Ok(ledger)
    }

    /// Charges one request's shared limits, all or nothing, against the
    /// levels read at the start and what earlier requests of the batch took.
    pub(super) fn charge(&mut self, charges: &Charges) -> Result<(), Limited> {
        if let Some(b) = &charges.bucket {
            let level = self.buckets.get(&b.client_id).ok_or(Limited::Client)?;
            let now = charges.now.max(level.last_now);
            let left = BucketLevel::refilled(
                level.millitokens,
                level.updated_at,
                now,
                level.rate,
                level.full,
            ) - level.taken;
            if left < b.cost.saturating_mul(1000) {
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
            level.taken = level.taken.saturating_add(b.cost.saturating_mul(1000));
            level.last_now = level.last_now.max(charges.now);
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

    /// Gives back what [`SharedLedger::charge`] took for a request that the
    /// account side then refused.
    pub(super) fn refund(&mut self, charges: &Charges) {
        if let Some(b) = &charges.bucket
            && let Some(level) = self.buckets.get_mut(&b.client_id)
        {
            level.taken = level.taken.saturating_sub(b.cost.saturating_mul(1000));
        }
        for w in &charges.shared_windows {
            if let Some(level) =
                self.windows.get_mut(&(w.subject.clone(), w.action, w.window_start))
            {
                level.taken = level.taken.saturating_sub(w.amount);
            }
        }
    }

    /// Locks the rows if the batch did not (see above), checks that its
    /// totals fit, and writes them. `Ok(false)`: they no longer fit, nothing
    /// was written, and the caller must roll the batch back.
    pub(super) async fn write(
        mut self,
        tx: &mut Transaction<'static, Any>,
    ) -> Result<bool, StoreError> {
        if !self.locked {
            for ((subject, action, window_start), level) in &mut self.windows {
                if level.taken == 0 {
                    continue;
                }
                let now: i64 = sqlx::query_scalar(LOCK_WINDOW)
                    .bind(subject.as_slice())
                    .bind(*action)
                    .bind(*window_start)
                    .bind(level.expires_at)
                    .fetch_one(&mut **tx)
                    .await?;
                if now.saturating_add(level.taken) > level.limit {
                    return Ok(false);
                }
                level.stored = now;
            }
            for (client_id, level) in &mut self.buckets {
                if level.taken == 0 {
                    continue;
                }
                let (millitokens, updated_at): (i64, i64) = sqlx::query_as(LOCK_BUCKET)
                    .bind(client_id.as_str())
                    .bind(level.full)
                    .bind(level.updated_at)
                    .fetch_one(&mut **tx)
                    .await?;
                level.millitokens = millitokens;
                level.updated_at = updated_at;
            }
        }
        for ((subject, action, window_start), level) in &self.windows {
            if level.taken == 0 {
                continue;
            }
            sqlx::query(
                "UPDATE rate_windows SET n = n + $1 \
                 WHERE subject = $2 AND action = $3 AND window_start = $4",
            )
            .bind(level.taken)
            .bind(subject.as_slice())
            .bind(*action)
            .bind(*window_start)
            .execute(&mut **tx)
            .await?;
            // The first charge of a window deletes the counter's earlier
            // windows, so the global counter leaves no rows behind.
            if level.stored == 0 {
                sqlx::query(
                    "DELETE FROM rate_windows \
                     WHERE subject = $1 AND action = $2 AND window_start < $3",
                )
                .bind(subject.as_slice())
                .bind(*action)
                .bind(*window_start)
                .execute(&mut **tx)
                .await?;
            }
        }
        for (client_id, level) in &self.buckets {
            if level.taken == 0 {
                continue;
            }
            let left = BucketLevel::refilled(
                level.millitokens,
                level.updated_at,
                level.last_now,
                level.rate,
                level.full,
            ) - level.taken;
            if left < 0 {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE rate_buckets SET millitokens = $1, updated_at = $2 WHERE client_id = $3",
            )
            .bind(left)
            .bind(level.updated_at.max(level.last_now))
            .bind(client_id.as_str())
            .execute(&mut **tx)
            .await?;
        }
        Ok(true)
    }
}

/// A window's count; `None` when it has no row.
pub(super) async fn window_count(
    conn: &mut sqlx::AnyConnection,
    subject: &[u8],
    action: &str,
    window_start: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT n FROM rate_windows WHERE subject = $1 AND action = $2 AND window_start = $3",
    )
    .bind(subject)
    .bind(action)
    .bind(window_start)
    .fetch_optional(conn)
    .await?)
}
