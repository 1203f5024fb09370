//! COSE and CWT plumbing for SD-CWT: header lookups, payload decoding (with
//! claims carried in the protected header), the holder key in `cnf` (a
//! COSE_Key or its thumbprint), and validity times.

use ciborium::Value as HeaderValue;
use coset::{CoseSign1, Label};

use super::cbor::{self, Cbor, as_i64, get, int};
use super::{
    CNF, CNF_CKT, CNF_COSE_KEY, EXP, HEADER_CWT_CLAIMS, HEADER_SD_CLAIMS, HEADER_TYP, IAT, NBF,
};
use crate::formats::disclosure::{IssueError, MAX_DISCLOSURES, Validity, VerifyError, sha256};
use crate::formats::keys::public_key::P256PublicKey;

pub(super) fn header_value(rest: &[(Label, HeaderValue)], label: i64) -> Option<&HeaderValue> {
    rest.iter().find(|(l, _)| *l == Label::Int(label)).map(|(_, v)| v)
}

pub(super) fn has_typ(rest: &[(Label, HeaderValue)], number: i64, text: &str) -> bool {
    match header_value(rest, HEADER_TYP) {
        Some(HeaderValue::Text(t)) => t == text,
        Some(value) => header_i64(value) == Some(number),
        None => false,
    }
}

pub(super) fn header_i64(value: &HeaderValue) -> Option<i64> {
    value.as_integer().and_then(|i| i64::try_from(i).ok())
}

pub(super) fn payload_map(sign1: &CoseSign1) -> Result<Vec<(Cbor, Cbor)>, VerifyError> {
    let bytes = sign1.payload.as_deref().ok_or(VerifyError::Malformed("detached payload"))?;
    match cbor::decode(bytes)? {
        Cbor::Map(entries) => Ok(entries),
        _ => Err(VerifyError::Malformed("payload is not a map")),
    }
}

/// The payload claims plus those in the protected CWT Claims header
/// parameter (label 15, RFC 9597), which the draft (§6.3) treats as if they
/// were in the payload. A claim in both places must carry the same value.
pub(super) fn claims(sign1: &CoseSign1) -> Result<Vec<(Cbor, Cbor)>, VerifyError> {
    let mut claims = payload_map(sign1)?;
    let Some(header) = header_value(&sign1.protected.header.rest, HEADER_CWT_CLAIMS) else {
        return Ok(claims);
    };
    let malformed = || VerifyError::Malformed("CWT claims header");
    let mut encoded = Vec::new();
    ciborium::into_writer(header, &mut encoded).map_err(|_| malformed())?;
    let Cbor::Map(extra) = cbor::decode(&encoded)? else {
        return Err(malformed());
    };
    for (key, value) in extra {
        match claims.iter().find(|(k, _)| *k == key) {
            None => claims.push((key, value)),
            Some((_, existing)) if same(existing, &value)? => {}
            Some(_) => {
                return Err(VerifyError::Malformed(
                    "claim differs in payload and CWT claims header",
                ));
            }
        }
    }
    Ok(claims)
}

/// Equal up to map order.
fn same(a: &Cbor, b: &Cbor) -> Result<bool, VerifyError> {
    let canonical = |value: &Cbor| {
        cbor::deterministic(value.clone())
            .and_then(|value| cbor::encode(&value))
            .map_err(|_| VerifyError::Malformed("claim value"))
    };
    Ok(canonical(a)? == canonical(b)?)
}

/// The disclosures in unprotected label 17; an empty array is invalid (§9).
pub(super) fn sd_claims(credential: &CoseSign1) -> Result<Vec<Vec<u8>>, VerifyError> {
    let Some(value) = header_value(&credential.unprotected.rest, HEADER_SD_CLAIMS) else {
        return Ok(Vec::new());
    };
    let HeaderValue::Array(items) = value else {
        return Err(VerifyError::Malformed("sd_claims is not an array"));
    };
    if items.is_empty() {
        return Err(VerifyError::Malformed("sd_claims is empty"));
    }
    if items.len() > MAX_DISCLOSURES {
        return Err(VerifyError::TooLarge("disclosures"));
    }
    items
        .iter()
        .map(|item| match item {
            HeaderValue::Bytes(bytes) => Ok(bytes.clone()),
            _ => Err(VerifyError::Malformed("disclosure is not a byte string")),
        })
        .collect()
}

pub(super) fn bstr_array(items: Vec<Vec<u8>>) -> HeaderValue {
    HeaderValue::Array(items.into_iter().map(HeaderValue::Bytes).collect())
}

/// `{1: COSE_Key}` key labels and values (RFC 9052 §7, RFC 9053 §7.1.1).
const KTY: i64 = 1;
const KTY_EC2: i64 = 2;
const CRV: i64 = -1;
const CRV_P256: i64 = 1;
const X: i64 = -2;
const Y: i64 = -3;

pub(super) fn cose_key(key: &P256PublicKey) -> Cbor {
    Cbor::Map(vec![
        (int(KTY), int(KTY_EC2)),
        (int(CRV), int(CRV_P256)),
        (int(X), Cbor::Bytes(key.x().to_vec())),
        (int(Y), Cbor::Bytes(key.y().to_vec())),
    ])
}

/// COSE Key Thumbprint (RFC 9679 §3): SHA-256 over the deterministic
/// encoding of the key's required members (`kty`, `crv`, `x`, `y`).
pub(super) fn thumbprint(key: &P256PublicKey) -> Result<Vec<u8>, IssueError> {
    let encoded = cbor::encode(&cbor::deterministic(cose_key(key))?)?;
    Ok(sha256(&encoded).as_ref().to_vec())
}

/// The holder key from `cnf`: one confirmation method, either `{1:
/// COSE_Key}` (EC2 P-256) or `{5: ckt}` (RFC 9679). A thumbprint names the
/// key without carrying it, so it must be the thumbprint of `presenter`, the
/// key the caller knows the presenter holds.
pub(super) fn holder_key(
    payload: &[(Cbor, Cbor)],
    presenter: Option<&P256PublicKey>,
) -> Result<P256PublicKey, VerifyError> {
    let malformed = || VerifyError::Malformed("cnf");
    let Some(Cbor::Map(cnf)) = get(payload, CNF) else {
        return Err(malformed());
    };
    match (get(cnf, CNF_COSE_KEY), get(cnf, CNF_CKT), cnf.len()) {
        (Some(Cbor::Map(key)), None, 1) => from_cose_key(key),
        (None, Some(Cbor::Bytes(ckt)), 1) => {
            let presenter = presenter.ok_or(VerifyError::CnfThumbprintMismatch)?;
            let expected = thumbprint(presenter).map_err(|_| malformed())?;
            if *ckt == expected {
                Ok(presenter.clone())
            } else {
                Err(VerifyError::CnfThumbprintMismatch)
            }
        }
        _ => Err(malformed()),
    }
}

fn from_cose_key(key: &[(Cbor, Cbor)]) -> Result<P256PublicKey, VerifyError> {
    let malformed = || VerifyError::Malformed("cnf");
    let is = |label, expected| get(key, label).and_then(as_i64) == Some(expected);
    if !is(KTY, KTY_EC2) || !is(CRV, CRV_P256) {
        return Err(malformed());
    }
    let (Some(Cbor::Bytes(x)), Some(Cbor::Bytes(y))) = (get(key, X), get(key, Y)) else {
        return Err(malformed());
    };
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(4);
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    P256PublicKey::from_sec1(&sec1).map_err(|_| malformed())
}

pub(super) fn validity(payload: &[(Cbor, Cbor)]) -> Result<Validity, VerifyError> {
    let time = |label: i64| match get(payload, label) {
        None => Ok(None),
        Some(value) => {
            as_i64(value).map(Some).ok_or(VerifyError::Malformed("time claim is not an integer"))
        }
    };
    Ok(Validity { issued_at: time(IAT)?, not_before: time(NBF)?, expires_at: time(EXP)? })
}
