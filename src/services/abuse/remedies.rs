//! Remedies by pseudonym (draft-mahy-mimi-pseudonyms §5.2): applied to the
//! account behind it, reached through `ops_link`, without revealing it.

/// Longest case id and reason, in bytes.
pub const MAX_CASE_ID: usize = 200;
pub const MAX_REASON: usize = 2000;
