//! SD-JWT (RFC 9901) in the SD-JWT VC profile: `typ` `dc+sd-jwt`, ES256,
//! SHA-256 digests, holder key in `cnf.jwk`, key binding always required.
//!
//! Hand-built on serde_json and base64ct rather than `sd-jwt-payload`: its
//! builder is async and salts with its own RNG, while everything here must be
//! synchronous and take randomness, hashing and signing from ring.

mod disclosures;
#[cfg(test)]
mod tests;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value, json};

use super::{
    Expectations, Format, IssueError, IssueParams, IssuerAlg, IssuerKeys, MAX_DISCLOSURES,
    MAX_PRESENTATION_BYTES, PresentError, Validity, Verified, VerifyError, decoy_count, sha256,
};
use crate::formats::jws::{self, ES256, Jws};
use crate::formats::keys::public_key::{Jwk, P256PublicKey};
use crate::formats::keys::signer::Es256Signer;
use disclosures::{Resolved, SD};

pub const TYP: &str = "dc+sd-jwt";
pub const KB_TYP: &str = "kb+jwt";
const SEPARATOR: char = '~';

/// Issues an SD-JWT VC ending in `~` (no key binding yet).
pub fn issue(params: &IssueParams, signer: &Es256Signer) -> Result<String, IssueError> {
    params.validate()?;
    let vct = params.vct.as_deref().ok_or(IssueError::Missing("vct"))?;
    let mut payload = Map::new();
    payload.insert("iss".into(), json!(params.issuer));
    if let Some(subject) = &params.subject {
        payload.insert("sub".into(), json!(subject));
    }
    payload.insert("iat".into(), json!(params.issued_at));
    payload.insert("exp".into(), json!(params.expires_at));
    payload.insert("vct".into(), json!(vct));
    payload.insert("cnf".into(), json!({ "jwk": params.holder_key.to_jwk() }));
    if let Some(status) = &params.status {
        payload.insert("status".into(), status.to_json());
    }
    let mut digests = Vec::new();
    let mut encoded = Vec::new();
    for (name, value) in &params.claims {
        if params.is_disclosable(name) {
            let (digest, disclosure) = disclosures::property(name, value)?;
            digests.push(Value::String(digest));
            encoded.push(disclosure);
        } else {
            payload.insert(name.clone(), value.clone());
        }
    }
    if !digests.is_empty() {
        for _ in 0..decoy_count()? {
            digests.push(Value::String(disclosures::decoy()?));
        }
        // Sorting hides both the claim order and which digests are decoys.
        digests.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        encoded.sort();
        payload.insert(SD.into(), Value::Array(digests));
        payload.insert("_sd_alg".into(), json!("sha-256"));
    }
    let header = json!({ "alg": ES256, "typ": TYP, "kid": signer.kid() });
    let mut out = jws::sign(&header, &Value::Object(payload), signer)?;
    for disclosure in encoded {
        out.push(SEPARATOR);
        out.push_str(&disclosure);
    }
    out.push(SEPARATOR);
    Ok(out)
}

/// Keeps the disclosures for the claims named in `reveal` and appends a
/// KB-JWT signed by `holder` over them (RFC 9901 §4.3).
pub fn present(
    sd_jwt: &str,
    reveal: &[&str],
    holder: &Es256Signer,
    audience: &str,
    nonce: &str,
    iat: i64,
) -> Result<String, PresentError> {
    let body = sd_jwt.strip_suffix(SEPARATOR).ok_or(PresentError::AlreadyBound)?;
    let mut parts = body.split(SEPARATOR);
    let jwt = parts.next().ok_or(PresentError::Malformed("empty SD-JWT"))?;
    let issued = Jws::parse(jwt).map_err(|_| PresentError::Malformed("issuer JWT"))?;
    if holder_key(&issued.payload).ok().as_ref() != Some(holder.public_key()) {
        return Err(PresentError::HolderKeyMismatch);
    }
    let available: Vec<(Option<String>, &str)> =
        parts.map(|d| (disclosures::property_name(d), d)).collect();
    if let Some(missing) = reveal
        .iter()
        .find(|name| !available.iter().any(|(claim, _)| claim.as_deref() == Some(**name)))
    {
        return Err(PresentError::NotDisclosable((*missing).to_string()));
    }
    let mut presented = format!("{jwt}{SEPARATOR}");
    for (_, disclosure) in
        available.iter().filter(|(claim, _)| claim.as_deref().is_some_and(|c| reveal.contains(&c)))
    {
        presented.push_str(disclosure);
        presented.push(SEPARATOR);
    }
    let claims =
        json!({ "iat": iat, "aud": audience, "nonce": nonce, "sd_hash": sd_hash(&presented) });
    let header = json!({ "alg": ES256, "typ": KB_TYP });
    presented.push_str(&jws::sign(&header, &claims, holder)?);
    Ok(presented)
}

/// Verifies an SD-JWT+KB presentation (RFC 9901 §7.1 and §7.3).
///
/// The `sd_hash` check comes before disclosure matching, so disclosures that
/// were changed after the holder signed give `sd_hash_mismatch`, while a
/// holder who adds one the issuer never signed gets `unknown_disclosure`.
pub fn verify(
    presentation: &str,
    keys: &(impl IssuerKeys + ?Sized),
    expected: &Expectations<'_>,
) -> Result<Verified, VerifyError> {
    if presentation.len() > MAX_PRESENTATION_BYTES {
        return Err(VerifyError::TooLarge("presentation"));
    }
    let (bound, kb_jwt) =
        presentation.rsplit_once(SEPARATOR).ok_or(VerifyError::Malformed("not an SD-JWT"))?;
    let mut parts = bound.split(SEPARATOR);
    let jwt = parts.next().ok_or(VerifyError::Malformed("not an SD-JWT"))?;
    let presented: Vec<&str> = parts.take(MAX_DISCLOSURES + 1).collect();
    if presented.len() > MAX_DISCLOSURES {
        return Err(VerifyError::TooLarge("disclosures"));
    }
    if presented.iter().any(|d| d.is_empty()) {
        return Err(VerifyError::Malformed("empty disclosure"));
    }
    let (issuer_jws, kid) = verify_issuer_jwt(jwt, keys)?;
    let validity = validity(&issuer_jws.payload)?;
    validity.check(expected.now)?;
    let holder = holder_key(&issuer_jws.payload)?;
    if kb_jwt.is_empty() {
        return Err(VerifyError::KbMissing);
    }
    let kb_iat = verify_kb_jwt(kb_jwt, &holder, bound, expected, &validity)?;
    let Resolved { mut claims, disclosed } = disclosures::resolve(issuer_jws.payload, &presented)?;
    claims.remove("_sd_alg");
    Ok(Verified {
        format: Format::SdJwt,
        issuer: claims.get("iss").and_then(Value::as_str).map(str::to_owned),
        subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
        header_kid: kid,
        holder_key: holder,
        disclosed,
        claims,
        issued_at: validity.issued_at,
        expires_at: validity.expires_at,
        kb_issued_at: Some(kb_iat),
    })
}

/// Header policy, then the signature with the key the `kid` names.
fn verify_issuer_jwt<'a>(
    jwt: &'a str,
    keys: &(impl IssuerKeys + ?Sized),
) -> Result<(Jws<'a>, String), VerifyError> {
    let jws = Jws::parse(jwt)?;
    if jws.header_str("typ") != Some(TYP) {
        return Err(VerifyError::WrongTyp);
    }
    jws.require_es256()?;
    let kid = jws.header_str("kid").ok_or(VerifyError::UnknownIssuerKey)?;
    let key = keys.find(kid.as_bytes()).ok_or(VerifyError::UnknownIssuerKey)?;
    if key.alg() != IssuerAlg::Es256 {
        return Err(VerifyError::UnsupportedAlg);
    }
    if !key.verify(jws.signing_input.as_bytes(), &jws.signature) {
        return Err(VerifyError::IssuerSignatureInvalid);
    }
    match jws.payload.get("_sd_alg") {
        None => {}
        Some(Value::String(alg)) if alg == "sha-256" => {}
        Some(_) => return Err(VerifyError::UnsupportedAlg),
    }
    let kid = key.kid().to_owned();
    Ok((jws, kid))
}

/// Checks the KB-JWT against the holder key and the verifier's expectations,
/// returning its `iat`. `bound` is the presentation without the KB-JWT.
fn verify_kb_jwt(
    kb_jwt: &str,
    holder: &P256PublicKey,
    bound: &str,
    expected: &Expectations<'_>,
    validity: &Validity,
) -> Result<i64, VerifyError> {
    let kb = Jws::parse(kb_jwt)?;
    if kb.header_str("typ") != Some(KB_TYP) {
        return Err(VerifyError::KbWrongTyp);
    }
    kb.require_es256()?;
    if !holder.verify_es256(kb.signing_input.as_bytes(), &kb.signature) {
        return Err(VerifyError::KbSignatureInvalid);
    }
    let with_separator = presented_prefix(bound);
    if kb.payload.get("sd_hash").and_then(Value::as_str) != Some(sd_hash(&with_separator).as_str())
    {
        return Err(VerifyError::SdHashMismatch);
    }
    if kb.payload.get("aud").and_then(Value::as_str) != Some(expected.audience) {
        return Err(VerifyError::AudienceMismatch);
    }
    let nonce = kb.payload.get("nonce").and_then(Value::as_str).map(str::as_bytes);
    if nonce != Some(expected.nonce) {
        return Err(VerifyError::NonceMismatch);
    }
    let iat = kb
        .payload
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(VerifyError::Malformed("KB-JWT iat"))?;
    validity.check_kb_iat(iat, expected)?;
    Ok(iat)
}

/// `<jwt>~<D1>~…~<Dn>~`: what `sd_hash` covers.
fn presented_prefix(bound: &str) -> String {
    format!("{bound}{SEPARATOR}")
}

fn sd_hash(presented: &str) -> String {
    Base64UrlUnpadded::encode_string(sha256(presented.as_bytes()).as_ref())
}

fn holder_key(payload: &Map<String, Value>) -> Result<P256PublicKey, VerifyError> {
    let jwk = payload
        .get("cnf")
        .and_then(|cnf| cnf.get("jwk"))
        .ok_or(VerifyError::Malformed("no cnf.jwk"))?;
    let jwk: Jwk =
        serde_json::from_value(jwk.clone()).map_err(|_| VerifyError::Malformed("cnf.jwk"))?;
    P256PublicKey::from_jwk(&jwk).map_err(|_| VerifyError::Malformed("cnf.jwk"))
}

fn validity(payload: &Map<String, Value>) -> Result<Validity, VerifyError> {
    let time = |name: &'static str| match payload.get(name) {
        None => Ok(None),
        Some(value) => {
            value.as_i64().map(Some).ok_or(VerifyError::Malformed("time claim is not an integer"))
        }
    };
    Ok(Validity { issued_at: time("iat")?, not_before: time("nbf")?, expires_at: time("exp")? })
}
