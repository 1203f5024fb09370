//! CBOR values for SD-CWT payloads and disclosures.
//!
//! `ciborium::Value` has no variant for simple values other than booleans and
//! null, so it cannot carry `simple(59)` (the redacted-keys marker). This
//! small value type sits on ciborium-ll's header codec instead. Decoding
//! refuses indefinite lengths (§6: definite-length only) and deep nesting;
//! encoding is deterministic (RFC 8949 §4.2.1: shortest forms, definite
//! lengths, map keys sorted bytewise by their encoding).

use base64ct::{Base64UrlUnpadded, Encoding};
use ciborium_ll::{Decoder, Encoder, Header, simple};
use serde_json::{Map, Number, Value as Json};

use crate::formats::disclosure::{IssueError, MAX_DEPTH, VerifyError};

/// Deepest nesting the decoder accepts; the claim walk then applies
/// [`MAX_DEPTH`] to claim values.
const MAX_DECODE_DEPTH: usize = MAX_DEPTH + 8;
const CHUNK: usize = 4096;

/// CWT claim keys (RFC 8392, RFC 9200 `cnonce`, SD-CWT `vct`, Token
/// Status List `status`) and the JWT
/// names they are reported under.
const REGISTERED_CLAIMS: &[(i128, &str)] = &[
    (1, "iss"),
    (2, "sub"),
    (3, "aud"),
    (4, "exp"),
    (5, "nbf"),
    (6, "iat"),
    (7, "cti"),
    (8, "cnf"),
    (11, "vct"),
    (39, "cnonce"),
    // draft-ietf-oauth-status-list §6.2 (its IANA request; 65535 until assigned).
    (65535, "status"),
];

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cbor {
    Int(i128),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
    Tag(u64, Box<Cbor>),
    Bool(bool),
    Null,
    /// Any other simple value, e.g. `simple(59)`.
    Simple(u8),
    Float(f64),
}

pub(super) fn int(value: i64) -> Cbor {
    Cbor::Int(i128::from(value))
}

pub(super) fn encode(value: &Cbor) -> Result<Vec<u8>, IssueError> {
    let mut out = Vec::new();
    write(&mut Encoder::from(&mut out), value).map_err(|_| IssueError::Encoding("CBOR"))?;
    Ok(out)
}

fn write(encoder: &mut Encoder<&mut Vec<u8>>, value: &Cbor) -> Result<(), std::io::Error> {
    match value {
        Cbor::Int(i) => encoder.push(int_header(*i)?),
        Cbor::Bytes(bytes) => encoder.bytes(bytes, None),
        Cbor::Text(text) => encoder.text(text, None),
        Cbor::Array(items) => {
            encoder.push(Header::Array(Some(items.len())))?;
            items.iter().try_for_each(|item| write(encoder, item))
        }
        Cbor::Map(entries) => {
            encoder.push(Header::Map(Some(entries.len())))?;
            entries.iter().try_for_each(|(k, v)| write(encoder, k).and_then(|()| write(encoder, v)))
        }
        Cbor::Tag(tag, inner) => {
            encoder.push(Header::Tag(*tag))?;
            write(encoder, inner)
        }
        Cbor::Bool(b) => {
            encoder.push(Header::Simple(if *b { simple::TRUE } else { simple::FALSE }))
        }
        Cbor::Null => encoder.push(Header::Simple(simple::NULL)),
        Cbor::Simple(n) => encoder.push(Header::Simple(*n)),
        Cbor::Float(f) => encoder.push(Header::Float(*f)),
    }
}

fn int_header(i: i128) -> Result<Header, std::io::Error> {
    let out_of_range = || std::io::Error::from(std::io::ErrorKind::InvalidInput);
    if i >= 0 {
        u64::try_from(i).map(Header::Positive).map_err(|_| out_of_range())
    } else {
        u64::try_from(-1 - i).map(Header::Negative).map_err(|_| out_of_range())
    }
}

/// Decodes exactly one definite-length CBOR item.
pub(super) fn decode(bytes: &[u8]) -> Result<Cbor, VerifyError> {
    let mut decoder = Decoder::from(bytes);
    let value = read(&mut decoder, bytes.len(), 0)?;
    if decoder.offset() != bytes.len() {
        return Err(VerifyError::Malformed("trailing bytes after CBOR item"));
    }
    Ok(value)
}

fn read(decoder: &mut Decoder<&[u8]>, total: usize, depth: usize) -> Result<Cbor, VerifyError> {
    if depth > MAX_DECODE_DEPTH {
        return Err(VerifyError::TooLarge("CBOR nesting depth"));
    }
    let invalid = |_| VerifyError::Malformed("invalid CBOR");
    // Every item takes at least one byte, so no length may exceed what is left.
    let left = total.saturating_sub(decoder.offset());
    Ok(match decoder.pull().map_err(invalid)? {
        Header::Positive(n) => Cbor::Int(i128::from(n)),
        Header::Negative(n) => Cbor::Int(-1 - i128::from(n)),
        Header::Bytes(Some(len)) if len <= left => {
            let mut out = Vec::with_capacity(len);
            let mut segments = decoder.bytes(Some(len));
            while let Some(mut segment) = segments.pull().map_err(invalid)? {
                let mut buffer = [0u8; CHUNK];
                while let Some(chunk) = segment.pull(&mut buffer).map_err(invalid)? {
                    out.extend_from_slice(chunk);
                }
            }
            Cbor::Bytes(out)
        }
        Header::Text(Some(len)) if len <= left => {
            let mut out = String::with_capacity(len);
            let mut segments = decoder.text(Some(len));
            while let Some(mut segment) = segments.pull().map_err(invalid)? {
                let mut buffer = [0u8; CHUNK];
                while let Some(chunk) = segment.pull(&mut buffer).map_err(invalid)? {
                    out.push_str(chunk);
                }
            }
            Cbor::Text(out)
        }
        Header::Array(Some(len)) if len <= left => {
            let items = (0..len).map(|_| read(decoder, total, depth + 1));
            Cbor::Array(items.collect::<Result<_, _>>()?)
        }
        Header::Map(Some(len)) if len <= left / 2 => {
            let entries = (0..len)
                .map(|_| Ok((read(decoder, total, depth + 1)?, read(decoder, total, depth + 1)?)));
            Cbor::Map(entries.collect::<Result<_, VerifyError>>()?)
        }
        Header::Tag(tag) => Cbor::Tag(tag, Box::new(read(decoder, total, depth + 1)?)),
        Header::Simple(simple::FALSE) => Cbor::Bool(false),
        Header::Simple(simple::TRUE) => Cbor::Bool(true),
        Header::Simple(simple::NULL) => Cbor::Null,
        Header::Simple(n) => Cbor::Simple(n),
        Header::Float(f) => Cbor::Float(f),
        Header::Bytes(None) | Header::Text(None) | Header::Array(None) | Header::Map(None) => {
            return Err(VerifyError::Malformed("indefinite-length CBOR"));
        }
        _ => return Err(VerifyError::Malformed("invalid CBOR")),
    })
}

/// Sorts every map by the bytewise order of its encoded keys, recursively.
pub(super) fn deterministic(value: Cbor) -> Result<Cbor, IssueError> {
    Ok(match value {
        Cbor::Map(entries) => {
            let mut keyed = entries
                .into_iter()
                .map(|(k, v)| Ok((encode(&k)?, k, deterministic(v)?)))
                .collect::<Result<Vec<_>, IssueError>>()?;
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            Cbor::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Cbor::Array(items) => {
            Cbor::Array(items.into_iter().map(deterministic).collect::<Result<_, _>>()?)
        }
        Cbor::Tag(tag, inner) => Cbor::Tag(tag, Box::new(deterministic(*inner)?)),
        other => other,
    })
}

/// JSON to CBOR: objects become maps with text keys, integers stay integers.
pub(super) fn from_json(value: &Json) -> Cbor {
    match value {
        Json::Null => Cbor::Null,
        Json::Bool(b) => Cbor::Bool(*b),
        Json::Number(n) => number_to_cbor(n),
        Json::String(s) => Cbor::Text(s.clone()),
        Json::Array(items) => Cbor::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => {
            Cbor::Map(map.iter().map(|(k, v)| (Cbor::Text(k.clone()), from_json(v))).collect())
        }
    }
}

fn number_to_cbor(n: &Number) -> Cbor {
    if let Some(i) = n.as_i64() {
        Cbor::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Cbor::Int(i128::from(u))
    } else {
        // serde_json numbers are finite, so this is always a plain float.
        Cbor::Float(n.as_f64().unwrap_or_default())
    }
}

/// The JSON name of a top-level claim key: registered integers by name,
/// other integers as decimal text.
pub(super) fn claim_name(key: &Cbor) -> Result<String, VerifyError> {
    match key {
        Cbor::Int(i) => Ok(REGISTERED_CLAIMS
            .iter()
            .find(|(label, _)| label == i)
            .map_or_else(|| i.to_string(), |(_, name)| (*name).to_owned())),
        Cbor::Text(text) => Ok(text.clone()),
        _ => Err(VerifyError::Malformed("claim key is neither integer nor text")),
    }
}

/// Top-level claims to JSON, naming registered claims; a text key that
/// collides with a registered name or an integer key is refused.
pub(super) fn claims_to_json(entries: Vec<(Cbor, Cbor)>) -> Result<Map<String, Json>, VerifyError> {
    let mut out = Map::with_capacity(entries.len());
    for (key, value) in entries {
        if out.insert(claim_name(&key)?, to_json(value)?).is_some() {
            return Err(VerifyError::Malformed("two claims map to the same name"));
        }
    }
    Ok(out)
}

/// CBOR to JSON for claim values. Byte strings become base64url text, tags
/// are dropped (their content is kept), nested integer keys become decimal
/// text. Depth was already bounded by the decoder.
pub(super) fn to_json(value: Cbor) -> Result<Json, VerifyError> {
    Ok(match value {
        Cbor::Null => Json::Null,
        Cbor::Bool(b) => Json::Bool(b),
        Cbor::Int(i) => integer_to_json(i)?,
        Cbor::Float(f) => Number::from_f64(f)
            .map(Json::Number)
            .ok_or(VerifyError::Malformed("non-finite float"))?,
        Cbor::Text(s) => Json::String(s),
        Cbor::Bytes(b) => Json::String(Base64UrlUnpadded::encode_string(&b)),
        Cbor::Array(items) => {
            Json::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Cbor::Map(entries) => {
            let mut out = Map::with_capacity(entries.len());
            for (key, value) in entries {
                let name = match key {
                    Cbor::Int(i) => i.to_string(),
                    Cbor::Text(text) => text,
                    _ => return Err(VerifyError::Malformed("map key is neither integer nor text")),
                };
                if out.insert(name, to_json(value)?).is_some() {
                    return Err(VerifyError::Malformed("two map keys map to the same name"));
                }
            }
            Json::Object(out)
        }
        Cbor::Tag(_, inner) => to_json(*inner)?,
        Cbor::Simple(_) => return Err(VerifyError::Malformed("unsupported simple value")),
    })
}

fn integer_to_json(i: i128) -> Result<Json, VerifyError> {
    if let Ok(small) = i64::try_from(i) {
        Ok(Json::from(small))
    } else if let Ok(big) = u64::try_from(i) {
        Ok(Json::from(big))
    } else {
        Err(VerifyError::Malformed("integer out of range"))
    }
}

/// Looks up an integer-labelled entry of a CBOR map.
pub(super) fn get(entries: &[(Cbor, Cbor)], label: i64) -> Option<&Cbor> {
    let label = i128::from(label);
    entries.iter().find(|(k, _)| *k == Cbor::Int(label)).map(|(_, v)| v)
}

pub(super) fn as_i64(value: &Cbor) -> Option<i64> {
    match value {
        Cbor::Int(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}
