//! Load generator: drives `POST /v1/pseudonyms` (or a lookup, or a
//! presentation's verification) over HTTP from many connections and reports
//! throughput, latency percentiles, errors by status, and the ratio of
//! requests per second to raw P-256 signatures (verifications, for
//! `--route verify`) per second measured on one core in the same run (the
//! machines this runs on are shared and noisy, so only ratios measured
//! together compare).
//!
//! ```text
//! cargo run --release --example load -- --connections 64 --seconds 10 --mix new
//! cargo run --release --example load -- --route verify
//! cargo run --release --example load -- --postgres postgres://postgres@127.0.0.1:5432/test
//! cargo run --release --example load -- --url http://127.0.0.1:8080 --token veil_…
//! ```
//!
//! Without `--url` it starts its own veil in this process, with every rate
//! limit lifted, on a temporary SQLite file (or a fresh schema of the
//! `--postgres` database). Client keys are generated before the clock starts.
//!
//! The scale benchmark: `--seed 10000000` first fills that database with ten
//! million pseudonyms (`seed.rs`: multi-row inserts, no HTTP), then drives
//! the load, and reports the database's bytes per stored pseudonym.
//!
//! The status-list figure: `--seed 1000000 --status-lists --seconds 0`
//! gives each seeded pseudonym a status list entry, then times one
//! publication's rebuild of all 16 lists and of the CRL.

use std::collections::BTreeMap;
use std::error::Error;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64ct::{Base64UrlUnpadded, Encoding};
use clap::{Parser, ValueEnum};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use veil::core::clock::{Clock, SystemClock};
use veil::services::config::Config;

mod presentations;
mod seed;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Every limit far above what one machine can reach: the run measures the
/// service, not its policy.
const UNLIMITED_POLICY: &str = "\
[account]\npseudonyms_per_hour = 100000000\npseudonyms_per_day = 100000000\nmax_active = 100000000\n\
[client]\nrequests_per_second = 100000000\nburst = 100000000\n\
[global]\npseudonyms_per_minute = 100000000\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mix {
    /// A new account for every request.
    New,
    /// 500 accounts, reused round-robin.
    Reuse,
    /// Ten pseudonyms per account: a new account every ten requests.
    #[value(name = "10")]
    Ten,
}

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Route {
    /// `POST /v1/pseudonyms`: mint one pseudonym for a fresh key.
    Mint,
    /// `GET /v1/pseudonyms/{id}`: look up one of pseudonyms minted before
    /// the clock starts (at random), a read on the same HTTP and auth path
    /// as a mint: the floor a mint's own work stands on, and the lookup
    /// that must stay flat however many pseudonyms are stored.
    Lookup,
    /// `POST /v1/presentations/verify`: verify an SD-JWT presentation with
    /// a key binding of its own (made before the clock starts) against a
    /// room policy: two P-256 verifications and one replay record.
    Verify,
}

#[derive(Debug, Parser)]
#[command(
    about = "Drive veil over HTTP and report requests/s against raw P-256 signing (or verifying)"
)]
struct Opts {
    /// A running veild (default: start one in this process).
    #[arg(long)]
    url: Option<String>,
    /// A backend token for --url.
    #[arg(long, requires = "url")]
    token: Option<String>,
    /// Start the in-process veil on this PostgreSQL database (a fresh schema).
    #[arg(long, conflicts_with = "url")]
    postgres: Option<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to drive load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Which accounts the requests name.
    #[arg(long, value_enum, default_value_t = Mix::New)]
    mix: Mix,
    /// What each request does.
    #[arg(long, value_enum, default_value_t = Route::Mint)]
    route: Route,
    /// Pseudonyms minted (not timed) for `--route lookup` to look up.
    #[arg(long, default_value_t = 2_000)]
    lookup_ids: usize,
    /// Holders (a pseudonym and an SD-JWT each) whose presentations
    /// `--route verify` sends.
    #[arg(long, default_value_t = 100)]
    holders: usize,
    /// Client keys (`--route verify`: presentations) made before the run
    /// (the run stops early when they run out).
    #[arg(long, default_value_t = 200_000)]
    keys: usize,
    /// Keep the in-process veil's database, keys and policies in this
    /// directory (created if missing) instead of a temporary one, so a
    /// seeded database serves several runs: `--dir D --seed 10000000
    /// --seconds 0` once, then `--dir D --route lookup`, `--dir D --mix new`.
    #[arg(long, conflicts_with = "url")]
    dir: Option<PathBuf>,
    /// Pseudonyms to store before the run (the in-process veil only).
    #[arg(long, default_value_t = 0, conflicts_with = "url")]
    seed: usize,
    /// Pseudonyms per seeded account.
    #[arg(long, default_value_t = 10)]
    seed_per_account: usize,
    /// Give each seeded pseudonym a status list entry, and time rebuilding
    /// every status list and the CRL before the load (`--seconds 0`: only that).
    #[arg(long, conflicts_with = "url")]
    status_lists: bool,
}

fn main() -> Res<()> {
    let opts = Opts::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(opts))
}

async fn run(opts: Opts) -> Res<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().pool_max_idle_per_host(opts.connections).build()?;
    let (url, token, server) = match (&opts.url, &opts.token) {
        (Some(url), Some(token)) => (url.clone(), token.clone(), None),
        (Some(_), None) => return Err("--url needs --token (a backend token)".into()),
        _ => {
            let server = InProcess::start(opts.postgres.as_deref(), opts.dir.as_deref()).await?;
            let token = server.backend_token(&http).await?;
            if opts.seed > 0 {
                let now = SystemClock.now();
                let keys = server.state.keys.clone();
                let (per, status) = (opts.seed_per_account, opts.status_lists);
                seed::seed(keys, &server.state.store, opts.seed, per, status, now).await?;
            }
            if opts.status_lists {
                time_status_publication(&server.state).await?;
            }
            (server.url.clone(), token, Some(server))
        }
    };
    if let Some(server) = &server {
        let stored = server.state.store.count_pseudonyms().await?;
        eprintln!("{stored} pseudonyms stored before the run");
    }

    if opts.seconds == 0 {
        return Ok(());
    }
    let workload = Arc::new(match opts.route {
        Route::Mint => {
            eprintln!("generating {} client keys (not timed)…", opts.keys);
            Workload::Mint { keys: generate_jwks(opts.keys)?, mix: opts.mix }
        }
        Route::Lookup => {
            eprintln!("minting {} pseudonyms to look up (not timed)…", opts.lookup_ids);
            let keys = generate_jwks(opts.lookup_ids)?;
            Workload::Lookup(mint_lookup_ids(&http, &url, &token, &keys).await?)
        }
        Route::Verify => {
            eprintln!(
                "issuing {} SD-JWTs, making {} presentations (not timed)…",
                opts.holders, opts.keys
            );
            Workload::Verify(
                presentations::bodies(&http, &url, &token, opts.holders, opts.keys).await?,
            )
        }
    });
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(opts.seconds);
    let mix = match opts.route {
        Route::Mint => format!(", mix {:?}", opts.mix),
        _ => String::new(),
    };
    eprintln!(
        "driving {url}{} ({:?}): {} connections, {} s{mix}",
        workload.path(),
        opts.route,
        opts.connections,
        opts.seconds,
    );
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let mut workers = Vec::with_capacity(opts.connections);
    for _ in 0..opts.connections {
        let worker = Worker {
            http: http.clone(),
            url: url.clone(),
            token: token.clone(),
            workload: workload.clone(),
            next: next.clone(),
            deadline,
        };
        workers.push(tokio::spawn(worker.run()));
    }
    let mut latencies = Vec::new();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for worker in workers {
        let report = worker.await?;
        latencies.extend(report.latencies_us);
        for (status, n) in report.statuses {
            *statuses.entry(status).or_default() += n;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_before.zip(cpu_seconds()).map(|(before, after)| after - before);
    let rss = resident_mib();
    let disk = match &server {
        Some(server) => {
            let stored = server.state.store.count_pseudonyms().await?;
            let bytes = server.state.store.disk_bytes().await?;
            Some((stored, bytes))
        }
        None => None,
    };
    drop(server);

    let signatures = raw_signatures_per_second()?;
    let verifications = match opts.route {
        Route::Verify => Some(presentations::raw_verifications_per_second()?),
        _ => None,
    };
    latencies.sort_unstable();
    let (success, noun) = match opts.route {
        Route::Mint => ("201", "mint"),
        Route::Lookup => ("200", "lookup"),
        Route::Verify => (VALID, "verification"),
    };
    let ok = statuses.get(success).copied().unwrap_or(0);
    let per_second = ok as f64 / elapsed;
    println!("requests      {}", latencies.len());
    println!("elapsed       {elapsed:.2} s");
    println!("{:<13} {per_second:.0}", format!("{noun}s/s"));
    for (label, q) in [("p50", 0.50), ("p99", 0.99), ("p999", 0.999)] {
        println!("{label:<13} {:.1} ms", percentile(&latencies, q) as f64 / 1000.0);
    }
    let errors: Vec<String> = statuses
        .iter()
        .filter(|(s, _)| s.as_str() != success)
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    println!("errors        {}", if errors.is_empty() { "none".into() } else { errors.join(", ") });
    println!("P-256 sign/s  {signatures:.0} (ring, one core, same run)");
    println!("ratio         {:.3} {noun}s/s per raw signature/s", per_second / signatures);
    if let Some(verifications) = verifications {
        println!("P-256 verify/s {verifications:.0} (ring, one core, same run)");
        println!(
            "verify ratio  {:.3} {noun}s/s per raw verification/s",
            per_second / verifications
        );
    }
    if let Some(cpu) = cpu.filter(|_| ok > 0) {
        // CPU per mint, against one signature's: steadier than the rate on
        // a shared machine, since other processes' load does not enter it.
        let per_request = cpu / ok as f64;
        println!(
            "{:<13} {:.0} µs = {:.1} raw signatures (this process: veil and the load generator)",
            format!("CPU per {noun}"),
            per_request * 1e6,
            per_request * signatures
        );
    }
    if let Some((stored, bytes)) = disk {
        let per = bytes as f64 / stored.max(1) as f64;
        println!("stored        {stored} pseudonyms, {bytes} database bytes, {per:.0} B each");
    }
    if let Some(rss) = rss {
        println!("RSS           {rss} MiB (this process: veil and the load generator)");
    }
    if workload.len() <= next.load(Ordering::Relaxed) {
        println!("note          the run used every pre-made request; raise --keys");
    }
    Ok(())
}

/// Times what one publication interval rebuilds: every status list (as
/// the first fetch of each in an interval does) and the CRL.
async fn time_status_publication(state: &veil::api::AppState) -> Res<()> {
    use veil::services::status_lists::LISTS;
    let now = SystemClock.now();
    let entries = state.store.count_status_entries().await?;
    let started = Instant::now();
    let mut invalid = 0usize;
    for list in 0..LISTS {
        let built = state.status_lists.build(list, now).await?;
        invalid += (0..built.entries()).filter(|&i| built.get(i).is_ok_and(|s| s != 0)).count();
    }
    let lists = started.elapsed();
    let started = Instant::now();
    let crl = state.crl.current().await?;
    let crl_time = started.elapsed();
    println!(
        "status lists  {entries} entries in {LISTS} lists rebuilt in {:.2} s ({invalid} revoked)",
        lists.as_secs_f64()
    );
    println!("CRL           rebuilt in {:.2} s ({} bytes)", crl_time.as_secs_f64(), crl.len());
    Ok(())
}

/// The `200` of a verification whose verdict is valid: a `200` with an
/// invalid verdict means the run measured something else (a replay, an
/// expired binding) and is counted apart.
const VALID: &str = "200 valid";

/// The requests a run makes, made before the clock starts.
enum Workload {
    Mint {
        keys: Vec<Value>,
        mix: Mix,
    },
    /// Pseudonym ids to look up, at random.
    Lookup(Vec<String>),
    /// Request bodies, each a presentation with a key binding of its own.
    Verify(Vec<String>),
}

impl Workload {
    fn path(&self) -> &'static str {
        match self {
            Workload::Mint { .. } | Workload::Lookup(_) => "/v1/pseudonyms",
            Workload::Verify(_) => "/v1/presentations/verify",
        }
    }

    /// How many requests were made ahead (lookups repeat: unbounded).
    fn len(&self) -> usize {
        match self {
            Workload::Mint { keys, .. } => keys.len(),
            Workload::Lookup(_) => usize::MAX,
            Workload::Verify(bodies) => bodies.len(),
        }
    }
}

struct Worker {
    http: reqwest::Client,
    url: String,
    token: String,
    workload: Arc<Workload>,
    next: Arc<AtomicUsize>,
    deadline: Instant,
}

#[derive(Default)]
struct Report {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<String, u64>,
}

impl Worker {
    async fn run(self) -> Report {
        let mut report = Report::default();
        let mut pick = (uuid::Uuid::new_v4().as_u128() as u64) | 1;
        let endpoint = format!("{}{}", self.url, self.workload.path());
        while Instant::now() < self.deadline {
            let request = match &*self.workload {
                Workload::Mint { keys, mix } => {
                    let n = self.next.fetch_add(1, Ordering::Relaxed);
                    let Some(key) = keys.get(n) else { break };
                    let account = match mix {
                        Mix::New => format!("load-{n}"),
                        Mix::Reuse => format!("load-{}", n % 500),
                        Mix::Ten => format!("load-{}", n / 10),
                    };
                    let body = json!({"account": account, "keys": [key], "validity_days": 1});
                    self.http.post(&endpoint).json(&body)
                }
                Workload::Lookup(ids) => {
                    // xorshift: a spread of ids, no lock, nothing to tune.
                    pick ^= pick << 13;
                    pick ^= pick >> 7;
                    pick ^= pick << 17;
                    let id = &ids[(pick % ids.len() as u64) as usize];
                    self.http.get(format!("{endpoint}/{id}"))
                }
                Workload::Verify(bodies) => {
                    let n = self.next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(n) else { break };
                    self.http
                        .post(&endpoint)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone())
                }
            };
            let sent = Instant::now();
            let status = match request.bearer_auth(&self.token).send().await {
                Ok(response) => {
                    let status = response.status().as_u16().to_string();
                    // Read the body so the connection is reused.
                    let body = response.bytes().await;
                    match &*self.workload {
                        Workload::Verify(_) if status == "200" => verdict(body.ok().as_deref()),
                        _ => status,
                    }
                }
                Err(error) if error.is_timeout() => "timeout".to_string(),
                Err(_) => "connection error".to_string(),
            };
            report.latencies_us.push(sent.elapsed().as_micros() as u64);
            *report.statuses.entry(status).or_default() += 1;
        }
        report
    }
}

/// `200 valid`, or `200 invalid: <first error code>`.
fn verdict(body: Option<&[u8]>) -> String {
    let verdict: Value = body.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
    if verdict["valid"] == Value::Bool(true) {
        return VALID.to_string();
    }
    let code = verdict["errors"][0]["code"].as_str().unwrap_or("?");
    format!("200 invalid: {code}")
}

/// Mints a pseudonym for each key (accounts of their own) and returns
/// their ids, for `--route lookup`.
async fn mint_lookup_ids(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    keys: &[Value],
) -> Res<Vec<String>> {
    let mut ids = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        ids.push(mint_one(http, url, token, &format!("lookup-{i}"), key).await?);
    }
    Ok(ids)
}

/// Mints one pseudonym (not timed) for `key` under `account`; its id.
async fn mint_one(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    account: &str,
    key: &Value,
) -> Res<String> {
    let body = json!({"account": account, "keys": [key], "validity_days": 1});
    let minted = post(http, &format!("{url}/v1/pseudonyms"), token, &body).await?;
    let id = minted["pseudonyms"][0]["id"].as_str().ok_or("no id in the mint response")?;
    Ok(id.to_string())
}

/// POSTs JSON with a bearer token; an answer other than 2xx is an error
/// that carries its body.
async fn post(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> Res<Value> {
    let response = http.post(url).bearer_auth(token).json(body).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("{url}: {status}: {body}").into());
    }
    Ok(body)
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(rank).copied().unwrap_or(0)
}

/// Fresh P-256 public keys as JWKs, one per request.
fn generate_jwks(n: usize) -> Res<Vec<Value>> {
    let rng = SystemRandom::new();
    (0..n)
        .map(|_| {
            let pair = p256_key_pair(&rng)?;
            let point = pair.public_key().as_ref();
            let (x, y) =
                (point.get(1..33).ok_or("short key")?, point.get(33..65).ok_or("short key")?);
            Ok(json!({
                "kty": "EC",
                "crv": "P-256",
                "x": Base64UrlUnpadded::encode_string(x),
                "y": Base64UrlUnpadded::encode_string(y),
            }))
        })
        .collect()
}

/// Raw ECDSA P-256 signatures per second with ring on one core, for one
/// second: the yardstick the mint rate is divided by.
fn raw_signatures_per_second() -> Res<f64> {
    let rng = SystemRandom::new();
    let pair = p256_key_pair(&rng)?;
    let message = [0x5au8; 256];
    per_second(|| pair.sign(&rng, &message).map(drop).map_err(|_| "signing failed".into()))
}

/// A fresh P-256 key pair (ring).
fn p256_key_pair(rng: &SystemRandom) -> Res<EcdsaKeyPair> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng)
        .map_err(|_| "key generation failed")?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), rng)
        .map_err(|_| "key parsing failed".into())
}

/// How many times a second `op` runs on this thread, over one second.
fn per_second(mut op: impl FnMut() -> Res<()>) -> Res<f64> {
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            op()?;
        }
        count += 100;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// CPU seconds this process has used (user and system), from
/// `/proc/self/stat` (fields 14 and 15, in clock ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it do not.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// This process's resident memory, from /proc (Linux).
fn resident_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// A veil served from this process, with its keys, policies and (SQLite)
/// database in a temporary directory.
struct InProcess {
    url: String,
    admin: String,
    state: veil::api::AppState,
    /// A temporary directory, removed at the end (`None`: `--dir`'s, kept).
    _dir: Option<tempfile::TempDir>,
    _shutdown: oneshot::Sender<()>,
}

impl InProcess {
    async fn start(postgres: Option<&str>, kept: Option<&Path>) -> Res<Self> {
        let temporary = match kept {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        let path = match (kept, &temporary) {
            (Some(path), _) => {
                std::fs::create_dir_all(path)?;
                path.to_path_buf()
            }
            (None, Some(dir)) => dir.path().to_path_buf(),
            (None, None) => return Err("no directory".into()),
        };
        let policies = write_policies(&path)?;
        let database = match postgres {
            Some(url) => fresh_schema(url).await?,
            None => format!("sqlite://{}", path.join("veil.db").display()),
        };
        let keys = path.join("keys").display().to_string();
        let config = Config::load(|name| match name {
            "VEIL_DATABASE_URL" => Some(database.clone()),
            "VEIL_LISTEN" => Some("127.0.0.1:0".into()),
            "VEIL_KEYS_DIR" => Some(keys.clone()),
            "VEIL_POLICIES_DIR" => Some(policies.display().to_string()),
            // Anything else (e.g. VEIL_DB_MAX_CONNECTIONS) as the environment says.
            _ => std::env::var(name).ok(),
        })?;
        let served = veil::testkit::serve(config, Arc::new(SystemClock)).await?;
        // A kept directory's admin token is written by its first run only.
        let saved = path.join("admin-token");
        let admin = match served.admin_token {
            Some(token) => {
                std::fs::write(&saved, &token)?;
                std::fs::set_permissions(&saved, std::fs::Permissions::from_mode(0o600))?;
                token
            }
            None => std::fs::read_to_string(&saved)?.trim().to_string(),
        };
        Ok(Self {
            url: served.url,
            admin,
            state: served.state,
            _dir: temporary,
            _shutdown: served.shutdown,
        })
    }

    async fn backend_token(&self, http: &reqwest::Client) -> Res<String> {
        let body = json!({"name": "load generator", "scopes": ["backend"]});
        let body =
            post(http, &format!("{}/v1/admin/clients", self.url), &self.admin, &body).await?;
        Ok(body["token"].as_str().ok_or("no token in the client response")?.to_string())
    }
}

/// The repository's room policies beside an issuance policy with every
/// limit lifted.
fn write_policies(dir: &Path) -> Res<PathBuf> {
    let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"));
    let policies = dir.join("policies");
    let rooms = policies.join("rooms");
    std::fs::create_dir_all(&rooms)?;
    for entry in std::fs::read_dir(repo.join("rooms"))? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, rooms.join(name))?;
        }
    }
    std::fs::write(policies.join("issuance.toml"), UNLIMITED_POLICY)?;
    Ok(policies)
}

/// A new schema in the given PostgreSQL database, so runs never share state.
async fn fresh_schema(url: &str) -> Res<String> {
    let schema = format!("veil_load_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&pool).await?;
    pool.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}options=-c%20search_path%3D{schema}"))
}
