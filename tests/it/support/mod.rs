//! `TestApp`: one isolated veil instance per test (own key directory, own
//! SQLite file or PostgreSQL schema), served on 127.0.0.1:0.

pub mod fixtures;
pub mod hub;
pub mod key_material;
pub mod mls;
pub mod tools;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use veil::api::AppState;
use veil::core::clock::{Clock, SystemClock};
use veil::formats::keys::signer::Es256Signer;
use veil::services::access::Scope;
use veil::services::disclose::{DEFAULT_VALIDITY_DAYS, DisclosureRequest};
use veil::testkit;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates `mod <name> { sqlite, postgres }` for a test body
/// `async fn <name>(app: TestApp)` defined beside the macro call; the
/// `postgres` variant is `#[ignore]`d, so a plain `cargo test` reports it as
/// ignored rather than as a pass that never touched a database;
/// `cargo test -- --ignored postgres` runs it.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::TestApp::spawn($crate::support::Db::Sqlite).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs VEIL_TEST_POSTGRES_URL (cargo test -- --ignored postgres)"]
                async fn postgres() {
                    super::$name($crate::support::TestApp::spawn($crate::support::Db::Postgres).await).await;
                }
            }
        )+
    };
}

/// As `on_both_backends!`, with the test's argument made by `setup`, an
/// `async fn(Db) -> T` beside the macro call (e.g. an app with its own
/// issuance policy).
macro_rules! on_both_backends_with {
    ($setup:ident; $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::$setup($crate::support::Db::Sqlite).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs VEIL_TEST_POSTGRES_URL (cargo test -- --ignored postgres)"]
                async fn postgres() {
                    super::$name(super::$setup($crate::support::Db::Postgres).await).await;
                }
            }
        )+
    };
}

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub state: AppState,
    pub dir: TempDir,
    pub db: Db,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// PostgreSQL needs `VEIL_TEST_POSTGRES_URL`; without it the test fails.
    pub async fn spawn(db: Db) -> Self {
        Self::spawn_with_clock(db, Arc::new(SystemClock)).await
    }

    /// As `spawn`, with a clock the test controls (expiry without sleeping).
    pub async fn spawn_with_clock(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self::spawn_with(db, clock, None).await
    }

    /// As `spawn_with_clock`, with `issuance_policy` as the text of
    /// `issuance.toml` (the repository's room policies are copied beside it).
    pub async fn spawn_with(db: Db, clock: Arc<dyn Clock>, issuance_policy: Option<&str>) -> Self {
        let files = issuance_policy.map(|text| ("issuance.toml", text));
        Self::spawn_with_policy(db, clock, files).await
    }

    /// As `spawn_with_clock`, with `(file, text)` replacing one policy file
    /// of the repository's (the room policies are copied beside it).
    pub async fn spawn_with_policy(
        db: Db,
        clock: Arc<dyn Clock>,
        policy_file: Option<(&str, &str)>,
    ) -> Self {
        Self::spawn_configured(db, clock, policy_file, &[]).await
    }

    /// As `spawn`, with further `VEIL_*` settings (e.g. `VEIL_PSEUDONYM_PATH`).
    pub async fn spawn_with_env(db: Db, env: &[(&str, &str)]) -> Self {
        Self::spawn_configured(db, Arc::new(SystemClock), None, env).await
    }

    async fn spawn_configured(
        db: Db,
        clock: Arc<dyn Clock>,
        policy_file: Option<(&str, &str)>,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo_policies = testkit::instance::repo_policies();
        let policies_dir = match policy_file {
            None => repo_policies,
            Some((file, text)) => {
                let policies = dir.path().join("policies");
                let rooms = policies.join("rooms");
                std::fs::create_dir_all(&rooms).expect("policies dir");
                for entry in std::fs::read_dir(repo_policies.join("rooms")).expect("rooms") {
                    let path = entry.expect("entry").path();
                    std::fs::copy(&path, rooms.join(path.file_name().expect("name")))
                        .expect("copy room policy");
                }
                for shipped in ["issuance.toml", "break-glass.toml"] {
                    std::fs::copy(repo_policies.join(shipped), policies.join(shipped))
                        .expect("copy policy");
                }
                std::fs::write(policies.join(file), text).expect("policy file");
                policies
            }
        };
        let database_url = match db {
            Db::Sqlite => format!("sqlite://{}", dir.path().join("veil.db").display()),
            Db::Postgres => fresh_postgres_schema().await,
        };
        let extra = [&[("VEIL_DB_MAX_CONNECTIONS", "4")], env].concat();
        let config = testkit::instance::config(&database_url, dir.path(), &policies_dir, &extra)
            .expect("config");
        let served = testkit::serve(config, clock).await.expect("veil starts");
        let admin_token = served.admin_token.expect("first start writes an admin token");
        let testkit::Served { url, state, shutdown, .. } = served;
        Self { url, http: http_client(), admin_token, state, dir, db, shutdown: Some(shutdown) }
    }

    /// A veil started on an existing directory (`veil.db` and `keys/`), as
    /// after an upgrade: not a first start, so the caller names the admin
    /// token it kept.
    pub async fn open(dir: TempDir, clock: Arc<dyn Clock>, admin_token: &str) -> Self {
        let database_url = format!("sqlite://{}", dir.path().join("veil.db").display());
        let policies = testkit::instance::repo_policies();
        let config =
            testkit::instance::config(&database_url, dir.path(), &policies, &[]).expect("config");
        let served = testkit::serve(config, clock).await.expect("veil starts");
        let testkit::Served { url, state, shutdown, .. } = served;
        Self {
            url,
            http: http_client(),
            admin_token: admin_token.to_string(),
            state,
            dir,
            db: Db::Sqlite,
            shutdown: Some(shutdown),
        }
    }

    /// A second veild on the same database and key directory, as a second
    /// process behind a load balancer would be (shares the admin token).
    pub async fn replica(&self) -> Self {
        let mut config = self.state.config.clone();
        config.listen = "127.0.0.1:0".parse().expect("address");
        let served =
            testkit::serve(config, self.state.clock.clone()).await.expect("replica starts");
        Self {
            url: served.url,
            http: http_client(),
            admin_token: self.admin_token.clone(),
            state: served.state,
            dir: tempfile::tempdir().expect("tempdir"),
            db: self.db,
            shutdown: Some(served.shutdown),
        }
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        (self.db == Db::Sqlite).then(|| self.dir.path().join("veil.db"))
    }

    /// A connection pool of the test's own to the service's database: the
    /// attacker who writes rows behind veil's back.
    pub async fn raw_pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&self.state.config.database_url)
            .await
            .expect("raw pool")
    }

    /// Creates an API client with these scopes and returns its token; an
    /// admin client belongs to the first operator (the same person as
    /// `admin_token`).
    pub async fn token(&self, scopes: &[&str]) -> String {
        let operator = self.first_operator().await;
        self.token_for(&operator, scopes).await
    }

    /// Creates a client of `operator` with these scopes; returns its token.
    pub async fn token_for(&self, operator: &str, scopes: &[&str]) -> String {
        let operator = scopes.contains(&"admin").then_some(operator);
        let body = json!({"name": "test", "scopes": scopes, "operator": operator});
        let (status, body) = self.post("/v1/admin/clients", &self.admin_token, &body).await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// The bootstrap operator's id.
    pub async fn first_operator(&self) -> String {
        let operators = self.state.access.list_operators().await.expect("operators");
        let first = operators.into_iter().find(|o| o.name == "first admin");
        first.expect("bootstrap operator").id
    }

    /// A second person: an operator added on the host (`veilctl operator
    /// add`), with one admin client. Returns (operator id, token).
    pub async fn second_operator(&self, name: &str) -> (String, String) {
        let now = self.state.clock.now();
        let access = &self.state.access;
        let operator = access.add_operator_on_host(name, now).await.expect("operator");
        let (_, token) = access
            .create_client("test", name, &[Scope::Admin], Some(&operator.id), now)
            .await
            .expect("admin client");
        (operator.id, token.expose().to_string())
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("send");
        decode(response).await
    }

    /// The holder's proof of possession for a disclosure request `body` on
    /// pseudonym `id`, made at the app's clock: the one place tests make
    /// proofs (the request object comes from `DisclosureRequest`, as on the
    /// server).
    pub fn disclosure_proof(&self, holder: &Es256Signer, id: &str, body: &Value) -> String {
        let request = disclosure_request(body);
        let issuer = &self.state.disclosures.names().issuer;
        request.prove(holder, issuer, id, self.state.clock.now()).expect("proof")
    }

    /// Asks for a disclosure on pseudonym `id` as the holder's client would
    /// have the backend do: `body` plus a fresh proof made with `holder`.
    pub async fn disclose(
        &self,
        token: &str,
        holder: &Es256Signer,
        id: &str,
        body: &Value,
    ) -> (u16, Value) {
        let mut body = body.clone();
        body["proof"] = json!(self.disclosure_proof(holder, id, &body));
        self.post(&format!("/v1/pseudonyms/{id}/disclosures"), token, &body).await
    }

    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut request =
            self.http.post(self.url(path)).header("content-type", "application/json").body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        decode(request.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        decode(request.send().await.expect("send")).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> u16 {
        self.http
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("send")
            .status()
            .as_u16()
    }

    /// A DELETE whose answer has a body.
    pub async fn delete_json(&self, path: &str, token: &str) -> (u16, Value) {
        decode(self.http.delete(self.url(path)).bearer_auth(token).send().await.expect("send"))
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Mints for `account` with the given JWKs; returns (status, body).
    pub async fn mint(&self, token: &str, account: &str, keys: Vec<Value>) -> (u16, Value) {
        self.post("/v1/pseudonyms", token, &json!({"account": account, "keys": keys})).await
    }

    pub async fn pseudonym_count(&self) -> i64 {
        self.state.store.count_pseudonyms().await.expect("count")
    }

    pub async fn account_count(&self) -> i64 {
        self.state.store.count_accounts().await.expect("count")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The request a disclosure body stands for, with the server's defaults.
pub fn disclosure_request(body: &Value) -> DisclosureRequest {
    DisclosureRequest {
        account: body["account"].as_str().unwrap_or_default().into(),
        format: serde_json::from_value(body["format"].clone()).expect("format"),
        claims: body["claims"].as_object().cloned().unwrap_or_default(),
        disclosable: body
            .get("disclosable")
            .map(|d| serde_json::from_value(d.clone()).expect("disclosable"))
            .unwrap_or_default(),
        validity_days: body
            .get("validity_days")
            .map(|d| serde_json::from_value(d.clone()).expect("validity_days"))
            .unwrap_or(DEFAULT_VALIDITY_DAYS),
        client: body.get("client").and_then(Value::as_str).map(str::to_string),
    }
}

/// Asserts a problem+json response with this status and type slug.
pub fn assert_problem(status: u16, body: &Value, expected_status: u16, slug: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["type"], format!("urn:veil:problem:{slug}"), "{body}");
    assert_eq!(body["status"], expected_status, "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
}

/// The frank of the message called `message` in a test: 96 bytes
/// (franking tag, server frank, context hash) derived from the name, so one
/// name is one message and another name another.
pub fn frank_of(message: &str) -> veil::formats::abuse_report::Frank {
    let part = |label: &str| {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, format!("{label}:{message}").as_bytes());
        <[u8; 32]>::try_from(digest.as_ref()).expect("32 bytes")
    };
    veil::formats::abuse_report::Frank {
        franking_tag: part("tag"),
        server_frank: part("server"),
        franking_context_hash: part("context"),
    }
}

/// [`frank_of`] as a report's JSON carries it (standard base64).
pub fn frank(message: &str) -> String {
    frank_of(message).to_base64()
}

impl TestApp {
    /// POSTs raw bytes with this content type (none when `None`).
    pub async fn post_bytes(
        &self,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).bearer_auth(token).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        decode(request.send().await.expect("send")).await
    }
}

async fn decode(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or_default() == "application/problem+json");
    let bytes = response.bytes().await.expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    if status >= 400 {
        assert!(problem, "error responses must be application/problem+json: {status} {value}");
    }
    (status, value)
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("http client")
}

/// A fresh schema in the PostgreSQL database named by
/// `VEIL_TEST_POSTGRES_URL`, so tests run in parallel without interfering.
/// A PostgreSQL test that runs without the URL, or with one that does not
/// answer, fails: it never passes without having touched the database.
async fn fresh_postgres_schema() -> String {
    let base = std::env::var("VEIL_TEST_POSTGRES_URL")
        .expect("a PostgreSQL test runs only with VEIL_TEST_POSTGRES_URL set");
    let schema = format!("veil_t_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&base).await.expect("connect to VEIL_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .expect("schema");
    pool.close().await;
    let separator = if base.contains('?') { '&' } else { '?' };
    // The schema also names the connections (`application_name`), so a
    // test can find its own veil's among every test's.
    format!(
        "{base}{separator}options=-c%20search_path%3D{schema}%20-c%20application_name%3D{schema}"
    )
}

/// Audit entries as `GET /v1/admin/audit` serves them (`at` in RFC 3339),
/// read back into the chain's own type (`at` in Unix seconds, as hashed).
pub fn served_audit_entries(
    entries: &serde_json::Value,
) -> Vec<veil::services::audit::chain::AuditEntry> {
    let mut entries = entries.clone();
    for entry in entries.as_array_mut().expect("an array of entries") {
        let at = entry["at"].as_str().expect("`at` is a string");
        let unix = veil::core::clock::parse_rfc3339(at).expect("`at` is RFC 3339");
        entry["at"] = serde_json::json!(unix);
    }
    serde_json::from_value(entries).expect("audit entries")
}

/// The link a reveal released, as the requester's `veilctl` reads it from
/// the response (the server opens nothing).
pub fn released_link(body: &Value) -> veil::formats::glass_link::SealedLink {
    use base64ct::{Base64, Encoding};
    use veil::formats::glass_link::{GlassSuite, SealedLink};
    use veil::formats::threshold::KemPublicKey;
    let bytes = |field: &str| {
        Base64::decode_vec(body[field].as_str().expect("a released field")).expect("base64")
    };
    SealedLink {
        suite: GlassSuite::parse(body["suite"].as_str().expect("suite")).expect("known suite"),
        sealed: bytes("sealed_link"),
        aad: bytes("aad"),
        sender: body["sender_key"].as_str().map(|key| {
            KemPublicKey::from_bytes(&Base64::decode_vec(key).expect("base64")).expect("key")
        }),
    }
}
