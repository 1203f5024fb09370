//! Failures and the exit codes scripts rely on (listed in `--help`).

use std::fmt;
use std::process::ExitCode;

/// Exit codes; keep `EXIT_CODES_HELP` in main.rs in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The server (or the local database or key directory) refused or failed.
    Refused = 1,
    /// Bad arguments, configuration or token source: fix the invocation.
    Usage = 2,
    /// No HTTP answer at all: wrong URL, server down, timeout.
    Unreachable = 3,
    /// The server answered 401 or 403.
    Auth = 4,
}

/// A failure to report on stderr. Messages never contain a token.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self { exit, message: message.into() }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(Exit::Refused, message)
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit as u8)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
