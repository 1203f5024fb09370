//! Reputation, abuse reports and remedies on both backends: gating and
//! recovery, idempotent reports that one reporter alone cannot turn into a
//! remedy, each remedy's effect, and deletion that leaves no trace of the
//! account.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};
use veil::core::clock::{ManualClock, SystemClock};
use veil::formats::keys::signer::Es256Signer;

use crate::support::mls::MlsClient;
use crate::support::{Db, TestApp, assert_problem, frank};

/// Strict thresholds and a one-hour half-life, on a clock the test moves.
const STRICT: &str = "[reputation]\ninitial = 100\nmin_to_mint = 50\nmin_to_disclose = 50\n\
half_life_hours = 1\n";

async fn strict(db: Db) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(1_900_000_800);
    let app = TestApp::spawn_with(db, clock.clone(), Some(STRICT)).await;
    (app, clock)
}

async fn hubs_may_remedy(db: Db) -> TestApp {
    let policy = "[reputation.reports]\nhub_may_remedy = true\n";
    TestApp::spawn_with(db, Arc::new(SystemClock), Some(policy)).await
}

/// Minting costs standing; a remedy upholding reports costs more.
async fn weighted_events(db: Db) -> TestApp {
    let policy =
        "[reputation.weights]\npseudonym_minted = -3\nreport_upheld = -7\nabuse_report = -1\n";
    TestApp::spawn_with(db, Arc::new(SystemClock), Some(policy)).await
}

async fn defaults(db: Db) -> TestApp {
    TestApp::spawn_with(db, Arc::new(SystemClock), None).await
}

on_both_backends_with!(strict; reputation_gates_minting_and_recovers);
on_both_backends_with!(hubs_may_remedy; a_policy_can_let_hubs_apply_remedies);
on_both_backends_with!(weighted_events;
    minting_and_upheld_reports_are_reputation_events,
    concurrent_reports_charge_a_reporter_up_to_its_cap
);
async fn deleted_may_return(db: Db) -> TestApp {
    let policy = "[account]\ndeleted_may_return = true\n";
    TestApp::spawn_with(db, Arc::new(SystemClock), Some(policy)).await
}

on_both_backends_with!(deleted_may_return;
    a_policy_lets_deleted_accounts_return,
    a_pending_deletion_spares_the_account_that_came_back
);
on_both_backends_with!(report_quota; a_reporter_has_an_hourly_quota);

async fn report_quota(db: Db) -> TestApp {
    let policy = "[reputation.reports]\nmax_per_reporter_per_hour = 3\n";
    TestApp::spawn_with(db, Arc::new(SystemClock), Some(policy)).await
}
on_both_backends_with!(defaults;
    account_status_tells_the_backend_its_standing,
    reports_count_once_and_one_reporter_cannot_suspend,
    remedies_act_on_every_pseudonym_of_the_account,
    delete_leaves_no_row_naming_the_account,
    a_deletion_cut_after_its_record_is_finished_at_the_next_start,
    a_remedy_rewritten_into_a_deletion_is_not_carried_out,
    a_pending_deletion_is_retried_while_veild_runs,
    a_deletion_between_a_batchs_two_transactions_still_reaches_its_pseudonym,
    related_remedies_reach_accounts_sharing_a_relation_key,
    remedies_are_listed_and_lifted,
    lifting_one_remedy_keeps_the_others_in_force,
    the_pre_admin_paths_are_aliases_for_one_release,
    bad_remedies_and_reports_are_refused_and_store_nothing,
    a_mint_racing_a_remedy_is_refused_under_the_row_lock,
    a_related_remedy_reaching_a_crowd_is_refused
);

/// Mints `n` pseudonyms for `account`; returns their URIs.
/// The holders' keys of the pseudonyms minted here, by URI (URIs are
/// random, so tests running at once cannot collide).
static HOLDERS: LazyLock<Mutex<HashMap<String, Arc<Es256Signer>>>> = LazyLock::new(Mutex::default);

/// The URIs of the pseudonyms minted for `clients`; their keys are kept in
/// `HOLDERS` for disclosures.
fn remember(body: &Value, clients: Vec<MlsClient>) -> Vec<String> {
    let uris = minted_uris(body);
    let mut holders = HOLDERS.lock().unwrap();
    for (uri, client) in uris.iter().zip(clients) {
        holders.insert(uri.clone(), Arc::new(client.es256_signer()));
    }
    uris
}

async fn mint(app: &TestApp, backend: &str, account: &str, n: usize) -> Vec<String> {
    let clients: Vec<MlsClient> = (0..n).map(|_| MlsClient::new()).collect();
    let keys = clients.iter().map(MlsClient::jwk).collect();
    let (status, body) = app.mint(backend, account, keys).await;
    assert_eq!(status, 201, "{body}");
    remember(&body, clients)
}

async fn status_of(app: &TestApp, hub: &str, uri: &str) -> String {
    let id = uri.rsplit('/').next().unwrap();
    let (status, body) = app.get(&format!("/v1/pseudonyms/{id}"), Some(hub)).await;
    assert_eq!(status, 200, "{body}");
    body["status"].as_str().unwrap().to_string()
}

async fn remedy(app: &TestApp, uri: &str, action: &str) -> (u16, Value) {
    let body = json!({"pseudonym": uri, "action": action, "case_id": "case-1", "reason": "spam"});
    app.post("/v1/admin/remedies", &app.admin_token, &body).await
}

/// A report of one franked message; each `message` is another message (and
/// so another report), whatever the note says.
fn report(uri: &str, message: &str) -> Value {
    json!({
        "room": "mimi://hub.example/r/lobby",
        "reporting_user": "mimi://hub.example/u/reporter",
        "alleged_abuser": uri,
        "reason_code": 0,
        "note": format!("about {message}"),
        "messages": [{"mimi_content": "aGVsbG8=", "frank": frank(message),
                       "accepted_timestamp": 1}]
    })
}

async fn rows(app: &TestApp, table: &str) -> usize {
    let dump = app.state.store.dump_all_tables().await.unwrap();
    dump.lines().filter(|l| l.starts_with(&format!("{table}: "))).count()
}

/// Audit entries other than startup, operator and client management (every test has those).
async fn remedy_audit_rows(app: &TestApp) -> usize {
    let dump = app.state.store.dump_all_tables().await.unwrap();
    let management = ["client.", "operator.", "key.generate", "policy.load"];
    dump.lines()
        .filter(|l| l.starts_with("audit_events: ") && !management.iter().any(|m| l.contains(m)))
        .count()
}

/// Asks for an SD-JWT disclosure of `account`'s name bound to `uri`.
async fn disclose(app: &TestApp, backend: &str, account: &str, uri: &str) -> (u16, Value) {
    let id = uri.rsplit('/').next().unwrap();
    let request = json!({"account": account, "format": "sd-jwt", "claims": {"name": "Rita"},
                         "disclosable": ["name"], "validity_days": 1});
    let holder = HOLDERS.lock().unwrap().get(uri).cloned().expect("minted here");
    app.disclose(backend, &holder, id, &request).await
}

async fn reputation_gates_minting_and_recovers((app, clock): (TestApp, Arc<ManualClock>)) {
    let backend = app.token(&["backend"]).await;
    let uris = mint(&app, &backend, "rita", 1).await;
    assert_eq!(disclose(&app, &backend, "rita", &uris[0]).await.0, 201);
    // A 30-minute mute costs 100 points that halve every hour.
    let body = json!({"pseudonym": uris[0], "action": "mute", "case_id": "c", "reason": "r",
                      "duration": "30m"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.mint(&backend, "rita", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");
    let (status, body) = disclose(&app, &backend, "rita", &uris[0]).await;
    assert_problem(status, &body, 403, "account-restricted");

    // The mute is over, but the score (100 − 100·2^−½ ≈ 29) is below 50.
    clock.advance(1800);
    let (status, body) = app.mint(&backend, "rita", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "reputation-too-low");
    assert!(!body.to_string().contains("rita"), "{body}");
    let (status, body) = disclose(&app, &backend, "rita", &uris[0]).await;
    assert_problem(status, &body, 403, "reputation-too-low");
    // A verified phone adds 20 (still under 50).
    let seed = json!({"account": "rita", "verified_phone": true});
    let (status, body) = app.post("/v1/accounts/signals", &backend, &seed).await;
    assert_eq!(status, 204, "{body}");
    let (_, standing) =
        app.post("/v1/accounts/status", &backend, &json!({"account": "rita"})).await;
    assert_eq!(standing["score"], 49, "{standing}");
    assert_eq!(standing["status"], "active", "{standing}");
    let (status, body) = app.mint(&backend, "rita", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "reputation-too-low");

    // An operator's adjustment (by pseudonym, audited) lifts it to 59.
    let adjust = json!({"pseudonym": uris[0], "points": 10, "case_id": "c", "reason": "appeal"});
    let (status, body) =
        app.post("/v1/admin/reputation-adjustments", &app.admin_token, &adjust).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["adjustment_id"].is_string() && body.as_object().unwrap().len() == 1);
    let (status, body) = app.post("/v1/admin/reputation-adjustments", &backend, &adjust).await;
    assert_problem(status, &body, 403, "insufficient-scope");
    mint(&app, &backend, "rita", 1).await;

    // Decay: 90 minutes later the penalty is 25 and the adjustment 3.5.
    clock.advance(5400);
    assert_eq!(disclose(&app, &backend, "rita", &uris[0]).await.0, 201);
    let (_, standing) =
        app.post("/v1/accounts/status", &backend, &json!({"account": "rita"})).await;
    assert_eq!(standing["score"], 99, "{standing}");
}

async fn account_status_tells_the_backend_its_standing(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let ask = json!({"account": "sam"});
    let (status, body) = app.post("/v1/accounts/status", &backend, &ask).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");
    assert_eq!(body["score"], 100);
    assert_eq!(body["remaining_this_hour"], 20);
    assert_eq!(body["active_pseudonyms"], 0);
    assert_eq!(app.account_count().await, 0, "asking stores nothing");

    mint(&app, &backend, "sam", 2).await;
    let (_, body) = app.post("/v1/accounts/status", &backend, &ask).await;
    assert_eq!(body["remaining_this_hour"], 18, "{body}");
    assert_eq!(body["remaining_today"], 98, "{body}");
    assert_eq!(body["active_pseudonyms"], 2, "{body}");
    assert!(!body.to_string().contains("sam"), "{body}");

    let (status, body) = app.post("/v1/accounts/status", &hub, &ask).await;
    assert_problem(status, &body, 403, "insufficient-scope");
    let (status, body) = app.post("/v1/accounts/status", &backend, &json!({"account": ""})).await;
    assert_problem(status, &body, 422, "invalid-request");
}

async fn reports_count_once_and_one_reporter_cannot_suspend(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hubs = [app.token(&["hub"]).await, app.token(&["hub"]).await, app.token(&["hub"]).await];
    let uris = mint(&app, &backend, "mallory", 2).await;

    let (status, first) = app.post("/v1/abuse-reports", &hubs[0], &report(&uris[0], "spam")).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = app.post("/v1/abuse-reports", &hubs[0], &report(&uris[0], "spam")).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(first["report_id"], again["report_id"]);
    assert_eq!(rows(&app, "abuse_reports").await, 1, "the same report counts once");
    // Reworded: still the same message reported. (The reason code would
    // not count either, but protocol-02 lists only one.)
    let mut reworded = report(&uris[0], "spam");
    reworded["note"] = json!("SPAM, really, please act");
    let (status, body) = app.post("/v1/abuse-reports", &hubs[0], &reworded).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["report_id"], first["report_id"]);
    assert_eq!(rows(&app, "abuse_reports").await, 1, "a reworded report counts once");

    // One hub, many reports: its weight is capped below the threshold.
    for i in 0..10 {
        let (status, body) =
            app.post("/v1/abuse-reports", &hubs[0], &report(&uris[i % 2], &format!("n{i}"))).await;
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(status_of(&app, &hubs[0], &uris[0]).await, "active");
    mint(&app, &backend, "mallory", 1).await;

    // A second hub: still below (weight 4 of 5, two reporters of three).
    for note in ["a", "b", "c"] {
        app.post("/v1/abuse-reports", &hubs[1], &report(&uris[1], note)).await;
    }
    assert_eq!(status_of(&app, &hubs[1], &uris[1]).await, "active");

    // A third, distinct hub tips it: reports on any pseudonym add up.
    let (status, body) = app.post("/v1/abuse-reports", &hubs[2], &report(&uris[0], "x")).await;
    assert_eq!(status, 202, "{body}");
    for uri in &uris {
        assert_eq!(status_of(&app, &hubs[2], uri).await, "suspended");
    }
    let (status, body) = app.mint(&backend, "mallory", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");
    assert_eq!(rows(&app, "remedies").await, 1);
    assert_eq!(remedy_audit_rows(&app).await, 1);

    // Unknown pseudonyms are accepted alike and store nothing.
    let before = rows(&app, "abuse_reports").await;
    let unknown = "mimi://example.com/p/AAAAAAAAAAAAAAAAAAAAAA";
    let (status, body) = app.post("/v1/abuse-reports", &hubs[0], &report(unknown, "x")).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["report_id"].is_string());
    assert_eq!(rows(&app, "abuse_reports").await, before);
    let (status, body) = app.post("/v1/abuse-reports", &backend, &report(&uris[0], "x")).await;
    assert_problem(status, &body, 403, "insufficient-scope");

    // Lifting the automatic suspension clears the weights: one more report
    // from a reporter that was at its cap does not suspend again.
    let (_, list) = app.get("/v1/admin/remedies", Some(&app.admin_token)).await;
    assert_eq!(list["remedies"][0]["actor"], "auto", "{list}");
    let id = list["remedies"][0]["id"].as_str().unwrap();
    let lift = json!({"reason": "reports were a coordinated campaign"});
    let (status, body) =
        app.post(&format!("/v1/admin/remedies/{id}/lift"), &app.admin_token, &lift).await;
    assert_eq!(status, 204, "{body}");
    app.post("/v1/abuse-reports", &hubs[0], &report(&uris[0], "after lift")).await;
    assert_eq!(status_of(&app, &hubs[0], &uris[0]).await, "active");
}

async fn remedies_act_on_every_pseudonym_of_the_account(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let trudy = mint(&app, &backend, "trudy", 3).await;
    let victor = mint(&app, &backend, "victor", 1).await;
    let walt = mint(&app, &backend, "walt", 2).await;
    let xena = mint(&app, &backend, "xena", 2).await;

    let (status, body) = remedy(&app, &trudy[1], "suspend").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["affected_pseudonyms"], 3, "{body}");
    assert!(body["remedy_id"].is_string());
    assert_eq!(body.as_object().unwrap().len(), 2, "only the remedy id and count: {body}");
    for uri in &trudy {
        assert_eq!(status_of(&app, &hub, uri).await, "suspended");
    }
    assert_eq!(status_of(&app, &hub, &victor[0]).await, "active");
    let (status, body) = app.mint(&backend, "trudy", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");
    assert!(!body.to_string().contains("trudy"), "{body}");
    mint(&app, &backend, "victor", 1).await;
    // A weaker remedy does not lift a stronger one.
    let body = json!({"pseudonym": trudy[0], "action": "mute", "case_id": "c", "reason": "r",
                      "duration": "1h"});
    assert_eq!(app.post("/v1/admin/remedies", &app.admin_token, &body).await.0, 201);
    assert_eq!(status_of(&app, &hub, &trudy[0]).await, "suspended");

    let (status, body) = remedy(&app, &walt[0], "suspend_and_revoke").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["affected_pseudonyms"], 2, "{body}");
    for uri in &walt {
        assert_eq!(status_of(&app, &hub, uri).await, "revoked");
    }
    let (_, standing) =
        app.post("/v1/accounts/status", &backend, &json!({"account": "walt"})).await;
    assert_eq!(standing["status"], "suspended", "{standing}");
    assert_eq!(standing["active_pseudonyms"], 0, "{standing}");

    let (status, body) = remedy(&app, &xena[0], "mute").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["affected_pseudonyms"], 2, "{body}");
    assert_eq!(status_of(&app, &hub, &xena[1]).await, "active", "muted pseudonyms stay usable");
    let (status, body) = app.mint(&backend, "xena", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");

    assert_eq!(remedy_audit_rows(&app).await, 4, "every remedy is an audit event");
    let dump = app.state.store.dump_all_tables().await.unwrap();
    for name in ["trudy", "walt", "xena"] {
        assert!(!dump.contains(name), "{name} is stored in clear");
    }

    // Hubs may not apply remedies unless the policy says so.
    let (status, body) = app
        .post(
            "/v1/admin/remedies",
            &hub,
            &json!({"pseudonym": victor[0], "action": "suspend",
                                             "case_id": "c", "reason": "r"}),
        )
        .await;
    assert_problem(status, &body, 403, "insufficient-scope");
    assert_eq!(status_of(&app, &hub, &victor[0]).await, "active");
}

async fn delete_leaves_no_row_naming_the_account(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hubs = [app.token(&["hub"]).await, app.token(&["hub"]).await];
    let zoe = mint(&app, &backend, "zoe", 2).await;
    mint(&app, &backend, "yann", 1).await;
    app.post("/v1/abuse-reports", &hubs[0], &report(&zoe[0], "x")).await;
    app.post("/v1/abuse-reports", &hubs[1], &report(&zoe[1], "y")).await;
    let seed = json!({"account": "zoe", "verified_phone": true, "account_age_days": 800});
    assert_eq!(app.post("/v1/accounts/signals", &backend, &seed).await.0, 204);
    assert_eq!(remedy(&app, &zoe[0], "suspend").await.0, 201);

    let (status, body) = remedy(&app, &zoe[1], "delete").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["affected_pseudonyms"], 2, "{body}");
    for uri in &zoe {
        assert_eq!(status_of(&app, &hubs[0], uri).await, "revoked");
    }
    assert_eq!(app.account_count().await, 1, "only yann is left");
    let account_ref = app.state.keys.link.account_ref("zoe");
    let hex: String = account_ref.0.iter().map(|b| format!("{b:02x}")).collect();
    let dump = app.state.store.dump_all_tables().await.unwrap().to_lowercase();
    assert!(!dump.contains(&hex), "a row still names the deleted account");
    assert_eq!(remedy_audit_rows(&app).await, 2);

    // Nothing is left to act on, and the deleted account id does not come
    // back with a clean record: its keyed tombstone refuses the mint (before
    // tombstones, this mint answered 201), and the refusal stores nothing.
    let (status, body) = remedy(&app, &zoe[0], "suspend").await;
    assert_problem(status, &body, 404, "not-found");
    let (status, body) = app.mint(&backend, "zoe", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");
    assert_eq!(app.account_count().await, 1, "the refused mint stored no account");
}

/// A stop injected between a deletion's record and its end: a trigger
/// refuses every removal of an account row until [`Self::lift`].
struct AccountRemovalStop {
    raw: sqlx::AnyPool,
    lift: &'static str,
}

impl AccountRemovalStop {
    async fn inject(app: &TestApp) -> Self {
        let raw = app.raw_pool().await;
        let (create, lift): (&[&'static str], &'static str) = match app.db {
            Db::Sqlite => (
                &["CREATE TRIGGER cut_deletion BEFORE DELETE ON accounts \
                   BEGIN SELECT RAISE(ABORT, 'injected stop'); END"],
                "DROP TRIGGER cut_deletion",
            ),
            Db::Postgres => (
                &[
                    "CREATE FUNCTION cut_deletion() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'injected stop'; END $$",
                    "CREATE TRIGGER cut_deletion BEFORE DELETE ON accounts \
                     FOR EACH ROW EXECUTE FUNCTION cut_deletion()",
                ],
                "DROP TRIGGER cut_deletion ON accounts",
            ),
        };
        for sql in create {
            sqlx::query(*sql).execute(&raw).await.unwrap();
        }
        Self { raw, lift }
    }

    async fn lift(self) {
        sqlx::query(self.lift).execute(&self.raw).await.unwrap();
    }
}

/// A deletion is recorded (remedy, audit entry, account suspended,
/// tombstone) before it unlinks the pseudonyms and removes the account, so a
/// process stopped in between leaves a deletion the next start finishes,
/// never a half-deleted account nobody can reach again. The stop is
/// injected by a trigger that refuses the account row's removal; before
/// this order existed, that left the pseudonyms revoked and the account in
/// place with no remedy and no audit entry, and sending the deletion again
/// answered 404.
async fn a_deletion_cut_after_its_record_is_finished_at_the_next_start(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let uris = mint(&app, &backend, "cut@example.com", 2).await;
    mint(&app, &backend, "bystander@example.com", 1).await;
    let (status, body) = remedy(&app, &uris[1], "suspend").await;
    assert_eq!(status, 201, "{body}");
    let suspension = body["remedy_id"].as_str().unwrap().to_string();
    let stop = AccountRemovalStop::inject(&app).await;
    let (status, body) = remedy(&app, &uris[0], "delete").await;
    assert_eq!(status, 500, "the injected stop: {body}");

    // Recorded: listed, audited, the account suspended and unable to mint.
    let (_, listed) = app.get("/v1/admin/remedies", Some(&app.admin_token)).await;
    let deletions: Vec<&Value> =
        listed["remedies"].as_array().unwrap().iter().filter(|r| r["action"] == "delete").collect();
    assert_eq!(deletions.len(), 1, "{listed}");
    assert_eq!(remedy_audit_rows(&app).await, 2, "the suspension and the deletion");
    for uri in &uris {
        assert_eq!(status_of(&app, &hub, uri).await, "revoked");
    }
    let (status, body) = app.mint(&backend, "cut@example.com", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");
    assert_eq!(app.account_count().await, 2, "the account is still there, pending");
    // Lifting its earlier suspension does not make it active again while
    // the deletion is pending (found by review: the lift ignored it).
    let lift = format!("/v1/admin/remedies/{suspension}/lift");
    let (status, body) = app.post(&lift, &app.admin_token, &json!({"reason": "appeal"})).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app.mint(&backend, "cut@example.com", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");

    // The next start finishes it.
    stop.lift().await;
    let restarted = app.replica().await;
    assert_eq!(restarted.account_count().await, 1, "only the bystander is left");
    let account_ref = app.state.keys.link.account_ref("cut@example.com");
    let hex: String = account_ref.0.iter().map(|b| format!("{b:02x}")).collect();
    let dump = app.state.store.dump_all_tables().await.unwrap().to_lowercase();
    assert!(!dump.contains(&hex), "a row still names the deleted account");
    assert!(app.state.store.pending_deletions().await.unwrap().is_empty());
    for uri in &uris {
        assert_eq!(status_of(&restarted, &hub, uri).await, "revoked");
    }
    assert_eq!(remedy_audit_rows(&app).await, 3, "one deletion, audited once (and the lift)");
    let (status, body) =
        restarted.mint(&backend, "cut@example.com", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");
}

/// A mint batch commits its account side (the new pseudonym is in the
/// account's index), then its pseudonym rows. A deletion that runs in
/// between used to unlink every row the index named, find none for the new
/// one, and remove the account: the row then landed with a live link to a
/// gone account, revoked online but missing from the CRL (found by review).
/// The deletion now waits for every indexed row to be there and unlinked.
async fn a_deletion_between_a_batchs_two_transactions_still_reaches_its_pseudonym(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let first = mint(&app, &backend, "late@example.com", 1).await;
    let (reached, resume) = app.state.store.pause_next_batch_between_sides();
    let minting = mint(&app, &backend, "late@example.com", 1);
    let deleting = async {
        reached.await.expect("the batch reached its pause");
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            resume.send(()).expect("the batch waits");
        };
        let ((status, body), ()) = tokio::join!(remedy(&app, &first[0], "delete"), release);
        assert_eq!(status, 201, "{body}");
    };
    let (late, ()) = tokio::join!(minting, deleting);

    let now = app.state.clock.now();
    let revoked: Vec<String> = app
        .state
        .store
        .revoked_rows(now)
        .await
        .unwrap()
        .iter()
        .map(|id| id.as_str().to_string())
        .collect();
    for uri in first.iter().chain(&late) {
        let id = uri.rsplit('/').next().unwrap();
        assert!(revoked.iter().any(|r| r == id), "{uri} is not on the CRL's list");
    }
    assert_eq!(app.account_count().await, 0, "the account is gone");
}

/// A deletion whose second half failed is finished by the running veild
/// (`spawn_deletion_resumer`), not only at the next start: until then the
/// account stays suspended, so the window matters less, but it must close.
async fn a_pending_deletion_is_retried_while_veild_runs(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let uris = mint(&app, &backend, "jane@example.com", 1).await;
    let stop = AccountRemovalStop::inject(&app).await;
    assert_eq!(remedy(&app, &uris[0], "delete").await.0, 500);
    assert_eq!(app.state.store.pending_deletions().await.unwrap().len(), 1);
    stop.lift().await;
    let retry = std::time::Duration::from_millis(50);
    let resumer = veil::app::spawn_deletion_resumer(app.state.clone(), retry);
    let mut finished = false;
    for _ in 0..100 {
        if app.state.store.pending_deletions().await.unwrap().is_empty() {
            finished = true;
            break;
        }
        tokio::time::sleep(retry).await;
    }
    resumer.abort();
    assert!(finished, "the running veild finished the pending deletion");
    assert_eq!(app.account_count().await, 0);
}

/// A database writer without keys turns a mute into a deletion (`UPDATE
/// remedies SET action = 'delete'`): the next start would carry out a
/// deletion nobody decided, unaudited, erasing the account's break-glass
/// link. A deletion's account is sealed for a deletion (its own aad), so
/// the rewritten row does not open and the account stays. Found by review:
/// before, the seal was bound to the remedy id alone and the start deleted
/// the account.
async fn a_remedy_rewritten_into_a_deletion_is_not_carried_out(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let uris = mint(&app, &backend, "henry@example.com", 2).await;
    let (status, body) = remedy(&app, &uris[0], "mute").await;
    assert_eq!(status, 201, "{body}");
    let id = body["remedy_id"].as_str().unwrap().to_string();
    let raw = app.raw_pool().await;
    sqlx::query("UPDATE remedies SET action = 'delete' WHERE id = $1")
        .bind(&id)
        .execute(&raw)
        .await
        .unwrap();
    let restarted = app.replica().await;
    assert_eq!(restarted.account_count().await, 1, "the account is still there");
    for uri in &uris {
        assert_eq!(status_of(&restarted, &hub, uri).await, "active");
    }
    assert_eq!(app.state.store.pending_deletions().await.unwrap().len(), 1, "left pending");
}

/// With `account.deleted_may_return = true`, a deleted account id starts
/// over as a new account (its old pseudonyms stay revoked).
async fn a_policy_lets_deleted_accounts_return(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let old = mint(&app, &backend, "phoenix", 2).await;
    assert_eq!(remedy(&app, &old[0], "delete").await.0, 201);
    let new = mint(&app, &backend, "phoenix", 1).await;
    assert_eq!(status_of(&app, &hub, &new[0]).await, "active");
    for uri in &old {
        assert_eq!(status_of(&app, &hub, uri).await, "revoked");
    }
}

/// With `deleted_may_return`, a deletion left pending must only ever remove
/// the account it was recorded for. Here its finish fails (an injected
/// stop), a second deletion (a related remedy) then removes the account,
/// and the account id comes back as a new account. Before the first
/// deletion was finished together with the account it was recorded for,
/// it stayed pending, and the next start carried it out on the new account:
/// its pseudonym revoked, its row gone.
async fn a_pending_deletion_spares_the_account_that_came_back(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let old = mint_related(&app, &backend, "phoenix", "phoenix@example.com").await;
    let alias = mint_related(&app, &backend, "phoenix-alias", "phoenix@example.com").await;
    let stop = AccountRemovalStop::inject(&app).await;
    assert_eq!(remedy(&app, &old[0], "delete").await.0, 500, "the injected stop");
    assert_eq!(app.state.store.pending_deletions().await.unwrap().len(), 1);
    stop.lift().await;

    // A second deletion reaches the same account through the relation key
    // and removes it: the first deletion's account is gone with it.
    let related = json!({"pseudonym": alias[0], "action": "delete", "related": true,
                         "case_id": "case-9", "reason": "ban evasion"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &related).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.account_count().await, 0, "both accounts removed");

    // The id returns as a new account; the next start leaves it alone.
    let new = mint(&app, &backend, "phoenix", 1).await;
    let restarted = app.replica().await;
    assert_eq!(restarted.account_count().await, 1, "the new account is still there");
    assert_eq!(status_of(&restarted, &hub, &new[0]).await, "active");
    for uri in old.iter().chain(&alias) {
        assert_eq!(status_of(&restarted, &hub, uri).await, "revoked");
    }
    assert!(
        app.state.store.pending_deletions().await.unwrap().is_empty(),
        "the first deletion ended with the account it was recorded for"
    );
}

async fn mint_related(app: &TestApp, backend: &str, account: &str, email: &str) -> Vec<String> {
    let clients = vec![MlsClient::new(), MlsClient::new()];
    let keys: Vec<Value> = clients.iter().map(MlsClient::jwk).collect();
    let body = json!({"account": account, "keys": keys,
                      "relations": [{"kind": "email", "value": email}]});
    let (status, body) = app.post("/v1/pseudonyms", backend, &body).await;
    assert_eq!(status, 201, "{body}");
    remember(&body, clients)
}

async fn related_remedies_reach_accounts_sharing_a_relation_key(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let first = mint_related(&app, &backend, "eve-1", "Eve@Example.com").await;
    let second = mint_related(&app, &backend, "eve-2", " eve@example.com").await;
    let other = mint_related(&app, &backend, "frank", "frank@example.com").await;
    let dump = app.state.store.dump_all_tables().await.unwrap().to_lowercase();
    assert!(!dump.contains("eve@example.com"), "relation keys are stored only as tags");

    // Without `related`, only the account behind the pseudonym.
    let (status, body) = remedy(&app, &first[0], "mute").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["affected_pseudonyms"], 2, "{body}");
    mint(&app, &backend, "eve-2", 1).await;

    let body = json!({"pseudonym": first[0], "action": "suspend_and_revoke", "related": true,
                      "case_id": "case-7", "reason": "ban evasion"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["affected_pseudonyms"], 5, "two + three pseudonyms: {body}");
    for uri in first.iter().chain(&second) {
        assert_eq!(status_of(&app, &hub, uri).await, "revoked");
    }
    assert_eq!(status_of(&app, &hub, &other[0]).await, "active");
    let (status, body) = app.mint(&backend, "eve-2", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");

    let body = json!({"pseudonym": second[1], "action": "delete", "related": true,
                      "case_id": "case-7", "reason": "ban evasion"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.account_count().await, 1, "only frank is left");
    assert_eq!(rows(&app, "account_relations").await, 1);
}

async fn remedies_are_listed_and_lifted(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let lena = mint(&app, &backend, "lena", 2).await;
    let (_, applied) = remedy(&app, &lena[0], "suspend").await;
    let id = applied["remedy_id"].as_str().unwrap().to_string();

    let (status, list) = app.get("/v1/admin/remedies", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{list}");
    let listed = &list["remedies"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["action"], "suspend");
    assert_eq!(listed["case_id"], "case-1");
    assert_eq!(listed["affected_pseudonyms"], 2);
    assert!(listed["lifted_at"].is_null());
    let created_at = listed["created_at"].as_str().unwrap_or_default();
    assert!(veil::core::clock::parse_rfc3339(created_at).is_some(), "RFC 3339: {list}");
    assert!(!list.to_string().contains("lena"), "{list}");
    let (status, body) = app.get("/v1/admin/remedies", Some(&hub)).await;
    assert_problem(status, &body, 403, "insufficient-scope");
    // The remedy row keeps the account only sealed: a dump cannot join the
    // remedied pseudonym (named in the audit log) to the account's ref.
    let account_ref = app.state.keys.link.account_ref("lena");
    let hex: String = account_ref.0.iter().map(|b| format!("{b:02x}")).collect();
    let dump = app.state.store.dump_all_tables().await.unwrap().to_lowercase();
    let remedy_rows: Vec<&str> = dump.lines().filter(|l| l.starts_with("remedies: ")).collect();
    assert_eq!(remedy_rows.len(), 1);
    assert!(!remedy_rows[0].contains(&hex), "{}", remedy_rows[0]);

    let lift = |id: &str| format!("/v1/admin/remedies/{id}/lift");
    let (status, body) = app.post(&lift(&id), &app.admin_token, &json!({})).await;
    assert_problem(status, &body, 422, "invalid-request");
    let (status, body) = app.post(&lift(&id), &app.admin_token, &json!({"reason": "appeal"})).await;
    assert_eq!(status, 204, "{body}");
    for uri in &lena {
        assert_eq!(status_of(&app, &hub, uri).await, "active");
    }
    mint(&app, &backend, "lena", 1).await;
    let (status, body) = app.post(&lift(&id), &app.admin_token, &json!({"reason": "again"})).await;
    assert_problem(status, &body, 409, "remedy-not-liftable");
    let (status, body) = app.post(&lift("nope"), &app.admin_token, &json!({"reason": "x"})).await;
    assert_problem(status, &body, 404, "not-found");
    let (_, list) = app.get("/v1/admin/remedies", Some(&app.admin_token)).await;
    let lifted_at = list["remedies"][0]["lifted_at"].as_str().unwrap_or_default();
    assert!(veil::core::clock::parse_rfc3339(lifted_at).is_some(), "RFC 3339: {list}");

    let (_, deleted) = remedy(&app, &lena[1], "delete").await;
    let deleted = deleted["remedy_id"].as_str().unwrap().to_string();
    let (status, body) = app.post(&lift(&deleted), &app.admin_token, &json!({"reason": "x"})).await;
    assert_problem(status, &body, 409, "remedy-not-liftable");
    assert_eq!(remedy_audit_rows(&app).await, 3, "applied, lifted, applied");
}

/// Lifting a remedy leaves the account under the strongest remedy still
/// in force, not active: lifting an old mute must not undo a later suspension.
async fn lifting_one_remedy_keeps_the_others_in_force(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let nina = mint(&app, &backend, "nina", 1).await;
    let standing = || async {
        let (_, body) =
            app.post("/v1/accounts/status", &backend, &json!({"account": "nina"})).await;
        body["status"].as_str().unwrap_or_default().to_string()
    };
    let app = &app;
    let lift = |id: Value| {
        let path = format!("/v1/admin/remedies/{}/lift", id.as_str().unwrap_or_default());
        async move { app.post(&path, &app.admin_token, &json!({"reason": "appeal"})).await.0 }
    };
    let timed = |action: &str| {
        json!({"pseudonym": nina[0], "action": action, "case_id": "c", "reason": "r",
               "duration": "1h"})
    };

    let (_, mute) = app.post("/v1/admin/remedies", &app.admin_token, &timed("mute")).await;
    let (_, suspension) = remedy(app, &nina[0], "suspend").await;
    assert_eq!(lift(mute["remedy_id"].clone()).await, 204);
    assert_eq!(standing().await, "suspended", "the later suspension is still in force");
    assert_eq!(status_of(app, &hub, &nina[0]).await, "suspended");

    let (_, mute) = app.post("/v1/admin/remedies", &app.admin_token, &timed("mute")).await;
    assert_eq!(lift(suspension["remedy_id"].clone()).await, 204);
    assert_eq!(standing().await, "muted", "the mute still in force is what is left");
    let (status, body) = app.mint(&backend, "nina", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 403, "account-restricted");

    assert_eq!(lift(mute["remedy_id"].clone()).await, 204);
    assert_eq!(standing().await, "active", "(three remedies cost it the reputation to mint)");
}

async fn bad_remedies_and_reports_are_refused_and_store_nothing(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let uri = mint(&app, &backend, "ursula", 1).await.remove(0);
    let base = json!({"pseudonym": uri, "action": "suspend", "case_id": "c", "reason": "r"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let mut missing_case = base.clone();
    missing_case.as_object_mut().unwrap().remove("case_id");
    for body in [
        with("action", json!("ban")),
        missing_case,
        with("case_id", json!("  ")),
        with("pseudonym", json!("mimi://other.example/p/AAAAAAAAAAAAAAAAAAAAAA")),
        with("pseudonym", json!("not a uri")),
        with("related", json!("yes")),
        with("duration", json!("forever")),
        {
            let mut b = with("action", json!("delete"));
            b["duration"] = json!("1d");
            b
        },
    ] {
        let (status, response) = app.post("/v1/admin/remedies", &app.admin_token, &body).await;
        assert_problem(status, &response, 422, "invalid-request");
    }
    let unknown = with("pseudonym", json!("mimi://example.com/p/AAAAAAAAAAAAAAAAAAAAAA"));
    let (status, response) = app.post("/v1/admin/remedies", &app.admin_token, &unknown).await;
    assert_problem(status, &response, 404, "not-found");

    let long_note = "n".repeat(4097);
    let mut many = report(&uri, "x");
    many["messages"] = json!(vec![many["messages"][0].clone(); 11]);
    let mut big_content = report(&uri, "x");
    big_content["messages"][0]["mimi_content"] = json!(Base64::encode_string(&[0; 4097]));
    let message = |key: &str, value: Value| {
        let mut body = report(&uri, "x");
        body["messages"][0][key] = value;
        body
    };
    let reason = |value: Value| {
        let mut body = report(&uri, "x");
        body["reason_code"] = value;
        body
    };
    let frank = frank("x");
    let url_safe = frank.replace('+', "-").replace('/', "_");
    assert_ne!(url_safe, frank, "the fixture frank has a character base64url spells otherwise");
    for body in [
        report(&long_note, "x"),
        report(&uri, &long_note),
        many,
        big_content,
        report("mimi://other.example/p/AAAAAAAAAAAAAAAAAAAAAA", "x"),
        // Reason codes: only those draft-ietf-mimi-protocol-02 lists (0).
        reason(json!(1)),
        reason(json!(7)),
        reason(json!(255)),
        reason(json!(256)),
        reason(json!(-1)),
        reason(json!("0")),
        // A frank is the 96 bytes of the draft's Frank, standard base64.
        message("frank", json!("spam")),
        message("frank", json!(Base64::encode_string(&[7; 95]))),
        message("frank", json!(Base64::encode_string(&[7; 97]))),
        message("frank", json!(url_safe)),
        message("frank", json!(format!("{frank}="))),
        message("frank", json!("")),
        message("mimi_content", json!("not base64!")),
    ] {
        let (status, response) = app.post("/v1/abuse-reports", &hub, &body).await;
        assert_problem(status, &response, 422, "invalid-request");
    }
    let mut unknown_field = report(&uri, "x");
    unknown_field["severity"] = json!(3);
    let (status, response) = app.post("/v1/abuse-reports", &hub, &unknown_field).await;
    assert_problem(status, &response, 422, "invalid-request");

    for table in ["abuse_reports", "report_weights", "remedies", "reputation_events"] {
        assert_eq!(rows(&app, table).await, 0, "{table}");
    }
    assert_eq!(remedy_audit_rows(&app).await, 0);
    assert_eq!(status_of(&app, &hub, &uri).await, "active");
}

async fn a_policy_can_let_hubs_apply_remedies(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let uris = mint(&app, &backend, "hugo", 2).await;
    let body = json!({"pseudonym": uris[0], "action": "suspend", "case_id": "h-1", "reason": "r"});
    let (status, body) = app.post("/v1/admin/remedies", &hub, &body).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["affected_pseudonyms"], 2);
    assert_eq!(status_of(&app, &hub, &uris[1]).await, "suspended");
    // Listing and lifting stay with operators.
    let (status, body) = app.get("/v1/admin/remedies", Some(&hub)).await;
    assert_problem(status, &body, 403, "insufficient-scope");
    // The deprecated path lets the hub do the same.
    let other = mint(&app, &backend, "hilda", 1).await;
    let body = json!({"pseudonym": other[0], "action": "mute", "case_id": "h-2", "reason": "r"});
    let (status, body) = app.post("/v1/remedies", &hub, &body).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(status_of(&app, &hub, &other[0]).await, "active", "muted, still valid");
    let (status, body) = app.get("/v1/remedies", Some(&hub)).await;
    assert_problem(status, &body, 403, "insufficient-scope");
}

/// `/v1/remedies`, `/v1/remedies/{id}/lift` and `/v1/reputation-adjustments`
/// still answer, with the same handlers, until the next release.
async fn the_pre_admin_paths_are_aliases_for_one_release(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let uris = mint(&app, &backend, "olga", 1).await;
    let body = json!({"pseudonym": uris[0], "action": "mute", "case_id": "o-1", "reason": "r"});
    let (status, applied) = app.post("/v1/remedies", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{applied}");
    let (status, list) = app.get("/v1/remedies", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["remedies"][0]["id"], applied["remedy_id"], "{list}");
    let id = applied["remedy_id"].as_str().unwrap();
    let lift = json!({"reason": "appeal"});
    let (status, body) =
        app.post(&format!("/v1/remedies/{id}/lift"), &app.admin_token, &lift).await;
    assert_eq!(status, 204, "{body}");
    let (_, list) = app.get("/v1/admin/remedies", Some(&app.admin_token)).await;
    assert!(list["remedies"][0]["lifted_at"].is_string(), "{list}");
    let adjust = json!({"pseudonym": uris[0], "points": 5, "case_id": "o-2", "reason": "r"});
    let (status, body) = app.post("/v1/reputation-adjustments", &app.admin_token, &adjust).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["adjustment_id"].is_string(), "{body}");
}

async fn minting_and_upheld_reports_are_reputation_events(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hubs = [app.token(&["hub"]).await, app.token(&["hub"]).await];
    assert_eq!(score(&app, &backend, "uma").await, 100);
    let uris = mint(&app, &backend, "uma", 2).await;
    assert_eq!(score(&app, &backend, "uma").await, 94, "two pseudonyms minted at -3 each");

    // Two hubs report (weight 1 each, -1 per unit on arrival)...
    for hub in &hubs {
        let (status, body) = app.post("/v1/abuse-reports", hub, &report(&uris[0], "spam")).await;
        assert_eq!(status, 202, "{body}");
    }
    assert_eq!(score(&app, &backend, "uma").await, 92);
    // ...and a remedy upholds them: -7 per unit of report weight on top of
    // the remedy's own -100 (decay over the test's seconds rounds away).
    let (status, body) = remedy(&app, &uris[0], "mute").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(score(&app, &backend, "uma").await, 92 - 100 - 14);
}

async fn score(app: &TestApp, backend: &str, account: &str) -> i64 {
    let ask = json!({"account": account});
    let (status, body) = app.post("/v1/accounts/status", backend, &ask).await;
    assert_eq!(status, 200, "{body}");
    body["score"].as_i64().unwrap()
}

/// The URIs of the pseudonyms in a `POST /v1/pseudonyms` answer.
fn minted_uris(body: &Value) -> Vec<String> {
    body["pseudonyms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["uri"].as_str().unwrap().into())
        .collect()
}

/// The abuse: a mint reads the account's standing (active), a
/// `suspend_and_revoke` commits, then the mint writes. Before the standing
/// was re-read under the account row lock, that mint stored an active
/// pseudonym beside the revoked ones. Played here deterministically: the
/// remedy commits, then the mint's account-side write runs as the late mint
/// would.
async fn a_mint_racing_a_remedy_is_refused_under_the_row_lock(app: TestApp) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use veil::store::{Charges, IndexChange, MintJob, NewAccount, StoreError};

    let backend = app.token(&["backend"]).await;
    let uris = mint(&app, &backend, "racer", 1).await;
    let body = json!({"pseudonym": uris[0], "action": "suspend_and_revoke",
                      "case_id": "case-race", "reason": "abuse"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{body}");

    let account_ref = app.state.keys.link.account_ref("racer");
    let appended = Arc::new(AtomicBool::new(false));
    let seen = appended.clone();
    let late = MintJob {
        account: NewAccount {
            account_ref,
            glass: None,
            glass_key_id: vec![0; 16],
            created_hour: 0,
            relations: vec![],
        },
        charges: Charges { now: app.state.clock.now(), ..Default::default() },
        amount: 1,
        event_id: [7; 16],
        tombstone: None,
        index: Box::new(move |_| {
            seen.store(true, Ordering::SeqCst);
            IndexChange::OverActive
        }),
        pseudonyms: vec![],
    };
    let result = app.state.store.mint(late).await;
    assert!(matches!(result, Err(StoreError::Restricted)), "{result:?}");
    assert!(!appended.load(Ordering::SeqCst), "the index was not touched");
}

/// The abuse: one hub sends many distinct reports at once. Its weight
/// against the account is capped (2 by default), so the reputation cost is
/// at most 2 × `abuse_report`. Before the weight was read under the row
/// lock, concurrent reports each computed their gain from a stale weight and
/// charged the account more than the cap on PostgreSQL.
async fn concurrent_reports_charge_a_reporter_up_to_its_cap(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let uris = mint(&app, &backend, "vera", 1).await;
    let before = score(&app, &backend, "vera").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (http, url, token) = (app.http.clone(), app.url("/v1/abuse-reports"), hub.clone());
        let body = report(&uris[0], &format!("burst {i}"));
        tasks.spawn(async move {
            http.post(url).bearer_auth(token).json(&body).send().await.expect("send").status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task").as_u16(), 202);
    }
    assert_eq!(score(&app, &backend, "vera").await, before - 2, "abuse_report = -1, cap 2");
}

/// A hub cannot flood the reports table: its fourth report in the hour gets
/// 429 whether the pseudonym is known or not (the quota reveals nothing),
/// and stores nothing; another hub is not affected.
async fn a_reporter_has_an_hourly_quota(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let (flooder, other) = (app.token(&["hub"]).await, app.token(&["hub"]).await);
    let uris = mint(&app, &backend, "wendy", 1).await;
    let unknown = "mimi://example.com/p/AAAAAAAAAAAAAAAAAAAAAA";
    for note in ["a", "b"] {
        let (status, body) = app.post("/v1/abuse-reports", &flooder, &report(&uris[0], note)).await;
        assert_eq!(status, 202, "{body}");
    }
    let (status, body) = app.post("/v1/abuse-reports", &flooder, &report(unknown, "c")).await;
    assert_eq!(status, 202, "{body}");
    let stored = rows(&app, "abuse_reports").await;
    for target in [uris[0].as_str(), unknown] {
        let (status, body) = app.post("/v1/abuse-reports", &flooder, &report(target, "d")).await;
        assert_problem(status, &body, 429, "rate-limited");
    }
    assert_eq!(rows(&app, "abuse_reports").await, stored, "a refused report stores nothing");
    let (status, body) = app.post("/v1/abuse-reports", &other, &report(&uris[0], "e")).await;
    assert_eq!(status, 202, "{body}");
}

/// One relation key shared by a crowd: a `related` remedy would fan out to
/// every account. Past `MAX_RELATED` the request is refused before anything
/// is written.
async fn a_related_remedy_reaching_a_crowd_is_refused(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let first = mint_related(&app, &backend, "crowd-0", "office@example.com").await;
    for i in 1..=veil::services::abuse::MAX_RELATED + 1 {
        mint_related(&app, &backend, &format!("crowd-{i}"), "office@example.com").await;
    }
    let body = json!({"pseudonym": first[0], "action": "suspend", "case_id": "case-crowd",
                      "reason": "spam", "related": true});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &body).await;
    assert_problem(status, &body, 422, "invalid-request");
    assert_eq!(rows(&app, "remedies").await, 0, "nothing was applied");
}
