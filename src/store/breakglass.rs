//! Break-glass requests and approvals. Every state change is one
//! conditional UPDATE (the state it expects is in its WHERE clause), written
//! with its audit entry in one transaction: two admins racing on the same
//! request cannot both succeed, and a reveal happens at most once.

use sqlx::{Any, Transaction};

use super::{AuditLink, Store, StoreError, audit, keyset};
use crate::core::linkage::AccountRef;
use crate::core::page::Cursor;

/// How [`Store::complete_reveal`] ended.
#[derive(Debug)]
pub enum RevealCompletion {
    /// Marked revealed and audited; the relayed partials (now deleted).
    Released(Vec<SealedPartial>),
    /// Not approved, not the requester, or past its window (a lost race).
    Closed,
    /// The account's link was deleted or changed since it was read.
    LinkGone,
}

/// An account's stored break-glass link (see `accounts::GlassRow`).
#[derive(Debug, Clone)]
pub struct StoredGlass {
    pub link: Vec<u8>,
    pub suite: i64,
    pub sender: Option<Vec<u8>>,
    pub tag: Option<Vec<u8>>,
}

type GlassColumns = (Option<Vec<u8>>, i64, Option<Vec<u8>>, Option<Vec<u8>>);

#[derive(Debug, Clone)]
pub struct NewBreakGlass<'a> {
    pub id: &'a str,
    pub pseudonym: &'a str,
    pub reason_code: &'a str,
    pub case_id: &'a str,
    pub justification: &'a str,
    pub requester: &'a str,
    /// The requester's operator: it may not approve, through any of its clients.
    pub requester_operator: &'a str,
    pub approvals_required: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// The requester's one-time reveal key, for custodians' partials.
    pub reveal_key: Option<&'a [u8]>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BreakGlassRow {
    pub id: String,
    pub pseudonym: String,
    pub reason_code: String,
    pub case_id: String,
    pub justification: String,
    pub requester: String,
    /// `None` only for requests made before operators existed.
    pub requester_operator: Option<String>,
    /// As stored: pending, approved, denied or revealed.
    pub status: String,
    pub approvals: i64,
    pub approvals_required: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revealed_at: Option<i64>,
    pub reveal_key: Option<Vec<u8>>,
    /// Custodians' partial decryptions submitted so far.
    pub partials: i64,
}

macro_rules! select_requests {
    ($rest:literal) => {
        concat!(
            "SELECT id, pseudonym, reason_code, case_id, justification, requester, \
             requester_operator, status, approvals_required, created_at, expires_at, revealed_at, \
             reveal_key, \
             (SELECT COUNT(*) FROM break_glass_approvals a WHERE a.request_id = r.id) AS approvals, \
             (SELECT COUNT(*) FROM break_glass_partials p WHERE p.request_id = r.id) AS partials \
             FROM break_glass_requests r ",
            $rest
        )
    };
}

/// Which requests a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFilter {
    All,
    /// Stored in this state (`pending`, `approved`) and not yet lapsed.
    Open(&'static str),
    /// Stored in this final state (`denied`, `revealed`).
    Closed(&'static str),
    /// Pending or approved, past `expires_at`.
    Lapsed,
}

/// The outcome of one approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Recorded; `complete` once enough admins approved.
    Recorded { complete: bool },
    /// This operator (through any of its clients) had already approved.
    Duplicate,
    /// The request is no longer pending (or has lapsed).
    NotPending,
}

/// One reveal as the user may see it after the embargo.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevealRecord {
    pub revealed_at: i64,
    pub reason_code: String,
    pub case_id: String,
    /// The audit entry that recorded the reveal (its `seq`), so the user
    /// can be given a proof that it is in the signed audit log.
    pub audit_seq: Option<i64>,
}

/// The outcome of a custodian's partial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialOutcome {
    Recorded,
    /// This custodian's partial is already there.
    Duplicate,
    /// The request is not approved, or its window has closed.
    NotApproved,
}

/// A custodian's partial as stored: sealed to the requester's reveal key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedPartial {
    pub custodian: i64,
    pub sealed: Vec<u8>,
}

/// Partials serve one reveal only: gone once it happened or was denied.
async fn delete_partials(tx: &mut Transaction<'static, Any>, id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM break_glass_partials WHERE request_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    pub async fn insert_break_glass(
        &self,
        request: &NewBreakGlass<'_>,
        audit_event: &dyn AuditLink,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO break_glass_requests (id, pseudonym, reason_code, case_id, justification, \
             requester, requester_operator, status, approvals_required, created_at, expires_at, \
             reveal_key) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11)",
        )
        .bind(request.id)
        .bind(request.pseudonym)
        .bind(request.reason_code)
        .bind(request.case_id)
        .bind(request.justification)
        .bind(request.requester)
        .bind(request.requester_operator)
        .bind(request.approvals_required)
        .bind(request.created_at)
        .bind(request.expires_at)
        .bind(request.reveal_key)
        .execute(&mut *tx)
        .await?;
        // Partials of requests that lapsed unrevealed are of no more use.
        sqlx::query(
            "DELETE FROM break_glass_partials WHERE request_id IN (SELECT id FROM break_glass_requests \
             WHERE expires_at <= $1 AND status IN ('pending', 'approved'))",
        )
        .bind(request.created_at)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn break_glass(&self, id: &str) -> Result<Option<BreakGlassRow>, StoreError> {
        Ok(sqlx::query_as(select_requests!("WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Up to `limit` requests that `filter` wants at `now`, newest first
    /// (`created_at DESC, id`), strictly after `after` in that order (from
    /// the newest without one). Filter and keyset are both SQL: a pending
    /// request is never cut off by newer requests in another state, and a
    /// page boundary inside one `created_at` neither skips nor repeats a
    /// row.
    pub async fn list_break_glass(
        &self,
        filter: RequestFilter,
        now: i64,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Vec<BreakGlassRow>, StoreError> {
        // $1 the limit, $2 and $3 the keyset, then the filter's values.
        let sql = match filter {
            RequestFilter::All => select_requests!(
                "WHERE created_at <= $2 AND (created_at < $2 OR id > $3) \
                 ORDER BY created_at DESC, id LIMIT $1"
            ),
            RequestFilter::Open(_) => select_requests!(
                "WHERE created_at <= $2 AND (created_at < $2 OR id > $3) \
                 AND status = $4 AND expires_at > $5 ORDER BY created_at DESC, id LIMIT $1"
            ),
            RequestFilter::Closed(_) => select_requests!(
                "WHERE created_at <= $2 AND (created_at < $2 OR id > $3) \
                 AND status = $4 ORDER BY created_at DESC, id LIMIT $1"
            ),
            RequestFilter::Lapsed => select_requests!(
                "WHERE created_at <= $2 AND (created_at < $2 OR id > $3) \
                 AND status IN ('pending', 'approved') AND expires_at <= $4 \
                 ORDER BY created_at DESC, id LIMIT $1"
            ),
        };
        let (at, id) = keyset(after);
        let query = sqlx::query_as(sql).bind(limit).bind(at).bind(id);
        let query = match filter {
            RequestFilter::All => query,
            RequestFilter::Open(status) => query.bind(status).bind(now),
            RequestFilter::Closed(status) => query.bind(status),
            RequestFilter::Lapsed => query.bind(now),
        };
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Records `approver`'s approval (a client of `operator`) of a pending
    /// request; an operator counts once whichever client it uses. The last
    /// one needed opens the reveal window `[now, now + window)`.
    pub async fn approve_break_glass(
        &self,
        id: &str,
        approver: &str,
        operator: &str,
        window: i64,
        audit_event: &dyn AuditLink,
    ) -> Result<Approval, StoreError> {
        let now = audit_event.at();
        let mut tx = self.begin_write().await?;
        // A no-op write first: it locks the request row, so concurrent
        // approvals of one request are counted one after the other.
        let pending = sqlx::query(
            "UPDATE break_glass_requests SET status = status \
             WHERE id = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if pending.rows_affected() != 1 {
            return Ok(Approval::NotPending);
        }
        let already = sqlx::query(
            "SELECT 1 AS one FROM break_glass_approvals WHERE request_id = $1 \
             AND (approver = $2 OR approver_operator = $3)",
        )
        .bind(id)
        .bind(approver)
        .bind(operator)
        .fetch_optional(&mut *tx)
        .await?;
        if already.is_some() {
            return Ok(Approval::Duplicate);
        }
        sqlx::query(
            "INSERT INTO break_glass_approvals (request_id, approver, approver_operator, at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(approver)
        .bind(operator)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let complete = sqlx::query(
            "UPDATE break_glass_requests SET status = 'approved', decided_at = $1, expires_at = $2 \
             WHERE id = $3 AND approvals_required <= \
             (SELECT COUNT(*) FROM break_glass_approvals WHERE request_id = $3)",
        )
        .bind(now)
        .bind(now + window)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(Approval::Recorded { complete })
    }

    /// Denies a pending request; false when it was not pending.
    pub async fn deny_break_glass(
        &self,
        id: &str,
        audit_event: &dyn AuditLink,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE break_glass_requests SET status = 'denied', decided_at = $1 \
             WHERE id = $2 AND status = 'pending' AND expires_at > $1",
        )
        .bind(audit_event.at())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        delete_partials(&mut tx, id).await?;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records custodian `custodian`'s partial for an approved request,
    /// sealed to the requester's reveal key, with its audit entry.
    pub async fn add_break_glass_partial(
        &self,
        id: &str,
        custodian: u8,
        submitted_by: &str,
        sealed: &[u8],
        audit_event: &dyn AuditLink,
    ) -> Result<PartialOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        // Locks the request row: a partial and the reveal do not interleave.
        let approved = sqlx::query(
            "UPDATE break_glass_requests SET status = status \
             WHERE id = $1 AND status = 'approved' AND expires_at > $2",
        )
        .bind(id)
        .bind(audit_event.at())
        .execute(&mut *tx)
        .await?;
        if approved.rows_affected() != 1 {
            return Ok(PartialOutcome::NotApproved);
        }
        let inserted = sqlx::query(
            "INSERT INTO break_glass_partials (request_id, custodian, submitted_by, sealed) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (request_id, custodian) DO NOTHING",
        )
        .bind(id)
        .bind(i64::from(custodian))
        .bind(submitted_by)
        .bind(sealed)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Ok(PartialOutcome::Duplicate);
        }
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(PartialOutcome::Recorded)
    }

    /// The `glass_link` of an account with what it is opened with and its
    /// integrity tag: `None` when the row or the link is gone (a deletion
    /// remedy).
    pub async fn glass_link(
        &self,
        account_ref: &AccountRef,
    ) -> Result<Option<StoredGlass>, StoreError> {
        let row: Option<GlassColumns> = sqlx::query_as(
            "SELECT glass_link, glass_suite, glass_sender, glass_tag FROM accounts \
             WHERE account_ref = $1",
        )
        .bind(account_ref.0.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(link, suite, sender, tag)| {
            link.map(|link| StoredGlass { link, suite, sender, tag })
        }))
    }

    /// Links written before integrity tags (all in the legacy suite):
    /// (account_ref, link, suite), at most `limit`.
    pub async fn untagged_glass_links(
        &self,
        limit: i64,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT account_ref, glass_link, glass_suite FROM accounts \
             WHERE glass_tag IS NULL AND glass_link IS NOT NULL LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records the tag of a link written before tags, unless the link
    /// changed meanwhile (a mint re-sealed it).
    pub async fn set_glass_tag(
        &self,
        account_ref: &[u8],
        link: &[u8],
        tag: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE accounts SET glass_tag = $1 WHERE account_ref = $2 AND glass_link = $3 \
             AND glass_tag IS NULL",
        )
        .bind(tag)
        .bind(account_ref)
        .bind(link)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks an approved request revealed, by its requester, inside its
    /// window, and hands back the custodians' sealed partials (deleted in
    /// the same transaction); `None` when any of that no longer holds (so a
    /// link is released once). The audit entry carries the sealed link.
    /// `link` is (account_ref, the link as read and checked): under the
    /// account's row lock it must still be there, unchanged, or nothing is
    /// released (a deletion remedy that committed meanwhile wins).
    pub async fn complete_reveal(
        &self,
        id: &str,
        reveal_tag: &[u8; 32],
        embargo_until: Option<i64>,
        link: (&[u8], &[u8]),
        audit_event: &dyn AuditLink,
    ) -> Result<RevealCompletion, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE break_glass_requests SET status = 'revealed', revealed_at = $1, \
             reveal_tag = $2, embargo_until = $3 \
             WHERE id = $4 AND requester = $5 AND status = 'approved' AND expires_at > $1",
        )
        .bind(audit_event.at())
        .bind(reveal_tag.as_slice())
        .bind(embargo_until)
        .bind(id)
        .bind(audit_event.actor())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(RevealCompletion::Closed);
        }
        let (account_ref, expected) = link;
        let current: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "UPDATE accounts SET glass_link = glass_link WHERE account_ref = $1 \
             RETURNING glass_link",
        )
        .bind(account_ref)
        .fetch_optional(&mut *tx)
        .await?;
        if current.and_then(|(link,)| link).as_deref() != Some(expected) {
            return Ok(RevealCompletion::LinkGone);
        }
        let partials: Vec<SealedPartial> = sqlx::query_as(
            "SELECT custodian, sealed FROM break_glass_partials WHERE request_id = $1 \
             ORDER BY custodian",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        delete_partials(&mut tx, id).await?;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(RevealCompletion::Released(partials))
    }

    /// Reveals about the account with this tag whose embargo has ended by `now`.
    pub async fn reveals_for(
        &self,
        reveal_tag: &[u8; 32],
        now: i64,
    ) -> Result<Vec<RevealRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT revealed_at, reason_code, case_id, \
             (SELECT MIN(e.seq) FROM audit_events e \
              WHERE e.subject = r.id AND e.action = 'break_glass.reveal') AS audit_seq \
             FROM break_glass_requests r \
             WHERE reveal_tag = $1 AND status = 'revealed' AND embargo_until <= $2 \
             ORDER BY revealed_at",
        )
        .bind(reveal_tag.as_slice())
        .bind(now)
        .fetch_all(&self.pool)
        .await?)
    }
}
