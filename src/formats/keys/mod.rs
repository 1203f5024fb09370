//! Key material as values: client public keys (strict JWK parsing) and issuer signers.

pub mod public_key;
pub mod signer;

use base64ct::{Base64UrlUnpadded, Encoding};

/// A short, stable key id: base64url of the first 12 bytes of SHA-256 over
/// the SEC1 point. Published beside each key so verifiers pick the right one
/// after a rotation.
pub fn key_id(key: &public_key::P256PublicKey) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, key.sec1());
    // A SHA-256 digest always has 32 bytes, so the prefix is always there.
    Base64UrlUnpadded::encode_string(digest.as_ref().get(..12).unwrap_or_default())
}
