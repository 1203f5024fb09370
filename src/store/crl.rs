//! What the CRL is built from: every account's state and sealed index (a
//! page at a time), deleted accounts' pseudonyms, and the serials of linked
//! certificates (migration 0021).

use super::accounts::AccountViewRow;
use super::{AccountView, Store, StoreError};
use crate::core::linkage::AccountRef;
use crate::core::pseudonym_id::PseudonymId;

impl Store {
    /// Records a linked certificate's serial, with its pseudonym sealed in
    /// `holder`, until day `expires_day`, before it is handed out.
    pub async fn record_linked_certificate(
        &self,
        serial: &[u8],
        holder: &[u8],
        expires_day: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO linked_certificates (serial, holder, expires_day) VALUES ($1, $2, $3)",
        )
        .bind(serial)
        .bind(holder)
        .bind(expires_day)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every linked certificate not expired before `day`: (serial, sealed
    /// holder). Expired ones are deleted first.
    pub async fn linked_certificates(
        &self,
        day: i64,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        // A day later than the expiry: verifiers allow some clock skew.
        sqlx::query("DELETE FROM linked_certificates WHERE expires_day < $1 - 1")
            .bind(day)
            .execute(&self.pool)
            .await?;
        Ok(sqlx::query_as("SELECT serial, holder FROM linked_certificates")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Up to `limit` accounts after `after` (by account ref), each with its
    /// state at `now` and sealed index.
    pub async fn accounts_page(
        &self,
        after: Option<&AccountRef>,
        limit: i64,
        now: i64,
    ) -> Result<Vec<(AccountRef, AccountView)>, StoreError> {
        let rows: Vec<AccountViewRow> = sqlx::query_as(
            "SELECT account_ref, status, status_until, pseudonym_index FROM accounts \
             WHERE account_ref > $1 ORDER BY account_ref LIMIT $2",
        )
        .bind(after.map_or(&[][..], |a| a.0.as_slice()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|row| row.into_view(now)).collect()
    }

    /// Unexpired pseudonyms revoked on their own row: those of deleted
    /// accounts (their link is gone), and those revoked one by one (a stamp
    /// from before issue 11's layout, kept by the upgrade).
    pub async fn revoked_rows(&self, now: i64) -> Result<Vec<PseudonymId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM pseudonyms WHERE not_after > $1 \
             AND (revoked_at IS NOT NULL OR LENGTH(ops_link) = 0)",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        ids.iter()
            .map(|id| PseudonymId::parse(id).ok_or(StoreError::Corrupt("pseudonym id")))
            .collect()
    }
}
