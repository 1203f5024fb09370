//! Abuse across rooms: two hubs report two of Mallory's pseudonyms from
//! different rooms; a `suspend_and_revoke` remedy named by one pseudonym
//! reaches every pseudonym of her account, so none of her KeyPackages
//! validate and none of her disclosures verify any more, although no hub
//! ever learned that the pseudonyms belong together.

use serde_json::json;

use crate::support::TestApp;
use crate::support::hub::{Ask, Hub, disclose, mint};

on_both_backends!(one_remedy_reaches_every_pseudonym_of_the_abuser);

const MALLORY: &str = "mallory@provider.example";
const ROOM_A: &str = "mimi://hub-a.example/r/market";
const ROOM_B: &str = "mimi://hub-b.example/r/games";

async fn one_remedy_reaches_every_pseudonym_of_the_abuser(app: TestApp) {
    let backend = app.token(&["backend"]).await;
    let mut hub_a = Hub::new(&app).await;
    let mut hub_b = Hub::new(&app).await;
    let owners = mint(&app, &backend, "owner@provider.example", 2, false).await;
    let mallory = mint(&app, &backend, MALLORY, 3, false).await;
    hub_a.open_room(ROOM_A, "open", false, &owners[0].uri);
    hub_b.open_room(ROOM_B, "open", false, &owners[1].uri);

    // Mallory gets into both rooms under different pseudonyms.
    let packages: Vec<Vec<u8>> = mallory.iter().map(|m| m.key_package()).collect();
    assert_eq!(hub_a.admit(ROOM_A, &packages[0]).await, Ok(mallory[0].uri.clone()));
    assert_eq!(hub_b.admit(ROOM_B, &packages[1]).await, Ok(mallory[1].uri.clone()));
    let claims = json!({"name": "Mal"});
    let nonce = hub_b.nonce();
    let ask = Ask { format: "sd-jwt", claims, reveal: &["name"], room: ROOM_B, nonce: &nonce };
    let presentation = disclose(&app, &backend, MALLORY, &mallory[1], &ask).await;

    // Each hub reports what it saw in its own room.
    assert_eq!(hub_a.report(ROOM_A, &mallory[0].uri, "spam in market").await, 202);
    assert_eq!(hub_b.report(ROOM_B, &mallory[1].uri, "spam in games").await, 202);

    // The operator acts on one pseudonym; the remedy reaches the account.
    let remedy = json!({"pseudonym": mallory[0].uri, "action": "suspend_and_revoke",
                        "case_id": "case-42", "reason": "spam across rooms"});
    let (status, body) = app.post("/v1/admin/remedies", &app.admin_token, &remedy).await;
    assert_eq!(status, 201, "{body}");

    for (persona, package) in mallory.iter().zip(&packages) {
        let report = hub_a.validate(package).await;
        assert_eq!(report["valid"], false, "{report}");
        assert_eq!(report["pseudonym"], persona.uri.as_str());
        assert_eq!(report["status"], "revoked", "{report}");
        assert!(hub_b.admit(ROOM_B, package).await.is_err());
    }
    let leaf = mallory[1].client.public_key();
    let verdict = hub_b.verify(ROOM_B, "sd-jwt", &presentation, &nonce, &leaf).await;
    assert_eq!(verdict["valid"], false, "{verdict}");
    let codes: Vec<&str> =
        verdict["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["pseudonym_revoked"], "{verdict}");

    // Neither hub's state names the account.
    for hub in [&hub_a, &hub_b] {
        assert!(!format!("{:?}", hub.rooms).contains(MALLORY));
    }
}
