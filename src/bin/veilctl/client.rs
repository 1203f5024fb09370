//! `veilctl client`: create, list and revoke API clients through the admin
//! API (`/v1/admin/clients`).

use std::io::IsTerminal;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;
use veil::services::access::Scope;

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
    /// Create an API client and print its token (shown only once)
    #[command(
        after_help = "Example:\n  veilctl client create --name 'chat backend' --scope backend\n  \
                            veilctl client create --name 'ops' --scope admin --scope auditor \\\n    \
                            --operator 5b2e0c4a-8f1d-4e7b-9c3a-1d2f3e4a5b6c --json"
    )]
    Create(CreateOpts),
    /// List API clients, revoked ones included
    #[command(after_help = "Example:\n  veilctl client list\n  veilctl client list --json")]
    List,
    /// Revoke an API client: its token is refused from then on
    #[command(
        after_help = "Example:\n  veilctl client revoke 0b5c1f3e-7d2a-4c1e-9a4f-2f1e8d6c3b7a\n  \
                            veilctl client revoke 0b5c1f3e-7d2a-4c1e-9a4f-2f1e8d6c3b7a --yes   # no prompt, for scripts"
    )]
    Revoke(RevokeOpts),
}

#[derive(Debug, Args)]
struct CreateOpts {
    /// Human-readable name (1 to 100 characters)
    #[arg(long)]
    name: String,
    /// What the client may do; repeat for several
    #[arg(long = "scope", required = true, value_name = "SCOPE", value_parser = scope_parser())]
    scopes: Vec<Scope>,
    /// The operator (person) an admin client belongs to: required with
    /// `--scope admin` (see `veilctl operator list`)
    #[arg(long)]
    operator: Option<String>,
}

#[derive(Debug, Args)]
struct RevokeOpts {
    /// Id of the client (see `veilctl client list`)
    id: String,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

/// The `POST /v1/admin/clients` answer.
#[derive(Deserialize)]
struct Created {
    id: String,
    name: String,
    scopes: Vec<String>,
    token: String,
}

/// The `GET /v1/admin/clients` answer.
#[derive(Deserialize)]
struct ClientList {
    clients: Vec<ClientView>,
}

#[derive(Deserialize)]
struct ClientView {
    id: String,
    name: String,
    scopes: Vec<String>,
    /// RFC 3339, as the API answers.
    created_at: String,
    revoked_at: Option<String>,
}

pub async fn run(opts: Opts, api: &Api, output: Output) -> Result<(), Failure> {
    match opts.command {
        Command::Create(create_opts) => create(create_opts, api, output).await,
        Command::List => list(api, output).await,
        Command::Revoke(revoke_opts) => revoke(revoke_opts, api, output).await,
    }
}

/// Scopes are checked before any request, and `--help` lists them.
fn scope_parser() -> impl TypedValueParser<Value = Scope> {
    const SCOPES: [Scope; 4] = [Scope::Backend, Scope::Hub, Scope::Admin, Scope::Auditor];
    PossibleValuesParser::new(SCOPES.map(Scope::as_str))
        .try_map(|value| Scope::parse(&value).ok_or_else(|| format!("unknown scope `{value}`")))
}

async fn create(opts: CreateOpts, api: &Api, output: Output) -> Result<(), Failure> {
    if opts.scopes.contains(&Scope::Admin) && opts.operator.is_none() {
        return Err(Failure::usage(
            "an admin client needs --operator <id> (see `veilctl operator list`)",
        ));
    }
    let body = json!({ "name": opts.name, "scopes": opts.scopes, "operator": opts.operator });
    let response = api.post(&["v1", "admin", "clients"], &body).await?;
    if output.json {
        print_json(&response);
        return Ok(());
    }
    let created: Created = parse(response)?;
    println!("Created API client {}", created.id);
    println!("  name:   {}", created.name);
    println!("  scopes: {}", created.scopes.join(" "));
    println!("  token:  {}", created.token);
    println!();
    println!("The token is shown only once: store it now. veil keeps only its hash.");
    Ok(())
}

async fn list(api: &Api, output: Output) -> Result<(), Failure> {
    let Some(list) = api.get_for_table::<ClientList>(&["v1", "admin", "clients"], output).await?
    else {
        return Ok(());
    };
    let rows = list
        .clients
        .into_iter()
        .map(|c| {
            let status = if c.revoked_at.is_some() { "revoked" } else { "active" };
            vec![c.id, c.name, c.scopes.join(" "), c.created_at, status.to_string()]
        })
        .collect();
    print_table(&["ID", "NAME", "SCOPES", "CREATED", "STATUS"], rows);
    Ok(())
}

async fn revoke(opts: RevokeOpts, api: &Api, output: Output) -> Result<(), Failure> {
    if !opts.yes {
        confirm_revoke(&opts.id, api).await?;
    }
    api.delete(&["v1", "admin", "clients", &opts.id]).await?;
    if output.json {
        print_json(&json!({ "id": opts.id, "revoked": true }));
    } else {
        println!("Revoked API client {}; its token is refused from now on.", opts.id);
    }
    Ok(())
}

/// Shows which client would go before asking.
async fn confirm_revoke(id: &str, api: &Api) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "not revoking without confirmation: stdin is not a terminal; pass --yes to revoke",
        ));
    }
    let list: ClientList = parse(api.get(&["v1", "admin", "clients"]).await?)?;
    let client = list
        .clients
        .iter()
        .find(|c| c.id == id && c.revoked_at.is_none())
        .ok_or_else(|| Failure::refused(format!("no active client with id {id}")))?;
    confirm(&format!(
        "Revoke API client {} ({}, scopes: {})? Requests with its token will be refused.",
        client.id,
        client.name,
        client.scopes.join(" ")
    ))
}
