//! The knock flow (draft-mahy-mimi-pseudonyms §3.3): Cathy knocks on a
//! closed room by leaving a second pseudonym's KeyPackage and a disclosure
//! in its knock room, then leaves; the admin lets her in later.
//!
//! Run: `cargo run --example knock`

use serde_json::json;
use veil::formats::room_message::{
    IdentityMessage, MEDIA_TYPE, PresentationFormat, RoomDisclosure,
};
use veil::testkit::{Hub, Res, Veil, members, mint, step};

const TARGET: &str = "mimi://hub.example/r/staff";

#[tokio::main]
async fn main() -> Res<()> {
    let veil = Veil::start().await?;
    let backend = veil.token("provider backend", &["backend"]).await?;
    let hub = Hub::new(&veil).await?;
    let admin = &mint(&veil, &backend, "dana", 1, false).await?[0];
    let cathy = mint(&veil, &backend, "cathy", 2, false).await?;
    let (c1, c2) = (&cathy[0], &cathy[1]);

    step("The admin runs a knock room and the closed staff room");
    let mut knock = admin.create_room()?;
    let mut target = admin.create_room()?;

    step(&format!("Cathy enters the knock room under C1 = {}", c1.uri));
    let (mut cathy_knock, commit) = c1.join_by_link(&admin.group_info(&knock)?)?;
    let leaf = admin.receive_commit(&mut knock, &commit)?.ok_or("the commit brings no leaf")?;
    println!("    the hub shows veil C1's leaf: {}", hub.check_leaf_node(&leaf).await?);

    step(&format!("She knocks: a KeyPackage of C2 = {} and a disclosure bound to C2", c2.uri));
    let nonce = hub.nonce();
    let claims = json!({"name": "Cathy Ng", "email": "cathy@example.com",
                        "user_uri": "mimi://example.com/u/cathy"});
    let reveal = ["name", "email", "user_uri"];
    let shown = c2.sd_jwt(&veil, &backend, "cathy", (claims, &reveal), (TARGET, &nonce)).await?;
    let note = IdentityMessage {
        disclosure: Some(RoomDisclosure {
            format: PresentationFormat::SdJwt,
            presentation: shown.into_bytes(),
            nonce: nonce.into_bytes(),
        }),
        key_packages: vec![c2.key_package()?],
        ..Default::default()
    };
    println!("    sent as {MEDIA_TYPE} (docs/ROOM_MESSAGES.md)");
    let (text, _) = admin.receive(&mut knock, &c1.send(&mut cathy_knock, &note.encode()?)?)?;
    let note = IdentityMessage::decode(&text.ok_or("no knock")?)?;

    step("Cathy removes herself from the knock room");
    admin.receive(&mut knock, &c1.leave(&mut cathy_knock)?)?;
    admin.commit_pending(&mut knock)?;
    println!("    knock room members: {:?}", members(&knock));

    step("The moderators check the knock with veil (policy verified-staff)");
    let disclosure = note.disclosure.ok_or("the knock holds no disclosure")?;
    let shown = String::from_utf8(disclosure.presentation)?;
    let nonce = String::from_utf8(disclosure.nonce)?;
    let verdict = hub.verify(TARGET, "verified-staff", &shown, &nonce, &c2.leaf_key()).await?;
    println!("    valid: {}, disclosed: {}", verdict["valid"], verdict["disclosed"]);

    step("Later the admin adds Cathy to the staff room with C2's KeyPackage");
    let package = note.key_packages.into_iter().next().ok_or("the knock holds no KeyPackage")?;
    assert!(hub.may_add(&package, false).await?);
    c2.join(&admin.add(&mut target, &package)?)?;
    println!("    staff room members: {:?}", members(&target));

    step("A connection-only KeyPackage may open a knock room, never the staff room");
    let first_contact = &mint(&veil, &backend, "cathy", 1, true).await?[0];
    let allowed = hub.may_add(&first_contact.key_package()?, false).await?;
    println!("    allowed into the staff room: {allowed}");
    Ok(())
}
