//! `veilctl break-glass`: request, approve, deny and reveal the account
//! behind a pseudonym (`/v1/admin/break-glass`), and seal a key file under
//! a passphrase (offline). Only `reveal` ever prints an account id.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;
use veil::services::breakglass::custody::{read_key_file, seal_key};
use veil::services::breakglass::shares;
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::http::{Api, parse};
use crate::output::{Output, print_json, print_table};
use crate::prompt::confirm;
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
    /// Approve another admin's request (audited)
    #[command(after_help = "In custodian custody, submit your share with the approval; it is \
opened here with your passphrase, never sent sealed or with the passphrase.\n\n\
Examples:\n  veilctl break-glass approve 4f1c… --yes\n  \
veilctl break-glass approve 4f1c… --share share-2.json --passphrase-file bob.pass --yes")]
    Approve(ApproveOpts),
    /// Deny a pending request (audited)
    #[command(
        after_help = "Example:\n  veilctl break-glass deny 4f1c… --reason 'no legal basis' --yes"
    )]
    Deny(DenyOpts),
    /// Reveal the account of your approved request, once (audited)
    #[command(
        after_help = "Example:\n  veilctl break-glass reveal 4f1c… --passphrase-file /run/secrets/glass --yes"
    )]
    Reveal(RevealOpts),
    /// List requests, optionally by status
    #[command(after_help = "Example:\n  veilctl break-glass list --status pending")]
    List {
        /// pending, approved, denied, revealed or expired
        #[arg(long)]
        status: Option<String>,
    },
    /// Seal a break-glass key file under a passphrase (offline)
    #[command(
        after_help = "Example:\n  veilctl break-glass seal-key --key keys/break-glass.key \\\n    \
--passphrase-file /run/secrets/glass --out /secure/break-glass.key"
    )]
    SealKey {
        /// The key file to seal (the dev form, base64)
        #[arg(long)]
        key: PathBuf,
        /// A file holding the passphrase (first line)
        #[arg(long)]
        passphrase_file: PathBuf,
        /// Where to write the sealed key file
        #[arg(long)]
        out: PathBuf,
    },
    /// Split a key file into custodian shares, each sealed under its own passphrase (offline)
    #[command(after_help = "One --passphrase-file per custodian; share i is written to \
<out-dir>/share-<i>.json. Combining fewer than --threshold shares is refused.\n\n\
Example:\n  veilctl break-glass split --key keys/break-glass.key --threshold 2 \\\n    \
--passphrase-file alice.pass --passphrase-file bob.pass --passphrase-file carol.pass --out-dir shares")]
    Split {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        threshold: usize,
        /// A custodian's passphrase file; once per custodian
        #[arg(long = "passphrase-file", required = true)]
        passphrase_files: Vec<PathBuf>,
        #[arg(long)]
        out_dir: PathBuf,
    },
    /// Rebuild the key from custodian shares into a sealed key file (offline)
    #[command(after_help = "Give each --share with its --passphrase-file, in the same order.\n\n\
Example:\n  veilctl break-glass combine --share shares/share-1.json --passphrase-file alice.pass \\\n    \
--share shares/share-3.json --passphrase-file carol.pass --seal-with ops.pass --out break-glass.key")]
    Combine {
        #[arg(long = "share", required = true)]
        shares: Vec<PathBuf>,
        #[arg(long = "passphrase-file", required = true)]
        passphrase_files: Vec<PathBuf>,
        /// Passphrase file to seal the rebuilt key under
        #[arg(long)]
        seal_with: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
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
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
struct ApproveOpts {
    id: String,
    /// Your custodian share file
    #[arg(long, requires = "passphrase_file")]
    share: Option<PathBuf>,
    /// The passphrase of your share (first line)
    #[arg(long, requires = "share")]
    passphrase_file: Option<PathBuf>,
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
struct DenyOpts {
    id: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    reason: String,
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
struct RevealOpts {
    id: String,
    /// A file holding the passphrase of a sealed key file (first line)
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
    #[arg(long)]
    yes: bool,
}

#[derive(Deserialize)]
struct RequestView {
    request_id: String,
    reason_code: String,
    case_id: String,
    requester: String,
    status: String,
    approvals: i64,
    approvals_required: i64,
    /// RFC 3339, as the API answers.
    expires_at: String,
}

#[derive(Deserialize)]
struct RequestList {
    requests: Vec<RequestView>,
}

pub async fn run(opts: Opts, api: Option<&Api>, output: Output) -> Result<(), Failure> {
    let api = || api.ok_or_else(|| Failure::usage("this command needs the server"));
    match opts.command {
        Command::Request(o) => {
            if !o.yes {
                confirm(&format!(
                    "Request to reveal the account behind {} ({}, case {})?",
                    o.pseudonym, o.reason_code, o.case_id
                ))?;
            }
            let body = json!({"pseudonym": o.pseudonym, "reason_code": o.reason_code,
                              "case_id": o.case_id, "justification": o.justification});
            let response = api()?.post(&["v1", "admin", "break-glass"], &body).await?;
            show(response, output, "Requested")
        }
        Command::Approve(o) => {
            if !o.yes {
                confirm(&format!("Approve break-glass request {}?", o.id))?;
            }
            let body = match (&o.share, &o.passphrase_file) {
                (Some(share), Some(passphrase)) => {
                    let text = std::fs::read_to_string(share).map_err(|e| {
                        Failure::usage(format!("cannot read {}: {e}", share.display()))
                    })?;
                    let file = shares::ShareFile::parse(&text)
                        .map_err(|e| Failure::usage(format!("{}: {e}", share.display())))?;
                    let opened = file
                        .open(&read_passphrase(passphrase)?)
                        .map_err(|e| Failure::refused(format!("{}: {e}", share.display())))?;
                    json!({ "share": opened })
                }
                _ => json!({}),
            };
            let path = ["v1", "admin", "break-glass", &o.id, "approve"];
            show(api()?.post(&path, &body).await?, output, "Approved")
        }
        Command::Deny(o) => {
            if !o.yes {
                confirm(&format!("Deny break-glass request {}?", o.id))?;
            }
            let path = ["v1", "admin", "break-glass", &o.id, "deny"];
            show(api()?.post(&path, &json!({"reason": o.reason})).await?, output, "Denied")
        }
        Command::Reveal(o) => reveal(o, api()?, output).await,
        Command::List { status } => list(api()?, status, output).await,
        Command::Split { key, threshold, passphrase_files, out_dir } => {
            split_key(key, threshold, passphrase_files, out_dir, output)
        }
        Command::Combine { shares, passphrase_files, seal_with, out } => {
            combine_shares(shares, passphrase_files, seal_with, out, output)
        }
        Command::SealKey { key, passphrase_file, out } => {
            let passphrase = read_passphrase(&passphrase_file)?;
            let raw = read_key_file(&key, None).map_err(|e| Failure::refused(e.to_string()))?;
            let sealed =
                seal_key(&raw, &passphrase).map_err(|e| Failure::refused(e.to_string()))?;
            secret_file::write(&out, sealed.as_bytes())?;
            if output.json {
                print_json(&json!({"sealed": out.display().to_string()}));
            } else {
                println!(
                    "Sealed the key into {}. Point break_glass_key_file at it and remove {}.",
                    out.display(),
                    key.display()
                );
            }
            Ok(())
        }
    }
}

/// Commands that need no server.
impl Opts {
    pub fn needs_api(&self) -> bool {
        !matches!(
            self.command,
            Command::SealKey { .. } | Command::Split { .. } | Command::Combine { .. }
        )
    }
}

fn split_key(
    key: PathBuf,
    threshold: usize,
    passphrase_files: Vec<PathBuf>,
    out_dir: PathBuf,
    output: Output,
) -> Result<(), Failure> {
    let passphrases =
        passphrase_files.iter().map(read_passphrase).collect::<Result<Vec<_>, _>>()?;
    let raw = read_key_file(&key, None).map_err(|e| Failure::refused(e.to_string()))?;
    let files =
        shares::split(&raw, threshold, &passphrases).map_err(|e| Failure::usage(e.to_string()))?;
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| Failure::refused(format!("cannot create {}: {e}", out_dir.display())))?;
    let mut written = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let path = out_dir.join(format!("share-{}.json", i + 1));
        let text = file.to_json().map_err(|e| Failure::refused(e.to_string()))?;
        secret_file::write(&path, text.as_bytes())?;
        written.push(path.display().to_string());
    }
    if output.json {
        print_json(&json!({"threshold": threshold, "shares": written}));
    } else {
        println!(
            "Split into {} shares ({threshold} needed): {}. Hand one to each custodian and remove {}.",
            written.len(),
            written.join(", "),
            key.display()
        );
    }
    Ok(())
}

fn combine_shares(
    share_files: Vec<PathBuf>,
    passphrase_files: Vec<PathBuf>,
    seal_with: PathBuf,
    out: PathBuf,
    output: Output,
) -> Result<(), Failure> {
    if share_files.len() != passphrase_files.len() {
        return Err(Failure::usage("give one --passphrase-file per --share, in the same order"));
    }
    let mut given = Vec::new();
    for (share, passphrase) in share_files.iter().zip(&passphrase_files) {
        let text = std::fs::read_to_string(share)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", share.display())))?;
        let file = shares::ShareFile::parse(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", share.display())))?;
        given.push((file, read_passphrase(passphrase)?));
    }
    let key = shares::combine(&given).map_err(|e| Failure::refused(e.to_string()))?;
    let sealed = seal_key(&key, &read_passphrase(&seal_with)?)
        .map_err(|e| Failure::refused(e.to_string()))?;
    secret_file::write(&out, sealed.as_bytes())?;
    if output.json {
        print_json(&json!({"sealed": out.display().to_string()}));
    } else {
        println!("Rebuilt the key from {} shares into {} (sealed).", given.len(), out.display());
    }
    Ok(())
}

pub fn read_passphrase(path: &PathBuf) -> Result<Zeroizing<String>, Failure> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?,
    );
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(Failure::usage(format!("{} holds no passphrase", path.display())));
    }
    Ok(Zeroizing::new(line.to_string()))
}

fn show(response: serde_json::Value, output: Output, verb: &str) -> Result<(), Failure> {
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

async fn reveal(opts: RevealOpts, api: &Api, output: Output) -> Result<(), Failure> {
    if !opts.yes {
        confirm(&format!(
            "Reveal the account of request {}? This can be done once and is audited.",
            opts.id
        ))?;
    }
    let body = match &opts.passphrase_file {
        Some(path) => json!({"passphrase": read_passphrase(path)?.as_str()}),
        None => json!({}),
    };
    let response = api.post(&["v1", "admin", "break-glass", &opts.id, "reveal"], &body).await?;
    if output.json {
        print_json(&response);
    } else {
        let account =
            response.get("account").and_then(serde_json::Value::as_str).unwrap_or_default();
        println!("Request {}: the account is {account}", opts.id);
    }
    Ok(())
}

async fn list(api: &Api, status: Option<String>, output: Output) -> Result<(), Failure> {
    let path = ["v1", "admin", "break-glass"];
    let query: Vec<(&str, String)> = status.into_iter().map(|s| ("status", s)).collect();
    let response = api.get_query(&path, &query).await?;
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
