//! No log line names the revealed account: a whole break-glass flow
//! (request, refusals, approval, reveal, transparency) runs with a
//! subscriber capturing every event at debug level, and the capture is
//! searched for the account id. A binary of its own, because the
//! subscriber is process-global.

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

on_both_backends!(no_log_line_names_the_revealed_account);

async fn no_log_line_names_the_revealed_account(app: TestApp) {
    let logs = capture();
    let account = format!("glass-needle-{}", app.db as u8);
    let backend = app.token(&["backend"]).await;
    let (_, second) = app.second_operator("second").await;
    let (status, body) = app.mint(&backend, &account, vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let uri = body["pseudonyms"][0]["uri"].as_str().unwrap().to_string();
    let request = json!({"pseudonym": uri, "case_id": "c", "justification": "j",
                         "reason_code": "imminent-harm"});
    let (status, body) = app.post("/v1/admin/break-glass", &app.admin_token, &request).await;
    assert_eq!(status, 201, "{body}");
    let id = body["request_id"].as_str().unwrap().to_string();
    let path = |step: &str| format!("/v1/admin/break-glass/{id}/{step}");
    assert_eq!(app.post(&path("approve"), &app.admin_token, &json!({})).await.0, 403);
    assert_eq!(app.post(&path("approve"), &second, &json!({})).await.0, 200);
    let (status, body) = app.post(&path("reveal"), &app.admin_token, &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["sealed_link"].is_string() && !body.to_string().contains(&account), "{body}");
    assert_eq!(app.post(&path("reveal"), &app.admin_token, &json!({})).await.0, 409);
    let ask = json!({"account": account});
    assert_eq!(app.post("/v1/accounts/transparency", &backend, &ask).await.0, 200);

    let text = String::from_utf8(logs.0.lock().expect("capture").clone()).expect("utf-8");
    assert!(text.contains("break-glass link released"), "the capture works");
    assert!(!text.contains(&account), "a log line names the account");
}
