//! Account standing: status, reputation events and counter readings.

use sqlx::{Any, Transaction};

use super::{AuditLink, Flag, Store, StoreError};
use crate::core::account::AccountState;
use crate::core::linkage::AccountRef;

/// An account's row as anti-abuse sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The state in force, already past any expired remedy.
    pub status: AccountState,
    /// When a timed remedy ends (`None`: it does not, or none applies).
    pub until: Option<i64>,
    pub active_pseudonyms: i64,
}

/// One reputation event as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ReputationEvent {
    pub points: i64,
    pub at: i64,
    #[sqlx(try_from = "Flag")]
    pub decays: bool,
}

/// A reputation event to write.
#[derive(Debug, Clone)]
pub struct NewReputationEvent<'a> {
    pub id: &'a [u8],
    pub account_ref: &'a AccountRef,
    pub kind: &'static str,
    pub points: i64,
    pub at: i64,
    pub decays: bool,
}

#[derive(sqlx::FromRow)]
struct StandingRow {
    #[sqlx(flatten)]
    state: super::accounts::StateRow,
    active_pseudonyms: i64,
}

impl Store {
    /// The account's standing, or `None` when it was never seen.
    pub async fn account_standing(
        &self,
        account_ref: &AccountRef,
        now: i64,
    ) -> Result<Option<Standing>, StoreError> {
        let row: Option<StandingRow> = sqlx::query_as(
            "SELECT status, status_until, active_pseudonyms FROM accounts WHERE account_ref = $1",
        )
        .bind(account_ref.0.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| {
            let status = r.state.status.effective(r.state.status_until, now);
            // An ended remedy leaves no end time behind.
            let until = r.state.status_until.filter(|&end| end > now);
            Standing { status, until, active_pseudonyms: r.active_pseudonyms }
        }))
    }

    /// Events of the account at or after `since` (older ones no longer count).
    pub async fn reputation_events(
        &self,
        account_ref: &AccountRef,
        since: i64,
    ) -> Result<Vec<ReputationEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT points, at, decays FROM reputation_events \
             WHERE account_ref = $1 AND (at >= $2 OR decays = 0)",
        )
        .bind(account_ref.0.as_slice())
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Writes an event, replacing one with the same id (signals re-seeded).
    pub async fn put_reputation_event(
        &self,
        event: &NewReputationEvent<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        put_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An operator's adjustment: the event and its audit record together.
    pub async fn adjust_reputation(
        &self,
        event: &NewReputationEvent<'_>,
        audit_event: &dyn AuditLink,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
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
        let mut conn = self.pool.acquire().await?;
        Ok(super::limits::window_count(&mut conn, subject, action, window_start)
            .await?
            .unwrap_or(0))
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
    .bind(event.account_ref.0.as_slice())
    .bind(event.kind)
    .bind(event.points)
    .bind(event.at)
    .bind(i64::from(event.decays))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
