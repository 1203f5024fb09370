//! `veilctl policy check <file>`: validates a policy file offline with the
//! same code veild runs at startup (`issuance.toml`, or a room disclosure
//! policy from `policies/rooms/`), so a policy can be checked before it is
//! deployed.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use veil::services::abuse::policy::check_file as check_issuance_file;
use veil::services::verify::policy::validate_policy_file;

use crate::error::Failure;
use crate::output::{Output, print_json};

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate one policy file; an error names the file and the field
    #[command(after_help = "A file named issuance.toml is checked as the issuance policy \
(rate limits, reputation); any other file as a room disclosure policy.\n\n\
Examples:\n  veilctl policy check policies/rooms/adults-only.toml\n  \
veilctl policy check policies/issuance.toml")]
    Check {
        /// The policy file (TOML); a room policy's name is its file stem
        file: PathBuf,
    },
}

pub fn run(opts: Opts, output: Output) -> Result<(), Failure> {
    match opts.command {
        Command::Check { file } => check(&file, output),
    }
}

fn check(file: &Path, output: Output) -> Result<(), Failure> {
    if file.file_stem().is_some_and(|stem| stem == "issuance") {
        return check_issuance(file, output);
    }
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

fn check_issuance(file: &Path, output: Output) -> Result<(), Failure> {
    let policy = check_issuance_file(file).map_err(|e| Failure::refused(e.to_string()))?;
    if output.json {
        print_json(&json!({"file": file, "kind": "issuance", "valid": true, "policy": policy}));
        return Ok(());
    }
    let account = &policy.account;
    println!("{}: valid issuance policy", file.display());
    println!(
        "  per account: {} per hour, {} per day, {} active",
        account.pseudonyms_per_hour, account.pseudonyms_per_day, account.max_active
    );
    println!(
        "  per client:  {} requests/s, burst {}",
        policy.client.requests_per_second, policy.client.burst
    );
    println!("  global:      {} pseudonyms per minute", policy.global.pseudonyms_per_minute);
    Ok(())
}
