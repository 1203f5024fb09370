//! LeafNode validation for hubs: an external join, an Update or a Commit
//! brings a leaf a hub has not seen in a KeyPackage. The leaf's signature
//! is checked (over `LeafNodeTBS`, which for a leaf made by a Commit or an
//! Update includes the group id and leaf index the hub names), then its
//! credential as for KeyPackages (`credential.rs`).

use super::credential::{
    Anchors, CredentialChecks, CredentialError, CredentialReport, Leaf, check_credential,
};
use super::{Finding, Verifier};
use crate::formats::mls::{LeafNodeError, LeafPosition, LeafSource, decode_leaf_node};

/// Decodes a TLS `LeafNode` and runs every check that needs no store: its
/// signature (with `position` for a leaf made by a Commit or an Update),
/// the lifetime of a KeyPackage's leaf at `now`, then the credential's
/// checks. Pure, so the fuzz target drives it.
pub fn check_leaf_node(
    bytes: &[u8],
    position: Option<LeafPosition<'_>>,
    trust: Anchors<'_>,
) -> Result<CredentialChecks, CredentialError> {
    let leaf = decode_leaf_node(bytes).map_err(|e| CredentialError::Malformed(e.to_string()))?;
    let mut checks = CredentialChecks::default();
    match leaf.verify(position) {
        Ok(()) => {}
        Err(error @ LeafNodeError::PositionRequired(_)) => {
            checks.errors.push(Finding::new("leaf_position_required", error.to_string()));
        }
        Err(error) => checks.errors.push(Finding::new("signature_invalid", error.to_string())),
    }
    let mut lifetime_not_after = None;
    if let LeafSource::KeyPackage { not_before, not_after } = leaf.source {
        lifetime_not_after = Some(not_after);
        let now = u64::try_from(trust.now).unwrap_or(0);
        if now < not_before || now >= not_after {
            checks
                .errors
                .push(Finding::new("lifetime_invalid", "the leaf lifetime is not current"));
        }
    }
    let credential = Leaf {
        credential: &leaf.credential,
        signature_key: &leaf.signature_key,
        lifetime_not_after,
    };
    check_credential(credential, trust, checks)
}

impl Verifier {
    /// Validates a TLS `LeafNode`; `position` (group id and leaf index) is
    /// needed for a leaf made by a Commit or an Update. With the room's
    /// `policy` and whether it is a connection room, admission is judged
    /// too, as for KeyPackages.
    pub async fn validate_leaf_node(
        &self,
        bytes: &[u8],
        position: Option<LeafPosition<'_>>,
        room: (Option<&serde_json::Value>, Option<bool>),
    ) -> Result<CredentialReport, CredentialError> {
        let admission = self.admission(room.0, room.1)?;
        let trust = self.anchors();
        let checks = check_leaf_node(bytes, position, trust)?;
        self.judge(checks, admission, trust.now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_leaves_are_malformed() {
        let trust = Anchors { anchors: &[], pseudonym_prefix: "mimi://example.com/p/", now: 0 };
        for bytes in [&b""[..], b"garbage", &[0, 1, 0, 5], &[0; 100_000]] {
            let result = check_leaf_node(bytes, None, trust);
            assert!(matches!(result, Err(CredentialError::Malformed(_))), "{bytes:?}");
        }
    }
}
