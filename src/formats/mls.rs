//! MLS credentials (RFC 9420 §5.3) built with openmls' own types, so the
//! bytes are exactly what an openmls client puts in its LeafNode.

use openmls::prelude::tls_codec::{Serialize as _, VLBytes};
use openmls::prelude::{
    Credential, CredentialType, Extension, Extensions, KeyPackage, Signature, UnknownExtension,
};

#[derive(Debug, thiserror::Error)]
#[error("MLS credential encoding failed: {0}")]
pub struct MlsError(String);

/// A TLS-serialized `Credential` of type x509: each certificate's DER as an
/// `opaque cert_data<V>`, end-entity first.
pub fn x509_credential(chain: &[&[u8]]) -> Result<Vec<u8>, MlsError> {
    let mut content = Vec::new();
    for der in chain {
        VLBytes::new(der.to_vec())
            .tls_serialize(&mut content)
            .map_err(|e| MlsError(e.to_string()))?;
    }
    Credential::new(CredentialType::X509, content)
        .tls_serialize_detached()
        .map_err(|e| MlsError(e.to_string()))
}

/// The KeyPackage extension (RFC 9420 §13.3 `ExtensionType`) a client sets
/// on a KeyPackage to say "use this KeyPackage only to add me to a
/// connection room" (draft-mahy-mimi-pseudonyms §7), as the mls-extensions
/// `last_resort` KeyPackage extension marks a package's use. 0xF0C0 lies in
/// the private-use range 0xF000-0xFFFF (RFC 9420 §17.3) until a type is
/// registered; its `extension_data` is empty, and presence is the signal.
pub const CONNECTION_ONLY_EXTENSION_TYPE: u16 = 0xF0C0;

/// The connection-only extension as a client puts it on its KeyPackage
/// (`KeyPackageBuilder::key_package_extensions`). The leaf's
/// `capabilities.extensions` must list its type too (RFC 9420 §7.2), or no
/// MLS client accepts the package.
pub fn connection_only_extension() -> Extension {
    Extension::Unknown(CONNECTION_ONLY_EXTENSION_TYPE, UnknownExtension(Vec::new()))
}

/// What a KeyPackage's extensions say of the connection-only extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionOnlyExtension {
    Absent,
    /// Present with empty `extension_data`, the only form defined.
    Present,
    /// Present with `extension_data`: no form defined yet carries any.
    Malformed,
}

impl ConnectionOnlyExtension {
    /// Reads the extension from a KeyPackage's `extensions`.
    pub fn of(extensions: &Extensions<KeyPackage>) -> Self {
        match extensions.unknown(CONNECTION_ONLY_EXTENSION_TYPE) {
            None => Self::Absent,
            Some(UnknownExtension(data)) if data.is_empty() => Self::Present,
            Some(_) => Self::Malformed,
        }
    }
}

/// The largest LeafNode veil reads: far above any real one.
pub const MAX_LEAF_NODE_BYTES: usize = 64 * 1024;

/// `"MLS 1.0 " + "LeafNodeTBS"` is the SignWithLabel label of a leaf (RFC
/// 9420 §5.1.2, §7.2); openmls adds the prefix.
const LEAF_NODE_LABEL: &str = "LeafNodeTBS";

/// Where a leaf sits in its group's tree: a leaf made by a Commit or an
/// Update is signed over its group id and leaf index too (RFC 9420 §7.2,
/// `LeafNodeTBS`), so its signature can only be checked with them.
#[derive(Debug, Clone, Copy)]
pub struct LeafPosition<'a> {
    pub group_id: &'a [u8],
    pub leaf_index: u32,
}

/// What made a leaf (`LeafNodeSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafSource {
    /// A KeyPackage, with the lifetime it carries (seconds since the epoch).
    KeyPackage {
        not_before: u64,
        not_after: u64,
    },
    Update,
    Commit,
}

impl LeafSource {
    /// The name RFC 9420 gives the source.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyPackage { .. } => "key_package",
            Self::Update => "update",
            Self::Commit => "commit",
        }
    }
}

/// A LeafNode read with openmls' own codecs, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct UnverifiedLeafNode {
    pub credential: Credential,
    /// The leaf `signature_key` as carried (SEC1 for P-256).
    pub signature_key: Vec<u8>,
    pub source: LeafSource,
    /// The encoded fields before `signature`: the start of `LeafNodeTBS`.
    payload: Vec<u8>,
    signature: Signature,
}

/// A LeafNode that cannot be read, or whose signature cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum LeafNodeError {
    #[error("the leaf node cannot be read: {0}")]
    Malformed(&'static str),
    #[error(
        "a leaf node made by {0} is signed over its group id and leaf index: both are needed to check it"
    )]
    PositionRequired(&'static str),
    #[error("the leaf node signature does not verify under its signature_key")]
    SignatureInvalid,
}

/// Decodes a TLS `LeafNode` (RFC 9420 §7.2) field by field with openmls'
/// codecs (openmls does not export its own `LeafNodeIn`), keeping the
/// encoded payload for the signature check. Trailing bytes are refused.
pub fn decode_leaf_node(bytes: &[u8]) -> Result<UnverifiedLeafNode, LeafNodeError> {
    use openmls::prelude::tls_codec::Deserialize as _;
    use openmls::prelude::{Capabilities, LeafNode, SignaturePublicKey};
    use openmls::treesync::{EncryptionKey, LeafNodeSource};

    if bytes.len() > MAX_LEAF_NODE_BYTES {
        return Err(LeafNodeError::Malformed("larger than 64 KiB"));
    }
    let mut rest = bytes;
    let malformed = |field: &'static str| move |_| LeafNodeError::Malformed(field);
    EncryptionKey::tls_deserialize(&mut rest).map_err(malformed("encryption_key"))?;
    let signature_key =
        SignaturePublicKey::tls_deserialize(&mut rest).map_err(malformed("signature_key"))?;
    let credential = Credential::tls_deserialize(&mut rest).map_err(malformed("credential"))?;
    Capabilities::tls_deserialize(&mut rest).map_err(malformed("capabilities"))?;
    let source =
        match LeafNodeSource::tls_deserialize(&mut rest).map_err(malformed("leaf_node_source"))? {
            LeafNodeSource::KeyPackage(lifetime) => LeafSource::KeyPackage {
                not_before: lifetime.not_before(),
                not_after: lifetime.not_after(),
            },
            LeafNodeSource::Update => LeafSource::Update,
            LeafNodeSource::Commit(_) => LeafSource::Commit,
        };
    Extensions::<LeafNode>::tls_deserialize(&mut rest).map_err(malformed("extensions"))?;
    let read = bytes.len().saturating_sub(rest.len());
    let payload = bytes.get(..read).ok_or(LeafNodeError::Malformed("payload"))?.to_vec();
    let signature = Signature::tls_deserialize(&mut rest).map_err(malformed("signature"))?;
    if !rest.is_empty() {
        return Err(LeafNodeError::Malformed("bytes after the signature"));
    }
    Ok(UnverifiedLeafNode {
        credential,
        signature_key: signature_key.as_slice().to_vec(),
        source,
        payload,
        signature,
    })
}

impl UnverifiedLeafNode {
    /// Checks `SignWithLabel(., "LeafNodeTBS", LeafNodeTBS)` with openmls'
    /// labeled verification and crypto provider, as ECDSA P-256 with
    /// SHA-256: the only scheme a pseudonym key signs in. A leaf made by a
    /// Commit or an Update needs its `position`; a KeyPackage's leaf ignores it.
    pub fn verify(&self, position: Option<LeafPosition<'_>>) -> Result<(), LeafNodeError> {
        use openmls::prelude::tls_codec::Serialize as _;
        use openmls::prelude::{GroupId, LeafNodeIndex, OpenMlsSignaturePublicKey, Verifiable};
        use openmls::prelude::{SignatureScheme, VLBytes};

        let mut tbs = self.payload.clone();
        if !matches!(self.source, LeafSource::KeyPackage { .. }) {
            let position = position.ok_or(LeafNodeError::PositionRequired(self.source.as_str()))?;
            let encoded = GroupId::from_slice(position.group_id)
                .tls_serialize(&mut tbs)
                .and_then(|_| LeafNodeIndex::new(position.leaf_index).tls_serialize(&mut tbs));
            encoded.map_err(|_| LeafNodeError::Malformed("group_id"))?;
        }
        let key = OpenMlsSignaturePublicKey::new(
            VLBytes::new(self.signature_key.clone()),
            SignatureScheme::ECDSA_SECP256R1_SHA256,
        )
        .map_err(|_| LeafNodeError::SignatureInvalid)?;
        let signed = LeafNodeTbs { tbs, signature: &self.signature };
        signed
            .verify_no_out(&openmls_rust_crypto::RustCrypto::default(), &key)
            .map_err(|_| LeafNodeError::SignatureInvalid)
    }
}

/// `LeafNodeTBS` as encoded, and the leaf's signature over it: what
/// openmls' `Verifiable` checks with the `LeafNodeTBS` label.
struct LeafNodeTbs<'a> {
    tbs: Vec<u8>,
    signature: &'a Signature,
}

/// A leaf whose signature verified (openmls' `Verifiable` names one).
struct VerifiedLeafNode;

impl openmls::prelude::VerifiedStruct for VerifiedLeafNode {}

impl openmls::prelude::Verifiable for LeafNodeTbs<'_> {
    type VerifiedStruct = VerifiedLeafNode;

    fn unsigned_payload(&self) -> Result<Vec<u8>, openmls::prelude::tls_codec::Error> {
        Ok(self.tbs.clone())
    }

    fn signature(&self) -> &Signature {
        self.signature
    }

    fn label(&self) -> &str {
        LEAF_NODE_LABEL
    }

    fn verify(
        self,
        crypto: &impl openmls::prelude::OpenMlsCrypto,
        pk: &openmls::prelude::OpenMlsSignaturePublicKey,
    ) -> Result<VerifiedLeafNode, openmls::prelude::SignatureError> {
        self.verify_no_out(crypto, pk).map(|()| VerifiedLeafNode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_only_extension_is_read_by_its_presence_and_empty_data() {
        let of = |extensions: Vec<Extension>| {
            ConnectionOnlyExtension::of(&Extensions::from_vec(extensions).expect("extensions"))
        };
        assert_eq!(of(vec![]), ConnectionOnlyExtension::Absent);
        assert_eq!(of(vec![connection_only_extension()]), ConnectionOnlyExtension::Present);
        let versioned =
            Extension::Unknown(CONNECTION_ONLY_EXTENSION_TYPE, UnknownExtension(vec![1]));
        assert_eq!(of(vec![versioned]), ConnectionOnlyExtension::Malformed);
        let other = Extension::Unknown(0xF0C1, UnknownExtension(Vec::new()));
        assert_eq!(of(vec![other]), ConnectionOnlyExtension::Absent);
    }

    #[test]
    fn the_type_is_in_the_private_use_range() {
        assert!((0xF000..=0xFFFF).contains(&CONNECTION_ONLY_EXTENSION_TYPE));
        let kind = openmls::prelude::ExtensionType::from(CONNECTION_ONLY_EXTENSION_TYPE);
        assert_eq!(kind, openmls::prelude::ExtensionType::Unknown(CONNECTION_ONLY_EXTENSION_TYPE));
    }
}
