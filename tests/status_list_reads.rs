//! A status list's rebuild reads a pseudonym's further clients in batches,
//! not one statement per client-bound entry: the statements it sends are
//! counted from sqlx's own statement log (target `sqlx::query`), captured
//! by a process-wide subscriber, hence a binary of its own. The rebuilt
//! lists must say what they said before: a live client's entries VALID, a
//! revoked client's INVALID, the pseudonym's own VALID.

#[macro_use]
#[allow(dead_code, unused_macros, unused_imports)]
#[path = "it/support/mod.rs"]
mod support;

#[path = "log_capture/mod.rs"]
mod log_capture;

use std::collections::HashMap;

use serde_json::json;
use support::TestApp;
use support::mls::MlsClient;
use veil::core::client_id::ClientId;
use veil::core::clock::{Clock, SystemClock};
use veil::core::pseudonym_id::PseudonymId;
use veil::formats::keys::public_key::Jwk;
use veil::formats::pop;
use veil::services::disclose::{AddClientRequest, revoke_proof_object};
use veil::services::status_lists::{Holder, LISTS, reference};

on_both_backends!(a_list_reads_its_clients_in_batches);

const ISSUER: &str = "https://example.com";
/// Entries per client: enough that most lists hold several of them.
const ENTRIES_PER_HOLDER: usize = 24;

/// The two backends' runs share the capture: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn add_client(app: &TestApp, backend: &str, id: &str, phone: &MlsClient) -> ClientId {
    let device = MlsClient::new();
    let key: Jwk = serde_json::from_value(device.jwk()).unwrap();
    let object = AddClientRequest { account: "kim".into(), key }.proof_object().unwrap();
    let proof = pop::prove(&phone.es256_signer(), ISSUER, id, &object, SystemClock.now()).unwrap();
    let body = json!({"account": "kim", "key": device.jwk(), "proof": proof});
    let (status, added) = app.post(&format!("/v1/pseudonyms/{id}/clients"), backend, &body).await;
    assert_eq!(status, 201, "{added}");
    ClientId::parse(added["id"].as_str().unwrap()).unwrap()
}

async fn a_list_reads_its_clients_in_batches(app: TestApp) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let logs = log_capture::capture();
    let backend = app.token(&["backend"]).await;
    let phone = MlsClient::new();
    let (status, minted) = app.mint(&backend, "kim", vec![phone.jwk()]).await;
    assert_eq!(status, 201, "{minted}");
    let id = minted["pseudonyms"][0]["id"].as_str().unwrap().to_string();
    let (laptop, tablet) = (
        add_client(&app, &backend, &id, &phone).await,
        add_client(&app, &backend, &id, &phone).await,
    );
    let object = revoke_proof_object(tablet.as_str());
    let proof = pop::prove(&phone.es256_signer(), ISSUER, &id, &object, SystemClock.now()).unwrap();
    let revoke = format!("/v1/pseudonyms/{id}/clients/{tablet}/revoke");
    let (status, body) =
        app.post(&revoke, &backend, &json!({"account": "kim", "proof": proof})).await;
    assert_eq!(status, 204, "{body}");

    // Entries for the pseudonym itself and for each client, spread at
    // random over the lists, with the status each must be published with.
    let holders = [
        (Holder::Pseudonym(PseudonymId::parse(&id).unwrap()), 0),
        (Holder::Client(laptop), 0),
        (Holder::Client(tablet), 1),
    ];
    let now = SystemClock.now();
    let link = &app.state.keys.link;
    let base = format!("{ISSUER}/v1/status-lists/");
    let mut expected: HashMap<i64, Vec<(usize, u8, bool)>> = HashMap::new();
    for (holder, status) in &holders {
        for _ in 0..ENTRIES_PER_HOLDER {
            let entry =
                reference(&app.state.store, link, &base, holder, now + 86_400).await.unwrap();
            let list: i64 = entry.uri.rsplit('/').next().unwrap().parse().unwrap();
            let is_client = matches!(holder, Holder::Client(_));
            expected.entry(list).or_default().push((entry.idx as usize, *status, is_client));
        }
    }

    let mut most_clients = 0;
    for list in 0..LISTS {
        let before = logs.0.lock().unwrap().len();
        let built = app.state.status_lists.build(list, now).await.unwrap();
        let text = String::from_utf8(logs.0.lock().unwrap()[before..].to_vec()).unwrap();
        let statements: Vec<&str> = text.lines().filter(|l| l.contains("sqlx::query")).collect();
        assert!(!statements.is_empty(), "the statement log is captured");
        let client_reads = statements.iter().filter(|l| l.contains("pseudonym_clients")).count();
        let entries = expected.remove(&list).unwrap_or_default();
        let clients = entries.iter().filter(|(_, _, is_client)| *is_client).count();
        most_clients = most_clients.max(clients);
        assert!(
            client_reads <= 1,
            "list {list}: {clients} client entries read in {client_reads} statements"
        );
        for (idx, status, _) in entries {
            assert_eq!(built.get(idx).unwrap(), status, "list {list} entry {idx}");
        }
    }
    assert!(most_clients >= 2, "some list holds several client entries: {most_clients}");
}
