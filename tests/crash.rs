//! Crash safety (issue 16): the real `veild`, under mint, remedy and audit
//! load, is killed with SIGKILL at random moments and started again on the
//! same database, five times; after every restart nothing acknowledged is
//! lost, nothing unacknowledged is half there, the limits are exact and the
//! audit log verifies against the checkpoint pinned after the previous
//! restart. `tests/crash/checks.rs` lists each check.
//!
//! SIGKILL stops the process, not the machine: what the operating system
//! already holds (SQLite's WAL in the page cache, whatever PostgreSQL
//! received) survives it, so this tests veil's own commit points and
//! ordering, not fsync. The kill moments come from a seeded RNG whose seed
//! is printed (`VEIL_CRASH_SEED=<n>` repeats its choices; where in the
//! writer a kill lands still varies). A plain `cargo test` runs the SQLite
//! variant; `cargo test --test crash -- --ignored postgres` with
//! `VEIL_TEST_POSTGRES_URL` runs the PostgreSQL one.

#[path = "crash/checks.rs"]
mod checks;
#[path = "crash/deployment.rs"]
mod deployment;
#[path = "crash/http.rs"]
mod http;
#[path = "crash/load.rs"]
mod load;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

use checks::{Checker, Figures, History, MAX_ACTIVE, PER_DAY, utc_day};
use deployment::{Db, Deployment, Server};
use http::request;
use load::{Action, Load, Target, fresh_keys};

/// Kills per backend.
const KILLS: usize = 5;

/// Limit accounts added per kill: most mints of that kill go to them.
const ACCOUNTS_PER_CYCLE: usize = 100;

/// Remedy targets added per kill (each receives one kind of remedy).
const TARGETS_PER_CYCLE: usize = 8;

/// Each kill lands this long after the load started (milliseconds).
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 300..=1500;

/// `max_active` is the limit that binds: it counts what is stored, so it is
/// exact after a crash too (the hour and day windows keep the charges of a
/// batch whose pseudonym rows a kill cut off; they are set far above it).
fn issuance_policy() -> String {
    format!(
        "[account]\npseudonyms_per_hour = {PER_DAY}\npseudonyms_per_day = {PER_DAY}\n\
         max_active = {MAX_ACTIVE}\n\n[client]\nrequests_per_second = 5000\nburst = 20000\n\n\
         [global]\npseudonyms_per_minute = 1000000\n"
    )
}

/// `VEIL_CRASH_SEED`, else one from the clock.
fn seed() -> u64 {
    match std::env::var("VEIL_CRASH_SEED") {
        Ok(seed) => seed.parse().expect("VEIL_CRASH_SEED is a number"),
        Err(_) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            now.as_nanos() as u64
        }
    }
}

/// A mint of `keys` keys that must succeed: (ids, URIs).
fn mint(server: &Server, backend: &str, account: &str, keys: usize) -> (Vec<String>, Vec<String>) {
    let body = json!({"account": account, "keys": fresh_keys(keys).1});
    let minted = request(&server.addr, "POST", "/v1/pseudonyms", Some(backend), Some(&body))
        .expect(201, "setup mint");
    let field = |f: &str| -> Vec<String> {
        minted["pseudonyms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[f].as_str().unwrap().to_string())
            .collect()
    };
    (field("id"), field("uri"))
}

fn sigkill_under_load(db: Db) {
    let started = Instant::now();
    let seed = seed();
    println!("crash test on {db:?}: VEIL_CRASH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let deployment = Deployment::new(db, &issuance_policy());
    let admin = deployment.init();
    let mut server = deployment.start();
    let body = json!({"name": "backend", "scopes": ["backend"]});
    let created = request(&server.addr, "POST", "/v1/admin/clients", Some(&admin), Some(&body))
        .expect(201, "backend client");
    let backend = created["token"].as_str().unwrap().to_string();
    let (anchors, ca_der) = checks::published_ca(&server);
    let checker = Checker {
        deployment: &deployment,
        backend: &backend,
        admin: &admin,
        anchors,
        ca_der,
        day: utc_day(),
    };
    let audit_uri = mint(&server, &backend, "audited@example.com", 1).1.remove(0);
    let mut history = History::default();
    let mut figures = Figures::default();

    for cycle in 0..KILLS {
        let older: Vec<usize> = (0..history.accounts).collect();
        let fresh: Vec<usize> = (history.accounts..history.accounts + ACCOUNTS_PER_CYCLE).collect();
        history.accounts += ACCOUNTS_PER_CYCLE;
        let current_targets: Vec<usize> = (0..TARGETS_PER_CYCLE)
            .map(|_| {
                let n = history.targets.len();
                let account = format!("target-{n}@example.com");
                let (ids, uris) = mint(&server, &backend, &account, 2);
                history.targets.push(Target { account, action: Action::ALL[n % 4], ids, uris });
                n
            })
            .collect();
        let kill_after = Duration::from_millis(rng.random_range(KILL_AFTER_MS));
        let addr = server.addr.clone();
        let load = Load {
            addr: &addr,
            backend: &backend,
            admin: &admin,
            cycle,
            fresh: &fresh,
            older: &older,
            current_targets: &current_targets,
            targets: &history.targets,
            audit_uri: &audit_uri,
            seed,
        };
        let (recorded, status) = load.run(server, kill_after);
        assert_eq!(status.signal(), Some(9), "veild ended otherwise than by the kill: {status}");
        figures.kills += 1;
        figures.checkpoints_signed += recorded.checkpoints;
        let answered = |status: u16| {
            recorded.mints.iter().filter(|r| r.reply.status() == Some(status)).count()
        };
        let lost: Vec<&str> = recorded
            .mints
            .iter()
            .filter_map(|r| match &r.reply {
                http::Reply::Lost(why) => Some(why.as_str()),
                _ => None,
            })
            .collect();
        println!(
            "kill {}: after {kill_after:?}, {} mint requests ({} answered 201, {} 429, {} 5xx, {} \
             unanswered, e.g. {:?}), {} remedies, {} adjustments",
            cycle + 1,
            recorded.mints.len(),
            answered(201),
            answered(429),
            recorded.mints.iter().filter(|r| r.reply.status() >= Some(500)).count(),
            lost.len(),
            lost.first(),
            recorded.remedies.len(),
            recorded.adjustments.len(),
        );
        history.mints.extend(recorded.mints);
        history.remedies.extend(recorded.remedies);
        history.adjustments.extend(recorded.adjustments);

        server = deployment.start();
        figures.deletions_resumed += server.deletions_resumed();
        checker.after_restart(&server, &mut history, &mut figures, false);
    }

    checker.top_up(&server, &mut history, &mut figures);
    checker.after_restart(&server, &mut history, &mut figures, true);
    let f = &figures;
    println!(
        "crash test on {db:?} (seed {seed}): {} kills survived in {:.1?}",
        f.kills,
        started.elapsed()
    );
    println!(
        "  mints: {} acknowledged and checked ({} under the kills, {} in the final top-up), \
         {} pseudonyms read back, {} certificates verified, {} refused (429), {} never delivered",
        f.mints_acknowledged,
        f.mints_acknowledged - f.topped_up,
        f.topped_up,
        f.pseudonyms_checked,
        f.certificates_checked,
        f.mints_refused,
        f.mints_undelivered,
    );
    println!(
        "  unanswered mints: {} fully stored, {} fully absent; up to {} index entries naming \
         no pseudonym after a kill; {} accounts then filled to exactly {MAX_ACTIVE} each",
        f.unanswered_present, f.unanswered_absent, f.orphans_seen, history.accounts,
    );
    println!(
        "  remedies: {} acknowledged, {} checked on their accounts; unanswered: {} applied, {} \
         absent; {} deletions cut by a kill after they were recorded, finished by the next start",
        f.remedies_acknowledged,
        f.remedies_checked,
        f.unanswered_remedies_applied,
        f.unanswered_remedies_absent,
        f.deletions_resumed,
    );
    println!(
        "  audit: {} adjustments acknowledged, {} checkpoints fetched under load, log intact \
         with {} entries",
        f.adjustments_acknowledged, f.checkpoints_signed, f.audit_entries,
    );
}

/// `sigkill_under_load::sqlite` and `::postgres`; the PostgreSQL variant is
/// `#[ignore]`d, so a plain `cargo test` reports it as ignored, and asked
/// for without `VEIL_TEST_POSTGRES_URL` it fails rather than pass untried.
mod sigkill_under_load {
    #[test]
    fn sqlite() {
        super::sigkill_under_load(super::Db::Sqlite);
    }

    #[test]
    #[ignore = "needs VEIL_TEST_POSTGRES_URL (cargo test -- --ignored postgres)"]
    fn postgres() {
        super::sigkill_under_load(super::Db::Postgres);
    }
}
