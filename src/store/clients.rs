//! API clients and their hashed bearer tokens.

use super::operators::take_admin_guard;
use super::{AuditLink, Store, StoreError, audit};

/// A client to insert; `token_hash` is SHA-256 of the bearer token.
#[derive(Debug, Clone)]
pub struct NewClient<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub scopes: &'a str,
    pub token_hash: &'a [u8],
    pub created_at: i64,
    /// Required for admin clients: the (active) operator it belongs to.
    pub operator_id: Option<&'a str>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub operator_id: Option<String>,
    /// The operator's status (pending, active, revoked), if it has one.
    pub operator_status: Option<String>,
}

macro_rules! select_clients {
    ($rest:literal) => {
        concat!(
            "SELECT c.id, c.name, c.scopes, c.created_at, c.revoked_at, c.operator_id, \
             o.status AS operator_status FROM api_clients c \
             LEFT JOIN operators o ON o.id = c.operator_id ",
            $rest
        )
    };
}

impl Store {
    /// Inserts a client together with its audit event; false (nothing
    /// written) when it names an operator that is not active.
    pub async fn insert_client(
        &self,
        client: &NewClient<'_>,
        audit_event: &dyn AuditLink,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(operator) = client.operator_id {
            let active =
                sqlx::query("SELECT 1 AS one FROM operators WHERE id = $1 AND status = 'active'")
                    .bind(operator)
                    .fetch_optional(&mut *tx)
                    .await?;
            if active.is_none() {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO api_clients (id, name, scopes, token_hash, created_at, operator_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(client.id)
        .bind(client.name)
        .bind(client.scopes)
        .bind(client.token_hash)
        .bind(client.created_at)
        .bind(client.operator_id)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The active (unrevoked) client holding this token, if any.
    pub async fn client_by_token_hash(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<ClientRow>, StoreError> {
        // Every request asks: off the pool (see `readers`).
        let hash = token_hash.to_vec();
        self.readers
            .read(&self.pool, |conn| {
                Box::pin(
                    sqlx::query_as(select_clients!(
                        "WHERE c.token_hash = $1 AND c.revoked_at IS NULL"
                    ))
                    .bind(hash.clone())
                    .fetch_optional(conn),
                )
            })
            .await
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRow>, StoreError> {
        Ok(sqlx::query_as(select_clients!("ORDER BY c.created_at, c.id"))
            .fetch_all(&self.pool)
            .await?)
    }

    /// Marks a client revoked; false when no active client has this id, or
    /// when it is the last active admin (the statement itself refuses that,
    /// so there is always someone left who can manage clients). Scopes are
    /// stored space-separated, so a client is an admin when its padded list
    /// holds ` admin ` (a whole word, never part of another scope). A
    /// revocation is written with its audit event. The admin guard is taken
    /// first, so two concurrent revocations of the last two admins cannot
    /// both pass the count (it would race under READ COMMITTED otherwise).
    pub async fn revoke_client(
        &self,
        id: &str,
        audit_event: &dyn AuditLink,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        take_admin_guard(&mut tx).await?;
        let done = sqlx::query(
            "UPDATE api_clients SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND ((' ' || scopes || ' ') NOT LIKE '% admin %' OR (SELECT COUNT(*) FROM api_clients \
                  WHERE revoked_at IS NULL AND (' ' || scopes || ' ') LIKE '% admin %') > 1)",
        )
        .bind(audit_event.at())
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
        Ok(sqlx::query_scalar("SELECT COUNT(*) AS n FROM api_clients")
            .fetch_one(&self.pool)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditRow;

    #[derive(Debug)]
    struct Entry(String);

    impl AuditLink for Entry {
        fn at(&self) -> i64 {
            1
        }

        fn actor(&self) -> &str {
            "test"
        }

        fn link(&self, _seq: i64, prev: Option<[u8; 32]>) -> AuditRow<'_> {
            AuditRow {
                id: &self.0,
                at: 1,
                actor: "test",
                action: "client.test",
                subject: "",
                case_id: None,
                reason: "",
                sealed: None,
                prev_hash: prev.unwrap_or_default(),
                hash: [1; 32],
            }
        }
    }

    async fn client(store: &Store, id: &str, scopes: &str) {
        let new = NewClient {
            id,
            name: id,
            scopes,
            token_hash: id.as_bytes(),
            created_at: 0,
            operator_id: None,
        };
        store.insert_client(&new, &Entry(format!("create {id}"))).await.unwrap();
    }

    #[tokio::test]
    async fn only_the_admin_scope_itself_counts_as_an_admin() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("veil.db").display());
        let store = Store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        client(&store, "root", "admin backend").await;
        // Holds "admin" only as part of another word: not an admin.
        client(&store, "other", "backend superadmin").await;
        assert!(!store.revoke_client("root", &Entry("revoke root".into())).await.unwrap());
        assert!(store.revoke_client("other", &Entry("revoke other".into())).await.unwrap());
        client(&store, "second", "admin").await;
        assert!(store.revoke_client("root", &Entry("revoke root 2".into())).await.unwrap());
        assert!(!store.revoke_client("second", &Entry("revoke second".into())).await.unwrap());
    }
}
