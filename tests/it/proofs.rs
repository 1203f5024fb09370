//! Proof of possession on disclosure requests (issue 11): without a fresh
//! proof made with the pseudonym's key, every request gets one and the same
//! 401 and stores nothing, so a backend token alone can no longer find which
//! account owns a pseudonym by trying account ids.

use std::sync::Arc;

use serde_json::{Value, json};
use veil::core::clock::{Clock, ManualClock};
use veil::formats::keys::signer::Es256Signer;
use veil::formats::pop::MAX_SKEW_SECS;

use crate::support::mls::MlsClient;
use crate::support::{Db, TestApp, assert_problem, disclosure_request};

on_both_backends_with!(
    manual_clock;
    every_bad_proof_gets_the_same_401_and_stores_nothing,
    an_unknown_pseudonym_and_a_bad_proof_are_the_same_response,
    stale_proofs_are_refused,
    trying_accounts_without_the_key_tells_nothing,
    with_a_proof_another_account_gets_a_404
);

const ACCOUNT: &str = "olga@accounts.example";
const UNKNOWN: &str = "AAAAAAAAAAAAAAAAAAAAAA";

async fn manual_clock(db: Db) -> (TestApp, Arc<ManualClock>) {
    let clock = ManualClock::new(1_900_000_000);
    let app = TestApp::spawn_with_clock(db, clock.clone()).await;
    (app, clock)
}

/// A pseudonym of `ACCOUNT`, its holder's key and a backend token.
struct Fixture {
    backend: String,
    holder: Es256Signer,
    id: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let backend = app.token(&["backend"]).await;
    let client = MlsClient::new();
    let (status, body) = app.mint(&backend, ACCOUNT, vec![client.jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let id = body["pseudonyms"][0]["id"].as_str().unwrap().to_string();
    Fixture { backend, holder: client.es256_signer(), id }
}

fn request(account: &str) -> Value {
    json!({"account": account, "format": "sd-jwt", "claims": {"name": "Olga"},
           "disclosable": ["name"], "validity_days": 3})
}

fn path(id: &str) -> String {
    format!("/v1/pseudonyms/{id}/disclosures")
}

fn with_proof(body: &Value, proof: &str) -> Value {
    let mut body = body.clone();
    body["proof"] = json!(proof);
    body
}

/// Posts `body` to pseudonym `id` and asserts the one 401, with nothing
/// stored; returns the body to compare with the others.
async fn refused(app: &TestApp, f: &Fixture, id: &str, body: &Value) -> Value {
    let before = app.state.store.dump_all_tables().await.unwrap();
    let (status, answer) = app.post(&path(id), &f.backend, body).await;
    assert_problem(status, &answer, 401, "proof-required");
    let after = app.state.store.dump_all_tables().await.unwrap();
    assert_eq!(before, after, "a refused proof stores nothing");
    answer
}

async fn every_bad_proof_gets_the_same_401_and_stores_nothing(
    (app, _clock): (TestApp, Arc<ManualClock>),
) {
    let f = fixture(&app).await;
    let good = request(ACCOUNT);
    let issuer = app.state.disclosures.names().issuer.clone();
    let now = app.state.clock.now();
    let as_request = disclosure_request(&good);
    let stranger = MlsClient::new().es256_signer();

    let missing = refused(&app, &f, &f.id, &good).await;
    assert_eq!(missing["detail"], "a valid proof of possession of the pseudonym's key is required");
    let other_request = json!({"account": ACCOUNT, "format": "sd-jwt", "claims": {"name": "Eve"},
                               "disclosable": ["name"], "validity_days": 3});
    let cases = [
        ("malformed", f.id.clone(), with_proof(&good, "not.a.proof")),
        ("garbage", f.id.clone(), with_proof(&good, &"x".repeat(5000))),
        (
            "signed by another key",
            f.id.clone(),
            with_proof(&good, &as_request.prove(&stranger, &issuer, &f.id, now).unwrap()),
        ),
        (
            "for another pseudonym",
            f.id.clone(),
            with_proof(&good, &as_request.prove(&f.holder, &issuer, UNKNOWN, now).unwrap()),
        ),
        (
            "for another request",
            f.id.clone(),
            with_proof(&good, &app.disclosure_proof(&f.holder, &f.id, &other_request)),
        ),
        (
            "for another audience",
            f.id.clone(),
            with_proof(
                &good,
                &as_request.prove(&f.holder, "https://other.example", &f.id, now).unwrap(),
            ),
        ),
        (
            "an unknown pseudonym",
            UNKNOWN.to_string(),
            with_proof(&good, &as_request.prove(&f.holder, &issuer, UNKNOWN, now).unwrap()),
        ),
        ("a malformed pseudonym id", "nope".to_string(), with_proof(&good, "not.a.proof")),
        ("an unknown pseudonym without proof", UNKNOWN.to_string(), good.clone()),
    ];
    for (case, id, body) in &cases {
        let answer = refused(&app, &f, id, body).await;
        assert_eq!(answer, missing, "{case}: the same body as a missing proof");
    }

    // A valid proof works once; sent again it is a replay.
    let proof = app.disclosure_proof(&f.holder, &f.id, &good);
    let (status, body) = app.post(&path(&f.id), &f.backend, &with_proof(&good, &proof)).await;
    assert_eq!(status, 201, "{body}");
    let replayed = refused(&app, &f, &f.id, &with_proof(&good, &proof)).await;
    assert_eq!(replayed, missing, "a replay gets the same body");
}

/// Status, the headers that are not per-response (no `date`, no request
/// id) and the body bytes, exactly as a client sees them.
async fn raw_answer(app: &TestApp, token: &str, id: &str, body: &Value) -> (u16, String, Vec<u8>) {
    let response =
        app.http.post(app.url(&path(id))).bearer_auth(token).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    let mut headers: Vec<String> = response
        .headers()
        .iter()
        .filter(|(name, _)| !["date", "x-request-id"].contains(&name.as_str()))
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
        .collect();
    headers.sort();
    (status, headers.join("\n"), response.bytes().await.unwrap().to_vec())
}

/// Byte for byte and header for header, an unknown pseudonym answers like
/// a known one with a bad proof, so nothing but timing could tell them
/// apart (and both pay one signature check).
async fn an_unknown_pseudonym_and_a_bad_proof_are_the_same_response(
    (app, _clock): (TestApp, Arc<ManualClock>),
) {
    let f = fixture(&app).await;
    let good = request(ACCOUNT);
    let stranger = MlsClient::new().es256_signer();
    let known = app.disclosure_proof(&stranger, &f.id, &good);
    let unknown = app.disclosure_proof(&f.holder, UNKNOWN, &good);
    let a = raw_answer(&app, &f.backend, &f.id, &with_proof(&good, &known)).await;
    let b = raw_answer(&app, &f.backend, UNKNOWN, &with_proof(&good, &unknown)).await;
    let c = raw_answer(&app, &f.backend, UNKNOWN, &good).await;
    assert_eq!(a.0, 401);
    assert!(a.1.contains("www-authenticate: veil-pop"), "{}", a.1);
    assert!(a.1.contains("content-type: application/problem+json"), "{}", a.1);
    assert_eq!(a, b, "a bad proof and an unknown pseudonym");
    assert_eq!(a, c, "and no proof at all");
}

async fn stale_proofs_are_refused((app, clock): (TestApp, Arc<ManualClock>)) {
    let f = fixture(&app).await;
    let good = request(ACCOUNT);
    let old = app.disclosure_proof(&f.holder, &f.id, &good);
    clock.advance(MAX_SKEW_SECS + 1);
    let missing = refused(&app, &f, &f.id, &good).await;
    let expired = refused(&app, &f, &f.id, &with_proof(&good, &old)).await;
    assert_eq!(expired, missing);
    // A proof dated ahead of the server's clock beyond the skew is refused too.
    let issuer = &app.state.disclosures.names().issuer;
    let ahead = clock.now() + MAX_SKEW_SECS + 1;
    let future = disclosure_request(&good).prove(&f.holder, issuer, &f.id, ahead).unwrap();
    assert_eq!(refused(&app, &f, &f.id, &with_proof(&good, &future)).await, missing);
    // Within the window it is accepted.
    let fresh = app.disclosure_proof(&f.holder, &f.id, &good);
    clock.advance(MAX_SKEW_SECS);
    let (status, body) = app.post(&path(&f.id), &f.backend, &with_proof(&good, &fresh)).await;
    assert_eq!(status, 201, "{body}");
}

/// The oracle of issue 11: a backend token and a list of candidate account
/// ids, but not the pseudonym's key. Every candidate, the owner included,
/// gets the same answer.
async fn trying_accounts_without_the_key_tells_nothing((app, _clock): (TestApp, Arc<ManualClock>)) {
    let f = fixture(&app).await;
    let candidates = ["alice@accounts.example", ACCOUNT, "bob@accounts.example", "mallory"];
    let guesser = MlsClient::new().es256_signer();
    let mut answers = Vec::new();
    for account in candidates {
        let body = request(account);
        answers.push(refused(&app, &f, &f.id, &body).await);
        let forged = app.disclosure_proof(&guesser, &f.id, &body);
        answers.push(refused(&app, &f, &f.id, &with_proof(&body, &forged)).await);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

/// With the key, the owner succeeds and another account gets the same 404
/// the other routes give an unknown pseudonym.
async fn with_a_proof_another_account_gets_a_404((app, _clock): (TestApp, Arc<ManualClock>)) {
    let f = fixture(&app).await;
    let (status, theirs) = app.disclose(&f.backend, &f.holder, &f.id, &request("mallory")).await;
    assert_problem(status, &theirs, 404, "not-found");
    assert_eq!(theirs["detail"], "no such pseudonym");
    let hub = app.token(&["hub"]).await;
    let (_, status_unknown) = app.get(&format!("/v1/pseudonyms/{UNKNOWN}"), Some(&hub)).await;
    assert_eq!(theirs, status_unknown, "the status route's words for an unknown pseudonym");
    let (status, body) = app.disclose(&f.backend, &f.holder, &f.id, &request(ACCOUNT)).await;
    assert_eq!(status, 201, "{body}");
}
