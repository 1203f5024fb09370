//! `veilctl audit`: read the hash-chained audit log (`/v1/admin/audit`),
//! export it with a signed checkpoint, and verify a log, from the API or an
//! exported file, naming the first bad entry.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use veil::core::clock::{parse_rfc3339, rfc3339};
use veil::formats::keys::public_key::{Jwk, P256PublicKey};
use veil::services::audit::chain::{AuditEntry, Checkpoint, GENESIS, verify_entries};
use veil::services::config::Config;
use veil::services::keyring::{KeyDirectory, KeyKind, RetiredPublic};

use crate::error::Failure;
use crate::http::{Api, parse};
use crate::output::{Output, print_json, print_table};

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the last entries of the log
    #[command(after_help = "Example:\n  veilctl audit tail -n 50")]
    Tail {
        /// How many entries
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
    },
    /// Write the whole log and a fresh signed checkpoint as JSON
    #[command(after_help = "Example:\n  veilctl audit export --out audit-2026-11-26.json")]
    Export {
        /// File to write (stdout when omitted)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check the hash chain and the checkpoint signature
    #[command(after_help = "The checkpoint is checked with --audit-key (a JWK file) or, \
without it, the audit key of the configured key directory (VEIL_KEYS_DIR).\n\n\
Examples:\n  veilctl audit verify\n  veilctl audit verify --file audit-2026-11-26.json --audit-key audit.jwk")]
    Verify {
        /// An exported log (from the API when omitted)
        #[arg(long)]
        file: Option<PathBuf>,
        /// The audit public key as a JWK file
        #[arg(long)]
        audit_key: Option<PathBuf>,
    },
}

/// The export format: entries in order and a checkpoint of their head.
#[derive(Serialize, Deserialize)]
struct Export {
    entries: Vec<AuditEntry>,
    checkpoint: Checkpoint,
}

#[derive(Deserialize)]
struct Page {
    entries: Vec<ServedEntry>,
    next_after: Option<i64>,
}

/// An entry as `GET /v1/admin/audit` serves it: `at` in RFC 3339. The hash
/// covers `at` as Unix seconds, so it is read back before verifying.
#[derive(Deserialize)]
struct ServedEntry {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    case_id: Option<String>,
    justification: String,
    #[serde(default)]
    sealed: Option<String>,
    prev_hash: String,
    hash: String,
}

impl ServedEntry {
    fn into_entry(self) -> Result<AuditEntry, Failure> {
        let at = parse_rfc3339(&self.at).ok_or_else(|| {
            Failure::refused(format!("entry {}: `at` is not an RFC 3339 time", self.seq))
        })?;
        Ok(AuditEntry {
            seq: self.seq,
            at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            case_id: self.case_id,
            justification: self.justification,
            sealed: self.sealed,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// Which entries are fetched per request.
const PAGE: i64 = 1000;

impl Opts {
    /// Verifying an exported file works without a server or token.
    pub fn needs_api(&self) -> bool {
        !matches!(self.command, Command::Verify { file: Some(_), .. })
    }
}

/// `api` is `Some` whenever [`Opts::needs_api`] says so.
pub async fn run(opts: Opts, api: Option<&Api>, output: Output) -> Result<(), Failure> {
    let need_api = || api.ok_or_else(|| Failure::usage("this command needs the server"));
    match opts.command {
        Command::Tail { lines } => tail(need_api()?, lines, output).await,
        Command::Export { out } => export(need_api()?, out, output).await,
        Command::Verify { file, audit_key } => {
            let log = match file {
                Some(path) => read_export(&path)?,
                None => fetch_export(need_api()?, output).await?,
            };
            verify(log, audit_key, output)
        }
    }
}

/// Every entry, page by page; `bar` counts them.
async fn fetch_all(api: &Api, bar: &ProgressBar) -> Result<Vec<AuditEntry>, Failure> {
    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let query = [("after", after.to_string()), ("limit", PAGE.to_string())];
        let page: Page = parse(api.get_query(&["v1", "admin", "audit"], &query).await?)?;
        bar.inc(page.entries.len() as u64);
        for entry in page.entries {
            entries.push(entry.into_entry()?);
        }
        match page.next_after {
            Some(next) => after = next,
            None => {
                bar.finish_and_clear();
                return Ok(entries);
            }
        }
    }
}

/// The checkpoint first: entries appended meanwhile come after its head.
async fn fetch_export(api: &Api, output: Output) -> Result<Export, Failure> {
    let checkpoint: Checkpoint = parse(api.get(&["v1", "admin", "audit", "checkpoint"]).await?)?;
    let bar = progress(u64::try_from(checkpoint.seq).unwrap_or(0), "fetching", output);
    let entries = fetch_all(api, &bar).await?;
    Ok(Export { entries, checkpoint })
}

/// A progress bar on stderr for long work. indicatif draws nothing when
/// stderr is not a terminal, and `--json` output never has one.
fn progress(total: u64, what: &'static str, output: Output) -> ProgressBar {
    if output.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>9} [{bar:40}] {pos}/{len} entries ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

async fn tail(api: &Api, lines: usize, output: Output) -> Result<(), Failure> {
    let entries = fetch_all(api, &ProgressBar::hidden()).await?;
    let last = entries.get(entries.len().saturating_sub(lines)..).unwrap_or_default();
    if output.json {
        print_json(&json!({ "entries": last }));
        return Ok(());
    }
    let rows = last
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                rfc3339(e.at),
                e.actor.clone(),
                e.action.clone(),
                e.target.clone(),
                e.case_id.clone().unwrap_or_default(),
                e.justification.clone(),
            ]
        })
        .collect();
    print_table(&["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "CASE", "JUSTIFICATION"], rows);
    Ok(())
}

async fn export(api: &Api, out: Option<PathBuf>, output: Output) -> Result<(), Failure> {
    let log = fetch_export(api, output).await?;
    let text = serde_json::to_string_pretty(&log)
        .map_err(|e| Failure::refused(format!("cannot encode the export: {e}")))?;
    match out {
        None => println!("{text}"),
        Some(path) => {
            std::fs::write(&path, text)
                .map_err(|e| Failure::refused(format!("cannot write {}: {e}", path.display())))?;
            eprintln!(
                "Exported {} entries (checkpoint at {}) to {}.",
                log.entries.len(),
                log.checkpoint.seq,
                path.display()
            );
        }
    }
    Ok(())
}

fn read_export(path: &PathBuf) -> Result<Export, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{} is not an audit export: {e}", path.display())))
}

/// The key of `--audit-key`, or else the key-directory audit key with the
/// checkpoint's `kid`: the signing one or one retired by a rotation.
fn audit_key(path: Option<PathBuf>, kid: &str) -> Result<P256PublicKey, Failure> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
            let jwk: Jwk = serde_json::from_str(&text)
                .map_err(|e| Failure::usage(format!("{} is not a JWK: {e}", path.display())))?;
            P256PublicKey::from_jwk(&jwk)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
        }
        None => {
            let config =
                Config::from_env().map_err(|e| Failure::usage(format!("configuration: {e}")))?;
            let keys = KeyDirectory::new(&config.keys_dir).load().map_err(|e| {
                Failure::usage(format!("no --audit-key, and the key directory failed: {e}"))
            })?;
            if keys.audit.kid() == kid {
                return Ok(keys.audit.public_key().clone());
            }
            Ok(keys
                .retired
                .iter()
                .find(|key| key.kind == KeyKind::Audit && key.kid == kid)
                .and_then(|key| match &key.public {
                    RetiredPublic::Es256(public) => Some(public.clone()),
                    RetiredPublic::Ca { .. } => None,
                })
                .unwrap_or_else(|| keys.audit.public_key().clone()))
        }
    }
}

fn verify(log: Export, key: Option<PathBuf>, output: Output) -> Result<(), Failure> {
    let key = audit_key(key, &log.checkpoint.kid)?;
    let total = log.entries.len();
    let bar = progress(total as u64, "verifying", output);
    let verified = verify_entries((0, GENESIS), &log.entries, |done| {
        if done % 256 == 0 || done == total {
            bar.set_position(done as u64);
        }
    });
    bar.finish_and_clear();
    let (seq, _) =
        verified.map_err(|e| Failure::refused(format!("audit log is NOT intact: {e}")))?;
    log.checkpoint
        .verify_against(&key, &log.entries)
        .map_err(|e| Failure::refused(format!("audit checkpoint refused: {e}")))?;
    if output.json {
        print_json(&json!({"intact": true, "entries": total, "head": seq,
                           "checkpoint": log.checkpoint.seq}));
    } else {
        println!(
            "Audit log intact: {total} entries chained up to {seq}; checkpoint at {} verified.",
            log.checkpoint.seq
        );
    }
    Ok(())
}
