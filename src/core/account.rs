//! Accounts as veil knows them: a provider's account id (validated, never
//! stored), and the state remedies give it.

use std::fmt;

/// Longest accepted provider account id, in bytes.
pub const MAX_ACCOUNT_LEN: usize = 256;

/// A provider's account id, checked for size. It is never stored or logged:
/// veil keeps only its `AccountRef` (see [`super::linkage`]).
#[derive(Clone, PartialEq, Eq)]
pub struct AccountId(String);

/// Why an account id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`account` must be 1 to {MAX_ACCOUNT_LEN} bytes, without control characters")]
pub struct AccountIdError;

impl AccountId {
    /// Control characters are refused, NUL among them: every other keyed
    /// tag under `k_ref` hashes `domain || NUL || value`
    /// ([`LinkKeys::keyed_tag`](super::linkage::LinkKeys::keyed_tag)), so no
    /// account id can make its `account_ref` equal to a relation, reveal or
    /// tombstone tag.
    pub fn parse(account: &str) -> Result<Self, AccountIdError> {
        if account.is_empty()
            || account.len() > MAX_ACCOUNT_LEN
            || account.chars().any(char::is_control)
        {
            return Err(AccountIdError);
        }
        Ok(Self(account.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountId(..)")
    }
}

/// What remedies have done to an account. The order is the strength: a
/// weaker remedy never replaces a stronger one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountState {
    /// No remedy applies.
    Active,
    /// The account may mint nothing and get no disclosure; its pseudonyms
    /// stay active for hubs.
    Muted,
    /// The account may mint nothing; its pseudonyms show `suspended`.
    Suspended,
}

impl AccountState {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Muted => "muted",
            AccountState::Suspended => "suspended",
        }
    }

    /// Parses the stored form; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(AccountState::Active),
            "muted" => Some(AccountState::Muted),
            "suspended" => Some(AccountState::Suspended),
            _ => None,
        }
    }

    /// The state in force at `now`, for a stored state that lasts `until`
    /// (`None`: no end). A timed remedy past its end reads active.
    pub fn effective(self, until: Option<i64>, now: i64) -> Self {
        match until {
            Some(end) if end <= now => AccountState::Active,
            _ => self,
        }
    }

    /// Whether the account may mint pseudonyms and get disclosures.
    pub fn may_act(self) -> bool {
        self == AccountState::Active
    }
}

impl fmt::Display for AccountState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_bounded_and_redacted() {
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse(&"a".repeat(MAX_ACCOUNT_LEN + 1)).is_err());
        let id = AccountId::parse("alice@example.com").unwrap();
        assert_eq!(id.as_str(), "alice@example.com");
        assert!(!format!("{id:?}").contains("alice"));
    }

    /// The abuse: an account id of the form `domain NUL value` made its
    /// `account_ref = HMAC(k_ref, id)` equal to the keyed tag of `value` in
    /// `domain` (a relation key's tag). Such ids are refused now.
    #[test]
    fn no_account_id_collides_with_a_keyed_tag() {
        let link = crate::core::linkage::LinkKeys::new(&[1; 32], &[2; 32]).unwrap();
        let forged = "email\0alice@example.com";
        assert_eq!(link.account_ref(forged).0, link.keyed_tag("email", "alice@example.com"));
        assert!(AccountId::parse(forged).is_err());
        assert!(AccountId::parse("tab\there").is_err());
        assert!(AccountId::parse("Zoë Ünïcode").is_ok());
    }

    #[test]
    fn states_rank_by_strength_and_round_trip() {
        assert!(AccountState::Suspended > AccountState::Muted);
        assert!(AccountState::Muted > AccountState::Active);
        for state in [AccountState::Active, AccountState::Muted, AccountState::Suspended] {
            assert_eq!(AccountState::parse(state.as_str()), Some(state));
        }
        assert_eq!(AccountState::parse("revoked"), None);
    }

    #[test]
    fn a_timed_state_ends() {
        assert_eq!(AccountState::Suspended.effective(Some(10), 10), AccountState::Active);
        assert_eq!(AccountState::Suspended.effective(Some(11), 10), AccountState::Suspended);
        assert_eq!(AccountState::Muted.effective(None, 10), AccountState::Muted);
    }
}
