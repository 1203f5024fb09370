//! Operability: request ids in responses and log spans; Prometheus metrics.

use crate::support::TestApp;
use crate::support::mls::MlsClient;

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

on_both_backends!(metrics_count_requests_and_mints);

async fn metrics_count_requests_and_mints(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let keys = vec![MlsClient::new().jwk(), MlsClient::new().jwk()];
    let (status, body) = app.mint(&backend, "metrics-account", keys).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = app.get("/v1/pseudonyms/AAAAAAAAAAAAAAAAAAAAAA", Some(&backend)).await;
    assert_eq!(status, 404);

    // Made-up methods share one `other` series: no label value per client whim.
    for method in ["FOO", "BAR"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        app.http.request(method, app.url("/healthz")).send().await.unwrap();
    }

    // Metrics are for operators: a bearer token with `admin` or `auditor`.
    let (status, body) = app.get("/metrics", None).await;
    crate::support::assert_problem(status, &body, 401, "unauthorized");
    let (status, body) = app.get("/metrics", Some(&backend)).await;
    crate::support::assert_problem(status, &body, 403, "insufficient-scope");
    let auditor = app.token(&["auditor"]).await;
    let response = app.http.get(app.url("/metrics")).bearer_auth(&auditor).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("veil_pseudonyms_minted_total 2"), "{text}");
    assert!(
        text.contains(
            r#"veil_http_requests_total{method="POST",route="/v1/pseudonyms",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"veil_http_requests_total{method="GET",route="/v1/pseudonyms/{id}",status="404"} 1"#
        ),
        "route templates, never concrete ids: {text}"
    );
    assert!(
        !text.contains("AAAAAAAAAAAAAAAAAAAAAA") && !text.contains("metrics-account"),
        "{text}"
    );
    assert!(text.contains("veil_db_pool_connections"), "{text}");
    assert!(!text.contains("FOO") && !text.contains("BAR"), "{text}");
    assert!(
        text.contains(
            r#"veil_http_requests_total{method="other",route="/healthz",status="405"} 2"#
        ),
        "{text}"
    );
}

on_both_backends!(a_missing_key_directory_over_a_used_database_stops_startup);

/// A failed mount must not look like a first start: new keys over a used
/// database would change every account_ref and silently reset suspensions,
/// reputation and limits. Startup refuses and changes nothing.
async fn a_missing_key_directory_over_a_used_database_stops_startup(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let (status, body) = app.mint(&backend, "mount-check", vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let before = app.state.store.dump_all_tables().await.unwrap();

    let empty = tempfile::tempdir().unwrap();
    let mut config = app.state.config.clone();
    config.keys_dir = empty.path().join("keys");
    config.listen = "127.0.0.1:0".parse().unwrap();
    assert!(config.auto_init, "the dev default generates keys on a first start");
    let error = match veil::app::prepare(config, app.state.clock.clone()).await {
        Ok(_) => panic!("startup generated keys over a used database"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("key directory") && error.contains("already holds"), "{error}");
    assert!(!empty.path().join("keys").exists(), "no key was generated");
    assert_eq!(app.state.store.dump_all_tables().await.unwrap(), before, "nothing was written");
}

on_both_backends!(production_mode_refuses_secrets_on_the_host);

/// In production the online host must hold no break-glass private key
/// (sealed or not), no custodian share and no bootstrap admin token; dev
/// mode only warns.
async fn production_mode_refuses_secrets_on_the_host(app: TestApp) {
    let mut config = app.state.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.mode = veil::services::config::Mode::Production;
    config.auto_init = false;
    let key = config.break_glass_key_path();
    let token = config.keys_dir.join("admin-token");
    assert!(key.exists() && token.exists(), "the dev first start left both");
    let error = match veil::app::prepare(config.clone(), app.state.clock.clone()).await {
        Ok(_) => panic!("production started with the break-glass key on the host"),
        Err(error) => error.to_string(),
    };
    for path in [&key, &token] {
        assert!(error.contains(&path.display().to_string()), "{error}");
    }

    // Sealed is not enough: the reveal happens off the host, so no
    // break-glass private key belongs here in any form; nor does a share.
    let sealed = veil::services::breakglass::custody::seal_key(
        &veil::services::breakglass::custody::read_key_file(&key, None).unwrap(),
        "custodian words",
    )
    .unwrap();
    std::fs::write(&key, sealed).unwrap();
    std::fs::remove_file(&token).unwrap();
    let share = config.keys_dir.join("custodian.json");
    std::fs::write(&share, r#"{"format": "veil-break-glass-share-v2"}"#).unwrap();
    let error = match veil::app::prepare(config.clone(), app.state.clock.clone()).await {
        Ok(_) => panic!("production started with a sealed key and a share on the host"),
        Err(error) => error.to_string(),
    };
    for path in [&key, &share] {
        assert!(error.contains(&path.display().to_string()), "{error}");
    }
    assert!(!error.contains(&token.display().to_string()), "{error}");

    // Both moved off the host: production starts.
    std::fs::remove_file(&key).unwrap();
    std::fs::remove_file(&share).unwrap();
    assert!(veil::app::prepare(config, app.state.clock.clone()).await.is_ok());
}

/// A write transaction that reads first began deferred on SQLite: when
/// another connection committed while it waited for the write lock, its
/// snapshot was stale and SQLite refused at once ("database is locked"),
/// a 500 that schemathesis found on `POST /v1/admin/clients` (it reads the
/// operator, then writes). Played here with a second connection that holds
/// the write lock while the request starts, then commits.
#[tokio::test]
async fn a_write_that_reads_first_waits_for_another_writer_on_sqlite() {
    use sqlx::Connection;

    let app = std::sync::Arc::new(TestApp::spawn(crate::support::Db::Sqlite).await);
    let path = app.sqlite_path().expect("sqlite");
    let url = format!("sqlite://{}", path.display());
    let mut other = sqlx::SqliteConnection::connect(&url).await.expect("second connection");
    sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut other).await.expect("pragma");
    sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.expect("write lock");
    sqlx::query(
        "INSERT INTO rate_windows (subject, action, window_start, expires_at, n) \
         VALUES (x'00', 'probe', 0, 1, 1)",
    )
    .execute(&mut other)
    .await
    .expect("a write");
    let operator = app.first_operator().await;
    let request = {
        let app = app.clone();
        tokio::spawn(async move {
            let body = serde_json::json!({"name": "second admin", "scopes": ["admin"],
                                          "operator": operator});
            app.post("/v1/admin/clients", &app.admin_token, &body).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    sqlx::query("COMMIT").execute(&mut other).await.expect("commit");
    let (status, body) = request.await.expect("request");
    assert_eq!(status, 201, "{body}");
}
