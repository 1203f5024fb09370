//! The knock flow (draft-mahy-mimi-pseudonyms §3.3): Cathy joins a room's
//! knock room under one pseudonym, leaves a KeyPackage of a second
//! pseudonym and a disclosure for the moderators, and removes herself; the
//! admin later adds her to the target room with that KeyPackage. A
//! connection-only KeyPackage gets into the knock room but never into the
//! target room.

use serde_json::json;
use veil::formats::room_message::{IdentityMessage, PresentationFormat, RoomDisclosure};

use crate::support::TestApp;
use crate::support::hub::{Ask, Hub, disclose, member_uris, mint};

on_both_backends!(cathy_knocks_and_is_let_in_with_her_second_pseudonym);

const CATHY: &str = "cathy@provider.example";
const ADMIN: &str = "dana@provider.example";
const KNOCK_ROOM: &str = "mimi://hub.example/r/staff-knock";
const TARGET_ROOM: &str = "mimi://hub.example/r/staff";

async fn cathy_knocks_and_is_let_in_with_her_second_pseudonym(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let mut hub = Hub::new(&app).await;
    let admin = &mint(&app, &backend, ADMIN, 1, false).await[0];
    let cathy = mint(&app, &backend, CATHY, 2, false).await;
    let (c1, c2) = (&cathy[0], &cathy[1]);
    let first_contact = &mint(&app, &backend, CATHY, 1, true).await[0];

    let mut knock = admin.create_group();
    hub.open_room(KNOCK_ROOM, "open", true, &admin.uri);
    let mut target = admin.create_group();
    hub.open_room(TARGET_ROOM, "verified-staff", false, &admin.uri);

    // Cathy enters the knock room under C1 (anyone may: it is the door).
    let (mut cathy_knock, commit) = c1.join_external(&admin.group_info(&knock));
    hub.relay(KNOCK_ROOM, &commit);
    let received = admin.receive(&mut knock, &commit);
    assert_eq!(
        hub.admit_external(KNOCK_ROOM, received.committed_leaf.as_ref().expect("leaf")).await,
        Ok(c1.uri.clone())
    );

    // Her knock: C2's KeyPackage and a disclosure bound to C2's key, for the
    // target room and a nonce the hub gave for it.
    let c2_package = c2.key_package();
    let nonce = hub.nonce();
    let claims = json!({"name": "Cathy Ng", "email": "cathy@example.com",
                        "user_uri": "mimi://example.com/u/cathy"});
    let reveal = ["name", "email", "user_uri"];
    let ask = Ask { format: "sd-jwt", claims, reveal: &reveal, room: TARGET_ROOM, nonce: &nonce };
    let presentation = disclose(&app, &backend, CATHY, c2, &ask).await;
    // An identity message (docs/ROOM_MESSAGES.md), end-to-end encrypted.
    let knock_message = IdentityMessage {
        disclosure: Some(RoomDisclosure {
            format: PresentationFormat::SdJwt,
            presentation: presentation.into_bytes(),
            nonce: nonce.into_bytes(),
        }),
        key_packages: vec![c2_package],
        ..Default::default()
    };
    let message = c1.send(&mut cathy_knock, &knock_message.encode().unwrap());
    hub.relay(KNOCK_ROOM, &message);
    let received = admin.receive(&mut knock, &message);
    let knock_message = IdentityMessage::decode(&received.application.unwrap()).unwrap();

    // She leaves; the admin commits her removal.
    let leave = c1.leave(&mut cathy_knock);
    hub.relay(KNOCK_ROOM, &leave);
    admin.receive(&mut knock, &leave);
    let commit = admin.commit_pending(&mut knock);
    hub.relay(KNOCK_ROOM, &commit);
    hub.leave(KNOCK_ROOM, &c1.uri);
    assert_eq!(member_uris(&knock), [admin.uri.clone()].into_iter().collect());

    // The moderators check the knock: the KeyPackage through veil, the
    // disclosure against the leaf key inside it.
    let package = knock_message.key_packages[0].clone();
    let leaf = crate::support::mls::validate_key_package(&package)
        .leaf_node()
        .signature_key()
        .as_slice()
        .to_vec();
    let disclosure = knock_message.disclosure.expect("a disclosure");
    let presentation = String::from_utf8(disclosure.presentation).unwrap();
    let nonce = String::from_utf8(disclosure.nonce).unwrap();
    let verdict = hub.verify(TARGET_ROOM, "sd-jwt", &presentation, &nonce, &leaf).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["subject_pseudonym"], c2.uri.as_str());

    // Later, the admin lets her in with that KeyPackage.
    assert_eq!(hub.admit(TARGET_ROOM, &package).await, Ok(c2.uri.clone()));
    let (_, welcome) = admin.add(&mut target, &package);
    let mut cathy_target = c2.join(&welcome);
    let hello = admin.send(&mut target, b"welcome, Cathy");
    hub.relay(TARGET_ROOM, &hello);
    assert_eq!(
        c2.receive(&mut cathy_target, &hello).application.as_deref(),
        Some(&b"welcome, Cathy"[..])
    );
    let expected = [admin.uri.clone(), c2.uri.clone()].into_iter().collect();
    assert_eq!(member_uris(&target), expected);
    assert_eq!(hub.rooms[TARGET_ROOM].members, expected);
    assert!(!hub.rooms[TARGET_ROOM].members.contains(&c1.uri), "C1 never enters the target room");

    // A connection-only KeyPackage opens the knock room's door, no other.
    let connection_package = first_contact.key_package();
    let report = hub.validate(&connection_package).await;
    assert_eq!(
        (report["valid"].clone(), report["connection_only"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        hub.admit(TARGET_ROOM, &connection_package).await,
        Err(vec!["connection_room_required".into()])
    );
    assert_eq!(hub.admit(KNOCK_ROOM, &connection_package).await, Ok(first_contact.uri.clone()));
}
