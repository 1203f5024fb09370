//! `veilctl init` and `veilctl migrate`: work on the database and the key
//! directory directly, configured exactly like veild (`VEIL_CONFIG`,
//! `VEIL_DATABASE_URL`, `VEIL_KEYS_DIR`, `VEIL_DOMAIN`…), with no server.

use std::path::PathBuf;

use clap::Args;
use reqwest::Url;
use serde_json::json;
use veil::app;
use veil::core::clock::SystemClock;
use veil::formats::threshold::KemSecretKey;
use veil::services::breakglass::custody::read_key_file;
use veil::services::config::Config;
use veil::services::keyring::{GLASS_PRIVATE, KeyDirectory};

use crate::ceremony::{read_passphrases, write_ceremony};
use crate::error::Failure;
use crate::output::{Output, print_json};

/// `init` options: custodian custody of the break-glass key.
#[derive(Debug, Args)]
pub struct InitOpts {
    /// Split the break-glass key into this many custodian shares (and
    /// delete the key file); one --passphrase-file per custodian
    #[arg(long, requires_all = ["threshold", "shares_dir"])]
    custodians: Option<usize>,
    /// How many shares a reveal needs
    #[arg(long, requires = "custodians")]
    threshold: Option<usize>,
    /// A custodian's passphrase file (first line); once per custodian
    #[arg(long = "passphrase-file", requires = "custodians")]
    passphrase_files: Vec<PathBuf>,
    /// Where to write share-<i>.json, one per custodian, and custodians.json
    #[arg(long, requires = "custodians")]
    shares_dir: Option<PathBuf>,
}

/// Generates the keys, migrates the database and creates the first admin
/// client, whose token is printed once and kept in the key directory.
pub async fn init(opts: InitOpts, output: Output) -> Result<(), Failure> {
    let config = load_config()?;
    // Checked before anything is written: a bad split must not leave keys behind.
    let custodians = match (opts.custodians, opts.threshold, &opts.shares_dir) {
        (Some(n), Some(k), Some(dir)) => {
            if opts.passphrase_files.len() != n {
                return Err(Failure::usage(format!(
                    "--custodians {n} needs {n} --passphrase-file (got {})",
                    opts.passphrase_files.len()
                )));
            }
            if k < 2 || k > n || n > 255 {
                return Err(Failure::usage("--threshold must be 2..=--custodians (at most 255)"));
            }
            let passphrases = read_passphrases(&opts.passphrase_files)?;
            Some((k, passphrases, dir.clone()))
        }
        _ => None,
    };
    let directory = KeyDirectory::new(&config.keys_dir);
    if directory.is_initialized() {
        return Err(Failure::refused(format!(
            "key directory {} already holds keys; nothing was changed (use `veilctl client create` for more admins)",
            config.keys_dir.display()
        )));
    }
    // Reach the database before any key exists: `initialize` writes the keys
    // first, and keys left by a failed run would block the next `init`.
    app::migrate(&config).await.map_err(|e| Failure::refused(format!("database: {e}")))?;
    let (token, token_file) = app::initialize(&config, &SystemClock)
        .await
        .map_err(|e| Failure::refused(format!("init failed: {e}")))?;
    let glass_key = directory.path(GLASS_PRIVATE);
    let shares = match custodians {
        Some((threshold, passphrases, dir)) => {
            let raw =
                read_key_file(&glass_key, None).map_err(|e| Failure::refused(e.to_string()))?;
            let key = KemSecretKey::from_bytes(&raw)
                .map_err(|_| Failure::refused("the new break-glass key is malformed"))?;
            let written = write_ceremony(&key, threshold, &passphrases, &dir)?;
            // Overwritten before removal: the plain key should not linger on disk.
            std::fs::write(&glass_key, vec![0u8; raw.len() * 2])
                .and_then(|()| std::fs::remove_file(&glass_key))
                .map_err(|e| {
                    Failure::refused(format!("cannot remove {}: {e}", glass_key.display()))
                })?;
            Some((threshold, written))
        }
        None => None,
    };
    let database = redact(&config.database_url);
    if output.json {
        print_json(&json!({
            "shares": shares.as_ref().map(|(k, w)| json!({"threshold": k, "files": w.shares,
                "custodians": w.record, "fingerprint": w.fingerprint})),
            "domain": config.domain,
            "keys_dir": config.keys_dir,
            "database": database,
            "admin_token": token.expose(),
            "admin_token_file": token_file,
        }));
        return Ok(());
    }
    println!("Initialized veil for {}.", config.domain);
    println!("  keys:        {}", config.keys_dir.display());
    println!("  database:    {database} (migrated)");
    println!("  admin token: {}", token.expose());
    println!("  token file:  {}", token_file.display());
    println!();
    println!("The admin token is shown only here; it is also in the token file (mode 0600),");
    println!("which veilctl reads when no --token or --token-file is given.");
    match shares {
        Some((threshold, written)) => println!(
            "The break-glass key is split into {} custodian shares ({threshold} needed for a reveal): {}. \
             Hand one to each custodian, with a copy of {} (fingerprint {}) for every custodian \
             and requester; the key file was removed.",
            written.shares.len(),
            written.shares.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "),
            written.record.display(),
            written.fingerprint
        ),
        None => println!(
            "WARNING: the break-glass private key is in {}. Move it off this machine before production use.",
            glass_key.display()
        ),
    }
    Ok(())
}

/// Applies pending migrations; running it again changes nothing.
pub async fn migrate(output: Output) -> Result<(), Failure> {
    let config = load_config()?;
    app::migrate(&config).await.map_err(|e| Failure::refused(format!("migration failed: {e}")))?;
    let database = redact(&config.database_url);
    if output.json {
        print_json(&json!({ "database": database, "migrated": true }));
    } else {
        println!("Database {database} is up to date.");
    }
    Ok(())
}

fn load_config() -> Result<Config, Failure> {
    Config::from_env().map_err(|e| Failure::usage(format!("configuration: {e}")))
}

/// The database URL without its password, for printing.
fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => match parsed.set_password(Some("***")) {
            Ok(()) => parsed.to_string(),
            Err(()) => "<database URL with a password>".to_string(),
        },
        _ => url.to_string(),
    }
}
