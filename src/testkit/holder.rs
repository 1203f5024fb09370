//! One P-256 key held twice: by openmls (the leaf signature key) and by a
//! ring signer (holder presentations bound to that same key).

use base64ct::{Base64UrlUnpadded, Encoding};
use openmls::prelude::SignatureScheme;
use openmls_basic_credential::SignatureKeyPair;
use p256::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};

use super::Res;
use crate::formats::keys::signer::Es256Signer;

/// A holder's signature key.
pub struct HolderKey {
    /// The key as openmls signs with it.
    pub mls: SignatureKeyPair,
    pkcs8: Vec<u8>,
}

impl HolderKey {
    /// The key is made by ring and handed to openmls as raw bytes.
    pub fn generate() -> Res<Self> {
        let (holder, pkcs8) = Es256Signer::generate("holder")?;
        let secret = p256::SecretKey::from_pkcs8_der(&pkcs8)?;
        let mls = SignatureKeyPair::from_raw(
            SignatureScheme::ECDSA_SECP256R1_SHA256,
            secret.to_bytes().to_vec(),
            holder.public_key().sec1().to_vec(),
        );
        Ok(Self { mls, pkcs8: pkcs8.to_vec() })
    }

    /// The same key as a ring signer, for holder presentations.
    pub fn es256_signer(&self) -> Res<Es256Signer> {
        Ok(Es256Signer::from_pkcs8("holder", &self.pkcs8)?)
    }

    /// The uncompressed SEC1 point (the MLS `signature_key`).
    pub fn public_key(&self) -> Vec<u8> {
        self.mls.to_public_vec()
    }

    /// The public key as the JWK `POST /v1/pseudonyms` takes.
    pub fn jwk(&self) -> Res<Value> {
        let point = self.public_key();
        let (x, y) = match point.as_slice() {
            [4, coordinates @ ..] if coordinates.len() == 64 => coordinates.split_at(32),
            _ => return Err("not an uncompressed P-256 point".into()),
        };
        Ok(json!({
            "kty": "EC",
            "crv": "P-256",
            "x": Base64UrlUnpadded::encode_string(x),
            "y": Base64UrlUnpadded::encode_string(y),
        }))
    }
}
