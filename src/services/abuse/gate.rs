//! The one rule for "may this account act now": its standing (no mute or
//! suspension in force) and its reputation against the threshold of the
//! action. Minting and disclosures both ask here, before any signature.

use crate::core::account::AccountState;
use crate::core::linkage::AccountRef;
use crate::store::{ReputationEvent, Standing, Store, StoreError};

use super::policy::ReputationPolicy;
use super::reputation;

/// What the account wants to do; each has its own reputation threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Mint,
    Disclose,
}

/// Why the gate refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A mute or suspension is in force.
    Restricted,
    /// The reputation score is under the action's threshold.
    ReputationTooLow,
}

/// Checks the account; on success gives back its standing (`None`: veil has
/// never seen the account), which minting uses to seal a `glass_link` once.
pub async fn check(
    store: &Store,
    policy: &ReputationPolicy,
    account_ref: &AccountRef,
    act: Act,
    now: i64,
) -> Result<Result<Option<Standing>, Refusal>, StoreError> {
    let standing = store.account_standing(account_ref, now).await?;
    let events = reputation::events(store, policy, account_ref, now).await?;
    let state = standing.as_ref().map(|s| s.status);
    Ok(judge(policy, state, &events, act, now).map(|()| standing))
}

/// The rule itself, on what was read: `state` is the account's state in
/// force (`None`: never seen), `events` its reputation events that count.
pub fn judge(
    policy: &ReputationPolicy,
    state: Option<AccountState>,
    events: &[ReputationEvent],
    act: Act,
    now: i64,
) -> Result<(), Refusal> {
    if state.is_some_and(|s| !s.may_act()) {
        return Err(Refusal::Restricted);
    }
    let threshold = match act {
        Act::Mint => policy.min_to_mint,
        Act::Disclose => policy.min_to_disclose,
    };
    if reputation::score(policy, events, now) < threshold {
        return Err(Refusal::ReputationTooLow);
    }
    Ok(())
}
