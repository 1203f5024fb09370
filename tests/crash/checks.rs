//! What must hold after every restart, judged from what each request got
//! back before the kill:
//!
//! - a mint answered 201 is stored, every key of it, under the ids the
//!   answer gave; each pseudonym reads `active` and its certificate chains
//!   to the CA veil publishes, for the key sent and the URI answered;
//! - a mint refused (4xx) or never delivered stored nothing; one that got
//!   no answer stored all its keys or none (a request is one unit of the
//!   batch writer's two transactions);
//! - per account, the pseudonyms stored stay within `max_active`, and the
//!   account side (its index count and its daily window, as
//!   `POST /v1/accounts/status` reads them) counts every stored pseudonym
//!   and at most the unanswered requests' keys besides (a crash between the
//!   batch's two transactions leaves those);
//! - a remedy answered 201 is listed under its id and audited; a refused
//!   one is neither; an unanswered one is both or neither, and the target
//!   account and its pseudonyms show exactly the remedies listed;
//! - an adjustment answered 201 is audited;
//! - `veilctl audit verify` passes, against the checkpoint it pinned after
//!   the restart before;
//! - after the last restart, every limit account mints one key at a time
//!   until refused, and then holds exactly `max_active` pseudonyms.
//!
//! A deletion a kill cut after it was recorded (remedy and audit entry
//! written, pseudonyms not yet all unlinked or the account not yet
//! removed) must be finished by the next start before it serves: the
//! checks see it complete, like any other listed deletion.
//!
//! Which pseudonyms exist is read from the database by the keys the test
//! sent (the unique key index): no route looks a pseudonym up by key, and
//! an unanswered request's ids are unknown otherwise.

use std::collections::HashMap;

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};
use veil::services::verify::x509::{TrustAnchor, verify_issued};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::deployment::{Deployment, Server};
use super::http::{Reply, request};
use super::load::{
    Action, AdjustmentRecord, MintRecord, RemedyRecord, Target, fresh_keys, limit_account,
};

/// The issuance policy's figures the checks depend on.
pub const MAX_ACTIVE: usize = 6;
pub const PER_DAY: i64 = 1000;

/// Everything sent so far.
#[derive(Debug, Default)]
pub struct History {
    pub mints: Vec<MintRecord>,
    pub remedies: Vec<RemedyRecord>,
    pub adjustments: Vec<AdjustmentRecord>,
    pub targets: Vec<Target>,
    /// Limit accounts created so far (named by `limit_account(0..accounts)`).
    pub accounts: usize,
    /// `mints[..verified]` had their pseudonyms read and certificates
    /// checked at an earlier restart.
    verified: usize,
}

/// The figures the test prints at the end.
#[derive(Debug, Default)]
pub struct Figures {
    pub kills: usize,
    pub mints_acknowledged: usize,
    pub pseudonyms_checked: usize,
    pub certificates_checked: usize,
    pub mints_refused: usize,
    pub mints_undelivered: usize,
    pub unanswered_present: usize,
    pub unanswered_absent: usize,
    /// The most index entries naming no pseudonym seen at one restart.
    pub orphans_seen: i64,
    pub remedies_acknowledged: usize,
    pub remedies_checked: usize,
    /// Deletions a kill cut after they were recorded, finished by the
    /// next start (from veild's log).
    pub deletions_resumed: usize,
    pub unanswered_remedies_applied: usize,
    pub unanswered_remedies_absent: usize,
    pub adjustments_acknowledged: usize,
    pub checkpoints_signed: usize,
    pub audit_entries: i64,
    pub topped_up: usize,
}

/// Who asks, and what a certificate must chain to.
pub struct Checker<'a> {
    pub deployment: &'a Deployment,
    pub backend: &'a str,
    pub admin: &'a str,
    pub anchors: Vec<TrustAnchor>,
    pub ca_der: Vec<u8>,
    /// Day windows are compared only when the whole test ran in one UTC day.
    pub day: i64,
}

/// Today's UTC day number.
pub fn utc_day() -> i64 {
    now() / 86_400
}

/// Unix seconds now.
fn now() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

/// The CA veil publishes: (trust anchors, DER of the current CA).
pub fn published_ca(server: &Server) -> (Vec<TrustAnchor>, Vec<u8>) {
    let issuer = request(&server.addr, "GET", "/.well-known/veil-issuer", None, None)
        .expect(200, "issuer metadata");
    let ders: Vec<Vec<u8>> = issuer["ca_certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pem| pem::parse(pem.as_str().unwrap()).unwrap().into_contents())
        .collect();
    let anchors = ders.iter().map(|der| TrustAnchor::from_ca_der(der).unwrap()).collect();
    (anchors, ders[0].clone())
}

/// Every pseudonym stored: SEC1 key → id.
pub fn stored(deployment: &Deployment) -> HashMap<Vec<u8>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&deployment.database_url).await.unwrap();
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT id, public_key FROM pseudonyms").fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows.into_iter().map(|(id, key)| (key, id)).collect()
    })
}

impl Checker<'_> {
    fn get(&self, server: &Server, path: &str, token: &str) -> Value {
        request(&server.addr, "GET", path, Some(token), None).expect(200, path)
    }

    fn post(&self, server: &Server, path: &str, token: &str, body: &Value) -> Reply {
        request(&server.addr, "POST", path, Some(token), Some(body))
    }

    /// `GET /v1/pseudonyms/{id}`'s status, checking the URI when given.
    fn status_of(&self, server: &Server, id: &str, uri: Option<&str>) -> String {
        let read = self.get(server, &format!("/v1/pseudonyms/{id}"), self.backend);
        if let Some(uri) = uri {
            assert_eq!(read["uri"], uri, "pseudonym {id} names another URI");
        }
        read["status"].as_str().unwrap().to_string()
    }

    /// `POST /v1/accounts/status` (stores nothing).
    fn account(&self, server: &Server, account: &str) -> Value {
        let body = json!({ "account": account });
        self.post(server, "/v1/accounts/status", self.backend, &body).expect(200, "account status")
    }

    /// The certificate a 201 returned: it chains to the published CA, the
    /// chain's second element is that CA, and it certifies `key` for `uri`.
    fn check_certificate(&self, pseudonym: &Value, key: &[u8]) {
        let chain = pseudonym["certificate_chain"].as_array().unwrap();
        let der = |i: usize| Base64::decode_vec(chain[i].as_str().unwrap()).unwrap();
        assert_eq!(der(1), self.ca_der, "the chain's CA is the published one");
        let cert = verify_issued(&der(0), &self.anchors, now())
            .unwrap_or_else(|e| panic!("certificate of {pseudonym} does not verify: {e:?}"));
        let tbs = cert.tbs_certificate();
        assert_eq!(
            tbs.subject_public_key_info().subject_public_key.raw_bytes(),
            key,
            "the certificate certifies another key"
        );
        let names = tbs.get_extension::<SubjectAltName>().unwrap().unwrap().1.0;
        let uri = pseudonym["uri"].as_str().unwrap();
        assert!(
            names.iter().any(|n| matches!(n, GeneralName::UniformResourceIdentifier(u)
                if u.to_string() == uri)),
            "the certificate names another URI than {uri}"
        );
    }

    /// Every check of the module docs, after a restart; `full` reads every
    /// acknowledged pseudonym again, not only those new since last time.
    pub fn after_restart(
        &self,
        server: &Server,
        history: &mut History,
        figures: &mut Figures,
        full: bool,
    ) {
        let stored = stored(self.deployment);
        self.mints(server, history, figures, &stored, full);
        self.accounts(server, history, figures, &stored);
        self.remedies_and_audit(server, history, figures);
        let verdict = self.deployment.audit_verify(server);
        figures.audit_entries = verdict["entries"].as_i64().unwrap();
    }

    fn mints(
        &self,
        server: &Server,
        history: &mut History,
        figures: &mut Figures,
        stored: &HashMap<Vec<u8>, String>,
        full: bool,
    ) {
        let from = if full { 0 } else { history.verified };
        let (mut acknowledged, mut refused, mut undelivered, mut present, mut absent) =
            (0, 0, 0, 0, 0);
        for (i, record) in history.mints.iter().enumerate() {
            let ids: Vec<Option<&String>> = record.keys.iter().map(|k| stored.get(k)).collect();
            let found = ids.iter().flatten().count();
            let n = record.keys.len();
            let what = || {
                format!(
                    "mint #{i} (cycle {}, {}, {n} keys, {found} stored): {}",
                    record.cycle,
                    limit_account(record.account),
                    record.reply.brief()
                )
            };
            match &record.reply {
                Reply::Answered { status: 201, body } => {
                    acknowledged += 1;
                    assert_eq!(found, n, "an acknowledged mint is not all there: {}", what());
                    let Some(body) = body else { continue };
                    let answered = body["pseudonyms"].as_array().unwrap();
                    assert_eq!(answered.len(), n, "{}", what());
                    for (pseudonym, id) in answered.iter().zip(&ids) {
                        // The answer lists the pseudonyms in the order of the keys.
                        assert_eq!(
                            Some(&pseudonym["id"]),
                            id.map(|s| json!(s)).as_ref(),
                            "{}",
                            what()
                        );
                    }
                    if i < from {
                        continue;
                    }
                    for (pseudonym, key) in answered.iter().zip(&record.keys) {
                        let id = pseudonym["id"].as_str().unwrap();
                        let status = self.status_of(server, id, pseudonym["uri"].as_str());
                        assert_eq!(status, "active", "{}", what());
                        self.check_certificate(pseudonym, key);
                        figures.certificates_checked += 1;
                        figures.pseudonyms_checked += 1;
                    }
                }
                Reply::Answered { status, .. } if *status < 500 => {
                    refused += 1;
                    assert_eq!(*status, 429, "only max_active refuses here: {}", what());
                    assert_eq!(found, 0, "a refused mint stored something: {}", what());
                }
                Reply::NotDelivered => {
                    undelivered += 1;
                    assert_eq!(found, 0, "a mint never delivered is stored: {}", what());
                }
                // No answer, or a 5xx (503 timeout promises nothing).
                Reply::Answered { .. } | Reply::Lost(_) => {
                    assert!(found == 0 || found == n, "half a mint is stored: {}", what());
                    if found == 0 {
                        absent += 1;
                        continue;
                    }
                    present += 1;
                    if i < from {
                        continue;
                    }
                    for id in ids.iter().flatten() {
                        assert_eq!(self.status_of(server, id, None), "active", "{}", what());
                        figures.pseudonyms_checked += 1;
                    }
                }
            }
        }
        history.verified = history.mints.len();
        figures.mints_acknowledged = acknowledged;
        figures.mints_refused = refused;
        figures.mints_undelivered = undelivered;
        figures.unanswered_present = present;
        figures.unanswered_absent = absent;
    }

    /// Per limit account: stored ≤ max_active, and the account side counts
    /// what is stored plus at most the keys of unanswered requests.
    fn accounts(
        &self,
        server: &Server,
        history: &History,
        figures: &mut Figures,
        stored_keys: &HashMap<Vec<u8>, String>,
    ) {
        let mut count = vec![0i64; history.accounts];
        let mut unanswered = vec![0i64; history.accounts];
        for record in &history.mints {
            let found = record.keys.iter().filter(|k| stored_keys.contains_key(*k)).count();
            count[record.account] += found as i64;
            let uncertain = match &record.reply {
                Reply::Lost(_) => true,
                Reply::Answered { status, .. } => *status >= 500,
                Reply::NotDelivered => false,
            };
            if uncertain && found == 0 {
                unanswered[record.account] += record.keys.len() as i64;
            }
        }
        let same_day = utc_day() == self.day;
        let mut orphans = 0;
        for (account, (&stored, &unanswered)) in count.iter().zip(&unanswered).enumerate() {
            let name = limit_account(account);
            let sent = || -> Vec<String> {
                history
                    .mints
                    .iter()
                    .filter(|r| r.account == account)
                    .map(|r| {
                        let found = r.keys.iter().filter(|k| stored_keys.contains_key(*k)).count();
                        let n = r.keys.len();
                        format!("cycle {}: {found} of {n} stored, {}", r.cycle, r.reply.brief())
                    })
                    .collect()
            };
            assert!(
                stored <= MAX_ACTIVE as i64,
                "{name} has {stored} pseudonyms, over its max_active of {MAX_ACTIVE}: {:#?}",
                sent()
            );
            let status = self.account(server, &name);
            assert_eq!(status["status"], "active", "{name}: {status}");
            let indexed = status["active_pseudonyms"].as_i64().unwrap();
            assert!(
                stored <= indexed && indexed <= stored + unanswered,
                "{name}: the account side counts {indexed} pseudonyms, {stored} are stored and \
                 {unanswered} keys went unanswered: {status}: {:#?}",
                sent()
            );
            orphans += indexed - stored;
            if same_day {
                let charged = PER_DAY - status["remaining_today"].as_i64().unwrap();
                assert!(
                    stored <= charged && charged <= stored + unanswered,
                    "{name}: the day window charged {charged}, {stored} are stored and \
                     {unanswered} keys went unanswered: {status}: {:#?}",
                    sent()
                );
            }
        }
        println!("  {orphans} index entries name no stored pseudonym (batches a kill cut)");
        figures.orphans_seen = figures.orphans_seen.max(orphans);
    }

    fn remedies_and_audit(&self, server: &Server, history: &mut History, figures: &mut Figures) {
        // Case id → (remedy id, action), every page (`next` → `after`).
        let mut listed: HashMap<String, (String, String)> = HashMap::new();
        let mut path = "/v1/admin/remedies?limit=500".to_string();
        loop {
            let page = self.get(server, &path, self.admin);
            let remedies = page["remedies"].as_array().unwrap();
            for r in remedies {
                let text = |f: &str| r[f].as_str().unwrap().to_string();
                listed.insert(text("case_id"), (text("id"), text("action")));
            }
            match page["next"].as_str() {
                Some(next) => path = format!("/v1/admin/remedies?limit=500&after={next}"),
                None => {
                    assert!(remedies.len() < 500, "a listing cut at 500 rows: send fewer");
                    break;
                }
            }
        }
        let mut audited: HashMap<String, Vec<String>> = HashMap::new();
        let mut after = 0;
        loop {
            let page =
                self.get(server, &format!("/v1/admin/audit?after={after}&limit=1000"), self.admin);
            for entry in page["entries"].as_array().unwrap() {
                if let Some(case) = entry["case_id"].as_str() {
                    let target = entry["target"].as_str().unwrap_or_default().to_string();
                    audited.entry(case.to_string()).or_default().push(target);
                }
            }
            match page["next_after"].as_i64() {
                Some(next) => after = next,
                None => break,
            }
        }

        let mut applied = vec![false; history.targets.len()];
        let (mut acknowledged, mut present, mut absent) = (0, 0, 0);
        for record in &history.remedies {
            let target = &history.targets[record.target];
            let listed = listed.get(&record.case_id);
            let audited = audited.get(&record.case_id);
            let what = || {
                format!(
                    "remedy {} ({} on {}): {}; listed {listed:?}, audited {audited:?}",
                    record.case_id,
                    target.action.as_str(),
                    target.account,
                    record.reply.brief()
                )
            };
            if let Some((id, action)) = listed {
                assert_eq!(action, target.action.as_str(), "{}", what());
                assert!(
                    audited.is_some_and(|targets| targets.contains(id)),
                    "a listed remedy has no audit entry: {}",
                    what()
                );
                applied[record.target] = true;
            }
            match &record.reply {
                Reply::Answered { status: 201, body } => {
                    acknowledged += 1;
                    assert!(listed.is_some(), "an acknowledged remedy is not listed: {}", what());
                    if let Some(body) = body {
                        assert_eq!(
                            Some(body["remedy_id"].as_str().unwrap()),
                            listed.map(|(id, _)| id.as_str()),
                            "{}",
                            what()
                        );
                    }
                }
                Reply::Answered { status, .. } if *status < 500 => {
                    // Only a deleted account's pseudonyms are unknown.
                    assert_eq!(*status, 404, "{}", what());
                    assert_eq!(target.action, Action::Delete, "{}", what());
                    assert!(listed.is_none() && audited.is_none(), "{}", what());
                }
                Reply::NotDelivered => {
                    assert!(listed.is_none() && audited.is_none(), "{}", what());
                }
                Reply::Answered { .. } | Reply::Lost(_) => {
                    assert_eq!(
                        listed.is_some(),
                        audited.is_some(),
                        "an unanswered remedy is half there: {}",
                        what()
                    );
                    match listed {
                        Some(_) => present += 1,
                        None => absent += 1,
                    }
                }
            }
        }
        figures.remedies_acknowledged = acknowledged;
        figures.unanswered_remedies_applied = present;
        figures.unanswered_remedies_absent = absent;

        // Each target shows exactly the remedies listed for it.
        figures.remedies_checked = 0;
        for (index, (target, &applied)) in history.targets.iter().zip(&applied).enumerate() {
            let statuses: Vec<String> =
                target.ids.iter().map(|id| self.status_of(server, id, None)).collect();
            let account = self.account(server, &target.account);
            let sent: Vec<&RemedyRecord> =
                history.remedies.iter().filter(|r| r.target == index).collect();
            let what = || {
                let sent: Vec<String> =
                    sent.iter().map(|r| format!("{}: {}", r.case_id, r.reply.brief())).collect();
                format!(
                    "{} ({} applied: {applied}; sent {sent:?}): pseudonyms {statuses:?}, \
                     account {account}",
                    target.account,
                    target.action.as_str()
                )
            };
            let (pseudonyms, standing) = match (target.action, applied) {
                (_, false) => ("active", "active"),
                (Action::Mute, true) => ("active", "muted"),
                (Action::Suspend, true) => ("suspended", "suspended"),
                (Action::SuspendAndRevoke, true) => ("revoked", "suspended"),
                // A deleted account reads as one never seen.
                (Action::Delete, true) => ("revoked", "active"),
            };
            assert!(statuses.iter().all(|s| s == pseudonyms), "{}", what());
            assert_eq!(account["status"], standing, "{}", what());
            let live = match (target.action, applied) {
                (Action::SuspendAndRevoke | Action::Delete, true) => 0,
                _ => target.ids.len() as i64,
            };
            assert_eq!(account["active_pseudonyms"], live, "{}", what());
            figures.remedies_checked += usize::from(applied);
        }

        let mut adjusted = 0;
        for record in &history.adjustments {
            let audited = audited.contains_key(&record.case_id);
            match &record.reply {
                Reply::Answered { status: 201, .. } => {
                    adjusted += 1;
                    assert!(audited, "an acknowledged adjustment is not audited: {record:?}");
                }
                Reply::Answered { status, .. } if *status < 500 => {
                    panic!("an adjustment was refused: {record:?}")
                }
                Reply::NotDelivered => assert!(!audited, "{record:?}"),
                Reply::Answered { .. } | Reply::Lost(_) => {}
            }
        }
        figures.adjustments_acknowledged = adjusted;
    }

    /// After the last restart: every limit account mints one key at a time
    /// until refused. It must then be exactly full: what is stored plus the
    /// index entries of requests a kill cut between their two transactions
    /// (which keep their room until they expire: the limit errs on the safe
    /// side) is `max_active`, and those entries are no more than the keys of
    /// unanswered requests.
    pub fn top_up(&self, server: &Server, history: &mut History, figures: &mut Figures) {
        let before = stored(self.deployment);
        let accounts: Vec<usize> = (0..history.accounts).collect();
        let records: Vec<(usize, Vec<MintRecord>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = accounts
                .chunks(accounts.len().div_ceil(4).max(1))
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut records = Vec::new();
                        for &account in chunk {
                            let mut minted = Vec::new();
                            loop {
                                let (keys, jwks) = fresh_keys(1);
                                let body = json!({"account": limit_account(account), "keys": jwks});
                                let reply = request(
                                    &server.addr,
                                    "POST",
                                    "/v1/pseudonyms",
                                    Some(self.backend),
                                    Some(&body),
                                );
                                let status = reply.status();
                                minted.push(MintRecord { cycle: usize::MAX, account, keys, reply });
                                match status {
                                    Some(201) => {}
                                    Some(429) => break,
                                    _ => panic!(
                                        "top-up of {}: {}",
                                        limit_account(account),
                                        minted.last().unwrap().reply.brief()
                                    ),
                                }
                                assert!(minted.len() <= MAX_ACTIVE + 1, "{account} never refused");
                            }
                            records.push((account, minted));
                        }
                        records
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        let after = stored(self.deployment);
        for (account, minted) in records {
            let count = |snapshot: &HashMap<Vec<u8>, String>| {
                history
                    .mints
                    .iter()
                    .chain(&minted)
                    .filter(|r| r.account == account)
                    .flat_map(|r| &r.keys)
                    .filter(|k| snapshot.contains_key(*k))
                    .count()
            };
            let added = minted.iter().filter(|r| r.reply.status() == Some(201)).count();
            let (was, is) = (count(&before), count(&after));
            let name = limit_account(account);
            assert_eq!(
                was + added,
                is,
                "{name}: {was} stored before the top-up, {added} more accepted, {is} stored now"
            );
            let status = self.account(server, &name);
            let indexed = status["active_pseudonyms"].as_u64().unwrap() as usize;
            let unanswered: usize = history
                .mints
                .iter()
                .filter(|r| r.account == account)
                .filter(|r| match &r.reply {
                    Reply::Lost(_) => true,
                    Reply::Answered { status, .. } => *status >= 500,
                    Reply::NotDelivered => false,
                })
                .filter(|r| r.keys.iter().all(|k| !after.contains_key(k)))
                .map(|r| r.keys.len())
                .sum();
            assert_eq!(indexed, MAX_ACTIVE, "{name}: refused before it was full: {status}");
            assert!(
                indexed - is <= unanswered,
                "{name}: {} index entries without a pseudonym, but only {unanswered} keys went unanswered",
                indexed - is
            );
            figures.topped_up += added;
            history.mints.extend(minted);
        }
    }
}
