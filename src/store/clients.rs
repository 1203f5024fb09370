//! API clients and their hashed bearer tokens.

use sqlx::any::AnyRow;

use super::{Store, StoreError, audit, get};
use crate::services::audit::AuditEvent;

/// A client to insert; `token_hash` is SHA-256 of the bearer token.
#[derive(Debug, Clone)]
pub struct NewClient<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub scopes: &'a str,
    pub token_hash: &'a [u8],
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl ClientRow {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: get(row, "id")?,
            name: get(row, "name")?,
            scopes: get(row, "scopes")?,
            created_at: get(row, "created_at")?,
            revoked_at: get(row, "revoked_at")?,
        })
    }
}

macro_rules! select_clients {
    ($rest:literal) => {
        concat!("SELECT id, name, scopes, created_at, revoked_at FROM api_clients ", $rest)
    };
}

impl Store {
    /// Inserts a client together with its audit event.
    pub async fn insert_client(
        &self,
        client: &NewClient<'_>,
        audit_event: &AuditEvent<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO api_clients (id, name, scopes, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(client.id)
        .bind(client.name)
        .bind(client.scopes)
        .bind(client.token_hash)
        .bind(client.created_at)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The active (unrevoked) client holding this token, if any.
    pub async fn client_by_token_hash(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<ClientRow>, StoreError> {
        let row = sqlx::query(select_clients!("WHERE token_hash = $1 AND revoked_at IS NULL"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ClientRow::from_row).transpose()
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRow>, StoreError> {
        let rows =
            sqlx::query(select_clients!("ORDER BY created_at, id")).fetch_all(&self.pool).await?;
        rows.iter().map(ClientRow::from_row).collect()
    }

    /// Marks a client revoked; false when no active client has this id, or
    /// when it is the last active admin (the statement itself refuses that,
    /// so there is always someone left who can manage clients). A
    /// revocation is written with its audit event.
    pub async fn revoke_client(
        &self,
        id: &str,
        audit_event: &AuditEvent<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE api_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND (scopes NOT LIKE '%admin%' OR (SELECT COUNT(*) FROM api_clients \
                  WHERE revoked_at IS NULL AND scopes LIKE '%admin%') > 1)",
        )
        .bind(audit_event.at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether an unrevoked client has this id.
    pub async fn client_is_active(&self, id: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 AS one FROM api_clients WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Number of clients that were ever created (bootstrap runs only on zero).
    pub async fn count_clients(&self) -> Result<i64, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM api_clients").fetch_one(&self.pool).await?;
        get(&row, "n")
    }
}
