//! The break-glass policy, `policies/break-glass.toml`: the closed list of
//! reason codes and, per code, approvals, request lifetime, reveal window
//! and transparency embargo; and `min_operator_age`, how long an operator
//! must have been active before its approval counts (so a freshly added
//! operator cannot be a sock puppet for a quick reveal). Without the file
//! the shipped one applies.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::core::remedy::parse_duration;

pub const FILE: &str = "break-glass.toml";
/// The shipped policy: the defaults when the directory has none.
const SHIPPED: &str = include_str!("../../../policies/break-glass.toml");

#[derive(Debug, thiserror::Error)]
pub enum BreakGlassPolicyError {
    #[error("break-glass policy {file}: cannot read it: {message}")]
    Read { file: String, message: String },
    #[error("break-glass policy {file}: {message}")]
    Parse { file: String, message: String },
    #[error("break-glass policy {file}: reason `{reason}`: {message}")]
    Field { file: String, reason: String, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    min_operator_age: Option<String>,
    reasons: BTreeMap<String, RawReason>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReason {
    approvals: i64,
    request_ttl: String,
    reveal_window: String,
    embargo: Option<String>,
}

/// What one reason code allows. Durations in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonPolicy {
    pub approvals: i64,
    pub request_ttl: i64,
    pub reveal_window: i64,
    /// `None`: the reveal is never shown to the user.
    pub embargo: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct BreakGlassPolicy {
    reasons: BTreeMap<String, ReasonPolicy>,
    /// Seconds; 0 when the file sets none.
    min_operator_age: i64,
}

impl BreakGlassPolicy {
    pub fn load_dir(dir: &Path) -> Result<Self, BreakGlassPolicyError> {
        let path = dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::parse(SHIPPED, FILE),
            Err(e) => Err(BreakGlassPolicyError::Read {
                file: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    pub fn parse(text: &str, source: &str) -> Result<Self, BreakGlassPolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| BreakGlassPolicyError::Parse {
            file: source.into(),
            message: e.to_string(),
        })?;
        if raw.reasons.is_empty() {
            return Err(BreakGlassPolicyError::Parse {
                file: source.into(),
                message: "no reason codes: break-glass would be impossible".into(),
            });
        }
        let min_operator_age = match raw.min_operator_age.as_deref() {
            None => 0,
            Some(text) => parse_duration(text).ok_or_else(|| BreakGlassPolicyError::Parse {
                file: source.into(),
                message: "`min_operator_age` must be like 90m, 12h or 7d".into(),
            })?,
        };
        let mut reasons = BTreeMap::new();
        for (name, reason) in raw.reasons {
            let field = |message: &str| BreakGlassPolicyError::Field {
                file: source.into(),
                reason: name.clone(),
                message: message.into(),
            };
            if !(1..=10).contains(&reason.approvals) {
                return Err(field("`approvals` must be 1 to 10 (two-person rule)"));
            }
            let duration = |text: &str, what: &str| {
                parse_duration(text)
                    .ok_or_else(|| field(&format!("`{what}` must be like 90m, 12h or 30d")))
            };
            let policy = ReasonPolicy {
                approvals: reason.approvals,
                request_ttl: duration(&reason.request_ttl, "request_ttl")?,
                reveal_window: duration(&reason.reveal_window, "reveal_window")?,
                embargo: reason.embargo.as_deref().map(|e| duration(e, "embargo")).transpose()?,
            };
            reasons.insert(name, policy);
        }
        Ok(Self { reasons, min_operator_age })
    }

    pub fn reason(&self, code: &str) -> Option<&ReasonPolicy> {
        self.reasons.get(code)
    }

    /// Seconds an operator must have been active before its approval counts.
    pub fn min_operator_age(&self) -> i64 {
        self.min_operator_age
    }

    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.reasons.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policy_parses_and_bad_values_are_named() {
        let policy = BreakGlassPolicy::parse(SHIPPED, FILE).unwrap();
        assert_eq!(policy.reason("legal-order").unwrap().embargo, None);
        assert_eq!(policy.reason("imminent-harm").unwrap().reveal_window, 3600);
        assert!(policy.reason("curiosity").is_none());
        let bad = "[reasons.x]\napprovals = 0\nrequest_ttl = \"1h\"\nreveal_window = \"1h\"\n";
        let error = BreakGlassPolicy::parse(bad, "f").unwrap_err().to_string();
        assert!(error.contains("reason `x`") && error.contains("approvals"), "{error}");
        let reason = "[reasons.x]\napprovals = 1\nrequest_ttl = \"1h\"\nreveal_window = \"1h\"\n";
        let aged = format!("min_operator_age = \"7d\"\n{reason}");
        assert_eq!(BreakGlassPolicy::parse(&aged, "f").unwrap().min_operator_age(), 604_800);
        let bad = format!("min_operator_age = \"soon\"\n{reason}");
        let error = BreakGlassPolicy::parse(&bad, "f").unwrap_err().to_string();
        assert!(error.contains("min_operator_age"), "{error}");
    }
}
