//! Connection-only KeyPackages the standard way (draft-mahy-mimi-pseudonyms
//! §7): the client marks a KeyPackage with the private-use KeyPackage
//! extension 0xF0C0, listed in its leaf's capabilities; veil reports it,
//! and refuses the package for a room the hub does not call a connection
//! room (`connection_room_required`), as it does a package whose
//! certificate carries the older connection-only marker. The target
//! provider's `/keyMaterial` hands out only such packages to a requester
//! whose consent is scoped to one connection room.

use base64ct::{Base64, Encoding};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::{Value, json};
use veil::formats::mls::{CONNECTION_ONLY_EXTENSION_TYPE, connection_only_extension};
use veil::testkit::{SUITE, capabilities, lifetime_within};

use crate::support::TestApp;
use crate::support::hub::{Hub, codes, member_uris, mint};
use crate::support::key_material::{KeyMaterial, Refused};
use crate::support::mls::MlsClient;

on_both_backends!(
    the_extension_is_reported_and_admits_only_to_connection_rooms,
    the_certificate_marker_alone_still_restricts_the_package,
    a_package_whose_capabilities_omit_the_extension_is_refused,
    key_material_hands_out_connection_only_packages_for_a_consented_room
);

const ALICE: &str = "alice@provider.example";
const BOB: &str = "bob@provider.example";
const BOOTSTRAP: &str = "mimi://hub.example/r/bootstrap-5d1e";
const CONVERSATION: &str = "mimi://hub.example/r/conversation-8a07";

/// veil's report on `package`, with the request's room fields `room` (an
/// object merged into the body).
async fn validate(app: &TestApp, hub: &str, package: &[u8], room: Value) -> Value {
    let mut body = json!({"key_package": Base64::encode_string(package)});
    if let (Some(body), Some(room)) = (body.as_object_mut(), room.as_object()) {
        body.extend(room.clone());
    }
    let (status, report) = app.post("/v1/mls/key-packages/validate", hub, &body).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// A client's own marker: reported as such, folded into `connection_only`,
/// and judged against the kind of room once the hub names the room (a
/// policy alone names a room that is not a connection room).
async fn the_extension_is_reported_and_admits_only_to_connection_rooms(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let alice = mint(&app, &backend, ALICE, 1, false).await.remove(0);
    let marked = alice.connection_only_key_package();
    let plain = alice.key_package();

    let report = validate(&app, &hub, &marked, json!({})).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["connection_only"], true, "{report}");
    assert_eq!(report["connection_only_extension"], true, "{report}");
    assert_eq!(report["pseudonym"], alice.uri.as_str());

    let refused = ["connection_room_required"];
    for (room, admitted) in [
        (json!({"policy": "open", "connection_room": true}), true),
        (json!({"connection_room": true}), true),
        (json!({"policy": "open", "connection_room": false}), false),
        (json!({"connection_room": false}), false),
        (json!({"policy": "open"}), false),
    ] {
        let report = validate(&app, &hub, &marked, room.clone()).await;
        assert_eq!(report["valid"], admitted, "{room}: {report}");
        let expected: &[&str] = if admitted { &[] } else { &refused };
        assert_eq!(codes(&report), expected, "{room}: {report}");
        // Without the extension, the same pseudonym enters any room.
        let report = validate(&app, &hub, &plain, room.clone()).await;
        assert_eq!(report["valid"], true, "{room}: {report}");
        assert_eq!(report["connection_only"], false, "{room}: {report}");
        assert_eq!(report["connection_only_extension"], false, "{room}: {report}");
    }

    // Both refusals of admission are reported together.
    let forbidding = json!({"policy": {"pseudonyms": "forbidden"}, "connection_room": false});
    let report = validate(&app, &hub, &marked, forbidding).await;
    assert_eq!(codes(&report), ["pseudonym_forbidden", "connection_room_required"]);

    // The form is fixed: extension_data is empty. A package carrying data
    // there is refused, and still restricted (fail closed).
    let versioned = Extension::Unknown(CONNECTION_ONLY_EXTENSION_TYPE, UnknownExtension(vec![1]));
    let package = built(&alice.client, &alice.credential, capabilities(), versioned);
    let report = validate(&app, &hub, &package, json!({"connection_room": true})).await;
    assert_eq!(codes(&report), ["connection_only_extension_invalid"], "{report}");
    assert_eq!(report["connection_only"], true, "{report}");
}

/// The transition: a pseudonym minted `connection_only` carries the
/// certificate marker, which restricts a package without the extension
/// just as the extension does.
async fn the_certificate_marker_alone_still_restricts_the_package(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let bob = mint(&app, &backend, BOB, 1, true).await.remove(0);
    let package = bob.key_package();

    let report = validate(&app, &hub, &package, json!({})).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["connection_only"], true, "{report}");
    assert_eq!(report["connection_only_extension"], false, "{report}");

    let report = validate(&app, &hub, &package, json!({"policy": "open"})).await;
    assert_eq!(codes(&report), ["connection_room_required"], "{report}");
    let room = json!({"policy": "open", "connection_room": true});
    let report = validate(&app, &hub, &package, room).await;
    assert_eq!(report["valid"], true, "{report}");

    // Both markers at once: still one refusal.
    let both = bob.connection_only_key_package();
    let report = validate(&app, &hub, &both, json!({"connection_room": false})).await;
    assert_eq!(codes(&report), ["connection_room_required"], "{report}");
    assert_eq!(report["connection_only_extension"], true, "{report}");
}

/// RFC 9420 §7.2: a KeyPackage's extensions must be listed in its leaf's
/// capabilities. openmls builds such a package but refuses it on
/// validation (`KeyPackageVerifyError::UnsupportedExtension`), as every
/// receiving openmls client does; veil reports openmls' refusal as
/// `key_package_invalid` and, not having accepted the package, says
/// nothing of its extension.
async fn a_package_whose_capabilities_omit_the_extension_is_refused(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let alice = mint(&app, &backend, ALICE, 1, false).await.remove(0);
    let bare = Capabilities::builder()
        .credentials(vec![CredentialType::X509])
        .ciphersuites(vec![SUITE])
        .build();
    assert!(bare.extensions().is_empty());
    let package = built(&alice.client, &alice.credential, bare, connection_only_extension());

    let refused = KeyPackageIn::tls_deserialize_exact(&package[..])
        .expect("decodes")
        .validate(OpenMlsRustCrypto::default().crypto(), ProtocolVersion::Mls10);
    assert!(matches!(refused, Err(KeyPackageVerifyError::UnsupportedExtension)), "{refused:?}");

    let report = validate(&app, &hub, &package, json!({})).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(codes(&report), ["key_package_invalid"], "{report}");
    let detail = report["errors"][0]["detail"].as_str().expect("detail");
    assert!(detail.contains("capabilities"), "{detail}");
    assert!(report.get("connection_only_extension").is_none(), "{report}");
}

/// The connection flow with consent scoped to one room: Bob consents to
/// Alice reaching him in the bootstrap room only, so Bob's provider hands
/// Alice's side only connection-only KeyPackages, and only for that room.
/// The hub admits such a package to the bootstrap room (and openmls adds
/// its holder), never to the conversation; once Bob consents fully, an
/// ordinary package enters the conversation.
async fn key_material_hands_out_connection_only_packages_for_a_consented_room(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let mut hub = Hub::new(&app).await;
    let a1 = mint(&app, &backend, ALICE, 1, false).await.remove(0);
    let bob = mint(&app, &backend, BOB, 1, false).await.remove(0);
    let mut provider = KeyMaterial::default();
    for _ in 0..2 {
        provider.publish(&bob.uri, bob.key_package());
        provider.publish(&bob.uri, bob.connection_only_key_package());
    }

    // No consent yet: nothing for any room.
    assert_eq!(provider.request(&a1.uri, &bob.uri, BOOTSTRAP), Err(Refused::NoConsent));
    provider.consent_to_connection(&a1.uri, &bob.uri, BOOTSTRAP);
    let refused = provider.request(&a1.uri, &bob.uri, CONVERSATION);
    assert_eq!(refused, Err(Refused::NoConsentForThisRoom));

    // The bootstrap room: a connection-only package, admitted, and added.
    let package = provider.request(&a1.uri, &bob.uri, BOOTSTRAP).expect("key material");
    let report = hub.validate(&package).await;
    assert_eq!(report["connection_only_extension"], true, "{report}");
    let mut bootstrap = a1.create_group();
    hub.open_room(BOOTSTRAP, "open", true, &a1.uri);
    assert_eq!(hub.admit(BOOTSTRAP, &package).await, Ok(bob.uri.clone()));
    let (_, welcome) = a1.add(&mut bootstrap, &package);
    let bob_bootstrap = bob.join(&welcome);
    let expected = [a1.uri.clone(), bob.uri.clone()].into_iter().collect();
    assert_eq!(member_uris(&bob_bootstrap), expected);

    // The same kind of package offered to a conversation is refused by the
    // hub, whatever Alice's side does with it.
    hub.open_room(CONVERSATION, "open", false, &a1.uri);
    let second = provider.request(&a1.uri, &bob.uri, BOOTSTRAP).expect("key material");
    let refusal = hub.admit(CONVERSATION, &second).await;
    assert_eq!(refusal, Err(vec!["connection_room_required".into()]));
    assert!(!hub.rooms[CONVERSATION].members.contains(&bob.uri));
    // Each package goes out once.
    let exhausted = provider.request(&a1.uri, &bob.uri, BOOTSTRAP);
    assert_eq!(exhausted, Err(Refused::KeyMaterialExhausted));

    // Full consent: an ordinary package, admitted to the conversation.
    provider.consent(&a1.uri, &bob.uri);
    let ordinary = provider.request(&a1.uri, &bob.uri, CONVERSATION).expect("key material");
    let report = hub.validate(&ordinary).await;
    assert_eq!(report["connection_only"], false, "{report}");
    assert_eq!(hub.admit(CONVERSATION, &ordinary).await, Ok(bob.uri.clone()));
}

/// A KeyPackage for `credential` with `capabilities` and the one KeyPackage
/// extension `extension`.
fn built(
    client: &MlsClient,
    credential: &[u8],
    capabilities: Capabilities,
    extension: Extension,
) -> Vec<u8> {
    let credential = Credential::tls_deserialize_exact(credential).expect("credential");
    let lifetime = lifetime_within(&credential);
    let extensions = Extensions::single(extension).expect("a KeyPackage extension");
    client.key_package_built(credential, lifetime, capabilities, extensions)
}

#[test]
fn the_testkit_capabilities_list_the_extension() {
    let listed = capabilities();
    assert!(listed.extensions().contains(&ExtensionType::Unknown(CONNECTION_ONLY_EXTENSION_TYPE)));
}
