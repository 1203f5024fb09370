//! The in-room identity message: how a member hands another member, inside
//! the end-to-end encrypted room, a disclosure of who they are, KeyPackages
//! for the next room, and the next pseudonym, or asks for a disclosure with
//! a nonce. Media type [`MEDIA_TYPE`]; CBOR (RFC 8949) with integer keys,
//! definite lengths and keys in ascending order (docs/ROOM_MESSAGES.md has
//! the CDDL):
//!
//! ```text
//! identity-message = {
//!   1 => 1,                     ; version
//!   ? 2 => disclosure,
//!   ? 3 => [+ bstr],            ; KeyPackages (TLS MLSMessage or KeyPackage)
//!   ? 4 => tstr,                ; the next pseudonym's URI
//!   ? 5 => bstr,                ; a nonce: "disclose yourself for this"
//! }
//! disclosure = { 1 => "x509" / "sd-jwt" / "sd-cwt", 2 => bstr, 3 => bstr }
//!   ; format, presentation (SD-JWT+KB and X.509 PEM as UTF-8, SD-CWT KBT
//!   ; bytes), and the nonce it answers
//! ```
//!
//! Decoding is strict (unknown keys, wrong types, trailing bytes and
//! out-of-bound sizes are refused) and bounded by [`MAX_MESSAGE_BYTES`].

use ciborium::Value as Cbor;

/// The media type of an identity message in a MIMI content part.
pub const MEDIA_TYPE: &str = "application/vnd.veil.identity+cbor";
/// The only version this code reads and writes.
pub const VERSION: u8 = 1;
/// Largest message decoded.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Most KeyPackages one message carries.
pub const MAX_KEY_PACKAGES: usize = 8;
/// Largest KeyPackage or presentation carried.
pub const MAX_ITEM_BYTES: usize = 64 * 1024;
/// Bounds of a nonce, in bytes.
pub const NONCE_BYTES: std::ops::RangeInclusive<usize> = 8..=64;
/// Longest URI carried.
pub const MAX_URI_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomMessageError {
    #[error("the identity message is malformed: {0}")]
    Malformed(&'static str),
    #[error("identity message version {0} is not supported")]
    Version(u64),
    #[error("the identity message could not be encoded")]
    Encoding,
}

/// A presentation's format, by the names the verifiers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentationFormat {
    X509,
    SdJwt,
    SdCwt,
}

impl PresentationFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X509 => "x509",
            Self::SdJwt => "sd-jwt",
            Self::SdCwt => "sd-cwt",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::X509, Self::SdJwt, Self::SdCwt].into_iter().find(|f| f.as_str() == text)
    }
}

/// A disclosure as presented to one room member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomDisclosure {
    pub format: PresentationFormat,
    pub presentation: Vec<u8>,
    /// The nonce the presentation answers.
    pub nonce: Vec<u8>,
}

/// One identity message; every part is optional but the version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityMessage {
    pub disclosure: Option<RoomDisclosure>,
    pub key_packages: Vec<Vec<u8>>,
    pub next_pseudonym: Option<String>,
    pub nonce: Option<Vec<u8>>,
}

impl IdentityMessage {
    /// The deterministic encoding (keys ascending, shortest forms).
    pub fn encode(&self) -> Result<Vec<u8>, RoomMessageError> {
        self.check()?;
        let key = |k: u8| Cbor::Integer(k.into());
        let mut map = vec![(key(1), Cbor::Integer(VERSION.into()))];
        if let Some(d) = &self.disclosure {
            map.push((
                key(2),
                Cbor::Map(vec![
                    (key(1), Cbor::Text(d.format.as_str().into())),
                    (key(2), Cbor::Bytes(d.presentation.clone())),
                    (key(3), Cbor::Bytes(d.nonce.clone())),
                ]),
            ));
        }
        if !self.key_packages.is_empty() {
            let packages = self.key_packages.iter().cloned().map(Cbor::Bytes).collect();
            map.push((key(3), Cbor::Array(packages)));
        }
        if let Some(uri) = &self.next_pseudonym {
            map.push((key(4), Cbor::Text(uri.clone())));
        }
        if let Some(nonce) = &self.nonce {
            map.push((key(5), Cbor::Bytes(nonce.clone())));
        }
        let mut out = Vec::new();
        ciborium::into_writer(&Cbor::Map(map), &mut out).map_err(|_| RoomMessageError::Encoding)?;
        Ok(out)
    }

    /// Reads a message, refusing anything [`Self::encode`] would not write.
    pub fn decode(bytes: &[u8]) -> Result<Self, RoomMessageError> {
        let malformed = RoomMessageError::Malformed;
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(malformed("larger than 256 KiB"));
        }
        let mut rest = bytes;
        let value: Cbor = ciborium::from_reader(&mut rest).map_err(|_| malformed("not CBOR"))?;
        if !rest.is_empty() {
            return Err(malformed("bytes after the message"));
        }
        let Cbor::Map(entries) = value else { return Err(malformed("not a map")) };
        let mut message = Self::default();
        let mut last = 0u8;
        for (k, v) in entries {
            let k = small_key(&k).ok_or(malformed("a key is not 1 to 5"))?;
            if k <= last {
                return Err(malformed("keys out of order or repeated"));
            }
            last = k;
            match k {
                1 => match v {
                    Cbor::Integer(n) if u64::try_from(n).ok() == Some(VERSION.into()) => {}
                    Cbor::Integer(n) => {
                        return Err(RoomMessageError::Version(u64::try_from(n).unwrap_or(0)));
                    }
                    _ => return Err(malformed("the version is not an integer")),
                },
                2 => message.disclosure = Some(disclosure(v)?),
                3 => {
                    let Cbor::Array(items) = v else {
                        return Err(malformed("KeyPackages are not an array"));
                    };
                    message.key_packages = items
                        .into_iter()
                        .map(|i| bytes_of(i, "a KeyPackage"))
                        .collect::<Result<_, _>>()?;
                }
                4 => match v {
                    Cbor::Text(uri) => message.next_pseudonym = Some(uri),
                    _ => return Err(malformed("the next pseudonym is not text")),
                },
                _ => message.nonce = Some(bytes_of(v, "the nonce")?),
            }
        }
        if last == 0 {
            return Err(malformed("no version"));
        }
        message.check()?;
        // One encoding per message: indefinite lengths, longer integer
        // forms and the like are refused, so a message has one digest.
        if message.encode()? != bytes {
            return Err(malformed("not in the deterministic encoding"));
        }
        Ok(message)
    }

    /// The bounds both directions enforce.
    fn check(&self) -> Result<(), RoomMessageError> {
        let malformed = RoomMessageError::Malformed;
        if let Some(d) = &self.disclosure {
            if d.presentation.is_empty() || d.presentation.len() > MAX_ITEM_BYTES {
                return Err(malformed("the presentation is empty or over 64 KiB"));
            }
            if !NONCE_BYTES.contains(&d.nonce.len()) {
                return Err(malformed("the disclosure's nonce is not 8 to 64 bytes"));
            }
        }
        if self.key_packages.len() > MAX_KEY_PACKAGES {
            return Err(malformed("more than 8 KeyPackages"));
        }
        if self.key_packages.iter().any(|p| p.is_empty() || p.len() > MAX_ITEM_BYTES) {
            return Err(malformed("a KeyPackage is empty or over 64 KiB"));
        }
        if self.next_pseudonym.as_ref().is_some_and(|u| u.is_empty() || u.len() > MAX_URI_BYTES) {
            return Err(malformed("the next pseudonym is empty or over 512 bytes"));
        }
        if self.nonce.as_ref().is_some_and(|n| !NONCE_BYTES.contains(&n.len())) {
            return Err(malformed("the nonce is not 8 to 64 bytes"));
        }
        Ok(())
    }
}

fn small_key(key: &Cbor) -> Option<u8> {
    match key {
        Cbor::Integer(n) => u8::try_from(*n).ok().filter(|k| (1..=5).contains(k)),
        _ => None,
    }
}

fn bytes_of(value: Cbor, what: &'static str) -> Result<Vec<u8>, RoomMessageError> {
    match value {
        Cbor::Bytes(bytes) => Ok(bytes),
        _ => Err(RoomMessageError::Malformed(what)),
    }
}

fn disclosure(value: Cbor) -> Result<RoomDisclosure, RoomMessageError> {
    let malformed = RoomMessageError::Malformed;
    let Cbor::Map(entries) = value else { return Err(malformed("the disclosure is not a map")) };
    let mut fields: [Option<Cbor>; 3] = [None, None, None];
    let mut last = 0u8;
    for (k, v) in entries {
        let k =
            small_key(&k).filter(|k| *k <= 3).ok_or(malformed("a disclosure key is not 1 to 3"))?;
        if k <= last {
            return Err(malformed("disclosure keys out of order or repeated"));
        }
        last = k;
        if let Some(slot) = fields.get_mut(usize::from(k) - 1) {
            *slot = Some(v);
        }
    }
    let [Some(format), Some(presentation), Some(nonce)] = fields else {
        return Err(malformed("the disclosure lacks its format, presentation or nonce"));
    };
    let format = match format {
        Cbor::Text(text) => PresentationFormat::parse(&text),
        _ => None,
    }
    .ok_or(malformed("the disclosure's format is not x509, sd-jwt or sd-cwt"))?;
    Ok(RoomDisclosure {
        format,
        presentation: bytes_of(presentation, "the presentation")?,
        nonce: bytes_of(nonce, "the disclosure's nonce")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IdentityMessage {
        IdentityMessage {
            disclosure: Some(RoomDisclosure {
                format: PresentationFormat::SdJwt,
                presentation: b"eyJ...~".to_vec(),
                nonce: b"0123456789abcdef".to_vec(),
            }),
            key_packages: vec![vec![0, 1, 0, 5, 1, 2, 3]],
            next_pseudonym: Some("mimi://example.com/p/AAAAAAAAAAAAAAAAAAAAAA".into()),
            nonce: None,
        }
    }

    #[test]
    fn messages_round_trip_and_encode_deterministically() {
        let message = sample();
        let bytes = message.encode().unwrap();
        assert_eq!(IdentityMessage::decode(&bytes).unwrap(), message);
        assert_eq!(IdentityMessage::decode(&bytes).unwrap().encode().unwrap(), bytes);
        // A map of 4 entries whose first key is the version 1.
        assert_eq!(&bytes[..3], &[0xa4, 0x01, 0x01]);
        let ask = IdentityMessage { nonce: Some(vec![7; 16]), ..Default::default() };
        assert_eq!(IdentityMessage::decode(&ask.encode().unwrap()).unwrap(), ask);
    }

    #[test]
    fn anything_else_is_refused() {
        let good = sample().encode().unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        let reencode = |map: Vec<(Cbor, Cbor)>| {
            let mut out = Vec::new();
            ciborium::into_writer(&Cbor::Map(map), &mut out).unwrap();
            out
        };
        let int = |n: u8| Cbor::Integer(n.into());
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("trailing bytes", trailing),
            ("truncated", good[..good.len() - 1].to_vec()),
            ("not a map", vec![0x01]),
            ("no version", reencode(vec![(int(4), Cbor::Text("x".into()))])),
            ("version 2", reencode(vec![(int(1), int(2))])),
            ("unknown key", reencode(vec![(int(1), int(1)), (int(9), int(0))])),
            ("text key", reencode(vec![(Cbor::Text("v".into()), int(1))])),
            ("out of order", reencode(vec![(int(4), Cbor::Text("x".into())), (int(1), int(1))])),
            ("repeated", reencode(vec![(int(1), int(1)), (int(1), int(1))])),
            ("short nonce", reencode(vec![(int(1), int(1)), (int(5), Cbor::Bytes(vec![1; 7]))])),
            (
                "nine packages",
                reencode(vec![
                    (int(1), int(1)),
                    (int(3), Cbor::Array(vec![Cbor::Bytes(vec![1]); 9])),
                ]),
            ),
            (
                "unknown format",
                reencode(vec![
                    (int(1), int(1)),
                    (
                        int(2),
                        Cbor::Map(vec![
                            (int(1), Cbor::Text("jwt".into())),
                            (int(2), Cbor::Bytes(vec![1])),
                            (int(3), Cbor::Bytes(vec![1; 16])),
                        ]),
                    ),
                ]),
            ),
            ("huge", vec![0; MAX_MESSAGE_BYTES + 1]),
            // A byte string claiming 2^32 bytes with none behind it.
            ("lying length", vec![0xa1, 0x05, 0x5a, 0xff, 0xff, 0xff, 0xff]),
            // The version as a two-byte integer: the same value, another encoding.
            ("long form", vec![0xa1, 0x01, 0x18, 0x01]),
            // An indefinite-length map.
            ("indefinite", vec![0xbf, 0x01, 0x01, 0xff]),
        ];
        for (name, bytes) in cases {
            assert!(IdentityMessage::decode(&bytes).is_err(), "{name} decoded");
        }
    }
}
