//! `veilctl` end to end: the real binaries, a real `veild`, each test with
//! its own directory and database (SQLite, and PostgreSQL in a fresh schema
//! when `VEIL_TEST_POSTGRES_URL` is set).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use veil::testkit::pki::TestCa;

const VEILCTL: &str = env!("CARGO_BIN_EXE_veilctl");
const VEILD: &str = env!("CARGO_BIN_EXE_veild");

/// One deployment: a working directory, a key directory and a database.
struct Deployment {
    dir: TempDir,
    database_url: String,
    /// PostgreSQL: (server URL, schema) to drop at the end.
    schema: Option<(String, String)>,
}

/// What a `veilctl` run produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "veilctl failed: {self:#?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }
}

impl Deployment {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("veil.db").display());
        Self { dir, database_url, schema: None }
    }

    /// A fresh schema in `VEIL_TEST_POSTGRES_URL`; without the URL the test
    /// fails (the PostgreSQL variants run only when asked for, see below).
    fn postgres() -> Self {
        let server = std::env::var("VEIL_TEST_POSTGRES_URL")
            .expect("a PostgreSQL test runs only with VEIL_TEST_POSTGRES_URL set");
        let schema = format!("veil_t_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        psql(&server, &format!("CREATE SCHEMA {schema}"));
        let separator = if server.contains('?') { '&' } else { '?' };
        let database_url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
        let dir = tempfile::tempdir().unwrap();
        Self { dir, database_url, schema: Some((server, schema)) }
    }

    fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    /// A command with this deployment's settings and none inherited from
    /// the developer's shell.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("VEIL_") {
                command.env_remove(name);
            }
        }
        command
            .current_dir(self.dir.path())
            .env("VEIL_DATABASE_URL", &self.database_url)
            .env("VEIL_KEYS_DIR", self.keys_dir())
            .env("VEIL_DOMAIN", "chat.example")
            // `veilctl audit verify` pins its checkpoint under HOME.
            .env("HOME", self.dir.path())
            .env_remove("XDG_STATE_HOME");
        command
    }

    fn veilctl(&self, args: &[&str]) -> Run {
        let output = self.command(VEILCTL).args(args).stdin(Stdio::null()).output().unwrap();
        Run {
            code: output.status.code().expect("veilctl was killed by a signal"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// `veilctl init`, returning the admin token it printed.
    fn init(&self) -> String {
        let run = self.veilctl(&["init", "--json"]).ok();
        let token = run.json()["admin_token"].as_str().unwrap().to_string();
        let file = std::fs::read_to_string(self.keys_dir().join("admin-token")).unwrap();
        assert_eq!(file.trim(), token);
        token
    }

    /// Starts `veild` and waits until `/healthz` answers.
    fn start(&self) -> Server {
        let port = free_port();
        let log = self.dir.path().join("veild.log");
        let child = self
            .command(VEILD)
            .env("VEIL_LISTEN", format!("127.0.0.1:{port}"))
            .env("VEIL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server { child, url: format!("http://127.0.0.1:{port}") };
        server.wait_healthy(port, &log);
        server
    }

    /// Starts `veild` with `env` on top (its TLS settings) and waits for the
    /// banner, which must announce HTTPS; returns the server (its URL names
    /// `localhost`, as the certificate does) and the path of its log.
    fn start_https(&self, env: &[(&str, &Path)]) -> (Server, PathBuf) {
        let port = free_port();
        let log = self.dir.path().join(format!("veild-{port}.log"));
        let out = self.dir.path().join(format!("veild-{port}.out"));
        let mut command = self.command(VEILD);
        command
            .env("VEIL_LISTEN", format!("127.0.0.1:{port}"))
            .env("VEIL_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        for (name, path) in env {
            command.env(name, path);
        }
        let mut server =
            Server { child: command.spawn().unwrap(), url: format!("https://localhost:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("veild exited with {status}: {}", std::fs::read_to_string(&log).unwrap());
            }
            let banner = std::fs::read_to_string(&out).unwrap_or_default();
            if banner.contains(&format!("listening on https://127.0.0.1:{port}")) {
                return (server, log);
            }
            assert!(Instant::now() < deadline, "no HTTPS banner: {banner}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `veilctl` against `server`, with the token fallback of the key directory.
    fn online(&self, server: &Server, args: &[&str]) -> Run {
        let mut all = vec!["--url", server.url.as_str()];
        all.extend_from_slice(args);
        self.veilctl(&all)
    }

    /// `client create --json`: (id, token). An admin client belongs to
    /// the first operator (the same person as the init token).
    fn create_client(&self, server: &Server, name: &str, scope: &str) -> (String, String) {
        let operators = self.online(server, &["operator", "list", "--json"]).ok().json();
        let operators = operators["operators"].as_array().unwrap();
        let first = operators.iter().find(|o| o["name"] == "first admin").unwrap();
        let first = first["id"].as_str().unwrap().to_string();
        self.create_client_of(server, name, scope, &first)
    }

    /// Another person: `operator add` on the host, then an admin client of
    /// theirs; returns its token.
    fn second_person(&self, server: &Server, name: &str) -> String {
        let added = self.veilctl(&["operator", "add", "--name", name, "--json"]).ok();
        let operator = added.json()["id"].as_str().unwrap().to_string();
        self.create_client_of(server, name, "admin", &operator).1
    }

    /// `client create --operator … --json`: (id, token).
    fn create_client_of(
        &self,
        server: &Server,
        name: &str,
        scope: &str,
        operator: &str,
    ) -> (String, String) {
        let mut args = vec!["client", "create", "--name", name, "--scope", scope, "--json"];
        if scope == "admin" {
            args.extend(["--operator", operator]);
        }
        let created = self.online(server, &args).ok().json();
        assert_eq!(created["name"], name);
        assert_eq!(created["scopes"], serde_json::json!([scope]));
        (
            created["id"].as_str().unwrap().to_string(),
            created["token"].as_str().unwrap().to_string(),
        )
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if let Some((server, schema)) = &self.schema {
            psql(server, &format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}

fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args(["-q", url, "-c", sql])
        .env("PGOPTIONS", "--client-min-messages=warning")
        .status()
        .expect("psql is needed");
    assert!(status.success(), "psql failed: {sql}");
}

/// A running `veild`, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn wait_healthy(&mut self, port: u16, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("veild exited with {status}: {}", std::fs::read_to_string(log).unwrap());
            }
            if healthz(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("veild did not become healthy: {}", std::fs::read_to_string(log).unwrap());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn healthz(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut response = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.starts_with("HTTP/1.1 200")
}

/// A port nothing listens on (until someone takes it: a small race).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn init_then_create_client(deployment: &Deployment) {
    let admin_token = deployment.init();
    let server = deployment.start();
    let (id, token) = deployment.create_client(&server, "ops", "admin");
    assert!(token.starts_with("veil_"));
    assert_ne!(token, admin_token);

    let listed =
        deployment.online(&server, &["client", "list", "--json", "--token", &token]).ok().json();
    let ids: Vec<&str> =
        listed["clients"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&id.as_str()));

    // Human output: the token once, with the warning.
    let run = deployment
        .online(&server, &["client", "create", "--name", "chat backend", "--scope", "backend"])
        .ok();
    assert!(run.stdout.contains("veil_"), "{run:#?}");
    assert!(run.stdout.contains("shown only once"), "{run:#?}");
    assert!(run.stdout.contains("backend"), "{run:#?}");

    // A backend token is authenticated but not allowed here: 403 -> 4.
    let (_, backend_token) = deployment.create_client(&server, "backend", "backend");
    let run = deployment.online(&server, &["client", "list", "--token", &backend_token]);
    assert_eq!(run.code, 4, "{run:#?}");
    assert!(run.stderr.contains("(HTTP 403)"), "{run:#?}");
    assert!(!run.stderr.contains(&backend_token), "{run:#?}");
}

fn list_as_table_and_json(deployment: &Deployment) {
    deployment.init();
    let server = deployment.start();
    let (id, _) = deployment.create_client(&server, "hub one", "hub");

    let run = deployment.online(&server, &["client", "list"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{run:#?}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["ID", "NAME", "SCOPES", "CREATED", "STATUS"]);
    let row = lines.iter().find(|l| l.starts_with(&id)).unwrap();
    assert!(row.contains("hub one") && row.ends_with("active"), "{row}");
    // Columns are aligned: every row's status starts where the header's does.
    let status_at = lines[0].find("STATUS").unwrap();
    assert!(lines[1..].iter().all(|l| l.get(status_at..) == Some("active")), "{run:#?}");
    let created = row.split_whitespace().rev().nth(1).unwrap();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );

    let listed = deployment.online(&server, &["client", "list", "--json"]).ok().json();
    let clients = listed["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2);
    let hub = clients.iter().find(|c| c["id"] == id.as_str()).unwrap();
    assert_eq!(hub["name"], "hub one");
    assert_eq!(hub["scopes"], serde_json::json!(["hub"]));
    assert!(hub["revoked_at"].is_null());
}

fn revoke_then_token_refused(deployment: &Deployment) {
    deployment.init();
    let server = deployment.start();
    let (id, token) = deployment.create_client(&server, "doomed", "admin");

    // No terminal to ask on, no --yes: nothing happens.
    let run = deployment.online(&server, &["client", "revoke", &id]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("--yes"), "{run:#?}");
    deployment.online(&server, &["client", "list", "--token", &token]).ok();

    let run = deployment.online(&server, &["client", "revoke", &id, "--yes"]).ok();
    assert!(run.stdout.contains(&id), "{run:#?}");

    let run = deployment.online(&server, &["client", "list", "--token", &token]);
    assert_eq!(run.code, 4, "{run:#?}");
    assert!(run.stderr.starts_with("error: Authentication required: "), "{run:#?}");
    assert!(run.stderr.contains("(HTTP 401)"), "{run:#?}");
    assert!(!run.stderr.contains(&token) && !run.stdout.contains(&token), "{run:#?}");

    let listed = deployment.online(&server, &["client", "list", "--json"]).ok().json();
    let revoked = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap()
        .clone();
    let revoked_at = revoked["revoked_at"].as_str().unwrap_or_default();
    assert!(veil::core::clock::parse_rfc3339(revoked_at).is_some(), "RFC 3339: {revoked}");
    let table = deployment.online(&server, &["client", "list"]).ok();
    assert!(
        table.stdout.lines().any(|l| l.starts_with(&id) && l.ends_with("revoked")),
        "{table:#?}"
    );
}

fn revoke_unknown_id_is_refused(deployment: &Deployment) {
    deployment.init();
    let server = deployment.start();
    let run = deployment.online(&server, &["client", "revoke", "no-such-client", "--yes"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stderr.trim(), "error: Not found: no active client with this id (HTTP 404)");
}

fn init_twice_refuses(deployment: &Deployment) {
    let token = deployment.init();
    let run = deployment.veilctl(&["init"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("already holds keys"), "{run:#?}");
    let file = std::fs::read_to_string(deployment.keys_dir().join("admin-token")).unwrap();
    assert_eq!(file.trim(), token, "the first admin token must survive");
    deployment.veilctl(&["migrate"]).ok();

    // A fresh key directory against the same database would orphan every
    // pseudonym minted under the first CA: refused, and no keys are written.
    let other_keys = deployment.dir.path().join("other-keys");
    let output = deployment
        .command(VEILCTL)
        .env("VEIL_KEYS_DIR", &other_keys)
        .arg("init")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already has API clients"), "{stderr}");
    assert!(!other_keys.join("ca.key.pem").exists());
}

fn remedies_are_applied_listed_and_lifted(deployment: &Deployment) {
    deployment.init();
    let server = deployment.start();
    let (_, backend) = deployment.create_client(&server, "backend", "backend");
    let uri = mint_mallory(&server, &backend);

    let apply = [
        "remedy",
        "apply",
        "--pseudonym",
        &uri,
        "--action",
        "suspend",
        "--case-id",
        "CASE-1",
        "--reason",
        "spam",
    ];
    let run = deployment.online(&server, &apply);
    assert_eq!(run.code, 2, "a state change needs --yes without a terminal: {run:#?}");
    let run =
        deployment.online(&server, &[&apply[..], &["--duration", "7d", "--yes"]].concat()).ok();
    assert!(run.stdout.contains("1 pseudonym(s) affected"), "{run:#?}");
    assert!(!run.stdout.contains("mallory"), "never the account: {run:#?}");

    // Older remedies than one page holds (lifted: listed, never in force),
    // several of one second: `remedy list` follows the pages to the end.
    with_database(deployment, async |pool| {
        for i in 0..520_i64 {
            sqlx::query(
                "INSERT INTO remedies (id, action, case_id, reason, actor, created_at, \
                 expires_at, affected, lifted_at) VALUES ($1, 'mute', 'OLD', 'old', 'someone', \
                 $2, NULL, 1, $2)",
            )
            .bind(format!("old-{i:04}"))
            .bind(1_000_000 + i / 4)
            .execute(pool)
            .await
            .unwrap();
        }
    });
    let list = deployment.online(&server, &["remedy", "list", "--json"]).ok().json();
    let listed = list["remedies"].as_array().unwrap();
    assert_eq!(listed.len(), 521, "every page");
    let ids: std::collections::BTreeSet<&str> =
        listed.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 521, "no remedy twice");
    assert_eq!(list.as_object().unwrap().len(), 1, "one list, as a page without `next`: {list}");
    let remedy = &list["remedies"][0];
    assert_eq!(remedy["action"], "suspend");
    assert_eq!(remedy["case_id"], "CASE-1");
    assert_eq!(listed[520]["id"], "old-0003", "the oldest last, ties by id");
    let id = remedy["id"].as_str().unwrap().to_string();
    let table = deployment.online(&server, &["remedy", "list"]).ok();
    assert!(table.stdout.lines().any(|l| l.starts_with(&id) && l.contains("until")), "{table:#?}");

    deployment.online(&server, &["remedy", "lift", &id, "--reason", "appeal upheld", "--yes"]).ok();
    let table = deployment.online(&server, &["remedy", "list"]).ok();
    assert!(
        table.stdout.lines().any(|l| l.starts_with(&id) && l.ends_with("lifted")),
        "{table:#?}"
    );
    let run =
        deployment.online(&server, &["remedy", "lift", "no-such-remedy", "--reason", "x", "--yes"]);
    assert_eq!(run.code, 1, "{run:#?}");

    let adjust =
        ["reputation", "adjust", "--pseudonym", &uri, "--points=-30", "--case-id", "CASE-2"];
    let run =
        deployment.online(&server, &[&adjust[..], &["--reason", "spam", "--yes"]].concat()).ok();
    assert!(run.stdout.contains("Adjusted by -30 points"), "{run:#?}");

    // The operator sees the account's standing by pseudonym, never the account.
    let run =
        deployment.online(&server, &["account", "status", "--pseudonym", &uri, "--json"]).ok();
    assert_eq!(run.json()["status"], "active", "lifted: {run:#?}");
    assert!(
        run.json()["score"].as_i64().unwrap() < 100,
        "a remedy and -30 cost standing: {run:#?}"
    );
    let run = deployment.online(&server, &["account", "status", "--pseudonym", &uri]).ok();
    assert!(run.stdout.contains("reputation:") && !run.stdout.contains("mallory"), "{run:#?}");
    let unknown = "mimi://chat.example/p/AAAAAAAAAAAAAAAAAAAAAA";
    let run = deployment.online(&server, &["account", "status", "--pseudonym", unknown]);
    assert_eq!(run.code, 1, "{run:#?}");
}

fn sigterm_stops_veild_cleanly(deployment: &Deployment) {
    deployment.init();
    let mut server = deployment.start();
    let pid = server.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "veild did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

/// Two veild processes on one database and key directory, driven at once:
/// every mint and remedy lands, and the audit chain does not fork.
fn two_replicas_share_one_chain(deployment: &Deployment) {
    deployment.init();
    let servers = [deployment.start(), deployment.start()];
    let (_, backend) = deployment.create_client(&servers[0], "backend", "backend");
    const N: usize = 8;
    let uris: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (server, backend) = (&servers[i % 2], &backend);
                scope.spawn(move || {
                    let body =
                        serde_json::json!({"account": format!("acct-{i}"), "keys": [client_jwk()]});
                    let minted = post_json(server, backend, "/v1/pseudonyms", &body);
                    minted["pseudonyms"][0]["uri"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    std::thread::scope(|scope| {
        for (i, uri) in uris.iter().enumerate() {
            let server = &servers[i % 2];
            scope.spawn(move || {
                mute(deployment, server, uri, &format!("CASE-{i}"));
            });
        }
    });

    // init: key.generate + first operator + first admin; each start:
    // policy.load; the backend client; one entry per remedy. Exact, and
    // one unbroken chain.
    let expected = 3 + 2 + 1 + N as i64;
    for server in &servers {
        let run = deployment.online(server, &["audit", "verify", "--json"]).ok();
        assert_eq!(
            (run.json()["intact"].as_bool(), run.json()["entries"].as_i64()),
            (Some(true), Some(expected)),
            "{run:#?}"
        );
    }
    let list = deployment.online(&servers[1], &["remedy", "list", "--json"]).ok().json();
    let remedies = list["remedies"].as_array().unwrap();
    assert_eq!(remedies.len(), N);
    assert!(remedies.iter().all(|r| r["affected_pseudonyms"] == 1), "{list}");
}

/// A fresh P-256 public key as a JWK.
fn client_jwk() -> Value {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let key = veil::formats::keys::public_key::P256PublicKey::from_sec1(pair.public_key().as_ref())
        .unwrap();
    serde_json::to_value(key.to_jwk()).unwrap()
}

/// A minimal HTTP/1.1 JSON POST, for the calls veilctl has no command for.
/// The backend mints one pseudonym for mallory@example.com; its URI.
/// `veilctl remedy apply … --action mute` on `uri`, which must succeed.
fn mute(deployment: &Deployment, server: &Server, uri: &str, case: &str) {
    let apply = [
        "remedy",
        "apply",
        "--pseudonym",
        uri,
        "--action",
        "mute",
        "--case-id",
        case,
        "--reason",
        "spam",
        "--yes",
    ];
    deployment.online(server, &apply).ok();
}

fn mint_mallory(server: &Server, backend: &str) -> String {
    let body = serde_json::json!({"account": "mallory@example.com", "keys": [client_jwk()]});
    let minted = post_json(server, backend, "/v1/pseudonyms", &body);
    minted["pseudonyms"][0]["uri"].as_str().unwrap().to_string()
}

fn post_json(server: &Server, token: &str, path: &str, body: &Value) -> Value {
    let (status, body) = post(server, token, path, body);
    assert_eq!(status, 201, "{body}");
    body
}

/// (status, JSON body) of a POST.
fn post(server: &Server, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let head = format!(
        "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    exchange(server, token, &head, &body)
}

fn get_json(server: &Server, token: &str, path: &str) -> Value {
    let (status, body) = exchange(server, token, &format!("GET {path} HTTP/1.1\r\n"), "");
    assert_eq!(status, 200, "{body}");
    body
}

fn exchange(server: &Server, token: &str, head: &str, body: &str) -> (u16, Value) {
    let authority = server.url.trim_start_matches("http://");
    let request = format!(
        "{head}Host: {authority}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n{body}"
    );
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, payload) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(payload).unwrap_or(Value::Null))
}

/// `name_sqlite` and `name_postgres` tests running `scenario`.
fn audit_is_exported_and_verified(deployment: &Deployment) {
    deployment.init();
    let server = deployment.start();
    let (_, backend) = deployment.create_client(&server, "backend", "backend");
    let uri = mint_mallory(&server, &backend);
    for case in ["CASE-1", "CASE-2", "CASE-3"] {
        mute(deployment, &server, &uri, case);
    }

    let run = deployment.online(&server, &["audit", "verify", "--json"]).ok();
    assert_eq!(
        (run.json()["intact"].as_bool(), run.json()["entries"].as_i64()),
        (Some(true), Some(8)),
        "key generation, the first operator and admin (init), policy load (start), a client, \
         three remedies"
    );
    let run = deployment.online(&server, &["audit", "tail", "-n", "2"]).ok();
    assert!(run.stdout.contains("CASE-3") && !run.stdout.contains("CASE-1"), "{run:#?}");

    // An export verifies offline (key from the key directory); an edited one names the entry.
    let export = deployment.dir.path().join("audit.json");
    deployment.online(&server, &["audit", "export", "--out", export.to_str().unwrap()]).ok();
    deployment.veilctl(&["audit", "verify", "--file", export.to_str().unwrap()]).ok();
    let text = std::fs::read_to_string(&export).unwrap();
    let edited = export.with_file_name("edited.json");
    std::fs::write(&edited, text.replacen("CASE-2", "CASE-9", 1)).unwrap();
    let run = deployment.veilctl(&["audit", "verify", "--file", edited.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("entry 7 was altered"), "{run:#?}");

    // A checkpoint checked with another key is refused.
    let other = deployment.dir.path().join("other.jwk");
    let (signer, _) = veil::formats::keys::signer::Es256Signer::generate("other").unwrap();
    std::fs::write(&other, serde_json::to_string(&signer.public_key().to_jwk()).unwrap()).unwrap();
    let args = [
        "audit",
        "verify",
        "--file",
        export.to_str().unwrap(),
        "--audit-key",
        other.to_str().unwrap(),
    ];
    let run = deployment.veilctl(&args);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("checkpoint refused"), "{run:#?}");
}

/// Runs SQL against the deployment's database, as a database writer would.
fn with_database<T>(deployment: &Deployment, work: impl AsyncFnOnce(&sqlx::AnyPool) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&deployment.database_url).await.unwrap();
        let out = work(&pool).await;
        pool.close().await;
        out
    })
}

type Row = (i64, i64, String, String, String, Option<String>, String, Option<Vec<u8>>, Vec<u8>);

/// A database writer's rewrite of entry `seq`, re-hashed and re-chained to
/// the end (head row too): the chain holds again.
fn rewrite_and_rechain(deployment: &Deployment, seq: i64, reason: &str) {
    use veil::services::audit::chain::EntryFields;
    with_database(deployment, async |pool| {
        sqlx::query("UPDATE audit_events SET reason = $1 WHERE seq = $2")
            .bind(reason)
            .bind(seq)
            .execute(pool)
            .await
            .unwrap();
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, at, actor, action, subject, case_id, reason, sealed, prev_hash \
             FROM audit_events WHERE seq >= $1 ORDER BY seq",
        )
        .bind(seq)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut prev: [u8; 32] = rows[0].8.clone().try_into().unwrap();
        for (seq, at, actor, action, target, case_id, reason, sealed, _) in &rows {
            let fields = EntryFields {
                seq: *seq,
                at: *at,
                actor,
                action,
                target,
                case_id: case_id.as_deref(),
                justification: reason,
                sealed: sealed.as_deref(),
            };
            let hash = fields.hash(&prev);
            sqlx::query("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3")
                .bind(prev.to_vec())
                .bind(hash.to_vec())
                .bind(*seq)
                .execute(pool)
                .await
                .unwrap();
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(prev.to_vec())
            .execute(pool)
            .await
            .unwrap();
    });
}

/// Cuts the log after entry `keep`, head row reset to it.
fn truncate(deployment: &Deployment, keep: i64) {
    with_database(deployment, async |pool| {
        sqlx::query("DELETE FROM audit_events WHERE seq > $1")
            .bind(keep)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE audit_head SET seq = $1, \
             hash = (SELECT hash FROM audit_events WHERE seq = $1) WHERE id = 1",
        )
        .bind(keep)
        .execute(pool)
        .await
        .unwrap();
    });
}

/// Issue 12: `veilctl audit verify` pins the last checkpoint it verified
/// (a 0600 state file) and `veilctl audit witness` keeps checkpoints in a
/// directory; an edit re-chained to the end, a fork and a truncation done
/// in the database all pass a fresh verifier (the old design) and all fail
/// against the pin.
fn audit_pins_and_witnesses(deployment: &Deployment) {
    deployment.init();
    let server = deployment.start();
    let (_, backend) = deployment.create_client(&server, "backend", "backend");
    let uri = mint_mallory(&server, &backend);
    let remedy = |case: &str| mute(deployment, &server, &uri, case);
    remedy("CASE-1");
    remedy("CASE-2");
    let dir = deployment.dir.path();
    let witness_dir = dir.join("witness");
    let witness = witness_dir.to_str().unwrap();

    // The default state file, 0600; the witness keeps the checkpoint.
    let run = deployment.online(&server, &["audit", "verify", "--json"]).ok();
    assert_eq!(run.json()["checkpoint"], 7, "{run:#?}");
    let state = dir.join(".local/state/veil/audit-checkpoint");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&state).unwrap().starts_with("chat.example/veil/audit\n7\n"));
    deployment.online(&server, &["audit", "witness", witness]).ok();
    assert!(witness_dir.join("7.checkpoint").exists());
    // An honest append: consistent with both.
    remedy("CASE-3");
    let run = deployment.online(&server, &["audit", "verify", "--json"]).ok();
    assert_eq!(
        (run.json()["checkpoint"].as_u64(), run.json()["pinned_before"].as_u64()),
        (Some(8), Some(7))
    );
    deployment.online(&server, &["audit", "witness", witness]).ok();

    // An edit re-chained to the end: a fresh verifier (and so the old
    // design) accepts it; the pinned one and the witness do not.
    rewrite_and_rechain(deployment, 7, "nothing to see");
    let fresh = dir.join("fresh-state");
    let fresh_state = ["audit", "verify", "--state", fresh.to_str().unwrap()];
    deployment.online(&server, &fresh_state).ok();
    let run = deployment.online(&server, &["audit", "verify"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("rewritten or forked"), "{run:#?}");
    let run = deployment.online(&server, &["audit", "witness", witness]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("rewritten or forked"), "{run:#?}");
    // Once more entries follow, the consistency proof is what fails.
    remedy("CASE-4");
    let run = deployment.online(&server, &["audit", "verify"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("does not extend the checkpoint verified earlier at 8"),
        "{run:#?}"
    );
    let run = deployment.online(&server, &["audit", "witness", witness]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(!witness_dir.join("9.checkpoint").exists(), "a refused checkpoint is not kept");

    // A truncation (head row reset): a fresh verifier of the cut log
    // passes; the verifier that pinned the longer log fails.
    deployment.online(&server, &fresh_state).ok();
    truncate(deployment, 6);
    deployment.online(&server, &["audit", "verify", "--state", "cut-state"]).ok();
    let run = deployment.online(&server, &fresh_state);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("the log was truncated"), "{run:#?}");
}

fn break_glass_via_cli(deployment: &Deployment) {
    deployment.init();
    // The ceremony happens off the host: the key is sealed elsewhere and
    // removed from the key directory before veild starts.
    let key = deployment.keys_dir().join("break-glass.key");
    let key_text = std::fs::read_to_string(&key).unwrap();
    let offline = deployment.dir.path().join("offline");
    std::fs::create_dir(&offline).unwrap();
    let sealed = offline.join("break-glass.key");
    let passphrase = offline.join("passphrase");
    std::fs::write(&passphrase, "custodian words\n").unwrap();
    let wrong = offline.join("wrong");
    std::fs::write(&wrong, "guessed words\n").unwrap();
    let seal = [
        "break-glass",
        "seal-key",
        "--key",
        key.to_str().unwrap(),
        "--passphrase-file",
        passphrase.to_str().unwrap(),
        "--out",
        sealed.to_str().unwrap(),
    ];
    deployment.veilctl(&seal).ok();
    std::fs::remove_file(&key).unwrap();

    let server = deployment.start();
    // The second approver must be another person: an operator added on the host.
    let second = deployment.second_person(&server, "second person");
    let (_, own_second) = deployment.create_client(&server, "my second token", "admin");
    let (_, backend) = deployment.create_client(&server, "backend", "backend");
    let uri = mint_mallory(&server, &backend);
    let request = [
        "break-glass",
        "request",
        "--pseudonym",
        &uri,
        "--reason-code",
        "imminent-harm",
        "--case-id",
        "CASE-5",
        "--justification",
        "threat to life",
    ];
    let run = deployment.online(&server, &request);
    assert_eq!(run.code, 2, "acting needs --yes without a terminal: {run:#?}");
    let id = |run: Run| run.json()["request_id"].as_str().unwrap().to_string();
    let first = id(deployment.online(&server, &[&request[..], &["--yes", "--json"]].concat()).ok());
    let run = deployment.online(&server, &["break-glass", "approve", &first, "--yes"]);
    assert_eq!(run.code, 4, "self-approval is refused: {run:#?}");
    let own = ["break-glass", "approve", &first, "--yes", "--token", &own_second];
    let run = deployment.online(&server, &own);
    assert_eq!(run.code, 4, "so is the requester's own second token: {run:#?}");
    let approve = ["break-glass", "approve", &first, "--yes", "--token", &second];
    let run = deployment.online(&server, &approve).ok();
    assert!(run.stdout.contains("is approved"), "{run:#?}");
    let run = deployment.online(&server, &["break-glass", "list", "--status", "approved"]).ok();
    assert!(run.stdout.contains(&first) && !run.stdout.contains("mallory"), "{run:#?}");

    // The key is opened here before the server is asked: a missing or
    // wrong passphrase does not use the request up.
    let reveal = |extra: &[&str]| {
        let mut args = vec!["break-glass", "reveal", first.as_str(), "--yes", "--json"];
        args.extend_from_slice(&["--key", sealed.to_str().unwrap()]);
        args.extend_from_slice(extra);
        deployment.online(&server, &args)
    };
    let run = deployment.online(&server, &["break-glass", "reveal", &first, "--yes"]);
    assert_eq!(run.code, 2, "a reveal names its custody: {run:#?}");
    let run = reveal(&[]);
    assert!(run.code == 1 && run.stderr.contains("passphrase"), "{run:#?}");
    let run = reveal(&["--passphrase-file", wrong.to_str().unwrap()]);
    assert!(run.code == 1 && run.stderr.contains("wrong passphrase"), "{run:#?}");
    let run = reveal(&["--passphrase-file", passphrase.to_str().unwrap()]).ok();
    assert_eq!(run.json()["account"], "mallory@example.com");
    let run = reveal(&["--passphrase-file", passphrase.to_str().unwrap()]);
    assert_eq!(run.code, 1, "a second reveal is refused: {run:#?}");

    let deny = ["break-glass", "deny", "--reason", "no basis", "--yes"];
    let other = id(deployment.online(&server, &[&request[..], &["--yes", "--json"]].concat()).ok());
    let run =
        deployment.online(&server, &[&deny[..2], &[other.as_str()], &deny[2..]].concat()).ok();
    assert!(run.stdout.contains("is denied"), "{run:#?}");
    deployment.online(&server, &["audit", "verify"]).ok();
    drop(server);
    assert_no_secret(deployment, &["custodian words", "guessed words", key_text.trim()]);
}

/// Neither the database nor veild's log holds any of `secrets` (as text,
/// or as hex in the dump).
fn assert_no_secret(deployment: &Deployment, secrets: &[&str]) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dump = runtime.block_on(async {
        let store = veil::store::Store::connect(&deployment.database_url, 1).await.unwrap();
        let dump = store.dump_all_tables().await.unwrap();
        store.close().await;
        dump.to_lowercase()
    });
    let logs: String = std::fs::read_dir(deployment.dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(!logs.is_empty(), "veild's log was read");
    for secret in secrets {
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(!dump.contains(&secret.to_lowercase()) && !dump.contains(&hex), "{secret} stored");
        assert!(!logs.contains(secret), "{secret} logged");
    }
}

/// A key ceremony's outputs: custodians.json and (share, passphrase) files.
struct Ceremony {
    custodians: String,
    shares: Vec<(String, String)>,
    passphrases: Vec<String>,
}

impl Ceremony {
    fn at(dir: &Path, prefix: &str) -> Self {
        let passphrases: Vec<String> = (1..=3).map(|i| format!("words of {prefix} {i}")).collect();
        let shares = (1..=3)
            .map(|i| {
                let pass = dir.join(format!("{prefix}-{i}.pass"));
                std::fs::write(&pass, format!("{}\n", passphrases[i - 1])).unwrap();
                let share = dir.join("shares").join(format!("share-{i}.json"));
                (share.to_str().unwrap().to_string(), pass.to_str().unwrap().to_string())
            })
            .collect();
        let custodians = dir.join("shares/custodians.json").to_str().unwrap().to_string();
        Self { custodians, shares, passphrases }
    }

    /// The opened share scalars (base64), to look for where they must not be.
    fn scalars(&self) -> Vec<String> {
        let record = std::fs::read_to_string(&self.custodians).unwrap();
        let record = veil::services::breakglass::shares::CustodianRecord::parse(&record).unwrap();
        self.shares
            .iter()
            .zip(&self.passphrases)
            .map(|((share, _), words)| {
                let text = std::fs::read_to_string(share).unwrap();
                let file = veil::services::breakglass::shares::ShareFile::parse(&text).unwrap();
                let opened = file.open(words, &record).unwrap();
                serde_json::to_value(&opened).unwrap()["scalar"].as_str().unwrap().to_string()
            })
            .collect()
    }
}

/// A request of `deployment`'s first admin with a fresh reveal key,
/// approved by `approvers` (legal-order needs two): (id, reveal key path,
/// its fingerprint).
fn custodian_request(
    deployment: &Deployment,
    server: &Server,
    uri: &str,
    case: &str,
    approvers: [&str; 2],
) -> (String, String, String) {
    let reveal_key = deployment.dir.path().join(format!("reveal-{case}.key"));
    let request = [
        "break-glass",
        "request",
        "--pseudonym",
        uri,
        "--reason-code",
        "legal-order",
        "--case-id",
        case,
        "--justification",
        "order",
        "--reveal-key",
        reveal_key.to_str().unwrap(),
        "--yes",
    ];
    let run = deployment.online(server, &request).ok();
    let id = run.stdout.split_whitespace().nth(2).unwrap().to_string();
    let fingerprint = run.stdout.split("fingerprint ").nth(1).unwrap()[..32].to_string();
    let mode = std::fs::metadata(&reveal_key).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    for token in approvers {
        let approve = ["break-glass", "approve", &id, "--yes", "--token", token];
        deployment.online(server, &approve).ok();
    }
    (id, reveal_key.to_str().unwrap().to_string(), fingerprint)
}

/// Starts veild with two more operators (their admin tokens) and one
/// pseudonym of mallory's: (server, second, third, pseudonym URI).
fn two_approvers_and_a_pseudonym(deployment: &Deployment) -> (Server, String, String, String) {
    let server = deployment.start();
    let second = deployment.second_person(&server, "second");
    let third = deployment.second_person(&server, "third");
    let (_, backend) = deployment.create_client(&server, "backend", "backend");
    let uri = mint_mallory(&server, &backend);
    (server, second, third, uri)
}

/// Custodian `i` (1-based) of `ceremony` sends its partial as `token`.
fn send_partial(
    deployment: &Deployment,
    server: &Server,
    ceremony: &Ceremony,
    (id, fingerprint): (&str, &str),
    i: usize,
    token: &str,
) -> Run {
    let (share, pass) = &ceremony.shares[i - 1];
    let args = [
        "break-glass",
        "partial",
        id,
        "--share",
        share,
        "--passphrase-file",
        pass,
        "--custodians",
        &ceremony.custodians,
        "--reveal-key-fingerprint",
        fingerprint,
        "--yes",
        "--token",
        token,
    ];
    deployment.online(server, &args)
}

fn reveal_with_partials(
    deployment: &Deployment,
    server: &Server,
    ceremony: &Ceremony,
    id: &str,
    reveal_key: &str,
) -> Run {
    let args = [
        "break-glass",
        "reveal",
        id,
        "--custodians",
        &ceremony.custodians,
        "--reveal-key",
        reveal_key,
        "--yes",
        "--json",
    ];
    deployment.online(server, &args)
}

/// Custodian custody through the real binaries: `split` makes shares and
/// custodians.json, custodians send partials sealed to the requester, the
/// requester's veilctl opens the link. `k − 1` partials are not enough, a
/// wrong reveal key is not served, a forged partial is named, and the
/// database and log never see a share or passphrase.
fn custodian_shares_via_cli(deployment: &Deployment) {
    deployment.init();
    let dir = deployment.dir.path();
    let key = deployment.keys_dir().join("break-glass.key");
    let key_text = std::fs::read_to_string(&key).unwrap();
    let ceremony = Ceremony::at(dir, "custodian");
    let mut split =
        vec!["break-glass", "split", "--key", key.to_str().unwrap(), "--threshold", "2"];
    for (_, p) in &ceremony.shares {
        split.extend_from_slice(&["--passphrase-file", p]);
    }
    let out_dir = dir.join("shares");
    split.extend_from_slice(&["--out-dir", out_dir.to_str().unwrap()]);
    // Under the usual umask (022) std::fs::write would leave share files
    // readable by everyone: they must be 0600.
    let run = deployment.veilctl(&split).ok();
    assert!(run.stdout.contains("custodians.json"), "{run:#?}");
    for (share, _) in &ceremony.shares {
        let mode = std::fs::metadata(share).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600, "{share}");
    }
    std::fs::remove_file(&key).unwrap();

    let (server, second, third, uri) = two_approvers_and_a_pseudonym(deployment);

    // A forged partial: custodian 2's share, sent as custodian 3's.
    let (id, reveal_key, fp) =
        custodian_request(deployment, &server, &uri, "CASE-7", [&second, &third]);
    let run = reveal_with_partials(deployment, &server, &ceremony, &id, &reveal_key);
    assert!(run.code == 1 && run.stderr.contains("0 of 2"), "nothing relayed yet: {run:#?}");
    let run = send_partial(
        deployment,
        &server,
        &ceremony,
        (&id, "00ff00ff00ff00ff00ff00ff00ff00ff"),
        1,
        &second,
    );
    assert!(run.code == 1 && run.stderr.contains("fingerprint"), "{run:#?}");
    send_partial(deployment, &server, &ceremony, (&id, &fp), 1, &second).ok();
    let run = reveal_with_partials(deployment, &server, &ceremony, &id, &reveal_key);
    assert!(run.code == 1 && run.stderr.contains("1 of 2"), "k - 1 partials: {run:#?}");
    forge_partial(&server, &ceremony, &id, &reveal_key, &third);
    let run = reveal_with_partials(deployment, &server, &ceremony, &id, &reveal_key);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("custodian 3") && run.stderr.contains("does not verify"),
        "{run:#?}"
    );

    // An honest run: custodians 1 and 3.
    let (id, reveal_key, fp) =
        custodian_request(deployment, &server, &uri, "CASE-8", [&second, &third]);
    send_partial(deployment, &server, &ceremony, (&id, &fp), 3, &third).ok();
    send_partial(deployment, &server, &ceremony, (&id, &fp), 1, &second).ok();
    let run = reveal_with_partials(deployment, &server, &ceremony, &id, &reveal_key).ok();
    assert_eq!(run.json()["account"], "mallory@example.com");
    deployment.online(&server, &["audit", "verify"]).ok();
    drop(server);
    let mut secrets: Vec<String> = ceremony.passphrases.clone();
    secrets.extend(ceremony.scalars());
    secrets.push(key_text.trim().to_string());
    assert_no_secret(deployment, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

/// What a custodian who lies would send: a valid-looking partial from
/// another custodian's share, sealed to the requester under its own index.
fn forge_partial(server: &Server, ceremony: &Ceremony, id: &str, reveal_key: &str, token: &str) {
    use base64ct::{Base64, Encoding};
    use veil::formats::threshold::{
        self, CustodianIndex, Encapsulated, KemPublicKey, KemSecretKey,
    };
    let input = get_json(server, token, &format!("/v1/admin/break-glass/{id}/partial-input"));
    let b = |f: &str| Base64::decode_vec(input[f].as_str().unwrap()).unwrap();
    let record = std::fs::read_to_string(&ceremony.custodians).unwrap();
    let record = veil::services::breakglass::shares::CustodianRecord::parse(&record).unwrap();
    let text = std::fs::read_to_string(&ceremony.shares[1].0).unwrap();
    let share = veil::services::breakglass::shares::ShareFile::parse(&text)
        .unwrap()
        .open(&ceremony.passphrases[1], &record)
        .unwrap();
    let enc = Encapsulated::from_bytes(&b("enc")).unwrap();
    let sender = KemPublicKey::from_bytes(&b("sender_key")).unwrap();
    let mut partial = threshold::partial(&share, &enc, &sender).unwrap();
    partial.index = CustodianIndex::new(3).unwrap();
    let raw = std::fs::read_to_string(reveal_key).unwrap();
    let reveal = KemSecretKey::from_bytes(&Base64::decode_vec(raw.trim()).unwrap()).unwrap();
    let sealed =
        veil::formats::glass_link::seal_partial(&reveal.public_key(), id, &partial).unwrap();
    let body = serde_json::json!({"custodian": 3, "sealed": Base64::encode_string(&sealed)});
    let (status, body) =
        post(server, token, &format!("/v1/admin/break-glass/{id}/partials"), &body);
    assert_eq!(status, 200, "{body}");
}

fn init_with_custodians(deployment: &Deployment) {
    let dir = deployment.dir.path();
    let ceremony = Ceremony::at(dir, "c");
    let shares = dir.join("shares");
    let init = |threshold: &str| {
        let mut args = vec![
            "init",
            "--json",
            "--custodians",
            "3",
            "--threshold",
            threshold,
            "--shares-dir",
            shares.to_str().unwrap(),
        ];
        for (_, p) in &ceremony.shares {
            args.extend_from_slice(&["--passphrase-file", p]);
        }
        deployment.veilctl(&args)
    };
    let run = init("1");
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(!deployment.keys_dir().exists(), "a refused split writes nothing");
    let run = init("2").ok();
    assert_eq!(run.json()["shares"]["threshold"], 2, "{run:#?}");
    assert!(!deployment.keys_dir().join("break-glass.key").exists());
    assert!(shares.join("share-3.json").exists() && shares.join("custodians.json").exists());

    let (server, second, third, uri) = two_approvers_and_a_pseudonym(deployment);
    let (id, reveal_key, fp) =
        custodian_request(deployment, &server, &uri, "CASE-9", [&second, &third]);
    send_partial(deployment, &server, &ceremony, (&id, &fp), 2, &second).ok();
    send_partial(deployment, &server, &ceremony, (&id, &fp), 3, &third).ok();
    let run = reveal_with_partials(deployment, &server, &ceremony, &id, &reveal_key).ok();
    assert_eq!(run.json()["account"], "mallory@example.com");
}

fn keys_are_listed_and_rotated(deployment: &Deployment) {
    deployment.init();
    let before = deployment.veilctl(&["keys", "list", "--json"]).ok().json();
    let kid = |listing: &Value, kind: &str| -> Value {
        listing["keys"].as_array().unwrap().iter().find(|k| k["kind"] == kind).unwrap().clone()
    };
    let old = kid(&before, "sd-jwt");
    assert_eq!(old["retired"], serde_json::json!([]));
    let rotated = deployment.veilctl(&["keys", "rotate", "--kind", "sd-jwt", "--json"]).ok().json();
    assert_eq!(rotated["old_kid"], old["kid"]);
    assert_eq!(rotated["restart_required"], true);
    assert!(deployment.keys_dir().join("sd-jwt.1.key.der").exists());
    let after = deployment.veilctl(&["keys", "list", "--json"]).ok().json();
    let new = kid(&after, "sd-jwt");
    assert_eq!(new["kid"], rotated["new_kid"]);
    assert_eq!(new["retired"][0]["kid"], old["kid"]);
    assert_eq!(kid(&after, "ca"), kid(&before, "ca"), "other kinds are untouched");
    let run = deployment.veilctl(&["keys", "rotate", "--kind", "nope"]);
    assert_eq!(run.code, 2, "{run:#?}");
    // A restarted veild signs with the new key and still publishes the old.
    let server = deployment.start();
    let authority = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority).unwrap();
    let request = format!(
        "GET /.well-known/jwks.json HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, payload) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    let jwks: Value = serde_json::from_str(payload).unwrap();
    let kids: Vec<&Value> = jwks["keys"].as_array().unwrap().iter().map(|k| &k["kid"]).collect();
    assert_eq!(kids, [&rotated["new_kid"], &old["kid"]]);
}

/// Waits until `check` holds (after a signal the server handles in its
/// own time), panicking with `what` after a generous bound.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(server: &Server, name: &str) {
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args([name, &pid]).status().unwrap().success());
}

/// veild over HTTPS with a private CA: `veilctl --ca-file` trusts it and
/// nothing else does; SIGHUP swaps in a renewed certificate and keeps it
/// when the next file is broken.
fn https_end_to_end(deployment: &Deployment) {
    deployment.init();
    let dir = deployment.dir.path();
    let ca = TestCa::new("veil test CA").unwrap();
    let ca_file = ca.write_ca(&dir.join("ca.pem")).unwrap();
    let live = ca.server(dir, "veild").unwrap();
    let (server, log) = deployment.start_https(&[
        ("VEIL_TLS_CERT_FILE", live.cert.as_path()),
        ("VEIL_TLS_KEY_FILE", live.key.as_path()),
    ]);
    let trusting = |ca: &Path, args: &[&str]| {
        let mut all = vec!["--ca-file", ca.to_str().unwrap()];
        all.extend_from_slice(args);
        deployment.online(&server, &all)
    };
    let with_ca = |args: &[&str]| trusting(ca_file.as_path(), args);
    let clients = with_ca(&["client", "list", "--json"]).ok().json();
    assert!(!clients["clients"].as_array().unwrap().is_empty());
    // The system's roots do not know the private CA.
    let run = deployment.online(&server, &["client", "list"]);
    assert_eq!(run.code, 3, "{run:#?}");
    // Plain HTTP to the HTTPS port gets no answer.
    let port = server.url.rsplit(':').next().unwrap();
    let run = deployment.veilctl(&["--url", &format!("http://127.0.0.1:{port}"), "client", "list"]);
    assert_eq!(run.code, 3, "{run:#?}");

    // Renewal under another CA, then SIGHUP.
    let new_ca = TestCa::new("renewed CA").unwrap();
    let new_ca_file = new_ca.write_ca(&dir.join("new-ca.pem")).unwrap();
    let renewed = new_ca.server(dir, "renewed").unwrap();
    std::fs::copy(&renewed.cert, &live.cert).unwrap();
    std::fs::copy(&renewed.key, &live.key).unwrap();
    signal(&server, "-HUP");
    let with_new_ca = |args: &[&str]| trusting(new_ca_file.as_path(), args);
    eventually("SIGHUP did not swap the certificate", || {
        with_new_ca(&["client", "list"]).code == 0
    });
    assert_eq!(with_ca(&["client", "list"]).code, 3);

    // A broken certificate file: the renewed certificate stays in force.
    std::fs::write(&live.cert, "-----BEGIN CERTIFICATE-----\nbroken").unwrap();
    signal(&server, "-HUP");
    eventually("a failed reload was not logged", || {
        std::fs::read_to_string(&log).unwrap().contains("not reloaded")
    });
    with_new_ca(&["client", "list"]).ok();
}

/// With `tls_client_ca_file`, a client without a certificate from that CA
/// is refused at the handshake; `--client-cert`/`--client-key` get in.
fn mutual_tls(deployment: &Deployment) {
    deployment.init();
    let dir = deployment.dir.path();
    let ca = TestCa::new("veil test CA").unwrap();
    let ca_file = ca.write_ca(&dir.join("ca.pem")).unwrap();
    let hubs = TestCa::new("hub CA").unwrap();
    let hubs_file = hubs.write_ca(&dir.join("hubs.pem")).unwrap();
    let cert = ca.server(dir, "veild").unwrap();
    let (server, _) = deployment.start_https(&[
        ("VEIL_TLS_CERT_FILE", cert.cert.as_path()),
        ("VEIL_TLS_KEY_FILE", cert.key.as_path()),
        ("VEIL_TLS_CLIENT_CA_FILE", hubs_file.as_path()),
    ]);
    let ca_arg = ca_file.to_str().unwrap();
    let run = deployment.online(&server, &["--ca-file", ca_arg, "client", "list"]);
    assert_eq!(run.code, 3, "{run:#?}");
    let outsider = ca.client(dir, "outsider").unwrap();
    let (cert_arg, key_arg) = (outsider.cert.to_str().unwrap(), outsider.key.to_str().unwrap());
    let args = ["--ca-file", ca_arg, "--client-cert", cert_arg, "--client-key", key_arg];
    let run = deployment.online(&server, &[&args[..], &["client", "list"]].concat());
    assert_eq!(run.code, 3, "{run:#?}");
    let hub = hubs.client(dir, "hub").unwrap();
    let (cert_arg, key_arg) = (hub.cert.to_str().unwrap(), hub.key.to_str().unwrap());
    let args = ["--ca-file", ca_arg, "--client-cert", cert_arg, "--client-key", key_arg];
    deployment.online(&server, &[&args[..], &["client", "list"]].concat()).ok();
}

macro_rules! on_both_backends {
    ($($scenario:ident => $sqlite:ident, $postgres:ident;)*) => {$(
        #[test]
        fn $sqlite() {
            $scenario(&Deployment::sqlite());
        }

        #[test]
        #[ignore = "needs VEIL_TEST_POSTGRES_URL (cargo test -- --ignored postgres)"]
        fn $postgres() {
            $scenario(&Deployment::postgres());
        }
    )*};
}

on_both_backends! {
    init_then_create_client => init_then_create_client_sqlite, init_then_create_client_postgres;
    list_as_table_and_json => list_as_table_and_json_sqlite, list_as_table_and_json_postgres;
    revoke_then_token_refused => revoke_then_token_refused_sqlite, revoke_then_token_refused_postgres;
    revoke_unknown_id_is_refused => revoke_unknown_id_is_refused_sqlite, revoke_unknown_id_is_refused_postgres;
    init_twice_refuses => init_twice_refuses_sqlite, init_twice_refuses_postgres;
    remedies_are_applied_listed_and_lifted => remedies_sqlite, remedies_postgres;
    sigterm_stops_veild_cleanly => sigterm_sqlite, sigterm_postgres;
    audit_is_exported_and_verified => audit_sqlite, audit_postgres;
    break_glass_via_cli => break_glass_sqlite, break_glass_postgres;
    custodian_shares_via_cli => custodians_sqlite, custodians_postgres;
    init_with_custodians => init_custodians_sqlite, init_custodians_postgres;
    keys_are_listed_and_rotated => keys_rotate_sqlite, keys_rotate_postgres;
    two_replicas_share_one_chain => replicas_sqlite, replicas_postgres;
    audit_pins_and_witnesses => audit_pins_sqlite, audit_pins_postgres;
    https_end_to_end => https_sqlite, https_postgres;
    mutual_tls => mutual_tls_sqlite, mutual_tls_postgres;
}

/// The token must not cross a network in clear by accident: http:// is
/// for this machine only, unless `--insecure` says otherwise.
#[test]
fn plain_http_only_to_loopback_unless_insecure() {
    let deployment = Deployment::sqlite();
    let remote = ["client", "list", "--token", "veil_x", "--url", "http://example.com"];
    let run = deployment.veilctl(&remote);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("refusing plain http:// to example.com"), "{run:#?}");
    assert!(run.stderr.contains("--insecure"), "{run:#?}");
    let insecure = ["client", "list", "--token", "veil_x", "--url", "http://veil.invalid:9"];
    let run = deployment.veilctl(&[&insecure[..], &["--insecure"]].concat());
    assert_eq!(run.code, 3, "--insecure goes ahead and fails to connect: {run:#?}");
    assert!(run.stderr.contains("warning: --insecure"), "{run:#?}");
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        let url = format!("http://{host}:{}", free_port());
        let run = deployment.veilctl(&["client", "list", "--token", "veil_x", "--url", &url]);
        assert_eq!(run.code, 3, "loopback is not refused: {run:#?}");
    }
}

#[test]
fn unreachable_server_exits_3() {
    let deployment = Deployment::sqlite();
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = deployment.veilctl(&["client", "list", "--url", &url, "--token", "veil_x"]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.starts_with("error: cannot reach veil at "), "{run:#?}");
}

#[test]
fn missing_token_is_a_usage_error() {
    let deployment = Deployment::sqlite();
    let run = deployment.veilctl(&["client", "list"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("no admin token"), "{run:#?}");
}

#[test]
fn help_documents_exit_codes_and_examples() {
    let deployment = Deployment::sqlite();
    let run = deployment.veilctl(&["--help"]).ok();
    assert!(
        run.stdout.contains("Exit codes:") && run.stdout.contains("3  cannot reach the server")
    );
    for flag in ["--ca-file", "--client-cert", "--client-key", "--insecure"] {
        assert!(run.stdout.contains(flag), "--help lacks {flag}");
    }
    for command in [
        &["client", "create"][..],
        &["client", "list"],
        &["client", "revoke"],
        &["init"],
        &["migrate"],
        &["break-glass", "request"],
        &["break-glass", "approve"],
        &["break-glass", "partial"],
        &["break-glass", "reveal"],
        &["break-glass", "keygen"],
        &["break-glass", "split"],
        &["break-glass", "combine"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let run = deployment.veilctl(&args).ok();
        assert!(run.stdout.contains("Example"), "{run:#?}");
    }
}

#[test]
fn policy_check_accepts_shipped_policies_and_names_the_bad_field() {
    let deployment = Deployment::sqlite();
    let rooms = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/rooms");
    for name in ["open", "adults-only", "verified-staff"] {
        let file = format!("{rooms}/{name}.toml");
        let run = deployment.veilctl(&["policy", "check", &file, "--json"]).ok();
        assert_eq!(run.json()["name"], name, "{run:#?}");
        assert_eq!(run.json()["valid"], true, "{run:#?}");
    }
    let bad = deployment.dir.path().join("bad.toml");
    std::fs::write(&bad, "[claims]\nrequired = [\"age_over_18\", \"shoe_size\"]\n").unwrap();
    let run = deployment.veilctl(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stderr.contains("bad.toml") && run.stderr.contains("claims.required[1]"),
        "{run:#?}"
    );
    let run = deployment.veilctl(&["policy", "check", "--help"]).ok();
    assert!(run.stdout.contains("Examples:"), "{run:#?}");

    // The issuance policy goes through the same validation veild runs.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/issuance.toml");
    let run = deployment.veilctl(&["policy", "check", shipped, "--json"]).ok();
    assert_eq!(run.json()["kind"], "issuance", "{run:#?}");
    assert_eq!(run.json()["policy"]["account"]["pseudonyms_per_hour"], 20, "{run:#?}");
    let bad = deployment.dir.path().join("issuance.toml");
    std::fs::write(&bad, "[account]\npseudonyms_per_hour = \"many\"\n").unwrap();
    let run = deployment.veilctl(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("pseudonyms_per_hour"), "{run:#?}");
}
