//! Token Status Lists (draft-ietf-oauth-status-list): a compressed array of
//! 2-bit statuses, one per credential, published in a signed Status List
//! Token, as a JWT (`statuslist+jwt`) or a CWT (`application/statuslist+cwt`).
//!
//! Statuses are 0x00 VALID, 0x01 INVALID (revoked) and 0x02 SUSPENDED
//! (§7.1). Entry `i` sits in byte `i / 4` at bit `2 * (i % 4)`, least
//! significant bits first (§4.1); the bytes are zlib-compressed (RFC 1950).

use std::io::{Read, Write};

use base64ct::{Base64UrlUnpadded, Encoding};
use ciborium::Value as Cbor;
use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, RegisteredLabelWithPrivate,
    TaggedCborSerializable, iana,
};
use serde_json::{Value, json};

use super::disclosure::{IssuerKey, VerifyError};
use super::jws::{self, Jws};
use super::keys::signer::{Es256Signer, SignError};

/// Bits per entry: VALID, INVALID and SUSPENDED need two.
pub const BITS: u8 = 2;
const PER_BYTE: usize = 8 / BITS as usize;
pub const JWT_TYP: &str = "statuslist+jwt";
pub const CWT_TYP: &str = "application/statuslist+cwt";
/// CWT claim keys (§6.2, §5.2): `ttl` and `status_list` (requested values).
const CWT_TTL: i64 = 65534;
const CWT_STATUS_LIST: i64 = 65533;
const CWT_SUB: i64 = 2;
const CWT_EXP: i64 = 4;
const CWT_IAT: i64 = 6;
/// COSE header `typ` (RFC 9596).
const HEADER_TYP: i64 = 16;
/// Largest list a verifier inflates: 2^24 entries, 4 MiB, so a small token
/// cannot expand into an unbounded allocation.
pub const MAX_ENTRIES: usize = 1 << 24;

/// One credential's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Valid = 0,
    Invalid = 1,
    Suspended = 2,
}

/// Why a Status List Token was refused.
#[derive(Debug, thiserror::Error)]
pub enum StatusListError {
    #[error("the status list token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the status list token's signature does not verify: {0}")]
    Signature(VerifyError),
    #[error("the status list token is for another list")]
    WrongList,
    #[error("the status list token has expired")]
    Expired,
    #[error("the index is outside the list")]
    OutOfRange,
    #[error("the status list token could not be signed: {0}")]
    Sign(#[from] SignError),
    #[error("the status list token could not be encoded")]
    Encoding,
}

/// A list being built, every entry VALID.
#[derive(Debug, Clone)]
pub struct StatusList {
    bytes: Vec<u8>,
}

impl StatusList {
    pub fn new(entries: usize) -> Self {
        Self { bytes: vec![0; entries.div_ceil(PER_BYTE)] }
    }

    pub fn set(&mut self, idx: usize, status: Status) -> Result<(), StatusListError> {
        let byte = self.bytes.get_mut(idx / PER_BYTE).ok_or(StatusListError::OutOfRange)?;
        let shift = (idx % PER_BYTE) * BITS as usize;
        *byte = (*byte & !(0b11 << shift)) | ((status as u8) << shift);
        Ok(())
    }

    pub fn get(&self, idx: usize) -> Result<u8, StatusListError> {
        let byte = self.bytes.get(idx / PER_BYTE).ok_or(StatusListError::OutOfRange)?;
        Ok((byte >> ((idx % PER_BYTE) * BITS as usize)) & 0b11)
    }

    pub fn entries(&self) -> usize {
        self.bytes.len() * PER_BYTE
    }

    /// The zlib-compressed bytes (`lst`).
    pub fn compressed(&self) -> Result<Vec<u8>, StatusListError> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&self.bytes).map_err(|_| StatusListError::Encoding)?;
        encoder.finish().map_err(|_| StatusListError::Encoding)
    }

    /// Inflates `lst`, refusing more than [`MAX_ENTRIES`].
    pub fn from_compressed(lst: &[u8]) -> Result<Self, StatusListError> {
        let limit = (MAX_ENTRIES / PER_BYTE) as u64;
        let mut bytes = Vec::new();
        flate2::read::ZlibDecoder::new(lst)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| StatusListError::Malformed("lst is not zlib"))?;
        if bytes.len() as u64 > limit {
            return Err(StatusListError::Malformed("lst inflates beyond the largest list"));
        }
        Ok(Self { bytes })
    }
}

/// What a Status List Token says, once verified.
#[derive(Debug, Clone)]
pub struct ListToken {
    pub list: StatusList,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Seconds a verifier may keep the token before fetching it again.
    pub ttl: i64,
}

/// The token's times and where it is served.
#[derive(Debug, Clone, Copy)]
pub struct TokenTimes {
    pub issued_at: i64,
    pub expires_at: i64,
    pub ttl: i64,
}

/// A Status List Token as a JWT (§5.1).
pub fn sign_jwt(
    list: &StatusList,
    uri: &str,
    times: TokenTimes,
    signer: &Es256Signer,
) -> Result<String, StatusListError> {
    let lst = list.compressed()?;
    let header = json!({"alg": jws::ES256, "typ": JWT_TYP, "kid": signer.kid()});
    let payload = json!({
        "sub": uri,
        "iat": times.issued_at,
        "exp": times.expires_at,
        "ttl": times.ttl,
        "status_list": {"bits": BITS, "lst": Base64UrlUnpadded::encode_string(&lst)},
    });
    Ok(jws::sign(&header, &payload, signer)?)
}

/// A Status List Token as a CWT (§5.2), signed with ESP256.
pub fn sign_cwt(
    list: &StatusList,
    uri: &str,
    times: TokenTimes,
    signer: &Es256Signer,
) -> Result<Vec<u8>, StatusListError> {
    let lst = list.compressed()?;
    let status_list = Cbor::Map(vec![
        (Cbor::Text("bits".into()), Cbor::Integer(BITS.into())),
        (Cbor::Text("lst".into()), Cbor::Bytes(lst)),
    ]);
    let claims = Cbor::Map(vec![
        (Cbor::Integer(CWT_SUB.into()), Cbor::Text(uri.into())),
        (Cbor::Integer(CWT_EXP.into()), Cbor::Integer(times.expires_at.into())),
        (Cbor::Integer(CWT_IAT.into()), Cbor::Integer(times.issued_at.into())),
        (Cbor::Integer(CWT_STATUS_LIST.into()), status_list),
        (Cbor::Integer(CWT_TTL.into()), Cbor::Integer(times.ttl.into())),
    ]);
    let mut payload = Vec::new();
    ciborium::into_writer(&claims, &mut payload).map_err(|_| StatusListError::Encoding)?;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ESP256)
        .key_id(signer.kid().as_bytes().to_vec())
        .value(HEADER_TYP, CWT_TYP.into())
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .try_create_signature(&[], |tbs| signer.sign(tbs).map(|s| s.to_vec()))?
        .build();
    sign1.to_tagged_vec().map_err(|_| StatusListError::Encoding)
}

/// Verifies a JWT Status List Token for `uri` against the issuer's keys.
pub fn verify_jwt(
    token: &str,
    keys: &[IssuerKey],
    uri: &str,
    now: i64,
) -> Result<ListToken, StatusListError> {
    let jws = Jws::parse(token).map_err(StatusListError::Signature)?;
    jws.require_es256().map_err(StatusListError::Signature)?;
    if jws.header_str("typ") != Some(JWT_TYP) {
        return Err(StatusListError::Malformed("typ is not statuslist+jwt"));
    }
    let kid = jws.header_str("kid").ok_or(StatusListError::Malformed("no kid"))?;
    let key = keys
        .iter()
        .find(|key| key.kid() == kid)
        .ok_or(StatusListError::Signature(VerifyError::UnknownIssuerKey))?;
    if !key.verify(jws.signing_input.as_bytes(), &jws.signature) {
        return Err(StatusListError::Signature(VerifyError::IssuerSignatureInvalid));
    }
    let claims = &jws.payload;
    if claims.get("sub").and_then(Value::as_str) != Some(uri) {
        return Err(StatusListError::WrongList);
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    let list = claims.get("status_list").ok_or(StatusListError::Malformed("no status_list"))?;
    if list.get("bits").and_then(Value::as_u64) != Some(u64::from(BITS)) {
        return Err(StatusListError::Malformed("bits is not 2"));
    }
    let lst = list
        .get("lst")
        .and_then(Value::as_str)
        .and_then(|text| Base64UrlUnpadded::decode_vec(text).ok())
        .ok_or(StatusListError::Malformed("lst is not base64url"))?;
    finish(&lst, time("iat"), time("exp"), time("ttl"), now)
}

/// Verifies a CWT Status List Token for `uri` against the issuer's keys.
pub fn verify_cwt(
    token: &[u8],
    keys: &[IssuerKey],
    uri: &str,
    now: i64,
) -> Result<ListToken, StatusListError> {
    let malformed = |what| StatusListError::Malformed(what);
    let sign1 = CoseSign1::from_tagged_slice(token)
        .or_else(|_| CoseSign1::from_slice(token))
        .map_err(|_| malformed("not a COSE_Sign1"))?;
    let header = &sign1.protected.header;
    let fully_or_poly = [iana::Algorithm::ESP256, iana::Algorithm::ES256];
    if !fully_or_poly
        .iter()
        .any(|alg| header.alg == Some(RegisteredLabelWithPrivate::Assigned(*alg)))
    {
        return Err(StatusListError::Signature(VerifyError::UnsupportedAlg));
    }
    let typ = header.rest.iter().find(|(label, _)| *label == coset::Label::Int(HEADER_TYP));
    if typ.and_then(|(_, value)| value.as_text()) != Some(CWT_TYP) {
        return Err(malformed("typ is not application/statuslist+cwt"));
    }
    let kid = std::str::from_utf8(&header.key_id).map_err(|_| malformed("kid"))?;
    let key = keys
        .iter()
        .find(|key| key.kid() == kid)
        .ok_or(StatusListError::Signature(VerifyError::UnknownIssuerKey))?;
    sign1
        .verify_signature(
            &[],
            |signature, tbs| {
                if key.verify(tbs, signature) { Ok(()) } else { Err(()) }
            },
        )
        .map_err(|_| StatusListError::Signature(VerifyError::IssuerSignatureInvalid))?;
    let payload = sign1.payload.as_deref().ok_or(malformed("no payload"))?;
    let claims: Cbor = ciborium::from_reader(payload).map_err(|_| malformed("payload"))?;
    let claims = claims.as_map().ok_or(malformed("claims are not a map"))?;
    let claim =
        |key: i64| claims.iter().find(|(k, _)| k.as_integer() == Some(key.into())).map(|(_, v)| v);
    let time = |key: i64| claim(key).and_then(Cbor::as_integer).and_then(|i| i64::try_from(i).ok());
    if claim(CWT_SUB).and_then(Cbor::as_text) != Some(uri) {
        return Err(StatusListError::WrongList);
    }
    let list = claim(CWT_STATUS_LIST).and_then(Cbor::as_map).ok_or(malformed("no status_list"))?;
    let field = |name: &str| list.iter().find(|(k, _)| k.as_text() == Some(name)).map(|(_, v)| v);
    if field("bits").and_then(Cbor::as_integer) != Some(BITS.into()) {
        return Err(malformed("bits is not 2"));
    }
    let lst = field("lst").and_then(Cbor::as_bytes).ok_or(malformed("lst is not bytes"))?;
    finish(lst, time(CWT_IAT), time(CWT_EXP), time(CWT_TTL), now)
}

fn finish(
    lst: &[u8],
    iat: Option<i64>,
    exp: Option<i64>,
    ttl: Option<i64>,
    now: i64,
) -> Result<ListToken, StatusListError> {
    let (Some(issued_at), Some(expires_at)) = (iat, exp) else {
        return Err(StatusListError::Malformed("iat and exp are required"));
    };
    if expires_at <= now {
        return Err(StatusListError::Expired);
    }
    let list = StatusList::from_compressed(lst)?;
    Ok(ListToken { list, issued_at, expires_at, ttl: ttl.unwrap_or(0).max(0) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::keys::signer::Es256Signer;

    const URI: &str = "https://example.com/v1/status-lists/3";
    const TIMES: TokenTimes = TokenTimes { issued_at: 1_000, expires_at: 2_000, ttl: 300 };

    fn signer() -> Es256Signer {
        Es256Signer::generate("status").unwrap().0
    }

    /// The draft's §4.1 example for 2 bits: statuses
    /// [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3] pack into bytes C9 44 F9.
    #[test]
    fn entries_pack_as_the_draft_example() {
        let statuses = [1u8, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
        let mut list = StatusList::new(statuses.len());
        for (i, s) in statuses.iter().enumerate() {
            let byte = &mut list.bytes[i / PER_BYTE];
            *byte |= s << ((i % PER_BYTE) * 2);
        }
        assert_eq!(list.bytes, [0xC9, 0x44, 0xF9]);
        for (i, s) in statuses.iter().enumerate() {
            assert_eq!(list.get(i).unwrap(), *s, "{i}");
        }
    }

    #[test]
    fn both_token_forms_round_trip_and_bind_the_list_uri() {
        let signer = signer();
        let keys = [IssuerKey::es256(signer.kid(), signer.public_key())];
        let mut list = StatusList::new(1 << 17);
        list.set(7, Status::Invalid).unwrap();
        list.set(1 << 16, Status::Suspended).unwrap();
        list.set(7, Status::Invalid).unwrap();
        let jwt = sign_jwt(&list, URI, TIMES, &signer).unwrap();
        let cwt = sign_cwt(&list, URI, TIMES, &signer).unwrap();
        for token in [
            verify_jwt(&jwt, &keys, URI, 1_500).unwrap(),
            verify_cwt(&cwt, &keys, URI, 1_500).unwrap(),
        ] {
            assert_eq!(token.list.get(7).unwrap(), Status::Invalid as u8);
            assert_eq!(token.list.get(1 << 16).unwrap(), Status::Suspended as u8);
            assert_eq!(token.list.get(8).unwrap(), Status::Valid as u8);
            assert_eq!(token.ttl, 300);
            assert!(token.list.get(1 << 17).is_err());
        }
        let other = "https://example.com/v1/status-lists/4";
        assert!(matches!(verify_jwt(&jwt, &keys, other, 1_500), Err(StatusListError::WrongList)));
        assert!(matches!(verify_cwt(&cwt, &keys, other, 1_500), Err(StatusListError::WrongList)));
        assert!(matches!(verify_jwt(&jwt, &keys, URI, 2_000), Err(StatusListError::Expired)));
        let stranger = signer_keys();
        assert!(verify_jwt(&jwt, &stranger, URI, 1_500).is_err());
        assert!(verify_cwt(&cwt, &stranger, URI, 1_500).is_err());
        // A large list of mostly valid entries compresses to little.
        assert!(list.compressed().unwrap().len() < 200, "{}", list.compressed().unwrap().len());
    }

    fn signer_keys() -> Vec<IssuerKey> {
        let other = signer();
        vec![IssuerKey::es256("status", other.public_key())]
    }

    #[test]
    fn a_zlib_bomb_is_refused() {
        let huge = StatusList::new(MAX_ENTRIES + PER_BYTE);
        let lst = huge.compressed().unwrap();
        assert!(lst.len() < 10_000);
        assert!(StatusList::from_compressed(&lst).is_err());
        assert!(StatusList::from_compressed(b"not zlib").is_err());
    }
}
