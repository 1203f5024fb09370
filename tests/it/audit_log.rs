//! The hash-chained audit log (issue 5): every entry chained, appends from
//! two replicas never fork, paging and signed checkpoints for auditors, and
//! each kind of direct tampering in the database detected.

use serde_json::json;
use veil::formats::keys::signer::Es256Signer;
use veil::services::audit::chain::{
    AuditEntry, ChainError, Checkpoint, CheckpointError, GENESIS, verify_entries,
};

use crate::support::mls::MlsClient;
use crate::support::{TestApp, assert_problem, served_audit_entries};

/// One pseudonym to adjust, via `backend`.
async fn pseudonym(app: &TestApp, backend: &str) -> String {
    let (status, body) = app.mint(backend, "audited-account", vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    body["pseudonyms"][0]["uri"].as_str().unwrap().to_string()
}

/// An audited action: an operator's reputation adjustment.
async fn adjust(app: &TestApp, uri: &str, note: &str) {
    let body = json!({"pseudonym": uri, "points": 1, "case_id": "case-7", "reason": note});
    let (status, body) =
        app.post("/v1/admin/reputation-adjustments", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{body}");
}

/// The whole log through the API, two entries a page.
async fn read_log(app: &TestApp, token: &str) -> Vec<AuditEntry> {
    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let (status, body) =
            app.get(&format!("/v1/admin/audit?after={after}&limit=2"), Some(token)).await;
        assert_eq!(status, 200, "{body}");
        let page = served_audit_entries(&body["entries"]);
        entries.extend(page);
        match body["next_after"].as_i64() {
            Some(next) => after = next,
            None => return entries,
        }
    }
}

async fn checkpoint(app: &TestApp, token: &str) -> Checkpoint {
    let (status, body) = app.get("/v1/admin/audit/checkpoint", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn verify(entries: &[AuditEntry]) -> Result<i64, ChainError> {
    verify_entries((0, GENESIS), entries, |_| {}).map(|(seq, _)| seq)
}

async fn raw(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.state.config.database_url).await.unwrap()
}

async fn exec(pool: &sqlx::AnyPool, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(pool).await.unwrap();
}

async fn chained_paged_and_checkpointed(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let auditor = app.token(&["auditor"]).await;
    let uri = pseudonym(&app, &backend).await;
    // Appends from two replicas at once serialize into one chain.
    let replica = app.replica().await;
    // Startup (each replica's included) and the clients above came first.
    let base = read_log(&app, &auditor).await.len();
    tokio::join!(
        adjust(&app, &uri, "note 0"),
        adjust(&replica, &uri, "note 1"),
        adjust(&app, &uri, "note 2"),
        adjust(&replica, &uri, "note 3"),
        adjust(&app, &uri, "note 4"),
        adjust(&replica, &uri, "note 5"),
    );

    let entries = read_log(&app, &auditor).await;
    let head = base as i64 + 6;
    assert_eq!(entries.len(), base + 6);
    assert_eq!(verify(&entries), Ok(head));
    let startup: Vec<&str> = entries[..base].iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        startup,
        [
            "policy.load",
            "key.generate",
            "operator.add",
            "client.create",
            "client.create",
            "client.create",
            "policy.load"
        ]
    );
    assert!(entries[0].justification.starts_with("sha256:"), "the policy digest");
    assert!(
        entries[base..]
            .iter()
            .all(|e| e.action == "reputation.adjust" && e.case_id.as_deref() == Some("case-7"))
    );
    assert_eq!(read_log(&app, &app.admin_token).await, entries, "admins may read it too");

    // The checkpoint signs the head with the audit key, and only that key.
    let signed = checkpoint(&app, &auditor).await;
    assert_eq!(signed.seq, head);
    assert_eq!(signed.verify_against(app.state.keys.audit.public_key(), &entries), Ok(()));
    let (other, _) = Es256Signer::generate("other").unwrap();
    assert_eq!(
        signed.verify_against(other.public_key(), &entries),
        Err(CheckpointError::Signature)
    );
    let mut forged = signed.clone();
    forged.seq = 5;
    assert_eq!(
        forged.verify_signature(app.state.keys.audit.public_key()),
        Err(CheckpointError::Signature)
    );

    // Other scopes may not read it.
    for path in ["/v1/admin/audit", "/v1/admin/audit/checkpoint"] {
        let (status, body) = app.get(path, Some(&backend)).await;
        assert_problem(status, &body, 403, "insufficient-scope");
    }
}

async fn tampering_is_detected(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let uri = pseudonym(&app, &backend).await;
    // Creating the clients above was audited too: the adjustments follow.
    let b = read_log(&app, &app.admin_token).await.len() as i64;
    let (b_2, b_3, b_4, b_5) = (b + 2, b + 3, b + 4, b + 5);
    for i in 0..4 {
        adjust(&app, &uri, &format!("note {i}")).await;
    }
    let token = app.admin_token.clone();
    let signed = checkpoint(&app, &token).await;
    let key = app.state.keys.audit.public_key();
    let pool = raw(&app).await;
    assert_eq!(verify(&read_log(&app, &token).await), Ok(b_4));

    // Edit: a justification rewritten.
    exec(&pool, &format!("UPDATE audit_events SET reason = 'nothing to see' WHERE seq = {b_2}"))
        .await;
    assert_eq!(verify(&read_log(&app, &token).await), Err(ChainError::Altered { seq: b_2 }));
    exec(&pool, &format!("UPDATE audit_events SET reason = 'note 1' WHERE seq = {b_2}")).await;
    assert_eq!(verify(&read_log(&app, &token).await), Ok(b_4));

    // Reorder: entries 2 and 3 swap places.
    exec(&pool, &format!("UPDATE audit_events SET seq = -1 WHERE seq = {b_2}")).await;
    exec(&pool, &format!("UPDATE audit_events SET seq = {b_2} WHERE seq = {b_3}")).await;
    exec(&pool, &format!("UPDATE audit_events SET seq = {b_3} WHERE seq = -1")).await;
    assert_eq!(verify(&read_log(&app, &token).await), Err(ChainError::Link { seq: b_2 }));
    exec(&pool, &format!("UPDATE audit_events SET seq = -1 WHERE seq = {b_3}")).await;
    exec(&pool, &format!("UPDATE audit_events SET seq = {b_3} WHERE seq = {b_2}")).await;
    exec(&pool, &format!("UPDATE audit_events SET seq = {b_2} WHERE seq = -1")).await;
    assert_eq!(verify(&read_log(&app, &token).await), Ok(b_4));

    // Append: a forged entry after the head, linked but not hashed right.
    exec(
        &pool,
        &format!("INSERT INTO audit_events (id, at, actor, action, subject, case_id, reason, seq, prev_hash, hash) \
         SELECT 'forged', at, actor, action, subject, case_id, 'forged', {b_5}, hash, hash \
         FROM audit_events WHERE seq = {b_4}")
    )
    .await;
    assert_eq!(verify(&read_log(&app, &token).await), Err(ChainError::Altered { seq: b_5 }));
    exec(&pool, "DELETE FROM audit_events WHERE id = 'forged'").await;

    // Delete: an entry in the middle, then the last one.
    let entries = read_log(&app, &token).await;
    exec(&pool, &format!("DELETE FROM audit_events WHERE seq = {b_3}")).await;
    assert_eq!(
        verify(&read_log(&app, &token).await),
        Err(ChainError::Sequence { expected: b_3, found: b_4 })
    );
    exec(&pool, &format!("DELETE FROM audit_events WHERE seq = {b_4}")).await;
    let truncated = read_log(&app, &token).await;
    assert_eq!(verify(&truncated), Ok(b_2), "a cut tail still chains...");
    assert_eq!(
        signed.verify_against(key, &truncated),
        Err(CheckpointError::Truncated { seq: b_4, entries: b_2 }),
        "...but an earlier checkpoint shows it"
    );
    assert_eq!(signed.verify_against(key, &entries), Ok(()));
    pool.close().await;
}

on_both_backends!(chained_paged_and_checkpointed, tampering_is_detected);

async fn checkpoints_are_signed_periodically(app: TestApp) {
    let auditor = app.token(&["auditor"]).await;
    let task =
        veil::app::spawn_checkpointer(app.state.clone(), std::time::Duration::from_millis(50));

    let entries = read_log(&app, &auditor).await;
    let head = entries.last().unwrap().seq;
    let mut stored = Vec::new();
    for _ in 0..100 {
        let (status, body) = app.get("/v1/admin/audit/checkpoints", Some(&auditor)).await;
        assert_eq!(status, 200, "{body}");
        stored = serde_json::from_value::<Vec<Checkpoint>>(body["checkpoints"].clone()).unwrap();
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    task.abort();
    // A second replica signing the same head stores nothing new.
    veil::services::audit::record_checkpoint(&app.state.store, &app.state.keys.audit, 0)
        .await
        .unwrap();
    let (_, body) = app.get("/v1/admin/audit/checkpoints", Some(&auditor)).await;
    let again: Vec<Checkpoint> = serde_json::from_value(body["checkpoints"].clone()).unwrap();
    assert_eq!(again, stored);
    assert_eq!(stored.len(), 1, "one row per head: {stored:?}");
    assert_eq!(stored[0].seq, head);
    assert_eq!(stored[0].verify_against(app.state.keys.audit.public_key(), &entries), Ok(()));

    // A new entry moves the head; the next checkpoint is a new row.
    let backend = app.token(&["backend"]).await;
    adjust(&app, &pseudonym(&app, &backend).await, "moves the head").await;
    veil::services::audit::record_checkpoint(&app.state.store, &app.state.keys.audit, 1)
        .await
        .unwrap();
    let (_, body) = app.get("/v1/admin/audit/checkpoints", Some(&auditor)).await;
    let stored: Vec<Checkpoint> = serde_json::from_value(body["checkpoints"].clone()).unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored[0].seq > stored[1].seq, "newest first");
}

on_both_backends!(checkpoints_are_signed_periodically);
