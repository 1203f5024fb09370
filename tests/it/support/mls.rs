//! A real openmls client holding a P-256 signature key.

use base64ct::{Base64UrlUnpadded, Encoding};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::{Value, json};
use veil::formats::keys::signer::Es256Signer;

pub const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256;

pub struct MlsClient {
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
    pkcs8: Vec<u8>,
}

impl MlsClient {
    /// The key is made by ring and handed to openmls as raw bytes, so the
    /// same private key can also sign holder presentations (`es256_signer`).
    pub fn new() -> Self {
        use p256::pkcs8::DecodePrivateKey;
        let provider = OpenMlsRustCrypto::default();
        let (holder, pkcs8) = Es256Signer::generate("holder").expect("signature key");
        let secret = p256::SecretKey::from_pkcs8_der(&pkcs8).expect("PKCS#8");
        let signer = SignatureKeyPair::from_raw(
            SignatureScheme::ECDSA_SECP256R1_SHA256,
            secret.to_bytes().to_vec(),
            holder.public_key().sec1().to_vec(),
        );
        Self { provider, signer, pkcs8: pkcs8.to_vec() }
    }

    /// The MLS signature key as a ring signer, for holder presentations.
    pub fn es256_signer(&self) -> Es256Signer {
        Es256Signer::from_pkcs8("holder", &self.pkcs8).expect("ring key")
    }

    /// The uncompressed SEC1 point (the MLS `signature_key`).
    pub fn public_key(&self) -> Vec<u8> {
        self.signer.to_public_vec()
    }

    pub fn jwk(&self) -> Value {
        let point = self.public_key();
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": Base64UrlUnpadded::encode_string(&point[1..33]),
            "y": Base64UrlUnpadded::encode_string(&point[33..65]),
        })
    }

    /// A KeyPackage (TLS bytes) whose leaf carries `credential`.
    pub fn key_package(&self, credential: &[u8]) -> Vec<u8> {
        let credential = Credential::tls_deserialize_exact(credential).expect("credential decodes");
        let capabilities = Capabilities::builder()
            .credentials(vec![CredentialType::X509, CredentialType::Basic])
            .ciphersuites(vec![SUITE])
            .build();
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(capabilities)
            .build(
                SUITE,
                &self.provider,
                &self.signer,
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
