//! Remedies (draft-mahy-mimi-pseudonyms §5.2) as values: what a remedy does
//! and how long it lasts.

use serde::Deserialize;

use super::account::AccountState;

/// What a remedy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RemedyAction {
    /// The account may mint nothing and get no disclosure; its existing
    /// pseudonyms stay active for hubs.
    Mute,
    /// The account may mint nothing; its pseudonyms show `suspended`.
    Suspend,
    /// Suspend, and revoke every pseudonym of the account.
    SuspendAndRevoke,
    /// Remove the account, its index and its `glass_link` (nothing can be
    /// revealed later); its pseudonyms show `revoked`.
    Delete,
}

impl RemedyAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RemedyAction::Mute => "mute",
            RemedyAction::Suspend => "suspend",
            RemedyAction::SuspendAndRevoke => "suspend_and_revoke",
            RemedyAction::Delete => "delete",
        }
    }

    /// The account state the remedy sets.
    pub fn state(self) -> AccountState {
        match self {
            RemedyAction::Mute => AccountState::Muted,
            RemedyAction::Suspend | RemedyAction::SuspendAndRevoke | RemedyAction::Delete => {
                AccountState::Suspended
            }
        }
    }
}

/// Longest timed remedy: one year.
pub const MAX_DURATION_SECS: i64 = 366 * 86_400;

/// Parses a duration such as `90m`, `12h` or `7d` into seconds, from one
/// second to [`MAX_DURATION_SECS`].
pub fn parse_duration(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let number = text.strip_suffix(unit)?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number: i64 = number.parse().ok()?;
    let seconds = match unit {
        's' => number,
        'm' => number.checked_mul(60)?,
        'h' => number.checked_mul(3600)?,
        'd' => number.checked_mul(86_400)?,
        _ => return None,
    };
    (1..=MAX_DURATION_SECS).contains(&seconds).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_a_unit_and_a_bound() {
        assert_eq!(parse_duration("90m"), Some(5400));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("7"), None);
        assert_eq!(parse_duration("0h"), None);
        assert_eq!(parse_duration("400d"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("-1h"), None);
        assert_eq!(parse_duration("+1h"), None);
    }

    #[test]
    fn a_multibyte_unit_is_refused_not_a_panic() {
        assert_eq!(parse_duration("1é"), None);
        assert_eq!(parse_duration("é"), None);
        assert_eq!(parse_duration("1h\u{301}"), None);
    }
}
