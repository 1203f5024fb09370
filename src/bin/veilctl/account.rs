//! `veilctl account status --pseudonym URI`: the standing of the account
//! behind a pseudonym (`/v1/admin/accounts/status`); never the account.

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use crate::error::Failure;
use crate::http::{Api, parse};
use crate::output::{Output, print_json};

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Status, reputation and limits of the account behind a pseudonym
    #[command(
        after_help = "Example:\n  veilctl account status --pseudonym mimi://example.com/p/Xy…\n  \
                      veilctl account status --pseudonym mimi://example.com/p/Xy… --json"
    )]
    Status {
        /// A pseudonym URI of the account
        #[arg(long)]
        pseudonym: String,
    },
}

#[derive(Deserialize)]
struct Standing {
    status: String,
    score: i64,
    min_score_to_mint: i64,
    min_score_to_disclose: i64,
    remaining_this_hour: i64,
    remaining_today: i64,
    active_pseudonyms: i64,
    max_active_pseudonyms: i64,
}

pub async fn run(opts: Opts, api: &Api, output: Output) -> Result<(), Failure> {
    let Command::Status { pseudonym } = opts.command;
    let response =
        api.post(&["v1", "admin", "accounts", "status"], &json!({"pseudonym": pseudonym})).await?;
    if output.json {
        print_json(&response);
        return Ok(());
    }
    let s: Standing = parse(response)?;
    println!("Account behind {pseudonym}:");
    println!("  status:      {}", s.status);
    println!(
        "  reputation:  {} (minting needs {}, disclosures {})",
        s.score, s.min_score_to_mint, s.min_score_to_disclose
    );
    println!(
        "  pseudonyms:  {} active of {}; {} more this hour, {} today",
        s.active_pseudonyms, s.max_active_pseudonyms, s.remaining_this_hour, s.remaining_today
    );
    Ok(())
}
