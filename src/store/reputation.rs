//! Account standing: status, reputation events and counter readings.

use sqlx::{Any, Transaction};

use super::{Store, StoreError, get};
use crate::services::audit::AuditEvent;

/// An account's row as anti-abuse sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// `active`, `muted` or `suspended`, already past any expired remedy.
    pub status: String,
    /// When a timed remedy ends (`None`: it does not, or none applies).
    pub until: Option<i64>,
    pub active_pseudonyms: i64,
}

/// One reputation event as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReputationEvent {
    pub points: i64,
    pub at: i64,
    pub decays: bool,
}

/// A reputation event to write.
#[derive(Debug, Clone)]
pub struct NewReputationEvent<'a> {
    pub id: &'a [u8],
    pub account_ref: &'a [u8],
    pub kind: &'static str,
    pub points: i64,
    pub at: i64,
    pub decays: bool,
}

/// The status column as of `$2`: a timed remedy past its end reads active.
const EFFECTIVE_STATUS: &str =
    "CASE WHEN status_until IS NOT NULL AND status_until <= $2 THEN 'active' ELSE status END";

impl Store {
    /// The account's standing, or `None` when it was never seen.
    pub async fn account_standing(
        &self,
        account_ref: &[u8],
        now: i64,
    ) -> Result<Option<Standing>, StoreError> {
        let sql = format!(
            "SELECT {EFFECTIVE_STATUS} AS status, \
             CASE WHEN status_until IS NOT NULL AND status_until <= $2 THEN NULL ELSE status_until END AS until, \
             active_pseudonyms FROM accounts WHERE account_ref = $1"
        );
        // Built from constants only.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_ref)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Standing {
                status: get(&r, "status")?,
                until: get(&r, "until")?,
                active_pseudonyms: get(&r, "active_pseudonyms")?,
            })
        })
        .transpose()
    }

    /// Events of the account at or after `since` (older ones no longer count).
    pub async fn reputation_events(
        &self,
        account_ref: &[u8],
        since: i64,
    ) -> Result<Vec<ReputationEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT points, at, decays FROM reputation_events \
             WHERE account_ref = $1 AND (at >= $2 OR decays = 0)",
        )
        .bind(account_ref)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReputationEvent {
                    points: get(r, "points")?,
                    at: get(r, "at")?,
                    decays: get::<i64>(r, "decays")? != 0,
                })
            })
            .collect()
    }

    /// Writes an event, replacing one with the same id (signals re-seeded).
    pub async fn put_reputation_event(
        &self,
        event: &NewReputationEvent<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        put_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An operator's adjustment: the event and its audit record together.
    pub async fn adjust_reputation(
        &self,
        event: &NewReputationEvent<'_>,
        audit_event: &AuditEvent<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        put_event(&mut tx, event).await?;
        super::audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The count in a fixed window (0 when the window has no row).
    pub async fn window_count(
        &self,
        subject: &[u8],
        action: &str,
        window_start: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT n FROM rate_windows WHERE subject = $1 AND action = $2 AND window_start = $3",
        )
        .bind(subject)
        .bind(action)
        .bind(window_start)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| get(&r, "n")).transpose().map(|n| n.unwrap_or(0))
    }
}

pub(super) async fn put_event(
    tx: &mut Transaction<'static, Any>,
    event: &NewReputationEvent<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO reputation_events (id, account_ref, kind, points, at, decays) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET points = excluded.points, at = excluded.at",
    )
    .bind(event.id)
    .bind(event.account_ref)
    .bind(event.kind)
    .bind(event.points)
    .bind(event.at)
    .bind(i64::from(event.decays))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
