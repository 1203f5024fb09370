//! Pseudonym identifiers: 128 random bits as unpadded base64url, so they are
//! URL-safe, fixed-length (22 characters) and carry nothing about the account.

use base64ct::{Base64UrlUnpadded, Encoding};
use ring::rand::{SecureRandom, SystemRandom};

/// Length of an encoded id.
pub const ID_LEN: usize = 22;

pub fn random_id(rng: &SystemRandom) -> Option<String> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes).ok()?;
    Some(Base64UrlUnpadded::encode_string(&bytes))
}

/// True for strings that could be an id we minted (cheap filter before a lookup).
pub fn is_well_formed(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Extracts the id from `mimi://<domain>/p/<id>` when the prefix is ours.
pub fn id_from_uri<'a>(uri: &'a str, prefix: &str) -> Option<&'a str> {
    uri.strip_prefix(prefix).filter(|id| is_well_formed(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_well_formed() {
        let rng = SystemRandom::new();
        let a = random_id(&rng).unwrap();
        let b = random_id(&rng).unwrap();
        assert_ne!(a, b);
        assert!(is_well_formed(&a));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed("aaaaaaaaaaaaaaaaaaaaa/"));
        let uri = format!("mimi://example.com/p/{a}");
        assert_eq!(id_from_uri(&uri, "mimi://example.com/p/"), Some(a.as_str()));
        assert_eq!(id_from_uri(&uri, "mimi://other.example/p/"), None);
    }
}
