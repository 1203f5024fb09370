//! Proof of possession of a pseudonym's key: a compact JWS (ES256, `typ`
//! `veil-pop+jwt`) that the user's client makes with the pseudonym's private
//! key and the provider's backend forwards with a disclosure request.
//!
//! Without it, anyone holding a backend token could ask for a disclosure of
//! any pseudonym under a list of account ids and learn the owner from which
//! one is not a 404. With it, only a caller that holds the pseudonym's key can
//! make the request at all, and a proof binds:
//! - `aud`: the issuer URL (a proof for another issuer is useless here);
//! - `iat`: within [`MAX_SKEW_SECS`] of the server's clock;
//! - `jti`: unique, so the server can refuse a replay (its store records it);
//! - `pseudonym`: the pseudonym id the request names;
//! - `req`: base64url SHA-256 of the canonical JSON of what is requested
//!   ([`request_digest`]), so a proof cannot be reused for other claims.

use base64ct::{Base64UrlUnpadded, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::formats::jws::{self, ES256, Jws};
use crate::formats::keys::public_key::P256PublicKey;
use crate::formats::keys::signer::{Es256Signer, SignError};

/// The JWS `typ` of a proof.
pub const TYP: &str = "veil-pop+jwt";
/// How far `iat` may be from the verifier's clock, either way.
pub const MAX_SKEW_SECS: i64 = 60;
/// Bounds on `jti`: long enough to be unique, short enough to store.
const JTI_LEN: std::ops::RangeInclusive<usize> = 16..=64;
/// Largest proof the verifier parses, in bytes.
pub const MAX_PROOF_BYTES: usize = 2048;

/// Why a proof was refused. The API answers every variant with the same
/// 401, so that a refusal says nothing about the pseudonym or the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PopError {
    #[error("the proof is not a well-formed veil-pop+jwt")]
    Malformed,
    #[error("the proof's signature does not verify with the pseudonym's key")]
    BadSignature,
    #[error("the proof was made for another issuer, pseudonym or request")]
    WrongBinding,
    #[error("the proof's iat is outside the accepted window")]
    Stale,
}

/// What a verified proof tells the caller: the `jti` to record against
/// replay and until when it must be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    pub jti: String,
    /// After this time the proof is stale anyway; its replay record may go.
    pub keep_until: i64,
}

/// What the verifier expects a proof to bind.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub audience: &'a str,
    pub pseudonym: &'a str,
    pub request_digest: &'a [u8; 32],
    pub now: i64,
}

/// SHA-256 over the canonical JSON of `request`: object keys sorted at every
/// level, no insignificant white space. Holder and verifier compute it from
/// the same JSON value, whatever order its members arrived in.
pub fn request_digest(request: &Value) -> [u8; 32] {
    let canonical = canonical(request).to_string();
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Rebuilds `value` with every object's members inserted in sorted order,
/// so serialization is canonical even where `serde_json` keeps insertion
/// order.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let sorted: Map<String, Value> = keys
                .into_iter()
                .filter_map(|k| map.get(k).map(|v| (k.clone(), canonical(v))))
                .collect();
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Holder side: a proof for `pseudonym` at `audience`, signed with the
/// pseudonym's key, for the request whose [`request_digest`] is given.
pub fn make_proof(
    key: &Es256Signer,
    audience: &str,
    pseudonym: &str,
    request_digest: &[u8; 32],
    now: i64,
) -> Result<String, SignError> {
    let mut jti = [0u8; 16];
    SystemRandom::new().fill(&mut jti).map_err(|_| SignError::Failed)?;
    let header = json!({ "alg": ES256, "typ": TYP });
    let claims = json!({
        "aud": audience,
        "iat": now,
        "jti": Base64UrlUnpadded::encode_string(&jti),
        "pseudonym": pseudonym,
        "req": Base64UrlUnpadded::encode_string(request_digest),
    });
    jws::sign(&header, &claims, key)
}

/// Holder side: a proof for the request `object` on `pseudonym` at
/// `audience`, its digest taken as the verifier takes it
/// ([`request_digest`]). Every request type's proof is made here.
pub fn prove(
    key: &Es256Signer,
    audience: &str,
    pseudonym: &str,
    object: &Value,
    now: i64,
) -> Result<String, SignError> {
    make_proof(key, audience, pseudonym, &request_digest(object), now)
}

/// Verifier side: checks the proof against the pseudonym's key and what it
/// must bind. The caller then records `jti` (refusing a replay) before it
/// acts on the request.
pub fn verify_proof(
    proof: &str,
    key: &P256PublicKey,
    expected: &Expected<'_>,
) -> Result<VerifiedProof, PopError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(PopError::Malformed);
    }
    let parsed = Jws::parse(proof).map_err(|_| PopError::Malformed)?;
    parsed.require_es256().map_err(|_| PopError::Malformed)?;
    if parsed.header_str("typ") != Some(TYP) {
        return Err(PopError::Malformed);
    }
    if !key.verify_es256(parsed.signing_input.as_bytes(), &parsed.signature) {
        return Err(PopError::BadSignature);
    }
    let claims = &parsed.payload;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).ok_or(PopError::Malformed);
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or(PopError::Malformed)?;
    let jti = text("jti")?;
    if !JTI_LEN.contains(&jti.len()) {
        return Err(PopError::Malformed);
    }
    let digest = Base64UrlUnpadded::decode_vec(text("req")?).map_err(|_| PopError::Malformed)?;
    let bound = text("aud")? == expected.audience
        && text("pseudonym")? == expected.pseudonym
        && bool::from(digest.as_slice().ct_eq(expected.request_digest.as_slice()));
    if !bound {
        return Err(PopError::WrongBinding);
    }
    if iat.abs_diff(expected.now) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(PopError::Stale);
    }
    Ok(VerifiedProof { jti: jti.to_owned(), keep_until: iat.saturating_add(MAX_SKEW_SECS) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "https://veil.example";
    const PSEUDONYM: &str = "AAAAAAAAAAAAAAAAAAAAAA";
    const NOW: i64 = 1_900_000_000;

    fn setup() -> (Es256Signer, [u8; 32]) {
        let (key, _) = Es256Signer::generate("holder").unwrap();
        let digest = request_digest(&json!({"format": "sd-jwt", "claims": {"name": "Alice"}}));
        (key, digest)
    }

    fn expected(digest: &[u8; 32]) -> Expected<'_> {
        Expected { audience: AUD, pseudonym: PSEUDONYM, request_digest: digest, now: NOW }
    }

    #[test]
    fn a_proof_verifies_and_yields_its_jti() {
        let (key, digest) = setup();
        let proof = make_proof(&key, AUD, PSEUDONYM, &digest, NOW).unwrap();
        let verified = verify_proof(&proof, key.public_key(), &expected(&digest)).unwrap();
        assert_eq!(verified.jti.len(), 22);
        assert_eq!(verified.keep_until, NOW + MAX_SKEW_SECS);
        let again = make_proof(&key, AUD, PSEUDONYM, &digest, NOW).unwrap();
        let other = verify_proof(&again, key.public_key(), &expected(&digest)).unwrap();
        assert_ne!(verified.jti, other.jti, "every proof has its own jti");
    }

    #[test]
    fn the_digest_ignores_member_order_but_not_values() {
        let a = request_digest(&json!({"b": 1, "a": {"y": true, "x": [1, {"q": 1, "p": 2}]}}));
        let b = request_digest(&json!({"a": {"x": [1, {"p": 2, "q": 1}], "y": true}, "b": 1}));
        assert_eq!(a, b);
        let c = request_digest(&json!({"a": {"x": [{"p": 2, "q": 1}, 1], "y": true}, "b": 1}));
        assert_ne!(a, c, "array order is meaningful");
    }

    #[test]
    fn another_key_issuer_pseudonym_request_or_time_is_refused() {
        let (key, digest) = setup();
        let proof = make_proof(&key, AUD, PSEUDONYM, &digest, NOW).unwrap();
        let (stranger, _) = Es256Signer::generate("stranger").unwrap();
        assert_eq!(
            verify_proof(&proof, stranger.public_key(), &expected(&digest)),
            Err(PopError::BadSignature)
        );
        let mut wrong = expected(&digest);
        wrong.audience = "https://other.example";
        assert_eq!(verify_proof(&proof, key.public_key(), &wrong), Err(PopError::WrongBinding));
        let mut wrong = expected(&digest);
        wrong.pseudonym = "BBBBBBBBBBBBBBBBBBBBBB";
        assert_eq!(verify_proof(&proof, key.public_key(), &wrong), Err(PopError::WrongBinding));
        let other_request = request_digest(&json!({"format": "sd-jwt", "claims": {"name": "Eve"}}));
        assert_eq!(
            verify_proof(&proof, key.public_key(), &expected(&other_request)),
            Err(PopError::WrongBinding)
        );
        for now in [NOW - MAX_SKEW_SECS - 1, NOW + MAX_SKEW_SECS + 1] {
            let mut late = expected(&digest);
            late.now = now;
            assert_eq!(verify_proof(&proof, key.public_key(), &late), Err(PopError::Stale));
        }
        let mut edge = expected(&digest);
        edge.now = NOW + MAX_SKEW_SECS;
        assert!(verify_proof(&proof, key.public_key(), &edge).is_ok());
    }

    #[test]
    fn a_forged_header_or_garbage_is_malformed() {
        let (key, digest) = setup();
        let claims = json!({"aud": AUD, "iat": NOW, "jti": "0123456789abcdef", "pseudonym": PSEUDONYM,
            "req": Base64UrlUnpadded::encode_string(&digest)});
        for header in [json!({"alg": "ES256", "typ": "JWT"}), json!({"alg": "none", "typ": TYP})] {
            let token = jws::sign(&header, &claims, &key).unwrap();
            assert_eq!(
                verify_proof(&token, key.public_key(), &expected(&digest)),
                Err(PopError::Malformed)
            );
        }
        let short_jti = json!({"aud": AUD, "iat": NOW, "jti": "x", "pseudonym": PSEUDONYM,
            "req": Base64UrlUnpadded::encode_string(&digest)});
        let token = jws::sign(&json!({"alg": "ES256", "typ": TYP}), &short_jti, &key).unwrap();
        assert_eq!(
            verify_proof(&token, key.public_key(), &expected(&digest)),
            Err(PopError::Malformed)
        );
        for garbage in ["", "a.b", "a.b.c", "....", &"x".repeat(MAX_PROOF_BYTES + 1)] {
            assert_eq!(
                verify_proof(garbage, key.public_key(), &expected(&digest)),
                Err(PopError::Malformed)
            );
        }
    }
}
