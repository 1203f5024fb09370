//! What a request that certifies new keys (a mint, a client added to a
//! pseudonym) checks before it signs anything: the account's standing and
//! reputation (the gate), its hourly and daily windows, and that no key is
//! certified already. One read, two when the account has reputation events
//! that count; the batch writer still decides races.

use crate::core::linkage::AccountRef;
use crate::store::{SightQuery, Store, StoreError};

use super::gate::{self, Act, Refusal};
use super::limits;
use super::policy::IssuancePolicy;
use super::reputation;

/// Why the request is refused before it signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Gate(Refusal),
    /// The account window at this index (`Limited::Window`) is full.
    Window(usize),
    /// A key is certified already.
    KeyInUse,
}

/// What the request may go on with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleared {
    /// Whether veil has a row for the account (a new one gets its
    /// break-glass link sealed).
    pub known: bool,
}

/// The keys and tags a request would certify, for [`check`].
#[derive(Debug, Clone, Copy)]
pub struct Certifying<'a> {
    pub public_keys: &'a [&'a [u8]],
    pub client_key_tags: &'a [[u8; 32]],
}

/// Checks in the order a refusal is reported: standing, reputation, the
/// windows against `amount`, then the keys.
pub async fn check(
    store: &Store,
    policy: &IssuancePolicy,
    account_ref: &AccountRef,
    amount: i64,
    keys: Certifying<'_>,
    now: i64,
) -> Result<Result<Cleared, Refused>, StoreError> {
    let sight = store
        .mint_sight(&SightQuery {
            account_ref,
            windows: limits::account_windows(now),
            events_since: reputation::horizon(&policy.reputation, now),
            public_keys: keys.public_keys,
            client_key_tags: keys.client_key_tags,
        })
        .await?;
    let events = match sight.has_events {
        true => reputation::events(store, &policy.reputation, account_ref, now).await?,
        false => Vec::new(),
    };
    let state = sight.status.map(|(state, until)| state.effective(until, now));
    if let Err(refusal) = gate::judge(&policy.reputation, state, &events, Act::Mint, now) {
        return Ok(Err(Refused::Gate(refusal)));
    }
    let (hour, day) = limits::remaining_of(policy, sight.window_counts);
    for (window, left) in [hour, day].into_iter().enumerate() {
        if amount > left {
            return Ok(Err(Refused::Window(window)));
        }
    }
    if sight.keys_in_use {
        return Ok(Err(Refused::KeyInUse));
    }
    Ok(Ok(Cleared { known: sight.status.is_some() }))
}
