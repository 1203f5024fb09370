//! SD-CWT salted disclosures and redacted claims (draft-ietf-spice-sd-cwt-07
//! §5.1, §7, §9): making them (issuer) and matching presented ones against
//! the signed digests (verifier).

use std::collections::{HashMap, HashSet};

use super::cbor::{self, Cbor};
use crate::formats::disclosure::{
    IssueError, MAX_DEPTH, SALT_LEN, VerifyError, random_salt, sha256,
};

/// Map key whose value lists the digests of redacted map entries.
pub(super) const REDACTED_KEYS: u8 = 59;
/// Tag wrapping the digest of a redacted array element.
const REDACTED_ELEMENT: u64 = 60;
/// Pre-issuance "to be redacted" marker; never valid in an issued token.
const TO_BE_REDACTED: u64 = 58;
/// Claims that are mandatory to disclose (§7): `iss`, `aud`, `exp`, `nbf`,
/// `iat`, `cti`, `cnf`, `cnonce`. A disclosure for one of them is refused.
const NEVER_REDACTED: &[i64] = &[1, 3, 4, 5, 6, 7, 8, 39];

/// The digest of one disclosure: SHA-256 over the complete CBOR encoding of
/// its byte string (the bstr header followed by the encoded salted array).
///
/// The draft is inconsistent here: its CDDL (`bstr .cbor salted-entry`) and
/// worked example in §3.2 hash only the inner array, while its generator and
/// every example token hash the wrapped bstr. This follows the tokens, which
/// is what other implementations interoperate with.
pub(super) fn digest(disclosure: &[u8]) -> Result<Vec<u8>, IssueError> {
    let wrapped = cbor::encode(&Cbor::Bytes(disclosure.to_vec()))?;
    Ok(sha256(&wrapped).as_ref().to_vec())
}

/// A salted map entry `[salt, value, key]` (value before key, unlike SD-JWT),
/// returned as `(digest, encoded disclosure)`.
pub(super) fn claim(name: &str, value: Cbor) -> Result<(Vec<u8>, Vec<u8>), IssueError> {
    salted(vec![value, Cbor::Text(name.to_owned())])
}

/// A decoy `[salt]`; unlike SD-JWT the holder receives it too (§10).
pub(super) fn decoy() -> Result<(Vec<u8>, Vec<u8>), IssueError> {
    salted(Vec::new())
}

fn salted(rest: Vec<Cbor>) -> Result<(Vec<u8>, Vec<u8>), IssueError> {
    let mut items = vec![Cbor::Bytes(random_salt()?.to_vec())];
    items.extend(rest);
    let encoded = cbor::encode(&cbor::deterministic(Cbor::Array(items))?)?;
    Ok((digest(&encoded)?, encoded))
}

/// A decoded salted disclosure.
pub(super) enum Salted {
    Claim { key: Cbor, value: Cbor },
    Element(Cbor),
    Decoy,
}

pub(super) fn decode(disclosure: &[u8]) -> Result<Salted, VerifyError> {
    let Cbor::Array(items) = cbor::decode(disclosure)? else {
        return Err(VerifyError::Malformed("disclosure is not an array"));
    };
    let mut items = items.into_iter();
    match (items.next(), items.next(), items.next(), items.next()) {
        (Some(Cbor::Bytes(salt)), value, key, None) if salt.len() == SALT_LEN => match (value, key)
        {
            (None, None) => Ok(Salted::Decoy),
            (Some(value), None) => Ok(Salted::Element(value)),
            (Some(value), Some(key @ (Cbor::Int(_) | Cbor::Text(_)))) => {
                Ok(Salted::Claim { key, value })
            }
            _ => Err(VerifyError::Malformed("disclosure key is neither integer nor text")),
        },
        _ => Err(VerifyError::Malformed("disclosure has the wrong shape")),
    }
}

/// The claim name a disclosure reveals, for holder selection.
pub(super) fn claim_name(disclosure: &[u8]) -> Option<String> {
    match decode(disclosure).ok()? {
        Salted::Claim { key, .. } => cbor::claim_name(&key).ok(),
        Salted::Element(_) | Salted::Decoy => None,
    }
}

pub(super) struct Resolved {
    pub claims: Vec<(Cbor, Cbor)>,
    pub disclosed: Vec<(Cbor, Cbor)>,
}

/// Restores every redacted entry a presented disclosure matches, drops the
/// remaining digests, and refuses leftover or duplicate disclosures (§9).
pub(super) fn resolve(
    payload: Vec<(Cbor, Cbor)>,
    presented: &[Vec<u8>],
) -> Result<Resolved, VerifyError> {
    let mut pending = HashMap::with_capacity(presented.len());
    for disclosure in presented {
        let digest = digest(disclosure).map_err(|_| VerifyError::Malformed("disclosure"))?;
        if pending.insert(digest, decode(disclosure)?).is_some() {
            return Err(VerifyError::DuplicateDisclosure);
        }
    }
    let mut walk = Walk { pending, seen: HashSet::new(), disclosed: Vec::new() };
    let claims = walk.map(payload, 0)?;
    if !walk.pending.is_empty() {
        return Err(VerifyError::UnknownDisclosure);
    }
    Ok(Resolved { claims, disclosed: walk.disclosed })
}

/// A map key, for duplicate detection in linear time.
#[derive(PartialEq, Eq, Hash)]
enum KeyId {
    Int(i128),
    Text(String),
}

fn key_id(key: &Cbor) -> Result<KeyId, VerifyError> {
    match key {
        Cbor::Int(i) => Ok(KeyId::Int(*i)),
        Cbor::Text(text) => Ok(KeyId::Text(text.clone())),
        Cbor::Tag(TO_BE_REDACTED, _) => {
            Err(VerifyError::Malformed("unredacted 'to be redacted' key"))
        }
        _ => Err(VerifyError::Malformed("map key is neither integer nor text")),
    }
}

struct Walk {
    pending: HashMap<Vec<u8>, Salted>,
    seen: HashSet<Vec<u8>>,
    disclosed: Vec<(Cbor, Cbor)>,
}

impl Walk {
    fn take(&mut self, digest: &Cbor) -> Result<Option<Salted>, VerifyError> {
        let Cbor::Bytes(digest) = digest else {
            return Err(VerifyError::Malformed("digest is not a byte string"));
        };
        if !self.seen.insert(digest.clone()) {
            return Err(VerifyError::DuplicateDisclosure);
        }
        Ok(self.pending.remove(digest))
    }

    fn map(
        &mut self,
        entries: Vec<(Cbor, Cbor)>,
        depth: usize,
    ) -> Result<Vec<(Cbor, Cbor)>, VerifyError> {
        let mut keys = HashSet::with_capacity(entries.len());
        let mut out = Vec::with_capacity(entries.len());
        let mut digests = None;
        for (key, value) in entries {
            if key == Cbor::Simple(REDACTED_KEYS) {
                let Cbor::Array(list) = value else {
                    return Err(VerifyError::Malformed("redacted keys is not an array"));
                };
                if digests.replace(list).is_some() {
                    return Err(VerifyError::Malformed("duplicate map key"));
                }
                continue;
            }
            if !keys.insert(key_id(&key)?) {
                return Err(VerifyError::Malformed("duplicate map key"));
            }
            out.push((key, self.value(value, depth + 1)?));
        }
        for digest in digests.unwrap_or_default() {
            match self.take(&digest)? {
                None | Some(Salted::Decoy) => {}
                Some(Salted::Element(_)) => {
                    return Err(VerifyError::Malformed(
                        "array element disclosure used for a map entry",
                    ));
                }
                Some(Salted::Claim { key, value }) => {
                    if !keys.insert(key_id(&key)?) {
                        return Err(VerifyError::Malformed("disclosed key already present"));
                    }
                    self.insert(&mut out, key, value, depth)?;
                }
            }
        }
        Ok(out)
    }

    fn insert(
        &mut self,
        out: &mut Vec<(Cbor, Cbor)>,
        key: Cbor,
        value: Cbor,
        depth: usize,
    ) -> Result<(), VerifyError> {
        let value = self.value(value, depth + 1)?;
        if depth == 0 {
            if cbor::as_i64(&key).is_some_and(|label| NEVER_REDACTED.contains(&label)) {
                return Err(VerifyError::Malformed("claim must not be redacted"));
            }
            self.disclosed.push((key.clone(), value.clone()));
        }
        out.push((key, value));
        Ok(())
    }

    fn array(&mut self, items: Vec<Cbor>, depth: usize) -> Result<Vec<Cbor>, VerifyError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Cbor::Tag(REDACTED_ELEMENT, digest) => match self.take(&digest)? {
                    None | Some(Salted::Decoy) => {}
                    Some(Salted::Element(value)) => out.push(self.value(value, depth + 1)?),
                    Some(Salted::Claim { .. }) => {
                        return Err(VerifyError::Malformed(
                            "map entry disclosure used for an array element",
                        ));
                    }
                },
                other => out.push(self.value(other, depth + 1)?),
            }
        }
        Ok(out)
    }

    fn value(&mut self, value: Cbor, depth: usize) -> Result<Cbor, VerifyError> {
        if depth > MAX_DEPTH && matches!(value, Cbor::Map(_) | Cbor::Array(_) | Cbor::Tag(..)) {
            return Err(VerifyError::TooLarge("nesting depth"));
        }
        match value {
            Cbor::Map(entries) => self.map(entries, depth).map(Cbor::Map),
            Cbor::Array(items) => self.array(items, depth).map(Cbor::Array),
            Cbor::Tag(REDACTED_ELEMENT | TO_BE_REDACTED, _) => {
                Err(VerifyError::Malformed("redaction tag outside an array"))
            }
            Cbor::Tag(tag, inner) => Ok(Cbor::Tag(tag, Box::new(self.value(*inner, depth + 1)?))),
            other => Ok(other),
        }
    }
}
