//! Fixtures more than one test file starts from.

use serde_json::Value;
use veil::formats::keys::signer::Es256Signer;

use super::TestApp;
use super::mls::MlsClient;

/// One pseudonym minted for `account`, its holder's keys, and a backend
/// and a hub token to work with it.
pub struct Pseudonym {
    pub backend: String,
    pub hub: String,
    pub client: MlsClient,
    /// The client's MLS key as a presentation signer.
    pub holder: Es256Signer,
    pub id: String,
    pub uri: String,
    /// The minted pseudonym as `POST /v1/pseudonyms` returned it.
    pub mint: Value,
}

pub async fn pseudonym(app: &TestApp, account: &str) -> Pseudonym {
    let backend = app.token(&["backend"]).await;
    let hub = app.token(&["hub"]).await;
    let client = MlsClient::new();
    let (status, body) = app.mint(&backend, account, vec![client.jwk()]).await;
    assert_eq!(status, 201, "{body}");
    let mint = body["pseudonyms"][0].clone();
    Pseudonym {
        holder: client.es256_signer(),
        id: mint["id"].as_str().expect("id").to_string(),
        uri: mint["uri"].as_str().expect("uri").to_string(),
        backend,
        hub,
        client,
        mint,
    }
}
