//! The examples' hub: it keeps rooms, and asks veil about every credential.

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};

use super::{CommittedLeaf, Res, Veil};

/// A hub: it keeps rooms, and asks veil about every credential.
pub struct Hub<'a> {
    veil: &'a Veil,
    token: String,
}

impl<'a> Hub<'a> {
    pub async fn new(veil: &'a Veil) -> Res<Self> {
        Ok(Self { veil, token: veil.token("hub.example", &["hub"]).await? })
    }

    /// veil's report on a KeyPackage.
    pub async fn check_key_package(&self, key_package: &[u8]) -> Res<Value> {
        let body = json!({"key_package": Base64::encode_string(key_package)});
        self.veil.post("/v1/mls/key-packages/validate", &self.token, &body).await
    }

    /// veil's report on the leaf a member joined with by external commit:
    /// its signature (over the group id and leaf index), its credential and
    /// the pseudonym's status.
    pub async fn check_leaf_node(&self, leaf: &CommittedLeaf) -> Res<Value> {
        let body = json!({"leaf_node": Base64::encode_string(&leaf.leaf_node),
                          "group_id": Base64::encode_string(&leaf.group_id),
                          "leaf_index": leaf.leaf_index});
        self.veil.post("/v1/mls/credentials/validate", &self.token, &body).await
    }

    /// Whether the KeyPackage may be used for a room: valid, and
    /// connection-only packages only for connection (or knock) rooms.
    pub async fn may_add(&self, key_package: &[u8], connection_room: bool) -> Res<bool> {
        let report = self.check_key_package(key_package).await?;
        let flag = |name: &str| report.get(name).and_then(Value::as_bool);
        let allowed = flag("valid") == Some(true)
            && (connection_room || flag("connection_only") != Some(true));
        println!("    hub: veil says {report}");
        Ok(allowed)
    }

    /// The status of the pseudonym a member's certificate names (a member
    /// who joined by link brought no KeyPackage).
    pub async fn status(&self, uri: &str) -> Res<Value> {
        let id = uri.rsplit('/').next().unwrap_or_default();
        self.veil.get(&format!("/v1/pseudonyms/{id}"), &self.token).await
    }

    /// veil's verdict on an SD-JWT disclosure shown in `room` under `policy`.
    pub async fn verify(
        &self,
        room: &str,
        policy: &str,
        presentation: &str,
        nonce: &str,
        leaf_key: &[u8],
    ) -> Res<Value> {
        let request = json!({"format": "sd-jwt", "presentation": presentation, "audience": room,
                             "nonce": nonce, "leaf_signature_key": Base64::encode_string(leaf_key),
                             "policy": policy});
        self.veil.post("/v1/presentations/verify", &self.token, &request).await
    }

    pub fn nonce(&self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}
