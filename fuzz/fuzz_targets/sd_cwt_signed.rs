//! What lies behind the SD-CWT signatures: the input is the SD-CWT payload
//! and the disclosures (length-prefixed chunks, see `veil_fuzz::chunks`), and
//! this target wraps them in a COSE_Sign1 signed by the fixed issuer key and
//! a KBT signed by the holder key, so every mutation reaches the CBOR reader,
//! redaction and claim conversion.
//!
//! Chunk 0 is the payload (CBOR), the next ones the disclosures (CBOR). A
//! 32-byte string of 31 zero bytes and then N, in the payload or in disclosure
//! M < N, stands for the digest of disclosure N (which the fuzzer cannot compute).
#![no_main]

use ciborium::Value;
use coset::iana;
use coset::{CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use libfuzzer_sys::fuzz_target;
use veil::formats::disclosure::sd_cwt;
use veil_fuzz::{
    AUDIENCE, ISSUER_KID, NONCE, NOW, chunks, expectations, holder, issuer, issuer_keys, sha256,
};

/// `bstr(32)` header: a digest in CBOR.
const DIGEST_HEADER: [u8; 2] = [0x58, 0x20];

/// Replaces each placeholder digest `58 20 00..00 N` by the digest of disclosure N.
fn substitute(bytes: &mut [u8], digests: &[Option<[u8; 32]>]) {
    let mut at = 0;
    while at + 34 <= bytes.len() {
        let window = &bytes[at..at + 34];
        if window[..2] == DIGEST_HEADER && window[2..33].iter().all(|b| *b == 0) {
            if let Some(Some(digest)) = digests.get(usize::from(window[33])) {
                bytes[at + 2..at + 34].copy_from_slice(digest);
                at += 34;
                continue;
            }
        }
        at += 1;
    }
}

/// The digest of a disclosure: SHA-256 over its bstr encoding.
fn digest(disclosure: &[u8]) -> [u8; 32] {
    let mut wrapped = Vec::new();
    ciborium::into_writer(&Value::Bytes(disclosure.to_vec()), &mut wrapped).expect("encoding");
    sha256(&wrapped)
}

fuzz_target!(|data: &[u8]| {
    let parts = chunks(data);
    let Some((payload, disclosures)) = parts.split_first() else { return };
    let mut digests: Vec<Option<[u8; 32]>> = vec![None; disclosures.len()];
    let mut encoded: Vec<Vec<u8>> = vec![Vec::new(); disclosures.len()];
    for (index, disclosure) in disclosures.iter().enumerate().rev() {
        let mut disclosure = disclosure.to_vec();
        substitute(&mut disclosure, &digests);
        digests[index] = Some(digest(&disclosure));
        encoded[index] = disclosure;
    }
    let mut payload = payload.to_vec();
    substitute(&mut payload, &digests);

    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ESP256)
        .key_id(ISSUER_KID.as_bytes().to_vec())
        .value(16, Value::from(sd_cwt::TYP))
        .value(170, Value::from(-16))
        .build();
    let mut unprotected = HeaderBuilder::new();
    if !encoded.is_empty() {
        unprotected =
            unprotected.value(17, Value::Array(encoded.into_iter().map(Value::Bytes).collect()));
    }
    let credential = CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected.build())
        .payload(payload)
        .create_signature(&[], |tbs| issuer().sign(tbs).expect("signing").to_vec())
        .build();
    let Ok(embedded) = coset::AsCborValue::to_cbor_value(credential) else { return };
    let kb_protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ESP256)
        .value(13, Value::Tag(CoseSign1::TAG, Box::new(embedded)))
        .value(16, Value::from(sd_cwt::KB_TYP))
        .build();
    let claims = Value::Map(vec![
        (Value::from(3), Value::from(AUDIENCE)),
        (Value::from(6), Value::from(NOW)),
        (Value::from(39), Value::Bytes(NONCE.as_bytes().to_vec())),
    ]);
    let mut encoded_claims = Vec::new();
    ciborium::into_writer(&claims, &mut encoded_claims).expect("encoding");
    let Ok(kbt) = CoseSign1Builder::new()
        .protected(kb_protected)
        .payload(encoded_claims)
        .create_signature(&[], |tbs| holder().sign(tbs).expect("signing").to_vec())
        .build()
        .to_tagged_vec()
    else {
        return;
    };
    if let Ok(verified) =
        sd_cwt::verify(&kbt, issuer_keys(), &expectations(Some(holder().public_key())))
    {
        let _ = serde_json::to_string(&serde_json::Value::Object(verified.claims))
            .expect("claims serialize");
    }
});
