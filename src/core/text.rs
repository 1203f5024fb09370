//! Bounded free text: the one place where length rules for case ids,
//! reasons, notes and labels live.

use std::fmt;

/// A non-empty string of at most `MAX` bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bounded<const MAX: usize>(String);

/// Why a text field was refused; names the field, never its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` must be 1 to {max} bytes")]
pub struct TextError {
    pub field: &'static str,
    pub max: usize,
}

impl<const MAX: usize> Bounded<MAX> {
    pub const MAX: usize = MAX;

    /// Accepts `text` when it is 1 to `MAX` bytes; `field` names it in the error.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, TextError> {
        if text.is_empty() || text.len() > MAX {
            return Err(TextError { field, max: MAX });
        }
        Ok(Self(text.to_owned()))
    }

    /// Like [`Bounded::parse`], with `None` passing through.
    pub fn parse_optional(
        field: &'static str,
        text: Option<&str>,
    ) -> Result<Option<Self>, TextError> {
        text.map(|t| Self::parse(field, t)).transpose()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Debug for Bounded<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<const MAX: usize> fmt::Display for Bounded<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The case a remedy or break-glass request belongs to.
pub type CaseId = Bounded<200>;
/// Why an operator acts: recorded in the audit log.
pub type Reason = Bounded<2000>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_bytes_and_exclude_empty() {
        assert!(CaseId::parse("case_id", "").is_err());
        assert!(CaseId::parse("case_id", &"a".repeat(200)).is_ok());
        let err = CaseId::parse("case_id", &"a".repeat(201)).unwrap_err();
        assert_eq!(err.to_string(), "`case_id` must be 1 to 200 bytes");
        assert!(CaseId::parse("case_id", &"é".repeat(101)).is_err());
        assert_eq!(Reason::parse_optional("reason", None), Ok(None));
    }
}
