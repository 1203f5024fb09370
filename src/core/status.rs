//! The lifecycle state of a pseudonym, as hubs and verifiers see it, and the
//! one rule that computes it.

use super::account::AccountState;

/// Lifecycle state a hub sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PseudonymStatus {
    Active,
    Suspended,
    Revoked,
    Expired,
}

impl PseudonymStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PseudonymStatus::Active => "active",
            PseudonymStatus::Suspended => "suspended",
            PseudonymStatus::Revoked => "revoked",
            PseudonymStatus::Expired => "expired",
        }
    }

    /// The status of a pseudonym that is `revoked` or not, valid until
    /// `not_after`, whose account is in `account` at `now` (already
    /// [`AccountState::effective`]; `None`: the account row is gone, as after
    /// a `delete` remedy). A muted account's pseudonyms stay active: muting
    /// restricts the account, not what hubs see.
    pub fn of(revoked: bool, not_after: i64, account: Option<AccountState>, now: i64) -> Self {
        if revoked {
            return PseudonymStatus::Revoked;
        }
        if not_after <= now {
            return PseudonymStatus::Expired;
        }
        match account {
            Some(AccountState::Active | AccountState::Muted) => PseudonymStatus::Active,
            Some(AccountState::Suspended) => PseudonymStatus::Suspended,
            None => PseudonymStatus::Revoked,
        }
    }
}

impl std::fmt::Display for PseudonymStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_wins_then_expiry_then_the_account() {
        let active = Some(AccountState::Active);
        assert_eq!(PseudonymStatus::of(true, 100, active, 10), PseudonymStatus::Revoked);
        assert_eq!(PseudonymStatus::of(false, 10, active, 10), PseudonymStatus::Expired);
        assert_eq!(PseudonymStatus::of(false, 100, active, 10), PseudonymStatus::Active);
        let muted = Some(AccountState::Muted);
        assert_eq!(PseudonymStatus::of(false, 100, muted, 10), PseudonymStatus::Active);
        let suspended = Some(AccountState::Suspended);
        assert_eq!(PseudonymStatus::of(false, 100, suspended, 10), PseudonymStatus::Suspended);
        assert_eq!(PseudonymStatus::of(false, 100, None, 10), PseudonymStatus::Revoked);
    }
}
