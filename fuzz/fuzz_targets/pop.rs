//! A proof of possession as a backend forwards it with a disclosure request,
//! verified against the fixed holder key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use veil::formats::pop::{Expected, request_digest, verify_proof};
use veil_fuzz::{ISSUER, NOW, holder};

/// The pseudonym id and request the seeds were made for.
pub const PSEUDONYM: &str = "AAAAAAAAAAAAAAAAAAAAAA";

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = std::str::from_utf8(data) else { return };
    let digest = request_digest(&json!({ "format": "sd-jwt", "claims": ["display_name"] }));
    let expected =
        Expected { audience: ISSUER, pseudonym: PSEUDONYM, request_digest: &digest, now: NOW };
    let _ = verify_proof(proof, holder().public_key(), &expected);
});
