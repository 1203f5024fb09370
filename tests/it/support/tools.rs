//! External verifiers (OpenSSL, Python) used as independent checks. A test
//! that needs one fails when it is missing: it never passes unchecked.

use std::process::Command;

/// Fails the test, saying how to get it, unless `program probe…` succeeds.
pub fn require(program: &str, probe: &[&str], install: &str) {
    let ok = Command::new(program).args(probe).output().is_ok_and(|o| o.status.success());
    assert!(ok, "this test needs `{program} {}` to succeed: {install}", probe.join(" "));
}
