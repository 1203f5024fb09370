//! `veilctl init` and `veilctl migrate`: work on the database and the key
//! directory directly, configured exactly like veild (`VEIL_CONFIG`,
//! `VEIL_DATABASE_URL`, `VEIL_KEYS_DIR`, `VEIL_DOMAIN`…), with no server.

use reqwest::Url;
use serde_json::json;
use veil::app;
use veil::clock::SystemClock;
use veil::config::Config;
use veil::keys::directory::{GLASS_PRIVATE, KeyDirectory};

use crate::error::Failure;
use crate::output::{Output, print_json};

/// Generates the keys, migrates the database and creates the first admin
/// client, whose token is printed once and kept in the key directory.
pub async fn init(output: Output) -> Result<(), Failure> {
    let config = load_config()?;
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
    let database = redact(&config.database_url);
    if output.json {
        print_json(&json!({
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
    println!(
        "WARNING: the break-glass private key is in {}. Move it off this machine before production use.",
        directory.path(GLASS_PRIVATE).display()
    );
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
