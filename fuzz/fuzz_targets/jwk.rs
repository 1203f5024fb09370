//! Client public keys: JWK (strict, as `POST /v1/pseudonyms` and verification
//! requests take them) and SEC1 (as MLS leaves carry them). A key that parses
//! must round-trip to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::formats::keys::public_key::{Jwk, P256PublicKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(jwk) = serde_json::from_slice::<Jwk>(data)
        && let Ok(key) = P256PublicKey::from_jwk(&jwk)
    {
        assert_eq!(P256PublicKey::from_jwk(&key.to_jwk()).as_ref(), Ok(&key));
        let _ = veil::formats::keys::key_id(&key);
    }
    if let Ok(key) = P256PublicKey::from_sec1(data) {
        assert_eq!(P256PublicKey::from_sec1(key.sec1()).as_ref(), Ok(&key));
    }
});
