//! `veilctl break-glass`: request, approve, deny, send a custodian's
//! partial and reveal the account behind a pseudonym
//! (`/v1/admin/break-glass`), plus the offline key ceremony. Only `reveal`
//! ever prints an account id, and it opens the link here, on the
//! requester's machine: the server never sees a key, share or passphrase.

use std::path::PathBuf;

use base64ct::{Base64, Encoding};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;
use veil::formats::glass_link::fingerprint;
use veil::formats::threshold::KemSecretKey;
use zeroize::Zeroizing;

use crate::ceremony::{self, CeremonyCommand};
use crate::error::Failure;
use crate::http::{Api, parse};
use crate::output::{Output, print_json, print_table};
use crate::prompt::confirm;
use crate::reveal::{self, PartialOpts, RevealOpts};
use crate::secret_file;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ask to reveal the account behind a pseudonym (audited; needs other admins' approval)
    #[command(
        after_help = "Example:\n  veilctl break-glass request --pseudonym mimi://example.com/p/Xy… \\\n    \
--reason-code legal-order --case-id CASE-17 --justification 'court order 2026/41' --yes"
    )]
    Request(RequestOpts),
    /// Approve another operator's request (audited; never your own operator's)
    #[command(after_help = "Example:\n  veilctl break-glass approve 4f1c… --yes")]
    Approve {
        /// The request id (from `request` or `list`)
        id: String,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
    },
    /// Deny a pending request (audited)
    #[command(
        after_help = "Example:\n  veilctl break-glass deny 4f1c… --reason 'no legal basis' --yes"
    )]
    Deny(DenyOpts),
    /// Custodian custody: compute your partial decryption of an approved
    /// request's link with your share, sealed to the requester (audited)
    #[command(after_help = "Your share is opened here with your passphrase and never leaves \
this machine: only the partial decryption, with its proof, sealed to the requester's reveal \
key, is sent. Compare the reveal-key fingerprint with the requester out of band.\n\n\
Example:\n  veilctl break-glass partial 4f1c… --share share-2.json --passphrase-file bob.pass \\\n    \
--custodians custodians.json --reveal-key-fingerprint 3f9a… --yes")]
    Partial(PartialOpts),
    /// Reveal the account of your approved request, once (audited): the
    /// server releases the sealed link and this machine opens it
    #[command(after_help = "File custody: --key names the break-glass key file (sealed: add \
--passphrase-file). Custodian custody: --custodians and the --reveal-key written by `request`; \
every custodian's partial is checked against custodians.json, a bad one is named.\n\n\
Examples:\n  veilctl break-glass reveal 4f1c… --key /secure/break-glass.key --passphrase-file glass.pass --yes\n  \
veilctl break-glass reveal 4f1c… --custodians custodians.json --reveal-key reveal-4f1c.key --yes")]
    Reveal(RevealOpts),
    /// List requests, newest first, optionally by status (every page)
    #[command(after_help = "Example:\n  veilctl break-glass list --status pending")]
    List {
        /// pending, approved, denied, revealed or expired
        #[arg(long)]
        status: Option<String>,
    },
    #[command(flatten)]
    Ceremony(CeremonyCommand),
}

#[derive(Debug, Args)]
struct RequestOpts {
    #[arg(long)]
    pseudonym: String,
    /// A reason code of policies/break-glass.toml
    #[arg(long)]
    reason_code: String,
    #[arg(long)]
    case_id: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    justification: String,
    /// Custodian custody: write a fresh one-time reveal key here (0600) and
    /// send its public half; custodians seal their partials to it
    #[arg(long)]
    reveal_key: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
struct DenyOpts {
    /// The request id (from `request` or `list`)
    id: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    reason: String,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

#[derive(Deserialize)]
pub struct RequestView {
    pub request_id: String,
    reason_code: String,
    case_id: String,
    requester: String,
    pub status: String,
    approvals: i64,
    approvals_required: i64,
    /// Custodians' partials relayed so far.
    pub partials: i64,
    /// RFC 3339, as the API answers.
    expires_at: String,
}

#[derive(Deserialize)]
pub struct RequestList {
    pub requests: Vec<RequestView>,
}

pub async fn run(opts: Opts, api: Option<&Api>, output: Output) -> Result<(), Failure> {
    let api = || api.ok_or_else(|| Failure::usage("this command needs the server"));
    match opts.command {
        Command::Request(o) => request(o, api()?, output).await,
        Command::Approve { id, yes } => {
            if !yes {
                confirm(&format!("Approve break-glass request {id}?"))?;
            }
            let path = ["v1", "admin", "break-glass", &id, "approve"];
            show(api()?.post(&path, &json!({})).await?, output, "Approved")
        }
        Command::Deny(o) => {
            if !o.yes {
                confirm(&format!("Deny break-glass request {}?", o.id))?;
            }
            let path = ["v1", "admin", "break-glass", &o.id, "deny"];
            show(api()?.post(&path, &json!({"reason": o.reason})).await?, output, "Denied")
        }
        Command::Partial(o) => reveal::partial(o, api()?, output).await,
        Command::Reveal(o) => reveal::reveal(o, api()?, output).await,
        Command::List { status } => list(api()?, status, output).await,
        Command::Ceremony(command) => ceremony::run(command, output),
    }
}

/// Commands that need no server.
impl Opts {
    pub fn needs_api(&self) -> bool {
        !matches!(self.command, Command::Ceremony(_))
    }
}

async fn request(o: RequestOpts, api: &Api, output: Output) -> Result<(), Failure> {
    if !o.yes {
        confirm(&format!(
            "Request to reveal the account behind {} ({}, case {})?",
            o.pseudonym, o.reason_code, o.case_id
        ))?;
    }
    let mut reveal_key = None;
    let mut print_fingerprint = None;
    if let Some(path) = &o.reveal_key {
        if path.exists() {
            return Err(Failure::usage(format!(
                "{} exists: a reveal key is fresh for each request",
                path.display()
            )));
        }
        let key = KemSecretKey::generate()
            .map_err(|_| Failure::refused("no randomness for the reveal key"))?;
        let encoded = Zeroizing::new(Base64::encode_string(key.to_bytes().as_slice()));
        secret_file::write(path, encoded.as_bytes())?;
        let public = key.public_key();
        reveal_key = Some(Base64::encode_string(&public.to_bytes()));
        print_fingerprint = Some(fingerprint(&public));
    }
    let body = json!({"pseudonym": o.pseudonym, "reason_code": o.reason_code,
                      "case_id": o.case_id, "justification": o.justification,
                      "reveal_key": reveal_key});
    let response = api.post(&["v1", "admin", "break-glass"], &body).await?;
    show(response, output, "Requested")?;
    if let (Some(fp), Some(path), false) = (print_fingerprint, &o.reveal_key, output.json) {
        println!(
            "Reveal key: {} (fingerprint {fp}). Give custodians the request id and this \
             fingerprint out of band; keep the key file for `reveal`.",
            path.display()
        );
    }
    Ok(())
}

pub fn show(response: serde_json::Value, output: Output, verb: &str) -> Result<(), Failure> {
    if output.json {
        print_json(&response);
        return Ok(());
    }
    let view: RequestView = parse(response)?;
    println!(
        "{verb}: request {} ({}, case {}) is {} with {}/{} approvals; expires {}.",
        view.request_id,
        view.reason_code,
        view.case_id,
        view.status,
        view.approvals,
        view.approvals_required,
        view.expires_at
    );
    Ok(())
}

async fn list(api: &Api, status: Option<String>, output: Output) -> Result<(), Failure> {
    let path = ["v1", "admin", "break-glass"];
    let query: Vec<(&str, String)> = status.into_iter().map(|s| ("status", s)).collect();
    let response = api.get_every_page(&path, &query, "requests").await?;
    if output.json {
        print_json(&response);
        return Ok(());
    }
    let list: RequestList = parse(response)?;
    let rows = list
        .requests
        .into_iter()
        .map(|r| {
            vec![
                r.request_id,
                r.status,
                r.reason_code,
                r.case_id,
                r.requester,
                format!("{}/{}", r.approvals, r.approvals_required),
                r.expires_at,
            ]
        })
        .collect();
    print_table(&["ID", "STATUS", "REASON", "CASE", "REQUESTER", "APPROVALS", "EXPIRES"], rows);
    Ok(())
}
