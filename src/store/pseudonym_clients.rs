//! A pseudonym's further clients (migration 0022). The store sees only
//! keyed tags and a sealed value (the domain computes and opens them), and
//! never writes a pseudonym row while adding one: on PostgreSQL the
//! pseudonym is held by an advisory lock on its tag, on SQLite by the write
//! transaction. An add is two transactions, as a mint is: the account's
//! windows under its row lock ([`Store::charge_client_windows`]), then the
//! client row, so no transaction writes both sides.

use super::accounts::StateRow;
use super::limits::charge_windows;
use super::pseudonyms::{IDS_PER_STATEMENT, placeholders};
use super::{Backend, Store, StoreError, WindowCharge};
use crate::core::linkage::AccountRef;

/// A client row as the domain prepares it.
#[derive(Debug, Clone)]
pub struct NewPseudonymClient {
    pub id_tag: [u8; 32],
    pub pseudonym_tag: [u8; 32],
    pub key_tag: [u8; 32],
    /// Client id, pseudonym id and end, sealed (aad = `id_tag`).
    pub sealed: Vec<u8>,
    pub expires_day: i64,
}

/// A stored client: its tag, sealed value and whether it was revoked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PseudonymClientRow {
    pub id_tag: Vec<u8>,
    pub key_tag: Vec<u8>,
    pub sealed: Vec<u8>,
    pub revoked: i64,
}

/// What adding a client did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAdded {
    Added,
    /// The pseudonym already has `max` live clients.
    TooMany,
    /// The key certifies another client already.
    KeyInUse,
}

impl Store {
    /// Charges a client add to its account's windows, in one transaction
    /// that first holds the account row (as a mint and a deletion do): an
    /// account removed since the caller's checks (a deletion that finished
    /// in between) is `AccountMissing`, one restricted since is
    /// `Restricted`, and neither is charged. A deletion that comes after
    /// waits for this charge and removes its window rows with the account,
    /// so no `rate_windows` row outlives the account it is keyed by.
    pub async fn charge_client_windows(
        &self,
        account_ref: &AccountRef,
        windows: &[WindowCharge],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let state: Option<StateRow> = sqlx::query_as(
            "UPDATE accounts SET status = status WHERE account_ref = $1 \
             RETURNING status, status_until",
        )
        .bind(account_ref.0.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(state) = state else { return Err(StoreError::AccountMissing) };
        if !state.status.effective(state.status_until, now).may_act() {
            return Err(StoreError::Restricted);
        }
        charge_windows(&mut tx, windows, 0, true).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a client, holding the pseudonym (so two requests cannot both
    /// take its last place), when it has fewer than `max` clients that are
    /// not revoked and expire on `today` or later (`live` counts the ones
    /// the domain finds live among those the tag names).
    pub async fn add_pseudonym_client(
        &self,
        client: &NewPseudonymClient,
        max: i64,
        today: i64,
    ) -> Result<ClientAdded, StoreError> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            let mut lock = [0u8; 8];
            lock.copy_from_slice(&client.pseudonym_tag[..8]);
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(i64::from_be_bytes(lock))
                .execute(&mut *tx)
                .await?;
        }
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) AS n FROM pseudonym_clients \
             WHERE pseudonym_tag = $1 AND revoked = 0 AND expires_day >= $2",
        )
        .bind(client.pseudonym_tag.as_slice())
        .bind(today)
        .fetch_one(&mut *tx)
        .await?;
        if live >= max {
            return Ok(ClientAdded::TooMany);
        }
        let inserted = sqlx::query(
            "INSERT INTO pseudonym_clients (id_tag, pseudonym_tag, key_tag, sealed, expires_day) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(client.id_tag.as_slice())
        .bind(client.pseudonym_tag.as_slice())
        .bind(client.key_tag.as_slice())
        .bind(client.sealed.as_slice())
        .bind(client.expires_day)
        .execute(&mut *tx)
        .await;
        if let Err(error) = inserted {
            return match StoreError::from(error) {
                StoreError::Conflict(_) => Ok(ClientAdded::KeyInUse),
                other => Err(other),
            };
        }
        tx.commit().await?;
        Ok(ClientAdded::Added)
    }

    /// The clients a pseudonym tag names, in tag order (random).
    pub async fn pseudonym_clients(
        &self,
        pseudonym_tag: &[u8; 32],
    ) -> Result<Vec<PseudonymClientRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id_tag, key_tag, sealed, revoked FROM pseudonym_clients \
             WHERE pseudonym_tag = $1 ORDER BY id_tag",
        )
        .bind(pseudonym_tag.as_slice())
        .fetch_all(&self.pool)
        .await?)
    }

    /// The client with this tag.
    pub async fn pseudonym_client(
        &self,
        id_tag: &[u8; 32],
    ) -> Result<Option<PseudonymClientRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id_tag, key_tag, sealed, revoked FROM pseudonym_clients WHERE id_tag = $1",
        )
        .bind(id_tag.as_slice())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The clients with these tags (those stored), in batches
    /// ([`Store::select_in`]): a status list's rebuild reads all its
    /// client-bound entries' clients at once.
    pub async fn pseudonym_clients_among(
        &self,
        id_tags: &[[u8; 32]],
    ) -> Result<Vec<PseudonymClientRow>, StoreError> {
        let select =
            "SELECT id_tag, key_tag, sealed, revoked FROM pseudonym_clients WHERE id_tag IN";
        self.select_in(select, id_tags).await
    }

    /// The client whose key has this tag.
    pub async fn pseudonym_client_by_key(
        &self,
        key_tag: &[u8; 32],
    ) -> Result<Option<PseudonymClientRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id_tag, key_tag, sealed, revoked FROM pseudonym_clients WHERE key_tag = $1",
        )
        .bind(key_tag.as_slice())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Every client expiring on `day` or later, in tag order (the CRL).
    pub async fn all_pseudonym_clients(
        &self,
        day: i64,
    ) -> Result<Vec<PseudonymClientRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id_tag, key_tag, sealed, revoked FROM pseudonym_clients \
             WHERE expires_day >= $1 ORDER BY id_tag",
        )
        .bind(day)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether any of these key tags certifies a client already (one
    /// query: a mint checks every key it certifies).
    pub async fn client_key_in_use(&self, key_tags: &[[u8; 32]]) -> Result<bool, StoreError> {
        for chunk in key_tags.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM pseudonym_clients WHERE key_tag IN ({})",
                placeholders(1, chunk.len())
            );
            // Only placeholders are formatted in; every value is bound.
            let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for tag in chunk {
                query = query.bind(tag.as_slice());
            }
            if query.fetch_one(&self.pool).await? > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Revokes the client with this tag, if it belongs to `pseudonym_tag`;
    /// false when it does not, or was revoked already.
    pub async fn revoke_pseudonym_client(
        &self,
        pseudonym_tag: &[u8; 32],
        id_tag: &[u8; 32],
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE pseudonym_clients SET revoked = 1 \
             WHERE id_tag = $1 AND pseudonym_tag = $2 AND revoked = 0",
        )
        .bind(id_tag.as_slice())
        .bind(pseudonym_tag.as_slice())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
