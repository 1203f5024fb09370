//! The load a kill lands in: backends minting (1 to 3 keys a request) for
//! accounts near their `max_active`, an operator applying remedies, and an
//! auditor adjusting reputation (audited writes) and fetching checkpoints.
//! Every request and what came back is recorded for the checks.

use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use super::deployment::Server;
use super::http::{Reply, request};

/// Threads minting at once (the writer's batches grow with them).
const MINT_WORKERS: usize = 10;

/// Threads applying remedies at once.
const REMEDY_WORKERS: usize = 2;

/// Remedies and reputation adjustments sent per kill, at most (a remedy
/// listing of 500 rows may be all there is).
const REMEDIES_PER_CYCLE: usize = 80;
const ADJUSTMENTS_PER_CYCLE: usize = 60;

/// One mint request: for which limit account, with which keys (SEC1).
#[derive(Debug)]
pub struct MintRecord {
    pub cycle: usize,
    pub account: usize,
    pub keys: Vec<Vec<u8>>,
    pub reply: Reply,
}

/// One remedy request on a target account.
#[derive(Debug)]
pub struct RemedyRecord {
    pub target: usize,
    pub case_id: String,
    pub reply: Reply,
}

/// One reputation adjustment (an audited write).
#[derive(Debug)]
pub struct AdjustmentRecord {
    pub case_id: String,
    pub reply: Reply,
}

/// The remedy a target account receives, always the same one, so what it
/// must look like afterwards follows from whether any was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Mute,
    Suspend,
    SuspendAndRevoke,
    Delete,
}

impl Action {
    pub const ALL: [Action; 4] =
        [Action::Mute, Action::Suspend, Action::SuspendAndRevoke, Action::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Mute => "mute",
            Action::Suspend => "suspend",
            Action::SuspendAndRevoke => "suspend_and_revoke",
            Action::Delete => "delete",
        }
    }

    /// Timed remedies last far beyond the test.
    fn duration(self) -> Option<&'static str> {
        matches!(self, Action::Mute | Action::Suspend).then_some("7d")
    }
}

/// An account remedies are applied to, with the pseudonyms minted for it.
#[derive(Debug)]
pub struct Target {
    pub account: String,
    pub action: Action,
    pub ids: Vec<String>,
    pub uris: Vec<String>,
}

/// The account id of limit account `i`.
pub fn limit_account(i: usize) -> String {
    format!("limit-{i}@example.com")
}

/// `n` fresh P-256 public keys: (SEC1, JWK).
pub fn fresh_keys(n: usize) -> (Vec<Vec<u8>>, Vec<Value>) {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    (0..n)
        .map(|_| {
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            let sec1 = pair.public_key().as_ref().to_vec();
            let key = veil::formats::keys::public_key::P256PublicKey::from_sec1(&sec1).unwrap();
            (sec1, serde_json::to_value(key.to_jwk()).unwrap())
        })
        .unzip()
}

/// One kill's load: who sends what.
pub struct Load<'a> {
    pub addr: &'a str,
    pub backend: &'a str,
    pub admin: &'a str,
    pub cycle: usize,
    /// Limit accounts new in this cycle (most mints) and earlier ones
    /// (mostly full: their mints go through the `max_active` recount).
    pub fresh: &'a [usize],
    pub older: &'a [usize],
    /// This cycle's remedy targets (indexes into `targets`).
    pub current_targets: &'a [usize],
    pub targets: &'a [Target],
    /// The pseudonym reputation adjustments go to.
    pub audit_uri: &'a str,
    pub seed: u64,
}

/// What one kill's load recorded.
#[derive(Debug, Default)]
pub struct Recorded {
    pub mints: Vec<MintRecord>,
    pub remedies: Vec<RemedyRecord>,
    pub adjustments: Vec<AdjustmentRecord>,
    pub checkpoints: usize,
}

impl Load<'_> {
    /// Runs the load against `server` and SIGKILLs it after `kill_after`;
    /// returns what was recorded and how the server ended.
    pub fn run(&self, server: Server, kill_after: Duration) -> (Recorded, ExitStatus) {
        let stop = AtomicBool::new(false);
        let sent = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let (stop, sent) = (&stop, &sent);
            let mints: Vec<_> = (0..MINT_WORKERS)
                .map(|worker| scope.spawn(move || self.mint_worker(worker, stop)))
                .collect();
            let remedies: Vec<_> = (0..REMEDY_WORKERS)
                .map(|worker| scope.spawn(move || self.remedy_worker(worker, stop, sent)))
                .collect();
            let audit = scope.spawn(|| self.audit_worker(stop));
            std::thread::sleep(kill_after);
            let status = server.sigkill();
            stop.store(true, Ordering::SeqCst);
            let mut recorded = Recorded::default();
            for worker in mints {
                recorded.mints.extend(worker.join().unwrap());
            }
            for worker in remedies {
                recorded.remedies.extend(worker.join().unwrap());
            }
            (recorded.adjustments, recorded.checkpoints) = audit.join().unwrap();
            (recorded, status)
        })
    }

    fn rng(&self, worker: u64) -> StdRng {
        let cycle = self.cycle as u64;
        StdRng::seed_from_u64(self.seed ^ (cycle << 32) ^ (worker + 1).wrapping_mul(0x9e37_79b9))
    }

    fn mint_worker(&self, worker: usize, stop: &AtomicBool) -> Vec<MintRecord> {
        let mut rng = self.rng(worker as u64);
        let mut records = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let pool = match self.older.is_empty() || rng.random_bool(0.85) {
                true => self.fresh,
                false => self.older,
            };
            let account = *pool.choose(&mut rng).unwrap();
            let (keys, jwks) = fresh_keys(rng.random_range(1..=3));
            let body = json!({"account": limit_account(account), "keys": jwks});
            let reply =
                request(self.addr, "POST", "/v1/pseudonyms", Some(self.backend), Some(&body));
            let refused = matches!(reply, Reply::NotDelivered);
            records.push(MintRecord { cycle: self.cycle, account, keys, reply });
            if refused {
                // The server is gone: the kill happened, stop is coming.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        records
    }

    /// Remedies on this cycle's targets, paced so that some are under way
    /// when the kill comes.
    fn remedy_worker(
        &self,
        worker: usize,
        stop: &AtomicBool,
        sent: &AtomicUsize,
    ) -> Vec<RemedyRecord> {
        let mut rng = self.rng(100 + worker as u64);
        let mut records = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let n = sent.fetch_add(1, Ordering::SeqCst);
            if n >= REMEDIES_PER_CYCLE {
                break;
            }
            let target = *self.current_targets.choose(&mut rng).unwrap();
            let Target { action, uris, .. } = &self.targets[target];
            let case_id = format!("crash-{}-{n}", self.cycle);
            let mut body = json!({
                "pseudonym": uris.choose(&mut rng).unwrap(),
                "action": action.as_str(),
                "case_id": case_id,
                "reason": "crash test",
            });
            if let Some(duration) = action.duration() {
                body["duration"] = json!(duration);
            }
            let reply =
                request(self.addr, "POST", "/v1/admin/remedies", Some(self.admin), Some(&body));
            records.push(RemedyRecord { target, case_id, reply });
            std::thread::sleep(Duration::from_millis(rng.random_range(15..=40)));
        }
        records
    }

    /// Audited writes (reputation adjustments) and checkpoint signing.
    fn audit_worker(&self, stop: &AtomicBool) -> (Vec<AdjustmentRecord>, usize) {
        let mut rng = self.rng(200);
        let mut records = Vec::new();
        let mut checkpoints = 0;
        while !stop.load(Ordering::SeqCst) {
            if records.len() < ADJUSTMENTS_PER_CYCLE {
                let case_id = format!("adjust-{}-{}", self.cycle, records.len());
                let body = json!({
                    "pseudonym": self.audit_uri,
                    "points": 1,
                    "case_id": case_id,
                    "reason": "crash test",
                });
                let path = "/v1/admin/reputation-adjustments";
                let reply = request(self.addr, "POST", path, Some(self.admin), Some(&body));
                records.push(AdjustmentRecord { case_id, reply });
            }
            let path = "/v1/admin/audit/checkpoint";
            if request(self.addr, "GET", path, Some(self.admin), None).status() == Some(200) {
                checkpoints += 1;
            }
            std::thread::sleep(Duration::from_millis(rng.random_range(5..=25)));
        }
        (records, checkpoints)
    }
}
