//! `veilctl audit`: read the audit log (`/v1/admin/audit`), export it with
//! a signed checkpoint, verify it against the checkpoint this auditor
//! verified last (pinned in a state file, outside the database), and keep
//! witnessed checkpoints in a directory. A rewrite, even re-hashed to the
//! end, a truncation or a fork fails with a message saying which.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use veil::core::clock::{parse_rfc3339, rfc3339};
use veil::formats::keys::public_key::{Jwk, P256PublicKey};
use veil::services::audit::ConsistencyProof;
use veil::services::audit::chain::AuditEntry;
use veil::services::audit::note::{SignedCheckpoint, TreeHead};
use veil::services::audit::verify::{check_consistency, check_entries, decode_proof};
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
    /// Check the log against a fresh signed checkpoint and the one verified last
    #[command(after_help = "The checkpoint's signature is checked with --audit-key (a JWK \
file) or, without it, the audit keys (current and retired) of the configured key directory \
(VEIL_KEYS_DIR). The last checkpoint verified is pinned in the state file (default \
$XDG_STATE_HOME/veil/audit-checkpoint, else ~/.local/state/veil/audit-checkpoint; mode 0600): \
the next run asks for a consistency proof from it and fails if the log was rewritten, \
truncated or forked since. Keep the state file off the server.\n\n\
Examples:\n  veilctl audit verify\n  veilctl audit verify --file audit-2026-11-26.json --audit-key audit.jwk --state ./pinned")]
    Verify {
        /// An exported log (from the API when omitted)
        #[arg(long)]
        file: Option<PathBuf>,
        /// The audit public key as a JWK file
        #[arg(long)]
        audit_key: Option<PathBuf>,
        /// The state file pinning the last verified checkpoint
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
    /// Fetch the checkpoint, check it extends the newest one in DIR, store it there
    #[command(after_help = "Each checkpoint is stored as DIR/<size>.checkpoint (the signed \
note). A checkpoint that does not extend the newest one stored (a rewrite, truncation or \
fork) is refused and not stored.\n\n\
Example:\n  veilctl audit witness /var/lib/veil-witness")]
    Witness {
        /// Directory of witnessed checkpoints
        dir: PathBuf,
        /// The audit public key as a JWK file
        #[arg(long)]
        audit_key: Option<PathBuf>,
    },
}

/// The export format: entries in order and a signed checkpoint of their
/// tree (taken first: entries past its size are appended meanwhile).
#[derive(Serialize, Deserialize)]
struct Export {
    entries: Vec<AuditEntry>,
    checkpoint: SignedCheckpoint,
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
        Command::Verify { file, audit_key, state } => {
            let keys = audit_keys(audit_key)?;
            let state = match state {
                Some(path) => path,
                None => default_state()?,
            };
            match file {
                Some(path) => verify(None, read_export(&path)?, &keys, &state, output).await,
                None => {
                    let api = need_api()?;
                    verify(Some(api), fetch_export(api, output).await?, &keys, &state, output).await
                }
            }
        }
        Command::Witness { dir, audit_key } => {
            witness(need_api()?, &dir, &audit_keys(audit_key)?, output).await
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
    let checkpoint: SignedCheckpoint =
        parse(api.get(&["v1", "admin", "audit", "checkpoint"]).await?)?;
    let bar = progress(checkpoint.size, "fetching", output);
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
                log.checkpoint.size,
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

/// The keys a checkpoint may be signed with: the one of `--audit-key`, or
/// else every audit key of the key directory, the signing one and those
/// retired by a rotation (older checkpoints were signed with them). The
/// note's key ID picks among them.
fn audit_keys(path: Option<PathBuf>) -> Result<Vec<P256PublicKey>, Failure> {
    if let Some(path) = path {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        let jwk: Jwk = serde_json::from_str(&text)
            .map_err(|e| Failure::usage(format!("{} is not a JWK: {e}", path.display())))?;
        let key = P256PublicKey::from_jwk(&jwk)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        return Ok(vec![key]);
    }
    let config = Config::from_env().map_err(|e| Failure::usage(format!("configuration: {e}")))?;
    let keys = KeyDirectory::new(&config.keys_dir).load().map_err(|e| {
        Failure::usage(format!("no --audit-key, and the key directory failed: {e}"))
    })?;
    let mut all = vec![keys.audit.public_key().clone()];
    all.extend(keys.retired.iter().filter(|key| key.kind == KeyKind::Audit).filter_map(|key| {
        match &key.public {
            RetiredPublic::Es256(public) => Some(public.clone()),
            RetiredPublic::Ca { .. } => None,
        }
    }));
    Ok(all)
}

/// `$XDG_STATE_HOME/veil/audit-checkpoint`, else
/// `~/.local/state/veil/audit-checkpoint`.
fn default_state() -> Result<PathBuf, Failure> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".local/state"))
            .ok_or_else(|| Failure::usage("no HOME to keep the audit state in: pass --state"))?,
    };
    Ok(base.join("veil").join("audit-checkpoint"))
}

/// Checks a signed checkpoint and reads it.
fn open(signed: &SignedCheckpoint, keys: &[P256PublicKey]) -> Result<TreeHead, Failure> {
    TreeHead::open(&signed.note, keys)
        .map_err(|e| Failure::refused(format!("audit checkpoint refused: {e}")))
}

/// A checkpoint note this machine verified and stored before (`None`: no
/// such file yet).
fn read_pinned(path: &Path) -> Result<Option<(TreeHead, String)>, Failure> {
    let note = match std::fs::read_to_string(path) {
        Ok(note) => note,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Failure::usage(format!("cannot read {}: {e}", path.display()))),
    };
    let body = note.rsplit_once("\n\n").map(|(body, _)| format!("{body}\n")).unwrap_or_default();
    let head = TreeHead::parse_body(&body).map_err(|e| {
        Failure::usage(format!("{} does not hold a checkpoint: {e}", path.display()))
    })?;
    Ok(Some((head, note)))
}

/// Asks the server for the consistency proof from `pinned` to `head` and
/// checks it (nothing to ask when the sizes are equal).
async fn consistent(api: &Api, pinned: &TreeHead, head: &TreeHead) -> Result<(), Failure> {
    let rejected = |e| Failure::refused(format!("audit log is NOT intact: {e}"));
    let proof = if head.size > pinned.size && pinned.origin == head.origin {
        let query = [("from", pinned.size.to_string()), ("to", head.size.to_string())];
        let proof: ConsistencyProof =
            parse(api.get_query(&["v1", "admin", "audit", "consistency"], &query).await?)?;
        decode_proof(&proof.proof).map_err(rejected)?
    } else {
        Vec::new()
    };
    check_consistency(pinned, head, &proof).map_err(rejected)
}

async fn verify(
    api: Option<&Api>,
    log: Export,
    keys: &[P256PublicKey],
    state: &Path,
    output: Output,
) -> Result<(), Failure> {
    let head = open(&log.checkpoint, keys)?;
    let pinned = read_pinned(state)?.map(|(head, _)| head);
    if let (Some(api), Some(pinned)) = (api, &pinned) {
        consistent(api, pinned, &head).await?;
    }
    let bar = progress(log.entries.len() as u64, "verifying", output);
    let covered = check_entries(&head, pinned.as_ref(), &log.entries);
    bar.finish_and_clear();
    let covered = covered.map_err(|e| Failure::refused(format!("audit log is NOT intact: {e}")))?;
    if let Some(parent) = state.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::refused(format!("cannot create {}: {e}", parent.display())))?;
    }
    crate::secret_file::write(state, log.checkpoint.note.as_bytes())?;
    let since = pinned.map(|p| p.size);
    if output.json {
        print_json(&json!({"intact": true, "entries": log.entries.len(), "checkpoint": head.size,
                           "covered": covered, "pinned_before": since, "origin": head.origin}));
    } else {
        let from = match since {
            Some(size) => format!(", consistent with the checkpoint at {size} verified before"),
            None => ", now pinned".to_string(),
        };
        println!(
            "Audit log intact: {} entries; checkpoint of {} at {} entries verified{from}.",
            log.entries.len(),
            head.origin,
            head.size
        );
    }
    Ok(())
}

/// `DIR/<size>.checkpoint` files: the newest one (largest size).
fn newest_witnessed(dir: &Path) -> Result<Option<(TreeHead, String)>, Failure> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Failure::usage(format!("cannot read {}: {e}", dir.display()))),
    };
    let mut newest: Option<(TreeHead, String)> = None;
    for entry in entries {
        let path = entry
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", dir.display())))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("checkpoint") {
            continue;
        }
        if let Some((head, note)) = read_pinned(&path)?
            && newest.as_ref().is_none_or(|(n, _)| head.size > n.size)
        {
            newest = Some((head, note));
        }
    }
    Ok(newest)
}

async fn witness(
    api: &Api,
    dir: &Path,
    keys: &[P256PublicKey],
    output: Output,
) -> Result<(), Failure> {
    let signed: SignedCheckpoint = parse(api.get(&["v1", "admin", "audit", "checkpoint"]).await?)?;
    let head = open(&signed, keys)?;
    let newest = newest_witnessed(dir)?;
    if let Some((pinned, _)) = &newest {
        consistent(api, pinned, &head).await?;
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::refused(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{}.checkpoint", head.size));
    let stored = newest.as_ref().is_some_and(|(n, _)| n.size == head.size);
    if !stored {
        std::fs::write(&path, signed.note.as_bytes())
            .map_err(|e| Failure::refused(format!("cannot write {}: {e}", path.display())))?;
    }
    if output.json {
        print_json(&json!({"consistent": true, "size": head.size, "origin": head.origin,
                           "previous": newest.map(|(n, _)| n.size), "file": path}));
    } else {
        println!(
            "Checkpoint of {} at {} entries is consistent with the ones witnessed in {}; kept as {}.",
            head.origin,
            head.size,
            dir.display(),
            path.display()
        );
    }
    Ok(())
}
