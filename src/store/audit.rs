//! Audit events, written inside the caller's transaction.

use sqlx::{Any, Transaction};

use super::StoreError;
use crate::audit::AuditEvent;

pub(super) async fn append(
    tx: &mut Transaction<'static, Any>,
    event: &AuditEvent<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor, action, subject, case_id, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.id.as_str())
    .bind(event.at)
    .bind(event.actor)
    .bind(event.action.as_str())
    .bind(event.subject)
    .bind(event.case_id)
    .bind(event.reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
