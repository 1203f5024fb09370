//! The OpenAPI document: served without authentication, covers every route
//! in `src/api/`, and matches the committed snapshot `tests/openapi.json`.
//!
//! After an intended API change, rewrite the snapshot and review its diff:
//!
//! ```sh
//! UPDATE_OPENAPI_SNAPSHOT=1 cargo test --test it openapi
//! ```

use std::path::Path;

use serde_json::Value;

use crate::support::{Db, TestApp};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi.json");

async fn served() -> Value {
    let app = TestApp::spawn(Db::Sqlite).await;
    let response = app.http.get(app.url("/openapi.json")).send().await.expect("GET /openapi.json");
    assert_eq!(response.status(), 200, "served without authentication");
    response.json().await.expect("a JSON document")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_matches_snapshot() {
    let document = served().await;
    assert_eq!(document["openapi"], "3.1.0");
    let rendered = serde_json::to_string_pretty(&document).expect("render") + "\n";
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(SNAPSHOT, &rendered).expect("write the snapshot");
        return;
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == rendered,
        "the OpenAPI document changed: rerun with UPDATE_OPENAPI_SNAPSHOT=1, review and \
         commit tests/openapi.json"
    );
}

/// Every `.route("<path>", <method>(…)…)` in `src/api/*.rs`.
fn routes_in_source() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/api") {
        let source = std::fs::read_to_string(entry.expect("entry").path()).expect("source");
        for line in source.lines() {
            let Some((_, rest)) = line.split_once(".route(\"") else { continue };
            let (path, methods) = rest.split_once('"').expect("a quoted path");
            for method in ["get", "post", "put", "delete", "patch"] {
                let call = format!("{method}(");
                let found = methods.match_indices(&call).any(|(i, _)| {
                    i == 0
                        || !methods.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && methods.as_bytes()[i - 1] != b'_'
                });
                if found {
                    routes.push((method.to_string(), path.to_string()));
                }
            }
        }
    }
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_covers_every_route() {
    let document = served().await;
    let routes = routes_in_source();
    assert!(routes.len() >= 30, "the route scan found too little: {routes:?}");
    for (method, path) in &routes {
        let operation = &document["paths"][path][method];
        assert!(
            operation.is_object(),
            "{} {path} is missing from /openapi.json",
            method.to_uppercase()
        );
        for (status, response) in operation["responses"].as_object().expect("responses") {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
        let secured = operation.get("security").is_some();
        let description = operation["description"].as_str().unwrap_or_default();
        if secured {
            assert!(description.contains("Scopes:"), "{method} {path} names its scopes");
        } else {
            assert!(description.contains("Public"), "{method} {path} is public");
        }
    }
    let operations: usize = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(operations, routes.len(), "no documented operation without a route");
}
