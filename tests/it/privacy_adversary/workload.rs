//! A realistic, interleaved workload whose truth (pseudonym → account) the
//! test keeps: a dozen accounts minting 1–5 keys at a time, sequentially
//! and concurrently, with remedies of every kind, hub reports, reputation
//! adjustments, one break-glass reveal and devices added to pseudonyms
//! along the way. A seeded RNG and a
//! manual clock make every value reproducible; only the order of
//! concurrent writes varies between runs.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use veil::core::clock::ManualClock;

use crate::support::TestApp;
use crate::support::mls::MlsClient;

pub const ACCOUNTS: usize = 12;
const ROUNDS: usize = 24;

pub fn account(i: usize) -> String {
    format!("user-{i:02}@provider.example")
}

/// What the adversary must not learn.
#[derive(Debug, Default)]
pub struct Truth {
    /// Pseudonym URIs, in the order they were minted.
    pub uris: Vec<String>,
    /// Each pseudonym's public key (SEC1): public too, in its credential.
    pub public_keys: Vec<Vec<u8>>,
    /// The account (index) of each pseudonym.
    pub accounts: Vec<usize>,
}

impl Truth {
    pub fn id(&self, pseudonym: usize) -> &str {
        self.uris[pseudonym].rsplit('/').next().unwrap_or_default()
    }

    fn first_of(&self, account: usize) -> &str {
        let i = self.accounts.iter().position(|a| *a == account).expect("account has a pseudonym");
        &self.uris[i]
    }

    /// Records a mint's answer; `keys` in request order (the answer's order).
    fn record(&mut self, account: usize, keys: Vec<Vec<u8>>, status: u16, body: &Value) {
        match status {
            201 => {
                let minted = body["pseudonyms"].as_array().expect("pseudonyms");
                assert_eq!(minted.len(), keys.len(), "{body}");
                for (p, key) in minted.iter().zip(keys) {
                    self.uris.push(p["uri"].as_str().expect("uri").to_string());
                    self.public_keys.push(key);
                    self.accounts.push(account);
                }
            }
            // A remedied account may not mint for a while: that is realistic.
            403 => {}
            other => panic!("mint answered {other}: {body}"),
        }
    }
}

/// POST with a bearer token, usable from spawned tasks.
pub async fn post(http: &reqwest::Client, url: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = http.post(url).bearer_auth(token).json(body).send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `n` fresh keys: (JWKs to send, their SEC1 points).
fn keys(n: usize) -> (Vec<Value>, Vec<Vec<u8>>) {
    (0..n).map(|_| MlsClient::new()).map(|c| (c.jwk(), c.public_key())).unzip()
}

pub async fn run(app: &TestApp, clock: &Arc<ManualClock>) -> Truth {
    let mut rng = StdRng::seed_from_u64(0x11);
    let backend = app.token(&["backend"]).await;
    let hubs = [app.token(&["hub"]).await, app.token(&["hub"]).await, app.token(&["hub"]).await];
    let (_, second_admin) = app.second_operator("second").await;
    let mut truth = Truth::default();
    let mut live: Vec<usize> = (0..ACCOUNTS).collect();

    for round in 0..ROUNDS {
        let jump = if rng.random_bool(0.2) { 3600 } else { 0 };
        clock.advance(rng.random_range(1..=45) + jump);
        // Everyone mints at the start and at the end (so whose write came
        // last is never a race); in between a few at a time, in sequence...
        let everyone = round == 0 || round == ROUNDS - 1;
        let sequential = if everyone { 0 } else { rng.random_range(1..=3) };
        for _ in 0..sequential {
            let who = *live.choose(&mut rng).expect("live account");
            let (jwks, points) = keys(rng.random_range(1..=5));
            let (status, body) = app.mint(&backend, &account(who), jwks).await;
            truth.record(who, points, status, &body);
        }
        // ...and at once (the same account may appear twice in a burst).
        let burst: Vec<usize> = if everyone {
            live.clone()
        } else {
            (0..rng.random_range(2..=5))
                .map(|_| *live.choose(&mut rng).expect("live account"))
                .collect()
        };
        let mut tasks = JoinSet::new();
        for who in burst {
            let (jwks, points) = keys(rng.random_range(1..=5));
            let body = json!({"account": account(who), "keys": jwks});
            let (http, url, token) = (app.http.clone(), app.url("/v1/pseudonyms"), backend.clone());
            tasks.spawn(async move { (who, points, post(&http, &url, &token, &body).await) });
        }
        while let Some(done) = tasks.join_next().await {
            let (who, points, (status, body)) = done.expect("mint task");
            truth.record(who, points, status, &body);
        }

        match round {
            5 => remedy(app, &truth, 1, "mute", Some("30m")).await,
            8 => remedy(app, &truth, 2, "suspend", Some("2h")).await,
            11 => report(app, &truth, &hubs).await,
            13 => {
                adjust(app, &truth, 6, 15).await;
                adjust(app, &truth, 7, -40).await;
            }
            15 => {
                remedy(app, &truth, 3, "suspend_and_revoke", None).await;
                live.retain(|a| *a != 3);
            }
            18 => {
                remedy(app, &truth, 4, "delete", None).await;
                live.retain(|a| *a != 4);
            }
            20 => reveal(app, &truth, &second_admin, 8).await,
            22 => {
                for who in [9, 10] {
                    devices(app, &backend, &mut truth, who).await;
                }
            }
            _ => {}
        }
    }
    truth
}

/// A user adds a laptop to each of two fresh pseudonyms, one after the
/// other: the write order of the client rows is the user's.
async fn devices(app: &TestApp, backend: &str, truth: &mut Truth, who: usize) {
    for _ in 0..2 {
        let phone = MlsClient::new();
        let (status, body) = app.mint(backend, &account(who), vec![phone.jwk()]).await;
        truth.record(who, vec![phone.public_key()], status, &body);
        let minted = &body["pseudonyms"][0];
        let id = minted["id"].as_str().expect("id");
        let laptop = MlsClient::new();
        let key = serde_json::from_value(laptop.jwk()).expect("jwk");
        let request = veil::services::disclose::AddClientRequest { account: account(who), key };
        let object = request.proof_object().expect("a P-256 key");
        let now = veil::core::clock::Clock::now(&*app.state.clock);
        let signer = phone.es256_signer();
        let proof = veil::formats::pop::prove(&signer, "https://example.com", id, &object, now)
            .expect("proof");
        let body = json!({"account": account(who), "key": laptop.jwk(), "proof": proof});
        let (status, added) =
            app.post(&format!("/v1/pseudonyms/{id}/clients"), backend, &body).await;
        assert_eq!(status, 201, "{added}");
    }
}

async fn remedy(app: &TestApp, truth: &Truth, who: usize, action: &str, duration: Option<&str>) {
    let mut body = json!({"pseudonym": truth.first_of(who), "action": action,
                          "case_id": format!("case-{action}"), "reason": "abuse"});
    if let Some(duration) = duration {
        body["duration"] = json!(duration);
    }
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{body}");
}

/// Three hubs report account 5 (enough for an automatic suspension);
/// one hub reports account 6 once.
async fn report(app: &TestApp, truth: &Truth, hubs: &[String; 3]) {
    let reports = [(0, 5, "a"), (0, 5, "b"), (1, 5, "c"), (1, 5, "d"), (2, 5, "e"), (0, 6, "f")];
    for (hub, who, note) in reports {
        let body = json!({
            "room": "mimi://hub.example/r/lobby",
            "reporting_user": "mimi://hub.example/u/reporter",
            "alleged_abuser": truth.first_of(who),
            "reason_code": 0,
            "note": note,
            "messages": [{"mimi_content": "aGVsbG8=", "frank": crate::support::frank(note),
                           "accepted_timestamp": 1}]
        });
        let (status, body) = app.post("/v1/abuse-reports", &hubs[hub], &body).await;
        assert_eq!(status, 202, "{body}");
    }
}

async fn adjust(app: &TestApp, truth: &Truth, who: usize, points: i64) {
    let body = json!({"pseudonym": truth.first_of(who), "points": points, "case_id": "appeal-1",
                      "reason": "review"});
    let (status, body) =
        app.post("/v1/admin/reputation-adjustments", &app.admin_token, &body).await;
    assert_eq!(status, 201, "{body}");
}

/// Two admins reveal the account behind one pseudonym.
async fn reveal(app: &TestApp, truth: &Truth, second_admin: &str, who: usize) {
    let request = json!({"pseudonym": truth.first_of(who), "case_id": "case-bg",
                         "justification": "court order", "reason_code": "imminent-harm"});
    let (status, created) = app.post("/v1/admin/break-glass", &app.admin_token, &request).await;
    assert_eq!(status, 201, "{created}");
    let id = created["request_id"].as_str().expect("request id");
    let path = |step: &str| format!("/v1/admin/break-glass/{id}/{step}");
    let (status, body) = app.post(&path("approve"), second_admin, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.post(&path("reveal"), &app.admin_token, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    // The requester's machine opens the released link with the key file.
    let key = veil::services::breakglass::custody::read_key_file(
        &app.dir.path().join("keys/break-glass.key"),
        None,
    )
    .expect("key");
    let link = crate::support::released_link(&body);
    let opened = veil::formats::glass_link::open_with_key(&key, &link).expect("the link opens");
    assert_eq!(opened.as_str(), account(who));
}
