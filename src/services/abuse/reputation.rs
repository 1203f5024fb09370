//! Reputation: `initial + Σ points × 2^(−age / half-life)` over the
//! account's events (backend signals do not decay). Computed at read time
//! from append-only events, so concurrent writers never lose an update.

use crate::core::linkage::AccountRef;
use crate::store::{ReputationEvent, Store, StoreError};

use super::policy::ReputationPolicy;

/// Events older than this many half-lives weigh under 0.1 %: not read.
const HALF_LIVES_KEPT: i64 = 10;

/// The score of an account with these events at `now`.
pub fn score(policy: &ReputationPolicy, events: &[ReputationEvent], now: i64) -> i64 {
    let half_life = (policy.half_life_hours * 3600) as f64;
    let sum: f64 = events
        .iter()
        .map(|e| {
            let points = e.points as f64;
            if e.decays {
                let age = (now - e.at).max(0) as f64;
                points * (-age / half_life).exp2()
            } else {
                points
            }
        })
        .sum();
    policy.initial.saturating_add(sum.round() as i64)
}

/// The account's current score.
pub async fn account_score(
    store: &Store,
    policy: &ReputationPolicy,
    account_ref: &AccountRef,
    now: i64,
) -> Result<i64, StoreError> {
    let events = events(store, policy, account_ref, now).await?;
    Ok(score(policy, &events, now))
}

/// The account's events that still count at `now`.
pub async fn events(
    store: &Store,
    policy: &ReputationPolicy,
    account_ref: &AccountRef,
    now: i64,
) -> Result<Vec<ReputationEvent>, StoreError> {
    store.reputation_events(account_ref, horizon(policy, now)).await
}

/// The oldest decaying event that still counts at `now`.
pub fn horizon(policy: &ReputationPolicy, now: i64) -> i64 {
    now - HALF_LIVES_KEPT * policy.half_life_hours * 3600
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decaying_events_halve_every_half_life_and_signals_stay() {
        let policy = ReputationPolicy { initial: 100, half_life_hours: 1, ..Default::default() };
        let events = [
            ReputationEvent { points: -80, at: 0, decays: true },
            ReputationEvent { points: 10, at: 0, decays: false },
        ];
        assert_eq!(score(&policy, &events, 0), 30);
        assert_eq!(score(&policy, &events, 3600), 70);
        assert_eq!(score(&policy, &events, 7200), 90);
        assert_eq!(score(&policy, &[], 7200), 100);
    }
}
