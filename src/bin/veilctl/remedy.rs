//! `veilctl remedy`: apply, list and lift remedies on the account behind a
//! pseudonym (`/v1/admin/remedies`). The account itself is never shown.

use clap::{Args, Subcommand, ValueEnum};
use serde::Deserialize;
use serde_json::json;

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
    /// Apply a remedy to the account behind a pseudonym (audited)
    #[command(after_help = "Examples:\n  \
veilctl remedy apply --pseudonym mimi://example.com/p/Xy… --action suspend \\\n    \
--case-id CASE-17 --reason 'spam in three rooms' --duration 7d\n  \
veilctl remedy apply --pseudonym mimi://example.com/p/Xy… --action delete --case-id CASE-18 \\\n    \
--reason 'court order' --yes")]
    Apply(ApplyOpts),
    /// List remedies, newest first, lifted and expired ones included (every page)
    #[command(after_help = "Example:\n  veilctl remedy list\n  veilctl remedy list --json")]
    List,
    /// Lift a remedy before it expires (audited)
    #[command(after_help = "Example:\n  veilctl remedy lift 4f1c… --reason 'appeal upheld' --yes")]
    Lift(LiftOpts),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Action {
    Mute,
    Suspend,
    SuspendAndRevoke,
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Mute => "mute",
            Action::Suspend => "suspend",
            Action::SuspendAndRevoke => "suspend_and_revoke",
            Action::Delete => "delete",
        }
    }
}

#[derive(Debug, Args)]
struct ApplyOpts {
    /// The pseudonym URI the abuse was seen under
    #[arg(long)]
    pseudonym: String,
    #[arg(long, value_enum)]
    action: Action,
    /// Also apply to every account sharing a relation key with this one
    #[arg(long)]
    related: bool,
    /// The case this remedy belongs to (recorded in the audit log)
    #[arg(long)]
    case_id: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    reason: String,
    /// How long it lasts, e.g. 12h or 7d; permanent when omitted
    #[arg(long)]
    duration: Option<String>,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
struct LiftOpts {
    /// Id of the remedy (see `veilctl remedy list`)
    id: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    reason: String,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

#[derive(Deserialize)]
struct Applied {
    remedy_id: String,
    affected_pseudonyms: i64,
}

#[derive(Deserialize)]
struct RemedyList {
    remedies: Vec<RemedyView>,
}

#[derive(Deserialize)]
struct RemedyView {
    id: String,
    action: String,
    case_id: String,
    /// RFC 3339, as the API answers.
    created_at: String,
    expires_at: Option<String>,
    lifted_at: Option<String>,
    affected_pseudonyms: i64,
}

pub async fn run(opts: Opts, api: &Api, output: Output) -> Result<(), Failure> {
    match opts.command {
        Command::Apply(apply_opts) => apply(apply_opts, api, output).await,
        Command::List => list(api, output).await,
        Command::Lift(lift_opts) => lift(lift_opts, api, output).await,
    }
}

async fn apply(opts: ApplyOpts, api: &Api, output: Output) -> Result<(), Failure> {
    if !opts.yes {
        let scope = if opts.related { " and every related account" } else { "" };
        confirm(&format!(
            "Apply `{}` to the account behind {}{scope} (case {})?",
            opts.action.as_str(),
            opts.pseudonym,
            opts.case_id
        ))?;
    }
    let mut body = json!({
        "pseudonym": opts.pseudonym,
        "action": opts.action.as_str(),
        "related": opts.related,
        "case_id": opts.case_id,
        "reason": opts.reason,
    });
    if let (Some(duration), Some(fields)) = (opts.duration, body.as_object_mut()) {
        fields.insert("duration".into(), json!(duration));
    }
    let response = api.post(&["v1", "admin", "remedies"], &body).await?;
    if output.json {
        print_json(&response);
        return Ok(());
    }
    let applied: Applied = parse(response)?;
    println!(
        "Applied {} as remedy {}: {} pseudonym(s) affected.",
        opts.action.as_str(),
        applied.remedy_id,
        applied.affected_pseudonyms
    );
    Ok(())
}

async fn list(api: &Api, output: Output) -> Result<(), Failure> {
    let response = api.get_every_page(&["v1", "admin", "remedies"], &[], "remedies").await?;
    if output.json {
        print_json(&response);
        return Ok(());
    }
    let list: RemedyList = parse(response)?;
    let rows = list
        .remedies
        .into_iter()
        .map(|r| {
            let state = match (r.lifted_at, r.expires_at) {
                (Some(_), _) => "lifted".to_string(),
                (None, Some(at)) => format!("until {at}"),
                (None, None) => "permanent".to_string(),
            };
            vec![r.id, r.action, r.case_id, r.created_at, r.affected_pseudonyms.to_string(), state]
        })
        .collect();
    print_table(&["ID", "ACTION", "CASE", "APPLIED", "PSEUDONYMS", "STATE"], rows);
    Ok(())
}

async fn lift(opts: LiftOpts, api: &Api, output: Output) -> Result<(), Failure> {
    if !opts.yes {
        confirm(&format!("Lift remedy {}?", opts.id))?;
    }
    let response = api
        .post(&["v1", "admin", "remedies", &opts.id, "lift"], &json!({"reason": opts.reason}))
        .await?;
    if output.json {
        let shown =
            if response.is_null() { json!({"id": opts.id, "lifted": true}) } else { response };
        print_json(&shown);
    } else {
        println!("Lifted remedy {}.", opts.id);
    }
    Ok(())
}
