//! Pseudonym minting: validate client keys, draw ids, issue certificates
//! and MLS credentials, seal the links, store the batch atomically.

use std::collections::HashSet;
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};

use crate::core::account::AccountId;
use crate::core::clock::{Clock, coarsen_to_hour};
use crate::core::linkage::{AccountRef, LinkError};
use crate::core::pseudonym_id::PseudonymId;
use crate::core::pseudonym_index::{IndexEntry, PseudonymIndex};
use crate::core::status::PseudonymStatus;
use crate::formats::glass_link::GlassError;
use crate::formats::keys::public_key::{Jwk, KeyError, P256PublicKey};
use crate::formats::{mls, x509};
use crate::services::abuse::gate::Refusal;
use crate::services::abuse::limits::{self, LimitedAction};
use crate::services::abuse::policy::IssuancePolicy;
use crate::services::abuse::precheck::{self, Certifying, Refused};
use crate::services::abuse::relations::{self, Relation};
use crate::services::disclose::client_key_tag;
use crate::services::glass_tag;
use crate::services::keyring::KeySet;
use crate::store::{
    GlassRow, IndexChange, IndexUpdate, Limited, MintJob, NewAccount, NewPseudonym, Store,
    StoreError,
};

/// The indexed pseudonyms a recount found revoked one by one: they stop
/// counting against `max_active`. An entry whose row is not stored keeps
/// counting: its batch may be committing on another writer or replica (the
/// account side commits before the pseudonym rows), and dropping it let
/// that batch land over the limit (found by `tests/crash.rs` on
/// PostgreSQL). After a crash between a batch's two transactions its
/// entries count until they expire: the limit errs on the safe side.
struct Recount {
    revoked: HashSet<PseudonymId>,
}

/// Most keys (so pseudonyms) one request may mint.
pub const MAX_KEYS_PER_REQUEST: usize = 32;

#[derive(Debug, Clone)]
pub struct MintRequest {
    pub account: String,
    /// The API client asking: its own rate limit is charged.
    pub client_id: String,
    /// Relation keys to attach to the account (for `related` remedies).
    pub relations: Vec<Relation>,
    pub keys: Vec<Jwk>,
    pub connection_only: bool,
    pub validity_days: u32,
}

/// One minted pseudonym and its credentials.
#[derive(Debug, Clone)]
pub struct Minted {
    pub id: String,
    pub uri: String,
    pub leaf_der: Vec<u8>,
    pub mls_credential: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub connection_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("keys[{index}]: {source}")]
    InvalidKey { index: usize, source: KeyError },
    #[error("keys[{index}] appears twice in this request")]
    DuplicateKey { index: usize },
    #[error("a key in this request is already bound to a pseudonym")]
    KeyInUse,
    #[error("this account may not create pseudonyms now")]
    AccountRestricted,
    #[error("this account's reputation is below what minting needs")]
    ReputationTooLow,
    #[error("limit reached: {}", .action.describe())]
    RateLimited { action: LimitedAction, retry_after: i64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for MintError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(_) => MintError::KeyInUse,
            other => MintError::Internal(other.to_string()),
        }
    }
}

impl From<LinkError> for MintError {
    fn from(error: LinkError) -> Self {
        MintError::Internal(error.to_string())
    }
}

impl From<GlassError> for MintError {
    fn from(error: GlassError) -> Self {
        MintError::Internal(error.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct StatusView {
    pub uri: String,
    pub status: PseudonymStatus,
    pub not_after: i64,
}

/// The minting service.
pub struct Minter {
    keys: Arc<KeySet>,
    store: Store,
    clock: Arc<dyn Clock>,
    prefix: String,
    max_validity_days: u32,
    policy: Arc<IssuancePolicy>,
    rng: SystemRandom,
}

impl Minter {
    pub fn new(
        keys: Arc<KeySet>,
        store: Store,
        clock: Arc<dyn Clock>,
        prefix: String,
        max_validity_days: u32,
        policy: Arc<IssuancePolicy>,
    ) -> Self {
        Self { keys, store, clock, prefix, max_validity_days, policy, rng: SystemRandom::new() }
    }

    pub fn uri_prefix(&self) -> &str {
        &self.prefix
    }

    /// Mints one pseudonym per key. Validation and signing happen before any
    /// write; the writes go through the store's batch writer, which commits
    /// the account sides of many requests and then their pseudonym rows, in
    /// two transactions that share nothing a copy of the database could
    /// align. A refused request stores nothing.
    pub async fn mint(&self, request: &MintRequest) -> Result<Vec<Minted>, MintError> {
        let keys = self.validate(request)?;
        let relation_tags = relations::tags(&self.keys.link, &request.relations)
            .map_err(MintError::InvalidRequest)?;
        let account_ref = self.keys.link.account_ref(&request.account);
        let now = self.clock.now();
        // Everything that can refuse before a signature, in one read: the
        // account's standing and reputation, its hourly and daily windows
        // (read-only; the charge in the batch still decides a race), and
        // keys already certified (the unique index still decides a race).
        let amount = i64::try_from(keys.len()).unwrap_or(i64::MAX);
        let public_keys: Vec<&[u8]> = keys.iter().map(|key| key.sec1().as_slice()).collect();
        let client_tags: Vec<[u8; 32]> =
            keys.iter().map(|key| client_key_tag(&self.keys.link, key.sec1())).collect();
        let certifying = Certifying { public_keys: &public_keys, client_key_tags: &client_tags };
        let cleared =
            match precheck::check(&self.store, &self.policy, &account_ref, amount, certifying, now)
                .await?
            {
                Ok(cleared) => cleared,
                Err(Refused::Gate(Refusal::Restricted)) => {
                    return Err(MintError::AccountRestricted);
                }
                Err(Refused::Gate(Refusal::ReputationTooLow)) => {
                    return Err(MintError::ReputationTooLow);
                }
                Err(Refused::Window(window)) => {
                    let (action, retry_after) = limits::refusal(Limited::Window(window), now);
                    return Err(MintError::RateLimited { action, retry_after });
                }
                Err(Refused::KeyInUse) => return Err(MintError::KeyInUse),
            };
        // Certificates start at the hour: exact issuance times would let a
        // hub correlate pseudonyms minted together.
        let not_before = coarsen_to_hour(now);
        let not_after = not_before + i64::from(request.validity_days) * 86_400;

        let mut minted = Vec::with_capacity(keys.len());
        let mut rows = Vec::with_capacity(keys.len());
        for key in &keys {
            let (pseudonym, row) = self.issue_credentials(
                key,
                &account_ref,
                request.connection_only,
                not_before,
                not_after,
            )?;
            minted.push(pseudonym);
            rows.push(row);
        }
        self.write(request, account_ref, !cleared.known, rows, relation_tags, now).await?;
        Ok(minted)
    }

    /// Hands the mint's database effects to the store's batch writer: the
    /// account side (limits, the sealed index, account-keyed events) and
    /// the pseudonym rows, committed with other requests' (group commit).
    /// Retries the refusals a fresh look can cure: a link to seal, an index
    /// that counts pseudonyms no longer live.
    async fn write(
        &self,
        request: &MintRequest,
        account_ref: AccountRef,
        new_account: bool,
        rows: Vec<NewPseudonym>,
        relation_tags: Vec<[u8; 32]>,
        now: i64,
    ) -> Result<(), MintError> {
        let link = &self.keys.link;
        let glass_sealer = &self.keys.glass;
        let suite = i64::from(glass_sealer.suite().code());
        let sender = glass_sealer.link_sender().map(|k| k.to_bytes().to_vec());
        let key_id = glass_sealer.key_id();
        let seal_glass = || -> Result<GlassRow, MintError> {
            let sealed = glass_sealer.seal(&request.account, &account_ref.0)?;
            let tag = glass_tag::tag(link, &account_ref, suite, sender.as_deref(), &sealed);
            Ok(GlassRow { link: sealed, suite, sender: sender.clone(), tag })
        };
        // HPKE costs a few scalar multiplications: seal only when the
        // account is new (or its link sealed with other keys, see below).
        let mut glass = match new_account {
            false => None,
            true => Some(seal_glass()?),
        };
        let amount = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let charges =
            limits::mint_charges(&self.policy, &account_ref, &request.client_id, amount, now);
        let tombstone =
            (!self.policy.account.deleted_may_return).then(|| link.tombstone_tag(&account_ref));
        let mut event_id = [0u8; 16];
        self.rng.fill(&mut event_id).map_err(|_| MintError::Internal("no randomness".into()))?;
        let entries: Arc<Vec<IndexEntry>> = Arc::new(
            rows.iter()
                .map(|row| IndexEntry {
                    id: row.id.clone(),
                    not_after: row.not_after,
                    revoked: false,
                })
                .collect(),
        );
        // Set after `max_active` refused once: which indexed pseudonyms are
        // really live (revoked one by one, or never stored, they are not).
        let mut recount: Option<Arc<Recount>> = None;
        loop {
            let job = MintJob {
                account: NewAccount {
                    account_ref,
                    glass: glass.clone(),
                    glass_key_id: key_id.to_vec(),
                    created_hour: coarsen_to_hour(now),
                    relations: relation_tags.clone(),
                },
                charges: charges.clone(),
                amount,
                event_id,
                tombstone,
                index: self.index_update(account_ref, entries.clone(), recount.clone(), now),
                pseudonyms: rows.clone(),
            };
            match self.store.mint(job).await {
                Ok(()) => return Ok(()),
                // The account is new after all (e.g. just deleted): seal its link.
                Err(StoreError::AccountMissing | StoreError::GlassOutdated) if glass.is_none() => {
                    glass = Some(seal_glass()?);
                }
                // The index may still count pseudonyms revoked one by one:
                // check them once, then try again.
                Err(StoreError::OverLimit(Limited::Active)) if recount.is_none() => {
                    let sealed = self.store.pseudonym_index(&account_ref).await?.flatten();
                    let index = PseudonymIndex::open(link, &account_ref, sealed.as_deref())?;
                    let revoked = self.store.revoked_among(&index.live_ids(now)).await?;
                    recount = Some(Arc::new(Recount { revoked }));
                }
                Err(StoreError::OverLimit(limited)) => {
                    let (action, retry_after) = limits::refusal(limited, now);
                    return Err(MintError::RateLimited { action, retry_after });
                }
                Err(StoreError::Restricted) => return Err(MintError::AccountRestricted),
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// The step the writer runs on the account's sealed index under its row
    /// lock: open, enforce `max_active`, append this request's entries, seal.
    fn index_update(
        &self,
        account_ref: AccountRef,
        entries: Arc<Vec<IndexEntry>>,
        recount: Option<Arc<Recount>>,
        now: i64,
    ) -> IndexUpdate {
        let keys = self.keys.clone();
        let max_active = usize::try_from(self.policy.account.max_active).unwrap_or(0);
        Box::new(move |sealed: Option<&[u8]>| {
            let link = &keys.link;
            let Ok(mut index) = PseudonymIndex::open(link, &account_ref, sealed) else {
                return IndexChange::Unreadable;
            };
            if let Some(recount) = &recount {
                index.retain(|e| !recount.revoked.contains(&e.id));
            }
            if index.live(now) + entries.len() > max_active {
                return IndexChange::OverActive;
            }
            for entry in entries.iter() {
                index.push(entry.clone());
            }
            let live = i64::try_from(index.live(now)).unwrap_or(i64::MAX);
            match index.seal(link, &account_ref, now) {
                Ok(sealed) => IndexChange::Write { sealed, live },
                Err(_) => IndexChange::Unreadable,
            }
        })
    }

    fn validate(&self, request: &MintRequest) -> Result<Vec<P256PublicKey>, MintError> {
        AccountId::parse(&request.account).map_err(|e| MintError::InvalidRequest(e.to_string()))?;
        if request.keys.is_empty() || request.keys.len() > MAX_KEYS_PER_REQUEST {
            return Err(MintError::InvalidRequest(format!(
                "`keys` must hold 1 to {MAX_KEYS_PER_REQUEST} keys"
            )));
        }
        if request.validity_days == 0 || request.validity_days > self.max_validity_days {
            return Err(MintError::InvalidRequest(format!(
                "`validity_days` must be 1 to {}",
                self.max_validity_days
            )));
        }
        let mut seen = HashSet::new();
        let mut keys = Vec::with_capacity(request.keys.len());
        for (index, jwk) in request.keys.iter().enumerate() {
            let key = P256PublicKey::from_jwk(jwk)
                .map_err(|source| MintError::InvalidKey { index, source })?;
            if !seen.insert(key.clone()) {
                return Err(MintError::DuplicateKey { index });
            }
            keys.push(key);
        }
        Ok(keys)
    }

    /// The CPU part of a mint for one key: id, certificate, MLS credential
    /// and sealed links (public so the benchmark can measure it alone).
    pub fn issue_credentials(
        &self,
        key: &P256PublicKey,
        account_ref: &AccountRef,
        connection_only: bool,
        not_before: i64,
        not_after: i64,
    ) -> Result<(Minted, NewPseudonym), MintError> {
        let id = PseudonymId::random(&self.rng)
            .ok_or_else(|| MintError::Internal("no randomness".into()))?;
        let uri = format!("{}{id}", self.prefix);
        let leaf_der = self
            .keys
            .ca
            .issue_pseudonym(&x509::PseudonymCertRequest {
                id: id.as_str(),
                uri: &uri,
                key,
                not_before,
                not_after,
                connection_only,
                client: None,
            })
            .map_err(|e| MintError::Internal(e.to_string()))?;
        let mls_credential = mls::x509_credential(&[&leaf_der, self.keys.ca.cert_der()])
            .map_err(|e| MintError::Internal(e.to_string()))?;
        let row = NewPseudonym {
            ops_link: self.keys.link.seal_ops_link(id.as_str(), account_ref)?,
            id: id.clone(),
            public_key: key.sec1().to_vec(),
            connection_only,
            created_hour: coarsen_to_hour(self.clock.now()),
            not_before,
            not_after,
        };
        let minted = Minted {
            id: id.to_string(),
            uri,
            leaf_der,
            mls_credential,
            not_before,
            not_after,
            connection_only,
        };
        Ok((minted, row))
    }

    /// What a hub may know about a pseudonym: its state and expiry, nothing
    /// about the account. `None` for ids we never minted.
    pub async fn status(&self, id: &str) -> Result<Option<StatusView>, MintError> {
        let Some(id) = PseudonymId::parse(id) else {
            return Ok(None);
        };
        let Some(row) = self.store.pseudonym(&id).await? else {
            return Ok(None);
        };
        let status = crate::services::disclose::pseudonym_status(
            &self.store,
            &self.keys.link,
            &row,
            self.clock.now(),
        )
        .await
        .map_err(|e| MintError::Internal(e.to_string()))?;
        Ok(Some(StatusView {
            uri: format!("{}{}", self.prefix, row.id),
            status,
            not_after: row.not_after,
        }))
    }
}
