//! SD-JWT disclosures: making them (issuer), and matching presented ones
//! against the signed digests (verifier, RFC 9901 §7.1 steps 3–5).

use std::collections::{HashMap, HashSet};

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};

use crate::formats::disclosure::{IssueError, MAX_DEPTH, VerifyError, random_salt, sha256};

pub(super) const SD: &str = "_sd";
pub(super) const ELEMENT: &str = "...";
/// Claims SD-JWT VC forbids to be selectively disclosable; a disclosure for
/// one of them is refused even if an issuer signed its digest.
const NEVER_DISCLOSED: &[&str] = &["iss", "nbf", "exp", "cnf", "vct", "status"];

/// `b64url(SHA-256(ASCII(disclosure)))`: the hash input is the base64url text.
pub(super) fn digest(encoded: &str) -> String {
    Base64UrlUnpadded::encode_string(sha256(encoded.as_bytes()).as_ref())
}

/// An object-property disclosure `[salt, name, value]` and its digest.
pub(super) fn property(name: &str, value: &Value) -> Result<(String, String), IssueError> {
    let salt = Base64UrlUnpadded::encode_string(&random_salt()?);
    let array = Value::Array(vec![Value::String(salt), Value::String(name.into()), value.clone()]);
    let encoded = Base64UrlUnpadded::encode_string(array.to_string().as_bytes());
    Ok((digest(&encoded), encoded))
}

/// A decoy digest: the hash of fresh random data, with no disclosure.
pub(super) fn decoy() -> Result<String, IssueError> {
    Ok(digest(&Base64UrlUnpadded::encode_string(&random_salt()?)))
}

/// The claim name of an object-property disclosure, for holder selection.
pub(super) fn property_name(encoded: &str) -> Option<String> {
    match decode(encoded).ok()? {
        Disclosed::Property(name, _) => Some(name),
        Disclosed::Element(_) => None,
    }
}

enum Disclosed {
    Property(String, Value),
    Element(Value),
}

fn decode(encoded: &str) -> Result<Disclosed, VerifyError> {
    let bytes = Base64UrlUnpadded::decode_vec(encoded)
        .map_err(|_| VerifyError::Malformed("disclosure is not base64url"))?;
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(VerifyError::Malformed("disclosure is not a JSON array"));
    };
    let mut items = items.into_iter();
    let (Some(Value::String(_salt)), Some(second), third, None) =
        (items.next(), items.next(), items.next(), items.next())
    else {
        return Err(VerifyError::Malformed("disclosure has the wrong shape"));
    };
    match (second, third) {
        (value, None) => Ok(Disclosed::Element(value)),
        (Value::String(name), Some(value)) if name != SD && name != ELEMENT => {
            Ok(Disclosed::Property(name, value))
        }
        _ => Err(VerifyError::Malformed("disclosure has an invalid claim name")),
    }
}

/// The outcome of digest processing.
pub(super) struct Resolved {
    pub claims: Map<String, Value>,
    pub disclosed: Map<String, Value>,
}

/// Replaces every digest that a presented disclosure matches with the
/// disclosed claim, drops the rest, and refuses leftovers and duplicates.
pub(super) fn resolve(
    payload: Map<String, Value>,
    presented: &[&str],
) -> Result<Resolved, VerifyError> {
    let mut pending = HashMap::with_capacity(presented.len());
    for encoded in presented {
        if pending.insert(digest(encoded), decode(encoded)?).is_some() {
            return Err(VerifyError::DuplicateDisclosure);
        }
    }
    let mut walk = Walk { pending, seen: HashSet::new(), disclosed: Map::new() };
    let claims = walk.object(payload, 0)?;
    if !walk.pending.is_empty() {
        return Err(VerifyError::UnknownDisclosure);
    }
    Ok(Resolved { claims, disclosed: walk.disclosed })
}

struct Walk {
    pending: HashMap<String, Disclosed>,
    seen: HashSet<String>,
    disclosed: Map<String, Value>,
}

impl Walk {
    /// Takes the disclosure for `digest`, if presented; a digest signed twice
    /// is refused (RFC 9901 §7.1 step 4).
    fn take(&mut self, digest: &Value) -> Result<Option<Disclosed>, VerifyError> {
        let Value::String(digest) = digest else {
            return Err(VerifyError::Malformed("digest is not a string"));
        };
        if !self.seen.insert(digest.clone()) {
            return Err(VerifyError::DuplicateDisclosure);
        }
        Ok(self.pending.remove(digest))
    }

    fn object(
        &mut self,
        mut object: Map<String, Value>,
        depth: usize,
    ) -> Result<Map<String, Value>, VerifyError> {
        let digests = match object.remove(SD) {
            None => Vec::new(),
            Some(Value::Array(digests)) => digests,
            Some(_) => return Err(VerifyError::Malformed("_sd is not an array")),
        };
        let mut out = Map::with_capacity(object.len() + digests.len());
        for (name, value) in object {
            out.insert(name, self.value(value, depth + 1)?);
        }
        for digest in &digests {
            match self.take(digest)? {
                None => {}
                Some(Disclosed::Element(_)) => {
                    return Err(VerifyError::Malformed(
                        "array element disclosure used for a property",
                    ));
                }
                Some(Disclosed::Property(name, value)) => {
                    self.insert(&mut out, name, value, depth)?
                }
            }
        }
        Ok(out)
    }

    fn insert(
        &mut self,
        out: &mut Map<String, Value>,
        name: String,
        value: Value,
        depth: usize,
    ) -> Result<(), VerifyError> {
        if out.contains_key(&name) {
            return Err(VerifyError::Malformed("disclosed claim name already present"));
        }
        if depth == 0 && NEVER_DISCLOSED.contains(&name.as_str()) {
            return Err(VerifyError::Malformed("claim must not be selectively disclosed"));
        }
        let value = self.value(value, depth + 1)?;
        if depth == 0 {
            self.disclosed.insert(name.clone(), value.clone());
        }
        out.insert(name, value);
        Ok(())
    }

    fn array(&mut self, items: Vec<Value>, depth: usize) -> Result<Vec<Value>, VerifyError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match element_digest(&item) {
                Some(digest) => match self.take(digest)? {
                    None => {}
                    Some(Disclosed::Element(value)) => out.push(self.value(value, depth + 1)?),
                    Some(Disclosed::Property(..)) => {
                        return Err(VerifyError::Malformed(
                            "property disclosure used for an array element",
                        ));
                    }
                },
                None => out.push(self.value(item, depth + 1)?),
            }
        }
        Ok(out)
    }

    fn value(&mut self, value: Value, depth: usize) -> Result<Value, VerifyError> {
        if depth > MAX_DEPTH && matches!(value, Value::Object(_) | Value::Array(_)) {
            return Err(VerifyError::TooLarge("nesting depth"));
        }
        match value {
            Value::Object(object) => self.object(object, depth).map(Value::Object),
            Value::Array(items) => self.array(items, depth).map(Value::Array),
            other => Ok(other),
        }
    }
}

/// `{"...": digest}` (and nothing else) stands for a hidden array element.
fn element_digest(item: &Value) -> Option<&Value> {
    match item {
        Value::Object(object) if object.len() == 1 => object.get(ELEMENT),
        _ => None,
    }
}
