//! `veilctl reputation adjust`: an operator's adjustment of the standing of
//! the account behind a pseudonym (`/v1/admin/reputation-adjustments`, audited).

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use crate::error::Failure;
use crate::http::{Api, parse};
use crate::output::{Output, print_json};
use crate::prompt::confirm;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add (or, negative, take away) reputation points (audited)
    #[command(after_help = "Examples:\n  \
veilctl reputation adjust --pseudonym mimi://example.com/p/Xy… --points 50 \\\n    \
--case-id CASE-20 --reason 'appeal upheld' --yes\n  \
veilctl reputation adjust --pseudonym mimi://example.com/p/Xy… --points=-30 \\\n    \
--case-id CASE-21 --reason 'confirmed spam' --yes")]
    Adjust(AdjustOpts),
}

#[derive(Debug, Args)]
struct AdjustOpts {
    /// A pseudonym URI of the account
    #[arg(long)]
    pseudonym: String,
    /// Points to add; negative to take away (write `--points=-30`)
    #[arg(long, allow_negative_numbers = true)]
    points: i64,
    /// The case this belongs to (recorded in the audit log)
    #[arg(long)]
    case_id: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    reason: String,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

#[derive(Deserialize)]
struct Adjusted {
    adjustment_id: String,
}

pub async fn run(opts: Opts, api: &Api, output: Output) -> Result<(), Failure> {
    match opts.command {
        Command::Adjust(adjust_opts) => adjust(adjust_opts, api, output).await,
    }
}

async fn adjust(opts: AdjustOpts, api: &Api, output: Output) -> Result<(), Failure> {
    if !opts.yes {
        confirm(&format!(
            "Adjust the reputation of the account behind {} by {} (case {})?",
            opts.pseudonym, opts.points, opts.case_id
        ))?;
    }
    let body = json!({
        "pseudonym": opts.pseudonym,
        "points": opts.points,
        "case_id": opts.case_id,
        "reason": opts.reason,
    });
    let response = api.post(&["v1", "admin", "reputation-adjustments"], &body).await?;
    if output.json {
        print_json(&response);
        return Ok(());
    }
    let adjusted: Adjusted = parse(response)?;
    println!("Adjusted by {} points (adjustment {}).", opts.points, adjusted.adjustment_id);
    Ok(())
}
