//! The admin API over HTTP: where the server is, which token to send, and
//! how answers become values or failures (RFC 9457 problems keep their
//! title and detail; 401/403 get their own exit code).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use veil::services::config::Config;
use veil::services::keyring::ADMIN_TOKEN;
use zeroize::Zeroizing;

use crate::error::{Exit, Failure};

/// Connection settings shared by every online command.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Base URL of veild: https://, or http:// to this machine only
    /// (127.0.0.1, ::1, localhost) unless --insecure
    #[arg(long, env = "VEIL_URL", default_value = "http://127.0.0.1:8080", global = true)]
    url: String,
    /// Admin token (visible to other local users in the process list: prefer --token-file)
    #[arg(long, env = "VEIL_TOKEN", hide_env_values = true, global = true, value_name = "TOKEN")]
    token: Option<String>,
    /// File holding the admin token [default: <VEIL_KEYS_DIR>/admin-token]
    #[arg(long, env = "VEIL_TOKEN_FILE", global = true, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// PEM CA certificate(s) to trust for an https:// URL instead of the
    /// system's roots (a private CA)
    #[arg(long, env = "VEIL_CA_FILE", global = true, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for a veild with tls_client_ca_file
    #[arg(
        long,
        env = "VEIL_CLIENT_CERT",
        global = true,
        value_name = "PATH",
        requires = "client_key"
    )]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert
    #[arg(
        long,
        env = "VEIL_CLIENT_KEY",
        global = true,
        value_name = "PATH",
        requires = "client_cert"
    )]
    client_key: Option<PathBuf>,
    /// Allow http:// to a host other than loopback: the token and every
    /// answer then cross the network in clear
    #[arg(long, global = true)]
    pub insecure: bool,
}

/// A client for veild's API, holding the base URL and the bearer token.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: Zeroizing<String>,
    verbose: bool,
}

/// The fields of an RFC 9457 problem that the CLI shows.
#[derive(Deserialize)]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
}

impl Api {
    /// Validates the URL and finds the token; `matches` tells a value given
    /// on the command line from one inherited from the environment.
    pub fn new(args: &ServerArgs, matches: &ArgMatches, verbose: bool) -> Result<Self, Failure> {
        // Messages name the URL only once it is known to hold no credentials.
        let base = Url::parse(&args.url)
            .map_err(|e| Failure::usage(format!("invalid server URL (--url / VEIL_URL): {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Failure::usage("the server URL must start with http:// or https://"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(Failure::usage(
                "the server URL must not hold a user name or password; pass the token with --token-file",
            ));
        }
        if base.scheme() == "http" && !is_loopback(&base) {
            if !args.insecure {
                return Err(Failure::usage(format!(
                    "refusing plain http:// to {}: the admin token and every answer would cross \
                     the network in clear. Use https:// (with --ca-file for a private CA), or \
                     pass --insecure if the network is trusted",
                    base.host_str().unwrap_or("the server")
                )));
            }
            eprintln!("veilctl: warning: --insecure: sending the admin token in clear to {base}");
        }
        let (token, source) = resolve_token(args, matches)?;
        if verbose {
            eprintln!("veilctl: using the token from {source}");
        }
        // reqwest is built without a default TLS provider; an error only
        // means one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("veilctl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(path) = &args.ca_file {
            let pem = read_pem(path, "--ca-file")?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Failure::usage(format!("--ca-file {}: {}", path.display(), chain(&e)))
            })?;
            if roots.is_empty() {
                return Err(Failure::usage(format!(
                    "--ca-file {} holds no PEM certificate",
                    path.display()
                )));
            }
            builder = builder.tls_certs_only(roots);
        }
        if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
            let (cert, key) = (read_pem(cert, "--client-cert")?, read_pem(key, "--client-key")?);
            // Sized up front: growing would leave a copy of the key behind.
            let mut pem = Zeroizing::new(Vec::with_capacity(cert.len() + key.len() + 1));
            pem.extend_from_slice(&cert);
            pem.push(b'\n');
            pem.extend_from_slice(&key);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Failure::usage(format!("--client-cert/--client-key: {}", chain(&e)))
            })?;
            builder = builder.identity(identity);
        }
        let http = builder
            .build()
            .map_err(|e| Failure::usage(format!("cannot set up the HTTP client: {}", chain(&e))))?;
        Ok(Self { http, base, token, verbose })
    }

    pub async fn get(&self, path: &[&str]) -> Result<Value, Failure> {
        self.send(Method::GET, path, None::<&()>).await
    }

    /// GET with query parameters.
    pub async fn get_query(
        &self,
        path: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, Failure> {
        let mut url = self.endpoint(path);
        url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        self.send_url(Method::GET, url, None::<&()>).await
    }

    /// For list commands: with `--json` prints the answer as it came and
    /// returns `None`; otherwise returns it parsed for a table.
    pub async fn get_for_table<T: serde::de::DeserializeOwned>(
        &self,
        path: &[&str],
        output: crate::output::Output,
    ) -> Result<Option<T>, Failure> {
        let response = self.get(path).await?;
        if output.json {
            crate::output::print_json(&response);
            return Ok(None);
        }
        parse(response).map(Some)
    }

    /// Every page of a keyset-paged list (`{"<field>": [...], "next"?}`),
    /// `query` added to each request: follows `next` as `after` until a
    /// page has none, and returns `{"<field>": [every item, in order]}`,
    /// the shape of one page without `next`.
    pub async fn get_every_page(
        &self,
        path: &[&str],
        query: &[(&str, String)],
        field: &str,
    ) -> Result<Value, Failure> {
        let unexpected =
            || Failure::refused(format!("unexpected response from the server: no `{field}` list"));
        let mut items = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let mut page_query = query.to_vec();
            page_query.push(("limit", veil::core::page::MAX_PAGE.to_string()));
            if let Some(cursor) = &after {
                page_query.push(("after", cursor.clone()));
            }
            let mut page = self.get_query(path, &page_query).await?;
            match page.get_mut(field).map(Value::take) {
                Some(Value::Array(page_items)) => items.extend(page_items),
                _ => return Err(unexpected()),
            }
            after = match page.get("next") {
                None | Some(Value::Null) => break,
                Some(Value::String(next)) => Some(next.clone()),
                Some(_) => return Err(unexpected()),
            };
            // A server that hands out a cursor twice would page forever.
            if let Some(next) = &after
                && !seen.insert(next.clone())
            {
                return Err(Failure::refused(
                    "unexpected response from the server: a page cursor repeated",
                ));
            }
        }
        let mut listed = serde_json::Map::new();
        listed.insert(field.to_string(), Value::Array(items));
        Ok(Value::Object(listed))
    }

    pub async fn post(&self, path: &[&str], body: &impl Serialize) -> Result<Value, Failure> {
        self.send(Method::POST, path, Some(body)).await
    }

    /// Succeeds on any 2xx; the body (usually none) is ignored.
    pub async fn delete(&self, path: &[&str]) -> Result<(), Failure> {
        self.request(Method::DELETE, path, None::<&()>).await.map(drop)
    }

    async fn send(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&impl Serialize>,
    ) -> Result<Value, Failure> {
        self.send_url(method, self.endpoint(path), body).await
    }

    async fn send_url(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<Value, Failure> {
        let response = self.request_url(method, url, body).await?;
        let bytes = response.bytes().await.map_err(|e| self.send_error(&e))?;
        if bytes.is_empty() {
            // 204 No Content: the action has no result to show.
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|_| {
            Failure::refused("unexpected response from the server: the body is not JSON")
        })
    }

    async fn request(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response, Failure> {
        self.request_url(method, self.endpoint(path), body).await
    }

    async fn request_url(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response, Failure> {
        if self.verbose {
            eprintln!("veilctl: {method} {url}");
        }
        let mut request = self.http.request(method, url).bearer_auth(self.token.as_str());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.send_error(&e))?;
        let status = response.status();
        if self.verbose {
            eprintln!("veilctl: HTTP {status}");
        }
        if status.is_success() {
            return Ok(response);
        }
        let problem = response.json::<Problem>().await.ok();
        Err(problem_failure(status, problem))
    }

    /// `base` with `segments` appended, each percent-encoded, so an id can
    /// never change the path and a base path (a reverse proxy prefix) is kept.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // Cannot fail: `new` refused URLs that cannot be a base.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn send_error(&self, error: &reqwest::Error) -> Failure {
        if error.is_builder() {
            return Failure::usage(format!("cannot build the request: {}", chain(error)));
        }
        Failure::new(
            Exit::Unreachable,
            format!("cannot reach veil at {}: {}", self.base, chain(error)),
        )
    }
}

fn problem_failure(status: StatusCode, problem: Option<Problem>) -> Failure {
    let exit = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Exit::Auth,
        _ => Exit::Refused,
    };
    let reason = status.canonical_reason().unwrap_or("error");
    let message = match problem {
        Some(Problem { title: Some(title), detail: Some(detail) }) => {
            format!("{title}: {detail} (HTTP {})", status.as_u16())
        }
        Some(Problem { title: Some(title), detail: None }) => {
            format!("{title} (HTTP {})", status.as_u16())
        }
        _ => format!("{reason} (HTTP {})", status.as_u16()),
    };
    Failure::new(exit, message)
}

/// Picks the token: a value on the command line beats one from the
/// environment, `--token` beats `--token-file` at the same level, and the
/// admin token file `veilctl init` (or veild's first start) wrote is the
/// fallback. Returns the token and a description of where it came from.
fn resolve_token(
    args: &ServerArgs,
    matches: &ArgMatches,
) -> Result<(Zeroizing<String>, String), Failure> {
    let on_command_line = |id| matches.value_source(id) == Some(ValueSource::CommandLine);
    let (token, source) = match (&args.token, &args.token_file) {
        (Some(token), _) if on_command_line("token") || !on_command_line("token_file") => {
            let source = if on_command_line("token") { "--token" } else { "VEIL_TOKEN" };
            (Zeroizing::new(token.trim().to_string()), source.to_string())
        }
        (_, Some(path)) => {
            let flag =
                if on_command_line("token_file") { "--token-file" } else { "VEIL_TOKEN_FILE" };
            (read_token_file(path)?, format!("{flag} {}", path.display()))
        }
        (_, None) => {
            let path = default_token_file();
            if !path.exists() {
                return Err(Failure::usage(format!(
                    "no admin token: pass --token-file PATH (or set VEIL_TOKEN_FILE / VEIL_TOKEN); {} does not exist",
                    path.display()
                )));
            }
            (read_token_file(&path)?, format!("{} (default)", path.display()))
        }
    };
    if token.is_empty() {
        return Err(Failure::usage(format!("the token from {source} is empty")));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::usage(format!(
            "the token from {source} holds characters a token cannot have"
        )));
    }
    Ok((token, source))
}

/// Whether `url` names this machine: plain HTTP there never leaves it.
pub fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            bare.eq_ignore_ascii_case("localhost")
                || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

fn read_pem(path: &Path, flag: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| Failure::usage(format!("cannot read {flag} {}: {e}", path.display())))
}

fn read_token_file(path: &Path) -> Result<Zeroizing<String>, Failure> {
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!("cannot read token file {}: {e}", path.display()))
        })?);
    Ok(Zeroizing::new(text.trim().to_string()))
}

/// `<keys_dir>/admin-token` of the configuration veild would use, or of
/// `VEIL_KEYS_DIR` / `./veil-keys` when that configuration does not load
/// (an online command should not fail on, say, a bad database URL).
fn default_token_file() -> PathBuf {
    let keys_dir = Config::from_env().map(|config| config.keys_dir).unwrap_or_else(|_| {
        std::env::var_os("VEIL_KEYS_DIR").map_or_else(|| PathBuf::from("veil-keys"), PathBuf::from)
    });
    keys_dir.join(ADMIN_TOKEN)
}

/// An error with its causes: reqwest's top-level message alone ("error
/// sending request") hides the useful part ("connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Reads an answer into its documented shape. serde's message is left out:
/// it may quote a value, and a value may be a token.
pub fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Failure> {
    serde_json::from_value(value).map_err(|_| {
        Failure::refused("unexpected response from the server: not the documented JSON shape")
    })
}
