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
    /// Replace a signing key (the old one stays published until what it
    /// signed has expired) or `k_ops` (the old one stays to open what it
    /// sealed; never delete it). Restart every veild afterwards.
    Rotate {
        /// Which key
        #[arg(long, value_enum)]
        kind: Kind,
        /// With `--kind ops` and several replicas: only write the new key
        /// as one that opens; restart every replica, then rotate again
        /// without `--stage` to make it seal
        #[arg(long)]
        stage: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Ca,
    SdJwt,
    SdCwt,
    Audit,
    /// The online service's symmetric key for values it reads back (the
    /// account behind a pseudonym, indexes, remedies, reports)
    Ops,
}

impl Kind {
    /// The issuer key this names; `None` for `k_ops`.
    fn signing(self) -> Option<KeyKind> {
        match self {
            Kind::Ca => Some(KeyKind::Ca),
            Kind::SdJwt => Some(KeyKind::SdJwt),
            Kind::SdCwt => Some(KeyKind::SdCwt),
            Kind::Audit => Some(KeyKind::Audit),
            Kind::Ops => None,
        }
    }
}

pub async fn run(opts: Opts, output: Output) -> Result<(), Failure> {
    let config = Config::from_env().map_err(|e| Failure::usage(format!("configuration: {e}")))?;
    match opts.command {
        KeysCommand::List => list(&config, output),
        KeysCommand::Rotate { kind, stage } => match kind.signing() {
            Some(_) if stage => Err(Failure::usage("--stage applies to --kind ops only")),
            Some(kind) => rotate(&config, kind, output).await,
            None => rotate_ops(&config, stage, output).await,
        },
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
    let ops = keys.link.ops();
    let ops_retired: Vec<String> = ops.retired_ids().map(|id| id.to_string()).collect();
    if output.json {
        let ops = json!({"kid": ops.current_id().to_string(), "retired": ops_retired});
        print_json(&json!({ "keys": rows, "ops": ops }));
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
    println!("{:<7} {} (sealing)", "ops", ops.current_id());
    for kid in ops_retired {
        println!("{:<7} {kid} (retired, kept to open what it sealed)", "");
    }
    Ok(())
}

async fn rotate_ops(config: &Config, stage: bool, output: Output) -> Result<(), Failure> {
    let rotation = app::rotate_ops_key(config, stage, &SystemClock)
        .await
        .map_err(|e| Failure::refused(format!("rotation failed: {e}")))?;
    if output.json {
        print_json(&json!({
            "kind": "ops",
            "old_kid": rotation.old_kid.to_string(),
            "new_kid": rotation.new_kid.to_string(),
            "staged": rotation.generation.is_none(),
            "restart_required": true,
        }));
        return Ok(());
    }
    match rotation.generation {
        None => {
            println!("Staged k_ops {}: it opens, and does not seal yet.", rotation.new_kid);
            println!("Copy the key directory to every replica and restart each; then run");
            println!("`veilctl keys rotate --kind ops` (without --stage) to make it seal.");
        }
        Some(_) => {
            println!("Rotated k_ops: {} -> {}.", rotation.old_kid, rotation.new_kid);
            println!("The old key stays in the key directory to open what it sealed: never");
            println!("delete it. Restart every veild replica: each loads its keys only at start.");
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
