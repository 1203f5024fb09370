//! Status list slots of pseudonyms (migration 0020), and the rows a list
//! is built from.

use std::collections::HashMap;

use super::accounts::StateRow;
use super::pseudonyms::{IDS_PER_STATEMENT, PseudonymRow, placeholders};
use super::{AccountView, Store, StoreError};
use crate::core::linkage::AccountRef;
use crate::core::pseudonym_id::PseudonymId;

/// A pseudonym row with its status slot.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlottedRow {
    pub status_slot: i64,
    #[sqlx(flatten)]
    pub row: PseudonymRow,
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    account_ref: Vec<u8>,
    #[sqlx(flatten)]
    state: StateRow,
    pseudonym_index: Option<Vec<u8>>,
}

impl Store {
    /// The pseudonym's slot, giving it `candidate` if it has none. `None`
    /// when `candidate` is taken by another pseudonym (the caller draws
    /// again) or the pseudonym does not exist.
    pub async fn status_slot(
        &self,
        id: &PseudonymId,
        candidate: i64,
    ) -> Result<Option<i64>, StoreError> {
        let taken = sqlx::query(
            "UPDATE pseudonyms SET status_slot = $1 WHERE id = $2 AND status_slot IS NULL",
        )
        .bind(candidate)
        .bind(id.as_str())
        .execute(&self.pool)
        .await;
        match taken {
            Ok(_) => {}
            Err(error) => match StoreError::from(error) {
                StoreError::Conflict(_) => return Ok(None),
                other => return Err(other),
            },
        }
        Ok(sqlx::query_scalar("SELECT status_slot FROM pseudonyms WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .flatten())
    }

    /// Pseudonyms whose slot is in `[from, to)`, in slot order.
    pub async fn slotted_pseudonyms(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<SlottedRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT status_slot, id, public_key, ops_link, connection_only, not_before, \
             not_after, revoked_at FROM pseudonyms \
             WHERE status_slot >= $1 AND status_slot < $2 ORDER BY status_slot",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
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
            let mut query = sqlx::query_as::<_, ViewRow>(sqlx::AssertSqlSafe(sql));
            for account in chunk {
                query = query.bind(account.0.as_slice());
            }
            for row in query.fetch_all(&self.pool).await? {
                let Ok(bytes) = <[u8; 32]>::try_from(row.account_ref.as_slice()) else {
                    continue;
                };
                views.insert(
                    AccountRef(bytes),
                    AccountView {
                        state: row.state.status.effective(row.state.status_until, now),
                        sealed_index: row.pseudonym_index,
                    },
                );
            }
        }
        Ok(views)
    }

    /// A value that changes whenever a remedy is applied or lifted, so a
    /// replica knows its published lists may be stale.
    pub async fn remedy_epoch(&self) -> Result<(i64, i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(MAX(created_at), 0) AS BIGINT), \
             CAST(COUNT(lifted_at) AS BIGINT) FROM remedies",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}
