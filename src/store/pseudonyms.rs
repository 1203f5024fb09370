//! Pseudonym rows and the account's sealed index of them.

use super::{Charges, Flag, NewAccount, NewReputationEvent, Store, StoreError};
use crate::core::pseudonym_id::PseudonymId;

#[derive(Debug, Clone)]
pub struct NewPseudonym {
    pub id: PseudonymId,
    pub public_key: Vec<u8>,
    pub ops_link: Vec<u8>,
    /// `id` sealed under k_ops with the account ref as AAD.
    pub sealed_for_account: Vec<u8>,
    pub connection_only: bool,
    pub created_hour: i64,
    pub not_before: i64,
    pub not_after: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PseudonymRow {
    #[sqlx(try_from = "String")]
    pub id: PseudonymId,
    pub public_key: Vec<u8>,
    /// Empty once the account was deleted (the row is a tombstone).
    pub ops_link: Vec<u8>,
    #[sqlx(try_from = "Flag")]
    pub connection_only: bool,
    pub not_before: i64,
    pub not_after: i64,
    pub revoked_at: Option<i64>,
}

macro_rules! select_pseudonyms {
    ($rest:literal) => {
        concat!(
            "SELECT id, public_key, ops_link, connection_only, not_before, not_after, revoked_at \
             FROM pseudonyms ",
            $rest
        )
    };
}

/// Rows per multi-row INSERT (8 binds each stays far below every backend's
/// bind limit for the 32-key maximum batch).
const COLUMNS_PER_ROW: usize = 8;

impl Store {
    /// Stores a batch of pseudonyms for one account in one transaction: all or
    /// none. The account row is written first, so the transaction takes its
    /// write lock up front (SQLite) and never has to upgrade. The rate limits
    /// in `charges` are paid in the same transaction, so a refused batch
    /// (`StoreError::OverLimit`) stores and consumes nothing.
    pub async fn insert_pseudonyms(
        &self,
        account: &NewAccount<'_>,
        batch: &[NewPseudonym],
        charges: &Charges<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (account_ref, glass_link, status, created_hour) VALUES ($1, $2, 'active', $3) \
             ON CONFLICT (account_ref) DO NOTHING",
        )
        .bind(account.account_ref.0.as_slice())
        .bind(account.glass_link)
        .bind(account.created_hour)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 && account.glass_link.is_none() {
            // The account is new after all (e.g. just deleted): its first row
            // must carry a glass link, so let the caller seal one and retry.
            return Err(StoreError::AccountMissing);
        }
        if batch.is_empty() {
            tx.commit().await?;
            return Ok(());
        }
        // A batch holds at most a request's keys, so the count always fits.
        let amount = i64::try_from(batch.len()).unwrap_or(i64::MAX);
        charges.apply(&mut tx, account.account_ref, amount).await?;
        if let Some(first) = batch.first().filter(|_| charges.reputation_per_pseudonym != 0) {
            let event = NewReputationEvent {
                // The first pseudonym's id is unique, so the event is too.
                id: first.id.as_str().as_bytes(),
                account_ref: account.account_ref,
                kind: "pseudonym_minted",
                points: charges.reputation_per_pseudonym.saturating_mul(amount),
                at: charges.now,
                decays: true,
            };
            super::reputation::put_event(&mut tx, &event).await?;
        }
        if !account.relations.is_empty() {
            let mut sql = String::from("INSERT INTO account_relations (tag, account_ref) VALUES ");
            push_placeholders(&mut sql, account.relations.len(), 2, "");
            sql.push_str(" ON CONFLICT (tag, account_ref) DO NOTHING");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for tag in account.relations {
                query = query.bind(tag.as_slice()).bind(account.account_ref.0.as_slice());
            }
            query.execute(&mut *tx).await?;
        }

        let mut sql = String::from(
            "INSERT INTO pseudonyms (id, public_key, ops_link, connection_only, created_hour, not_before, not_after, revoked_at) VALUES ",
        );
        push_placeholders(&mut sql, batch.len(), COLUMNS_PER_ROW - 1, ", NULL");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for p in batch {
            query = query
                .bind(p.id.as_str())
                .bind(p.public_key.as_slice())
                .bind(p.ops_link.as_slice())
                .bind(i64::from(p.connection_only))
                .bind(p.created_hour)
                .bind(p.not_before)
                .bind(p.not_after);
        }
        query.execute(&mut *tx).await?;

        let mut sql =
            String::from("INSERT INTO account_pseudonyms (account_ref, sealed_pseudonym) VALUES ");
        push_placeholders(&mut sql, batch.len(), 2, "");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for p in batch {
            query =
                query.bind(account.account_ref.0.as_slice()).bind(p.sealed_for_account.as_slice());
        }
        query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn pseudonym(&self, id: &PseudonymId) -> Result<Option<PseudonymRow>, StoreError> {
        Ok(sqlx::query_as(select_pseudonyms!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The pseudonym certified for this SEC1 key (unique index on `public_key`):
    /// how a linked certificate, which names no pseudonym, finds its own.
    pub async fn pseudonym_by_public_key(
        &self,
        public_key: &[u8],
    ) -> Result<Option<PseudonymRow>, StoreError> {
        Ok(sqlx::query_as(select_pseudonyms!("WHERE public_key = $1"))
            .bind(public_key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Marks a pseudonym revoked; false when it is unknown or already revoked.
    pub async fn revoke_pseudonym(&self, id: &PseudonymId, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE pseudonyms SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn count_pseudonyms(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) AS n FROM pseudonyms").fetch_one(&self.pool).await?)
    }
}

/// Appends `($1, …, $k<suffix>), (…)` for `rows` rows of `per_row` binds.
fn push_placeholders(sql: &mut String, rows: usize, per_row: usize, suffix: &str) {
    use std::fmt::Write;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..per_row {
            if c > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${}", r * per_row + c + 1);
        }
        sql.push_str(suffix);
        sql.push(')');
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_every_row() {
        let mut sql = String::new();
        super::push_placeholders(&mut sql, 2, 2, ", NULL");
        assert_eq!(sql, "($1, $2, NULL), ($3, $4, NULL)");
    }
}
