//! Issue 11: databases written before the unlinkable layout upgrade in
//! place, and every remedy still reaches every pseudonym afterwards.
//!
//! - `a_previous_release_database_upgrades`: a SQLite database written by
//!   the release before the redesign (`tests/fixtures/pre-unlinkable`, made
//!   by that release's own test harness: seven accounts, remedies of every
//!   kind, a one-by-one revocation, a break-glass reveal), opened by this
//!   release.
//! - `the_legacy_layout_upgrades` (both backends): the same upgrade on a
//!   database put back into the old layout by hand, for PostgreSQL, which
//!   has no committed fixture.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use sqlx::any::AnyPoolOptions;
use veil::core::clock::ManualClock;
use veil::core::linkage::AccountRef;
use veil::core::pseudonym_id::PseudonymId;
use veil::services::storage_upgrade;

use crate::support::TestApp;
use crate::support::mls::MlsClient;

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pre-unlinkable")
}

/// Copies the fixture to a fresh directory (key files 0600, as veil wants).
fn copy_fixture() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixture().join("veil.db"), dir.path().join("veil.db")).expect("db");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    for entry in std::fs::read_dir(fixture().join("keys")).expect("fixture keys") {
        let path = entry.expect("entry").path();
        let to = keys.join(path.file_name().expect("name"));
        std::fs::copy(&path, &to).expect("key file");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).expect("0600");
    }
    dir
}

async fn status(app: &TestApp, hub: &str, uri: &str) -> String {
    let id = uri.rsplit('/').next().expect("id");
    let (code, body) = app.get(&format!("/v1/pseudonyms/{id}"), Some(hub)).await;
    assert_eq!(code, 200, "{body}");
    body["status"].as_str().expect("status").to_string()
}

async fn statuses(app: &TestApp, hub: &str, uris: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for uri in uris {
        out.push(status(app, hub, uri).await);
    }
    out
}

async fn remedy(app: &TestApp, uri: &str, action: &str) -> i64 {
    let body = json!({"pseudonym": uri, "action": action, "case_id": "case-upgrade",
                      "reason": "abuse"});
    let (code, body) = app.post("/v1/admin/remedies", &app.admin_token, &body).await;
    assert_eq!(code, 201, "{body}");
    body["affected_pseudonyms"].as_i64().expect("affected")
}

fn all(status: &str, n: usize) -> Vec<String> {
    vec![status.to_string(); n]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_previous_release_database_upgrades() {
    let truth: Value =
        serde_json::from_slice(&std::fs::read(fixture().join("truth.json")).expect("truth"))
            .expect("truth json");
    let accounts: BTreeMap<String, Vec<String>> =
        serde_json::from_value(truth["accounts"].clone()).expect("accounts");
    let now = truth["now"].as_i64().expect("now");
    let token = truth["admin_token"].as_str().expect("admin token");
    let app = TestApp::open(copy_fixture(), ManualClock::new(now), token).await;
    let hub = app.token(&["hub"]).await;
    let of = |name: &str| accounts[name].clone();

    // What hubs saw before the upgrade, they still see.
    assert_eq!(statuses(&app, &hub, &of("revoked")).await, all("revoked", of("revoked").len()));
    assert_eq!(statuses(&app, &hub, &of("deleted")).await, all("revoked", of("deleted").len()));
    assert_eq!(statuses(&app, &hub, &of("muted")).await, all("active", of("muted").len()));
    let suspended = of("suspended");
    assert_eq!(statuses(&app, &hub, &suspended).await, all("suspended", suspended.len()));
    let individual = of("individual");
    let mut expected = all("active", individual.len());
    expected[1] = "revoked".into();
    assert_eq!(statuses(&app, &hub, &individual).await, expected);

    // The layout that linked is gone.
    let tables = crate::privacy_adversary::snapshot::read(&app).await;
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert!(!names.contains(&"account_pseudonyms"), "{names:?}");
    let dump = app.state.store.dump_all_tables().await.expect("dump");
    for uris in accounts.values() {
        for uri in uris {
            let id = uri.rsplit('/').next().expect("id");
            // A break-glass request names the pseudonym it asks about.
            // Bytes are dumped in hex: an id stored as bytes shows so.
            let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
            let rows = dump
                .lines()
                .filter(|l| !l.starts_with("break_glass_requests"))
                .filter(|l| l.contains(id) || l.to_lowercase().contains(&hex))
                .count();
            assert_eq!(rows, 1, "only the pseudonym's own row names {id}:\n{dump}");
        }
    }

    // Every remedy reaches every pseudonym of its account, old and new.
    let plain = of("plain");
    assert_eq!(remedy(&app, &plain[plain.len() - 1], "suspend_and_revoke").await, 9);
    assert_eq!(statuses(&app, &hub, &plain).await, all("revoked", plain.len()));
    let muted = of("muted");
    assert_eq!(remedy(&app, &muted[0], "suspend").await, 9);
    assert_eq!(statuses(&app, &hub, &muted).await, all("suspended", muted.len()));
    assert_eq!(remedy(&app, &individual[0], "delete").await, 8, "one was revoked already");
    assert_eq!(statuses(&app, &hub, &individual).await, all("revoked", individual.len()));
    let backend = app.token(&["backend"]).await;
    let (code, body) = app.mint(&backend, "revealed", vec![MlsClient::new().jwk()]).await;
    assert_eq!(code, 201, "{body}");
    let mut revealed = of("revealed");
    revealed.push(body["pseudonyms"][0]["uri"].as_str().expect("uri").to_string());
    assert_eq!(remedy(&app, &revealed[0], "suspend_and_revoke").await, 10);
    assert_eq!(statuses(&app, &hub, &revealed).await, all("revoked", revealed.len()));
}

/// Links sealed before P-256 (HPKE Base, X25519) still open with the old
/// whole key; once the host has a P-256 break-glass public key, the next
/// mint of the account re-seals its link (HPKE Auth, P-256), which then
/// opens with the new key and names the same account. This is the
/// migration the service can do holding only public keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_links_open_with_the_old_key_and_are_resealed_on_the_next_mint() {
    use base64ct::{Base64, Encoding};
    use veil::formats::glass_link::{self, GlassSuite};
    use veil::formats::threshold::KemSecretKey;

    let truth: Value =
        serde_json::from_slice(&std::fs::read(fixture().join("truth.json")).expect("truth"))
            .expect("truth json");
    let uri = truth["accounts"]["individual"][0].as_str().expect("uri").to_string();
    let dir = copy_fixture();
    let keys = dir.path().join("keys");
    let old_key =
        veil::services::breakglass::custody::read_key_file(&keys.join("break-glass.key"), None)
            .expect("old key");
    std::fs::remove_file(keys.join("break-glass.key")).expect("key off the host");
    // The key ceremony for the new suite, off the host: only the public key lands.
    let new_key = KemSecretKey::generate().expect("key");
    let new_public = Base64::encode_string(&new_key.public_key().to_bytes());
    std::fs::write(keys.join("break-glass.pub"), new_public).expect("new public key");
    let now = truth["now"].as_i64().expect("now");
    let token = truth["admin_token"].as_str().expect("admin token");
    let app = TestApp::open(dir, ManualClock::new(now), token).await;
    let (_, second) = app.second_operator("second").await;
    let reveal = async || {
        let body = json!({"pseudonym": uri, "case_id": "c", "justification": "order",
                          "reason_code": "imminent-harm"});
        let (code, created) = app.post("/v1/admin/break-glass", &app.admin_token, &body).await;
        assert_eq!(code, 201, "{created}");
        let id = created["request_id"].as_str().expect("id").to_string();
        let path = |step: &str| format!("/v1/admin/break-glass/{id}/{step}");
        assert_eq!(app.post(&path("approve"), &second, &json!({})).await.0, 200);
        let (code, released) = app.post(&path("reveal"), &app.admin_token, &json!({})).await;
        assert_eq!(code, 200, "{released}");
        crate::support::released_link(&released)
    };

    let legacy = reveal().await;
    assert_eq!(legacy.suite, GlassSuite::LegacyX25519);
    let account = glass_link::open_with_key(&old_key, &legacy).expect("old key opens").to_string();
    assert!(glass_link::open_with_key(new_key.to_bytes().as_slice(), &legacy).is_err());

    let backend = app.token(&["backend"]).await;
    let (code, body) = app.mint(&backend, &account, vec![MlsClient::new().jwk()]).await;
    assert_eq!(code, 201, "{body}");
    let resealed = reveal().await;
    assert_eq!(resealed.suite, GlassSuite::P256Auth);
    let opened = glass_link::open_with_key(new_key.to_bytes().as_slice(), &resealed);
    assert_eq!(opened.expect("new key opens").as_str(), account);
    assert!(glass_link::open_with_key(&old_key, &resealed).is_err(), "the old key is retired");
}

on_both_backends!(the_legacy_layout_upgrades);

/// Puts a database of this release back into the old layout (the index as
/// one row per pseudonym beside the account ref, account-wide revocations
/// as stamps, reputation event ids that name a pseudonym), upgrades it, and
/// checks what the fixture test checks.
async fn the_legacy_layout_upgrades(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let mut owned: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for name in ["stamped", "kept"] {
        for _ in 0..2 {
            let keys = vec![MlsClient::new().jwk(), MlsClient::new().jwk()];
            let (code, body) = app.mint(&backend, name, keys).await;
            assert_eq!(code, 201, "{body}");
            for p in body["pseudonyms"].as_array().expect("pseudonyms") {
                owned.entry(name).or_default().push(p["uri"].as_str().expect("uri").into());
            }
        }
    }
    sqlx::any::install_default_drivers();
    let url = &app.state.config.database_url;
    let pool = AnyPoolOptions::new().max_connections(1).connect(url).await.expect("connect");
    let link = &app.state.keys.link;
    sqlx::query(
        "CREATE TABLE account_pseudonyms (account_ref BYTEA NOT NULL, \
         sealed_pseudonym BYTEA NOT NULL, PRIMARY KEY (account_ref, sealed_pseudonym))",
    )
    .execute(&pool)
    .await
    .expect("old table");
    sqlx::query("UPDATE accounts SET pseudonym_index = NULL").execute(&pool).await.expect("index");
    for (name, uris) in &owned {
        let account: AccountRef = link.account_ref(name);
        for uri in uris {
            let id = uri.rsplit('/').next().expect("id");
            // As the veil of that layout sealed it: under `k_ops` itself.
            let sealed = link.ops().seal_legacy(id.as_bytes(), &account.0).expect("seal");
            sqlx::query("INSERT INTO account_pseudonyms VALUES ($1, $2)")
                .bind(account.0.as_slice())
                .bind(sealed)
                .execute(&pool)
                .await
                .expect("old index row");
            if *name == "stamped" {
                sqlx::query("UPDATE pseudonyms SET revoked_at = $1 WHERE id = $2")
                    .bind(1_900_000_123_i64)
                    .bind(id)
                    .execute(&pool)
                    .await
                    .expect("stamp");
            }
        }
    }
    pool.close().await;
    let done = storage_upgrade::upgrade_if_needed(&app.state.store, link, app.state.clock.now())
        .await
        .expect("upgrade")
        .expect("the old layout was found");
    assert_eq!((done.accounts, done.pseudonyms, done.skipped), (2, 8, 0));
    let again =
        storage_upgrade::upgrade_if_needed(&app.state.store, link, app.state.clock.now()).await;
    assert!(again.expect("second run").is_none(), "the upgrade runs once");

    let dump = app.state.store.dump_all_tables().await.expect("dump");
    assert!(!dump.contains("1900000123"), "no revocation stamp stays:\n{dump}");
    assert_eq!(statuses(&app, &hub, &owned["stamped"]).await, all("revoked", 4));
    assert_eq!(statuses(&app, &hub, &owned["kept"]).await, all("active", 4));
    assert_eq!(remedy(&app, &owned["kept"][3], "suspend_and_revoke").await, 4);
    assert_eq!(statuses(&app, &hub, &owned["kept"]).await, all("revoked", 4));
    // The upgraded index takes new entries: a remedy reaches old and new.
    let (code, body) = app.mint(&backend, "stamped", vec![MlsClient::new().jwk()]).await;
    assert_eq!(code, 201, "{body}");
    let fresh = body["pseudonyms"][0]["uri"].as_str().expect("uri").to_string();
    let id = PseudonymId::parse(fresh.rsplit('/').next().expect("id")).expect("id");
    assert!(app.state.store.pseudonym(&id).await.expect("row").is_some());
    assert_eq!(remedy(&app, &fresh, "suspend").await, 1, "the stamped ones stay revoked");
    assert_eq!(status(&app, &hub, &fresh).await, "suspended");
}
