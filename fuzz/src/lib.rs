//! Fixtures shared by the fuzz targets and the seed generator
//! (`tests/fuzz_seeds.rs`, which includes this file): fixed keys, a
//! fixed CA and a fixed clock, so that every run judges an input the same way
//! and the committed seeds (made with these keys) get
//! past the signature checks.
//!
//! The keys below are throwaway test keys made for this crate; they protect
//! nothing.

use std::sync::OnceLock;

use base64ct::{Base64, Encoding};
use veil::formats::disclosure::{Expectations, IssuerKey};
use veil::formats::keys::public_key::P256PublicKey;
use veil::formats::keys::signer::Es256Signer;
use veil::services::verify::x509::TrustAnchor;

/// When the seed credentials were issued, and the clock every target verifies at.
pub const ISSUED_AT: i64 = 1_750_000_000;
pub const NOW: i64 = ISSUED_AT + 30;
pub const EXPIRES_AT: i64 = ISSUED_AT + 3600;
pub const AUDIENCE: &str = "mimi://room.example/r/general";
pub const NONCE: &str = "n-0S6_WzA2Mj";
pub const ISSUER: &str = "https://fuzz.example";
pub const PSEUDONYM_PREFIX: &str = "mimi://fuzz.example/p/";
pub const ISSUER_KID: &str = "fuzz-issuer";
/// The group and leaf index a Commit's or an Update's leaf is signed for
/// (the `leaf_node` target's position).
pub const GROUP_ID: &[u8] = b"fuzz group";
pub const LEAF_INDEX: u32 = 0;

/// PKCS#8 DER (base64) of the issuer's ES256 key.
const ISSUER_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg22y0G2e6pS8kRjFmrOT23nxck6AvLUbgTWmJfxvvFduhRANCAARNBQrf6aZ3X8llFro/PA0JGzz/l9ZhdV1ZTq1F9t4khEjKFnhEQm/+DoSr3mAdaV/Jq1lhxyOaUEWG72cHia97";
/// PKCS#8 DER (base64) of the holder's key: the pseudonym and MLS leaf key.
const HOLDER_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2Tox7V/TDF6EW5r3NG0oPlgzh3dyAp5L7E16xPL4CgyhRANCAARAUzQwcrh4iLfsjgnpRnrTk7BOgq/aDyAw8mVUMSNRt3BiYEyeACg3u9VBJneCU76CFtIq19/mDtbjEZrWowGQ";
/// PKCS#8 DER (base64) of the pseudonym CA's key.
const CA_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVh0nyvr7UotHiR24hVzO05S4QiX5d0L+hHa8bh1wnuShRANCAAT26kJ0MczEaTib+vIkwjOC6xZeUm4G3hAAzq0hL2CK3F1kGUgxDvMYnZiWvbLGOZlKpr9HN7NVihnCBy4Xrs5H";
/// The CA's self-signed certificate (DER, base64), valid until 2126.
const CA_CERT: &str = "MIIB8zCCAZigAwIBAgIUYxaT999NafMP0OSRq57M8f7Ne2kwCgYIKoZIzj0EAwIwRDErMCkGA1UEAwwidmVpbCBwc2V1ZG9ueW0gQ0EgZm9yIGZ1enouZXhhbXBsZTEVMBMGA1UECgwMZnV6ei5leGFtcGxlMCAXDTI2MTIwMjE3MjMwOFoYDzIxMjYxMTA4MTcyMzA4WjBEMSswKQYDVQQDDCJ2ZWlsIHBzZXVkb255bSBDQSBmb3IgZnV6ei5leGFtcGxlMRUwEwYDVQQKDAxmdXp6LmV4YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT26kJ0MczEaTib+vIkwjOC6xZeUm4G3hAAzq0hL2CK3F1kGUgxDvMYnZiWvbLGOZlKpr9HN7NVihnCBy4Xrs5Ho2YwZDAdBgNVHQ4EFgQUQ0yb0eJp5B/jYigRWJOWH/dWlHowHwYDVR0jBBgwFoAUQ0yb0eJp5B/jYigRWJOWH/dWlHowEgYDVR0TAQH/BAgwBgEB/wIBADAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSQAwRgIhAK6yfWwDMdbPzN9T0UTdYrwK4hTNq/xVlqE4FkLmthnXAiEAnAb6j4YhgTNS6S5Bni8Gh/OvlGE5LJpKuuK4TCmovAY=";

fn der(base64: &str) -> Vec<u8> {
    Base64::decode_vec(base64).expect("fixture base64")
}

fn signer(kid: &str, pkcs8: &str) -> Es256Signer {
    Es256Signer::from_pkcs8(kid, &der(pkcs8)).expect("fixture key")
}

pub fn issuer() -> &'static Es256Signer {
    static KEY: OnceLock<Es256Signer> = OnceLock::new();
    KEY.get_or_init(|| signer(ISSUER_KID, ISSUER_PKCS8))
}

pub fn holder() -> &'static Es256Signer {
    static KEY: OnceLock<Es256Signer> = OnceLock::new();
    KEY.get_or_init(|| signer("holder", HOLDER_PKCS8))
}

/// The holder key's PKCS#8 DER (the seed generator hands it to openmls).
pub fn holder_pkcs8() -> Vec<u8> {
    der(HOLDER_PKCS8)
}

/// The issuer keys a verifier trusts: only the fixed one.
pub fn issuer_keys() -> &'static [IssuerKey] {
    static KEYS: OnceLock<Vec<IssuerKey>> = OnceLock::new();
    KEYS.get_or_init(|| vec![IssuerKey::es256(ISSUER_KID, issuer().public_key())])
}

pub fn ca_cert_der() -> Vec<u8> {
    der(CA_CERT)
}

/// The CA as PEM key and certificate, as `PseudonymCa::load` takes them.
pub fn ca_pems() -> (String, String) {
    (pem("PRIVATE KEY", &der(CA_PKCS8)), pem("CERTIFICATE", &ca_cert_der()))
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = Base64::encode_string(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

pub fn anchors() -> &'static [TrustAnchor] {
    static ANCHORS: OnceLock<Vec<TrustAnchor>> = OnceLock::new();
    ANCHORS.get_or_init(|| vec![TrustAnchor::from_ca_der(&ca_cert_der()).expect("fixture CA")])
}

/// What the hub expects of a key binding, at [`NOW`].
pub fn expectations(presenter_key: Option<&'static P256PublicKey>) -> Expectations<'static> {
    Expectations {
        audience: AUDIENCE,
        nonce: NONCE.as_bytes(),
        now: NOW,
        max_kb_age_secs: 300,
        presenter_key,
    }
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// Splits `data` into chunks, each prefixed by its length as two big-endian
/// bytes; a short tail ends the list. The structured targets read their
/// parts this way.
pub fn chunks(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let [high, low, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(rest.len());
        let (chunk, tail) = rest.split_at(len);
        out.push(chunk);
        data = tail;
    }
    out
}

/// The inverse of [`chunks`], for the seed generator.
pub fn join_chunks<T: AsRef<[u8]>>(parts: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        let part = part.as_ref();
        let len = u16::try_from(part.len()).expect("a part fits in 64 KiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}
