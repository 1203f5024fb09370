//! A TLS-encoded MIMI `AbuseReport` as a hub POSTs it to
//! `/v1/report-abuse/{room}`: `AbuseReport::decode`, then the mapping onto
//! the domain's report, its validation and its deduplication key, as the
//! route does. Beyond "never panics": what decodes re-encodes to the very
//! same bytes (only canonical encodings decode) and stays within the
//! decoder's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::formats::abuse_report::{AbuseReport, MAX_MESSAGES};
use veil::services::abuse::reports;

fuzz_target!(|data: &[u8]| {
    let Ok(report) = AbuseReport::decode(data) else { return };
    assert!(report.messages.len() <= MAX_MESSAGES);
    let encoded = report.encode().expect("a decoded report encodes");
    assert_eq!(encoded, data, "a decoded report re-encodes to its input");
    let report = reports::AbuseReport::from_wire("mimi://hub.example/r/lobby".into(), report);
    let _ = report.validate();
    let _ = report.report_id("fuzz-hub");
});
