//! The connection flow (draft-mahy-mimi-pseudonyms §3.1) with real openmls
//! clients: Alice meets Bob in a bootstrap room under pseudonym A1, proves
//! who she is there (each disclosure format in turn), and hands Bob a second
//! pseudonym A2 and its KeyPackage inside the encrypted room, as in-room
//! identity messages (`application/vnd.veil.identity+cbor`); Bob verifies
//! each disclosure in his own client, opens the real conversation under B1
//! and adds A2. The hub, which sees every room, never sees a disclosure and
//! must be unable to tell that A1 and A2 are the same person.

use base64ct::{Base64, Encoding};
use serde_json::json;

use veil::formats::room_message::{IdentityMessage, PresentationFormat, RoomDisclosure};
use veil::services::disclose::CredentialFormat;
use veil::testkit::Member;
use veil::testkit::instance::repo_policies;

use std::collections::BTreeMap;

use crate::support::TestApp;
use crate::support::hub::{Ask, Hub, disclose, member_uris, mint};
use crate::support::key_material::KeyMaterial;
use crate::support::mls::validate_key_package;

on_both_backends!(
    alice_and_bob_connect_without_linking_her_pseudonyms,
    alice_checks_bobs_real_identity_before_she_connects
);

const ALICE: &str = "alice@provider.example";
const BOB: &str = "bob@provider.example";
const BOOTSTRAP: &str = "mimi://hub.example/r/bootstrap-7f3a";
const CONVERSATION: &str = "mimi://hub.example/r/conversation-19c2";

async fn alice_and_bob_connect_without_linking_her_pseudonyms(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let mut hub = Hub::new(&app).await;
    // Bob's client fetches the issuer's public documents once.
    let bob_client = Member::fetch(&app.http, &app.url, &repo_policies().join("rooms"))
        .await
        .expect("issuer documents");
    let alice = mint(&app, &backend, ALICE, 3, false).await;
    let bob = mint(&app, &backend, BOB, 2, false).await;
    let (a1, a2, b0, b1) = (&alice[0], &alice[1], &bob[0], &bob[1]);

    // Alice opens the bootstrap room under A1 and adds Bob's first pseudonym.
    let mut room1 = a1.create_group();
    hub.open_room(BOOTSTRAP, "open", true, &a1.uri);
    let bob_package = b0.key_package();
    assert_eq!(hub.admit(BOOTSTRAP, &bob_package).await, Ok(b0.uri.clone()));
    let (_, welcome) = a1.add(&mut room1, &bob_package);
    let mut bob_room1 = b0.join(&welcome);

    // In the room, Alice proves her identity in each format, and sends A2
    // and a KeyPackage for it; the hub relays ciphertext only.
    let a2_package = a2.key_package();
    let claims = json!({"name": "Alice Martin", "email": "alice@example.com"});
    let formats = [
        ("sd-jwt", CredentialFormat::SdJwt),
        ("sd-cwt", CredentialFormat::SdCwt),
        ("x509", CredentialFormat::X509),
    ];
    for (format, typed) in formats {
        // Bob asks with a fresh nonce of his own, inside the room, as an
        // identity message (docs/ROOM_MESSAGES.md).
        let nonce = bob_client.nonce();
        let ask = IdentityMessage { nonce: Some(nonce.clone().into_bytes()), ..Default::default() };
        let asking = b0.send(&mut bob_room1, &ask.encode().unwrap());
        hub.relay(BOOTSTRAP, &asking);
        let asked = a1.receive(&mut room1, &asking).application.expect("the ask");
        let asked = IdentityMessage::decode(&asked).expect("an identity message");
        let nonce_asked = String::from_utf8(asked.nonce.expect("a nonce")).unwrap();

        let claims = match format {
            "x509" => json!({"name": "Alice Martin", "user_uri": "mimi://example.com/u/alice"}),
            _ => claims.clone(),
        };
        let reveal = ["name"];
        let ask = Ask { format, claims, reveal: &reveal, room: BOOTSTRAP, nonce: &nonce_asked };
        let presentation = disclose(&app, &backend, ALICE, a1, &ask).await;
        // SD-CWT travels as its COSE bytes, the text forms as UTF-8.
        let (wire_format, presentation) = match typed {
            CredentialFormat::SdCwt => {
                (PresentationFormat::SdCwt, Base64::decode_vec(&presentation).unwrap())
            }
            CredentialFormat::SdJwt => (PresentationFormat::SdJwt, presentation.into_bytes()),
            CredentialFormat::X509 => (PresentationFormat::X509, presentation.into_bytes()),
        };
        let answer = IdentityMessage {
            disclosure: Some(RoomDisclosure {
                format: wire_format,
                presentation,
                nonce: nonce_asked.into_bytes(),
            }),
            key_packages: vec![a2_package.clone()],
            next_pseudonym: Some(a2.uri.clone()),
            nonce: None,
        };
        let message = a1.send(&mut room1, &answer.encode().unwrap());
        hub.relay(BOOTSTRAP, &message);

        // Bob reads it and checks the disclosure himself against A1's leaf,
        // the room, and the nonce he sent (not the one the message claims).
        let received = b0.receive(&mut bob_room1, &message);
        let answer = IdentityMessage::decode(&received.application.expect("application message"))
            .expect("an identity message");
        assert_eq!(received.sender_key, a1.client.public_key(), "the leaf Bob saw is A1's");
        let disclosure = answer.disclosure.expect("a disclosure");
        assert_eq!(disclosure.format, wire_format);
        assert_eq!(disclosure.nonce, nonce.as_bytes());
        let presentation = match disclosure.format {
            PresentationFormat::SdCwt => Base64::encode_string(&disclosure.presentation),
            _ => String::from_utf8(disclosure.presentation).unwrap(),
        };
        let verdict = bob_client
            .verify(BOOTSTRAP, "open", typed, &presentation, &nonce, &received.sender_key)
            .expect("readable");
        assert!(verdict.valid, "{format}: {:?}", verdict.errors);
        assert_eq!(verdict.disclosed["name"], "Alice Martin", "{format}");
        if format != "x509" {
            assert_eq!(verdict.subject_pseudonym.as_deref(), Some(a1.uri.as_str()));
        }
        assert_eq!(answer.next_pseudonym.as_deref(), Some(a2.uri.as_str()));
        assert_eq!(answer.key_packages, vec![a2_package.clone()]);
    }

    // Bob opens the conversation under B1 and adds A2 by its KeyPackage.
    let mut room2 = b1.create_group();
    hub.open_room(CONVERSATION, "open", false, &b1.uri);
    assert_eq!(hub.admit(CONVERSATION, &a2_package).await, Ok(a2.uri.clone()));
    let (_, welcome) = b1.add(&mut room2, &a2_package);
    let mut alice_room2 = a2.join(&welcome);
    let hello = b1.send(&mut room2, b"hello Alice");
    hub.relay(CONVERSATION, &hello);
    let received = a2.receive(&mut alice_room2, &hello);
    assert_eq!(received.application.as_deref(), Some(&b"hello Alice"[..]));

    // The conversation holds only pseudonyms, in the hub's records and in
    // the MLS tree itself.
    let expected = [a2.uri.clone(), b1.uri.clone()].into_iter().collect();
    assert_eq!(hub.rooms[CONVERSATION].members, expected);
    assert_eq!(member_uris(&room2), expected);
    assert_eq!(member_uris(&alice_room2), expected);

    // Nothing the hub holds links A1, A2 or Alice's account: no room names
    // both pseudonyms, the account appears nowhere, and the relayed
    // bootstrap messages (which carried A2) are opaque to it.
    let state = format!("{:?}", hub.rooms);
    assert!(!state.contains(ALICE), "the hub never learns the account");
    for (uri, room) in &hub.rooms {
        let named = format!("{room:?}");
        assert!(!(named.contains(&a1.uri) && named.contains(&a2.uri)), "{uri} links A1 and A2");
        for message in &room.relayed {
            let secrets = [a2.uri.as_bytes(), ALICE.as_bytes(), b"Alice Martin", &a2_package[..40]];
            for secret in secrets {
                assert!(!contains(message, secret), "{uri} relayed a readable secret");
            }
        }
    }
    // No disclosure reached veil's hub-facing verifier: the members checked
    // them all, so veil holds no record of any presentation.
    let asked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM kb_replay")
        .fetch_one(&app.raw_pool().await)
        .await
        .expect("count");
    assert_eq!(asked, 0, "a disclosure went through veil's hub route");
    // veil itself tells the hub nothing that links them either.
    for persona in [a1, a2] {
        let report = hub.validate(&persona.key_package()).await;
        let text = report.to_string();
        assert_eq!(report["pseudonym"], persona.uri.as_str());
        let other = if persona.uri == a1.uri { &a2.uri } else { &a1.uri };
        assert!(!text.contains(other.as_str()) && !text.contains(ALICE), "{text}");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Bob's real identity: his user URI, as his provider's directory answers a
/// handle lookup (a stand-in for `/idQuery`).
const BOB_URI: &str = "mimi://example.com/u/bob";

/// The draft's own order (§3.1): Alice looks Bob up by handle and fetches,
/// with his consent for connection rooms, a KeyPackage of his **real
/// identity** (a linked X.509 certificate naming him, from the target
/// provider's `/keyMaterial`), so she can check who he is before he learns
/// anything; she adds him to the bootstrap room under A1, hands him her
/// identity and A2 there, Bob opens the conversation under B1, and Alice
/// tears the bootstrap room down after a random delay.
async fn alice_checks_bobs_real_identity_before_she_connects(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let mut hub = Hub::new(&app).await;
    let rooms = repo_policies().join("rooms");
    let alice_client = Member::fetch(&app.http, &app.url, &rooms).await.expect("documents");
    let bob_client = Member::fetch(&app.http, &app.url, &rooms).await.expect("documents");
    let alice = mint(&app, &backend, ALICE, 2, false).await;
    let bob = mint(&app, &backend, BOB, 2, false).await;
    let (a1, a2, bob_real, b1) = (&alice[0], &alice[1], &bob[0], &bob[1]);

    // Bob's real-identity client: a linked certificate naming him for its
    // key; it publishes connection-only KeyPackages under it, and Bob
    // consents to be reached in connection rooms.
    let claims = json!({"name": "Bob Lee", "user_uri": BOB_URI});
    let request = json!({"account": BOB, "format": "x509", "claims": claims, "validity_days": 7});
    let holder = bob_real.client.es256_signer();
    let (status, issued) = app.disclose(&backend, &holder, &bob_real.id, &request).await;
    assert_eq!(status, 201, "{issued}");
    let real_credential = crate::support::hub::b64(&issued["mls_credential"]);
    let mut provider_b = KeyMaterial::default();
    provider_b.publish(BOB_URI, bob_real.client.connection_only_key_package(&real_credential));
    provider_b.consent_to_connection(&a1.uri, BOB_URI, BOOTSTRAP);

    // Alice finds Bob by his handle, and fetches his KeyPackage for her
    // bootstrap room.
    let directory: BTreeMap<&str, &str> = [("@bob", BOB_URI)].into();
    let target = directory["@bob"];
    let package = provider_b.request(&a1.uri, target, BOOTSTRAP).expect("Bob consented");
    assert!(provider_b.request(&a1.uri, target, CONVERSATION).is_err(), "for that room only");

    // Before adding him she checks, in her own client, who the package
    // belongs to: a certificate chaining to the issuer, for the package's
    // own leaf key, naming the user she looked up.
    let validated = validate_key_package(&package);
    let leaf = validated.leaf_node();
    let chain = x509_chain_pem(leaf.credential().serialized_content());
    let key = leaf.signature_key().as_slice().to_vec();
    let verdict = alice_client
        .verify(BOOTSTRAP, "open", CredentialFormat::X509, &chain, "", &key)
        .expect("readable");
    assert!(verdict.valid, "{:?}", verdict.errors);
    assert_eq!(verdict.disclosed["user_uri"], BOB_URI);
    assert_eq!(verdict.disclosed["name"], "Bob Lee");
    // The same certificate on another key is not Bob.
    let stranger = crate::support::mls::MlsClient::new();
    let forged = alice_client
        .verify(BOOTSTRAP, "open", CredentialFormat::X509, &chain, "", &stranger.public_key())
        .expect("readable");
    assert!(!forged.valid, "a copied certificate must not pass as Bob");

    // Alice adds him to the bootstrap room under A1 and hands him, inside
    // it, her identity, A2 and a KeyPackage for A2.
    let mut room1 = a1.create_group();
    hub.open_room(BOOTSTRAP, "open", true, &a1.uri);
    let (commit, welcome) = a1.add(&mut room1, &package);
    hub.relay(BOOTSTRAP, &commit);
    let mut bob_room1 = bob_real.join(&welcome);
    let nonce = bob_client.nonce();
    let reveal = ["name"];
    let ask = Ask {
        format: "sd-jwt",
        claims: json!({"name": "Alice Martin"}),
        reveal: &reveal,
        room: BOOTSTRAP,
        nonce: &nonce,
    };
    let presentation = disclose(&app, &backend, ALICE, a1, &ask).await;
    let a2_package = a2.key_package();
    let answer = IdentityMessage {
        disclosure: Some(RoomDisclosure {
            format: PresentationFormat::SdJwt,
            presentation: presentation.into_bytes(),
            nonce: nonce.clone().into_bytes(),
        }),
        key_packages: vec![a2_package.clone()],
        next_pseudonym: Some(a2.uri.clone()),
        nonce: None,
    };
    let message = a1.send(&mut room1, &answer.encode().unwrap());
    hub.relay(BOOTSTRAP, &message);
    let received = bob_real.receive(&mut bob_room1, &message);
    let answer = IdentityMessage::decode(&received.application.expect("message")).unwrap();
    let shown = String::from_utf8(answer.disclosure.expect("disclosure").presentation).unwrap();
    let verdict = bob_client
        .verify(BOOTSTRAP, "open", CredentialFormat::SdJwt, &shown, &nonce, &received.sender_key)
        .expect("readable");
    assert!(verdict.valid, "{:?}", verdict.errors);
    assert_eq!(verdict.disclosed["name"], "Alice Martin");

    // Bob accepts: the conversation under B1, with A2.
    let mut room2 = b1.create_group();
    hub.open_room(CONVERSATION, "open", false, &b1.uri);
    let package = answer.key_packages.into_iter().next().expect("A2's KeyPackage");
    assert_eq!(hub.admit(CONVERSATION, &package).await, Ok(a2.uri.clone()));
    let (_, welcome) = b1.add(&mut room2, &package);
    a2.join(&welcome);
    let expected = [a2.uri.clone(), b1.uri.clone()].into_iter().collect();
    assert_eq!(member_uris(&room2), expected, "the conversation holds only pseudonyms");

    // After a random delay Alice tears the bootstrap room down: nothing in
    // the hub's view then ties the conversation to the bootstrap.
    let delay = rand::random_range(1..40);
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    hub.rooms.remove(BOOTSTRAP);
    assert!(hub.rooms.keys().all(|room| room != BOOTSTRAP));
    let state = format!("{:?}", hub.rooms);
    assert!(!state.contains(&a1.uri) && !state.contains(BOB_URI), "{state}");
}

/// The PEM chain of an x509 `Credential`'s content: each `opaque
/// cert_data<V>` (RFC 9420 §5.3), as the member verifier takes it.
fn x509_chain_pem(content: &[u8]) -> String {
    use openmls::prelude::tls_codec::{Deserialize as _, VLBytes};
    let mut rest = content;
    let mut pem = String::new();
    while !rest.is_empty() {
        let der = VLBytes::tls_deserialize(&mut rest).expect("a certificate");
        pem.push_str(&veil::formats::x509::der_to_pem(der.as_slice()));
    }
    pem
}
