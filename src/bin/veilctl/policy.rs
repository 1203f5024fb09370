//! `veilctl policy check <file>`: validates a room disclosure policy offline
//! with the same code veild runs on every file of `policies/rooms/` at
//! startup, so a policy can be checked before it is deployed.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use veil::verify::policy::validate_policy_file;

use crate::error::Failure;
use crate::output::{Output, print_json};

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate one room policy file; an error names the file and the field
    #[command(after_help = "Example:\n  veilctl policy check policies/rooms/adults-only.toml")]
    Check {
        /// The policy file (TOML); the room policy's name is its file stem
        file: PathBuf,
    },
}

pub fn run(opts: Opts, output: Output) -> Result<(), Failure> {
    match opts.command {
        Command::Check { file } => check(&file, output),
    }
}

fn check(file: &Path, output: Output) -> Result<(), Failure> {
    let policy = validate_policy_file(file).map_err(|e| Failure::refused(e.to_string()))?;
    let formats: Vec<&str> = policy.formats.iter().map(|f| f.as_str()).collect();
    if output.json {
        print_json(&json!({
            "file": file,
            "name": policy.name,
            "valid": true,
            "pseudonyms": policy.pseudonyms,
            "formats": formats,
            "max_kb_age_secs": policy.max_kb_age_secs,
            "claims": {
                "required": policy.required,
                "optional": policy.optional,
                "forbidden": policy.forbidden,
            },
        }));
        return Ok(());
    }
    println!("{}: valid room policy `{}`", file.display(), policy.name);
    println!("  formats:   {}", formats.join(", "));
    println!("  required:  {}", list(&policy.required));
    println!("  optional:  {}", list(&policy.optional));
    println!("  forbidden: {} (and every claim not listed)", list(&policy.forbidden));
    Ok(())
}

fn list(claims: &[String]) -> String {
    if claims.is_empty() { "-".into() } else { claims.join(", ") }
}
