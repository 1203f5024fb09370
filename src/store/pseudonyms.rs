//! Pseudonym rows: written and changed only in transactions that write
//! nothing keyed by an account.

use std::collections::HashSet;

use sqlx::{Any, Transaction};

use super::{Flag, Store, StoreError};
use crate::core::pseudonym_id::PseudonymId;

#[derive(Debug, Clone)]
pub struct NewPseudonym {
    pub id: PseudonymId,
    pub public_key: Vec<u8>,
    pub ops_link: Vec<u8>,
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

/// Columns of a pseudonym row (the last, `revoked_at`, is written NULL).
const COLUMNS_PER_ROW: usize = 8;

/// Ids per `IN (…)` list: far below every backend's bind limit.
pub(super) const IDS_PER_STATEMENT: usize = 500;

impl Store {
    /// Pseudonym rows, all or none, in a transaction that writes nothing
    /// keyed by an account (mints go through the batch writer instead; see
    /// `mint_writer`).
    pub async fn insert_pseudonyms(&self, batch: &[NewPseudonym]) -> Result<(), StoreError> {
        let rows: Vec<&NewPseudonym> = batch.iter().collect();
        let _turn = self.write_turn().await;
        let mut tx = self.begin_write().await?;
        insert_rows(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether any of these SEC1 keys is already certified: checked before
    /// a mint charges anything (the unique index still decides a race).
    pub async fn any_key_in_use(&self, keys: &[&[u8]]) -> Result<bool, StoreError> {
        if keys.is_empty() {
            return Ok(false);
        }
        let sql = format!(
            "SELECT COUNT(*) AS n FROM pseudonyms WHERE public_key IN ({})",
            placeholders(1, keys.len())
        );
        let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
        for key in keys {
            query = query.bind(*key);
        }
        Ok(query.fetch_one(&self.pool).await? > 0)
    }

    /// How many of `ids` are stored and unlinked (a deletion's mark). A
    /// pseudonym not stored yet may be in a batch still committing.
    pub async fn count_unlinked(&self, ids: &[PseudonymId]) -> Result<usize, StoreError> {
        let found: Vec<(String,)> = self
            .select_in("SELECT id FROM pseudonyms WHERE LENGTH(ops_link) = 0 AND id IN", ids)
            .await?;
        Ok(found.len())
    }

    /// Which of `ids` are stored and revoked one by one. A pseudonym that is
    /// not stored is not among them: its batch may still be committing.
    pub async fn revoked_among(
        &self,
        ids: &[PseudonymId],
    ) -> Result<HashSet<PseudonymId>, StoreError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id FROM pseudonyms WHERE revoked_at IS NOT NULL AND id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for id in query.fetch_all(&self.pool).await? {
                found.insert(
                    PseudonymId::try_from(id).map_err(|_| StoreError::Corrupt("pseudonym id"))?,
                );
            }
        }
        Ok(found)
    }

    /// Erases the account link of these pseudonyms (a deletion), in a
    /// transaction of its own that writes no account-side row and no stamp:
    /// a pseudonym without a link reads `revoked`.
    pub async fn unlink_pseudonyms(&self, ids: &[PseudonymId]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE pseudonyms SET ops_link = $1 WHERE id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(Vec::<u8>::new());
            for id in chunk {
                query = query.bind(id.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn pseudonym(&self, id: &PseudonymId) -> Result<Option<PseudonymRow>, StoreError> {
        // Hubs' lookups and every verification ask: off the pool (see
        // `readers`); the statement owns what it binds.
        let id = id.as_str().to_string();
        self.readers
            .read(&self.pool, |conn| {
                Box::pin(
                    sqlx::query_as(select_pseudonyms!("WHERE id = $1"))
                        .bind(id.clone())
                        .fetch_optional(conn),
                )
            })
            .await
    }

    /// The pseudonym certified for this SEC1 key (unique index on `public_key`):
    /// how a linked certificate, which names no pseudonym, finds its own.
    pub async fn pseudonym_by_public_key(
        &self,
        public_key: &[u8],
    ) -> Result<Option<PseudonymRow>, StoreError> {
        let public_key = public_key.to_vec();
        self.readers
            .read(&self.pool, |conn| {
                Box::pin(
                    sqlx::query_as(select_pseudonyms!("WHERE public_key = $1"))
                        .bind(public_key.clone())
                        .fetch_optional(conn),
                )
            })
            .await
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

/// Which of `ids` are stored and not revoked one by one, on a given
/// connection (a remedy counts them inside its transaction): a read, never
/// a write of a pseudonym row.
pub(super) async fn unrevoked_in(
    conn: &mut sqlx::AnyConnection,
    ids: &[PseudonymId],
) -> Result<HashSet<PseudonymId>, StoreError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let sql = format!(
            "SELECT id FROM pseudonyms WHERE revoked_at IS NULL AND id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for id in query.fetch_all(&mut *conn).await? {
            found.insert(
                PseudonymId::try_from(id).map_err(|_| StoreError::Corrupt("pseudonym id"))?,
            );
        }
    }
    Ok(found)
}

/// `$first, …` for `n` binds.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Appends `($1, …, $k<suffix>), (…)` for `rows` rows of `per_row` binds.
pub(super) fn push_placeholders(sql: &mut String, rows: usize, per_row: usize, suffix: &str) {
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

/// Inserts rows in as few multi-row statements as the bind limits allow.
pub(super) async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    rows: &[&NewPseudonym],
) -> Result<(), StoreError> {
    for chunk in super::shapes::pieces(rows) {
        let mut sql = String::from(
            "INSERT INTO pseudonyms (id, public_key, ops_link, connection_only, created_hour, \
             not_before, not_after, revoked_at) VALUES ",
        );
        push_placeholders(&mut sql, chunk.len(), COLUMNS_PER_ROW - 1, ", NULL");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for p in chunk {
            query = query
                .bind(p.id.as_str())
                .bind(p.public_key.as_slice())
                .bind(p.ops_link.as_slice())
                .bind(i64::from(p.connection_only))
                .bind(p.created_hour)
                .bind(p.not_before)
                .bind(p.not_after);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
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
