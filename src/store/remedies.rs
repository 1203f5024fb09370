//! Remedies: one transaction changes the account and its pseudonyms, and
//! writes the remedy row and its audit event.

use super::audit;
use super::reputation::{NewReputationEvent, put_event};
use super::{AuditLink, Hash32, Store, StoreError, keyset};
use crate::core::account::AccountState;
use crate::core::linkage::AccountRef;
use crate::core::page::Cursor;
use crate::core::pseudonym_id::PseudonymId;

/// What a remedy does to the account's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemedyEffect {
    /// Set the account's status (until a time, or for good).
    Status { status: AccountState, until: Option<i64> },
    /// Suspend, and revoke every pseudonym (flags in the sealed index).
    SuspendAndRevoke,
    /// Record the deletion: suspend the account, bury its tombstone, and
    /// write the remedy (its account still sealed, which marks it pending)
    /// with its audit entry. The pseudonyms are unlinked next
    /// ([`Store::unlink_pseudonyms`]: they stay as placeholders without a
    /// link, so hubs see `revoked` and the key is never certified again),
    /// and [`Store::finish_deletion`] then removes the account. A process
    /// killed in between leaves a pending deletion that
    /// [`Store::pending_deletions`] finds at the next start.
    Delete,
}

/// What the domain makes of the account's sealed index for a remedy, while
/// the transaction holds the account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemedyIndex {
    /// The remedy reaches these pseudonyms (counted when stored and not
    /// revoked one by one); `sealed`, when present, replaces the index.
    Reach { ids: Vec<PseudonymId>, sealed: Option<Vec<u8>> },
    /// The index names pseudonyms the caller has not prepared for (a
    /// deletion must unlink every one first): prepare again and retry.
    Stale,
    /// The stored value does not open.
    Unreadable,
}

/// What applying a remedy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied; this many of the account's pseudonyms were affected.
    Affected(i64),
    /// The account has no row (deleted, or never seen).
    Gone,
    /// See [`RemedyIndex::Stale`]: nothing was written.
    Stale,
}

/// A remedy as listed to operators (no account).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct RemedyRow {
    pub id: String,
    pub action: String,
    pub case_id: String,
    pub reason: String,
    pub actor: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub lifted_at: Option<i64>,
    #[sqlx(rename = "affected")]
    pub affected_pseudonyms: i64,
}

/// What lifting a remedy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifted {
    Lifted,
    Unknown,
    /// Already lifted, or a deletion (nothing left to restore).
    NotLiftable,
}

/// A remedy to apply to one account.
#[derive(Debug, Clone)]
pub struct RemedyWrite<'a> {
    pub id: &'a str,
    pub account_ref: &'a AccountRef,
    /// The account ref sealed under k_ops (aad = remedy id): all the
    /// remedies table keeps of the account.
    pub sealed_account: &'a [u8],
    pub effect: RemedyEffect,
    pub action: &'static str,
    pub case_id: &'a str,
    pub reason: &'a str,
    pub actor: &'a str,
    pub now: i64,
    pub expires_at: Option<i64>,
    /// The account's tombstone tag, written by a deletion.
    pub tombstone: &'a [u8; 32],
    /// Fresh random ids for the remedy's reputation events (applied,
    /// upheld): the remedy id beside the account would join the two.
    pub event_ids: [[u8; 16]; 2],
    /// Reputation points the remedy costs (not written for a deletion).
    pub points: i64,
    /// Points per unit of report weight on the account, which the remedy
    /// upholds (not written for a deletion, nor when there are no reports).
    pub upheld_points: i64,
    pub audit: &'a dyn AuditLink,
}

impl Store {
    /// Up to `limit` remedies, newest first (`created_at DESC, id`),
    /// strictly after `after` in that order (from the newest without one).
    pub async fn list_remedies(
        &self,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Vec<RemedyRow>, StoreError> {
        let (at, id) = keyset(after);
        Ok(sqlx::query_as(
            "SELECT id, action, case_id, reason, actor, created_at, expires_at, lifted_at, affected \
             FROM remedies WHERE created_at <= $2 AND (created_at < $2 OR id > $3) \
             ORDER BY created_at DESC, id LIMIT $1",
        )
        .bind(limit)
        .bind(at)
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Lifts a remedy: the account falls back to the strongest remedy still
    /// in force (active when none is; revoked pseudonyms stay revoked), so
    /// lifting an old mute does not undo a later suspension. Written with
    /// its audit event in one transaction. `open` unseals a remedy's stored
    /// account ref, given the remedy id (k_ops lives with the domain).
    pub async fn lift_remedy(
        &self,
        id: &str,
        audit_event: &dyn AuditLink,
        open: impl Fn(&[u8], &str, &str) -> Option<AccountRef>,
    ) -> Result<Lifted, StoreError> {
        let now = audit_event.at();
        let mut tx = self.begin_write().await?;
        let lifted: Option<LiftedRow> = sqlx::query_as(
            "UPDATE remedies SET lifted_at = $1 \
             WHERE id = $2 AND lifted_at IS NULL AND action <> 'delete' \
             AND (sealed_account IS NOT NULL OR account_ref IS NOT NULL) \
             RETURNING action, account_ref, sealed_account",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = lifted else {
            let known = sqlx::query("SELECT 1 AS one FROM remedies WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            return Ok(if known.is_some() { Lifted::NotLiftable } else { Lifted::Unknown });
        };
        let account_ref =
            remedy_account(id, &row.action, row.sealed_account, row.account_ref, &open)?
                .ok_or(StoreError::Corrupt("sealed remedy account"))?;
        // The remedies table keeps accounts sealed per remedy, so the ones
        // in force are opened to find this account's. A deletion still
        // pending (its account still sealed) keeps the account suspended.
        let in_force: Vec<InForceRow> = sqlx::query_as(
            "SELECT id, action, expires_at, account_ref, sealed_account FROM remedies \
             WHERE lifted_at IS NULL AND (action IN ('mute', 'suspend', 'suspend_and_revoke') \
             OR (action = 'delete' AND sealed_account IS NOT NULL)) \
             AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut standing = (AccountState::Active, None);
        for remedy in in_force {
            let (id, action) = (&remedy.id, &remedy.action);
            let theirs =
                remedy_account(id, action, remedy.sealed_account, remedy.account_ref, &open);
            // One that does not open is not this account's.
            if let Ok(Some(theirs)) = theirs
                && theirs == account_ref
            {
                let state = match remedy.action.as_str() {
                    "mute" => AccountState::Muted,
                    _ => AccountState::Suspended,
                };
                standing = stronger(standing, (state, remedy.expires_at));
            }
        }
        let (status, until) = standing;
        sqlx::query("UPDATE accounts SET status = $1, status_until = $2 WHERE account_ref = $3")
            .bind(status.as_str())
            .bind(until)
            .bind(account_ref.0.as_slice())
            .execute(&mut *tx)
            .await?;
        // The accumulated report weights go too: otherwise the next report
        // from a reporter already at its cap would suspend the account again.
        sqlx::query("DELETE FROM report_weights WHERE account_ref = $1")
            .bind(account_ref.0.as_slice())
            .execute(&mut *tx)
            .await?;
        audit::append(&mut tx, audit_event).await?;
        tx.commit().await?;
        Ok(Lifted::Lifted)
    }

    /// Other accounts sharing a relation key with this one.
    /// At most `limit` of them.
    pub async fn related_accounts(
        &self,
        account_ref: &AccountRef,
        limit: i64,
    ) -> Result<Vec<AccountRef>, StoreError> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT DISTINCT other.account_ref AS account_ref FROM account_relations mine \
             JOIN account_relations other ON other.tag = mine.tag \
             WHERE mine.account_ref = $1 AND other.account_ref <> $1 LIMIT $2",
        )
        .bind(account_ref.0.as_slice())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|r| Hash32::try_from(r).map(AccountRef::from)).collect()
    }

    /// Applies a remedy in one transaction that writes only account-side
    /// rows (never a pseudonym row, so no transaction id or stamp ties the
    /// remedy's writes to the pseudonyms it reaches): the account's status,
    /// its sealed index as `index` rewrites it, reputation events with
    /// fresh random ids, the remedy row and its audit entry.
    pub async fn apply_remedy(
        &self,
        remedy: &RemedyWrite<'_>,
        index: impl FnOnce(Option<&[u8]>) -> RemedyIndex,
    ) -> Result<Applied, StoreError> {
        let mut tx = self.begin_write().await?;
        // A write first: the transaction holds the row (and on SQLite the
        // write lock) from here on, and reads the index as last committed.
        let status = match remedy.effect {
            RemedyEffect::Status { status, .. } => status,
            RemedyEffect::SuspendAndRevoke | RemedyEffect::Delete => AccountState::Suspended,
        };
        let until = match remedy.effect {
            RemedyEffect::Status { until, .. } => until,
            _ => None,
        };
        let sealed: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "UPDATE accounts SET status = $1, status_until = $2 WHERE account_ref = $3 \
             RETURNING pseudonym_index",
        )
        .bind(status.as_str())
        .bind(until)
        .bind(remedy.account_ref.0.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(sealed) = sealed else { return Ok(Applied::Gone) };
        let (ids, rewritten) = match index(sealed.as_deref()) {
            RemedyIndex::Reach { ids, sealed } => (ids, sealed),
            RemedyIndex::Stale => return Ok(Applied::Stale),
            RemedyIndex::Unreadable => return Err(StoreError::Corrupt("pseudonym index")),
        };
        // A read only: the pseudonym rows are not written here.
        let affected = super::pseudonyms::unrevoked_in(&mut tx, &ids).await?.len();
        let affected = i64::try_from(affected).unwrap_or(i64::MAX);
        if let Some(rewritten) = &rewritten {
            sqlx::query("UPDATE accounts SET pseudonym_index = $1 WHERE account_ref = $2")
                .bind(rewritten.as_slice())
                .bind(remedy.account_ref.0.as_slice())
                .execute(&mut *tx)
                .await?;
        }
        let remedy_account = match remedy.effect {
            RemedyEffect::Delete => {
                // The deletion's intent: the account is suspended from here
                // (mints refused), cannot come back, and the remedy row keeps
                // the sealed account until `finish_deletion` clears it.
                sqlx::query(
                    "INSERT INTO account_tombstones (tag) VALUES ($1) ON CONFLICT (tag) DO NOTHING",
                )
                .bind(remedy.tombstone.as_slice())
                .execute(&mut *tx)
                .await?;
                None
            }
            RemedyEffect::SuspendAndRevoke => {
                sqlx::query("UPDATE accounts SET active_pseudonyms = 0 WHERE account_ref = $1")
                    .bind(remedy.account_ref.0.as_slice())
                    .execute(&mut *tx)
                    .await?;
                Some(remedy.account_ref)
            }
            RemedyEffect::Status { .. } => Some(remedy.account_ref),
        };
        if remedy_account.is_some() && remedy.points != 0 {
            put_event(
                &mut tx,
                &NewReputationEvent {
                    id: remedy.event_ids[0].as_slice(),
                    account_ref: remedy.account_ref,
                    kind: "remedy_applied",
                    points: remedy.points,
                    at: remedy.now,
                    decays: true,
                },
            )
            .await?;
        }
        if remedy_account.is_some() && remedy.upheld_points != 0 {
            let weight: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(weight), 0) AS BIGINT) AS w FROM report_weights \
                 WHERE account_ref = $1",
            )
            .bind(remedy.account_ref.0.as_slice())
            .fetch_one(&mut *tx)
            .await?;
            if weight > 0 {
                let event = NewReputationEvent {
                    id: remedy.event_ids[1].as_slice(),
                    account_ref: remedy.account_ref,
                    kind: "report_upheld",
                    points: remedy.upheld_points.saturating_mul(weight),
                    at: remedy.now,
                    decays: true,
                };
                put_event(&mut tx, &event).await?;
            }
        }
        sqlx::query(
            "INSERT INTO remedies (id, sealed_account, action, case_id, reason, actor, created_at, expires_at, affected) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(remedy.id)
        .bind(remedy.sealed_account)
        .bind(remedy.action)
        .bind(remedy.case_id)
        .bind(remedy.reason)
        .bind(remedy.actor)
        .bind(remedy.now)
        .bind(remedy.expires_at)
        .bind(affected)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut tx, remedy.audit).await?;
        tx.commit().await?;
        Ok(Applied::Affected(affected))
    }
}

/// What a pending deletion finds of its account, read in one statement so
/// that the two agree (see [`Store::deletion_target`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletionTarget {
    /// The deletion is no longer pending: it was finished, or its account
    /// was removed by another deletion, which finished it too.
    Done,
    /// Pending, but its account has no row (removed by a release that did
    /// not finish the account's other deletions with it): only the remedy
    /// is left to clear, and a row that appears later is another account.
    Gone,
    /// Pending, and the account it was recorded for, with its sealed index.
    Account(Option<Vec<u8>>),
}

/// What finishing a deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The account was removed, with every deletion pending for it.
    Removed,
    /// The account had no row; the deletion is cleared all the same.
    Gone,
    /// The deletion was no longer pending: nothing was written (whatever
    /// row the account has now is not the one it was recorded for).
    Done,
    /// See [`RemedyIndex::Stale`]: nothing was written.
    Stale,
}

impl Store {
    /// Deletions recorded but not finished (a process stopped between the
    /// remedy and the removal of the account): remedy id and sealed account.
    pub async fn pending_deletions(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, sealed_account FROM remedies \
             WHERE action = 'delete' AND sealed_account IS NOT NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Whether deletion `remedy_id` is still pending and, if so, its
    /// account's sealed index, in one statement: a pending deletion's
    /// account row is always the one it was recorded for (the removal of an
    /// account finishes every deletion pending for it, in the same
    /// transaction), so the index read here names only that account's
    /// pseudonyms, never those of an account that came back under the same
    /// id (`account.deleted_may_return`).
    pub async fn deletion_target(
        &self,
        remedy_id: &str,
        account_ref: &AccountRef,
    ) -> Result<DeletionTarget, StoreError> {
        let row: Option<TargetRow> = sqlx::query_as(
            "SELECT a.account_ref, a.pseudonym_index FROM remedies r \
             LEFT JOIN accounts a ON a.account_ref = $2 \
             WHERE r.id = $1 AND r.action = 'delete' AND r.sealed_account IS NOT NULL",
        )
        .bind(remedy_id)
        .bind(account_ref.0.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => DeletionTarget::Done,
            Some(TargetRow { account_ref: None, .. }) => DeletionTarget::Gone,
            Some(TargetRow { pseudonym_index, .. }) => DeletionTarget::Account(pseudonym_index),
        })
    }

    /// Clears a pending deletion whose account has no row
    /// ([`DeletionTarget::Gone`]), touching no account.
    pub async fn clear_deletion(&self, remedy_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE remedies SET sealed_account = NULL WHERE id = $1 AND action = 'delete'",
        )
        .bind(remedy_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Finishes a recorded deletion in one account-side transaction: holding
    /// the account row, checks that the deletion is still pending (else
    /// [`Finished::Done`], nothing written: another replica, or another
    /// deletion of the same account, finished it), then with `index` that
    /// every pseudonym the account's index names was unlinked, then removes
    /// every row naming the account and clears the remedy's sealed account,
    /// and that of every other deletion pending for the same account
    /// (`open` unseals a deletion's account, given its sealed value and
    /// remedy id): they were recorded for the account removed here, so none
    /// stays pending to remove an account that comes back under the same id.
    /// [`Finished::Stale`] writes nothing.
    pub async fn finish_deletion(
        &self,
        remedy_id: &str,
        account_ref: &AccountRef,
        index: impl FnOnce(Option<&[u8]>) -> RemedyIndex,
        open: impl Fn(&[u8], &str) -> Option<AccountRef>,
    ) -> Result<Finished, StoreError> {
        let mut tx = self.begin_write().await?;
        // The row first, as every writer of the account takes it: a
        // deletion finishing the same account at once waits here.
        let sealed: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "UPDATE accounts SET status = $1, status_until = NULL WHERE account_ref = $2 \
             RETURNING pseudonym_index",
        )
        .bind(AccountState::Suspended.as_str())
        .bind(account_ref.0.as_slice())
        .fetch_optional(&mut *tx)
        .await?;
        let pending = sqlx::query(
            "SELECT 1 AS one FROM remedies \
             WHERE id = $1 AND action = 'delete' AND sealed_account IS NOT NULL",
        )
        .bind(remedy_id)
        .fetch_optional(&mut *tx)
        .await?;
        if pending.is_none() {
            // Dropped unfinished: the status written above is rolled back.
            return Ok(Finished::Done);
        }
        let finished = match sealed {
            None => Finished::Gone,
            Some(sealed) => match index(sealed.as_deref()) {
                RemedyIndex::Reach { .. } => {
                    delete_account(&mut tx, account_ref).await?;
                    Finished::Removed
                }
                RemedyIndex::Stale => return Ok(Finished::Stale),
                RemedyIndex::Unreadable => return Err(StoreError::Corrupt("pseudonym index")),
            },
        };
        let mut cleared = vec![remedy_id.to_string()];
        if finished == Finished::Removed {
            let others: Vec<(String, Vec<u8>)> = sqlx::query_as(
                "SELECT id, sealed_account FROM remedies \
                 WHERE action = 'delete' AND sealed_account IS NOT NULL AND id <> $1",
            )
            .bind(remedy_id)
            .fetch_all(&mut *tx)
            .await?;
            cleared.extend(
                others
                    .into_iter()
                    .filter(|(id, sealed)| open(sealed, id).as_ref() == Some(account_ref))
                    .map(|(id, _)| id),
            );
        }
        for id in &cleared {
            sqlx::query(
                "UPDATE remedies SET sealed_account = NULL WHERE id = $1 AND action = 'delete'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(finished)
    }
}

/// Removes every row that names the account (its earlier remedies keep
/// their case record without it).
async fn delete_account(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    account_ref: &AccountRef,
) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM account_relations WHERE account_ref = $1",
        "DELETE FROM reputation_events WHERE account_ref = $1",
        "DELETE FROM abuse_reports WHERE account_ref = $1",
        "DELETE FROM report_weights WHERE account_ref = $1",
        "DELETE FROM rate_windows WHERE subject = $1",
        "UPDATE remedies SET account_ref = NULL WHERE account_ref = $1",
        "DELETE FROM accounts WHERE account_ref = $1",
    ] {
        sqlx::query(sql).bind(account_ref.0.as_slice()).execute(&mut **tx).await?;
    }
    Ok(())
}

/// A pending deletion's account as [`Store::deletion_target`] reads it: no
/// `account_ref` when the account has no row.
#[derive(sqlx::FromRow)]
struct TargetRow {
    account_ref: Option<Vec<u8>>,
    pseudonym_index: Option<Vec<u8>>,
}

/// What `lift_remedy` finds of the account: sealed, or (before migration
/// 0011) in clear.
#[derive(sqlx::FromRow)]
struct LiftedRow {
    action: String,
    account_ref: Option<Vec<u8>>,
    sealed_account: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
struct InForceRow {
    id: String,
    action: String,
    expires_at: Option<i64>,
    account_ref: Option<Vec<u8>>,
    sealed_account: Option<Vec<u8>>,
}

/// A remedy's account: sealed (the domain opens it with an aad made of the
/// remedy id and, for a deletion, its action), or in clear for remedies
/// written before migration 0011. `None` when the seal does not open.
fn remedy_account(
    remedy_id: &str,
    action: &str,
    sealed: Option<Vec<u8>>,
    clear: Option<Vec<u8>>,
    open: &impl Fn(&[u8], &str, &str) -> Option<AccountRef>,
) -> Result<Option<AccountRef>, StoreError> {
    match (sealed, clear) {
        (Some(sealed), _) => Ok(open(&sealed, remedy_id, action)),
        (None, Some(clear)) => Ok(Some(Hash32::try_from(clear)?.into())),
        (None, None) => Err(StoreError::Corrupt("remedy without account")),
    }
}

/// The stronger of two (state, until) standings: the higher state wins;
/// of equal ones the later end, and no end beats any.
fn stronger(
    a: (AccountState, Option<i64>),
    b: (AccountState, Option<i64>),
) -> (AccountState, Option<i64>) {
    match a.0.cmp(&b.0) {
        std::cmp::Ordering::Greater => a,
        std::cmp::Ordering::Less => b,
        std::cmp::Ordering::Equal => match (a.1, b.1) {
            (Some(x), Some(y)) => (a.0, Some(x.max(y))),
            _ => (a.0, None),
        },
    }
}
