//! `veilctl verify`: what a room member's client does with a disclosure,
//! from files. Trust comes from the issuer's published documents (fetched
//! from `--issuer` or read from `--keys`); nothing else is asked of veil.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64ct::{Base64, Encoding};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use veil::core::clock::{Clock, SystemClock};
use veil::formats::keys::public_key::{Jwk, P256PublicKey};
use veil::services::disclose::CredentialFormat;
use veil::services::verify::VerifyRequestError;
use veil::services::verify::offline::{
    IssuerDocuments, IssuerTrust, MemberPresentation, StatusCache, UNCHECKED,
};
use veil::services::verify::policy::validate_policy_file;

use crate::error::{Exit, Failure};
use crate::http::is_loopback;
use crate::output::{Output, print_json};

/// Largest file read (a presentation, a key, the kept documents).
const MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 valid, 1 refused by a check, 2 usage, 3 issuer unreachable.\n\n\
Example:\n  veilctl verify --issuer https://chat.example --save-keys issuer.json \\\n    \
--format sd-jwt --presentation alice.sd-jwt --room mimi://hub.example/r/club \\\n    \
--nonce 9f2c... --leaf-key alice-leaf.b64 --policy policies/rooms/adults-only.toml\n  \
veilctl verify --keys issuer.json --format x509 --presentation alice.pem ..."
)]
pub struct Opts {
    /// The issuer's base URL: its /.well-known documents are fetched from it
    #[arg(long, conflicts_with = "keys", required_unless_present = "keys")]
    issuer: Option<String>,
    /// The issuer's documents as kept by --save-keys (no network)
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Keep the fetched documents in this file for later --keys runs
    #[arg(long, requires = "issuer")]
    save_keys: Option<PathBuf>,
    /// The disclosure's format
    #[arg(long, value_enum)]
    format: Format,
    /// The presentation: SD-JWT+KB text, the SD-CWT KBT (CBOR, or its
    /// standard base64), or the linked certificate (PEM, or base64 DER)
    #[arg(long)]
    presentation: PathBuf,
    /// The room URI, the audience the key binding must name (SD formats)
    #[arg(long)]
    room: Option<String>,
    /// The nonce the member asked with, as text (SD formats)
    #[arg(long, conflicts_with = "nonce_b64")]
    nonce: Option<String>,
    /// The nonce as standard base64 (SD-CWT `cnonce` bytes)
    #[arg(long)]
    nonce_b64: Option<String>,
    /// The presenter's MLS leaf signature key: a file or a value, either
    /// standard base64 of the SEC1 point or a P-256 JWK
    #[arg(long)]
    leaf_key: String,
    /// The room's policy (TOML, as in policies/rooms/)
    #[arg(long)]
    policy: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    #[value(name = "x509")]
    X509,
    SdJwt,
    SdCwt,
}

impl From<Format> for CredentialFormat {
    fn from(format: Format) -> Self {
        match format {
            Format::X509 => CredentialFormat::X509,
            Format::SdJwt => CredentialFormat::SdJwt,
            Format::SdCwt => CredentialFormat::SdCwt,
        }
    }
}

/// `insecure` allows fetching the issuer's keys over http:// from a host
/// other than this machine (anyone on the path could swap them).
pub async fn run(opts: Opts, insecure: bool, output: Output) -> Result<(), Failure> {
    let documents = match (&opts.issuer, &opts.keys) {
        (Some(issuer), _) => fetch(issuer, insecure).await?,
        (None, Some(path)) => serde_json::from_slice(&read(path, "--keys")?)
            .map_err(|e| Failure::usage(format!("--keys {}: {e}", path.display())))?,
        (None, None) => return Err(Failure::usage("give --issuer or --keys")),
    };
    let trust = IssuerTrust::from_documents(&documents)
        .map_err(|e| Failure::refused(format!("cannot trust this issuer: {e}")))?;
    if let Some(path) = &opts.save_keys {
        let text = serde_json::to_vec_pretty(&documents)
            .map_err(|e| Failure::refused(format!("cannot encode the documents: {e}")))?;
        std::fs::write(path, text)
            .map_err(|e| Failure::usage(format!("--save-keys {}: {e}", path.display())))?;
    }
    let policy = validate_policy_file(&opts.policy).map_err(|e| Failure::usage(e.to_string()))?;
    let format = CredentialFormat::from(opts.format);
    let presentation = presentation(&opts.presentation, format)?;
    let nonce = match (&opts.nonce, &opts.nonce_b64) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(b64)) => Base64::decode_vec(b64)
            .map_err(|_| Failure::usage("--nonce-b64 is not standard base64"))?,
        (None, None) => Vec::new(),
    };
    let room = opts.room.as_deref().unwrap_or("");
    if format != CredentialFormat::X509 && (room.is_empty() || nonce.is_empty()) {
        return Err(Failure::usage("an SD disclosure needs --room and --nonce (or --nonce-b64)"));
    }
    let leaf_key = leaf_key(&opts.leaf_key)?;
    let member = MemberPresentation {
        format,
        presentation: &presentation,
        room,
        nonce: &nonce,
        leaf_key: &leaf_key,
    };
    let now = SystemClock.now();
    let unreadable =
        |e: VerifyRequestError| Failure::refused(format!("cannot read the presentation: {e}"));
    let mut verdict = trust.verify(&member, &policy, now).map_err(unreadable)?;
    // Online, the credential's status list is fetched and checked too.
    let mut not_checked: Vec<&str> = UNCHECKED.to_vec();
    if let (Some(issuer), Some(reference)) = (&opts.issuer, verdict.status_list.clone()) {
        let token = fetch_status_list(issuer, trust.issuer(), &reference.uri, insecure).await?;
        let mut lists = StatusCache::default();
        lists
            .add_jwt(&trust, &reference.uri, &token, now)
            .map_err(|e| Failure::refused(format!("the status list: {e}")))?;
        verdict = trust.verify_with_status(&member, &policy, now, &lists).map_err(unreadable)?;
        not_checked.retain(|item| *item != "revocation_status");
    }
    let errors: Vec<Value> =
        verdict.errors.iter().map(|f| json!({"code": f.code, "detail": f.detail})).collect();
    if output.json {
        print_json(&json!({
            "valid": verdict.valid,
            "issuer": verdict.issuer,
            "subject_pseudonym": verdict.subject_pseudonym,
            "disclosed": verdict.disclosed,
            "errors": errors,
            "not_checked": not_checked,
        }));
    } else {
        match verdict.valid {
            true => println!(
                "valid: a disclosure of {} under room policy `{}`",
                trust.issuer(),
                policy.name
            ),
            false => println!("refused under room policy `{}`", policy.name),
        }
        if let Some(subject) = &verdict.subject_pseudonym {
            println!("pseudonym: {subject}");
        }
        for (claim, value) in &verdict.disclosed {
            println!("disclosed: {claim} = {value}");
        }
        for finding in &verdict.errors {
            println!("failed: {} ({})", finding.code, finding.detail);
        }
        println!("not checked here: {}", not_checked.join(", "));
    }
    match verdict.valid {
        true => Ok(()),
        false => Err(Failure::new(Exit::Refused, "the disclosure was refused")),
    }
}

/// The Status List Token (JWT) at `uri`. A list under the issuer's own
/// origin is fetched from `--issuer` (the URL this machine reaches veil at),
/// any other from `uri` itself.
async fn fetch_status_list(
    base: &str,
    origin: &str,
    uri: &str,
    insecure: bool,
) -> Result<String, Failure> {
    let url = match uri.strip_prefix(origin) {
        Some(path) => format!("{}{path}", base.trim_end_matches('/')),
        None => uri.to_string(),
    };
    let url =
        reqwest::Url::parse(&url).map_err(|e| Failure::refused(format!("status list: {e}")))?;
    if url.scheme() != "https" && !(is_loopback(&url) || insecure) {
        return Err(Failure::refused("refusing a status list over plain http://"));
    }
    let http = client()?;
    let unreachable = |e: reqwest::Error| {
        Failure::new(Exit::Unreachable, format!("cannot fetch the status list: {e}"))
    };
    let response = http
        .get(url)
        .header("accept", "application/statuslist+jwt")
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(Failure::refused(format!("status list: HTTP {}", response.status())));
    }
    response.text().await.map_err(unreachable)
}

fn client() -> Result<reqwest::Client, Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("veilctl/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Failure::usage(format!("cannot set up the HTTP client: {e}")))
}

/// The three public documents, fetched without any token.
async fn fetch(issuer: &str, insecure: bool) -> Result<IssuerDocuments, Failure> {
    let base = reqwest::Url::parse(issuer)
        .map_err(|e| Failure::usage(format!("--issuer: invalid URL: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(Failure::usage("--issuer must start with http:// or https://"));
    }
    if base.scheme() == "http" && !is_loopback(&base) && !insecure {
        return Err(Failure::usage(
            "refusing plain http:// for the issuer's keys: anyone on the path could replace \
             them. Use https://, keep the documents with --save-keys, or pass --insecure",
        ));
    }
    let http = client()?;
    let get = |path: &'static str| {
        let http = http.clone();
        let url = base.join(path);
        async move {
            let url = url.map_err(|e| Failure::usage(format!("--issuer: {e}")))?;
            let unreachable = |e: reqwest::Error| {
                Failure::new(Exit::Unreachable, format!("cannot fetch {path}: {e}"))
            };
            let response = http.get(url).send().await.map_err(unreachable)?;
            if !response.status().is_success() {
                return Err(Failure::refused(format!("{path}: HTTP {}", response.status())));
            }
            Ok(response.bytes().await.map_err(unreachable)?.to_vec())
        }
    };
    let json = |bytes: Vec<u8>, path: &str| -> Result<Value, Failure> {
        serde_json::from_slice(&bytes).map_err(|e| Failure::refused(format!("{path}: {e}")))
    };
    Ok(IssuerDocuments {
        veil_issuer: json(get("/.well-known/veil-issuer").await?, "veil-issuer")?,
        jwt_vc_issuer: json(get("/.well-known/jwt-vc-issuer").await?, "jwt-vc-issuer")?,
        cose_keys: Base64::encode_string(&get("/.well-known/cose-keys").await?),
    })
}

fn read(path: &Path, flag: &str) -> Result<Vec<u8>, Failure> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Failure::usage(format!("{flag} {}: {e}", path.display())))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Failure::usage(format!("{flag} {}: larger than 1 MiB", path.display())));
    }
    std::fs::read(path).map_err(|e| Failure::usage(format!("{flag} {}: {e}", path.display())))
}

/// The presentation bytes: an SD-CWT KBT given as base64 text is decoded
/// (CBOR never starts with a base64 character: a KBT is a tagged array).
fn presentation(path: &Path, format: CredentialFormat) -> Result<Vec<u8>, Failure> {
    let bytes = read(path, "--presentation")?;
    if format != CredentialFormat::SdCwt {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes).ok().map(str::trim);
    match text.and_then(|t| Base64::decode_vec(t).ok()) {
        Some(decoded) => Ok(decoded),
        None => Ok(bytes),
    }
}

/// A leaf key given as a file or a value: base64 SEC1, or a JWK.
fn leaf_key(given: &str) -> Result<P256PublicKey, Failure> {
    let path = Path::new(given);
    let text = match path.is_file() {
        true => String::from_utf8(read(path, "--leaf-key")?)
            .map_err(|_| Failure::usage("--leaf-key: the file is not text"))?,
        false => given.to_string(),
    };
    let text = text.trim();
    let key = match text.starts_with('{') {
        true => serde_json::from_str::<Jwk>(text)
            .map_err(|e| Failure::usage(format!("--leaf-key: not a JWK: {e}")))
            .and_then(|jwk| {
                P256PublicKey::from_jwk(&jwk)
                    .map_err(|e| Failure::usage(format!("--leaf-key: {e}")))
            })?,
        false => {
            let sec1 = Base64::decode_vec(text)
                .map_err(|_| Failure::usage("--leaf-key: neither a JWK nor standard base64"))?;
            P256PublicKey::from_sec1(&sec1)
                .map_err(|e| Failure::usage(format!("--leaf-key: {e}")))?
        }
    };
    Ok(key)
}
