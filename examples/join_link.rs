//! The join link flow (draft-mahy-mimi-pseudonyms §3.2): Bob joins Alice's
//! room from a link (an external commit on its GroupInfo) and shows his
//! name; a room whose policy forbids a claim refuses a disclosure of it.
//!
//! Run: `cargo run --example join_link`

use serde_json::json;
use veil::testkit::{Hub, Res, Veil, mint, step};

const ROOM: &str = "mimi://hub.example/r/after-hours";

#[tokio::main]
async fn main() -> Res<()> {
    let veil = Veil::start().await?;
    let backend = veil.token("provider backend", &["backend"]).await?;
    let hub = Hub::new(&veil).await?;
    let alice = &mint(&veil, &backend, "alice", 1, false).await?[0];
    let bob = &mint(&veil, &backend, "bob", 1, false).await?[0];

    step(&format!("Alice creates {ROOM} (policy: adults-only) under {}", alice.uri));
    let mut room = alice.create_room()?;
    let link = alice.group_info(&room)?;
    println!("    the join link carries a GroupInfo of {} bytes", link.len());

    step(&format!("Bob joins by external commit under {}", bob.uri));
    let (mut bob_room, commit) = bob.join_by_link(&link)?;
    let leaf = alice.receive_commit(&mut room, &commit)?.ok_or("the commit brings no leaf")?;
    println!("    the hub shows veil the joiner's leaf: {}", hub.check_leaf_node(&leaf).await?);

    let claims = json!({"name": "Bob Lee", "age_over_18": true, "family_name": "Lee"});
    for reveal in [&["age_over_18", "family_name"][..], &["age_over_18"][..]] {
        step(&format!("Bob discloses {reveal:?} to the room with an SD-JWT"));
        let nonce = hub.nonce();
        let shown =
            bob.sd_jwt(&veil, &backend, "bob", (claims.clone(), reveal), (ROOM, &nonce)).await?;
        alice.receive(&mut room, &bob.send(&mut bob_room, shown.as_bytes())?)?;
        let verdict = hub.verify(ROOM, "adults-only", &shown, &nonce, &bob.leaf_key()).await?;
        println!("    valid: {}, errors: {}", verdict["valid"], verdict["errors"]);
    }
    println!("\nThe adults-only policy forbids `family_name`: only the second disclosure passes.");
    Ok(())
}
