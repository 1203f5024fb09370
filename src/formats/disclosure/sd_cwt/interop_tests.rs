//! Interop with an independent SD-CWT implementation, the `sd-cwt` crate
//! (draft-08, on `cose2` and `cbor2`), in both directions.
//!
//! The crate hashes a disclosure's inner array, veil the whole byte string
//! (see docs/SD-CWT-NOTES.md); its `RedactionHasher` lets the tests plug in
//! veil's reading.

use cbor2::Value;
use cose2::{Label, Sign1Message};
use sd_cwt::{
    ALG_SHA_256, ProcessingLimits, RedactionHasher, RestoreMode, Sha256RedactionHasher,
    TO_BE_DECOY_TAG, TO_BE_REDACTED_TAG, disclosures_from_unprotected, issue_from_preissuance,
    restore_payload_with_disclosures, set_disclosures, set_kb_cwt_typ, set_sd_alg, set_sd_cwt_typ,
    verify_and_decode_sd_cwt,
};

use super::*;
use crate::formats::disclosure::IssuerKey;
use crate::formats::disclosure::test_support::*;

/// veil's reading of the Blinded Claim Hash: over the complete byte string.
struct BstrHasher;

impl RedactionHasher for BstrHasher {
    fn algorithm(&self) -> i64 {
        ALG_SHA_256
    }

    fn digest(&self, data: &[u8]) -> Vec<u8> {
        redaction::digest(data).unwrap()
    }
}

/// A P-256 signer for cose2, signing with `alg` and writing `kid` (cose2 puts
/// it in the unprotected header).
struct PeerSigner<'a> {
    key: &'a Es256Signer,
    alg: i64,
    kid: Option<&'a [u8]>,
}

impl cose2::Signer for PeerSigner<'_> {
    fn alg(&self) -> Option<Label> {
        Some(self.alg.into())
    }

    fn kid(&self) -> Option<&[u8]> {
        self.kid
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, cose2::Error> {
        Ok(self.key.sign(data).unwrap().to_vec())
    }
}

struct PeerVerifier(P256PublicKey);

impl cose2::Verifier for PeerVerifier {
    fn alg(&self) -> Option<Label> {
        Some(cose2::iana::AlgorithmESP256.into())
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), cose2::Error> {
        if self.0.verify_es256(data, signature) {
            Ok(())
        } else {
            Err(cose2::Error::verify("signature"))
        }
    }
}

fn text_claim<'a>(claims: &'a Value, name: &str) -> Option<&'a Value> {
    let Value::Map(entries) = claims else { panic!("claims are not a map") };
    entries.iter().find(|(k, _)| *k == Value::from(name)).map(|(_, v)| v)
}

/// The SD-CWT a veil KBT carries in `kcwt`, as tagged bytes.
fn kcwt_of(kbt: &[u8]) -> Vec<u8> {
    let kbt = CoseSign1::from_tagged_slice(kbt).unwrap();
    let embedded = header_value(&kbt.protected.header.rest, HEADER_KCWT).unwrap();
    let mut out = Vec::new();
    ciborium::into_writer(embedded, &mut out).unwrap();
    out
}

#[test]
fn the_peer_verifies_what_veil_issues_and_presents() {
    let issuer = signer("issuer-2025");
    let holder = signer("holder");
    let issued = issue(&params(&holder), &issuer).unwrap();
    let verifier = PeerVerifier(issuer.public_key().clone());
    let limits = ProcessingLimits::default();

    // As issued: the peer accepts ESP256 and finds a disclosure for every
    // digest (decoys included) once it hashes the way veil does.
    let message = verify_and_decode_sd_cwt(&verifier, &issued, None, limits).unwrap();
    let disclosures = disclosures_from_unprotected(&message.unprotected).unwrap();
    let mode = RestoreMode::Holder;
    let own_hash = restore_payload_with_disclosures(
        &message,
        disclosures.clone(),
        &Sha256RedactionHasher,
        mode,
    );
    assert!(own_hash.is_err(), "the peer's reading of the hash matches none of veil's digests");
    let report =
        restore_payload_with_disclosures(&message, disclosures, &BstrHasher, mode).unwrap();
    assert_eq!(text_claim(&report.value, "email"), Some(&Value::from("zoe@example.com")));
    assert_eq!(text_claim(&report.value, "handle"), Some(&Value::from("crazykoala75")));
    assert!(report.decoys >= 1);

    // As presented inside a KBT: only the chosen claim comes back.
    let kbt = present(&issued, &["email"], &holder, AUDIENCE, NONCE.as_bytes(), NOW).unwrap();
    let presented = kcwt_of(&kbt);
    let message = verify_and_decode_sd_cwt(&verifier, &presented, None, limits).unwrap();
    let disclosures = disclosures_from_unprotected(&message.unprotected).unwrap();
    let report =
        restore_payload_with_disclosures(&message, disclosures, &BstrHasher, RestoreMode::Verifier)
            .unwrap();
    assert_eq!(text_claim(&report.value, "email"), Some(&Value::from("zoe@example.com")));
    assert_eq!(text_claim(&report.value, "address"), None);
    assert_eq!(report.disclosed, 1);
}

/// An SD-CWT as the peer issues it: ESP256, `kid` in the unprotected header.
fn peer_issued(issuer: &Es256Signer, holder: &Es256Signer) -> Vec<u8> {
    let key = holder.public_key();
    let cose_key = Value::Map(vec![
        (Value::from(1), Value::from(2)),
        (Value::from(-1), Value::from(1)),
        (Value::from(-2), Value::Bytes(key.x().to_vec())),
        (Value::from(-3), Value::Bytes(key.y().to_vec())),
    ]);
    let redact = |name: &str| Value::Tag(TO_BE_REDACTED_TAG, Box::new(Value::from(name)));
    let preissued = Value::Map(vec![
        (Value::from(1), Value::from("https://peer.example")),
        (Value::from(2), Value::from("mimi://peer.example/p/1")),
        (Value::from(4), Value::from(ISSUED_AT + 3600)),
        (Value::from(6), Value::from(ISSUED_AT)),
        (Value::from(8), Value::Map(vec![(Value::from(1), cose_key)])),
        (Value::from("handle"), Value::from("crazykoala75")),
        (redact("email"), Value::from("zoe@example.com")),
        (redact("age_over_18"), Value::from(true)),
        (Value::Tag(TO_BE_DECOY_TAG, Box::new(Value::from(1))), Value::Null),
    ]);
    let mut next = 0u8;
    let mut salts = move || {
        next += 1;
        [next; 16]
    };
    let issued = issue_from_preissuance(preissued, &mut salts, &BstrHasher).unwrap();
    let mut message = Sign1Message::new(Some(cbor2::to_vec(&issued.value).unwrap()));
    set_sd_cwt_typ(&mut message.protected);
    set_sd_alg(&mut message.protected, ALG_SHA_256);
    set_disclosures(&mut message.unprotected, issued.disclosures.as_slice());
    let signer = PeerSigner {
        key: issuer,
        alg: cose2::iana::AlgorithmESP256,
        kid: Some(b"peer-2026".as_slice()),
    };
    message.sign_and_encode(&signer, None).unwrap()
}

fn peer_keys(issuer: &Es256Signer) -> Vec<IssuerKey> {
    vec![IssuerKey::es256("peer-2026", issuer.public_key())]
}

#[test]
fn veil_presents_and_verifies_what_the_peer_issues() {
    let issuer = signer("peer");
    let holder = signer("holder");
    let issued = peer_issued(&issuer, &holder);
    let kbt = present(&issued, &["email"], &holder, AUDIENCE, NONCE.as_bytes(), NOW).unwrap();
    let verified = verify(&kbt, peer_keys(&issuer).as_slice(), &expectations()).unwrap();
    assert_eq!(verified.header_kid, "peer-2026");
    assert_eq!(verified.disclosed.get("email"), Some(&"zoe@example.com".into()));
    assert_eq!(verified.claims.get("handle"), Some(&"crazykoala75".into()));
    assert!(!verified.claims.contains_key("age_over_18"));
    assert_eq!(verified.kb_issued_at, Some(NOW));
}

/// A KBT signed through cose2 with ESP256, carrying `cti` instead of `iat`.
#[test]
fn veil_verifies_a_peer_built_kbt_with_esp256_and_cti() {
    let issuer = signer("peer");
    let holder = signer("holder");
    let issued = peer_issued(&issuer, &holder);
    let claims = Value::Map(vec![
        (Value::from(3), Value::from(AUDIENCE)),
        (Value::from(7), Value::Bytes(b"kbt-0001".to_vec())),
        (Value::from(39), Value::Bytes(NONCE.as_bytes().to_vec())),
    ]);
    let mut kbt = Sign1Message::new(Some(cbor2::to_vec(&claims).unwrap()));
    set_kb_cwt_typ(&mut kbt.protected);
    kbt.protected.insert(HEADER_KCWT, Value::Bytes(issued));
    let signer = PeerSigner { key: &holder, alg: cose2::iana::AlgorithmESP256, kid: None };
    let kbt = kbt.sign_and_encode(&signer, None).unwrap();
    let verified = verify(&kbt, peer_keys(&issuer).as_slice(), &expectations()).unwrap();
    assert_eq!(verified.kb_issued_at, None);
    let mut disclosed: Vec<&str> = verified.disclosed.keys().map(String::as_str).collect();
    disclosed.sort_unstable();
    assert_eq!(disclosed, ["age_over_18", "email"]);
}
