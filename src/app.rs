//! Service assembly: configuration, storage, keys and the first admin
//! token become an `AppState`; shared by `veild`, `veilctl init` and tests.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api::AppState;
use crate::api::serve::{Limits, Tls};
use crate::core::clock::Clock;
use crate::services::Services;
use crate::services::abuse::Abuse;
use crate::services::abuse::policy::{IssuancePolicy, IssuancePolicyError};
use crate::services::access::{Access, AccessError, ApiToken, Operator};
use crate::services::audit::{AuditAction, AuditEvent};
use crate::services::breakglass::BreakGlass;
use crate::services::breakglass::policy::{BreakGlassPolicy, BreakGlassPolicyError};
use crate::services::config::{Config, Mode};
use crate::services::crl::Crl;
use crate::services::disclose::CRL_PATH;
use crate::services::disclose::{DisclosureIssuer, IssuerNames};
use crate::services::keyring::{
    ADMIN_TOKEN, KeyDirError, KeyDirectory, KeyKind, KeySet, OpsRotation, Rotation,
};
use crate::services::mint::Minter;
use crate::services::status_lists::StatusLists;
use crate::services::storage_upgrade;
use crate::services::verify::Verifier;
use crate::services::verify::policy::{PolicyError, RoomPolicies};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("keys: {0}")]
    Keys(#[from] KeyDirError),
    #[error("key directory {0} does not exist and auto_init is off: run `veilctl init`")]
    NotInitialized(PathBuf),
    #[error(
        "key directory {0} is missing, but the database already holds veil's data: new keys \
         would change every account_ref and orphan every link, so nothing was generated. \
         Restore the key directory (is its volume mounted?), or point VEIL_DATABASE_URL at a new database"
    )]
    KeysMissingForData(PathBuf),
    #[error(
        "production mode refuses to start while secrets that must not live on the online host \
         are there: {}. Move the break-glass key off the host (sealed with `veilctl break-glass \
         seal-key`, or cut into custodians' shares with `split`; reveals open on the requester's \
         machine), keep share files with their custodians, and store the bootstrap admin token \
         elsewhere and delete the file",
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    SecretsOnHost(Vec<PathBuf>),
    #[error(
        "the database already has API clients: it belongs to an initialized veil; point VEIL_DATABASE_URL at a new database"
    )]
    DatabaseInUse,
    #[error("creating the first admin client: {0}")]
    Admin(#[from] AccessError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("TLS: {0}")]
    Tls(#[from] crate::api::serve::TlsError),
    #[error("{0}")]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    IssuancePolicy(#[from] IssuancePolicyError),
    #[error("{0}")]
    BreakGlassPolicy(#[from] BreakGlassPolicyError),
    #[error("verifier: {0}")]
    Verifier(String),
}

/// What startup did that the operator should hear about once.
#[derive(Debug, Default)]
pub struct FirstStart {
    /// Keys were generated in this run.
    pub generated_keys: bool,
    /// A first admin client was created; its token is in this file.
    pub admin_token_file: Option<PathBuf>,
}

/// Connects, migrates, makes sure keys and a first admin exist, and loads
/// everything into an `AppState`.
pub async fn prepare(
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<(AppState, FirstStart), StartError> {
    // Policies first: a bad policy file should stop startup before any write.
    let rooms = config.policies_dir.join("rooms");
    let policies = RoomPolicies::load_dir(&rooms)?;
    let issuance = Arc::new(IssuancePolicy::load_dir(&config.policies_dir)?);
    let break_glass_policy = Arc::new(BreakGlassPolicy::load_dir(&config.policies_dir)?);
    if policies.names().next().is_none() {
        tracing::warn!(dir = %rooms.display(), "no room policies found; only inline policies can be used");
    }
    let store = Store::connect(&config.database_url, config.db_max_connections).await?;
    store.migrate().await?;
    let directory = KeyDirectory::new(&config.keys_dir);
    let mut first = FirstStart::default();
    if !directory.is_initialized() {
        if !config.auto_init {
            return Err(StartError::NotInitialized(config.keys_dir.clone()));
        }
        // A missing directory over a used database is a failed mount or a
        // lost volume, not a first start: fail closed.
        if store.holds_data().await? {
            return Err(StartError::KeysMissingForData(config.keys_dir.clone()));
        }
        directory.generate(&config.domain)?;
        first.generated_keys = true;
    }
    let mut keys = directory.load()?;
    keys.ca.set_crl_uri(format!("https://{}{CRL_PATH}", config.domain));
    let keys = Arc::new(keys);
    storage_upgrade::upgrade_if_needed(&store, &keys.link, clock.now()).await?;
    storage_upgrade::tag_untagged_glass_links(&store, &keys.link).await?;
    let exposed = secrets_on_host(&config);
    if !exposed.is_empty() {
        if config.mode == Mode::Production {
            return Err(StartError::SecretsOnHost(exposed));
        }
        for path in &exposed {
            tracing::warn!(
                file = %path.display(),
                "dev mode: a secret that must not live on a production host is here \
                 (mode = \"production\" refuses to start with it)"
            );
        }
    }
    let now = clock.now();
    let digest = policy_digest(&config.policies_dir);
    let loaded =
        AuditEvent::new(now, "veild", AuditAction::PolicyLoaded, "policies", None, &digest);
    store.append_audit(&loaded).await?;
    if first.generated_keys {
        audit_key_generation(&store, &keys, now).await?;
    }
    let access = Access::new(store.clone());
    if !access.has_clients().await? {
        let token = access.create_first_admin(clock.now()).await?;
        first.admin_token_file = Some(write_admin_token(&directory, &token)?);
    }
    let minter = Minter::new(
        keys.clone(),
        store.clone(),
        clock.clone(),
        config.pseudonym_prefix(),
        config.max_validity_days,
        issuance.clone(),
    );
    let abuse = Abuse::new(
        keys.clone(),
        store.clone(),
        clock.clone(),
        issuance.clone(),
        config.pseudonym_prefix(),
    );
    // A deletion recorded by a process that stopped before removing the
    // account is finished before this one serves.
    resume_deletions(&abuse).await;
    let names = IssuerNames::for_domain(&config.domain, config.pseudonym_prefix());
    let disclosures = DisclosureIssuer::new(
        keys.clone(),
        store.clone(),
        clock.clone(),
        names.clone(),
        config.max_validity_days,
        issuance,
    );
    let status_lists =
        StatusLists::new(store.clone(), keys.clone(), clock.clone(), names.status_lists.clone());
    let crl = Crl::new(store.clone(), keys.clone(), clock.clone());
    let verifier = Verifier::new(keys.clone(), store.clone(), clock.clone(), names, policies)
        .map_err(StartError::Verifier)?;
    let break_glass = BreakGlass::new(
        keys.clone(),
        store.clone(),
        clock.clone(),
        break_glass_policy,
        config.pseudonym_prefix(),
    );
    let services = Services {
        config,
        store,
        keys,
        access,
        minter,
        abuse,
        break_glass,
        disclosures,
        verifier,
        status_lists,
        crl,
        clock,
    };
    Ok((AppState::new(services), first))
}

/// What every custodian share file holds, in any format version.
const SHARE_MARKER: &[u8] = b"veil-break-glass-share-";

/// Files on this host that would let whoever reads them reveal accounts or
/// act as the first admin: any break-glass private key (sealed or not: the
/// reveal happens on the requester's machine, so the online host needs
/// none), the bootstrap admin token, and custodian share files.
fn secrets_on_host(config: &Config) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> =
        [config.break_glass_key_path(), config.keys_dir.join(ADMIN_TOKEN)]
            .into_iter()
            .filter(|path| path.exists())
            .collect();
    found.dedup();
    // Custodian share files belong on custodians' machines, never here:
    // found by their format marker, whatever they are named.
    if let Ok(entries) = std::fs::read_dir(&config.keys_dir) {
        let mut shares: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.metadata().is_ok_and(|m| m.is_file() && m.len() < 65_536))
            .map(|entry| entry.path())
            .filter(|path| {
                std::fs::read(path)
                    .is_ok_and(|bytes| bytes.windows(SHARE_MARKER.len()).any(|w| w == SHARE_MARKER))
            })
            .collect();
        shares.sort();
        found.extend(shares);
    }
    found
}

/// `veilctl init`: creates the key directory, migrates the database and
/// creates an admin client whose token is returned (and written to the key
/// directory) — the only time it is shown.
pub async fn initialize(
    config: &Config,
    clock: &dyn Clock,
) -> Result<(ApiToken, PathBuf), StartError> {
    // The database first: a failure there must not leave keys behind that
    // would make every later `init` refuse.
    let store = Store::connect(&config.database_url, 1).await?;
    store.migrate().await?;
    let access = Access::new(store.clone());
    if access.has_clients().await? {
        return Err(StartError::DatabaseInUse);
    }
    let directory = KeyDirectory::new(&config.keys_dir);
    directory.generate(&config.domain)?;
    audit_key_generation(&store, &directory.load()?, clock.now()).await?;
    let token = access.create_first_admin(clock.now()).await?;
    let path = write_admin_token(&directory, &token)?;
    store.close().await;
    Ok((token, path))
}

/// `veilctl operator add`: an active operator straight in the database
/// (audited, actor `host`). Whoever holds the host could run `init` as
/// well, so this needs no second operator.
pub async fn add_operator(
    config: &Config,
    name: &str,
    clock: &dyn Clock,
) -> Result<Operator, StartError> {
    let store = Store::connect(&config.database_url, 1).await?;
    store.migrate().await?;
    let operator = Access::new(store.clone()).add_operator_on_host(name, clock.now()).await?;
    store.close().await;
    Ok(operator)
}

/// `veilctl migrate`: applies pending migrations.
pub async fn migrate(config: &Config) -> Result<(), StartError> {
    let store = Store::connect(&config.database_url, 1).await?;
    store.migrate().await?;
    store.close().await;
    Ok(())
}

/// Records which keys were generated (by key id; never key material).
async fn audit_key_generation(store: &Store, keys: &KeySet, now: i64) -> Result<(), StoreError> {
    let ids = format!(
        "ca:{} sd-jwt:{} sd-cwt:{} audit:{}",
        keys.ca.key_id(),
        keys.sd_jwt.kid(),
        keys.sd_cwt.kid(),
        keys.audit.kid()
    );
    let event = AuditEvent::new(now, "init", AuditAction::KeyGenerated, &ids, None, "");
    store.append_audit(&event).await
}

/// `veilctl keys rotate`: a new `kind` key signs from the next start on;
/// the old one stays trusted and published until every credential it can
/// have signed has expired (now + the longest pseudonym validity, which
/// also bounds disclosures, + clock skew). Audit checkpoints never expire,
/// so a retired audit key is kept for good. Records `key.rotate` by key id.
/// Running replicas keep their keys until restarted.
pub async fn rotate_key(
    config: &Config,
    kind: KeyKind,
    clock: &dyn Clock,
) -> Result<Rotation, StartError> {
    let directory = KeyDirectory::new(&config.keys_dir);
    if !directory.is_initialized() {
        return Err(StartError::NotInitialized(config.keys_dir.clone()));
    }
    // Reach the database first: a rotation must not go unrecorded.
    let store = Store::connect(&config.database_url, 1).await?;
    let now = clock.now();
    let keep_until = match kind {
        KeyKind::Audit => i64::MAX,
        _ => now
            .saturating_add(i64::from(config.max_validity_days) * 86_400)
            .saturating_add(crate::formats::disclosure::CLOCK_SKEW_SECS),
    };
    let rotation = directory.rotate(kind, &config.domain, now, keep_until)?;
    let subject = format!("{}:{}->{}", kind.as_str(), rotation.old_kid, rotation.new_kid);
    let event = AuditEvent::new(now, "veilctl", AuditAction::KeyRotated, &subject, None, "");
    let recorded = store.append_audit(&event).await;
    store.close().await;
    recorded?;
    Ok(rotation)
}

/// Stages or activates a new `k_ops` (`veilctl keys rotate --kind ops`,
/// see `KeyDirectory::rotate_ops`) and records it in the audit log.
pub async fn rotate_ops_key(
    config: &Config,
    stage: bool,
    clock: &dyn Clock,
) -> Result<OpsRotation, StartError> {
    let directory = KeyDirectory::new(&config.keys_dir);
    if !directory.is_initialized() {
        return Err(StartError::NotInitialized(config.keys_dir.clone()));
    }
    // Reach the database first: a rotation must not go unrecorded.
    let store = Store::connect(&config.database_url, 1).await?;
    let rotation = directory.rotate_ops(stage)?;
    let step = if rotation.generation.is_some() { "" } else { " (staged)" };
    let subject = format!("ops:{}->{}{step}", rotation.old_kid, rotation.new_kid);
    let event =
        AuditEvent::new(clock.now(), "veilctl", AuditAction::KeyRotated, &subject, None, "");
    let recorded = store.append_audit(&event).await;
    store.close().await;
    recorded?;
    Ok(rotation)
}

/// SHA-256 over the policy files' names and contents, so the audit log
/// shows which policy text each start ran with.
fn policy_digest(dir: &std::path::Path) -> String {
    let mut files: Vec<PathBuf> =
        ["issuance.toml", "break-glass.toml"].iter().map(|f| dir.join(f)).collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("rooms")) {
        files.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
    }
    files.sort();
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for file in files {
        if let Ok(text) = std::fs::read(&file) {
            ctx.update(file.display().to_string().as_bytes());
            ctx.update(&[0]);
            ctx.update(&text);
        }
    }
    let digest: String = ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{digest}")
}

/// Writes the first admin token (mode 0600), replacing a stale one left by
/// an earlier database.
fn write_admin_token(directory: &KeyDirectory, token: &ApiToken) -> Result<PathBuf, KeyDirError> {
    let path = directory.path(ADMIN_TOKEN);
    if path.exists() {
        std::fs::remove_file(&path)
            .map_err(|source| KeyDirError::Io { path: path.clone(), source })?;
    }
    directory.write(ADMIN_TOKEN, format!("{}\n", token.expose()).as_bytes())?;
    Ok(path)
}

/// Signs and stores a checkpoint of the audit log every `every`, until the
/// process ends. Failures are logged and retried at the next tick.
pub fn spawn_checkpointer(
    state: AppState,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = state.clock.now();
            let origin = crate::services::audit::origin(&state.config.domain);
            match crate::services::audit::record_checkpoint(
                &state.store,
                &state.keys.audit,
                &origin,
                now,
            )
            .await
            {
                Ok(signed) => {
                    tracing::info!(size = signed.size, root = %signed.root, "audit checkpoint signed")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "audit checkpoint failed; retrying at the next tick")
                }
            }
        }
    })
}

/// Retries, every `every`, the deletions a failure left recorded but not
/// done (`resume_deletions` also runs at start): a deletion whose second
/// half failed is finished without waiting for a restart.
pub fn spawn_deletion_resumer(
    state: AppState,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate, and start has just done this.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            resume_deletions(&state.abuse).await;
        }
    })
}

/// Finishes the deletions left pending, and says so when there were any.
async fn resume_deletions(abuse: &Abuse) {
    match abuse.resume_deletions().await {
        Ok((0, 0)) => {}
        Ok((finished, failed)) => {
            tracing::warn!(finished, failed, "finished deletions left pending")
        }
        Err(e) => tracing::error!(error = %e, "pending deletions could not be read"),
    }
}

/// How often pending deletions are retried while veild runs.
pub const DELETION_RETRY: std::time::Duration = std::time::Duration::from_secs(300);

/// Binds the configured address (port 0 picks a free one).
pub async fn bind(config: &Config) -> Result<TcpListener, StartError> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen { addr: config.listen, source })
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and
/// closes the pool. HTTPS when `tls` is given, with the configured limits
/// either way.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let store = state.store.clone();
    let limits = Limits::from_config(&state.config);
    crate::api::serve::serve(listener, crate::api::router(state), tls, limits, shutdown).await;
    store.close().await;
    Ok(())
}
