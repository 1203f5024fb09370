//! `POST /v1/mls/credentials/validate`: what a hub learns about a leaf that
//! comes in no KeyPackage (external joins, Updates, Commits), and which
//! copied, tampered or foreign leaves it refuses. Also the two rules the
//! route shares with KeyPackage validation that came with it: a KeyPackage
//! must not outlive its certificate, and a `/u/` deployment's pseudonyms
//! validate under `/u/`.

use base64ct::{Base64, Encoding};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{Credential, Lifetime};
use serde_json::{Value, json};

use crate::support::hub::{CommittedLeaf, Persona, b64, codes, mint};
use crate::support::mls::{MlsClient, validate_key_package};
use crate::support::{Db, TestApp, assert_problem};

on_both_backends!(
    a_veil_leaf_is_valid_in_every_form,
    copied_tampered_and_foreign_leaves_are_refused,
    a_revoked_pseudonyms_leaf_gets_the_status_finding,
    unreadable_input_is_a_problem_and_nothing_is_stored,
    key_packages_may_not_outlive_their_certificate,
    a_connection_only_leaf_enters_only_a_connection_room
);
on_both_backends_with!(u_deployment;
    a_u_deployment_mints_u_uris_that_validate,
    a_u_deployment_never_takes_a_pseudonym_uri_for_a_user_uri
);

const PATH: &str = "/v1/mls/credentials/validate";

async fn validate(app: &TestApp, hub: &str, body: &Value) -> Value {
    let (status, report) = app.post(PATH, hub, body).await;
    assert_eq!(status, 200, "{report}");
    report
}

fn tls(value: impl openmls::prelude::tls_codec::Serialize) -> Vec<u8> {
    value.tls_serialize_detached().expect("TLS encodes")
}

/// The LeafNode of a KeyPackage: made by a KeyPackage, so signed over no
/// group position.
fn leaf_of(key_package: &[u8]) -> Vec<u8> {
    tls(validate_key_package(key_package).leaf_node().clone())
}

fn kp_leaf_body(leaf: &[u8]) -> Value {
    json!({"leaf_node": Base64::encode_string(leaf)})
}

fn committed_body(leaf: &CommittedLeaf) -> Value {
    json!({"leaf_node": Base64::encode_string(&leaf.leaf_node),
           "group_id": Base64::encode_string(&leaf.group_id),
           "leaf_index": leaf.leaf_index})
}

fn credential_body(credential: &[u8], key: &[u8]) -> Value {
    json!({"credential": Base64::encode_string(credential),
           "signature_key": Base64::encode_string(key)})
}

/// `joiner` joins `owner`'s new group by external commit; the leaf of the
/// commit's path as the owner (and so the hub) sees it.
fn external_join(owner: &Persona, joiner: &Persona) -> CommittedLeaf {
    let mut group = owner.create_group();
    let (_, commit) = joiner.join_external(&owner.group_info(&group));
    owner.receive(&mut group, &commit).committed_leaf.expect("the commit has a path")
}

fn assert_valid_for(report: &Value, persona: &Persona) {
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["pseudonym"], persona.uri.as_str(), "{report}");
    assert_eq!(report["status"], "active");
    assert_eq!(report["connection_only"], false);
    assert!(report["not_after"].is_string(), "{report}");
    assert_eq!(report["errors"], json!([]));
}

async fn a_veil_leaf_is_valid_in_every_form(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let people = mint(&app, &backend, "alice", 2, false).await;
    let (alice, bob) = (&people[0], &people[1]);

    // A KeyPackage's leaf needs no position.
    let leaf = leaf_of(&alice.key_package());
    assert_valid_for(&validate(&app, &hub, &kp_leaf_body(&leaf)).await, alice);

    // An external join's leaf (made by a Commit), with its group and index.
    let joined = external_join(alice, bob);
    let report = validate(&app, &hub, &committed_body(&joined)).await;
    assert_valid_for(&report, bob);

    // The same leaf without its position cannot be checked: a clear finding.
    let report = validate(&app, &hub, &kp_leaf_body(&joined.leaf_node)).await;
    assert_eq!(codes(&report), ["leaf_position_required"], "{report}");
    assert_eq!(report["pseudonym"], bob.uri.as_str(), "the credential is still judged");

    // A bare credential with the leaf key the hub read from its tree.
    let report =
        validate(&app, &hub, &credential_body(&bob.credential, &bob.client.public_key())).await;
    assert_valid_for(&report, bob);

    // With the room's policy, admission is judged as for KeyPackages.
    let mut body = committed_body(&joined);
    body["policy"] = json!({"pseudonyms": "forbidden"});
    let report = validate(&app, &hub, &body).await;
    assert_eq!(report["pseudonyms_allowed"], false);
    assert_eq!(codes(&report), ["pseudonym_forbidden"], "{report}");
}

async fn copied_tampered_and_foreign_leaves_are_refused(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let people = mint(&app, &backend, "alice", 2, false).await;
    let (alice, owner) = (&people[0], &people[1]);

    // Mallory copies Alice's certificate onto her own key. Her leaves are
    // signed correctly with that key; only the key binding gives her away.
    let mallory = Persona {
        client: MlsClient::new(),
        id: alice.id.clone(),
        uri: alice.uri.clone(),
        credential: alice.credential.clone(),
    };
    let joined = external_join(owner, &mallory);
    let report = validate(&app, &hub, &committed_body(&joined)).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(codes(&report), ["leaf_key_mismatch"], "{report}");
    let leaf = leaf_of(&mallory.key_package());
    assert_eq!(codes(&validate(&app, &hub, &kp_leaf_body(&leaf)).await), ["leaf_key_mismatch"]);
    let body = credential_body(&alice.credential, &mallory.client.public_key());
    assert_eq!(codes(&validate(&app, &hub, &body).await), ["leaf_key_mismatch"]);

    // A tampered signature, a leaf placed elsewhere than it was signed for,
    // and a changed field under the signature.
    let genuine = external_join(owner, alice);
    let mut tampered = genuine.clone();
    *tampered.leaf_node.last_mut().expect("bytes") ^= 0x01;
    let mut moved = genuine.clone();
    moved.leaf_index += 1;
    let mut other_group = genuine.clone();
    other_group.group_id.push(0);
    for leaf in [tampered, moved, other_group] {
        let report = validate(&app, &hub, &committed_body(&leaf)).await;
        assert_eq!(report["valid"], false, "{report}");
        assert_eq!(codes(&report), ["signature_invalid"], "{report}");
    }
    let mut leaf = leaf_of(&alice.key_package());
    let key = alice.client.public_key();
    let at = leaf.windows(key.len()).position(|w| w == key).expect("the key is in the leaf");
    leaf[at - 1 - 32] ^= 0x01; // inside encryption_key, just before signature_key
    let report = validate(&app, &hub, &kp_leaf_body(&leaf)).await;
    assert_eq!(codes(&report), ["signature_invalid"], "{report}");

    // A pseudonym of another veil: its chain is not from our CA.
    let foreign = TestApp::spawn(Db::Sqlite).await;
    let foreign_backend = foreign.token(&["backend"]).await;
    let stranger = &mint(&foreign, &foreign_backend, "stranger", 1, false).await[0];
    let joined = external_join(owner, stranger);
    let report = validate(&app, &hub, &committed_body(&joined)).await;
    assert_eq!(codes(&report), ["certificate_untrusted"], "{report}");
    assert_eq!(report["pseudonym"], Value::Null);
    let body = credential_body(&stranger.credential, &stranger.client.public_key());
    assert_eq!(codes(&validate(&app, &hub, &body).await), ["certificate_untrusted"]);
}

async fn a_revoked_pseudonyms_leaf_gets_the_status_finding(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let people = mint(&app, &backend, "alice", 2, false).await;
    let (owner, alice) = (&people[0], &people[1]);
    let joined = external_join(owner, alice);
    let remedy = json!({"pseudonym": alice.uri, "action": "suspend_and_revoke",
                        "case_id": "case-7", "reason": "spam"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
    assert_eq!(status, 201, "{body}");
    for body in
        [committed_body(&joined), credential_body(&alice.credential, &alice.client.public_key())]
    {
        let report = validate(&app, &hub, &body).await;
        assert_eq!(report["valid"], false, "{report}");
        assert_eq!(report["pseudonym"], alice.uri.as_str());
        assert_eq!(report["status"], "revoked");
        assert_eq!(codes(&report), ["pseudonym_revoked"], "{report}");
    }
}

async fn unreadable_input_is_a_problem_and_nothing_is_stored(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let alice = &mint(&app, &backend, "alice", 1, false).await[0];
    let leaf = leaf_of(&alice.key_package());
    let (pseudonyms, accounts) = (app.pseudonym_count().await, app.account_count().await);
    let key = Base64::encode_string(&alice.client.public_key());
    let garbage = Base64::encode_string(b"garbage");
    let leaf = Base64::encode_string(&leaf);
    let credential = Base64::encode_string(&alice.credential);
    for body in [
        json!({"leaf_node": garbage}),
        json!({"leaf_node": Base64::encode_string(&[0u8; 300])}),
        json!({"leaf_node": format!("{leaf}AAAA")}),
        json!({"leaf_node": "not base64!"}),
        json!({"leaf_node": ""}),
        json!({"credential": garbage, "signature_key": key}),
        json!({"credential": credential}),
        json!({"credential": credential, "signature_key": "%%"}),
        json!({"leaf_node": leaf, "credential": credential, "signature_key": key}),
        json!({"leaf_node": leaf, "signature_key": key}),
        json!({"leaf_node": leaf, "group_id": "AAAA"}),
        json!({"leaf_node": leaf, "leaf_index": 1}),
        json!({"leaf_node": leaf, "group_id": "%%", "leaf_index": 1}),
        json!({"leaf_node": leaf, "leaf_index": -1, "group_id": "AAAA"}),
        json!({"credential": credential, "signature_key": key, "leaf_index": 0}),
        json!({"leaf_node": leaf, "policy": "no-such-room"}),
        json!({}),
        json!({"leaf": leaf}),
    ] {
        let (status, problem) = app.post(PATH, &hub, &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        let slug = if body.get("policy").is_some() { "unknown-policy" } else { "invalid-request" };
        assert_problem(status, &problem, 422, slug);
    }
    let (status, problem) = app.post(PATH, &backend, &json!({"leaf_node": leaf})).await;
    assert_problem(status, &problem, 403, "insufficient-scope");
    assert_eq!((app.pseudonym_count().await, app.account_count().await), (pseudonyms, accounts));
}

/// openmls' default KeyPackage lifetime is 84 days; a 30-day pseudonym's
/// certificate does not cover it, so veil refuses such a package (and its
/// leaf) while one within the certificate passes.
async fn key_packages_may_not_outlive_their_certificate(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let client = MlsClient::new();
    let body = json!({"account": "alice", "keys": [client.jwk()], "validity_days": 30});
    let (status, minted) = app.post("/v1/pseudonyms", &backend, &body).await;
    assert_eq!(status, 201, "{minted}");
    let minted = &minted["pseudonyms"][0];
    let bytes = b64(&minted["mls_credential"]);
    let credential = Credential::tls_deserialize_exact(&bytes[..]).expect("credential");

    let long = client.key_package_for(credential.clone(), Lifetime::default());
    let body = json!({"key_package": Base64::encode_string(&long)});
    let (status, report) = app.post("/v1/mls/key-packages/validate", &hub, &body).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(codes(&report), ["lifetime_exceeds_certificate"], "{report}");
    assert_eq!(report["pseudonym"], minted["uri"], "the hub still learns which");
    let report = validate(&app, &hub, &kp_leaf_body(&leaf_of(&long))).await;
    assert_eq!(codes(&report), ["lifetime_exceeds_certificate"], "{report}");

    let fitting = client.key_package(&bytes);
    let body = json!({"key_package": Base64::encode_string(&fitting)});
    let (status, report) = app.post("/v1/mls/key-packages/validate", &hub, &body).await;
    assert_eq!((status, report["valid"].clone()), (200, json!(true)), "{report}");
}

async fn u_deployment(db: Db) -> TestApp {
    TestApp::spawn_with_env(db, &[("VEIL_PSEUDONYM_PATH", "u")]).await
}

/// Local policy may put pseudonyms under `/u/`: minted URIs, certificates,
/// the published prefix and every validation follow.
async fn a_u_deployment_mints_u_uris_that_validate(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let people = mint(&app, &backend, "alice", 2, false).await;
    let (alice, bob) = (&people[0], &people[1]);
    assert_eq!(alice.uri, format!("mimi://example.com/u/{}", alice.id));
    let credential = Credential::tls_deserialize_exact(&alice.credential[..]).expect("credential");
    assert_eq!(veil::testkit::credential_uri(&credential).as_deref(), Some(alice.uri.as_str()));
    let (status, issuer) = app.get("/.well-known/veil-issuer", None).await;
    assert_eq!(status, 200, "{issuer}");
    assert_eq!(issuer["pseudonym_uri_prefix"], "mimi://example.com/u/");

    let body = json!({"key_package": Base64::encode_string(&alice.key_package())});
    let (status, report) = app.post("/v1/mls/key-packages/validate", &hub, &body).await;
    assert_eq!(status, 200, "{report}");
    assert_valid_for(&report, alice);
    assert_valid_for(&validate(&app, &hub, &committed_body(&external_join(alice, bob))).await, bob);
    let (status, view) = app.get(&format!("/v1/pseudonyms/{}", bob.id), Some(&hub)).await;
    assert_eq!((status, view["uri"].clone()), (200, json!(bob.uri)), "{view}");
}

/// Under `/u/`, pseudonym URIs and the provider's user URIs share one
/// prefix, so a URI's last segment tells them apart: 22 base64url
/// characters (a pseudonym id's shape) is a pseudonym, anything else a
/// user. veil never vouches for a user URI of a pseudonym's shape (its own
/// pseudonym's, another's, or any other: before, a disclosure said "this
/// member's real identity is mimi://example.com/u/<a pseudonym id>"), and
/// takes a user URI of any other shape for a user's (before, the verifier
/// took every `/u/` SAN URI for a pseudonym's and refused a linked
/// certificate carrying one as the wrong type).
async fn a_u_deployment_never_takes_a_pseudonym_uri_for_a_user_uri(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let alice = MlsClient::new();
    let (status, minted) = app.mint(&backend, "alice", vec![alice.jwk()]).await;
    assert_eq!(status, 201, "{minted}");
    let pseudonym = &minted["pseudonyms"][0];
    let (id, uri) = (pseudonym["id"].as_str().unwrap(), pseudonym["uri"].as_str().unwrap());
    assert!(uri.starts_with("mimi://example.com/u/"), "{uri}");
    let holder = alice.es256_signer();
    let asking = |user_uri: &str| {
        json!({"account": "alice", "format": "x509",
               "claims": {"name": "Alice", "user_uri": user_uri}})
    };
    let shaped_like_an_id = format!("mimi://example.com/u/{}", "A".repeat(22));
    for user_uri in [uri, shaped_like_an_id.as_str()] {
        let (status, body) = app.disclose(&backend, &holder, id, &asking(user_uri)).await;
        assert_problem(status, &body, 422, "invalid-request");
        assert!(body["detail"].as_str().unwrap().contains("pseudonym"), "{body}");
    }

    let user_uri = "mimi://example.com/u/alice";
    let (status, issued) = app.disclose(&backend, &holder, id, &asking(user_uri)).await;
    assert_eq!(status, 201, "{issued}");
    let x509 = |pem: &Value| {
        json!({"format": "x509", "presentation": pem, "leaf_signature_key": alice.jwk(),
               "policy": "open"})
    };
    let (status, verdict) =
        app.post("/v1/presentations/verify", &hub, &x509(&issued["credential"])).await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["disclosed"]["user_uri"], user_uri, "{verdict}");
    assert_eq!(verdict["subject_pseudonym"], uri, "{verdict}");
    // The pseudonym's own certificate discloses nothing: the wrong type.
    let (status, verdict) =
        app.post("/v1/presentations/verify", &hub, &x509(&pseudonym["certificate_pem"])).await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert_eq!(codes(&verdict), ["wrong_typ"], "{verdict}");
}

/// A connection-only pseudonym joining by external commit (no KeyPackage):
/// once the hub names the room, a room it does not call a connection room
/// refuses the leaf, as KeyPackage validation does. Found by review: this
/// route had no `connection_room` and judged every such leaf valid.
async fn a_connection_only_leaf_enters_only_a_connection_room(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let first_contact = &mint(&app, &backend, "ivy", 1, true).await[0];
    let key = first_contact.client.public_key();
    let rooms = [
        (json!({}), true),
        (json!({"policy": "open"}), false),
        (json!({"policy": "open", "connection_room": false}), false),
        (json!({"connection_room": false}), false),
        (json!({"policy": "open", "connection_room": true}), true),
    ];
    for (room, admitted) in rooms {
        let mut body = credential_body(&first_contact.credential, &key);
        for (k, v) in room.as_object().unwrap() {
            body[k] = v.clone();
        }
        let report = validate(&app, &hub, &body).await;
        assert_eq!(report["connection_only"], true, "{report}");
        assert_eq!(report["valid"], admitted, "{room}: {report}");
        if !admitted {
            assert_eq!(codes(&report), vec!["connection_room_required"], "{report}");
        }
    }
}
