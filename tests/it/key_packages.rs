//! KeyPackage validation for hubs and the connection-only marker: what a
//! hub learns from `POST /v1/mls/key-packages/validate`, and which forged or
//! foreign packages it refuses.

use base64ct::{Base64, Encoding};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use serde_json::{Value, json};
use x509_cert::der::Decode;

use crate::support::hub::codes;
use crate::support::mls::MlsClient;
use crate::support::{TestApp, assert_problem};
use veil::testkit::SUITE;

on_both_backends!(
    connection_only_pseudonyms_carry_the_marker,
    a_genuine_key_package_is_valid_in_both_encodings,
    forged_and_foreign_key_packages_are_refused,
    revoked_pseudonyms_fail_validation,
    unreadable_input_is_a_problem_not_a_500,
    admission_follows_the_room_policys_pseudonyms_allowed
);

/// The OID of docs/API.md ("Connection-only pseudonyms").
const CONNECTION_ONLY_OID: &str = "1.3.6.1.4.1.32473.1.1";

/// Mints one pseudonym for `client`; returns its JSON.
async fn mint(app: &TestApp, backend: &str, client: &MlsClient, connection_only: bool) -> Value {
    let body =
        json!({"account": "alice", "keys": [client.jwk()], "connection_only": connection_only});
    let (status, body) = app.post("/v1/pseudonyms", backend, &body).await;
    assert_eq!(status, 201, "{body}");
    body["pseudonyms"][0].clone()
}

fn b64(value: &Value) -> Vec<u8> {
    Base64::decode_vec(value.as_str().expect("string")).expect("standard base64")
}

async fn validate(app: &TestApp, hub: &str, key_package: &[u8]) -> Value {
    let body = json!({"key_package": Base64::encode_string(key_package)});
    let (status, body) = app.post("/v1/mls/key-packages/validate", hub, &body).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn connection_only_pseudonyms_carry_the_marker(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    for connection_only in [false, true] {
        let minted = mint(&app, &backend, &MlsClient::new(), connection_only).await;
        assert_eq!(minted["connection_only"], connection_only);
        let leaf = x509_cert::Certificate::from_der(&b64(&minted["certificate_chain"][0]))
            .expect("leaf parses");
        let marker = leaf
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id.to_string() == CONNECTION_ONLY_OID)
            .cloned();
        match marker {
            None => assert!(!connection_only, "a connection-only certificate lacks the marker"),
            Some(ext) => {
                assert!(connection_only, "the marker is on an ordinary pseudonym");
                assert!(!ext.critical, "the marker must not break relying parties");
                assert_eq!(ext.extn_value.as_bytes(), [0x05, 0x00], "DER NULL");
            }
        }
    }
}

async fn a_genuine_key_package_is_valid_in_both_encodings(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    for connection_only in [false, true] {
        let alice = MlsClient::new();
        let minted = mint(&app, &backend, &alice, connection_only).await;
        let bare = alice.key_package(&b64(&minted["mls_credential"]));
        // MLSMessage (RFC 9420 §6): version mls10, wire_format mls_key_package.
        let message = [&[0, 1, 0, 5][..], &bare].concat();
        for bytes in [bare, message] {
            let report = validate(&app, &hub, &bytes).await;
            assert_eq!(report["valid"], true, "{report}");
            assert_eq!(report["pseudonym"], minted["uri"]);
            assert_eq!(report["status"], "active");
            assert_eq!(report["connection_only"], connection_only);
            assert_eq!(report["not_after"], minted["not_after"]);
            assert_eq!(report["errors"], json!([]));
        }
    }
}

async fn forged_and_foreign_key_packages_are_refused(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let alice = MlsClient::new();
    let minted = mint(&app, &backend, &alice, false).await;
    let credential = b64(&minted["mls_credential"]);

    // Mallory wraps Alice's certificate around her own key: openmls accepts
    // the package, veil does not.
    let mallory = MlsClient::new();
    let report = validate(&app, &hub, &mallory.key_package(&credential)).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(codes(&report), ["leaf_key_mismatch"]);

    // A basic credential names no pseudonym of ours.
    let basic = BasicCredential::new(b"alice".to_vec());
    let report = validate(&app, &hub, &mallory.key_package(&tls(Credential::from(basic)))).await;
    assert_eq!(codes(&report), ["credential_not_x509"], "{report}");
    assert_eq!(report["pseudonym"], Value::Null);

    // A certificate from another CA.
    let foreign = TestApp::spawn(crate::support::Db::Sqlite).await;
    let foreign_backend = foreign.token(&["backend"]).await;
    let stranger = MlsClient::new();
    let minted = mint(&foreign, &foreign_backend, &stranger, false).await;
    let report = validate(&app, &hub, &stranger.key_package(&b64(&minted["mls_credential"]))).await;
    assert_eq!(codes(&report), ["certificate_untrusted"], "{report}");

    // A package signed in a suite pseudonym keys cannot sign in.
    let ed = SignatureKeyPair::new(SignatureScheme::ED25519).expect("ed25519 key");
    let provider = openmls_rust_crypto::OpenMlsRustCrypto::default();
    let suite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
    let capabilities = Capabilities::builder()
        .credentials(vec![CredentialType::X509])
        .ciphersuites(vec![suite, SUITE])
        .build();
    let credential = Credential::tls_deserialize_exact(&credential[..]).expect("credential");
    let bundle = KeyPackage::builder()
        .leaf_node_capabilities(capabilities)
        .build(
            suite,
            &provider,
            &ed,
            CredentialWithKey { credential, signature_key: ed.to_public_vec().into() },
        )
        .expect("key package");
    let report = validate(&app, &hub, &tls(bundle.key_package().clone())).await;
    let found = codes(&report);
    assert!(found.contains(&"ciphersuite_unsupported".to_string()), "{report}");
    assert!(found.contains(&"leaf_key_mismatch".to_string()), "{report}");
}

async fn revoked_pseudonyms_fail_validation(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let alice = MlsClient::new();
    let minted = mint(&app, &backend, &alice, false).await;
    let package = alice.key_package(&b64(&minted["mls_credential"]));
    let remedy = json!({"pseudonym": minted["uri"], "action": "suspend_and_revoke",
                        "case_id": "case-1", "reason": "spam"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
    assert_eq!(status, 201, "{body}");
    let report = validate(&app, &hub, &package).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["pseudonym"], minted["uri"]);
    assert_eq!(report["status"], "revoked");
    assert_eq!(codes(&report), ["pseudonym_revoked"]);
}

async fn unreadable_input_is_a_problem_not_a_500(app: TestApp) {
    let hub = app.token(&["hub"]).await;
    let backend = app.token(&["backend"]).await;
    let path = "/v1/mls/key-packages/validate";
    for body in [
        json!({"key_package": "not base64!"}),
        json!({"key_package": Base64::encode_string(b"garbage")}),
        json!({"key_package": ""}),
        json!({"key_package": Base64::encode_string(&[0u8; 70_000])}),
    ] {
        let (status, problem) = app.post(path, &hub, &body).await;
        assert!(status == 422 || status == 413, "{status} {problem}");
    }
    let (status, problem) = app.post(path, &hub, &json!({"kp": "x"})).await;
    assert_problem(status, &problem, 422, "invalid-request");
    let (status, problem) = app.post(path, &backend, &json!({"key_package": ""})).await;
    assert_problem(status, &problem, 403, "insufficient-scope");
}

fn tls(value: impl openmls::prelude::tls_codec::Serialize) -> Vec<u8> {
    value.tls_serialize_detached().expect("TLS encodes")
}

/// draft-ietf-mimi-room-policy `pseudonyms_allowed`, judged at admission on
/// the member's credential: a room whose policy forbids pseudonyms refuses
/// every package carrying one of ours; the others admit it.
async fn admission_follows_the_room_policys_pseudonyms_allowed(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let alice = MlsClient::new();
    let minted = mint(&app, &backend, &alice, false).await;
    let package = Base64::encode_string(&alice.key_package(&b64(&minted["mls_credential"])));
    let ask = |policy: Value| {
        let body = json!({"key_package": package, "policy": policy});
        let (app, hub) = (&app, &hub);
        async move { app.post("/v1/mls/key-packages/validate", hub, &body).await }
    };
    for (policy, allowed) in [
        (json!("open"), true),
        (json!({"pseudonyms": "required"}), true),
        (json!({"pseudonyms": "optional"}), true),
        (json!({"pseudonyms": "forbidden"}), false),
    ] {
        let (status, report) = ask(policy.clone()).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["pseudonyms_allowed"], allowed, "{policy}: {report}");
        assert_eq!(report["valid"], allowed, "{policy}: {report}");
        if !allowed {
            assert_eq!(codes(&report), ["pseudonym_forbidden"], "{report}");
            assert_eq!(report["pseudonym"], minted["uri"], "the hub still learns which");
        }
    }
    // Without a policy, the report says nothing of admission.
    let report = validate(&app, &hub, &Base64::decode_vec(&package).unwrap()).await;
    assert!(report.get("pseudonyms_allowed").is_none(), "{report}");
    let (status, body) = ask(json!("no-such-room")).await;
    assert_problem(status, &body, 422, "unknown-policy");
    let (status, body) = ask(json!({"pseudonyms": "sometimes"})).await;
    assert_problem(status, &body, 422, "invalid-request");
}
