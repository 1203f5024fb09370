//! What lies behind the SD-JWT signatures: the input is the issuer's payload
//! and the disclosures (length-prefixed chunks, see `veil_fuzz::chunks`), and
//! this target signs them with the fixed issuer key and a key binding with the
//! holder key, so every mutation reaches digest matching and claim resolution.
//!
//! Chunk 0 is the payload JSON, the next ones the disclosures' JSON. A string
//! `"@N"` in the payload, or in disclosure M < N, stands for the digest of
//! disclosure N (which the fuzzer cannot compute).
#![no_main]

use base64ct::{Base64UrlUnpadded, Encoding};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use veil::formats::disclosure::sd_jwt;
use veil::formats::keys::signer::Es256Signer;
use veil_fuzz::{
    AUDIENCE, ISSUER_KID, NONCE, NOW, chunks, expectations, holder, issuer, issuer_keys, sha256,
};

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Replaces `"@N"` strings by `digests[N]` where known.
fn substitute(value: &mut Value, digests: &[Option<String>]) {
    match value {
        Value::String(text) => {
            let index = text.strip_prefix('@').and_then(|n| n.parse::<usize>().ok());
            if let Some(Some(digest)) = index.and_then(|i| digests.get(i)) {
                *text = digest.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| substitute(item, digests)),
        Value::Object(map) => map.values_mut().for_each(|item| substitute(item, digests)),
        _ => {}
    }
}

fn jws(header: &Value, payload: &str, key: &Es256Signer) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.as_bytes()));
    let signature = key.sign(input.as_bytes()).expect("signing");
    format!("{input}.{}", b64(&signature))
}

fuzz_target!(|data: &[u8]| {
    let parts = chunks(data);
    let Some((payload, disclosures)) = parts.split_first() else { return };
    let Ok(mut payload) = serde_json::from_slice::<Value>(payload) else { return };
    // Disclosures are encoded last to first, so each may name later ones.
    let mut digests: Vec<Option<String>> = vec![None; disclosures.len()];
    let mut encoded: Vec<String> = vec![String::new(); disclosures.len()];
    for (index, disclosure) in disclosures.iter().enumerate().rev() {
        let text = match serde_json::from_slice::<Value>(disclosure) {
            Ok(mut value) => {
                substitute(&mut value, &digests);
                value.to_string()
            }
            Err(_) => String::from_utf8_lossy(disclosure).into_owned(),
        };
        let disclosure = b64(text.as_bytes());
        digests[index] = Some(b64(&sha256(disclosure.as_bytes())));
        encoded[index] = disclosure;
    }
    substitute(&mut payload, &digests);
    let header = json!({ "alg": "ES256", "typ": sd_jwt::TYP, "kid": ISSUER_KID });
    let mut presented = jws(&header, &payload.to_string(), issuer());
    presented.push('~');
    for disclosure in &encoded {
        presented.push_str(disclosure);
        presented.push('~');
    }
    let sd_hash = b64(&sha256(presented.as_bytes()));
    let kb = json!({ "iat": NOW, "aud": AUDIENCE, "nonce": NONCE, "sd_hash": sd_hash });
    let kb_header = json!({ "alg": "ES256", "typ": sd_jwt::KB_TYP });
    presented.push_str(&jws(&kb_header, &kb.to_string(), holder()));
    if let Ok(verified) = sd_jwt::verify(&presented, issuer_keys(), &expectations(None)) {
        // What a verified presentation reports is itself serializable.
        let _ = serde_json::to_string(&Value::Object(verified.claims)).expect("claims serialize");
    }
});
