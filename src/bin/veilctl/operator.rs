//! `veilctl operator`: the people behind admin clients. `add` works on the
//! database directly (on the host, like `init`; audited as `host`), so a
//! second person can be added without a second operator to approve; `list`
//! and `revoke` go through the admin API.

use std::io::IsTerminal;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;
use veil::app;
use veil::core::clock::{SystemClock, rfc3339};
use veil::services::config::Config;

use crate::error::Failure;
use crate::http::{Api, parse};
use crate::output::{Output, print_json, print_table};
use crate::prompt::confirm;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add an active operator, offline on the host with the key directory
    /// (through the API instead: POST /v1/admin/operators, then another
    /// operator approves)
    #[command(
        after_help = "Example:\n  VEIL_DATABASE_URL=sqlite://veil.db veilctl operator add --name 'Dana Ops'\n  \
                            veilctl client create --name dana --scope admin --operator <id printed above>"
    )]
    Add(AddOpts),
    /// List operators, pending and revoked ones included
    #[command(after_help = "Example:\n  veilctl operator list\n  veilctl operator list --json")]
    List,
    /// Revoke an operator and all its clients (never the last one)
    #[command(
        after_help = "Example:\n  veilctl operator revoke 5b2e0c4a-8f1d-4e7b-9c3a-1d2f3e4a5b6c\n  \
                            veilctl operator revoke 5b2e0c4a-8f1d-4e7b-9c3a-1d2f3e4a5b6c --yes   # no prompt, for scripts"
    )]
    Revoke(RevokeOpts),
}

impl Opts {
    /// `add` works offline; the others need a server.
    pub fn needs_api(&self) -> bool {
        !matches!(self.command, Command::Add(_))
    }
}

#[derive(Debug, Args)]
struct AddOpts {
    /// Who the operator is (1 to 100 characters)
    #[arg(long)]
    name: String,
}

#[derive(Debug, Args)]
struct RevokeOpts {
    /// Id of the operator (see `veilctl operator list`)
    id: String,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

/// The `GET /v1/admin/operators` answer.
#[derive(Deserialize)]
struct OperatorList {
    operators: Vec<OperatorView>,
}

#[derive(Deserialize)]
struct OperatorView {
    id: String,
    name: String,
    status: String,
    /// RFC 3339, as the API answers.
    created_at: String,
}

pub async fn run(opts: Opts, api: Option<&Api>, output: Output) -> Result<(), Failure> {
    let need_api = || api.ok_or_else(|| Failure::usage("this command needs a server (--url)"));
    match opts.command {
        Command::Add(add_opts) => add(add_opts, output).await,
        Command::List => list(need_api()?, output).await,
        Command::Revoke(revoke_opts) => revoke(revoke_opts, need_api()?, output).await,
    }
}

async fn add(opts: AddOpts, output: Output) -> Result<(), Failure> {
    let config = Config::from_env().map_err(|e| Failure::usage(format!("configuration: {e}")))?;
    let operator = app::add_operator(&config, &opts.name, &SystemClock)
        .await
        .map_err(|e| Failure::refused(format!("adding the operator failed: {e}")))?;
    if output.json {
        print_json(&json!({
            "id": operator.id,
            "name": operator.name,
            "status": operator.status,
            "created_at": rfc3339(operator.created_at),
        }));
        return Ok(());
    }
    println!("Added operator {} ({}), active now.", operator.id, operator.name);
    println!(
        "Give them an admin client: veilctl client create --name <name> --scope admin --operator {}",
        operator.id
    );
    Ok(())
}

async fn list(api: &Api, output: Output) -> Result<(), Failure> {
    let Some(list) =
        api.get_for_table::<OperatorList>(&["v1", "admin", "operators"], output).await?
    else {
        return Ok(());
    };
    let rows =
        list.operators.into_iter().map(|o| vec![o.id, o.name, o.created_at, o.status]).collect();
    print_table(&["ID", "NAME", "CREATED", "STATUS"], rows);
    Ok(())
}

async fn revoke(opts: RevokeOpts, api: &Api, output: Output) -> Result<(), Failure> {
    if !opts.yes {
        confirm_revoke(&opts.id, api).await?;
    }
    api.delete(&["v1", "admin", "operators", &opts.id]).await?;
    if output.json {
        print_json(&json!({ "id": opts.id, "revoked": true }));
    } else {
        println!("Revoked operator {} and all its clients.", opts.id);
    }
    Ok(())
}

/// Shows which operator would go before asking.
async fn confirm_revoke(id: &str, api: &Api) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "not revoking without confirmation: stdin is not a terminal; pass --yes to revoke",
        ));
    }
    let list: OperatorList = parse(api.get(&["v1", "admin", "operators"]).await?)?;
    let operator = list
        .operators
        .iter()
        .find(|o| o.id == id && o.status != "revoked")
        .ok_or_else(|| Failure::refused(format!("no operator with id {id} to revoke")))?;
    confirm(&format!(
        "Revoke operator {} ({})? All its clients' tokens will be refused.",
        operator.id, operator.name
    ))
}
