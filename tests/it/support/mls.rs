//! A real openmls client holding a P-256 signature key.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::Value;
use veil::formats::keys::signer::Es256Signer;
use veil::formats::mls::connection_only_extension;
use veil::testkit::{HolderKey, SUITE, capabilities, lifetime_within};

pub struct MlsClient {
    pub provider: OpenMlsRustCrypto,
    /// `key.mls` signs MLS messages; the same key signs presentations.
    pub key: HolderKey,
}

impl MlsClient {
    pub fn new() -> Self {
        let key = HolderKey::generate().expect("signature key");
        Self { provider: OpenMlsRustCrypto::default(), key }
    }

    /// The MLS signature key as a ring signer, for holder presentations.
    pub fn es256_signer(&self) -> Es256Signer {
        self.key.es256_signer().expect("ring key")
    }

    /// The uncompressed SEC1 point (the MLS `signature_key`).
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key()
    }

    pub fn jwk(&self) -> Value {
        self.key.jwk().expect("P-256 JWK")
    }

    /// A KeyPackage (TLS bytes) whose leaf carries `credential`, with a
    /// lifetime the certificate covers.
    pub fn key_package(&self, credential: &[u8]) -> Vec<u8> {
        let credential = Credential::tls_deserialize_exact(credential).expect("credential decodes");
        self.key_package_for(credential.clone(), lifetime_within(&credential))
    }

    /// A KeyPackage the client offers only for connection rooms: it carries
    /// the connection-only extension, which its leaf's capabilities list.
    pub fn connection_only_key_package(&self, credential: &[u8]) -> Vec<u8> {
        let credential = Credential::tls_deserialize_exact(credential).expect("credential decodes");
        let lifetime = lifetime_within(&credential);
        let extensions = Extensions::single(connection_only_extension()).expect("extensions");
        self.key_package_built(credential, lifetime, capabilities(), extensions)
    }

    /// A KeyPackage whose leaf carries `credential` and lasts `lifetime`.
    pub fn key_package_for(&self, credential: Credential, lifetime: Lifetime) -> Vec<u8> {
        self.key_package_built(credential, lifetime, capabilities(), Extensions::empty())
    }

    /// A KeyPackage as built: its leaf's `capabilities` and the package's
    /// `extensions` as given (openmls builds one whose extensions the
    /// capabilities omit; only validation refuses it).
    pub fn key_package_built(
        &self,
        credential: Credential,
        lifetime: Lifetime,
        capabilities: Capabilities,
        extensions: Extensions<KeyPackage>,
    ) -> Vec<u8> {
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(capabilities)
            .key_package_lifetime(lifetime)
            .key_package_extensions(extensions)
            .build(
                SUITE,
                &self.provider,
                &self.key.mls,
                CredentialWithKey { credential, signature_key: self.public_key().into() },
            )
            .expect("key package");
        bundle.key_package().tls_serialize_detached().expect("serialize")
    }
}

/// Deserializes and validates a KeyPackage as a receiving client would.
pub fn validate_key_package(bytes: &[u8]) -> KeyPackage {
    let provider = OpenMlsRustCrypto::default();
    KeyPackageIn::tls_deserialize_exact(bytes)
        .expect("key package decodes")
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .expect("key package validates")
}
