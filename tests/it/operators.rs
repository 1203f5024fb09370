//! Operators (issue 12): approvals count people, not tokens. A new
//! operator needs a second operator; a young one's approval does not count
//! under `min_operator_age`; the last operator cannot be revoked, also when
//! two revocations race; every refusal is audited.

use std::sync::Arc;

use serde_json::{Value, json};
use veil::core::clock::{Clock, ManualClock};
use veil::services::access::{AccessError, OperatorStatus};

use crate::support::mls::MlsClient;
use crate::support::{Db, TestApp, assert_problem};

async fn clocked(db: Db) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(1_900_000_800);
    let app = TestApp::spawn_with_clock(db, clock.clone()).await;
    (app, clock)
}

async fn aged(db: Db) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(1_900_000_800);
    let policy =
        format!("min_operator_age = \"7d\"\n{}", include_str!("../../policies/break-glass.toml"));
    let file = Some(("break-glass.toml", policy.as_str()));
    let app = TestApp::spawn_with_policy(db, clock.clone(), file).await;
    (app, clock)
}

async fn refusals(app: &TestApp, action: &str) -> usize {
    let (status, body) = app.get("/v1/admin/audit?limit=1000", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().unwrap().iter().filter(|e| e["action"] == action).count()
}

async fn request(app: &TestApp, token: &str, reason_code: &str) -> String {
    let backend = app.token(&["backend"]).await;
    let (status, body) =
        app.mint(&backend, "carol@example.org", vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let uri = body["pseudonyms"][0]["uri"].as_str().unwrap();
    let body = json!({"pseudonym": uri, "case_id": "case-7", "justification": "j",
                      "reason_code": reason_code});
    let (status, body) = app.post("/v1/admin/break-glass", token, &body).await;
    assert_eq!(status, 201, "{body}");
    body["request_id"].as_str().unwrap().to_string()
}

async fn approve(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    app.post(&format!("/v1/admin/break-glass/{id}/approve"), token, &json!({})).await
}

async fn one_person_is_one_approver((app, _clock): (TestApp, Arc<ManualClock>)) {
    let before = refusals(&app, "break_glass.refused").await;
    // The abuse: the requester's own second admin token.
    let own_second = app.token(&["admin"]).await;
    let id = request(&app, &app.admin_token, "imminent-harm").await;
    let (status, body) = approve(&app, &own_second, &id).await;
    assert_problem(status, &body, 403, "self-approval");
    // A second operator approving twice through two tokens counts once.
    let (second, token_a) = app.second_operator("bob").await;
    let token_b = app.token_for(&second, &["admin"]).await;
    let legal = request(&app, &app.admin_token, "legal-order").await;
    let (status, body) = approve(&app, &token_a, &legal).await;
    assert_eq!((status, body["approvals"].as_i64()), (200, Some(1)), "{body}");
    let (status, body) = approve(&app, &token_b, &legal).await;
    assert_problem(status, &body, 409, "already-approved");
    // A second operator's approval of the first request counts.
    let (status, body) = approve(&app, &token_b, &id).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("approved")), "{body}");
    assert_eq!(refusals(&app, "break_glass.refused").await, before + 2, "refusals are audited");
}

async fn a_new_operator_needs_another((app, _clock): (TestApp, Arc<ManualClock>)) {
    let before = refusals(&app, "operator.refused").await;
    let (status, pending) =
        app.post("/v1/admin/operators", &app.admin_token, &json!({"name": "dora"})).await;
    assert_eq!((status, pending["status"].as_str()), (201, Some("pending")), "{pending}");
    let id = pending["id"].as_str().unwrap();
    let approve = format!("/v1/admin/operators/{id}/approve");
    // The requester cannot approve, with any of its tokens.
    let (status, body) = app.post(&approve, &app.admin_token, &json!({})).await;
    assert_problem(status, &body, 403, "self-approval");
    let own_second = app.token(&["admin"]).await;
    let (status, body) = app.post(&approve, &own_second, &json!({})).await;
    assert_problem(status, &body, 403, "self-approval");
    // A pending operator cannot get an admin client, so cannot act.
    let client = json!({"name": "dora", "scopes": ["admin"], "operator": id});
    let (status, body) = app.post("/v1/admin/clients", &app.admin_token, &client).await;
    assert_problem(status, &body, 409, "operator-not-active");
    let no_operator = json!({"name": "x", "scopes": ["admin"]});
    let (status, body) = app.post("/v1/admin/clients", &app.admin_token, &no_operator).await;
    assert_problem(status, &body, 422, "invalid-request");
    // Another operator approves: now it may hold admin clients.
    let (_, second) = app.second_operator("erin").await;
    let (status, body) = app.post(&approve, &second, &json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("active")), "{body}");
    let (status, body) = app.post(&approve, &second, &json!({})).await;
    assert_problem(status, &body, 409, "not-pending");
    let dora = app.token_for(id, &["admin"]).await;
    let (status, list) = app.get("/v1/admin/operators", Some(&dora)).await;
    assert_eq!((status, list["operators"].as_array().map(Vec::len)), (200, Some(3)), "{list}");
    // Revoking an operator revokes its clients.
    let (status, body) = app.post("/v1/admin/operators", &dora, &json!({"name": "x"})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.delete_json(&format!("/v1/admin/operators/{id}"), &second).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("revoked")), "{body}");
    let (status, body) = app.get("/v1/admin/operators", Some(&dora)).await;
    assert_problem(status, &body, 401, "unauthorized");
    assert_eq!(refusals(&app, "operator.refused").await, before + 4, "refusals are audited");
}

async fn young_operators_do_not_count((app, clock): (TestApp, Arc<ManualClock>)) {
    clock.advance(8 * 86_400);
    let (_, young) = app.second_operator("fay").await;
    let id = request(&app, &app.admin_token, "imminent-harm").await;
    let (status, body) = approve(&app, &young, &id).await;
    assert_problem(status, &body, 403, "operator-too-new");
    assert_eq!(refusals(&app, "break_glass.refused").await, 1, "the refusal is audited");
    clock.advance(7 * 86_400);
    let id = request(&app, &app.admin_token, "imminent-harm").await;
    let (status, body) = approve(&app, &young, &id).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("approved")), "{body}");
}

async fn the_last_operator_stays((app, clock): (TestApp, Arc<ManualClock>)) {
    let first = app.first_operator().await;
    let status = app.delete(&format!("/v1/admin/operators/{first}"), &app.admin_token).await;
    assert_eq!(status, 409);
    // Two revocations race, each of one of the last two operators: on
    // PostgreSQL under READ COMMITTED both would see the other still active
    // without the admin guard. Exactly one may win, every round.
    let access = &app.state.access;
    let mut remaining = first;
    for round in 0..6 {
        let (other, _) = app.second_operator(&format!("op {round}")).await;
        let now = clock.now();
        let (a, b) = tokio::join!(
            access.revoke_operator("test", &remaining, now),
            access.revoke_operator("test", &other, now)
        );
        match (a, b) {
            (Ok(_), Err(AccessError::LastOperator)) => remaining = other,
            (Err(AccessError::LastOperator), Ok(_)) => {}
            outcome => panic!("round {round}: {outcome:?}"),
        }
        let operators = access.list_operators().await.unwrap();
        let active = operators.iter().filter(|o| o.status == OperatorStatus::Active).count();
        assert_eq!(active, 1, "round {round}");
    }
}

on_both_backends_with!(
    clocked;
    one_person_is_one_approver,
    a_new_operator_needs_another,
    the_last_operator_stays
);

on_both_backends_with!(aged; young_operators_do_not_count);
