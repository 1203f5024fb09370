//! Rate limits enforced in the database: exact under concurrency, a refused
//! batch consumes nothing, 429 with `Retry-After`, nothing about the account
//! in the refusal.

use std::sync::Arc;

use serde_json::{Value, json};
use veil::core::clock::{ManualClock, SystemClock};

use crate::support::mls::MlsClient;
use crate::support::{Db, TestApp, assert_problem};

/// Ten pseudonyms per account; client and global limits out of the way.
const TEN_PER_ACCOUNT: &str = "\
[account]\npseudonyms_per_hour = 10\npseudonyms_per_day = 10\nmax_active = 100\n\
[client]\nrequests_per_second = 1000\nburst = 1000\n";

/// Small client and global limits, on a clock the test moves.
const TIGHT_SHARED: &str = "\
[account]\npseudonyms_per_hour = 2\npseudonyms_per_day = 4\nmax_active = 3\n\
[client]\nrequests_per_second = 1\nburst = 3\n\
[global]\npseudonyms_per_minute = 5\n";

/// Five per account, forty for the whole service a minute.
const CROWD: &str = "\
[account]\npseudonyms_per_hour = 5\npseudonyms_per_day = 5\nmax_active = 100\n\
[client]\nrequests_per_second = 1\nburst = 1000\n\
[global]\npseudonyms_per_minute = 40\n";

/// Three an hour, four a day.
const HOUR_AND_DAY: &str = "[account]\npseudonyms_per_hour = 3\npseudonyms_per_day = 4\n";

/// At most two active pseudonyms.
const TWO_ACTIVE: &str = "[account]\nmax_active = 2\n";

/// A bucket of seven tokens, one a second.
const CROWD_BUCKET: &str = "[account]\npseudonyms_per_hour = 5\n\
[client]\nrequests_per_second = 1\nburst = 7\n";

/// A bucket of four tokens, one a second.
const PER_KEY: &str = "[account]\npseudonyms_per_hour = 4\n\
[client]\nrequests_per_second = 1\nburst = 4\n";

/// A round hour (18:00 UTC), so windows start where the test expects.
const START: i64 = 1_900_000_800;

async fn ten_per_account(db: Db) -> TestApp {
    TestApp::spawn_with(db, Arc::new(SystemClock), Some(TEN_PER_ACCOUNT)).await
}

/// A veil with this issuance policy on a clock the test moves, at `START`.
async fn on_a_manual_clock(db: Db, policy: &str) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(START);
    let app = TestApp::spawn_with(db, clock.clone(), Some(policy)).await;
    (app, clock)
}

async fn tight_shared(db: Db) -> (TestApp, Arc<ManualClock>) {
    on_a_manual_clock(db, TIGHT_SHARED).await
}

async fn crowd(db: Db) -> (TestApp, Arc<ManualClock>) {
    on_a_manual_clock(db, CROWD).await
}

async fn hour_and_day(db: Db) -> (TestApp, Arc<ManualClock>) {
    on_a_manual_clock(db, HOUR_AND_DAY).await
}

async fn two_active(db: Db) -> TestApp {
    TestApp::spawn_with(db, Arc::new(SystemClock), Some(TWO_ACTIVE)).await
}

async fn crowd_bucket(db: Db) -> (TestApp, Arc<ManualClock>) {
    on_a_manual_clock(db, CROWD_BUCKET).await
}

async fn per_key_bucket(db: Db) -> (TestApp, Arc<ManualClock>) {
    on_a_manual_clock(db, PER_KEY).await
}

on_both_backends_with!(ten_per_account;
    fifty_concurrent_mints_for_one_account_exactly_ten_succeed,
    two_replicas_on_one_database_share_the_limit,
    a_refused_batch_consumes_nothing,
    an_account_at_its_limit_is_refused_before_any_work
);
on_both_backends_with!(crowd; a_crowd_on_two_replicas_meets_the_account_and_global_limits_exactly);
on_both_backends_with!(crowd_bucket; a_crowd_on_two_replicas_draws_the_client_bucket_exactly);
on_both_backends_with!(hour_and_day;
    a_window_refusal_takes_back_the_window_charged_before_it,
    a_window_charged_behind_the_batch_sends_it_to_the_exact_path
);
on_both_backends_with!(two_active; a_new_account_refused_under_its_lock_leaves_no_row);
on_both_backends_with!(per_key_bucket; the_client_bucket_counts_keys_not_requests);
on_both_backends_with!(tight_shared;
    client_global_and_active_limits_hold_and_windows_reopen,
    expired_pseudonyms_stop_counting_as_active,
    a_late_commit_of_an_earlier_second_neither_drains_nor_refills_the_bucket
);

fn keys(n: usize) -> Vec<Value> {
    (0..n).map(|_| MlsClient::new().jwk()).collect()
}

/// Mints through a raw request, returning status, Retry-After and body.
async fn mint_raw(
    app: &TestApp,
    token: &str,
    account: &str,
    n: usize,
) -> (u16, Option<i64>, Value) {
    let response = app
        .http
        .post(app.url("/v1/pseudonyms"))
        .bearer_auth(token)
        .json(&json!({"account": account, "keys": keys(n)}))
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").parse().expect("seconds"));
    let body: Value = response.json().await.expect("json");
    (status, retry, body)
}

fn assert_limited(status: u16, retry: Option<i64>, body: &Value, account: &str, max_wait: i64) {
    assert_problem(status, body, 429, "rate-limited");
    let retry = retry.expect("Retry-After on 429");
    assert!((1..=max_wait).contains(&retry), "Retry-After {retry}");
    assert!(!body.to_string().contains(account), "the refusal names the account: {body}");
}

async fn fifty_concurrent_mints_for_one_account_exactly_ten_succeed(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, backend) = (app.clone(), backend.clone());
        tasks.push(tokio::spawn(
            async move { mint_raw(&app, &backend, "carol@a.example", 1).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        let (status, retry, body) = task.await.expect("task");
        match status {
            201 => created += 1,
            _ => assert_limited(status, retry, &body, "carol@a.example", 86_400),
        }
    }
    assert_eq!(created, 10);
    assert_eq!(app.pseudonym_count().await, 10);
}

async fn two_replicas_on_one_database_share_the_limit(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let replicas = [Arc::new(app.replica().await), Arc::new(app)];
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (app, backend) = (replicas[i % 2].clone(), backend.clone());
        tasks.push(tokio::spawn(async move { mint_raw(&app, &backend, "grace", 1).await }));
    }
    let mut created = [0, 0];
    for (i, task) in tasks.into_iter().enumerate() {
        let (status, retry, body) = task.await.expect("task");
        match status {
            201 => created[i % 2] += 1,
            _ => assert_limited(status, retry, &body, "grace", 86_400),
        }
    }
    assert_eq!(created[0] + created[1], 10, "{created:?}");
    assert_eq!(replicas[1].pseudonym_count().await, 10);
}

/// An account at its limit is refused before its keys are looked at or
/// certified (a rate-limited account used to cost a signature per key):
/// even a key already in use gets the 429, not the 409 the key lookup
/// further on would give.
async fn an_account_at_its_limit_is_refused_before_any_work(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let used = MlsClient::new().jwk();
    let body = json!({"account": "frank", "keys": [used.clone()]});
    let (status, body) = app.post("/v1/pseudonyms", &backend, &body).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = mint_raw(&app, &backend, "frank", 9).await;
    assert_eq!(status, 201, "{body}");
    let again = json!({"account": "frank", "keys": [used]});
    let (status, body) = app.post("/v1/pseudonyms", &backend, &again).await;
    assert_problem(status, &body, 429, "rate-limited");
    assert_eq!(app.pseudonym_count().await, 10);
}

async fn a_refused_batch_consumes_nothing(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let (status, _, body) = mint_raw(&app, &backend, "dave", 8).await;
    assert_eq!(status, 201, "{body}");
    let (status, retry, body) = mint_raw(&app, &backend, "dave", 3).await;
    assert_limited(status, retry, &body, "dave", 86_400);
    assert_eq!(app.pseudonym_count().await, 8);
    // The refused three took nothing: two more still fit, then none.
    let (status, _, body) = mint_raw(&app, &backend, "dave", 2).await;
    assert_eq!(status, 201, "{body}");
    let (status, retry, body) = mint_raw(&app, &backend, "dave", 1).await;
    assert_limited(status, retry, &body, "dave", 86_400);
    // Another account is not affected.
    let (status, _, body) = mint_raw(&app, &backend, "erin", 10).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.pseudonym_count().await, 20);
}

async fn client_global_and_active_limits_hold_and_windows_reopen(
    (app, clock): (TestApp, Arc<ManualClock>),
) {
    let backend = app.token(&["backend"]).await;
    let detail = |body: &Value| body["detail"].as_str().expect("detail").to_string();
    // Three requests drain the client's bucket of three; the fourth waits.
    for account in ["a1", "a2", "a3"] {
        let (status, _, body) = mint_raw(&app, &backend, account, 1).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, retry, body) = mint_raw(&app, &backend, "a4", 1).await;
    assert_limited(status, retry, &body, "a4", 1);
    assert!(detail(&body).contains("API client"), "{body}");

    // Two seconds refill two tokens, which two keys take (a token per key);
    // a second later the service-wide five per minute are full.
    clock.advance(2);
    let (status, _, body) = mint_raw(&app, &backend, "a4", 2).await;
    assert_eq!(status, 201, "{body}");
    clock.advance(1);
    let (status, retry, body) = mint_raw(&app, &backend, "a5", 1).await;
    assert_limited(status, retry, &body, "a5", 57);
    assert!(detail(&body).contains("whole service"), "{body}");

    // Next minute: the account's two per hour bind.
    clock.advance(60);
    let (status, _, body) = mint_raw(&app, &backend, "a1", 1).await;
    assert_eq!(status, 201, "{body}");
    let (status, retry, body) = mint_raw(&app, &backend, "a1", 1).await;
    assert_limited(status, retry, &body, "a1", 3600 - 63);
    assert!(detail(&body).contains("per hour"), "{body}");

    // Next hour: the third pseudonym fits, a fourth active one does not.
    clock.advance(3600);
    let (status, _, body) = mint_raw(&app, &backend, "a1", 1).await;
    assert_eq!(status, 201, "{body}");
    let (status, retry, body) = mint_raw(&app, &backend, "a1", 1).await;
    assert_limited(status, retry, &body, "a1", 3600);
    assert!(detail(&body).contains("active"), "{body}");
    assert_eq!(app.pseudonym_count().await, 7);

    // Passed windows are deleted when a new one opens: one global row left.
    let dump = app.state.store.dump_all_tables().await.unwrap();
    let minutes =
        dump.lines().filter(|l| l.starts_with("rate_windows: ") && l.contains("mint_minute"));
    assert_eq!(minutes.count(), 1, "{dump}");
}

async fn expired_pseudonyms_stop_counting_as_active((app, clock): (TestApp, Arc<ManualClock>)) {
    let backend = app.token(&["backend"]).await;
    let mint = |n: usize| {
        let keys: Vec<Value> = (0..n).map(|_| MlsClient::new().jwk()).collect();
        let body = json!({"account": "olga", "keys": keys, "validity_days": 1});
        let app = &app;
        let backend = &backend;
        async move { app.post("/v1/pseudonyms", backend, &body).await }
    };
    // Three active, the maximum (over two hours: two per hour).
    assert_eq!(mint(2).await.0, 201);
    clock.advance(3600);
    assert_eq!(mint(1).await.0, 201);
    let (status, body) = mint(1).await;
    assert_problem(status, &body, 429, "rate-limited");
    assert!(body["detail"].as_str().unwrap().contains("active"), "{body}");

    // Two days later all three have expired: they no longer count.
    clock.advance(2 * 86_400);
    assert_eq!(mint(2).await.0, 201);
    clock.advance(3600);
    assert_eq!(mint(1).await.0, 201);
    let (status, body) = mint(1).await;
    assert_problem(status, &body, 429, "rate-limited");
    assert!(body["detail"].as_str().unwrap().contains("active"), "{body}");
}

/// Requests read the time before they wait for the bucket's row lock, so a
/// request that read second t−1 can commit after one that read t. Its
/// elapsed time must count as zero: a negative refill used to drain the
/// bucket (legitimate requests got 429 under load), and rewinding
/// `updated_at` refilled the same second twice.
async fn a_late_commit_of_an_earlier_second_neither_drains_nor_refills_the_bucket(
    (app, clock): (TestApp, Arc<ManualClock>),
) {
    let backend = app.token(&["backend"]).await;
    // Burst 3, one token a second; a new account each time, so only the
    // client bucket (and the global minute, 5) can refuse.
    let (status, _, body) = mint_raw(&app, &backend, "late-a", 1).await;
    assert_eq!(status, 201, "{body}");
    clock.advance(-1);
    let (status, _, body) = mint_raw(&app, &backend, "late-b", 1).await;
    assert_eq!(status, 201, "{body}");
    // One token is left: the late request must not have taken two.
    let (status, _, body) = mint_raw(&app, &backend, "late-c", 1).await;
    assert_eq!(status, 201, "a late commit drained the bucket: {body}");
    // Back at the later second: no token was earned by going back in time.
    clock.advance(1);
    let (status, retry, body) = mint_raw(&app, &backend, "late-d", 1).await;
    assert_limited(status, retry, &body, "late-d", 1);
    clock.advance(1);
    let (status, _, body) = mint_raw(&app, &backend, "late-e", 1).await;
    assert_eq!(status, 201, "{body}");
}

/// Runs `n` one-key mints at once, alternating between two replicas of one
/// database (each with its own batch writer), for `account(i)`; returns
/// each request's account and status.
async fn crowd_of_mints(
    app: TestApp,
    n: usize,
    account: fn(usize) -> String,
) -> (Vec<(String, u16)>, Arc<TestApp>) {
    let backend = app.token(&["backend"]).await;
    let replicas = [Arc::new(app.replica().await), Arc::new(app)];
    let mut tasks = Vec::new();
    for i in 0..n {
        let (app, backend, account) = (replicas[i % 2].clone(), backend.clone(), account(i));
        tasks.push(tokio::spawn(async move {
            let (status, retry, body) = mint_raw(&app, &backend, &account, 1).await;
            if status != 201 {
                assert_eq!(status, 429, "{body}");
                assert!(retry.is_some(), "{body}");
            }
            (account, status)
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    let [_, first] = replicas;
    (outcomes, first)
}

/// Group commit keeps the limits exact: 120 requests at once on two
/// replicas (so batches of many requests, and two writers racing), for 12
/// accounts of 5 each (60) under a service-wide 40: exactly 40 pass, no
/// account passes 5, and what was refused stored nothing.
async fn a_crowd_on_two_replicas_meets_the_account_and_global_limits_exactly(
    (app, _clock): (TestApp, Arc<ManualClock>),
) {
    let (outcomes, app) = crowd_of_mints(app, 120, |i| format!("crowd-{}", i % 12)).await;
    let created: Vec<&String> =
        outcomes.iter().filter(|(_, status)| *status == 201).map(|(a, _)| a).collect();
    assert_eq!(created.len(), 40, "the global limit binds exactly");
    for k in 0..12 {
        let account = format!("crowd-{k}");
        let n = created.iter().filter(|a| ***a == account).count();
        assert!(n <= 5, "{account} got {n}");
    }
    assert_eq!(app.pseudonym_count().await, 40);
}

/// The client's bucket, a row every request of a batch shares, is charged
/// once per batch with exactly what the batch's requests may take: with
/// the clock standing still, seven tokens admit seven of 30 at once.
async fn a_crowd_on_two_replicas_draws_the_client_bucket_exactly(
    (app, _clock): (TestApp, Arc<ManualClock>),
) {
    let (outcomes, app) = crowd_of_mints(app, 30, |i| format!("bucket-{i}")).await;
    let created = outcomes.iter().filter(|(_, status)| *status == 201).count();
    assert_eq!(created, 7);
    assert_eq!(app.pseudonym_count().await, 7);
}

/// A request of several keys costs several signing runs, so it draws a
/// token per key: a bucket of four admits three keys, then refuses two
/// (one token left) without charging them, then admits one.
async fn the_client_bucket_counts_keys_not_requests((app, clock): (TestApp, Arc<ManualClock>)) {
    let backend = app.token(&["backend"]).await;
    let (status, _, body) = mint_raw(&app, &backend, "keys-a", 3).await;
    assert_eq!(status, 201, "{body}");
    let (status, retry, body) = mint_raw(&app, &backend, "keys-b", 2).await;
    assert_limited(status, retry, &body, "keys-b", 1);
    assert!(body["detail"].as_str().expect("detail").contains("API client"), "{body}");
    let (status, _, body) = mint_raw(&app, &backend, "keys-b", 1).await;
    assert_eq!(status, 201, "the refused two took nothing: {body}");
    let (status, retry, body) = mint_raw(&app, &backend, "keys-c", 1).await;
    assert_limited(status, retry, &body, "keys-c", 1);
    clock.advance(2);
    let (status, _, body) = mint_raw(&app, &backend, "keys-c", 2).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.pseudonym_count().await, 6);
}

/// The batch writer has no savepoints: a request whose hourly window passes
/// and whose daily window then refuses must take the hourly charge back.
/// The domain's cheap refusal would stop such a request before the writer,
/// so the late request is played on the store directly (as one that read
/// the windows before a concurrent mint charged them); then the database
/// itself is read: the second hour's window holds nothing.
/// The batch writer decides a batch in memory from what it read, then
/// checks each window's count as its write returns it. A window charged
/// between the read and the write by someone not holding the account row
/// (here a trigger on the account's creation fills its hour) must send the
/// batch to the exact path, which refuses: the fast path alone would have
/// certified a key past the limit.
async fn a_window_charged_behind_the_batch_sends_it_to_the_exact_path(
    (app, clock): (TestApp, Arc<ManualClock>),
) {
    let backend = app.token(&["backend"]).await;
    let raw = app.raw_pool().await;
    let fill = format!(
        "INSERT INTO rate_windows (subject, action, window_start, expires_at, n) \
         VALUES (NEW.account_ref, 'mint_hour', {START}, {}, 3)",
        START + 3600
    );
    let (create, drop): (Vec<String>, &str) = match app.db {
        Db::Sqlite => (
            vec![format!("CREATE TRIGGER fill_hour AFTER INSERT ON accounts BEGIN {fill}; END")],
            "DROP TRIGGER fill_hour",
        ),
        Db::Postgres => (
            vec![
                format!(
                    "CREATE FUNCTION fill_hour() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN {fill}; RETURN NEW; END $$"
                ),
                "CREATE TRIGGER fill_hour AFTER INSERT ON accounts \
                 FOR EACH ROW EXECUTE FUNCTION fill_hour()"
                    .to_string(),
            ],
            "DROP TRIGGER fill_hour ON accounts",
        ),
    };
    for sql in &create {
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).execute(&raw).await.unwrap();
    }
    let (status, retry, body) = mint_raw(&app, &backend, "ines", 1).await;
    assert_problem(status, &body, 429, "rate-limited");
    assert!(body["detail"].as_str().unwrap().contains("per hour"), "{body}");
    assert!(retry.is_some());
    assert_eq!(app.pseudonym_count().await, 0, "nothing certified past the limit");
    assert_eq!(app.account_count().await, 0, "the refused account's row is gone");

    // Without the interference, in the next hour (the trigger's count is
    // still in this one), the same request passes.
    sqlx::query(drop).execute(&raw).await.unwrap();
    clock.advance(3600);
    let (status, _, body) = mint_raw(&app, &backend, "ines", 1).await;
    assert_eq!(status, 201, "{body}");
}

async fn a_window_refusal_takes_back_the_window_charged_before_it(
    (app, clock): (TestApp, Arc<ManualClock>),
) {
    use veil::store::{
        Charges, IndexChange, Limited, MintJob, NewAccount, StoreError, WindowCharge,
    };

    let backend = app.token(&["backend"]).await;
    let (status, _, body) = mint_raw(&app, &backend, "hana", 3).await;
    assert_eq!(status, 201, "{body}");
    clock.advance(3600);
    let now = START + 3600;
    let account_ref = app.state.keys.link.account_ref("hana");
    let window = |action: &'static str, start: i64, length: i64, limit: i64| WindowCharge {
        subject: account_ref.0.to_vec(),
        action,
        window_start: start,
        expires_at: start + length,
        amount: 2,
        limit,
    };
    let day_start = START - START.rem_euclid(86_400);
    // 2 fit the new hour (3) but not the day (3 + 2 > 4).
    let late = MintJob {
        account: NewAccount {
            account_ref,
            glass: None,
            glass_key_id: app.state.keys.glass.key_id().to_vec(),
            created_hour: 0,
            relations: vec![],
        },
        charges: Charges {
            windows: vec![
                window("mint_hour", now, 3600, 3),
                window("mint_day", day_start, 86_400, 4),
            ],
            now,
            ..Default::default()
        },
        amount: 2,
        event_id: [9; 16],
        tombstone: None,
        index: Box::new(|_| IndexChange::Write { sealed: vec![], live: 0 }),
        pseudonyms: vec![],
    };
    let result = app.state.store.mint(late).await;
    assert!(matches!(result, Err(StoreError::OverLimit(Limited::Window(1)))), "{result:?}");
    let pool = app.raw_pool().await;
    let charged: Option<i64> = sqlx::query_scalar(
        "SELECT n FROM rate_windows WHERE subject = $1 AND action = 'mint_hour' \
         AND window_start = $2",
    )
    .bind(account_ref.0.as_slice())
    .bind(now)
    .fetch_optional(&pool)
    .await
    .expect("read the window");
    assert_eq!(charged.unwrap_or(0), 0, "the refused request left an hourly charge");
    let (status, _, body) = mint_raw(&app, &backend, "hana", 1).await;
    assert_eq!(status, 201, "{body}");
}

/// A new account's row is written before its index is checked (the insert
/// takes its lock); when the check refuses, the row goes again: a refused
/// request stores nothing.
async fn a_new_account_refused_under_its_lock_leaves_no_row(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let (status, retry, body) = mint_raw(&app, &backend, "ivan", 3).await;
    assert_limited(status, retry, &body, "ivan", 3600);
    assert!(body["detail"].as_str().expect("detail").contains("active"), "{body}");
    assert_eq!(app.account_count().await, 0);
    assert_eq!(app.pseudonym_count().await, 0);
}
