//! Operators: the people behind admin clients (issue 12).

use sqlx::{Any, Transaction};

use super::{AuditLink, Store, StoreError, audit};

/// An operator to insert, `pending` or (bootstrap, host) `active`.
#[derive(Debug, Clone)]
pub struct NewOperator<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub active: bool,
    pub requested_by: Option<&'a str>,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OperatorRow {
    pub id: String,
    pub name: String,
    /// As stored: pending, active or revoked.
    pub status: String,
    pub requested_by: Option<String>,
    pub approved_by: Option<String>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

macro_rules! select_operators {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, status, requested_by, approved_by, created_at, activated_at, \
             revoked_at FROM operators ",
            $rest
        )
    };
}

/// Serializes every revocation that could leave no admin: the first write
/// of the transaction, so a concurrent one waits here (row lock on
/// PostgreSQL, write lock on SQLite) and its later checks see this one's
/// commit (READ COMMITTED takes a new snapshot per statement).
pub(super) async fn take_admin_guard(tx: &mut Transaction<'static, Any>) -> Result<(), StoreError> {
    sqlx::query("UPDATE admin_guard SET revisions = revisions + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    pub async fn insert_operator(
        &self,
        operator: &NewOperator<'_>,
        audit_event: &dyn AuditLink,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO operators (id, name, status, requested_by, created_at, activated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(operator.id)
        .bind(operator.name)
        .bind(if operator.active { "active" } else { "pending" })
        .bind(operator.requested_by)
        .bind(operator.created_at)
        .bind(operator.active.then_some(operator.created_at))
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn operator(&self, id: &str) -> Result<Option<OperatorRow>, StoreError> {
        Ok(sqlx::query_as(select_operators!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn list_operators(&self) -> Result<Vec<OperatorRow>, StoreError> {
        Ok(sqlx::query_as(select_operators!("ORDER BY created_at, id"))
            .fetch_all(&self.pool)
            .await?)
    }

    /// Activates a pending operator; false when it is not pending or
    /// `approver` asked for it (the statement itself refuses both).
    pub async fn approve_operator(
        &self,
        id: &str,
        approver: &str,
        audit_event: &dyn AuditLink,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE operators SET status = 'active', approved_by = $1, activated_at = $2 \
             WHERE id = $3 AND status = 'pending' AND id <> $1 \
             AND (requested_by IS NULL OR requested_by <> $1)",
        )
        .bind(approver)
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

    /// Revokes a pending or active operator and all its clients; false when
    /// it is already revoked, unknown, or no other active operator with an
    /// active admin client would be left (checked after the admin guard, so
    /// two concurrent revocations cannot both pass).
    pub async fn revoke_operator(
        &self,
        id: &str,
        audit_event: &dyn AuditLink,
    ) -> Result<bool, StoreError> {
        let now = audit_event.at();
        let mut tx = self.begin_write().await?;
        take_admin_guard(&mut tx).await?;
        let done = sqlx::query(
            "UPDATE operators SET status = 'revoked', revoked_at = $1 \
             WHERE id = $2 AND status <> 'revoked' AND EXISTS (SELECT 1 FROM operators o \
                 JOIN api_clients c ON c.operator_id = o.id \
                 WHERE o.id <> $2 AND o.status = 'active' AND c.revoked_at IS NULL \
                 AND (' ' || c.scopes || ' ') LIKE '% admin %')",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE api_clients SET revoked_at = $1 WHERE operator_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The active operator behind an active client, with when it became
    /// active; `None` for a non-admin client or a pending/revoked operator.
    pub async fn active_operator_of_client(
        &self,
        client_id: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT o.id, o.activated_at FROM api_clients c JOIN operators o ON o.id = c.operator_id \
             WHERE c.id = $1 AND c.revoked_at IS NULL AND o.status = 'active' \
             AND o.activated_at IS NOT NULL",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }
}
