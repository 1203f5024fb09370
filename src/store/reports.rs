//! Abuse reports and each reporter's capped weight against an account.

use super::reputation::{NewReputationEvent, put_event};
use super::{Store, StoreError};
use crate::core::linkage::AccountRef;

/// A report to record.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub id: &'a [u8],
    pub account_ref: &'a AccountRef,
    pub reporter: &'a [u8],
    pub reason_code: i64,
    pub received_hour: i64,
    pub sealed: &'a [u8],
    /// Weight this report adds for its reporter, and the reporter's cap.
    pub weight: i64,
    pub cap: i64,
    /// Reputation points per unit of weight actually gained.
    pub points_per_weight: i64,
}

/// Reports against the account after this one, over all reporters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ReportTally {
    #[sqlx(rename = "total")]
    pub total_weight: i64,
    pub reporters: i64,
}

impl Store {
    /// Records a report, once: `None` when the same report was already
    /// recorded. The weight, the reputation event and the tally are written
    /// and read in one transaction.
    pub async fn record_report(
        &self,
        report: &NewReport<'_>,
    ) -> Result<Option<ReportTally>, StoreError> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO abuse_reports (id, account_ref, reporter, reason_code, received_hour, sealed) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(report.id)
        .bind(report.account_ref.0.as_slice())
        .bind(report.reporter)
        .bind(report.reason_code)
        .bind(report.received_hour)
        .bind(report.sealed)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(None);
        }
        // The reporter's weight row, locked (created at 0 on first sight):
        // a concurrent report of the same reporter waits here and then reads
        // the weight this one leaves, so the gain below is never counted
        // twice. A plain read let concurrent reports each gain from the
        // same stale weight and over-charge the account.
        let before: i64 = sqlx::query_scalar(
            "INSERT INTO report_weights (account_ref, reporter, weight) VALUES ($1, $2, 0) \
             ON CONFLICT (account_ref, reporter) DO UPDATE SET weight = report_weights.weight \
             RETURNING weight",
        )
        .bind(report.account_ref.0.as_slice())
        .bind(report.reporter)
        .fetch_one(&mut *tx)
        .await?;
        let after: i64 = sqlx::query_scalar(
            "INSERT INTO report_weights (account_ref, reporter, weight) VALUES ($1, $2, $3) \
             ON CONFLICT (account_ref, reporter) DO UPDATE SET weight = \
             CASE WHEN report_weights.weight + $4 > $5 THEN $5 ELSE report_weights.weight + $4 END \
             RETURNING weight",
        )
        .bind(report.account_ref.0.as_slice())
        .bind(report.reporter)
        .bind(report.weight.min(report.cap))
        .bind(report.weight)
        .bind(report.cap)
        .fetch_one(&mut *tx)
        .await?;
        let gained = after - before;
        if gained > 0 && report.points_per_weight != 0 {
            put_event(
                &mut tx,
                &NewReputationEvent {
                    id: report.id,
                    account_ref: report.account_ref,
                    kind: "abuse_report",
                    points: gained.saturating_mul(report.points_per_weight),
                    at: report.received_hour,
                    decays: true,
                },
            )
            .await?;
        }
        let tally: ReportTally = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(weight), 0) AS BIGINT) AS total, COUNT(*) AS reporters \
             FROM report_weights WHERE account_ref = $1",
        )
        .bind(report.account_ref.0.as_slice())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(tally))
    }
}
