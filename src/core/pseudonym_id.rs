//! Pseudonym identifiers: 128 random bits as unpadded base64url, so they are
//! URL-safe, fixed-length (22 characters) and carry nothing about the account.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use ring::rand::{SecureRandom, SystemRandom};

/// Length of an encoded id.
pub const ID_LEN: usize = 22;

/// A pseudonym id that is well formed (not necessarily one we minted): a
/// lookup by a `PseudonymId` never carries arbitrary text to the database.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PseudonymId(String);

/// Why a stored id was refused (it could not have been minted here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a pseudonym id is {ID_LEN} base64url characters")]
pub struct MalformedPseudonymId;

impl PseudonymId {
    /// A fresh id; `None` only when the system has no randomness.
    pub fn random(rng: &SystemRandom) -> Option<Self> {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes).ok()?;
        Some(Self(Base64UrlUnpadded::encode_string(&bytes)))
    }

    /// Accepts strings that could be an id we minted (a cheap filter
    /// before a lookup).
    pub fn parse(id: &str) -> Option<Self> {
        let well_formed = id.len() == ID_LEN
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(id.to_owned()))
    }

    /// The id in `mimi://<domain>/p/<id>` when `prefix` (ours) starts it.
    pub fn from_uri(uri: &str, prefix: &str) -> Option<Self> {
        uri.strip_prefix(prefix).and_then(Self::parse)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PseudonymId {
    type Error = MalformedPseudonymId;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        Self::parse(&id).ok_or(MalformedPseudonymId)
    }
}

impl fmt::Display for PseudonymId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_well_formed() {
        let rng = SystemRandom::new();
        let a = PseudonymId::random(&rng).unwrap();
        let b = PseudonymId::random(&rng).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), ID_LEN);
        assert_eq!(PseudonymId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.to_string(), a.as_str());
    }

    #[test]
    fn parsing_checks_length_and_alphabet() {
        assert_eq!(PseudonymId::parse("short"), None);
        assert_eq!(PseudonymId::parse(""), None);
        assert_eq!(PseudonymId::parse("aaaaaaaaaaaaaaaaaaaaa/"), None);
        assert_eq!(PseudonymId::parse("aaaaaaaaaaaaaaaaaaaaa="), None);
        assert_eq!(PseudonymId::parse("aaaaaaaaaaaaaaaaaaaaaaa"), None);
        assert!(PseudonymId::parse("Az09-_aaaaaaaaaaaaaaaa").is_some());
        // 22 bytes, but not 22 base64url characters.
        assert_eq!(PseudonymId::parse("ééééééééééé"), None);
        assert_eq!(PseudonymId::try_from("short".to_string()), Err(MalformedPseudonymId));
    }

    #[test]
    fn uris_name_an_id_only_under_our_prefix() {
        let rng = SystemRandom::new();
        let id = PseudonymId::random(&rng).unwrap();
        let uri = format!("mimi://example.com/p/{id}");
        assert_eq!(PseudonymId::from_uri(&uri, "mimi://example.com/p/"), Some(id));
        assert_eq!(PseudonymId::from_uri(&uri, "mimi://other.example/p/"), None);
        assert_eq!(
            PseudonymId::from_uri("mimi://example.com/p/short", "mimi://example.com/p/"),
            None
        );
    }
}
