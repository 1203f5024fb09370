//! The one rule for "may this account act now": its standing (no mute or
//! suspension in force) and its reputation against the threshold of the
//! action. Minting and disclosures both ask here, before any signature.

use crate::core::linkage::AccountRef;
use crate::store::{Standing, Store, StoreError};

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
    if standing.as_ref().is_some_and(|s| !s.status.may_act()) {
        return Ok(Err(Refusal::Restricted));
    }
    let threshold = match act {
        Act::Mint => policy.min_to_mint,
        Act::Disclose => policy.min_to_disclose,
    };
    if reputation::account_score(store, policy, account_ref, now).await? < threshold {
        return Ok(Err(Refusal::ReputationTooLow));
    }
    Ok(Ok(standing))
}
