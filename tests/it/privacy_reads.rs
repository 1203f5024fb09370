//! Audited privacy reads (issue 11, part 4): an admin's read of the standing
//! behind a pseudonym is an audit event (the admin as actor, the pseudonym
//! as subject) written before the answer, and each admin client has a small
//! hourly budget of them, so comparing pseudonyms in bulk is neither silent
//! nor fast.

use std::sync::Arc;

use serde_json::{Value, json};
use veil::core::clock::ManualClock;

use crate::support::mls::MlsClient;
use crate::support::{Db, TestApp, assert_problem};

on_both_backends_with!(
    manual_clock;
    a_status_read_is_audited_and_limited_per_admin
);

/// The default `admin.privacy_reads_per_hour`.
const PER_HOUR: usize = 30;

async fn manual_clock(db: Db) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(1_900_000_000);
    let app = TestApp::spawn_with_clock(db, clock.clone()).await;
    (app, clock)
}

/// A new admin client: its id and token.
async fn admin(app: &TestApp, name: &str) -> (String, String) {
    let operator = app.first_operator().await;
    let body = json!({"name": name, "scopes": ["admin"], "operator": operator});
    let (status, created) = app.post("/v1/admin/clients", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{created}");
    (created["id"].as_str().unwrap().into(), created["token"].as_str().unwrap().into())
}

async fn read(app: &TestApp, token: &str, uri: &str) -> (u16, Value) {
    app.post("/v1/admin/accounts/status", token, &json!({"pseudonym": uri})).await
}

async fn audit_entries(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get("/v1/admin/audit?limit=1000", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

async fn a_status_read_is_audited_and_limited_per_admin((app, clock): (TestApp, Arc<ManualClock>)) {
    let backend = app.token(&["backend"]).await;
    let (status, minted) = app.mint(&backend, "quinn", vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{minted}");
    let uri = minted["pseudonyms"][0]["uri"].as_str().unwrap().to_string();
    let (alice_id, alice) = admin(&app, "alice").await;

    let (status, body) = read(&app, &alice, &uri).await;
    assert_eq!(status, 200, "{body}");
    let reads: Vec<Value> = audit_entries(&app)
        .await
        .into_iter()
        .filter(|e| e["action"] == "account.status_read")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["actor"], alice_id.as_str());
    assert_eq!(reads[0]["target"], uri.as_str());
    assert!(!reads[0].to_string().contains("quinn"), "the account is never named");

    // An unknown pseudonym is a read too: probing is audited and counted.
    let unknown = format!("{}/AAAAAAAAAAAAAAAAAAAAAA", uri.rsplit_once('/').unwrap().0);
    let (status, body) = read(&app, &alice, &unknown).await;
    assert_problem(status, &body, 404, "not-found");
    for _ in 2..PER_HOUR {
        let (status, body) = read(&app, &alice, &uri).await;
        assert_eq!(status, 200, "{body}");
    }
    let before = audit_entries(&app).await.len();
    let (status, body) = read(&app, &alice, &uri).await;
    assert_problem(status, &body, 429, "rate-limited");
    assert_eq!(audit_entries(&app).await.len(), before, "a refused read records nothing");
    let audited = audit_entries(&app)
        .await
        .iter()
        .filter(|e| e["action"] == "account.status_read" && e["actor"] == alice_id.as_str())
        .count();
    assert_eq!(audited, PER_HOUR, "every answered read is in the log");

    // The budget is per admin client, and per clock hour.
    let (_, bob) = admin(&app, "bob").await;
    assert_eq!(read(&app, &bob, &uri).await.0, 200);
    clock.advance(3600);
    assert_eq!(read(&app, &alice, &uri).await.0, 200);
}
