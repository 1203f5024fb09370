//! No log line names an account: the whole anti-abuse flow (minting, a
//! refusal over the limit, standing, signals, reports, remedies) runs with
//! a subscriber capturing every event at debug level, and the capture is
//! searched for the account id and its account_ref. A binary of its own,
//! because the subscriber is process-global.

#[macro_use]
#[allow(dead_code, unused_macros, unused_imports)]
#[path = "it/support/mod.rs"]
mod support;

#[path = "log_capture/mod.rs"]
mod log_capture;

use log_capture::capture;
use serde_json::json;
use support::TestApp;
use support::mls::MlsClient;

on_both_backends!(no_log_line_names_the_account);

async fn no_log_line_names_the_account(app: TestApp) {
    let logs = capture();
    let account = format!("needle-{}", app.db as u8);
    let backend = app.token(&["backend"]).await;
    let hubs = [app.token(&["hub"]).await, app.token(&["hub"]).await];
    let mut uris = Vec::new();
    for _ in 0..20 {
        let (status, body) = app.mint(&backend, &account, vec![MlsClient::new().jwk()]).await;
        assert_eq!(status, 201, "{body}");
        uris.push(body["pseudonyms"][0]["uri"].as_str().unwrap().to_string());
    }
    let (status, _) = app.mint(&backend, &account, vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 429);
    let ask = json!({"account": account});
    assert_eq!(app.post("/v1/accounts/status", &backend, &ask).await.0, 200);
    let seed = json!({"account": account, "verified_phone": true});
    assert_eq!(app.post("/v1/accounts/signals", &backend, &seed).await.0, 204);
    for (i, hub) in hubs.iter().enumerate() {
        let report = json!({"room": "r", "alleged_abuser": uris[i], "reason_code": 0});
        assert_eq!(app.post("/v1/abuse-reports", hub, &report).await.0, 202);
    }
    for action in ["mute", "suspend", "suspend_and_revoke"] {
        let body = json!({"pseudonym": uris[0], "action": action, "case_id": "c", "reason": "r"});
        assert_eq!(app.post("/v1/admin/remedies", &app.admin_token, &body).await.0, 201);
    }
    let (status, _) = app.mint(&backend, &account, vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 403);

    let text = String::from_utf8(logs.0.lock().expect("capture").clone()).expect("utf-8");
    assert!(text.contains("remedy applied"), "the capture works");
    let account_ref = app.state.keys.link.account_ref(&account);
    let hex: String = account_ref.0.iter().map(|b| format!("{b:02x}")).collect();
    let text = text.to_lowercase();
    assert!(!text.contains(&account), "a log line names the account");
    assert!(!text.contains(&hex), "a log line carries the account_ref");
}
