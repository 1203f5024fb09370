//! A pseudonym's further client (device): its id is drawn like a
//! pseudonym's (128 random bits, base64url), and named in the client URI
//! `mimi://<domain>/d/<id>` beside the pseudonym's own URI.

use std::fmt;

use ring::rand::SystemRandom;

use super::pseudonym_id::{MalformedPseudonymId, PseudonymId};

/// A well-formed client id (not necessarily one we issued).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(PseudonymId);

impl ClientId {
    /// A fresh id; `None` only when the system has no randomness.
    pub fn random(rng: &SystemRandom) -> Option<Self> {
        PseudonymId::random(rng).map(Self)
    }

    /// Accepts strings that could be an id we issued.
    pub fn parse(id: &str) -> Option<Self> {
        PseudonymId::parse(id).map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for ClientId {
    type Error = MalformedPseudonymId;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        PseudonymId::try_from(id).map(Self)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client path segment of a client URI: `mimi://<domain>/d/<id>`.
pub const CLIENT_PATH: &str = "d";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_random_and_parse_back() {
        let rng = SystemRandom::new();
        let a = ClientId::random(&rng).unwrap();
        assert_ne!(a, ClientId::random(&rng).unwrap());
        assert_eq!(ClientId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(ClientId::parse("short"), None);
        assert_eq!(ClientId::try_from(a.to_string()), Ok(a));
    }
}
