//! Operability: request ids in responses (and in every log span).

use crate::support::TestApp;

on_both_backends!(every_response_carries_a_request_id);

async fn every_response_carries_a_request_id(app: TestApp) {
    let mut seen = Vec::new();
    for path in ["/healthz", "/readyz", "/v1/pseudonyms/AAAAAAAAAAAAAAAAAAAAAA", "/nowhere"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        let id = response.headers().get("x-request-id").expect("x-request-id").to_str().unwrap();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        seen.push(id.to_string());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "ids are unique per request");

    // A caller's own id is kept, so it can follow a request across services.
    let response =
        app.http.get(app.url("/healthz")).header("x-request-id", "trace-42").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42");
}
