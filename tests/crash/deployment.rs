//! One deployment for the crash test: a directory with its key directory,
//! policies and (on SQLite) database file, or a fresh PostgreSQL schema;
//! the real `veild` started on it, killed and started again. The way
//! `tests/veilctl.rs` runs the binaries, with the policies this test needs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

const VEILCTL: &str = env!("CARGO_BIN_EXE_veilctl");
const VEILD: &str = env!("CARGO_BIN_EXE_veild");

/// Which database the deployment uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct Deployment {
    pub dir: TempDir,
    pub database_url: String,
    /// PostgreSQL: (server URL, schema) to drop at the end.
    schema: Option<(String, String)>,
    /// Starts so far: each one logs to its own file.
    starts: AtomicUsize,
}

/// What a `veilctl` run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "veilctl failed: {}\n{}", self.stderr, self.stdout);
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }
}

impl Deployment {
    /// A deployment on `db` whose issuance policy is `issuance` (the text
    /// of `issuance.toml`; the repository's other policies beside it).
    /// PostgreSQL needs `VEIL_TEST_POSTGRES_URL`: without it the test fails,
    /// it never passes without having touched the database.
    pub fn new(db: Db, issuance: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, schema) = match db {
            Db::Sqlite => (format!("sqlite://{}", dir.path().join("veil.db").display()), None),
            Db::Postgres => {
                let server = std::env::var("VEIL_TEST_POSTGRES_URL")
                    .expect("a PostgreSQL test runs only with VEIL_TEST_POSTGRES_URL set");
                let schema = format!("veil_t_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
                psql(&server, &format!("CREATE SCHEMA {schema}"));
                let separator = if server.contains('?') { '&' } else { '?' };
                let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
                (url, Some((server, schema)))
            }
        };
        let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/policies"));
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(policies.join("rooms")).unwrap();
        for entry in std::fs::read_dir(repo.join("rooms")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, policies.join("rooms").join(path.file_name().unwrap())).unwrap();
        }
        std::fs::copy(repo.join("break-glass.toml"), policies.join("break-glass.toml")).unwrap();
        std::fs::write(policies.join("issuance.toml"), issuance).unwrap();
        Self { dir, database_url, schema, starts: AtomicUsize::new(0) }
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
            .env("VEIL_POLICIES_DIR", self.dir.path().join("policies"))
            .env("VEIL_DOMAIN", "chat.example")
            .env("HOME", self.dir.path())
            .env_remove("XDG_STATE_HOME");
        command
    }

    pub fn veilctl(&self, args: &[&str]) -> Run {
        let output = self.command(VEILCTL).args(args).stdin(Stdio::null()).output().unwrap();
        Run {
            code: output.status.code().expect("veilctl was killed by a signal"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// `veilctl init`: keys and the first admin token, which it returns.
    pub fn init(&self) -> String {
        let run = self.veilctl(&["init", "--json"]).ok();
        run.json()["admin_token"].as_str().unwrap().to_string()
    }

    /// `veilctl audit verify` against `server`, pinning its checkpoint in
    /// one state file for the whole test: a later run must prove the log it
    /// sees extends the one verified after the previous restart.
    pub fn audit_verify(&self, server: &Server) -> Value {
        let state = self.dir.path().join("audit-checkpoint");
        let url = format!("http://{}", server.addr);
        let args = [
            "--url",
            url.as_str(),
            "audit",
            "verify",
            "--json",
            "--state",
            state.to_str().unwrap(),
        ];
        let run = self.veilctl(&args);
        assert_eq!(run.code, 0, "audit verify failed after a restart: {run:#?}");
        let verdict = run.json();
        assert_eq!(verdict["intact"], true, "{run:#?}");
        verdict
    }

    /// Starts `veild` (a checkpoint is signed and stored every second, so
    /// that happens under the kills too) and waits until `/healthz` answers.
    pub fn start(&self) -> Server {
        let n = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        let port = free_port();
        let log = self.dir.path().join(format!("veild-{n}.log"));
        let child = self
            .command(VEILD)
            .env("VEIL_LISTEN", format!("127.0.0.1:{port}"))
            .env("VEIL_LOG", "warn")
            .env("VEIL_AUDIT_CHECKPOINT_SECS", "1")
            .env("VEIL_DB_MAX_CONNECTIONS", "8")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Server { child, addr: format!("127.0.0.1:{port}"), log };
        server.wait_healthy(port);
        server
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
pub struct Server {
    child: Child,
    /// host:port
    pub addr: String,
    log: PathBuf,
}

impl Server {
    /// Deletions this start finished for a process killed before it could
    /// (veild logs `finished=N` when it resumes any).
    pub fn deletions_resumed(&self) -> usize {
        read_log(&self.log)
            .lines()
            .filter(|line| line.contains("finished deletions left pending"))
            .filter_map(|line| {
                let (_, rest) = line.split_once("finished=")?;
                rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok()
            })
            .sum()
    }

    fn wait_healthy(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("veild exited with {status}: {}", read_log(&self.log));
            }
            if healthz(port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("veild did not become healthy: {}", read_log(&self.log));
    }

    /// SIGKILL: no shutdown, no flush, no answer to anything in flight.
    pub fn sigkill(mut self) -> ExitStatus {
        self.child.kill().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
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
