//! The audit log (issues 5 and 12): every entry chained and a leaf of an
//! RFC 9162 Merkle tree, appends from two replicas never fork, paging,
//! signed C2SP checkpoints and consistency/inclusion proofs for auditors,
//! and each kind of direct tampering in the database detected, including
//! those the chain alone cannot see (an edit re-hashed to the end, a cut
//! tail, a fork) by an auditor holding a pinned checkpoint.

use base64ct::{Base64, Encoding};
use serde_json::json;
use veil::formats::keys::public_key::P256PublicKey;
use veil::formats::keys::signer::Es256Signer;
use veil::services::audit::chain::{
    AuditEntry, ChainError, EntryFields, GENESIS, leaf_hashes, verify_entries,
};
use veil::services::audit::merkle;
use veil::services::audit::note::{NoteError, SignedCheckpoint, TreeHead};
use veil::services::audit::verify::{LogError, check_consistency, check_entries, decode_proof};
use veil::services::audit::{ConsistencyProof, InclusionProof};

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

async fn checkpoint(app: &TestApp, token: &str) -> SignedCheckpoint {
    let (status, body) = app.get("/v1/admin/audit/checkpoint", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn audit_key(app: &TestApp) -> P256PublicKey {
    app.state.keys.audit.public_key().clone()
}

/// A fresh checkpoint, its signature checked with the audit key.
async fn signed_head(app: &TestApp) -> TreeHead {
    let signed = checkpoint(app, &app.admin_token).await;
    TreeHead::open(&signed.note, &[audit_key(app)]).expect("a checkpoint signed by the audit key")
}

async fn consistency_proof(app: &TestApp, from: u64, to: u64) -> Vec<merkle::Hash> {
    let path = format!("/v1/admin/audit/consistency?from={from}&to={to}");
    let (status, body) = app.get(&path, Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    let proof: ConsistencyProof = serde_json::from_value(body).unwrap();
    decode_proof(&proof.proof).unwrap()
}

/// What `veilctl audit verify` does against the API: a fresh signed
/// checkpoint, the consistency proof from the pinned one, then the whole
/// log against both. The new checkpoint on success (the next pin).
async fn audit_verify(app: &TestApp, pinned: Option<&TreeHead>) -> Result<TreeHead, LogError> {
    let head = signed_head(app).await;
    if let Some(pinned) = pinned {
        let proof = if head.size > pinned.size {
            consistency_proof(app, pinned.size, head.size).await
        } else {
            Vec::new()
        };
        check_consistency(pinned, &head, &proof)?;
    }
    check_entries(&head, pinned, &read_log(app, &app.admin_token).await)?;
    Ok(head)
}

/// A database writer's rewrite: entry `seq` gets a new justification, and
/// every entry from it to the end is re-hashed and re-chained (and the
/// head row too), so the chain holds again.
async fn rewrite_and_rechain(app: &TestApp, pool: &sqlx::AnyPool, seq: i64, reason: &str) {
    exec(pool, &format!("UPDATE audit_events SET reason = '{reason}' WHERE seq = {seq}")).await;
    let entries = read_log(app, &app.admin_token).await;
    let mut prev = entries
        .iter()
        .find(|e| e.seq == seq - 1)
        .map_or(GENESIS, |e| Base64::decode_vec(&e.hash).unwrap().try_into().unwrap());
    for entry in entries.iter().filter(|e| e.seq >= seq) {
        let sealed = entry.sealed.as_deref().map(|s| Base64::decode_vec(s).unwrap());
        let hash = EntryFields::of(entry, sealed.as_deref()).hash(&prev);
        sqlx::query("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(prev.to_vec())
            .bind(hash.to_vec())
            .bind(entry.seq)
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
}

/// Cuts the log after entry `keep`, head row included: appends go on from
/// there as if the cut entries had never been.
async fn truncate(app: &TestApp, pool: &sqlx::AnyPool, keep: i64) {
    let entries = read_log(app, &app.admin_token).await;
    let hash = Base64::decode_vec(&entries[keep as usize - 1].hash).unwrap();
    exec(pool, &format!("DELETE FROM audit_events WHERE seq > {keep}")).await;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(keep)
        .bind(hash)
        .execute(pool)
        .await
        .unwrap();
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

    // The checkpoint signs the tree of every entry with the audit key, and
    // only that key; the entries hash to its tree head.
    let signed = checkpoint(&app, &auditor).await;
    assert_eq!(signed.origin, format!("{}/veil/audit", app.state.config.domain));
    let tree = TreeHead::open(&signed.note, &[audit_key(&app)]).unwrap();
    assert_eq!(tree.size, head as u64);
    assert_eq!(signed.size, tree.size);
    assert_eq!(signed.root, Base64::encode_string(&tree.root));
    assert_eq!(check_entries(&tree, None, &entries), Ok(entries.len()));
    let (other, _) = Es256Signer::generate("other").unwrap();
    assert_eq!(
        TreeHead::open(&signed.note, &[other.public_key().clone()]),
        Err(NoteError::Unsigned)
    );
    let forged = signed.note.replacen(&format!("\n{head}\n"), "\n5\n", 1);
    assert_eq!(TreeHead::open(&forged, &[audit_key(&app)]), Err(NoteError::Signature));

    // Consistency proofs from every earlier size, inclusion proofs of every
    // entry, all verify against the signed heads.
    let leaves = leaf_hashes(&entries).unwrap();
    for from in 0..=tree.size {
        let proof = consistency_proof(&app, from, tree.size).await;
        let first = merkle::root(&leaves[..from as usize]);
        assert!(merkle::verify_consistency(from, tree.size, &proof, &first, &tree.root), "{from}");
    }
    for entry in &entries {
        let path = format!("/v1/admin/audit/inclusion?seq={}&tree_size={}", entry.seq, tree.size);
        let (status, body) = app.get(&path, Some(&auditor)).await;
        assert_eq!(status, 200, "{body}");
        let proof: InclusionProof = serde_json::from_value(body).unwrap();
        let leaf = leaves[entry.seq as usize - 1];
        assert_eq!(proof.leaf_hash, Base64::encode_string(&leaf));
        let path = decode_proof(&proof.proof).unwrap();
        let index = entry.seq as u64 - 1;
        assert!(merkle::verify_inclusion(index, tree.size, &leaf, &path, &tree.root));
    }
    for path in [
        format!("/v1/admin/audit/consistency?from=2&to={}", head + 1),
        "/v1/admin/audit/consistency?from=3&to=2".to_string(),
        format!("/v1/admin/audit/inclusion?seq={}&tree_size={head}", head + 1),
        "/v1/admin/audit/inclusion?seq=0&tree_size=1".to_string(),
    ] {
        let (status, body) = app.get(&path, Some(&auditor)).await;
        assert_problem(status, &body, 422, "invalid-request");
    }

    // Other scopes may not read it.
    for path in [
        "/v1/admin/audit",
        "/v1/admin/audit/checkpoint",
        "/v1/admin/audit/consistency?from=0&to=1",
        "/v1/admin/audit/inclusion?seq=1&tree_size=1",
    ] {
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
    let pinned = signed_head(&app).await;
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
        check_entries(&pinned, None, &truncated),
        Err(LogError::Missing { size: b_4 as u64, entries: b_2 as u64 }),
        "...but an earlier checkpoint shows it"
    );
    assert_eq!(check_entries(&pinned, None, &entries), Ok(entries.len()));
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
        stored =
            serde_json::from_value::<Vec<SignedCheckpoint>>(body["checkpoints"].clone()).unwrap();
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    task.abort();
    // A second replica signing the same head stores nothing new.
    let origin = veil::services::audit::origin(&app.state.config.domain);
    veil::services::audit::record_checkpoint(&app.state.store, &app.state.keys.audit, &origin, 0)
        .await
        .unwrap();
    let (_, body) = app.get("/v1/admin/audit/checkpoints", Some(&auditor)).await;
    let again: Vec<SignedCheckpoint> = serde_json::from_value(body["checkpoints"].clone()).unwrap();
    assert_eq!(again, stored);
    assert_eq!(stored.len(), 1, "one row per head: {stored:?}");
    assert_eq!(stored[0].size, head as u64);
    let tree = TreeHead::open(&stored[0].note, &[audit_key(&app)]).unwrap();
    assert_eq!(check_entries(&tree, None, &entries), Ok(entries.len()));

    // A new entry moves the head; the next checkpoint is a new row.
    let backend = app.token(&["backend"]).await;
    adjust(&app, &pseudonym(&app, &backend).await, "moves the head").await;
    veil::services::audit::record_checkpoint(&app.state.store, &app.state.keys.audit, &origin, 1)
        .await
        .unwrap();
    let (_, body) = app.get("/v1/admin/audit/checkpoints", Some(&auditor)).await;
    let stored: Vec<SignedCheckpoint> =
        serde_json::from_value(body["checkpoints"].clone()).unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored[0].size > stored[1].size, "newest first");
}

on_both_backends!(checkpoints_are_signed_periodically);

/// Issue 12: the attacks the chain alone lets through (the old design:
/// chain check plus a checkpoint the server signs over whatever the
/// database holds), each caught by an auditor holding a pinned checkpoint.
async fn rewrite_truncation_and_fork_fail_against_the_pinned_checkpoint(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let uri = pseudonym(&app, &backend).await;
    for i in 0..4 {
        adjust(&app, &uri, &format!("note {i}")).await;
    }
    let pool = raw(&app).await;
    let pinned = audit_verify(&app, None).await.expect("an intact log verifies");
    let size = pinned.size as i64;
    let edited = size - 2;

    // 1. An edit re-hashed and re-chained to the end. The chain holds and
    //    a fresh checkpoint covers the new entries: the old verify passes.
    rewrite_and_rechain(&app, &pool, edited, "nothing to see").await;
    let rewritten = read_log(&app, &app.admin_token).await;
    assert_eq!(verify(&rewritten), Ok(size), "the chain alone is fooled");
    let fresh = signed_head(&app).await;
    assert_eq!(check_entries(&fresh, None, &rewritten), Ok(rewritten.len()));
    // Against the pinned checkpoint: same size, another head.
    assert_eq!(audit_verify(&app, Some(&pinned)).await, Err(LogError::Fork { size: size as u64 }));
    // After more appends, no consistency proof from the pinned head holds.
    adjust(&app, &uri, "after the rewrite").await;
    assert_eq!(
        audit_verify(&app, Some(&pinned)).await,
        Err(LogError::Inconsistent { from: size as u64, to: size as u64 + 1 })
    );
    // Not even a proof built from the honest tree: the served entries
    // themselves no longer hash to the pinned head.
    let grown = signed_head(&app).await;
    let entries = read_log(&app, &app.admin_token).await;
    assert_eq!(
        check_entries(&grown, Some(&pinned), &entries),
        Err(LogError::Inconsistent { from: size as u64, to: size as u64 + 1 })
    );
    // Undone (the original text back, re-chained), the log extends the pin.
    rewrite_and_rechain(&app, &pool, edited, "note 1").await;
    let pinned = audit_verify(&app, Some(&pinned)).await.expect("the honest log extends the pin");
    let size = pinned.size as i64;

    // 2. A fork: the database shows one log to one auditor and another log
    //    of the same size to another. Each alone sees a validly signed,
    //    chained log; their pinned checkpoints disagree, signed, at one size.
    let first_auditor = pinned.clone();
    rewrite_and_rechain(&app, &pool, size, "forked").await;
    let second_auditor = audit_verify(&app, None).await.expect("a fresh auditor is fooled");
    assert_eq!(second_auditor.size, first_auditor.size);
    assert_eq!(
        audit_verify(&app, Some(&first_auditor)).await,
        Err(LogError::Fork { size: size as u64 })
    );
    assert_eq!(
        check_consistency(&first_auditor, &second_auditor, &[]),
        Err(LogError::Fork { size: size as u64 }),
        "the two pins, compared (as a witness does), prove the fork"
    );
    rewrite_and_rechain(&app, &pool, size, "after the rewrite").await;
    let pinned = audit_verify(&app, Some(&first_auditor)).await.expect("the fork undone");

    // 3. A truncation, head row reset: the log chains, the server signs
    //    the shorter tree, and appends go on from the cut.
    truncate(&app, &pool, pinned.size as i64 - 2).await;
    let cut = read_log(&app, &app.admin_token).await;
    assert_eq!(verify(&cut), Ok(pinned.size as i64 - 2), "the chain alone is fooled");
    assert_eq!(
        audit_verify(&app, Some(&pinned)).await,
        Err(LogError::Truncated { pinned: pinned.size, size: pinned.size - 2 })
    );
    // Appends past the old size do not hide the cut.
    for i in 0..3 {
        adjust(&app, &uri, &format!("refill {i}")).await;
    }
    assert_eq!(
        audit_verify(&app, Some(&pinned)).await,
        Err(LogError::Inconsistent { from: pinned.size, to: pinned.size + 1 })
    );
    pool.close().await;
}

on_both_backends!(rewrite_truncation_and_fork_fail_against_the_pinned_checkpoint);
