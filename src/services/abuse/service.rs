//! The anti-abuse service: account standing for the backend, abuse reports
//! from hubs, remedies from operators. Each acts on the account behind a
//! pseudonym through `ops_link` and never returns or logs the account.

use std::collections::HashSet;
use std::sync::Arc;

use crate::core::account::{AccountId, AccountState};
use crate::core::clock::{Clock, coarsen_to_hour};
use crate::core::linkage::{AccountRef, LinkError};
use crate::core::ops_keys::OpsPurpose;
use crate::core::page::{Cursor, Page, PageLimit};
use crate::core::pseudonym_id::PseudonymId;
use crate::core::pseudonym_index::PseudonymIndex;
use crate::core::text::{CaseId, Reason, TextError};
use crate::services::audit::{AuditAction, AuditEvent};
use crate::services::keyring::KeySet;
use crate::services::linkage_lookup;
use crate::store::{
    Applied, DeletionTarget, Finished, Lifted, NewReport, NewReputationEvent, RemedyEffect,
    RemedyIndex, RemedyRow, RemedyWrite, Standing, Store, StoreError, WindowCharge,
};

use super::limits;
use super::policy::IssuancePolicy;
use super::reports::AbuseReport;
use super::reputation;
use crate::core::remedy::{RemedyAction, parse_duration};

#[derive(Debug, thiserror::Error)]
pub enum AbuseError {
    #[error("{0}")]
    Invalid(String),
    #[error("no pseudonym with an account behind it has this URI")]
    UnknownPseudonym,
    #[error("this client may not apply remedies")]
    NotAllowed,
    #[error("no remedy has this id")]
    UnknownRemedy,
    #[error("this remedy was already lifted, or deleted an account")]
    NotLiftable,
    #[error("this admin client reached its limit of privacy reads this hour")]
    RateLimited { retry_after: i64 },
    #[error("this reporter reached its hourly quota of abuse reports")]
    ReportQuota { retry_after: i64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AbuseError {
    fn from(error: StoreError) -> Self {
        AbuseError::Internal(error.to_string())
    }
}

impl From<LinkError> for AbuseError {
    fn from(error: LinkError) -> Self {
        AbuseError::Internal(error.to_string())
    }
}

/// What the backend may learn about its own user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AccountStatus {
    /// `active`, `muted` or `suspended`.
    pub status: String,
    pub score: i64,
    pub min_score_to_mint: i64,
    pub min_score_to_disclose: i64,
    pub remaining_this_hour: i64,
    pub remaining_today: i64,
    pub active_pseudonyms: i64,
    pub max_active_pseudonyms: i64,
}

/// Facts the backend knows about its user.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signals {
    pub verified_phone: Option<bool>,
    pub account_age_days: Option<u32>,
}

/// A remedy as an operator asks for it.
#[derive(Debug, Clone)]
pub struct RemedyRequest {
    pub pseudonym: String,
    pub action: RemedyAction,
    pub related: bool,
    pub case_id: String,
    pub reason: String,
    pub duration: Option<String>,
}

/// A remedy applied: never the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemedyOutcome {
    pub remedy_id: String,
    pub affected_pseudonyms: i64,
}

/// Who applies a remedy.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub client_id: &'a str,
    pub is_admin: bool,
}

const AUTO_ACTOR: &str = "auto";
/// Largest adjustment an operator may make at once.
pub const MAX_ADJUSTMENT: i64 = 1_000_000;
const AUTO_CASE: &str = "auto:abuse-reports";
/// The justification of an audited privacy read (the API asks for none).
const PRIVACY_READ_REASON: &str = "admin read of the standing behind a pseudonym";

const AUTO_REASON: &str = "abuse reports from distinct reporters reached the policy threshold";

pub struct Abuse {
    keys: Arc<KeySet>,
    store: Store,
    clock: Arc<dyn Clock>,
    policy: Arc<IssuancePolicy>,
    prefix: String,
}

impl Abuse {
    pub fn new(
        keys: Arc<KeySet>,
        store: Store,
        clock: Arc<dyn Clock>,
        policy: Arc<IssuancePolicy>,
        prefix: String,
    ) -> Self {
        Self { keys, store, clock, policy, prefix }
    }

    fn account_ref(&self, account: &str) -> Result<AccountRef, AbuseError> {
        let account = AccountId::parse(account).map_err(|e| AbuseError::Invalid(e.to_string()))?;
        Ok(self.keys.link.account_ref(account.as_str()))
    }

    /// Standing, score and what the account may still mint. An account never
    /// seen reads as a new one (nothing is stored by asking).
    pub async fn account_status(&self, account: &str) -> Result<AccountStatus, AbuseError> {
        self.status_of(&self.account_ref(account)?).await
    }

    /// The operator's view: the standing of the account behind a pseudonym,
    /// without learning which account it is.
    /// The standing behind a pseudonym, for an admin (`actor`). The read is
    /// charged to the admin's hourly window and audited, with the pseudonym
    /// as subject, before anything is looked up: comparing two pseudonyms'
    /// standings is a way to guess whether they share an account.
    pub async fn account_status_by_pseudonym(
        &self,
        actor: &str,
        uri: &str,
    ) -> Result<AccountStatus, AbuseError> {
        let id = PseudonymId::from_uri(uri, &self.prefix).ok_or_else(|| {
            AbuseError::Invalid("`pseudonym` is not a pseudonym URI of this provider".into())
        })?;
        let subject = format!("{}{}", self.prefix, id.as_str());
        self.audited_read(actor, AuditAction::AccountStatusRead, &subject).await?;
        let account_ref = self.account_behind(&id).await?.ok_or(AbuseError::UnknownPseudonym)?;
        self.status_of(&account_ref).await
    }

    /// Charges a privacy read to `actor`'s fixed hourly window and appends
    /// its audit event, together; if either fails, so does the read.
    async fn audited_read(
        &self,
        actor: &str,
        action: AuditAction,
        subject: &str,
    ) -> Result<(), AbuseError> {
        let now = self.clock.now();
        let limit = self.policy.admin.privacy_reads_per_hour;
        let window = one_this_hour(actor, "admin_privacy_read", limit, now);
        let event = AuditEvent::new(now, actor, action, subject, None, PRIVACY_READ_REASON);
        match self.store.charge_and_audit(&window, &event).await {
            Ok(()) => Ok(()),
            Err(StoreError::OverLimit(_)) => {
                Err(AbuseError::RateLimited { retry_after: window.expires_at - now })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// One report of the reporter's hourly quota, charged before the
    /// pseudonym is looked up: unknown and known pseudonyms cost alike.
    async fn charge_report_quota(&self, reporter: &str) -> Result<(), AbuseError> {
        let now = self.clock.now();
        let limit = self.policy.reputation.reports.max_per_reporter_per_hour;
        let window = one_this_hour(reporter, "abuse_reports", limit, now);
        match self.store.charge_window(&window).await {
            Ok(()) => Ok(()),
            Err(StoreError::OverLimit(_)) => {
                Err(AbuseError::ReportQuota { retry_after: window.expires_at - now })
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn status_of(&self, account_ref: &AccountRef) -> Result<AccountStatus, AbuseError> {
        let now = self.clock.now();
        let standing = self.store.account_standing(account_ref, now).await?;
        let score =
            reputation::account_score(&self.store, &self.policy.reputation, account_ref, now)
                .await?;
        let (hour, day) = limits::remaining(&self.store, &self.policy, account_ref, now).await?;
        let (status, active) = match standing {
            Some(s) => (s.status, s.active_pseudonyms),
            None => (AccountState::Active, 0),
        };
        Ok(AccountStatus {
            status: status.as_str().to_string(),
            score,
            min_score_to_mint: self.policy.reputation.min_to_mint,
            min_score_to_disclose: self.policy.reputation.min_to_disclose,
            remaining_this_hour: hour.min(day),
            remaining_today: day,
            active_pseudonyms: active,
            max_active_pseudonyms: self.policy.account.max_active,
        })
    }

    /// Seeds backend signals; seeding one again replaces it. They do not decay.
    pub async fn seed_signals(&self, account: &str, signals: &Signals) -> Result<(), AbuseError> {
        let account_ref = self.account_ref(account)?;
        let weights = &self.policy.reputation.weights;
        let now = self.clock.now();
        let mut seeded = Vec::new();
        if let Some(verified) = signals.verified_phone {
            seeded
                .push(("signal_verified_phone", if verified { weights.verified_phone } else { 0 }));
        }
        if let Some(days) = signals.account_age_days {
            let years = i64::from(days) / 365;
            let points = years.saturating_mul(weights.account_age_per_year);
            seeded.push(("signal_account_age", points.min(weights.account_age_max)));
        }
        for (kind, points) in seeded {
            let id = self.keys.link.keyed_tag(kind, &hex(&account_ref.0));
            self.store
                .put_reputation_event(&NewReputationEvent {
                    id: &id,
                    account_ref: &account_ref,
                    kind,
                    points,
                    at: coarsen_to_hour(now),
                    decays: false,
                })
                .await?;
        }
        Ok(())
    }

    /// Records a hub's report. Unknown pseudonyms are accepted the same way
    /// (nothing stored), so a report reveals nothing about existence.
    pub async fn report(&self, reporter: &str, report: &AbuseReport) -> Result<String, AbuseError> {
        report.validate().map_err(AbuseError::Invalid)?;
        let id = PseudonymId::from_uri(&report.alleged_abuser, &self.prefix).ok_or_else(|| {
            AbuseError::Invalid("`alleged_abuser` is not a pseudonym URI of this provider".into())
        })?;
        let report_id =
            report.report_id(reporter).map_err(|e| AbuseError::Internal(e.to_string()))?;
        self.charge_report_quota(reporter).await?;
        let Some(account_ref) = self.account_behind(&id).await? else {
            return Ok(report_id);
        };
        let now = self.clock.now();
        let reports = &self.policy.reputation.reports;
        let content =
            serde_json::to_vec(report).map_err(|e| AbuseError::Internal(e.to_string()))?;
        let tally = self
            .store
            .record_report(&NewReport {
                id: &self.keys.link.keyed_tag("abuse-report", &report_id),
                account_ref: &account_ref,
                reporter: &self.keys.link.keyed_tag("reporter", reporter),
                reason_code: i64::from(report.reason_code),
                received_hour: coarsen_to_hour(now),
                sealed: &self.keys.link.seal_ops(
                    OpsPurpose::AbuseReport,
                    &content,
                    &account_ref.0,
                )?,
                weight: reports.weight_per_report,
                cap: reports.max_weight_per_reporter,
                points_per_weight: self.policy.reputation.weights.abuse_report,
            })
            .await?;
        if let Some(tally) = tally
            && tally.total_weight >= reports.auto_suspend_weight
            && tally.reporters >= reports.auto_suspend_min_reporters
            && self
                .store
                .account_standing(&account_ref, now)
                .await?
                .is_some_and(|s| s.status != AccountState::Suspended)
        {
            let outcome = self
                .apply(
                    &account_ref,
                    RemedyAction::Suspend,
                    None,
                    AUTO_CASE,
                    AUTO_REASON,
                    AUTO_ACTOR,
                )
                .await?;
            if let Some(outcome) = outcome {
                tracing::warn!(remedy_id = %outcome.remedy_id, "account suspended automatically after abuse reports");
            }
        }
        Ok(report_id)
    }

    /// Applies a remedy to the account behind a pseudonym.
    pub async fn remedy(
        &self,
        actor: Actor<'_>,
        request: &RemedyRequest,
    ) -> Result<RemedyOutcome, AbuseError> {
        if !actor.is_admin && !self.policy.reputation.reports.hub_may_remedy {
            return Err(AbuseError::NotAllowed);
        }
        let invalid = |m: &str| AbuseError::Invalid(m.to_string());
        let case_id = CaseId::parse("case_id", request.case_id.trim()).map_err(text_error)?;
        let reason = Reason::parse("reason", request.reason.trim()).map_err(text_error)?;
        let (case_id, reason) = (case_id.as_str(), reason.as_str());
        let duration = match (&request.duration, request.action) {
            (None, _) => None,
            (Some(text), RemedyAction::Mute | RemedyAction::Suspend) => {
                Some(parse_duration(text).ok_or_else(|| {
                    invalid("`duration` must be like 90m, 12h or 7d, at most a year")
                })?)
            }
            (Some(_), _) => return Err(invalid("only mute and suspend take a `duration`")),
        };
        let id = PseudonymId::from_uri(&request.pseudonym, &self.prefix)
            .ok_or_else(|| invalid("`pseudonym` is not a pseudonym URI of this provider"))?;
        let account_ref = self.account_behind(&id).await?.ok_or(AbuseError::UnknownPseudonym)?;
        // Found before acting: a deletion removes the relation keys too.
        // Bounded before anything is written: a relation key shared by a
        // crowd (a common phone number, a shared office address) must not
        // turn one request into unbounded work.
        let related = match request.related {
            true => self.store.related_accounts(&account_ref, MAX_RELATED + 1).await?,
            false => Vec::new(),
        };
        if related.len() > MAX_RELATED as usize {
            return Err(invalid(&format!(
                "`related` reaches more than {MAX_RELATED} accounts; apply remedies one by one"
            )));
        }
        let mut outcome = self
            .apply(&account_ref, request.action, duration, case_id, reason, actor.client_id)
            .await?
            .ok_or(AbuseError::UnknownPseudonym)?;
        // Each related account gets its own remedy row and audit event.
        for other in related {
            let applied = self
                .apply(&other, request.action, duration, case_id, reason, actor.client_id)
                .await?;
            outcome.affected_pseudonyms += applied.map_or(0, |a| a.affected_pseudonyms);
        }
        tracing::info!(
            remedy_id = %outcome.remedy_id,
            action = request.action.as_str(),
            case_id,
            affected = outcome.affected_pseudonyms,
            "remedy applied"
        );
        Ok(outcome)
    }

    /// An operator's adjustment of the score of the account behind a
    /// pseudonym (e.g. after an appeal); it decays like other events.
    pub async fn adjust(
        &self,
        actor: &str,
        pseudonym: &str,
        points: i64,
        case_id: &str,
        reason: &str,
    ) -> Result<String, AbuseError> {
        let invalid = |m: &str| AbuseError::Invalid(m.to_string());
        if points == 0 || !(-MAX_ADJUSTMENT..=MAX_ADJUSTMENT).contains(&points) {
            return Err(invalid("`points` must be non-zero, at most 1000000 either way"));
        }
        let case_id = CaseId::parse("case_id", case_id.trim()).map_err(text_error)?;
        let reason = Reason::parse("reason", reason.trim()).map_err(text_error)?;
        let (case_id, reason) = (case_id.as_str(), reason.as_str());
        let id = PseudonymId::from_uri(pseudonym, &self.prefix)
            .ok_or_else(|| invalid("`pseudonym` is not a pseudonym URI of this provider"))?;
        let account_ref = self.account_behind(&id).await?.ok_or(AbuseError::UnknownPseudonym)?;
        let now = self.clock.now();
        let adjustment_id = uuid::Uuid::new_v4().to_string();
        let event = NewReputationEvent {
            id: adjustment_id.as_bytes(),
            account_ref: &account_ref,
            kind: "admin_adjustment",
            points,
            at: now,
            decays: true,
        };
        let audit_event = AuditEvent::new(
            now,
            actor,
            AuditAction::ReputationAdjusted,
            &adjustment_id,
            Some(case_id),
            reason,
        );
        self.store.adjust_reputation(&event, &audit_event).await?;
        tracing::info!(adjustment_id = %adjustment_id, points, case_id, "reputation adjusted");
        Ok(adjustment_id)
    }

    /// One page of remedies, newest first, resuming after `after` (the
    /// `next` of the page before).
    pub async fn list_remedies(
        &self,
        after: Option<&Cursor>,
        limit: PageLimit,
    ) -> Result<Page<RemedyRow>, AbuseError> {
        let rows = self.store.list_remedies(after, limit.probe()).await?;
        Ok(Page::from_probe(rows, limit, |row| (row.created_at, row.id.as_str())))
    }

    /// Lifts a remedy: the account falls back to the strongest remedy still
    /// in force (active, when none is: it may mint again and its pseudonyms
    /// that were not revoked show active); an audit event records who and why.
    pub async fn lift_remedy(&self, actor: &str, id: &str, reason: &str) -> Result<(), AbuseError> {
        let reason = Reason::parse("reason", reason.trim()).map_err(text_error)?;
        let reason = reason.as_str();
        let event =
            AuditEvent::new(self.clock.now(), actor, AuditAction::RemedyLifted, id, None, reason);
        let open = |sealed: &[u8], remedy_id: &str, action: &str| {
            self.open_remedy_account(sealed, remedy_id, action == RemedyAction::Delete.as_str())
        };
        match self.store.lift_remedy(id, &event, open).await? {
            Lifted::Lifted => {
                tracing::info!(remedy_id = %id, "remedy lifted");
                Ok(())
            }
            Lifted::Unknown => Err(AbuseError::UnknownRemedy),
            Lifted::NotLiftable => Err(AbuseError::NotLiftable),
        }
    }

    /// The account behind a pseudonym; `None` for unknown ids and for
    /// pseudonyms whose account was deleted (their link is gone).
    async fn account_behind(&self, id: &PseudonymId) -> Result<Option<AccountRef>, AbuseError> {
        let behind = linkage_lookup::account_behind::<AbuseError>(&self.store, &self.keys.link, id);
        Ok(behind.await?.account())
    }

    /// Applies one remedy to one account; `None` when the account is gone.
    async fn apply(
        &self,
        account_ref: &AccountRef,
        action: RemedyAction,
        duration: Option<i64>,
        case_id: &str,
        reason: &str,
        actor: &str,
    ) -> Result<Option<RemedyOutcome>, AbuseError> {
        let now = self.clock.now();
        let until = duration.map(|d| now + d);
        let current = self.store.account_standing(account_ref, now).await?;
        let effect = match action {
            RemedyAction::Mute | RemedyAction::Suspend => {
                strongest(action.state(), until, current.as_ref())
            }
            RemedyAction::SuspendAndRevoke => RemedyEffect::SuspendAndRevoke,
            RemedyAction::Delete => RemedyEffect::Delete,
        };
        let remedy_id = uuid::Uuid::new_v4().to_string();
        let aad = remedy_aad(&remedy_id, effect == RemedyEffect::Delete);
        let sealed_account =
            self.keys.link.seal_ops(OpsPurpose::RemedyAccount, &account_ref.0, &aad)?;
        let audit = AuditEvent::new(
            now,
            actor,
            AuditAction::RemedyApplied(action),
            &remedy_id,
            Some(case_id),
            reason,
        );
        let tombstone = self.keys.link.tombstone_tag(account_ref);
        let write = RemedyWrite {
            id: &remedy_id,
            account_ref,
            tombstone: &tombstone,
            sealed_account: &sealed_account,
            effect,
            action: action.as_str(),
            case_id,
            reason,
            actor,
            now,
            expires_at: until,
            event_ids: [random_id(), random_id()],
            points: self.policy.reputation.weights.remedy_applied,
            upheld_points: self.policy.reputation.weights.report_upheld,
            audit: &audit,
        };
        let link = &self.keys.link;
        let reach = |sealed: Option<&[u8]>| {
            let Ok(mut index) = PseudonymIndex::open(link, account_ref, sealed) else {
                return RemedyIndex::Unreadable;
            };
            match effect {
                RemedyEffect::Status { .. } | RemedyEffect::Delete => {
                    RemedyIndex::Reach { ids: index.live_ids(now), sealed: None }
                }
                RemedyEffect::SuspendAndRevoke => {
                    let ids = index.revoke_all(now);
                    match index.seal(link, account_ref, now) {
                        Ok(sealed) => RemedyIndex::Reach { ids, sealed: Some(sealed) },
                        Err(_) => RemedyIndex::Unreadable,
                    }
                }
            }
        };
        let affected = match self.store.apply_remedy(&write, reach).await? {
            Applied::Affected(affected) => affected,
            Applied::Gone => return Ok(None),
            Applied::Stale => {
                return Err(AbuseError::Internal("a remedy found its index stale".into()));
            }
        };
        if effect == RemedyEffect::Delete {
            // Recorded and audited: from here the deletion completes, now
            // or at the next start (`resume_deletions`).
            self.finish_deletion(&remedy_id, account_ref).await?;
        }
        Ok(Some(RemedyOutcome { remedy_id, affected_pseudonyms: affected }))
    }

    /// The second half of a recorded deletion: unlinks every pseudonym the
    /// account's index names (a pseudonym-side write of its own, so no
    /// transaction ties the account's rows to its pseudonyms), then removes
    /// the account, holding its row, if no mint added a pseudonym in
    /// between; otherwise unlinks again. Only ever the account the deletion
    /// was recorded for: the index is read together with the deletion's
    /// pending state, and the removal finishes every deletion pending for
    /// the account, so an account that comes back under the same id
    /// (`account.deleted_may_return`) is never the target of an older one.
    async fn finish_deletion(
        &self,
        remedy_id: &str,
        account_ref: &AccountRef,
    ) -> Result<(), AbuseError> {
        let link = &self.keys.link;
        let open = |sealed: &[u8], id: &str| self.open_remedy_account(sealed, id, true);
        // Waits for late rows have a budget of their own: they must not use
        // up the attempts a deletion racing new mints needs.
        let (mut attempts, mut waits) = (0, 0);
        while attempts < DELETE_ATTEMPTS {
            let sealed = match self.store.deletion_target(remedy_id, account_ref).await? {
                DeletionTarget::Done => return Ok(()),
                DeletionTarget::Gone => {
                    self.store.clear_deletion(remedy_id).await?;
                    return Ok(());
                }
                DeletionTarget::Account(sealed) => sealed,
            };
            let index = PseudonymIndex::open(link, account_ref, sealed.as_deref())?;
            let unlinked: HashSet<PseudonymId> =
                index.entries().iter().map(|e| e.id.clone()).collect();
            let ids: Vec<PseudonymId> = unlinked.iter().cloned().collect();
            self.store.unlink_pseudonyms(&ids).await?;
            // A mint batch commits the index before its rows: a row not
            // there yet would land after the unlink with a live link to a
            // gone account, revoked online but not on the CRL. Wait for it
            // and unlink again; once the waits are spent, go on without it
            // (a batch whose rows failed, or a crash between its two
            // transactions, leaves an index entry that never gets a row).
            if waits < ROW_WAITS && self.store.count_unlinked(&ids).await? < ids.len() {
                tokio::time::sleep(ROW_WAIT * (1 << waits)).await;
                waits += 1;
                continue;
            }
            let check = |sealed: Option<&[u8]>| {
                let Ok(index) = PseudonymIndex::open(link, account_ref, sealed) else {
                    return RemedyIndex::Unreadable;
                };
                if index.entries().iter().any(|e| !unlinked.contains(&e.id)) {
                    return RemedyIndex::Stale;
                }
                RemedyIndex::Reach { ids: ids.clone(), sealed: None }
            };
            match self.store.finish_deletion(remedy_id, account_ref, check, open).await? {
                Finished::Removed | Finished::Gone | Finished::Done => return Ok(()),
                Finished::Stale => attempts += 1,
            }
        }
        Err(AbuseError::Internal("the account kept minting while it was being deleted".into()))
    }

    /// Finishes the deletions a stopped process left recorded but not done
    /// (run at start, before serving; replicas doing it at once is
    /// harmless). Returns how many it finished and how many it could not: a
    /// deletion whose sealed account does not open under the loaded keys,
    /// or that fails, stays pending, its account suspended and its
    /// tombstone buried, and is tried again at the next start.
    pub async fn resume_deletions(&self) -> Result<(usize, usize), AbuseError> {
        let (mut finished, mut failed) = (0, 0);
        for (remedy_id, sealed) in self.store.pending_deletions().await? {
            // Sealed for a deletion: a mute or suspension row whose action a
            // database writer changed to `delete` does not open here.
            let account_ref = self.open_remedy_account(&sealed, &remedy_id, true);
            let Some(account_ref) = account_ref else {
                tracing::error!(remedy_id = %remedy_id, "a pending deletion's account does not open under the loaded k_ops");
                failed += 1;
                continue;
            };
            match self.finish_deletion(&remedy_id, &account_ref).await {
                Ok(()) => finished += 1,
                Err(e) => {
                    tracing::error!(remedy_id = %remedy_id, error = %e, "a pending deletion could not be finished");
                    failed += 1;
                }
            }
        }
        Ok((finished, failed))
    }
}

impl Abuse {
    /// A remedy's sealed account ref, opened with the aad its action chose.
    fn open_remedy_account(
        &self,
        sealed: &[u8],
        remedy_id: &str,
        delete: bool,
    ) -> Option<AccountRef> {
        let aad = remedy_aad(remedy_id, delete);
        let plain = self.keys.link.open_ops(OpsPurpose::RemedyAccount, sealed, &aad).ok()?;
        <[u8; 32]>::try_from(plain).ok().map(AccountRef)
    }
}

/// The aad a remedy's account is sealed with: its id, and for a deletion
/// `delete\0` before it, so a row whose action was rewritten in the
/// database (a mute turned into a deletion, which a start would carry out)
/// no longer opens.
fn remedy_aad(remedy_id: &str, delete: bool) -> Vec<u8> {
    match delete {
        true => [b"delete\0".as_slice(), remedy_id.as_bytes()].concat(),
        false => remedy_id.as_bytes().to_vec(),
    }
}

/// One unit of `client`'s fixed clock-hour window for `action`.
fn one_this_hour(client: &str, action: &'static str, limit: i64, now: i64) -> WindowCharge {
    const HOUR: i64 = 3600;
    let window_start = now - now.rem_euclid(HOUR);
    WindowCharge {
        subject: client.as_bytes().to_vec(),
        action,
        window_start,
        expires_at: window_start.saturating_add(HOUR),
        amount: 1,
        limit,
    }
}

/// Most accounts one `related` remedy may reach besides the first.
pub const MAX_RELATED: i64 = 50;

/// A deletion races mints at most this many times before it gives up.
const DELETE_ATTEMPTS: u32 = 5;

/// How often a deletion waits for an indexed pseudonym's row, and the first
/// wait (doubled each time: 50 + 100 + 200 + 400 ms in all, far beyond the
/// gap between a batch's two transactions).
const ROW_WAITS: u32 = 4;
const ROW_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// A fresh random event id.
fn random_id() -> [u8; 16] {
    uuid::Uuid::new_v4().into_bytes()
}

/// The account state after a status remedy: it never weakens the current
/// one (a mute does not lift a suspension; a timed suspension does not
/// shorten a permanent one).
fn strongest(new: AccountState, until: Option<i64>, current: Option<&Standing>) -> RemedyEffect {
    match current {
        Some(c) if c.status > new => RemedyEffect::Status { status: c.status, until: c.until },
        Some(c) if c.status == new => {
            let until = match (c.until, until) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            RemedyEffect::Status { status: new, until }
        }
        _ => RemedyEffect::Status { status: new, until },
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text_error(error: TextError) -> AbuseError {
    AbuseError::Invalid(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(status: AccountState, until: Option<i64>) -> Standing {
        Standing { status, until, active_pseudonyms: 0 }
    }

    fn effect(status: AccountState, until: Option<i64>) -> RemedyEffect {
        RemedyEffect::Status { status, until }
    }

    #[test]
    fn a_weaker_remedy_keeps_the_stronger_state() {
        let suspended = standing(AccountState::Suspended, Some(50));
        assert_eq!(
            strongest(AccountState::Muted, Some(90), Some(&suspended)),
            effect(AccountState::Suspended, Some(50))
        );
        let muted = standing(AccountState::Muted, None);
        assert_eq!(
            strongest(AccountState::Suspended, Some(90), Some(&muted)),
            effect(AccountState::Suspended, Some(90))
        );
        let active = standing(AccountState::Active, None);
        assert_eq!(
            strongest(AccountState::Muted, Some(90), Some(&active)),
            effect(AccountState::Muted, Some(90))
        );
        assert_eq!(strongest(AccountState::Muted, None, None), effect(AccountState::Muted, None));
    }

    #[test]
    fn the_same_state_lasts_the_longer_of_the_two() {
        let timed = standing(AccountState::Suspended, Some(50));
        assert_eq!(
            strongest(AccountState::Suspended, Some(90), Some(&timed)),
            effect(AccountState::Suspended, Some(90))
        );
        assert_eq!(
            strongest(AccountState::Suspended, None, Some(&timed)),
            effect(AccountState::Suspended, None)
        );
        let permanent = standing(AccountState::Suspended, None);
        assert_eq!(
            strongest(AccountState::Suspended, Some(90), Some(&permanent)),
            effect(AccountState::Suspended, None)
        );
    }
}
