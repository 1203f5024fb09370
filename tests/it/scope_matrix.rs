//! Every route of the OpenAPI document against every kind of caller (issue
//! 16): no token, a revoked token, and a client of each scope. One table
//! below says which scopes each route admits; a route the document has and
//! the table lacks fails the test, so a new route cannot ship unreviewed.
//!
//! Expected: public routes never answer 401 or 403; protected routes answer
//! 401 without a valid token, exactly 403 for a scope they do not admit
//! (whatever the body or query: their refusal waits for the scope check),
//! and
//! neither 401 nor 403 for a scope they admit (the empty body then gets its
//! own 4xx).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::TestApp;

/// Who may call a route.
#[derive(Clone, Copy, Debug)]
enum Access {
    Public,
    Scopes(&'static [&'static str]),
}

const ADMIN: Access = Access::Scopes(&["admin"]);
const AUDIT: Access = Access::Scopes(&["auditor", "admin"]);
const BACKEND: Access = Access::Scopes(&["backend"]);
const HUB: Access = Access::Scopes(&["hub"]);
const HUB_OR_BACKEND: Access = Access::Scopes(&["hub", "backend"]);
/// Hubs pass the scope check; whether they may remedy is the policy's call.
const REMEDY: Access = Access::Scopes(&["admin", "hub"]);

/// The one table: (method, path template, access).
const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/.well-known/cose-keys", Access::Public),
    ("GET", "/.well-known/jwks.json", Access::Public),
    ("GET", "/.well-known/jwt-vc-issuer", Access::Public),
    ("GET", "/.well-known/veil-issuer", Access::Public),
    ("GET", "/vct/linked-identity/v1", Access::Public),
    ("GET", "/v1/status-lists/{list}", Access::Public),
    ("GET", "/v1/crl", Access::Public),
    ("GET", "/healthz", Access::Public),
    ("GET", "/readyz", Access::Public),
    ("GET", "/openapi.json", Access::Public),
    ("GET", "/metrics", AUDIT),
    ("POST", "/v1/abuse-reports", HUB),
    ("POST", "/v1/report-abuse/{room}", HUB),
    ("POST", "/v1/accounts/signals", BACKEND),
    ("POST", "/v1/accounts/status", BACKEND),
    ("POST", "/v1/accounts/transparency", BACKEND),
    ("POST", "/v1/admin/accounts/status", ADMIN),
    ("GET", "/v1/admin/audit", AUDIT),
    ("GET", "/v1/admin/audit/checkpoint", AUDIT),
    ("GET", "/v1/admin/audit/checkpoints", AUDIT),
    ("GET", "/v1/admin/audit/consistency", AUDIT),
    ("GET", "/v1/admin/audit/inclusion", AUDIT),
    ("GET", "/v1/admin/break-glass", ADMIN),
    ("POST", "/v1/admin/break-glass", ADMIN),
    ("POST", "/v1/admin/break-glass/{id}/approve", ADMIN),
    ("POST", "/v1/admin/break-glass/{id}/deny", ADMIN),
    ("GET", "/v1/admin/break-glass/{id}/partial-input", ADMIN),
    ("POST", "/v1/admin/break-glass/{id}/partials", ADMIN),
    ("POST", "/v1/admin/break-glass/{id}/reveal", ADMIN),
    ("GET", "/v1/admin/clients", ADMIN),
    ("POST", "/v1/admin/clients", ADMIN),
    ("DELETE", "/v1/admin/clients/{id}", ADMIN),
    ("GET", "/v1/admin/operators", ADMIN),
    ("POST", "/v1/admin/operators", ADMIN),
    ("DELETE", "/v1/admin/operators/{id}", ADMIN),
    ("POST", "/v1/admin/operators/{id}/approve", ADMIN),
    ("GET", "/v1/admin/remedies", ADMIN),
    ("POST", "/v1/admin/remedies", REMEDY),
    ("POST", "/v1/admin/remedies/{id}/lift", ADMIN),
    ("POST", "/v1/admin/reputation-adjustments", ADMIN),
    ("POST", "/v1/mls/credentials/validate", HUB),
    ("POST", "/v1/mls/key-packages/validate", HUB),
    ("POST", "/v1/presentations/verify", HUB_OR_BACKEND),
    ("POST", "/v1/pseudonyms", BACKEND),
    ("GET", "/v1/pseudonyms/{id}", HUB_OR_BACKEND),
    ("POST", "/v1/pseudonyms/{id}/disclosures", BACKEND),
    ("GET", "/v1/pseudonyms/{id}/clients", HUB_OR_BACKEND),
    ("POST", "/v1/pseudonyms/{id}/clients", BACKEND),
    ("POST", "/v1/pseudonyms/{id}/clients/{client}/revoke", BACKEND),
    ("GET", "/v1/remedies", ADMIN),
    ("POST", "/v1/remedies", REMEDY),
    ("POST", "/v1/remedies/{id}/lift", ADMIN),
    ("POST", "/v1/reputation-adjustments", ADMIN),
];

const SCOPES: [&str; 4] = ["backend", "hub", "admin", "auditor"];

/// The document's operations as "METHOD path".
fn documented(document: &Value) -> BTreeSet<String> {
    let paths = document["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, operations)| {
            let methods = operations.as_object().expect("operations");
            methods.keys().map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect()
}

async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: &str) -> u16 {
    let url = app.url(&path.replace("{id}", "no-such-id"));
    let mut request = match method {
        "GET" => app.http.get(url),
        "POST" => {
            app.http.post(url).header("content-type", "application/json").body(body.to_string())
        }
        "DELETE" => app.http.delete(url),
        other => panic!("the table has method {other}"),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").status().as_u16()
}

on_both_backends!(every_route_admits_exactly_its_scopes);

async fn every_route_admits_exactly_its_scopes(app: TestApp) {
    let (_, document) = app.get("/openapi.json", None).await;
    let table: BTreeSet<String> = ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    let documented = documented(&document);
    let missing: Vec<&String> = documented.difference(&table).collect();
    assert!(missing.is_empty(), "routes without an entry in the scope table: {missing:?}");
    let stale: Vec<&String> = table.difference(&documented).collect();
    assert!(stale.is_empty(), "table entries the document no longer has: {stale:?}");

    let mut tokens = Vec::new();
    for scope in SCOPES {
        tokens.push((scope, app.token(&[scope]).await));
    }
    let revoked = {
        let body = json!({"name": "to revoke", "scopes": ["backend"]});
        let (status, created) = app.post("/v1/admin/clients", &app.admin_token, &body).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().expect("id");
        let response = app
            .http
            .delete(app.url(&format!("/v1/admin/clients/{id}")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .expect("revoke");
        assert!(response.status().is_success(), "{}", response.status());
        created["token"].as_str().expect("token").to_string()
    };

    let mut wrong = Vec::new();
    for &(method, path, access) in ROUTES {
        // A malformed body or query as well as an empty one: none may
        // change the answer to a caller without the scope.
        for (query, body) in [("", "{}"), ("", "{"), ("?limit=ZZZ&status=AAA", "{}")] {
            let path = format!("{path}{query}");
            let path = path.as_str();
            let anonymous = call(&app, method, path, None, body).await;
            let with_revoked = call(&app, method, path, Some(&revoked), body).await;
            match access {
                Access::Public => {
                    if [401, 403].contains(&anonymous) {
                        wrong.push(format!("{method} {path} public, anonymous got {anonymous}"));
                    }
                }
                Access::Scopes(admitted) => {
                    for (who, got) in [("anonymous", anonymous), ("revoked", with_revoked)] {
                        if got != 401 {
                            wrong.push(format!("{method} {path} {who} got {got}, not 401"));
                        }
                    }
                    for (scope, token) in &tokens {
                        let got = call(&app, method, path, Some(token), body).await;
                        let admits = admitted.contains(scope);
                        if admits && [401, 403].contains(&got) {
                            wrong.push(format!("{method} {path} admits {scope} but got {got}"));
                        }
                        if !admits && got != 403 {
                            wrong.push(format!(
                                "{method} {path} {scope} ({body}) got {got}, not 403"
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong answers:\n{}", wrong.len(), wrong.join("\n"));
}

/// Every protected route admits at least one scope, and only scopes that
/// exist: a typo in the table would otherwise make a route look closed.
#[test]
fn the_table_names_real_scopes() {
    for (method, path, access) in ROUTES {
        if let Access::Scopes(scopes) = access {
            assert!(!scopes.is_empty(), "{method} {path}");
            assert!(scopes.iter().all(|s| SCOPES.contains(s)), "{method} {path}");
        }
    }
}
