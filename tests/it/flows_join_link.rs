//! The join link flow (draft-mahy-mimi-pseudonyms §3.2): Alice shares a
//! link to a room she created under a pseudonym; Bob joins by external
//! commit from its GroupInfo, then discloses his real identity to the room
//! with SD-JWT. A room whose policy forbids a claim refuses a disclosure
//! that reveals it.

use serde_json::json;

use crate::support::TestApp;
use crate::support::hub::{Ask, Hub, Persona, disclose, member_uris, mint};

on_both_backends!(bob_joins_by_link_and_discloses_within_the_room_policy);

const ALICE: &str = "alice@provider.example";
const BOB: &str = "bob@provider.example";
const OPEN_ROOM: &str = "mimi://hub.example/r/book-club";
const ADULTS_ROOM: &str = "mimi://hub.example/r/after-hours";

/// Bob joins `room` (created by `owner`) by external commit from its
/// GroupInfo; the hub admits him by his certificate's pseudonym status.
async fn join_by_link(
    hub: &mut Hub<'_>,
    room: &str,
    owner: &Persona,
    owner_group: &mut openmls::prelude::MlsGroup,
    joiner: &Persona,
) -> openmls::prelude::MlsGroup {
    let link = owner.group_info(owner_group);
    let (group, commit) = joiner.join_external(&link);
    hub.relay(room, &commit);
    let received = owner.receive(owner_group, &commit);
    let leaf = received.committed_leaf.expect("an external commit brings the joiner's leaf");
    assert_eq!(hub.admit_external(room, &leaf).await, Ok(joiner.uri.clone()));
    assert_eq!(member_uris(owner_group), member_uris(&group));
    group
}

async fn bob_joins_by_link_and_discloses_within_the_room_policy(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let mut hub = Hub::new(&app).await;
    let alice = mint(&app, &backend, ALICE, 2, false).await;
    let bob = mint(&app, &backend, BOB, 2, false).await;
    let claims = json!({"name": "Bob Lee", "age_over_18": true, "family_name": "Lee"});

    // An open room: Bob joins by link and shows his name.
    let mut alice_group = alice[0].create_group();
    hub.open_room(OPEN_ROOM, "open", false, &alice[0].uri);
    let mut bob_group =
        join_by_link(&mut hub, OPEN_ROOM, &alice[0], &mut alice_group, &bob[0]).await;
    let nonce = hub.nonce();
    let ask = Ask {
        format: "sd-jwt",
        claims: claims.clone(),
        reveal: &["name"],
        room: OPEN_ROOM,
        nonce: &nonce,
    };
    let presentation = disclose(&app, &backend, BOB, &bob[0], &ask).await;
    let message = bob[0].send(&mut bob_group, presentation.as_bytes());
    hub.relay(OPEN_ROOM, &message);
    let received = alice[0].receive(&mut alice_group, &message);
    let shown = String::from_utf8(received.application.expect("application")).unwrap();
    let verdict = hub.verify(OPEN_ROOM, "sd-jwt", &shown, &nonce, &received.sender_key).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["disclosed"], json!({"name": "Bob Lee"}));
    assert_eq!(verdict["subject_pseudonym"], bob[0].uri.as_str());

    // An adults-only room forbids the family name: revealing it is refused,
    // proving only the age is accepted.
    let mut owner_group = alice[1].create_group();
    hub.open_room(ADULTS_ROOM, "adults-only", false, &alice[1].uri);
    join_by_link(&mut hub, ADULTS_ROOM, &alice[1], &mut owner_group, &bob[1]).await;
    let leaf = bob[1].client.public_key();
    for (reveal, valid) in
        [(&["age_over_18", "family_name"][..], false), (&["age_over_18"][..], true)]
    {
        let nonce = hub.nonce();
        let ask = Ask {
            format: "sd-jwt",
            claims: claims.clone(),
            reveal,
            room: ADULTS_ROOM,
            nonce: &nonce,
        };
        let presentation = disclose(&app, &backend, BOB, &bob[1], &ask).await;
        let verdict = hub.verify(ADULTS_ROOM, "sd-jwt", &presentation, &nonce, &leaf).await;
        assert_eq!(verdict["valid"], valid, "{reveal:?}: {verdict}");
        if !valid {
            let codes: Vec<&str> = verdict["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["code"].as_str().unwrap())
                .collect();
            assert_eq!(codes, ["forbidden_claim_disclosed"], "{verdict}");
        }
    }
}
