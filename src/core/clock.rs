//! The clock is a parameter of domain code so that expiry, windows and
//! coarsening are testable without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock tests can move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(now)))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Truncates a timestamp to the hour, so stored creation times cannot tell
/// apart pseudonyms minted within the same hour.
pub fn coarsen_to_hour(unix: i64) -> i64 {
    unix - unix.rem_euclid(3600)
}

/// RFC 3339 rendering for API responses.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Reads back what [`rfc3339`] rendered (any RFC 3339 offset), as Unix
/// seconds; `None` if it is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarsening_drops_minutes_and_seconds() {
        assert_eq!(coarsen_to_hour(7_199), 3_600);
        assert_eq!(coarsen_to_hour(7_200), 7_200);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_reads_back() {
        assert_eq!(parse_rfc3339(&rfc3339(1_900_000_800)), Some(1_900_000_800));
        assert_eq!(parse_rfc3339("2030-03-17T18:46:40+01:00"), Some(1_900_000_000));
        assert_eq!(parse_rfc3339("1900000800"), None);
    }
}
