//! The limited actions of minting (crates.io's `LimitedAction` model): each
//! names its counter, window and policy limit, and turns a refusal from the
//! store into "limit reached, retry after N seconds" — nothing else about
//! the account.

use crate::core::linkage::AccountRef;
use crate::store::{BucketCharge, Charges, Limited, Store, StoreError, WindowCharge};

use super::policy::IssuancePolicy;

/// Subject of the global counters (not an account ref: those are 32 bytes).
const GLOBAL_SUBJECT: &[u8] = b"global";

/// A limit that can refuse a mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedAction {
    AccountPerHour,
    AccountPerDay,
    AccountActive,
    ClientRate,
    GlobalPerMinute,
}

impl LimitedAction {
    /// Counter name in the database.
    fn action(self) -> &'static str {
        match self {
            LimitedAction::AccountPerHour => "mint_hour",
            LimitedAction::AccountPerDay => "mint_day",
            LimitedAction::GlobalPerMinute => "mint_minute",
            LimitedAction::AccountActive => "active",
            LimitedAction::ClientRate => "client",
        }
    }

    /// Length of the fixed window, for the windowed limits.
    fn window_secs(self) -> i64 {
        match self {
            LimitedAction::AccountPerHour => 3600,
            LimitedAction::AccountPerDay => 86_400,
            LimitedAction::GlobalPerMinute => 60,
            // Not windowed: a pseudonym must be revoked (or a remedy lifted)
            // first, so an hour is an honest hint; a bucket refills in a second.
            LimitedAction::AccountActive => 3600,
            LimitedAction::ClientRate => 1,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            LimitedAction::AccountPerHour => "pseudonyms per account per hour",
            LimitedAction::AccountPerDay => "pseudonyms per account per day",
            LimitedAction::AccountActive => "active pseudonyms per account",
            LimitedAction::ClientRate => "requests per API client",
            LimitedAction::GlobalPerMinute => "pseudonyms per minute for the whole service",
        }
    }
}

/// Account windows in the order [`mint_charges`] lists them.
const ACCOUNT_WINDOWS: [LimitedAction; 2] =
    [LimitedAction::AccountPerHour, LimitedAction::AccountPerDay];
const SHARED_WINDOWS: [LimitedAction; 1] = [LimitedAction::GlobalPerMinute];

/// What minting `amount` pseudonyms for one account through one client costs.
pub fn mint_charges(
    policy: &IssuancePolicy,
    account_ref: &AccountRef,
    client_id: &str,
    amount: i64,
    now: i64,
) -> Charges {
    let window = |subject: &[u8], limited: LimitedAction, limit: i64| {
        let length = limited.window_secs();
        let window_start = now - now.rem_euclid(length);
        WindowCharge {
            subject: subject.to_vec(),
            action: limited.action(),
            window_start,
            expires_at: window_start + length,
            amount,
            limit,
        }
    };
    let limit = |limited: LimitedAction| match limited {
        LimitedAction::AccountPerHour => policy.account.pseudonyms_per_hour,
        LimitedAction::AccountPerDay => policy.account.pseudonyms_per_day,
        LimitedAction::GlobalPerMinute => policy.global.pseudonyms_per_minute,
        LimitedAction::AccountActive => policy.account.max_active,
        LimitedAction::ClientRate => policy.client.burst,
    };
    Charges {
        windows: ACCOUNT_WINDOWS.iter().map(|&a| window(&account_ref.0, a, limit(a))).collect(),
        // Per key, not per request: a request of 32 keys costs 32 signing
        // runs, so it draws 32 tokens.
        bucket: Some(BucketCharge {
            client_id: client_id.to_string(),
            cost: amount,
            rate: policy.client.requests_per_second,
            burst: policy.client.burst,
        }),
        shared_windows: SHARED_WINDOWS
            .iter()
            .map(|&a| window(GLOBAL_SUBJECT, a, limit(a)))
            .collect(),
        reputation_per_pseudonym: policy.reputation.weights.pseudonym_minted,
        now,
    }
}

/// Pseudonyms the account may still mint this hour and today.
pub async fn remaining(
    store: &Store,
    policy: &IssuancePolicy,
    account_ref: &AccountRef,
    now: i64,
) -> Result<(i64, i64), StoreError> {
    let mut used = [0; 2];
    for (count, (action, window_start)) in used.iter_mut().zip(account_windows(now)) {
        *count = store.window_count(&account_ref.0, action, window_start).await?;
    }
    Ok(remaining_of(policy, used))
}

/// The account's hourly and daily windows at `now`, as `(counter,
/// window start)`, in the order of [`remaining_of`].
pub fn account_windows(now: i64) -> [(&'static str, i64); 2] {
    ACCOUNT_WINDOWS.map(|limited| {
        let length = limited.window_secs();
        (limited.action(), now - now.rem_euclid(length))
    })
}

/// What is left this hour and today, given the windows' counts.
pub fn remaining_of(policy: &IssuancePolicy, used: [i64; 2]) -> (i64, i64) {
    let [hour, day] = used;
    let hour = policy.account.pseudonyms_per_hour - hour;
    let day = policy.account.pseudonyms_per_day - day;
    (hour.max(0), day.max(0))
}

/// The action behind a store refusal and the seconds until it may pass.
pub fn refusal(limited: Limited, now: i64) -> (LimitedAction, i64) {
    let action = match limited {
        Limited::Active => LimitedAction::AccountActive,
        Limited::Client => LimitedAction::ClientRate,
        Limited::Window(i) => ACCOUNT_WINDOWS
            .iter()
            .chain(SHARED_WINDOWS.iter())
            .nth(i)
            .copied()
            .unwrap_or(LimitedAction::AccountPerDay),
    };
    let length = action.window_secs();
    (action, (length - now.rem_euclid(length)).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_map_back_to_their_actions_and_retry_at_the_window_end() {
        let policy = IssuancePolicy::default();
        let charges = mint_charges(&policy, &AccountRef([1; 32]), "client", 2, 7_200 + 600);
        assert_eq!(charges.windows[0].window_start, 7_200);
        assert_eq!(charges.windows[0].limit, 20);
        assert_eq!(charges.windows[1].window_start, 0);
        assert_eq!(refusal(Limited::Window(0), 7_800), (LimitedAction::AccountPerHour, 3_000));
        assert_eq!(refusal(Limited::Window(1), 7_800).0, LimitedAction::AccountPerDay);
        assert_eq!(refusal(Limited::Window(2), 7_830), (LimitedAction::GlobalPerMinute, 30));
        assert_eq!(refusal(Limited::Client, 5).1, 1);
    }
}
