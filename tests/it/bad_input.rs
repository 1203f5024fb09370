//! Bad input on the minting route: each refused with the right 4xx
//! problem, and nothing stored.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Value, json};

use crate::support::mls::MlsClient;
use crate::support::{TestApp, assert_problem};

on_both_backends!(
    bad_mint_requests_are_refused_and_store_nothing,
    reused_keys_conflict,
    batch_with_one_bad_key_stores_nothing,
    bad_query_and_path_parameters_are_problems,
    a_wrong_method_is_a_problem_naming_the_allowed_ones
);

async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(app.pseudonym_count().await, 0);
    assert_eq!(app.account_count().await, 0);
}

async fn bad_mint_requests_are_refused_and_store_nothing(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let key = MlsClient::new().jwk();

    let (status, body) =
        app.post_raw("/v1/pseudonyms", Some(&backend), b"{\"account\": ".to_vec()).await;
    assert_problem(status, &body, 400, "malformed-json");

    let (status, body) = app
        .post("/v1/pseudonyms", &backend, &json!({"account": "a", "keys": [key], "colour": "red"}))
        .await;
    assert_problem(status, &body, 422, "invalid-request");
    assert!(body["detail"].as_str().unwrap().contains("colour"), "{body}");

    let (status, body) = app.post("/v1/pseudonyms", &backend, &json!({"keys": [key]})).await;
    assert_problem(status, &body, 422, "invalid-request");
    assert!(body["detail"].as_str().unwrap().contains("account"), "{body}");

    let (status, body) = app.mint(&backend, "a", vec![]).await;
    assert_problem(status, &body, 422, "invalid-request");
    let many: Vec<Value> = (0..33).map(|_| MlsClient::new().jwk()).collect();
    let (status, body) = app.mint(&backend, "a", many).await;
    assert_problem(status, &body, 422, "invalid-request");

    let mut p384 = key.clone();
    p384["crv"] = json!("P-384");
    let (status, body) = app.mint(&backend, "a", vec![p384]).await;
    assert_problem(status, &body, 422, "invalid-key");
    let rsa = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
    let (status, body) =
        app.post("/v1/pseudonyms", &backend, &json!({"account": "a", "keys": [rsa]})).await;
    assert!(status == 422, "{status} {body}");

    let mut off_curve = key.clone();
    let mut y = Base64UrlUnpadded::decode_vec(key["y"].as_str().unwrap()).unwrap();
    y[31] ^= 0x01;
    off_curve["y"] = json!(Base64UrlUnpadded::encode_string(&y));
    let (status, body) = app.mint(&backend, "a", vec![off_curve]).await;
    assert_problem(status, &body, 422, "invalid-key");
    assert!(body["detail"].as_str().unwrap().contains("curve"), "{body}");

    let (status, body) = app
        .post(
            "/v1/pseudonyms",
            &backend,
            &json!({"account": "a", "keys": [key], "validity_days": 0}),
        )
        .await;
    assert_problem(status, &body, 422, "invalid-request");

    let big = vec![b' '; 70 * 1024];
    let mut oversized = b"{\"account\": \"a\", \"keys\": [], \"pad\": \"".to_vec();
    oversized.extend_from_slice(&big);
    oversized.extend_from_slice(b"\"}");
    let (status, body) = app.post_raw("/v1/pseudonyms", Some(&backend), oversized).await;
    assert_problem(status, &body, 413, "payload-too-large");

    let request = json!({"account": "a", "keys": [key]});
    let (status, body) =
        app.post_raw("/v1/pseudonyms", None, request.to_string().into_bytes()).await;
    assert_problem(status, &body, 401, "unauthorized");
    let (status, body) = app.post("/v1/pseudonyms", "veil_not-a-real-token", &request).await;
    assert_problem(status, &body, 401, "unauthorized");
    let (status, body) = app.post("/v1/pseudonyms", &hub, &request).await;
    assert_problem(status, &body, 403, "insufficient-scope");

    assert_nothing_stored(&app).await;
}

async fn reused_keys_conflict(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let key = MlsClient::new().jwk();
    let (status, body) =
        app.mint(&backend, "a", vec![key.clone(), MlsClient::new().jwk(), key.clone()]).await;
    assert_problem(status, &body, 409, "key-in-use");
    assert!(body["detail"].as_str().unwrap().contains("keys[2]"), "{body}");
    assert_nothing_stored(&app).await;

    let (status, body) = app.mint(&backend, "a", vec![key.clone()]).await;
    assert_eq!(status, 201, "{body}");
    // The same key again, by the same or another account: refused, nothing new stored.
    for account in ["a", "b"] {
        let (status, body) =
            app.mint(&backend, account, vec![MlsClient::new().jwk(), key.clone()]).await;
        assert_problem(status, &body, 409, "key-in-use");
    }
    assert_eq!(app.pseudonym_count().await, 1);
    assert_eq!(app.account_count().await, 1);
}

async fn batch_with_one_bad_key_stores_nothing(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let mut bad = MlsClient::new().jwk();
    bad["x"] = json!("AAAA");
    let keys = vec![MlsClient::new().jwk(), MlsClient::new().jwk(), bad, MlsClient::new().jwk()];
    let (status, body) = app.mint(&backend, "a", keys).await;
    assert_problem(status, &body, 422, "invalid-key");
    assert!(body["detail"].as_str().unwrap().contains("keys[2]"), "{body}");
    assert_nothing_stored(&app).await;
}

/// A query or path parameter that does not parse is a 400 problem naming
/// the parameter and never echoing its value.
async fn bad_query_and_path_parameters_are_problems(app: TestApp) {
    let hub = app.token(&["hub"]).await;
    let admin = Some(app.admin_token.as_str());
    let cases = [
        ("/v1/admin/audit?limit=9223372036854775808", admin, "limit", "9223372036854775808"),
        ("/v1/admin/audit?limit=ZZZ", admin, "limit", "ZZZ"),
        ("/v1/admin/audit/checkpoints?limit=-ZZZ", admin, "limit", "ZZZ"),
        ("/v1/admin/break-glass?status=AAA", admin, "status", "AAA"),
        ("/v1/pseudonyms/%FF", Some(hub.as_str()), "id", "FF"),
    ];
    for (path, token, parameter, value) in cases {
        let (status, body) = app.get(path, token).await;
        assert_problem(status, &body, 400, "invalid-parameter");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(parameter) && !detail.contains(value), "{path}: {body}");
    }
    let (status, body) = app.get("/v1/admin/break-glass?colour=red", admin).await;
    assert_problem(status, &body, 400, "invalid-parameter");
    assert!(!body["detail"].as_str().unwrap().contains("red"), "{body}");
}

/// A route that exists but not for this method: 405 with a problem body
/// and the methods it does take (an empty 405 told a client nothing).
async fn a_wrong_method_is_a_problem_naming_the_allowed_ones(app: TestApp) {
    let response = app
        .http
        .delete(app.url("/v1/pseudonyms"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(allow.as_deref(), Some("POST"));
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_problem(405, &body, 405, "method-not-allowed");
}
