//! veild: the veil service.

// Outside tests nothing may panic on input: errors are values.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

use std::process::ExitCode;
use std::sync::Arc;

use veil::api::serve::Tls;
use veil::app::{self, FirstStart};
use veil::core::clock::SystemClock;
use veil::services::config::{Config, LogFormat};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("veild: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("veild: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), app::StartError> {
    // Certificates before anything is written: a bad file stops the start.
    let tls = Tls::from_config(&config)?.map(Arc::new);
    let listener = app::bind(&config).await?;
    let (state, first) = app::prepare(config.clone(), Arc::new(SystemClock)).await?;
    let addr = listener.local_addr().map_err(app::StartError::Serve)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, backend = ?state.store.backend(), domain = %config.domain, "veild listening");
    print_banner(&config, addr, tls.as_deref(), &first);
    if let Some(tls) = &tls {
        spawn_reloader(tls.clone());
    }
    if config.audit_checkpoint_secs > 0 {
        let every = std::time::Duration::from_secs(config.audit_checkpoint_secs);
        app::spawn_checkpointer(state.clone(), every);
    }
    app::spawn_deletion_resumer(state.clone(), app::DELETION_RETRY);
    app::serve(listener, state, tls, shutdown_signal()).await?;
    tracing::info!("veild stopped");
    Ok(())
}

fn print_banner(
    config: &Config,
    addr: std::net::SocketAddr,
    tls: Option<&Tls>,
    first: &FirstStart,
) {
    let url = match tls {
        Some(_) => format!("https://{addr}"),
        None => format!("http://{addr}"),
    };
    println!("veil {} listening on {url}", env!("CARGO_PKG_VERSION"));
    match tls {
        Some(tls) => {
            println!(
                "  tls:      HTTPS with the certificate in {} (reloaded on SIGHUP); call it by a name the certificate holds",
                config
                    .tls_cert_file
                    .as_deref()
                    .map_or_else(String::new, |p| p.display().to_string())
            );
            if tls.requires_client_certificate() {
                println!(
                    "            every client must present a certificate from tls_client_ca_file"
                );
            }
        }
        None if addr.ip().is_loopback() => {
            println!(
                "  tls:      off (plain HTTP on loopback; set tls_cert_file and tls_key_file for HTTPS)"
            );
        }
        None => {
            println!(
                "  tls:      OFF on a non-loopback address: tokens travel in clear unless a proxy terminates TLS"
            );
        }
    }
    println!("  database: {}", redact_url(&config.database_url));
    println!(
        "  domain:   {} (pseudonyms look like {}<id>)",
        config.domain,
        config.pseudonym_prefix()
    );
    println!("  keys:     {}", config.keys_dir.display());
    if first.generated_keys {
        println!();
        println!(
            "First start: generated a pseudonym CA, link keys and issuer keys in {}.",
            config.keys_dir.display()
        );
        println!(
            "WARNING: the break-glass private key is in {}/break-glass.key (dev mode).",
            config.keys_dir.display()
        );
        println!(
            "         veild never reads it: move it off this machine (`veilctl break-glass \
             seal-key` or `split`) before production use."
        );
    }
    if let Some(path) = &first.admin_token_file {
        println!();
        println!("An admin token was written to {} (shown nowhere else). Try:", path.display());
        println!();
        println!("  export VEIL_URL={url} VEIL_TOKEN=$(cat {})", path.display());
        println!(
            "  curl -s -X POST $VEIL_URL/v1/admin/clients -H \"Authorization: Bearer $VEIL_TOKEN\" \\"
        );
        println!(
            "       -H 'content-type: application/json' -d '{{\"name\":\"my backend\",\"scopes\":[\"backend\"]}}'"
        );
        println!();
        println!(
            "  or: cargo run --bin veilctl -- client create --name 'my backend' --scope backend"
        );
        println!("  README.md walks through minting a pseudonym from there.");
    }
}

/// Hides a password in a database URL.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VEIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}

/// SIGHUP reads the certificate files again; a file that does not load
/// leaves the certificates in force and is logged.
fn spawn_reloader(tls: Arc<Tls>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; certificates are not reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificates reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: TLS certificates not reloaded; keeping the old ones")
                }
            }
        }
    });
    #[cfg(not(unix))]
    drop(tls);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
