//! A veil served in-process on 127.0.0.1, the way tests and examples start
//! one: the configuration from a closure (no process environment), the
//! first start's admin token read back, the server in a background task.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::oneshot;

use super::Res;
use crate::api::AppState;
use crate::core::clock::{Clock, SystemClock};
use crate::services::config::Config;

/// The repository's room and issuance policies.
pub fn repo_policies() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"))
}

/// Settings for a veil on `database_url`, its keys under `dir`/keys, its
/// policies in `policies`, listening on an ephemeral port; `extra` sets
/// further variables by name.
pub fn config(
    database_url: &str,
    dir: &Path,
    policies: &Path,
    extra: &[(&str, &str)],
) -> Res<Config> {
    let keys = dir.join("keys").display().to_string();
    let policies = policies.display().to_string();
    Ok(Config::load(|name| match name {
        "VEIL_DATABASE_URL" => Some(database_url.to_string()),
        "VEIL_LISTEN" => Some("127.0.0.1:0".into()),
        "VEIL_KEYS_DIR" => Some(keys.clone()),
        "VEIL_POLICIES_DIR" => Some(policies.clone()),
        _ => extra.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string()),
    })?)
}

/// A running veil; it stops when `shutdown` fires or is dropped.
pub struct Served {
    pub url: String,
    pub state: AppState,
    /// Written by a first start only (a replica shares the first one's).
    pub admin_token: Option<String>,
    pub shutdown: oneshot::Sender<()>,
}

/// Prepares `config` (a first start makes keys and an admin token) and
/// serves it in the background.
pub async fn serve(config: Config, clock: Arc<dyn Clock>) -> Res<Served> {
    let listener = crate::app::bind(&config).await?;
    let tls = crate::api::serve::Tls::from_config(&config)?.map(Arc::new);
    let (state, first) = crate::app::prepare(config, clock).await?;
    let admin_token = match first.admin_token_file {
        Some(file) => Some(std::fs::read_to_string(file)?.trim().to_string()),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    let (shutdown, stop) = oneshot::channel::<()>();
    let served = state.clone();
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.await;
        };
        if let Err(e) = crate::app::serve(listener, served, tls, stopped).await {
            eprintln!("veil stopped serving: {e}");
        }
    });
    Ok(Served { url, state, admin_token, shutdown })
}

/// The examples' veil: a temporary SQLite database and key directory,
/// gone when the value is dropped, and a small JSON client for it.
pub struct Veil {
    url: String,
    http: reqwest::Client,
    pub admin: String,
    /// `https://<domain>`: the audience of disclosure proofs.
    pub issuer: String,
    _dir: tempfile::TempDir,
    _shutdown: oneshot::Sender<()>,
}

impl Veil {
    pub async fn start() -> Res<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir()?;
        let database = format!("sqlite://{}", dir.path().join("veil.db").display());
        let config = config(&database, dir.path(), &repo_policies(), &[])?;
        let served = serve(config, Arc::new(SystemClock)).await?;
        let admin = served.admin_token.ok_or("no admin token")?;
        let issuer = served.state.disclosures.names().issuer.clone();
        println!("veil is running at {} (temporary SQLite database)", served.url);
        let http = reqwest::Client::builder().build()?;
        Ok(Self { url: served.url, http, admin, issuer, _dir: dir, _shutdown: served.shutdown })
    }

    /// An API client with these scopes (the admin creates it); its token.
    pub async fn token(&self, name: &str, scopes: &[&str]) -> Res<String> {
        let body = serde_json::json!({"name": name, "scopes": scopes});
        let created = self.post("/v1/admin/clients", &self.admin, &body).await?;
        Ok(created.get("token").and_then(Value::as_str).ok_or("no token")?.into())
    }

    /// POSTs JSON; a non-2xx answer is an error carrying the problem body.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Res<Value> {
        let request = self.http.post(format!("{}{path}", self.url)).bearer_auth(token).json(body);
        answer(request.send().await?).await
    }

    /// A room member's client, with this veil's public documents and the
    /// repository's room policies.
    pub async fn member(&self) -> Res<super::Member> {
        super::Member::fetch(&self.http, &self.url, &repo_policies().join("rooms")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Res<Value> {
        let request = self.http.get(format!("{}{path}", self.url)).bearer_auth(token);
        answer(request.send().await?).await
    }
}

async fn answer(response: reqwest::Response) -> Res<Value> {
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(format!("{status}: {body}").into());
    }
    Ok(body)
}
