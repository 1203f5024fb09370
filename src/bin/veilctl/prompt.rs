//! Confirmation for commands that change state. A script must pass `--yes`
//! rather than have a prompt answered by whatever its stdin holds.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::Failure;

/// Asks `question` on a terminal; refuses without one.
pub fn confirm(question: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "not proceeding without confirmation: stdin is not a terminal; pass --yes",
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::usage(format!("cannot read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::refused("not confirmed; nothing was changed")),
    }
}
