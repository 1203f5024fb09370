//! `veilctl keys rotate` for each kind: after a rotation and a restart the
//! new key signs, the old one stays published, and what it signed before
//! keeps verifying (SD-JWT, SD-CWT, linked X.509, pseudonym certificates).

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};
use veil::core::clock::{Clock, SystemClock};
use veil::formats::disclosure::{sd_cwt, sd_jwt};
use veil::services::audit::note::{NoteError, SignedCheckpoint, TreeHead};
use veil::services::keyring::KeyKind;
use veil::services::keyring::RetiredPublic;

use crate::support::TestApp;
use crate::support::fixtures::{Pseudonym as Fixture, pseudonym};
use crate::support::mls::MlsClient;

on_both_backends!(
    sd_jwt_credentials_survive_rotation,
    sd_cwt_credentials_survive_rotation,
    ca_rotation_keeps_pseudonym_and_linked_certificates_valid,
    audit_rotation_is_logged_and_old_checkpoints_still_verify,
    ops_rotation_keeps_every_sealed_value_readable
);

const ACCOUNT: &str = "rota@accounts.example";
const ROOM: &str = "mimi://example.com/r/general";

async fn fixture(app: &TestApp) -> Fixture {
    pseudonym(app, ACCOUNT).await
}

/// Rotates `kind` as `veilctl keys rotate` does, then starts a veild on
/// the same database and key directory (the restart that picks it up).
async fn rotate(app: &TestApp, kind: KeyKind) -> TestApp {
    let rotation =
        veil::app::rotate_key(&app.state.config, kind, &SystemClock).await.expect("rotate");
    assert_ne!(rotation.old_kid, rotation.new_kid);
    let restarted = app.replica().await;
    assert_eq!(restarted.state.keys.current_kid(kind), rotation.new_kid);
    restarted
}

async fn issue(app: &TestApp, f: &Fixture, format: &str) -> String {
    let disclosable: &[&str] = if format == "x509" { &[] } else { &["name"] };
    let request = json!({"account": ACCOUNT, "format": format, "claims": {"name": "Rota"},
                         "disclosable": disclosable, "validity_days": 7});
    let (status, body) = app.disclose(&f.backend, &f.holder, &f.id, &request).await;
    assert_eq!(status, 201, "{body}");
    body["credential"].as_str().expect("credential").to_string()
}

/// Presents `credential` revealing the name and returns veil's verdict.
async fn verify(app: &TestApp, f: &Fixture, format: &str, credential: &str) -> Value {
    let holder = f.client.es256_signer();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let now = SystemClock.now();
    let mut request = json!({"format": format,
                             "leaf_signature_key": Base64::encode_string(&f.client.public_key())});
    match format {
        "sd-jwt" => {
            let presentation = sd_jwt::present(credential, &["name"], &holder, ROOM, &nonce, now)
                .expect("present");
            request["presentation"] = json!(presentation);
            request["nonce"] = json!(nonce);
        }
        "sd-cwt" => {
            let cwt = Base64::decode_vec(credential).expect("base64");
            let kbt = sd_cwt::present(&cwt, &["name"], &holder, ROOM, nonce.as_bytes(), now)
                .expect("present");
            request["presentation"] = json!(Base64::encode_string(&kbt));
            request["nonce"] = json!(Base64::encode_string(nonce.as_bytes()));
        }
        _ => request["presentation"] = json!(credential),
    }
    if format != "x509" {
        request["audience"] = json!(ROOM);
        request["policy"] = json!("adults-only");
    } else {
        request["policy"] = json!("verified-staff");
    }
    let (status, verdict) = app.post("/v1/presentations/verify", &f.hub, &request).await;
    assert_eq!(status, 200, "{verdict}");
    verdict
}

/// The credential verified as ours (whatever the room policy says of it).
fn assert_genuine(verdict: &Value) {
    assert_eq!(verdict["disclosed"]["name"], "Rota", "{verdict}");
}

fn jwks_kids(body: &Value) -> Vec<String> {
    body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

async fn sd_jwt_credentials_survive_rotation(app: TestApp) {
    let f = fixture(&app).await;
    let before = issue(&app, &f, "sd-jwt").await;
    let old_kid = app.state.keys.sd_jwt.kid().to_string();
    let app = rotate(&app, KeyKind::SdJwt).await;
    let new_kid = app.state.keys.sd_jwt.kid().to_string();
    assert_genuine(&verify(&app, &f, "sd-jwt", &before).await);
    let after = issue(&app, &f, "sd-jwt").await;
    let header = after.split('.').next().expect("header");
    let header: Value = serde_json::from_slice(
        &base64ct::Base64UrlUnpadded::decode_vec(header).expect("base64url"),
    )
    .expect("header json");
    assert_eq!(header["kid"], new_kid.as_str(), "the new key signs");
    assert_genuine(&verify(&app, &f, "sd-jwt", &after).await);
    for path in ["/.well-known/jwks.json", "/.well-known/jwt-vc-issuer"] {
        let (status, body) = app.get(path, None).await;
        assert_eq!(status, 200, "{body}");
        let body = if path.ends_with("jwks.json") { body } else { body["jwks"].clone() };
        assert_eq!(jwks_kids(&body), [new_kid.clone(), old_kid.clone()], "{path}");
    }
}

async fn sd_cwt_credentials_survive_rotation(app: TestApp) {
    let f = fixture(&app).await;
    let before = issue(&app, &f, "sd-cwt").await;
    let old_kid = app.state.keys.sd_cwt.kid().to_string();
    let app = rotate(&app, KeyKind::SdCwt).await;
    let new_kid = app.state.keys.sd_cwt.kid().to_string();
    assert_genuine(&verify(&app, &f, "sd-cwt", &before).await);
    let after = issue(&app, &f, "sd-cwt").await;
    assert_genuine(&verify(&app, &f, "sd-cwt", &after).await);
    let bytes = app
        .http
        .get(app.url("/.well-known/cose-keys"))
        .send()
        .await
        .expect("send")
        .bytes()
        .await
        .expect("body");
    use coset::CborSerializable;
    let set = coset::CoseKeySet::from_slice(&bytes).expect("COSE_KeySet");
    let kids: Vec<Vec<u8>> = set.0.iter().map(|k| k.key_id.clone()).collect();
    assert_eq!(kids, [new_kid.into_bytes(), old_kid.into_bytes()]);
}

async fn ca_rotation_keeps_pseudonym_and_linked_certificates_valid(app: TestApp) {
    let f = fixture(&app).await;
    let linked = issue(&app, &f, "x509").await;
    let old_ca = app.state.keys.ca.cert_pem().to_string();
    let mls = Base64::decode_vec(f.mint["mls_credential"].as_str().expect("mls")).expect("b64");
    let package = f.client.key_package(&mls);
    let app = rotate(&app, KeyKind::Ca).await;
    let new_ca = app.state.keys.ca.cert_pem().to_string();
    assert_ne!(old_ca, new_ca);

    let body = json!({"key_package": Base64::encode_string(&package)});
    let (status, report) = app.post("/v1/mls/key-packages/validate", &f.hub, &body).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["valid"], true, "a pseudonym certificate of the old CA: {report}");
    assert_genuine(&verify(&app, &f, "x509", &linked).await);

    // New pseudonyms chain to the new CA and validate too.
    let fresh = MlsClient::new();
    let (status, minted) = app.mint(&f.backend, ACCOUNT, vec![fresh.jwk()]).await;
    assert_eq!(status, 201, "{minted}");
    let mls = Base64::decode_vec(minted["pseudonyms"][0]["mls_credential"].as_str().expect("mls"))
        .expect("b64");
    let body = json!({"key_package": Base64::encode_string(&fresh.key_package(&mls))});
    let (status, report) = app.post("/v1/mls/key-packages/validate", &f.hub, &body).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["valid"], true, "{report}");

    let (status, issuer) = app.get("/.well-known/veil-issuer", None).await;
    assert_eq!(status, 200, "{issuer}");
    assert_eq!(issuer["ca_certificates"], json!([new_ca, old_ca]));
    assert_eq!(issuer["key_ids"]["ca"], app.state.keys.ca.key_id());
}

async fn audit_rotation_is_logged_and_old_checkpoints_still_verify(app: TestApp) {
    let (status, body) = app.get("/v1/admin/audit/checkpoint", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    let old: SignedCheckpoint = serde_json::from_value(body).expect("checkpoint");
    let old_kid = app.state.keys.audit.kid().to_string();
    let old_key = app.state.keys.audit.public_key().clone();
    assert!(TreeHead::open(&old.note, std::slice::from_ref(&old_key)).is_ok());
    let app = rotate(&app, KeyKind::Audit).await;
    let (status, body) = app.get("/v1/admin/audit/checkpoint", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    let new: SignedCheckpoint = serde_json::from_value(body).expect("checkpoint");
    let new_key = app.state.keys.audit.public_key().clone();
    assert_ne!(app.state.keys.audit.kid(), old_kid);
    assert!(TreeHead::open(&new.note, std::slice::from_ref(&new_key)).is_ok());
    assert_eq!(TreeHead::open(&new.note, std::slice::from_ref(&old_key)), Err(NoteError::Unsigned));
    // The old key is kept so that earlier checkpoints can still be checked:
    // the signed note's key ID picks it among the current and retired keys.
    let retired: Vec<_> = app.state.keys.retired(KeyKind::Audit, SystemClock.now()).collect();
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].kid, old_kid);
    let RetiredPublic::Es256(retired_key) = &retired[0].public else {
        panic!("the audit key is ES256")
    };
    assert!(TreeHead::open(&old.note, &[new_key, retired_key.clone()]).is_ok());

    let (status, body) = app.get("/v1/admin/audit?limit=1000", Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{body}");
    let rotated: Vec<&Value> = body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "key.rotate")
        .collect();
    assert_eq!(rotated.len(), 1, "{body}");
    let target = rotated[0]["target"].as_str().expect("target");
    assert_eq!(target, format!("audit:{old_kid}->{}", app.state.keys.audit.kid()));
}

/// The header of a value sealed under `k_ops` (`core::ops_keys`).
fn ops_header(kid: veil::core::ops_keys::OpsKeyId) -> Vec<u8> {
    [[1u8].as_slice(), &kid.0].concat()
}

async fn ops_link_of(app: &TestApp, uri: &str) -> Vec<u8> {
    let id = uri.rsplit('/').next().expect("id");
    sqlx::query_scalar("SELECT ops_link FROM pseudonyms WHERE id = $1")
        .bind(id)
        .fetch_one(&app.raw_pool().await)
        .await
        .expect("pseudonym row")
}

/// `k_ops` rotated as `veilctl keys rotate --kind ops` does, then a
/// restart: what the old key sealed (the account behind a pseudonym, the
/// account's index, a remedy's account) still opens, and new values carry
/// the new key id.
async fn ops_rotation_keeps_every_sealed_value_readable(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let old_kid = app.state.keys.link.ops().current_id();
    let (status, body) = app.mint(&backend, ACCOUNT, vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let old_uri = body["pseudonyms"][0]["uri"].as_str().expect("uri").to_string();
    assert!(ops_link_of(&app, &old_uri).await.starts_with(&ops_header(old_kid)));
    let remedy =
        json!({"pseudonym": old_uri, "action": "suspend", "case_id": "c-1", "reason": "spam"});
    let (status, applied) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
    assert_eq!(status, 201, "{applied}");

    let rotation =
        veil::app::rotate_ops_key(&app.state.config, false, &SystemClock).await.expect("rotate");
    assert_eq!(rotation.old_kid, old_kid);
    let app = app.replica().await;
    let new_kid = app.state.keys.link.ops().current_id();
    assert_eq!(new_kid, rotation.new_kid);
    assert_ne!(new_kid, old_kid);

    // The remedy's account, sealed under the old key, is found to lift it;
    // the old pseudonym's link leads to the account again.
    let id = applied["remedy_id"].as_str().expect("remedy id");
    let lift = json!({"reason": "appeal granted"});
    let (status, body) =
        app.post(&format!("/v1/admin/remedies/{id}/lift"), &app.admin_token, &lift).await;
    assert_eq!(status, 204, "{body}");
    let old_id = old_uri.rsplit('/').next().expect("id");
    let (status, body) = app.get(&format!("/v1/pseudonyms/{old_id}"), Some(&hub)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active", "{body}");

    // A new mint opens the index the old key sealed and reseals it.
    let (status, body) = app.mint(&backend, ACCOUNT, vec![MlsClient::new().jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let new_uri = body["pseudonyms"][0]["uri"].as_str().expect("uri").to_string();
    assert!(ops_link_of(&app, &new_uri).await.starts_with(&ops_header(new_kid)));
    assert!(ops_link_of(&app, &old_uri).await.starts_with(&ops_header(old_kid)));
    let index: Vec<u8> = sqlx::query_scalar(
        "SELECT pseudonym_index FROM accounts WHERE pseudonym_index IS NOT NULL",
    )
    .fetch_one(&app.raw_pool().await)
    .await
    .expect("one account");
    assert!(index.starts_with(&ops_header(new_kid)));

    // A remedy on the old pseudonym reaches both, through the new index.
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["affected_pseudonyms"], 2, "{body}");
    let (_, body) = app
        .get(&format!("/v1/pseudonyms/{}", new_uri.rsplit('/').next().expect("id")), Some(&hub))
        .await;
    assert_eq!(body["status"], "suspended", "{body}");
}
