//! Status list entries (migration 0020): a random slot and the pseudonym
//! behind it, sealed by the domain; and the reads a list is built from.

use std::collections::HashMap;

use sqlx::Any;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::QueryAs;

use super::accounts::AccountViewRow;
use super::pseudonyms::{IDS_PER_STATEMENT, PseudonymRow, placeholders};
use super::{AccountView, Store, StoreError};
use crate::core::linkage::AccountRef;
use crate::core::pseudonym_id::PseudonymId;

impl Store {
    /// Records entry `slot`, whose pseudonym is sealed in `holder`, until
    /// day `expires_day`; false when the slot is taken (draw again).
    pub async fn add_status_entry(
        &self,
        slot: i64,
        holder: &[u8],
        expires_day: i64,
    ) -> Result<bool, StoreError> {
        let added = sqlx::query(
            "INSERT INTO status_entries (slot, holder, expires_day) VALUES ($1, $2, $3) \
             ON CONFLICT (slot) DO NOTHING",
        )
        .bind(slot)
        .bind(holder)
        .bind(expires_day)
        .execute(&self.pool)
        .await?;
        Ok(added.rows_affected() == 1)
    }

    /// Writes many entries (slot, sealed holder, expiry day) at once, in
    /// multi-row statements, skipping taken slots: for the scale benchmark's
    /// seeding (`examples/load`), never for a credential being issued
    /// (which draws again when its slot is taken). Returns how many were
    /// written.
    pub async fn seed_status_entries(
        &self,
        entries: &[(i64, Vec<u8>, i64)],
    ) -> Result<u64, StoreError> {
        const ROWS_PER_STATEMENT: usize = 1_000;
        let mut written = 0;
        let mut tx = self.begin_write().await?;
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO status_entries (slot, holder, expires_day) VALUES {} \
                 ON CONFLICT (slot) DO NOTHING",
                rows.join(", ")
            );
            // Only placeholders are formatted in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (slot, holder, day) in chunk {
                query = query.bind(*slot).bind(holder.as_slice()).bind(*day);
            }
            written += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Entries stored, expired or not.
    pub async fn count_status_entries(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) AS n FROM status_entries")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The entries with a slot in `[from, to)` not expired before `day`:
    /// (slot, sealed holder), in slot order. Expired ones are deleted first.
    pub async fn status_entries(
        &self,
        from: i64,
        to: i64,
        day: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        // A day later than the expiry: verifiers allow some clock skew.
        sqlx::query("DELETE FROM status_entries WHERE expires_day < $1 - 1")
            .bind(day)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_as(
            "SELECT slot, holder FROM status_entries WHERE slot >= $1 AND slot < $2 \
             ORDER BY slot",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The rows of these pseudonyms (those that exist).
    pub async fn pseudonyms_among(
        &self,
        ids: &[PseudonymId],
    ) -> Result<Vec<PseudonymRow>, StoreError> {
        let select = "SELECT id, public_key, ops_link, connection_only, not_before, not_after, \
                      revoked_at FROM pseudonyms WHERE id IN";
        self.select_in(select, ids).await
    }

    /// [`Store::account_view`] of many accounts at once; accounts without
    /// a row (deleted) are absent from the map.
    pub async fn account_views(
        &self,
        accounts: &[AccountRef],
        now: i64,
    ) -> Result<HashMap<AccountRef, AccountView>, StoreError> {
        let select = "SELECT account_ref, status, status_until, pseudonym_index FROM accounts \
                      WHERE account_ref IN";
        let rows: Vec<AccountViewRow> = self.select_in(select, accounts).await?;
        // A malformed ref is skipped: it cannot be any account asked for.
        Ok(rows.into_iter().filter_map(|row| row.into_view(now).ok()).collect())
    }

    /// The rows `select` (a query ending in `IN`) finds for `values`, in
    /// one statement per `IDS_PER_STATEMENT` of them: a batched read costs
    /// a fixed number of statements, not one per value.
    pub(super) async fn select_in<R, V>(
        &self,
        select: &str,
        values: &[V],
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
        V: InValue,
    {
        let mut rows = Vec::with_capacity(values.len());
        for chunk in values.chunks(IDS_PER_STATEMENT) {
            let sql = format!("{select} ({})", placeholders(1, chunk.len()));
            // Only the callers' constant SQL and placeholders are formatted
            // in; every value is bound.
            let mut query = sqlx::query_as::<_, R>(sqlx::AssertSqlSafe(sql));
            for value in chunk {
                query = value.bind_to(query);
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }
}

/// A value a batched read ([`Store::select_in`]) binds.
pub(super) trait InValue {
    fn bind_to<'q, R>(&'q self, query: InQuery<'q, R>) -> InQuery<'q, R>;
}

type InQuery<'q, R> = QueryAs<'q, Any, R, AnyArguments>;

impl InValue for PseudonymId {
    fn bind_to<'q, R>(&'q self, query: InQuery<'q, R>) -> InQuery<'q, R> {
        query.bind(self.as_str())
    }
}

impl InValue for AccountRef {
    fn bind_to<'q, R>(&'q self, query: InQuery<'q, R>) -> InQuery<'q, R> {
        query.bind(self.0.as_slice())
    }
}

/// A keyed tag (a client row's).
impl InValue for [u8; 32] {
    fn bind_to<'q, R>(&'q self, query: InQuery<'q, R>) -> InQuery<'q, R> {
        query.bind(self.as_slice())
    }
}
