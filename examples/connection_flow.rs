//! The connection flow (draft-mahy-mimi-pseudonyms §3.1), step by step:
//! Alice meets Bob in a bootstrap room under one pseudonym, proves who she
//! is (Bob checks it in his own client; the hub never sees it), and hands
//! him a second pseudonym for the real conversation.
//!
//! Run: `cargo run --example connection_flow`

use serde_json::{Value, json};
use veil::formats::room_message::{
    IdentityMessage, MEDIA_TYPE, PresentationFormat, RoomDisclosure,
};
use veil::services::disclose::CredentialFormat;
use veil::testkit::{Hub, Res, Veil, members, mint, step};

const BOOTSTRAP: &str = "mimi://hub.example/r/bootstrap";
const CONVERSATION: &str = "mimi://hub.example/r/alice-and-bob";

#[tokio::main]
async fn main() -> Res<()> {
    let veil = Veil::start().await?;
    let backend = veil.token("provider backend", &["backend"]).await?;
    let hub = Hub::new(&veil).await?;
    let bob_client = veil.member().await?;

    step("The provider mints pseudonyms for Alice (A1, A2) and Bob (B0, B1)");
    let alice = mint(&veil, &backend, "alice", 2, false).await?;
    let bob = mint(&veil, &backend, "bob", 2, false).await?;
    let (a1, a2, b0, b1) = (&alice[0], &alice[1], &bob[0], &bob[1]);
    println!("    A1 = {}\n    A2 = {}\n    B0 = {}\n    B1 = {}", a1.uri, a2.uri, b0.uri, b1.uri);

    step("Alice creates the bootstrap room under A1; the hub checks Bob's KeyPackage with veil");
    let mut room1 = a1.create_room()?;
    let bob_package = b0.key_package()?;
    assert!(hub.may_add(&bob_package, true).await?);
    let mut bob_room1 = b0.join(&a1.add(&mut room1, &bob_package)?)?;

    step("Bob's client fetched veil's public keys once; in the room he asks Alice with a nonce");
    let nonce = bob_client.nonce();
    let ask = IdentityMessage { nonce: Some(nonce.clone().into_bytes()), ..Default::default() };
    let asked = b0.send(&mut bob_room1, &ask.encode()?)?;
    let (text, _) = a1.receive(&mut room1, &asked)?;
    let asked = IdentityMessage::decode(&text.ok_or("no application message")?)?;
    let nonce = String::from_utf8(asked.nonce.ok_or("no nonce")?)?;
    println!("    as {MEDIA_TYPE} (docs/ROOM_MESSAGES.md)");

    step("Alice sends, encrypted: her name (an SD-JWT bound to A1), A2 and a KeyPackage for A2");
    let claims = json!({"name": "Alice Martin", "email": "alice@example.com"});
    let presentation =
        a1.sd_jwt(&veil, &backend, "alice", (claims, &["name"]), (BOOTSTRAP, &nonce)).await?;
    let answer = IdentityMessage {
        disclosure: Some(RoomDisclosure {
            format: PresentationFormat::SdJwt,
            presentation: presentation.into_bytes(),
            nonce: nonce.clone().into_bytes(),
        }),
        key_packages: vec![a2.key_package()?],
        next_pseudonym: Some(a2.uri.clone()),
        nonce: None,
    };
    let message = a1.send(&mut room1, &answer.encode()?)?;
    println!("    the hub relays {} opaque bytes", message.len());

    step("Bob reads it and verifies the disclosure in his own client: no call to veil or the hub");
    let (text, _) = b0.receive(&mut bob_room1, &message)?;
    let answer = IdentityMessage::decode(&text.ok_or("no application message")?)?;
    let disclosure = answer.disclosure.ok_or("no disclosure")?;
    // The nonce Bob sent, not whatever the message says it answers.
    assert_eq!(disclosure.nonce, nonce.as_bytes());
    let shown = String::from_utf8(disclosure.presentation)?;
    let verdict = bob_client.verify(
        BOOTSTRAP,
        "open",
        CredentialFormat::SdJwt,
        &shown,
        &nonce,
        &a1.leaf_key(),
    )?;
    println!("    valid: {}, disclosed: {}", verdict.valid, Value::Object(verdict.disclosed));

    step("Bob creates the conversation under B1 and adds A2 with the KeyPackage Alice sent");
    println!("    next pseudonym: {}", answer.next_pseudonym.as_deref().unwrap_or("none"));
    let package = answer.key_packages.into_iter().next().ok_or("no KeyPackage")?;
    let mut room2 = b1.create_room()?;
    assert!(hub.may_add(&package, false).await?);
    let mut alice_room2 = a2.join(&b1.add(&mut room2, &package)?)?;
    let hello = b1.send(&mut room2, b"Hello Alice, nice to see you here")?;
    let (text, _) = a2.receive(&mut alice_room2, &hello)?;
    println!("    Alice (as A2) reads: {}", String::from_utf8_lossy(&text.unwrap_or_default()));

    step("What the hub sees in the conversation: only pseudonyms");
    for uri in members(&room2) {
        println!("    member {uri}");
    }
    println!("    Nothing there links A2 to A1 or to Alice's account.");
    println!("    (The bootstrap room was {BOOTSTRAP}; the conversation is {CONVERSATION}.)");
    Ok(())
}
