//! `veilctl keys list|rotate`: offline commands on the key directory (and,
//! for `rotate`, the database's audit log), configured like veild.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use veil::app;
use veil::core::clock::{Clock, SystemClock};
use veil::services::config::Config;
use veil::services::keyring::{KeyDirectory, KeyKind};

use crate::error::Failure;
use crate::output::{Output, print_json};

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Show the signing key of each kind and the retired keys still trusted
    List,
    /// Replace a signing key; the old one stays published until what it
    /// signed has expired. Restart every veild afterwards.
    Rotate {
        /// Which key
        #[arg(long, value_enum)]
        kind: Kind,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Ca,
    SdJwt,
    SdCwt,
    Audit,
}

impl From<Kind> for KeyKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Ca => KeyKind::Ca,
            Kind::SdJwt => KeyKind::SdJwt,
            Kind::SdCwt => KeyKind::SdCwt,
            Kind::Audit => KeyKind::Audit,
        }
    }
}

pub async fn run(opts: Opts, output: Output) -> Result<(), Failure> {
    let config = Config::from_env().map_err(|e| Failure::usage(format!("configuration: {e}")))?;
    match opts.command {
        KeysCommand::List => list(&config, output),
        KeysCommand::Rotate { kind } => rotate(&config, kind.into(), output).await,
    }
}

fn list(config: &Config, output: Output) -> Result<(), Failure> {
    let keys = KeyDirectory::new(&config.keys_dir)
        .load()
        .map_err(|e| Failure::refused(format!("key directory: {e}")))?;
    let now = SystemClock.now();
    let rows: Vec<_> = KeyKind::ALL
        .into_iter()
        .map(|kind| {
            let retired: Vec<_> = keys
                .retired(kind, now)
                .map(|key| json!({"kid": key.kid, "not_after": key.not_after}))
                .collect();
            json!({"kind": kind.as_str(), "kid": keys.current_kid(kind), "retired": retired})
        })
        .collect();
    if output.json {
        print_json(&json!({ "keys": rows }));
        return Ok(());
    }
    for kind in KeyKind::ALL {
        println!("{:<7} {} (signing)", kind.as_str(), keys.current_kid(kind));
        for key in keys.retired(kind, now) {
            match key.not_after {
                i64::MAX => println!("{:<7} {} (retired, kept)", "", key.kid),
                until => println!("{:<7} {} (retired, published until {until})", "", key.kid),
            }
        }
    }
    Ok(())
}

async fn rotate(config: &Config, kind: KeyKind, output: Output) -> Result<(), Failure> {
    let rotation = app::rotate_key(config, kind, &SystemClock)
        .await
        .map_err(|e| Failure::refused(format!("rotation failed: {e}")))?;
    if output.json {
        print_json(&json!({
            "kind": kind.as_str(),
            "old_kid": rotation.old_kid,
            "new_kid": rotation.new_kid,
            "old_not_after": rotation.old_not_after,
            "restart_required": true,
        }));
        return Ok(());
    }
    println!("Rotated the {} key: {} -> {}.", kind.as_str(), rotation.old_kid, rotation.new_kid);
    if kind == KeyKind::Audit {
        println!("The old key is kept to verify earlier audit checkpoints.");
    } else {
        println!(
            "The old key stays published and trusted until {} (unix seconds).",
            rotation.old_not_after
        );
    }
    println!("Restart every veild replica: each loads its keys only at start.");
    Ok(())
}
