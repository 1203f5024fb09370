//! API clients: creation, listing, revocation, scopes.

use serde_json::json;

use crate::support::mls::MlsClient;
use crate::support::{TestApp, assert_problem};

on_both_backends!(clients_are_created_listed_and_revoked);

async fn clients_are_created_listed_and_revoked(app: TestApp) {
    let (status, created) = app
        .post("/v1/admin/clients", &app.admin_token, &json!({"name": "hub one", "scopes": ["hub"]}))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["scopes"], json!(["hub"]));
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();

    let (status, list) = app.get("/v1/admin/clients", Some(&app.admin_token)).await;
    assert_eq!(status, 200);
    let clients = list["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 2, "first admin + hub one");
    assert!(!list.to_string().contains(&token), "tokens are never listed");
    assert!(!list.to_string().contains("token_hash"));

    // The hub token works on hub routes, not on admin or minting routes.
    let (status, _) = app.get("/v1/pseudonyms/AAAAAAAAAAAAAAAAAAAAAA", Some(&token)).await;
    assert_eq!(status, 404);
    let (status, body) = app.get("/v1/admin/clients", Some(&token)).await;
    assert_problem(status, &body, 403, "insufficient-scope");

    assert_eq!(app.delete(&format!("/v1/admin/clients/{id}"), &app.admin_token).await, 204);
    let (status, body) = app.get("/v1/pseudonyms/AAAAAAAAAAAAAAAAAAAAAA", Some(&token)).await;
    assert_problem(status, &body, 401, "unauthorized");
    assert_eq!(app.delete(&format!("/v1/admin/clients/{id}"), &app.admin_token).await, 404);

    let (_, list) = app.get("/v1/admin/clients", Some(&app.admin_token)).await;
    let revoked =
        list["clients"].as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).unwrap();
    let revoked_at = revoked["revoked_at"].as_str().unwrap_or_default();
    assert!(veil::core::clock::parse_rfc3339(revoked_at).is_some(), "RFC 3339: {revoked}");

    let (status, body) = app
        .post("/v1/admin/clients", &app.admin_token, &json!({"name": "x", "scopes": ["root"]}))
        .await;
    assert_problem(status, &body, 422, "invalid-request");
    let (status, body) =
        app.post("/v1/admin/clients", &app.admin_token, &json!({"name": "x", "scopes": []})).await;
    assert_problem(status, &body, 422, "invalid-request");

    // The last active admin cannot be revoked: someone must manage clients.
    let (_, list) = app.get("/v1/admin/clients", Some(&app.admin_token)).await;
    let admin = list["clients"].as_array().unwrap().iter().find(|c| c["name"] == "first admin");
    let admin_id = admin.unwrap()["id"].as_str().unwrap().to_string();
    let status = app.delete(&format!("/v1/admin/clients/{admin_id}"), &app.admin_token).await;
    assert_eq!(status, 409);
    let second_admin = app.token(&["admin"]).await;
    assert_eq!(app.delete(&format!("/v1/admin/clients/{admin_id}"), &second_admin).await, 204);
    let (status, body) = app.get("/v1/admin/clients", Some(&app.admin_token)).await;
    assert_problem(status, &body, 401, "unauthorized");
    let app_admin = second_admin;

    // A revoked backend can no longer mint.
    let (_, created) = app
        .post("/v1/admin/clients", &app_admin, &json!({"name": "backend", "scopes": ["backend"]}))
        .await;
    let backend = created["token"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/admin/clients/{}", created["id"].as_str().unwrap()), &app_admin)
            .await,
        204
    );
    let (status, body) = app.mint(backend, "dave", vec![MlsClient::new().jwk()]).await;
    assert_problem(status, &body, 401, "unauthorized");
    assert_eq!(app.pseudonym_count().await, 0);

    // Every creation and revocation is in the audit log, by whom and of what.
    let (status, log) = app.get("/v1/admin/audit?limit=100", Some(&app_admin)).await;
    assert_eq!(status, 200, "{log}");
    let entries = log["entries"].as_array().unwrap();
    let of = |action: &str, target: &str| {
        entries.iter().any(|e| e["action"] == action && e["target"] == target)
    };
    assert!(of("client.create", &id) && of("client.revoke", &id), "{log}");
    assert!(of("client.revoke", &admin_id), "{log}");
    let first = entries.iter().find(|e| e["action"] == "client.create").unwrap();
    assert_eq!(first["actor"], "bootstrap", "the first admin is created at startup");
}
