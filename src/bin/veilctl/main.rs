//! veilctl: the veil admin CLI. `client` commands call veild's admin API;
//! `init` and `migrate` work on the database and key directory directly,
//! configured exactly like veild.

// Outside tests nothing may panic on input: errors are values.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

mod account;
mod audit;
mod break_glass;
mod ceremony;
mod client;
mod error;
mod http;
mod keys;
mod offline;
mod operator;
mod output;
mod policy;
mod prompt;
mod remedy;
mod reputation;
mod reveal;
mod secret_file;
mod verify;

use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::error::Failure;
use crate::output::Output;

/// Keep in step with `error::Exit`.
const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  refused or failed: the server (or, offline, the database or key directory)
     said no, including an unknown id
  2  usage or configuration error (arguments, VEIL_* settings, no token)
  3  cannot reach the server
  4  authentication failed: the token is unknown, revoked or lacks the admin scope
     (HTTP 401 or 403)";

#[derive(Debug, Parser)]
#[command(
    name = "veilctl",
    version,
    about = "Administer a veil pseudonym issuer",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    #[command(flatten)]
    server: http::ServerArgs,
    /// Print JSON on stdout instead of text
    #[arg(long, global = true)]
    json: bool,
    /// Tell on stderr which token source and requests are used
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read, export, verify and witness the audit log
    #[command(after_help = EXIT_CODES_HELP)]
    Audit(audit::Opts),
    /// Break-glass: request, approve, deny, custodians' partials, the reveal on this machine, and the offline key ceremony
    #[command(after_help = EXIT_CODES_HELP)]
    BreakGlass(break_glass::Opts),
    /// Manage API clients through the admin API of a running veild
    #[command(after_help = EXIT_CODES_HELP)]
    Client(client::Opts),
    /// Create the keys, migrate the database and create the first admin (offline)
    #[command(after_help = "Refuses when the key directory already holds keys.\n\n\
                            Example:\n  VEIL_DOMAIN=chat.example VEIL_DATABASE_URL=sqlite://veil.db \
                            VEIL_KEYS_DIR=/etc/veil/keys veilctl init\n  \
                            veilctl init --custodians 3 --threshold 2 --shares-dir shares \\\n    \
                            --passphrase-file a.pass --passphrase-file b.pass --passphrase-file c.pass")]
    Init(offline::InitOpts),
    /// Operators, the people behind admin clients: add (offline), list, revoke
    #[command(after_help = EXIT_CODES_HELP)]
    Operator(operator::Opts),
    /// List and rotate the issuer keys (offline; restart veild afterwards)
    #[command(
        after_help = "Example:\n  VEIL_KEYS_DIR=/etc/veil/keys VEIL_DATABASE_URL=sqlite://veil.db \
                            veilctl keys rotate --kind sd-jwt"
    )]
    Keys(keys::Opts),
    /// Apply pending database migrations (offline; veild also does this at start)
    #[command(after_help = "Example:\n  VEIL_DATABASE_URL=postgres://veil@db/veil veilctl migrate")]
    Migrate,
    /// Check policy files: issuance.toml and room disclosure policies (offline)
    Policy(policy::Opts),
    /// Apply, list and lift remedies on the account behind a pseudonym
    #[command(after_help = EXIT_CODES_HELP)]
    Remedy(remedy::Opts),
    /// Adjust the reputation of the account behind a pseudonym
    #[command(after_help = EXIT_CODES_HELP)]
    Reputation(reputation::Opts),
    /// The standing of the account behind a pseudonym (never the account)
    #[command(after_help = EXIT_CODES_HELP)]
    Account(account::Opts),
    /// Verify a disclosure as a room member does: the issuer's public keys,
    /// the room, the nonce, the leaf key and the room policy; no token
    Verify(verify::Opts),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return report(&Failure::usage(format!("cannot start the async runtime: {e}"))),
    };
    match runtime.block_on(run(cli, &matches)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(&failure),
    }
}

async fn run(cli: Cli, matches: &ArgMatches) -> Result<(), Failure> {
    let output = Output { json: cli.json, verbose: cli.verbose };
    match cli.command {
        Command::Audit(opts) => {
            let api = match opts.needs_api() {
                true => Some(http::Api::new(&cli.server, matches, output.verbose)?),
                false => None,
            };
            audit::run(opts, api.as_ref(), output).await
        }
        Command::BreakGlass(opts) => {
            let api = match opts.needs_api() {
                true => Some(http::Api::new(&cli.server, matches, output.verbose)?),
                false => None,
            };
            break_glass::run(opts, api.as_ref(), output).await
        }
        Command::Client(opts) => {
            let api = http::Api::new(&cli.server, matches, output.verbose)?;
            client::run(opts, &api, output).await
        }
        Command::Init(opts) => offline::init(opts, output).await,
        Command::Keys(opts) => keys::run(opts, output).await,
        Command::Operator(opts) => {
            let api = match opts.needs_api() {
                true => Some(http::Api::new(&cli.server, matches, output.verbose)?),
                false => None,
            };
            operator::run(opts, api.as_ref(), output).await
        }
        Command::Migrate => offline::migrate(output).await,
        Command::Policy(opts) => policy::run(opts, output),
        Command::Remedy(opts) => {
            let api = http::Api::new(&cli.server, matches, output.verbose)?;
            remedy::run(opts, &api, output).await
        }
        Command::Reputation(opts) => {
            let api = http::Api::new(&cli.server, matches, output.verbose)?;
            reputation::run(opts, &api, output).await
        }
        Command::Account(opts) => {
            let api = http::Api::new(&cli.server, matches, output.verbose)?;
            account::run(opts, &api, output).await
        }
        Command::Verify(opts) => verify::run(opts, cli.server.insecure, output).await,
    }
}

fn report(failure: &Failure) -> ExitCode {
    eprintln!("error: {failure}");
    failure.exit_code()
}
