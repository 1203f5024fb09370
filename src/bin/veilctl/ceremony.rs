//! `veilctl break-glass keygen|split|seal-key|combine`: the offline key
//! ceremony. Run it on a machine that is not the online host: it makes the
//! P-256 break-glass key, cuts it into Feldman shares sealed under each
//! custodian's passphrase, and writes the public `custodians.json`.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use clap::Subcommand;
use serde_json::json;
use veil::formats::glass_link::fingerprint;
use veil::formats::threshold::KemSecretKey;
use veil::services::breakglass::custody::{read_key_file, seal_key};
use veil::services::breakglass::shares::{self, ShareFile};
use zeroize::Zeroizing;

use crate::error::Failure;
use crate::output::{Output, print_json};
use crate::secret_file;

/// Name of the ceremony's public record in its output directory.
pub const RECORD_FILE: &str = "custodians.json";

#[derive(Debug, Subcommand)]
pub enum CeremonyCommand {
    /// Make a new P-256 break-glass key (offline): its public half goes to
    /// veild's `break-glass.pub`, the private half to a sealed file or to
    /// custodians' shares
    #[command(
        after_help = "Examples:\nFile custody:\n  veilctl break-glass keygen --public-out break-glass.pub \\\n    \
--key-out /secure/break-glass.key --passphrase-file glass.pass\n\
Custodian custody (no file ever holds the whole key):\n  veilctl break-glass keygen --public-out break-glass.pub \\\n    \
--threshold 2 --passphrase-file alice.pass --passphrase-file bob.pass --passphrase-file carol.pass --out-dir ceremony\n\n\
Copy break-glass.pub into veild's key directory and restart it: links are re-sealed to the new key as their accounts mint."
    )]
    Keygen {
        /// Where to write the public key (base64 SEC1)
        #[arg(long)]
        public_out: PathBuf,
        /// File custody: where to write the private key, sealed
        #[arg(long, conflicts_with_all = ["threshold", "out_dir"], requires = "passphrase_files")]
        key_out: Option<PathBuf>,
        /// Custodian custody: how many custodians a reveal needs
        #[arg(long, requires = "out_dir")]
        threshold: Option<usize>,
        /// File custody: the key's passphrase; custodian custody: one per custodian
        #[arg(long = "passphrase-file", required = true)]
        passphrase_files: Vec<PathBuf>,
        /// Custodian custody: where to write share-<i>.json and custodians.json
        #[arg(long, requires = "threshold")]
        out_dir: Option<PathBuf>,
    },
    /// Cut an existing P-256 key file into custodian shares (offline)
    #[command(after_help = "One --passphrase-file per custodian; share i is written to \
<out-dir>/share-<i>.json, the public record to <out-dir>/custodians.json. Give every \
custodian and requester a copy of custodians.json.\n\n\
Example:\n  veilctl break-glass split --key keys/break-glass.key --threshold 2 \\\n    \
--passphrase-file alice.pass --passphrase-file bob.pass --passphrase-file carol.pass --out-dir shares")]
    Split {
        /// The key file (base64; a sealed one needs --key-passphrase-file)
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        key_passphrase_file: Option<PathBuf>,
        #[arg(long)]
        threshold: usize,
        /// A custodian's passphrase file; once per custodian
        #[arg(long = "passphrase-file", required = true)]
        passphrase_files: Vec<PathBuf>,
        #[arg(long)]
        out_dir: PathBuf,
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
    /// Rebuild the old X25519 key from v1 shares (made before threshold
    /// custody) into a sealed key file, for links not yet re-sealed (offline)
    #[command(after_help = "Give each --share with its --passphrase-file, in the same order. \
Shares made by `split` or `keygen` since threshold custody never combine: they open links by \
partial decryption (`partial`).\n\n\
Example:\n  veilctl break-glass combine --share old/share-1.json --passphrase-file alice.pass \\\n    \
--share old/share-3.json --passphrase-file carol.pass --seal-with ops.pass --out old-break-glass.key")]
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

pub fn run(command: CeremonyCommand, output: Output) -> Result<(), Failure> {
    match command {
        CeremonyCommand::Keygen { public_out, key_out, threshold, passphrase_files, out_dir } => {
            keygen(public_out, key_out, threshold, passphrase_files, out_dir, output)
        }
        CeremonyCommand::Split {
            key,
            key_passphrase_file,
            threshold,
            passphrase_files,
            out_dir,
        } => {
            let passphrase = key_passphrase_file.as_ref().map(read_passphrase).transpose()?;
            let raw = read_key_file(&key, passphrase.as_ref().map(|p| p.as_str()))
                .map_err(|e| Failure::refused(e.to_string()))?;
            let key_scalar = KemSecretKey::from_bytes(&raw).map_err(|_| {
                Failure::refused(format!(
                    "{} is not a P-256 break-glass key (an old X25519 key cannot be split \
                     for partial decryption: make a new one with `keygen`)",
                    key.display()
                ))
            })?;
            let passphrases = read_passphrases(&passphrase_files)?;
            let written = write_ceremony(&key_scalar, threshold, &passphrases, &out_dir)?;
            report_ceremony(&written, threshold, output);
            if !output.json {
                println!("Remove {} once every custodian holds a share.", key.display());
            }
            Ok(())
        }
        CeremonyCommand::SealKey { key, passphrase_file, out } => {
            let passphrase = read_passphrase(&passphrase_file)?;
            let raw = read_key_file(&key, None).map_err(|e| Failure::refused(e.to_string()))?;
            let sealed =
                seal_key(&raw, &passphrase).map_err(|e| Failure::refused(e.to_string()))?;
            secret_file::write(&out, sealed.as_bytes())?;
            if output.json {
                print_json(&json!({"sealed": out.display().to_string()}));
            } else {
                println!(
                    "Sealed the key into {}. Keep it off the veild host and remove {}.",
                    out.display(),
                    key.display()
                );
            }
            Ok(())
        }
        CeremonyCommand::Combine { shares, passphrase_files, seal_with, out } => {
            combine_legacy(shares, passphrase_files, seal_with, out, output)
        }
    }
}

fn keygen(
    public_out: PathBuf,
    key_out: Option<PathBuf>,
    threshold: Option<usize>,
    passphrase_files: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    output: Output,
) -> Result<(), Failure> {
    let passphrases = read_passphrases(&passphrase_files)?;
    let key = KemSecretKey::generate().map_err(|_| Failure::refused("no randomness"))?;
    let public = key.public_key();
    // Checked before anything is written.
    let custody = match (&key_out, threshold, &out_dir) {
        (Some(path), None, None) if passphrases.len() == 1 => Custody::File(path.clone()),
        (Some(_), None, None) => {
            return Err(Failure::usage("file custody takes one --passphrase-file"));
        }
        (None, Some(k), Some(dir)) => Custody::Custodians(k, dir.clone()),
        _ => return Err(Failure::usage("give --key-out, or --threshold with --out-dir")),
    };
    match custody {
        Custody::File(path) => {
            let passphrase = passphrases.first().ok_or_else(|| Failure::usage("no passphrase"))?;
            let sealed = seal_key(key.to_bytes().as_slice(), passphrase)
                .map_err(|e| Failure::refused(e.to_string()))?;
            secret_file::write(&path, sealed.as_bytes())?;
            write_public(&public_out, &public.to_bytes())?;
            if output.json {
                print_json(&json!({"public": public_out, "key": path,
                                   "fingerprint": fingerprint(&public)}));
            } else {
                println!(
                    "New break-glass key {} (sealed) with public key {} (fingerprint {}).",
                    path.display(),
                    public_out.display(),
                    fingerprint(&public)
                );
            }
        }
        Custody::Custodians(k, dir) => {
            let written = write_ceremony(&key, k, &passphrases, &dir)?;
            write_public(&public_out, &public.to_bytes())?;
            report_ceremony(&written, k, output);
            if !output.json {
                println!(
                    "Public key: {} (fingerprint {}).",
                    public_out.display(),
                    fingerprint(&public)
                );
            }
        }
    }
    Ok(())
}

enum Custody {
    File(PathBuf),
    Custodians(usize, PathBuf),
}

fn write_public(path: &Path, public: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, Base64::encode_string(public))
        .map_err(|e| Failure::refused(format!("cannot write {}: {e}", path.display())))
}

/// What a ceremony wrote: share files (0600) and the public record.
pub struct Written {
    pub shares: Vec<PathBuf>,
    pub record: PathBuf,
    pub fingerprint: String,
}

/// Cuts `key` into shares under `passphrases` and writes them with the
/// public record into `dir`.
pub fn write_ceremony(
    key: &KemSecretKey,
    threshold: usize,
    passphrases: &[Zeroizing<String>],
    dir: &Path,
) -> Result<Written, Failure> {
    let ceremony =
        shares::split(key, threshold, passphrases).map_err(|e| Failure::usage(e.to_string()))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::refused(format!("cannot create {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for (i, file) in ceremony.shares.iter().enumerate() {
        let path = dir.join(format!("share-{}.json", i + 1));
        let text = file.to_json().map_err(|e| Failure::refused(e.to_string()))?;
        secret_file::write(&path, text.as_bytes())?;
        written.push(path);
    }
    let record = dir.join(RECORD_FILE);
    let text = ceremony.record.to_json().map_err(|e| Failure::refused(e.to_string()))?;
    std::fs::write(&record, &text)
        .map_err(|e| Failure::refused(format!("cannot write {}: {e}", record.display())))?;
    Ok(Written { shares: written, record, fingerprint: record_fingerprint(&text) })
}

/// A fingerprint of custodians.json, to compare out of band.
pub fn record_fingerprint(text: &str) -> String {
    veil::formats::glass_link::fingerprint_bytes(text.trim().as_bytes())
}

pub fn report_ceremony(written: &Written, threshold: usize, output: Output) {
    let shares: Vec<String> = written.shares.iter().map(|p| p.display().to_string()).collect();
    if output.json {
        print_json(&json!({"threshold": threshold, "shares": shares,
                           "custodians": written.record, "fingerprint": written.fingerprint}));
    } else {
        println!(
            "Split into {} custodian shares ({threshold} needed for a reveal): {}. Hand one to \
             each custodian, with a copy of {} (fingerprint {}) for every custodian and requester.",
            shares.len(),
            shares.join(", "),
            written.record.display(),
            written.fingerprint
        );
    }
}

fn combine_legacy(
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
        given.push((read_share(share)?, read_passphrase(passphrase)?));
    }
    let key = shares::combine_legacy(&given).map_err(|e| Failure::refused(e.to_string()))?;
    let sealed = seal_key(&key, &read_passphrase(&seal_with)?)
        .map_err(|e| Failure::refused(e.to_string()))?;
    secret_file::write(&out, sealed.as_bytes())?;
    if output.json {
        print_json(&json!({"sealed": out.display().to_string()}));
    } else {
        println!(
            "Rebuilt the old key from {} shares into {} (sealed).",
            given.len(),
            out.display()
        );
    }
    Ok(())
}

pub fn read_share(path: &Path) -> Result<ShareFile, Failure> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?,
    );
    ShareFile::parse(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

pub fn read_passphrases(paths: &[PathBuf]) -> Result<Vec<Zeroizing<String>>, Failure> {
    paths.iter().map(read_passphrase).collect()
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
