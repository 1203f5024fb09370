//! Break-glass (DESIGN.md, "Break-glass and audit"; draft-mahy-mimi-
//! pseudonyms §5.3): the only way from a pseudonym to the account id. An
//! admin requests it for a case under a reason code from the policy; other
//! admins approve (never the requester); the requester reveals once within
//! the window. Every step, and every refusal of an authenticated admin, is
//! an audit entry written with the change.
//!
//! The service never opens anything. The reveal releases the account's
//! sealed `glass_link` once, to the requester, in the transaction that
//! audits it; the requester's `veilctl` opens it with the break-glass key
//! file (file custody) or with `k` custodians' partial decryptions, which
//! each custodian's `veilctl` sealed to the requester's one-time reveal key
//! (custodian custody). No private key, passphrase or share reaches this
//! host.

pub mod custody;
pub mod policy;
pub mod shares;

use std::sync::Arc;

use serde::Serialize;

use crate::core::account::AccountId;
use crate::core::clock::Clock;
use crate::core::linkage::{AccountRef, LinkError};
use crate::core::ops_keys::OpsPurpose;
use crate::core::page::{Cursor, Page, PageLimit};
use crate::core::pseudonym_id::PseudonymId;
use crate::core::text::{CaseId, Reason, TextError};
use crate::formats::glass_link::{GlassError, GlassSuite, SealedLink};
use crate::formats::threshold::{CustodianIndex, Encapsulated, KemPublicKey};
use crate::services::audit::{AuditAction, AuditEvent};
use crate::services::glass_tag;
use crate::services::keyring::KeySet;
use crate::services::linkage_lookup::{self, Behind};
use crate::store::{
    Approval, BreakGlassRow, NewBreakGlass, PartialOutcome, RequestFilter, RevealCompletion,
    RevealRecord, Store, StoreError,
};
use policy::BreakGlassPolicy;

#[derive(Debug, thiserror::Error)]
pub enum BreakGlassError {
    #[error("{0}")]
    Invalid(String),
    #[error("`reason_code` must be one of: {0}")]
    UnknownReason(String),
    #[error("no pseudonym of this provider has this URI")]
    UnknownPseudonym,
    #[error("no break-glass request has this id")]
    NotFound,
    #[error("the requester's operator cannot approve the request, through any of its clients")]
    SelfApproval,
    #[error("only a client of an active operator may request or approve break-glass")]
    NotAnOperator,
    #[error("the approving operator is younger than the policy's min_operator_age")]
    OperatorTooNew,
    #[error("only the admin who made the request may reveal it")]
    NotRequester,
    #[error("this operator has already approved the request")]
    AlreadyApproved,
    #[error("the request is {0}, not pending")]
    NotPending(Status),
    #[error("the request is {0}; only an approved request can be revealed")]
    NotApproved(Status),
    #[error("the request was already revealed; a request reveals once")]
    AlreadyRevealed,
    #[error(
        "the request has no reveal key: custodian partials need one (`veilctl break-glass request --reveal-key`)"
    )]
    NoRevealKey,
    #[error("custodian {0} already sent a partial for this request")]
    DuplicatePartial(u8),
    #[error(
        "this account's link predates threshold custody: the requester opens it with the old whole key"
    )]
    LegacyLink,
    #[error("the request has expired")]
    Expired,
    #[error("the account behind this pseudonym was deleted by a remedy; it cannot be revealed")]
    AccountDeleted,
    #[error("a sealed link could not be opened")]
    Link(#[from] LinkError),
    #[error("the account's break-glass link is unreadable")]
    CorruptLink,
    #[error(
        "the account's break-glass link was not written by this service (edited in the \
         database): it is not released"
    )]
    ForgedLink,
    #[error("sealing failed")]
    Seal(#[from] GlassError),
    #[error("the account's link was re-sealed while it was being released; try again")]
    LinkChanged,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BreakGlassError {
    /// Refusals of the caller's request (audited), as opposed to failures.
    fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Self::Link(_) | Self::Store(_) | Self::CorruptLink | Self::Seal(_) | Self::LinkChanged
        )
    }
}

/// A request's state as callers see it: a pending or approved request
/// past its `expires_at` is expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Denied,
    Revealed,
    Expired,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Revealed => "revealed",
            Status::Expired => "expired",
        })
    }
}

/// What the API shows of a request (never the account).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub request_id: String,
    pub pseudonym: String,
    pub reason_code: String,
    pub case_id: String,
    pub justification: String,
    pub requester: String,
    pub status: Status,
    pub approvals: i64,
    pub approvals_required: i64,
    /// Custodians' partials relayed so far (sealed to the requester).
    pub partials: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What a custodian needs to compute its partial decryption of a request's
/// link: the link's encapsulated key, veil's sender key, and the
/// requester's reveal key to seal the partial to. None of it is secret.
#[derive(Debug, Clone)]
pub struct PartialInput {
    pub enc: Encapsulated,
    pub sender: KemPublicKey,
    pub reveal_key: KemPublicKey,
}

/// What the reveal releases to the requester, once.
#[derive(Debug, Clone)]
pub struct Released {
    pub link: SealedLink,
    /// Custodians' partials, sealed to the requester's reveal key.
    pub partials: Vec<(CustodianIndex, Vec<u8>)>,
}

fn view(row: BreakGlassRow, now: i64) -> RequestView {
    let status = status_of(&row, now);
    RequestView {
        request_id: row.id,
        pseudonym: row.pseudonym,
        reason_code: row.reason_code,
        case_id: row.case_id,
        justification: row.justification,
        requester: row.requester,
        status,
        approvals: row.approvals,
        approvals_required: row.approvals_required,
        partials: row.partials,
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

fn status_of(row: &BreakGlassRow, now: i64) -> Status {
    match row.status.as_str() {
        "denied" => Status::Denied,
        "revealed" => Status::Revealed,
        _ if row.expires_at <= now => Status::Expired,
        "approved" => Status::Approved,
        _ => Status::Pending,
    }
}

/// A new request as the API received it.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    pub pseudonym: &'a str,
    pub case_id: &'a str,
    pub justification: &'a str,
    pub reason_code: &'a str,
    /// The requester's one-time reveal key (SEC1 P-256), for custodian
    /// custody: partials are sealed to it.
    pub reveal_key: Option<&'a [u8]>,
}

pub struct BreakGlass {
    keys: Arc<KeySet>,
    store: Store,
    clock: Arc<dyn Clock>,
    policy: Arc<BreakGlassPolicy>,
    prefix: String,
}

impl std::fmt::Debug for BreakGlass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlass").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl BreakGlass {
    pub fn new(
        keys: Arc<KeySet>,
        store: Store,
        clock: Arc<dyn Clock>,
        policy: Arc<BreakGlassPolicy>,
        prefix: String,
    ) -> Self {
        Self { keys, store, clock, policy, prefix }
    }

    /// Records a refusal of an authenticated admin's call, then returns it.
    /// If even the audit write fails, that failure is returned instead.
    async fn refused<T>(
        &self,
        actor: &str,
        target: &str,
        case_id: Option<&str>,
        result: Result<T, BreakGlassError>,
    ) -> Result<T, BreakGlassError> {
        if let Err(error) = &result
            && error.is_refusal()
        {
            let why = error.to_string();
            let event = AuditEvent::new(
                self.clock.now(),
                actor,
                AuditAction::BreakGlassRefused,
                target,
                case_id,
                &why,
            );
            self.store.append_audit(&event).await?;
        }
        result
    }

    pub async fn request(
        &self,
        actor: &str,
        request: &NewRequest<'_>,
    ) -> Result<RequestView, BreakGlassError> {
        let result = self.request_inner(actor, request).await;
        let case_id = CaseId::parse("case_id", request.case_id).ok();
        let case_id = case_id.as_ref().map(CaseId::as_str);
        let target = if request.pseudonym.len() <= 200 { request.pseudonym } else { "" };
        self.refused(actor, target, case_id, result).await
    }

    async fn request_inner(
        &self,
        actor: &str,
        request: &NewRequest<'_>,
    ) -> Result<RequestView, BreakGlassError> {
        let invalid = |m: &str| BreakGlassError::Invalid(m.to_string());
        let case_id = CaseId::parse("case_id", request.case_id.trim()).map_err(text_error)?;
        let justification =
            Reason::parse("justification", request.justification.trim()).map_err(text_error)?;
        let (case_id, justification) = (case_id.as_str(), justification.as_str());
        let reason = self.policy.reason(request.reason_code).ok_or_else(|| {
            BreakGlassError::UnknownReason(self.policy.codes().collect::<Vec<_>>().join(", "))
        })?;
        let id = PseudonymId::from_uri(request.pseudonym, &self.prefix)
            .ok_or_else(|| invalid("`pseudonym` is not a pseudonym URI of this provider"))?;
        if let Some(key) = request.reveal_key {
            KemPublicKey::from_bytes(key)
                .map_err(|_| invalid("`reveal_key` is not a P-256 public key (SEC1)"))?;
        }
        if self.store.pseudonym(&id).await?.is_none() {
            return Err(BreakGlassError::UnknownPseudonym);
        }
        let (operator, _) = self.operator_of(actor).await?;
        let now = self.clock.now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let event = AuditEvent::new(
            now,
            actor,
            AuditAction::BreakGlassRequested,
            &request_id,
            Some(case_id),
            justification,
        );
        self.store
            .insert_break_glass(
                &NewBreakGlass {
                    id: &request_id,
                    pseudonym: request.pseudonym,
                    reason_code: request.reason_code,
                    case_id,
                    justification,
                    requester: actor,
                    requester_operator: &operator,
                    approvals_required: reason.approvals,
                    created_at: now,
                    expires_at: now + reason.request_ttl,
                    reveal_key: request.reveal_key,
                },
                &event,
            )
            .await?;
        tracing::info!(
            request_id,
            reason_code = request.reason_code,
            case_id,
            "break-glass requested"
        );
        self.get(&request_id).await
    }

    /// The caller's active operator and when it became active.
    async fn operator_of(&self, actor: &str) -> Result<(String, i64), BreakGlassError> {
        self.store.active_operator_of_client(actor).await?.ok_or(BreakGlassError::NotAnOperator)
    }

    async fn get(&self, id: &str) -> Result<RequestView, BreakGlassError> {
        let row = self.store.break_glass(id).await?.ok_or(BreakGlassError::NotFound)?;
        Ok(view(row, self.clock.now()))
    }

    /// One page of requests, newest first, optionally only those in
    /// `status`, resuming after `after` (the `next` of the page before).
    pub async fn list(
        &self,
        status: Option<Status>,
        after: Option<&Cursor>,
        limit: PageLimit,
    ) -> Result<Page<RequestView>, BreakGlassError> {
        let now = self.clock.now();
        let filter = match status {
            None => RequestFilter::All,
            Some(Status::Pending) => RequestFilter::Open("pending"),
            Some(Status::Approved) => RequestFilter::Open("approved"),
            Some(Status::Denied) => RequestFilter::Closed("denied"),
            Some(Status::Revealed) => RequestFilter::Closed("revealed"),
            Some(Status::Expired) => RequestFilter::Lapsed,
        };
        let rows = self.store.list_break_glass(filter, now, after, limit.probe()).await?;
        let page = Page::from_probe(rows, limit, |row| (row.created_at, row.id.as_str()));
        Ok(page.map(|row| view(row, now)))
    }

    pub async fn approve(&self, actor: &str, id: &str) -> Result<RequestView, BreakGlassError> {
        let result = self.approve_inner(actor, id).await;
        self.refused(actor, id, None, result).await
    }

    async fn approve_inner(&self, actor: &str, id: &str) -> Result<RequestView, BreakGlassError> {
        let row = self.store.break_glass(id).await?.ok_or(BreakGlassError::NotFound)?;
        // Approvals count people: the requesting operator is refused through
        // every one of its clients, and a new operator's only after its
        // probation (min_operator_age) has passed.
        let (operator, since) = self.operator_of(actor).await?;
        if row.requester == actor || row.requester_operator.as_deref() == Some(operator.as_str()) {
            return Err(BreakGlassError::SelfApproval);
        }
        let now = self.clock.now();
        if now.saturating_sub(since) < self.policy.min_operator_age() {
            return Err(BreakGlassError::OperatorTooNew);
        }
        let window = self
            .policy
            .reason(&row.reason_code)
            .ok_or_else(|| BreakGlassError::UnknownReason(row.reason_code.clone()))?
            .reveal_window;
        let event = AuditEvent::new(
            now,
            actor,
            AuditAction::BreakGlassApproved,
            id,
            Some(&row.case_id),
            "",
        );
        match self.store.approve_break_glass(id, actor, &operator, window, &event).await? {
            Approval::Recorded { .. } => {
                tracing::info!(request_id = id, "break-glass approval recorded");
                self.get(id).await
            }
            Approval::Duplicate => Err(BreakGlassError::AlreadyApproved),
            Approval::NotPending => Err(BreakGlassError::NotPending(self.get(id).await?.status)),
        }
    }

    pub async fn deny(
        &self,
        actor: &str,
        id: &str,
        reason: &str,
    ) -> Result<RequestView, BreakGlassError> {
        let result = self.deny_inner(actor, id, reason).await;
        self.refused(actor, id, None, result).await
    }

    async fn deny_inner(
        &self,
        actor: &str,
        id: &str,
        reason: &str,
    ) -> Result<RequestView, BreakGlassError> {
        let reason = Reason::parse("reason", reason.trim()).map_err(text_error)?;
        let reason = reason.as_str();
        let row = self.store.break_glass(id).await?.ok_or(BreakGlassError::NotFound)?;
        let now = self.clock.now();
        let event = AuditEvent::new(
            now,
            actor,
            AuditAction::BreakGlassDenied,
            id,
            Some(&row.case_id),
            reason,
        );
        if !self.store.deny_break_glass(id, &event).await? {
            return Err(BreakGlassError::NotPending(self.get(id).await?.status));
        }
        tracing::info!(request_id = id, "break-glass request denied");
        self.get(id).await
    }

    /// What a custodian computes its partial on (an approved request with
    /// a reveal key; any active operator may ask, nothing here is secret).
    pub async fn partial_input(
        &self,
        actor: &str,
        id: &str,
    ) -> Result<PartialInput, BreakGlassError> {
        let result = self.partial_input_inner(actor, id).await;
        self.refused(actor, id, None, result).await
    }

    async fn partial_input_inner(
        &self,
        actor: &str,
        id: &str,
    ) -> Result<PartialInput, BreakGlassError> {
        self.operator_of(actor).await?;
        let row = self.approved(id).await?;
        let reveal_key = reveal_key_of(&row)?;
        let (link, _) = self.link_of(&row).await?;
        if link.suite != GlassSuite::P256Auth {
            return Err(BreakGlassError::LegacyLink);
        }
        let enc =
            SealedLink::encapsulated(&link.sealed).map_err(|_| BreakGlassError::CorruptLink)?;
        let sender = link.sender.ok_or(BreakGlassError::CorruptLink)?;
        Ok(PartialInput { enc, sender, reveal_key })
    }

    /// Relays custodian `custodian`'s partial, sealed to the requester's
    /// reveal key (so neither this host nor its database can use it).
    pub async fn submit_partial(
        &self,
        actor: &str,
        id: &str,
        custodian: u8,
        sealed: &[u8],
    ) -> Result<RequestView, BreakGlassError> {
        let result = self.submit_partial_inner(actor, id, custodian, sealed).await;
        self.refused(actor, id, None, result).await
    }

    async fn submit_partial_inner(
        &self,
        actor: &str,
        id: &str,
        custodian: u8,
        sealed: &[u8],
    ) -> Result<RequestView, BreakGlassError> {
        let invalid = |m: &str| BreakGlassError::Invalid(m.to_string());
        let index =
            CustodianIndex::new(custodian).ok_or_else(|| invalid("`custodian` is 1..=255"))?;
        // enc (65) + a sealed partial: a few hundred bytes at most.
        if !(Encapsulated::LEN + 16..=4096).contains(&sealed.len()) {
            return Err(invalid("`sealed` is not a sealed partial decryption"));
        }
        self.operator_of(actor).await?;
        let row = self.approved(id).await?;
        reveal_key_of(&row)?;
        let detail = format!("custodian {}", index.get());
        let event = AuditEvent::new(
            self.clock.now(),
            actor,
            AuditAction::BreakGlassPartial,
            id,
            Some(&row.case_id),
            &detail,
        );
        // Wrapped under k_ops at rest too: a copy of the database alone does
        // not let the requester open the link without the audited reveal.
        let wrapped =
            self.keys.link.seal_ops(OpsPurpose::GlassPartial, sealed, &partial_aad(id, index))?;
        match self.store.add_break_glass_partial(id, index.get(), actor, &wrapped, &event).await? {
            PartialOutcome::Recorded => {
                tracing::info!(request_id = id, custodian, "break-glass partial relayed");
                self.get(id).await
            }
            PartialOutcome::Duplicate => Err(BreakGlassError::DuplicatePartial(index.get())),
            PartialOutcome::NotApproved => Err(self.closed(id).await?),
        }
    }

    /// An approved request still in its window, or why not.
    async fn approved(&self, id: &str) -> Result<BreakGlassRow, BreakGlassError> {
        let row = self.store.break_glass(id).await?.ok_or(BreakGlassError::NotFound)?;
        match status_of(&row, self.clock.now()) {
            Status::Approved => Ok(row),
            Status::Revealed => Err(BreakGlassError::AlreadyRevealed),
            Status::Expired => Err(BreakGlassError::Expired),
            other => Err(BreakGlassError::NotApproved(other)),
        }
    }

    /// Why a request that was approved a moment ago no longer is.
    async fn closed(&self, id: &str) -> Result<BreakGlassError, BreakGlassError> {
        let row = self.store.break_glass(id).await?.ok_or(BreakGlassError::NotFound)?;
        Ok(match status_of(&row, self.clock.now()) {
            Status::Revealed => BreakGlassError::AlreadyRevealed,
            Status::Approved | Status::Expired => BreakGlassError::Expired,
            other => BreakGlassError::NotApproved(other),
        })
    }

    /// The sealed link of the account behind the request's pseudonym, with
    /// the account ref it is bound to. A link without this service's
    /// integrity tag (planted or edited in the database, or downgraded to
    /// an older suite) is refused, never released.
    async fn link_of(
        &self,
        row: &BreakGlassRow,
    ) -> Result<(SealedLink, AccountRef), BreakGlassError> {
        let account_ref = self.account_behind(&row.pseudonym).await?;
        let stored =
            self.store.glass_link(&account_ref).await?.ok_or(BreakGlassError::AccountDeleted)?;
        let genuine = glass_tag::matches(
            &self.keys.link,
            &account_ref,
            stored.suite,
            stored.sender.as_deref(),
            &stored.link,
            stored.tag.as_deref(),
        );
        if !genuine {
            tracing::error!(request_id = row.id, "break-glass link fails its integrity tag");
            return Err(BreakGlassError::ForgedLink);
        }
        let suite = GlassSuite::from_code(stored.suite).ok_or(BreakGlassError::CorruptLink)?;
        let sender = match (suite, stored.sender) {
            (GlassSuite::P256Auth, Some(sender)) => {
                Some(KemPublicKey::from_bytes(&sender).map_err(|_| BreakGlassError::CorruptLink)?)
            }
            (GlassSuite::P256Auth, None) => return Err(BreakGlassError::CorruptLink),
            (GlassSuite::LegacyX25519, _) => None,
        };
        let link = SealedLink { suite, sealed: stored.link, aad: account_ref.0.to_vec(), sender };
        Ok((link, account_ref))
    }

    /// Releases the sealed link behind the request's pseudonym, once, to
    /// its requester, with the custodians' sealed partials; audited in the
    /// same transaction. Nothing is opened here.
    pub async fn reveal(&self, actor: &str, id: &str) -> Result<Released, BreakGlassError> {
        let result = self.reveal_inner(actor, id).await;
        self.refused(actor, id, None, result).await
    }

    async fn reveal_inner(&self, actor: &str, id: &str) -> Result<Released, BreakGlassError> {
        let row = self.store.break_glass(id).await?.ok_or(BreakGlassError::NotFound)?;
        if row.requester != actor {
            return Err(BreakGlassError::NotRequester);
        }
        let row = self.approved(id).await?;
        // A mint that re-sealed the link since it was read: read it again, once.
        match self.release(actor, id, &row).await {
            Err(BreakGlassError::LinkChanged) => self.release(actor, id, &row).await,
            other => other,
        }
    }

    /// Reads, checks and releases the link of `row`'s account.
    async fn release(
        &self,
        actor: &str,
        id: &str,
        row: &BreakGlassRow,
    ) -> Result<Released, BreakGlassError> {
        let now = self.clock.now();
        let (link, account_ref) = self.link_of(row).await?;
        let embargo_until =
            self.policy.reason(&row.reason_code).and_then(|r| r.embargo).map(|e| now + e);
        // The entry keeps the released link sealed once more to the
        // break-glass key, with fresh randomness: equal to no other entry
        // and to no `accounts` row, so it links nothing.
        let audit_copy = self.keys.glass.seal_for_audit(&link.sealed, id)?;
        let event = AuditEvent::new(
            now,
            actor,
            AuditAction::BreakGlassRevealed,
            id,
            Some(&row.case_id),
            &row.justification,
        )
        .with_sealed(audit_copy);
        let tag = self.keys.link.reveal_tag(&account_ref);
        let link_now = (account_ref.0.as_slice(), link.sealed.as_slice());
        let stored =
            match self.store.complete_reveal(id, &tag, embargo_until, link_now, &event).await? {
                RevealCompletion::Released(partials) => partials,
                // Lost a race with another reveal of the same request, or the window closed.
                RevealCompletion::Closed => return Err(self.closed(id).await?),
                // A deletion remedy or a re-seal committed since the link was read.
                RevealCompletion::LinkGone => {
                    return Err(match self.store.glass_link(&account_ref).await? {
                        Some(_) => BreakGlassError::LinkChanged,
                        None => BreakGlassError::AccountDeleted,
                    });
                }
            };
        let mut partials = Vec::with_capacity(stored.len());
        for p in stored {
            let index = u8::try_from(p.custodian)
                .ok()
                .and_then(CustodianIndex::new)
                .ok_or(BreakGlassError::CorruptLink)?;
            let sealed = self.keys.link.open_ops(
                OpsPurpose::GlassPartial,
                &p.sealed,
                &partial_aad(id, index),
            )?;
            partials.push((index, sealed));
        }
        tracing::warn!(request_id = id, reason_code = row.reason_code, "break-glass link released");
        Ok(Released { link, partials })
    }

    /// pseudonym URI -> ops_link -> account ref; a deleted account's
    /// pseudonyms have no link left.
    async fn account_behind(&self, uri: &str) -> Result<AccountRef, BreakGlassError> {
        let id =
            PseudonymId::from_uri(uri, &self.prefix).ok_or(BreakGlassError::UnknownPseudonym)?;
        let behind =
            linkage_lookup::account_behind::<BreakGlassError>(&self.store, &self.keys.link, &id);
        match behind.await? {
            Behind::Account(account_ref) => Ok(account_ref),
            Behind::Deleted => Err(BreakGlassError::AccountDeleted),
            Behind::Unknown => Err(BreakGlassError::UnknownPseudonym),
        }
    }

    /// What the user may see: reveals about `account` past their embargo.
    pub async fn transparency(&self, account: &str) -> Result<Vec<RevealRecord>, BreakGlassError> {
        let account =
            AccountId::parse(account).map_err(|e| BreakGlassError::Invalid(e.to_string()))?;
        let account_ref = self.keys.link.account_ref(account.as_str());
        let tag = self.keys.link.reveal_tag(&account_ref);
        Ok(self.store.reveals_for(&tag, self.clock.now()).await?)
    }
}

/// What a relayed partial is bound to at rest: its request and custodian.
fn partial_aad(request_id: &str, index: CustodianIndex) -> Vec<u8> {
    let mut aad = b"break-glass partial\0".to_vec();
    aad.extend_from_slice(request_id.as_bytes());
    aad.push(0);
    aad.push(index.get());
    aad
}

fn reveal_key_of(row: &BreakGlassRow) -> Result<KemPublicKey, BreakGlassError> {
    let key = row.reveal_key.as_deref().ok_or(BreakGlassError::NoRevealKey)?;
    KemPublicKey::from_bytes(key).map_err(|_| BreakGlassError::NoRevealKey)
}

fn text_error(error: TextError) -> BreakGlassError {
    BreakGlassError::Invalid(error.to_string())
}
