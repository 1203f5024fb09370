//! `--route verify`: SD-JWT presentations made before the clock starts.
//!
//! A few holders each get a pseudonym and one SD-JWT from veil (over HTTP,
//! as a backend would); every request then presents one of those SD-JWTs
//! with a key binding of its own (a fresh nonce), so no request is a replay
//! and each costs veil what a hub's check costs: the issuer's signature,
//! the key binding's signature, the room policy and one replay record.

use base64ct::{Base64, Encoding};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED, KeyPair, UnparsedPublicKey};
use serde_json::{Map, Value, json};
use veil::core::clock::{Clock, SystemClock};
use veil::formats::disclosure::sd_jwt;
use veil::services::disclose::{CredentialFormat, DisclosureRequest};
use veil::testkit::HolderKey;

use super::{Res, mint_one, p256_key_pair, per_second, post};

/// The room every presentation is shown in, and the policy it names (one
/// of the repository's room policies: `age_over_18` required).
const ROOM: &str = "https://hub.example/rooms/load";
const POLICY: &str = "adults-only";

/// `n` request bodies for `POST /v1/presentations/verify`, spread over
/// `holders` SD-JWTs issued by the veil at `url`.
pub async fn bodies(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    holders: usize,
    n: usize,
) -> Res<Vec<String>> {
    if holders == 0 {
        return Err("--holders must be at least 1".into());
    }
    let issuer = issuer(http, url).await?;
    let now = SystemClock.now();
    let mut issued = Vec::with_capacity(holders);
    for i in 0..holders {
        let key = HolderKey::generate()?;
        let signer = key.es256_signer()?;
        let account = format!("verify-{i}");
        let id = mint_one(http, url, token, &account, &key.jwk()?).await?;
        let mut claims = Map::new();
        claims.insert("given_name".into(), json!(format!("Holder {i}")));
        claims.insert("age_over_18".into(), json!(true));
        let request = DisclosureRequest {
            account: account.clone(),
            format: CredentialFormat::SdJwt,
            claims: claims.clone(),
            disclosable: claims.keys().cloned().collect(),
            validity_days: 1,
            client: None,
        };
        let proof = request.prove(&signer, &issuer, &id, now)?;
        let body = json!({"account": account, "format": "sd-jwt", "claims": claims,
                          "disclosable": request.disclosable, "validity_days": 1, "proof": proof});
        let disclosed =
            post(http, &format!("{url}/v1/pseudonyms/{id}/disclosures"), token, &body).await?;
        let credential = disclosed["credential"].as_str().ok_or("no credential")?.to_string();
        issued.push((credential, signer, Base64::encode_string(&key.public_key())));
    }
    let mut bodies = Vec::with_capacity(n);
    for (k, (credential, signer, leaf_key)) in (0..n).zip(issued.iter().cycle()) {
        let nonce = format!("load-{k}");
        let presentation =
            sd_jwt::present(credential, &["age_over_18"], signer, ROOM, &nonce, now)?;
        let body = json!({"format": "sd-jwt", "presentation": presentation, "audience": ROOM,
                          "nonce": nonce, "leaf_signature_key": leaf_key, "policy": POLICY});
        bodies.push(serde_json::to_string(&body)?);
    }
    Ok(bodies)
}

/// `https://<domain>`, the audience of a disclosure's proof, from the
/// issuer's public metadata.
async fn issuer(http: &reqwest::Client, url: &str) -> Res<String> {
    let metadata: Value = http
        .get(format!("{url}/.well-known/veil-issuer"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let domain = metadata["domain"].as_str().ok_or("no domain in the issuer metadata")?;
    Ok(format!("https://{domain}"))
}

/// Raw ECDSA P-256 verifications per second with ring on one core, for one
/// second: the yardstick the verify route is divided by.
pub fn raw_verifications_per_second() -> Res<f64> {
    let rng = SystemRandom::new();
    let pair = p256_key_pair(&rng)?;
    let message = [0x5au8; 256];
    let signature = pair.sign(&rng, &message).map_err(|_| "signing failed")?;
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref());
    per_second(|| {
        public.verify(&message, signature.as_ref()).map_err(|_| "verification failed".into())
    })
}
