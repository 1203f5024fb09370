//! What a hub learns from `POST /v1/mls/key-packages/validate` before it
//! adds anyone: a genuine KeyPackage, a connection-only one, one whose
//! certificate was wrapped around someone else's key, and one whose
//! pseudonym was revoked.
//!
//! Run: `cargo run --example hub_verify`

use serde_json::json;
use veil::testkit::{Hub, Res, Veil, mint, step};

#[tokio::main]
async fn main() -> Res<()> {
    let veil = Veil::start().await?;
    let backend = veil.token("provider backend", &["backend"]).await?;
    let hub = Hub::new(&veil).await?;
    let alice = mint(&veil, &backend, "alice", 2, false).await?;
    let connection = &mint(&veil, &backend, "alice", 1, true).await?[0];

    step("A genuine KeyPackage");
    println!("    {}", hub.check_key_package(&alice[0].key_package()?).await?);

    step("A connection-only KeyPackage: valid, but only for a connection room");
    println!("    {}", hub.check_key_package(&connection.key_package()?).await?);

    step("Alice's certificate inside a KeyPackage signed with another key");
    let forged = mint(&veil, &backend, "mallory", 1, false).await?;
    let stolen = forged[0].key_package_with(&alice[1])?;
    println!("    {}", hub.check_key_package(&stolen).await?);

    step("After the operator revokes the pseudonym");
    let remedy = json!({"pseudonym": alice[0].uri, "action": "suspend_and_revoke",
                        "case_id": "demo", "reason": "demonstration"});
    veil.post("/v1/admin/remedies", &veil.admin, &remedy).await?;
    println!("    {}", hub.check_key_package(&alice[0].key_package()?).await?);
    Ok(())
}
