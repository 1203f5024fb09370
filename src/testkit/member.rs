//! A room member's client as the flows drive it: it verifies disclosures
//! itself, with the issuer's public documents fetched once
//! (docs/MEMBER_VERIFICATION.md), and never asks veil or the hub.

use std::path::Path;

use base64ct::{Base64, Encoding};
use serde_json::Value;

use super::Res;
use crate::core::clock::{Clock, SystemClock};
use crate::formats::keys::public_key::P256PublicKey;
use crate::services::disclose::CredentialFormat;
use crate::services::verify::Verification;
use crate::services::verify::offline::{IssuerDocuments, IssuerTrust, MemberPresentation};
use crate::services::verify::policy::RoomPolicies;

/// The issuer's three public documents, fetched from `base_url`.
pub async fn fetch_documents(http: &reqwest::Client, base_url: &str) -> Res<IssuerDocuments> {
    let get = |path: &str| http.get(format!("{base_url}{path}")).send();
    let json = |response: reqwest::Response| async move {
        response.error_for_status()?.json::<Value>().await
    };
    let veil_issuer = json(get("/.well-known/veil-issuer").await?).await?;
    let jwt_vc_issuer = json(get("/.well-known/jwt-vc-issuer").await?).await?;
    let cose = get("/.well-known/cose-keys").await?.error_for_status()?.bytes().await?;
    Ok(IssuerDocuments { veil_issuer, jwt_vc_issuer, cose_keys: Base64::encode_string(&cose) })
}

/// A member's verifier: one issuer's keys and the room policies it knows.
pub struct Member {
    trust: IssuerTrust,
    policies: RoomPolicies,
}

impl Member {
    /// Fetches the issuer's documents from `base_url`; room policies by
    /// name from `policies` (a directory of room policy files).
    pub async fn fetch(http: &reqwest::Client, base_url: &str, policies: &Path) -> Res<Self> {
        let documents = fetch_documents(http, base_url).await?;
        Ok(Self {
            trust: IssuerTrust::from_documents(&documents)?,
            policies: RoomPolicies::load_dir(policies)?,
        })
    }

    /// A fresh challenge this member sends in the room before a disclosure.
    pub fn nonce(&self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    /// Verifies a disclosure shown in `room` under the room's policy (by
    /// name), bound to the sender's MLS leaf key (SEC1) and answering
    /// `nonce`. Presentations are as the API returns them (SD-CWT in
    /// standard base64); the nonce is the text this member sent.
    pub fn verify(
        &self,
        room: &str,
        policy: &str,
        format: CredentialFormat,
        presentation: &str,
        nonce: &str,
        leaf_key: &[u8],
    ) -> Res<Verification> {
        let policy = self.policies.get(policy).ok_or("no such room policy")?;
        let presentation = match format {
            CredentialFormat::SdCwt => Base64::decode_vec(presentation)?,
            _ => presentation.as_bytes().to_vec(),
        };
        let leaf_key = P256PublicKey::from_sec1(leaf_key)?;
        let shown = MemberPresentation {
            format,
            presentation: &presentation,
            room,
            nonce: nonce.as_bytes(),
            leaf_key: &leaf_key,
        };
        Ok(self.trust.verify(&shown, policy, SystemClock.now())?)
    }
}
