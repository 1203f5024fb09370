//! Pseudonym minting: validate client keys, draw ids, issue certificates
//! and MLS credentials, seal the links, store the batch atomically.

use std::collections::HashSet;
use std::sync::Arc;

use ring::rand::SystemRandom;

use crate::core::account::AccountId;
use crate::core::clock::{Clock, coarsen_to_hour};
use crate::core::linkage::{AccountRef, LinkError};
use crate::core::pseudonym_id::PseudonymId;
use crate::core::status::PseudonymStatus;
use crate::formats::keys::public_key::{Jwk, KeyError, P256PublicKey};
use crate::formats::{mls, x509};
use crate::services::abuse::gate::{self, Act, Refusal};
use crate::services::abuse::limits::{self, LimitedAction};
use crate::services::abuse::policy::IssuancePolicy;
use crate::services::abuse::relations::{self, Relation};
use crate::services::keyring::KeySet;
use crate::store::{Limited, NewAccount, NewPseudonym, Store, StoreError};

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

    /// Mints one pseudonym per key. Validation happens before any write, and
    /// the batch is stored in one transaction, so a refused request stores nothing.
    pub async fn mint(&self, request: &MintRequest) -> Result<Vec<Minted>, MintError> {
        let keys = self.validate(request)?;
        let relation_tags = relations::tags(&self.keys.link, &request.relations)
            .map_err(MintError::InvalidRequest)?;
        let account_ref = self.keys.link.account_ref(&request.account);
        let now = self.clock.now();
        // Standing first: a refused account costs no signature.
        let standing =
            gate::check(&self.store, &self.policy.reputation, &account_ref, Act::Mint, now)
                .await?
                .map_err(|refusal| match refusal {
                    Refusal::Restricted => MintError::AccountRestricted,
                    Refusal::ReputationTooLow => MintError::ReputationTooLow,
                })?;
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

        let created_hour = coarsen_to_hour(now);
        // HPKE costs several signatures: seal only when the account is new.
        let mut glass = match standing {
            Some(_) => None,
            None => Some(self.keys.link.seal_glass_link(&request.account, &account_ref)?),
        };
        let amount = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let charges =
            limits::mint_charges(&self.policy, &account_ref, &request.client_id, amount, now);
        let mut recounted = false;
        let stored = loop {
            let account = NewAccount {
                account_ref: &account_ref,
                glass_link: glass.as_deref(),
                created_hour,
                relations: &relation_tags,
            };
            let attempt = self.store.insert_pseudonyms(&account, &rows, &charges).await;
            match attempt {
                // The account is new after all (e.g. just deleted): seal its link.
                Err(StoreError::AccountMissing) if glass.is_none() => {
                    glass = Some(self.keys.link.seal_glass_link(&request.account, &account_ref)?);
                }
                // The active count still holds pseudonyms that have expired
                // since: recount once, then try again.
                Err(StoreError::OverLimit(Limited::Active)) if !recounted => {
                    recounted = true;
                    let link = &self.keys.link;
                    let open = |sealed: &[u8]| {
                        link.open_ops(sealed, &account_ref.0)
                            .ok()
                            .and_then(|id| String::from_utf8(id).ok())
                            .and_then(|id| PseudonymId::parse(&id))
                    };
                    self.store.recount_active(&account_ref, now, open).await?;
                }
                other => break other,
            }
        };
        match stored {
            Ok(()) => Ok(minted),
            Err(StoreError::OverLimit(limited)) => {
                let (action, retry_after) = limits::refusal(limited, now);
                Err(MintError::RateLimited { action, retry_after })
            }
            Err(other) => Err(other.into()),
        }
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
            })
            .map_err(|e| MintError::Internal(e.to_string()))?;
        let mls_credential = mls::x509_credential(&[&leaf_der, self.keys.ca.cert_der()])
            .map_err(|e| MintError::Internal(e.to_string()))?;
        let row = NewPseudonym {
            ops_link: self.keys.link.seal_ops_link(id.as_str(), account_ref)?,
            sealed_for_account: self.keys.link.seal_ops(id.as_str().as_bytes(), &account_ref.0)?,
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
