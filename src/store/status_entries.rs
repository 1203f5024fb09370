//! Status list entries (migration 0020): a random slot and the pseudonym
//! behind it, sealed by the domain; and the reads a list is built from.

use std::collections::HashMap;

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
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, public_key, ops_link, connection_only, not_before, not_after, \
                 revoked_at FROM pseudonyms WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            // Only placeholders are formatted in; every value is bound.
            let mut query = sqlx::query_as::<_, PseudonymRow>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }

    /// [`Store::account_view`] of many accounts at once; accounts without
    /// a row (deleted) are absent from the map.
    pub async fn account_views(
        &self,
        accounts: &[AccountRef],
        now: i64,
    ) -> Result<HashMap<AccountRef, AccountView>, StoreError> {
        let mut views = HashMap::with_capacity(accounts.len());
        for chunk in accounts.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT account_ref, status, status_until, pseudonym_index FROM accounts \
                 WHERE account_ref IN ({})",
                placeholders(1, chunk.len())
            );
            // Only placeholders are formatted in; every value is bound.
            let mut query = sqlx::query_as::<_, AccountViewRow>(sqlx::AssertSqlSafe(sql));
            for account in chunk {
                query = query.bind(account.0.as_slice());
            }
            for row in query.fetch_all(&self.pool).await? {
                // A malformed ref is skipped: it cannot be any account asked for.
                if let Ok((account, view)) = row.into_view(now) {
                    views.insert(account, view);
                }
            }
        }
        Ok(views)
    }
}
