//! External verifiers (OpenSSL, Python) that CI installs. On a developer
//! machine without them a test prints a skip note; under CI it fails.

use std::process::Command;

/// True when `program` runs; panics under CI when it does not.
pub fn available(program: &str, probe: &[&str]) -> bool {
    let ok = Command::new(program).args(probe).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is required under CI (.ci/run installs it)"
        );
        eprintln!("skipped: {program} is not installed");
    }
    ok
}
