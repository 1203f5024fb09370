//! The TLS-encoded `AbuseReport` of MIMI `reportAbuse`
//! (draft-ietf-mimi-protocol-02 §5.9), with the `Frank` of §5.4.1:
//!
//! ```text
//! struct { opaque uri<V>; } IdentifierUri;
//! struct { uint8[32] franking_tag; uint8[32] serverFrank;
//!          uint8[32] franking_context_hash; } Frank;
//! struct { opaque mimi_content<V>; Frank frank;
//!          uint64 acceptedTimestamp; } AbusiveMessage;
//! enum { reserved(0), (255) } AbuseType;
//! struct { IdentifierUri reportingUser; IdentifierUri allegedAbuserUri;
//!          AbuseType reasonCode; opaque note<V>;
//!          AbusiveMessage messages<V>; } AbuseReport;
//! ```
//!
//! `<V>` is the variable-length vector of RFC 9420 §2.1.2: a QUIC varint
//! length in bytes, read with `tls_codec` as openmls configures it (lengths
//! below 2^30, in their shortest encoding). Every length is checked against
//! its field's bound and against the bytes actually left before anything is
//! copied, so a length prefix never decides an allocation. Only canonical
//! encodings decode: [`AbuseReport::encode`] of a decoded report gives back
//! the input byte for byte.

use base64ct::{Base64, Encoding};
use openmls::prelude::tls_codec::{self, Serialize as _, VLByteSlice, vlen};
use serde::{Deserialize, Serialize};

/// Bound on a URI (`reportingUser`, `allegedAbuserUri`), in bytes.
pub const MAX_URI: usize = 512;
/// Bound on `note`, in bytes of UTF-8.
pub const MAX_NOTE: usize = 4096;
/// Bound on the number of `messages`.
pub const MAX_MESSAGES: usize = 10;
/// Bound on one message's `mimi_content`, in bytes.
pub const MAX_CONTENT: usize = 4096;
/// Each of the three parts of a [`Frank`], in bytes (`uint8[32]`).
pub const FRANK_PART: usize = 32;
/// A whole [`Frank`], in bytes.
pub const FRANK_LEN: usize = 3 * FRANK_PART;
/// A [`Frank`] in standard base64 (96 bytes need no padding).
pub const FRANK_BASE64_LEN: usize = 4 * FRANK_LEN.div_ceil(3);

/// Why bytes are not an `AbuseReport`. [`Self::is_malformed`] tells an
/// encoding that does not parse from a parsed value veil refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbuseReportError {
    #[error("the body is empty, not a TLS-encoded AbuseReport")]
    Empty,
    #[error("the encoding ends inside `{0}`")]
    Truncated(&'static str),
    #[error(
        "the length prefix of `{0}` is malformed (RFC 9420 §2.1.2 lengths are below 2^30, shortest encoding)"
    )]
    BadLength(&'static str),
    #[error("`messages` ends inside one of its messages")]
    MessagesMisaligned,
    #[error("{0} bytes follow the AbuseReport")]
    TrailingBytes(usize),
    #[error("`{field}` is limited to {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("`messages` is limited to {MAX_MESSAGES} entries")]
    TooManyMessages,
    #[error(
        "reason code {0} is not an AbuseType of draft-ietf-mimi-protocol-02, which defines only reserved(0)"
    )]
    UnknownReasonCode(u64),
    #[error("`{0}` is not UTF-8")]
    NotUtf8(&'static str),
}

impl AbuseReportError {
    /// True when the bytes do not parse as the draft's structure (400);
    /// false when they parse but a value is refused (422).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::Empty
                | Self::Truncated(_)
                | Self::BadLength(_)
                | Self::MessagesMisaligned
                | Self::TrailingBytes(_)
        )
    }
}

/// The draft's `AbuseType`, closed: a code it does not list is refused.
/// Protocol-02 lists only `reserved(0)` (its reason codes are a TODO, the
/// field "reserved to identify the type of abuse"), so 0 is the one code
/// a conforming sender can put there today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u64")]
#[repr(u8)]
pub enum AbuseType {
    Reserved = 0,
}

impl AbuseType {
    /// Every code the draft lists, for documentation.
    pub const ALL: [AbuseType; 1] = [AbuseType::Reserved];

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u64> for AbuseType {
    type Error = AbuseReportError;

    fn try_from(code: u64) -> Result<Self, Self::Error> {
        AbuseType::ALL
            .into_iter()
            .find(|t| u64::from(t.code()) == code)
            .ok_or(AbuseReportError::UnknownReasonCode(code))
    }
}

impl From<AbuseType> for u8 {
    fn from(reason: AbuseType) -> u8 {
        reason.code()
    }
}

impl From<AbuseType> for i64 {
    fn from(reason: AbuseType) -> i64 {
        i64::from(reason.code())
    }
}

/// A message's frank (§5.4.1): the sender's franking tag, the hub's
/// server frank and the franking context hash, 32 bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frank {
    pub franking_tag: [u8; FRANK_PART],
    pub server_frank: [u8; FRANK_PART],
    pub franking_context_hash: [u8; FRANK_PART],
}

impl Frank {
    /// The TLS encoding: the three parts in order, no length prefix.
    pub fn to_bytes(&self) -> [u8; FRANK_LEN] {
        let mut out = [0u8; FRANK_LEN];
        out[..FRANK_PART].copy_from_slice(&self.franking_tag);
        out[FRANK_PART..2 * FRANK_PART].copy_from_slice(&self.server_frank);
        out[2 * FRANK_PART..].copy_from_slice(&self.franking_context_hash);
        out
    }

    /// Exactly [`FRANK_LEN`] bytes, or `None`.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (tag, rest) = bytes.split_first_chunk::<FRANK_PART>()?;
        let (server, rest) = rest.split_first_chunk::<FRANK_PART>()?;
        let context: &[u8; FRANK_PART] = rest.try_into().ok()?;
        Some(Self { franking_tag: *tag, server_frank: *server, franking_context_hash: *context })
    }

    /// Standard base64 of [`Self::to_bytes`]: the JSON form, and the form a
    /// report's deduplication key holds.
    pub fn to_base64(&self) -> String {
        Base64::encode_string(&self.to_bytes())
    }

    /// The JSON form back: canonical standard base64 of exactly
    /// [`FRANK_LEN`] bytes, or `None`.
    pub fn from_base64(text: &str) -> Option<Self> {
        if text.len() != FRANK_BASE64_LEN {
            return None;
        }
        let mut buf = [0u8; FRANK_LEN];
        let bytes = Base64::decode(text, &mut buf).ok()?;
        Self::from_bytes(bytes)
    }
}

impl Serialize for Frank {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

/// One allegedly abusive message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbusiveMessage {
    /// The MIMI content message, as the reporter's client decrypted it.
    pub mimi_content: Vec<u8>,
    pub frank: Frank,
    /// The hub's acceptance time, milliseconds since the UNIX epoch.
    pub accepted_timestamp: u64,
}

/// A decoded `AbuseReport`. An empty `reporting_user` is the draft's way
/// of leaving the reporting user out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseReport {
    pub reporting_user: String,
    pub alleged_abuser_uri: String,
    pub reason_code: AbuseType,
    pub note: String,
    pub messages: Vec<AbusiveMessage>,
}

impl AbuseReport {
    /// Decodes exactly one report that fills `bytes`. Never panics, and
    /// allocates no more than the input's own size.
    pub fn decode(bytes: &[u8]) -> Result<Self, AbuseReportError> {
        if bytes.is_empty() {
            return Err(AbuseReportError::Empty);
        }
        let mut reader = Reader(bytes);
        let reporting_user = reader.text("reportingUser", MAX_URI)?;
        let alleged_abuser_uri = reader.text("allegedAbuserUri", MAX_URI)?;
        let code = reader.fixed::<u8>("reasonCode")?;
        let reason_code = AbuseType::try_from(u64::from(code))?;
        let note = reader.text("note", MAX_NOTE)?;
        // The vector's length is in bytes; its messages must fill it exactly.
        let mut list = Reader(reader.vector("messages", usize::MAX)?);
        let mut messages = Vec::new();
        while !list.0.is_empty() {
            if messages.len() == MAX_MESSAGES {
                return Err(AbuseReportError::TooManyMessages);
            }
            messages.push(list.message()?);
        }
        if !reader.0.is_empty() {
            return Err(AbuseReportError::TrailingBytes(reader.0.len()));
        }
        Ok(Self { reporting_user, alleged_abuser_uri, reason_code, note, messages })
    }

    /// The TLS encoding. Refuses what [`Self::decode`] would refuse, so
    /// every encoding it gives decodes back to `self`.
    pub fn encode(&self) -> Result<Vec<u8>, AbuseReportError> {
        let too_long = |field, max| AbuseReportError::TooLong { field, max };
        for (field, value, max) in [
            ("reportingUser", self.reporting_user.as_bytes(), MAX_URI),
            ("allegedAbuserUri", self.alleged_abuser_uri.as_bytes(), MAX_URI),
            ("note", self.note.as_bytes(), MAX_NOTE),
        ] {
            if value.len() > max {
                return Err(too_long(field, max));
            }
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(AbuseReportError::TooManyMessages);
        }
        let mut list = Vec::new();
        for message in &self.messages {
            if message.mimi_content.len() > MAX_CONTENT {
                return Err(too_long("mimi_content", MAX_CONTENT));
            }
            put_vector(&mut list, &message.mimi_content, "mimi_content")?;
            list.extend_from_slice(&message.frank.to_bytes());
            list.extend_from_slice(&message.accepted_timestamp.to_be_bytes());
        }
        let mut out = Vec::new();
        put_vector(&mut out, self.reporting_user.as_bytes(), "reportingUser")?;
        put_vector(&mut out, self.alleged_abuser_uri.as_bytes(), "allegedAbuserUri")?;
        out.push(self.reason_code.code());
        put_vector(&mut out, self.note.as_bytes(), "note")?;
        put_vector(&mut out, &list, "messages")?;
        Ok(out)
    }
}

fn put_vector(
    out: &mut Vec<u8>,
    bytes: &[u8],
    field: &'static str,
) -> Result<(), AbuseReportError> {
    VLByteSlice(bytes).tls_serialize(out).map_err(|_| AbuseReportError::BadLength(field))?;
    Ok(())
}

/// What is left of the input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A fixed-size value (`uint8`, `uint64`, `uint8[32]`).
    fn fixed<T: tls_codec::Deserialize>(
        &mut self,
        field: &'static str,
    ) -> Result<T, AbuseReportError> {
        T::tls_deserialize(&mut self.0).map_err(|_| AbuseReportError::Truncated(field))
    }

    /// The content of an `opaque field<V>` of at most `max` bytes, borrowed
    /// from the input: the bytes left and the bound are checked before
    /// anything is copied.
    fn vector(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], AbuseReportError> {
        let (len, _) = vlen::read_length(&mut self.0).map_err(|e| match e {
            tls_codec::Error::EndOfStream => AbuseReportError::Truncated(field),
            _ => AbuseReportError::BadLength(field),
        })?;
        // A length past the end is malformed (400) whatever the bound; a
        // length within the input but over the bound is a refused value.
        let (content, rest) =
            self.0.split_at_checked(len).ok_or(AbuseReportError::Truncated(field))?;
        if len > max {
            return Err(AbuseReportError::TooLong { field, max });
        }
        self.0 = rest;
        Ok(content)
    }

    /// An `opaque field<V>` that must be UTF-8.
    fn text(&mut self, field: &'static str, max: usize) -> Result<String, AbuseReportError> {
        let bytes = self.vector(field, max)?;
        let text = std::str::from_utf8(bytes).map_err(|_| AbuseReportError::NotUtf8(field))?;
        Ok(text.to_owned())
    }

    /// One `AbusiveMessage` inside `messages`: running out of the list's
    /// bytes means the list's length does not fit its messages.
    fn message(&mut self) -> Result<AbusiveMessage, AbuseReportError> {
        let misaligned = |e| match e {
            AbuseReportError::Truncated(_) => AbuseReportError::MessagesMisaligned,
            other => other,
        };
        let mimi_content = self.vector("mimi_content", MAX_CONTENT).map_err(misaligned)?.to_vec();
        let franking_tag = self.fixed("frank").map_err(misaligned)?;
        let server_frank = self.fixed("frank").map_err(misaligned)?;
        let franking_context_hash = self.fixed("frank").map_err(misaligned)?;
        let accepted_timestamp = self.fixed("acceptedTimestamp").map_err(misaligned)?;
        Ok(AbusiveMessage {
            mimi_content,
            frank: Frank { franking_tag, server_frank, franking_context_hash },
            accepted_timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frank(seed: u8) -> Frank {
        Frank {
            franking_tag: [seed; FRANK_PART],
            server_frank: [seed.wrapping_add(1); FRANK_PART],
            franking_context_hash: [seed.wrapping_add(2); FRANK_PART],
        }
    }

    fn sample() -> AbuseReport {
        AbuseReport {
            reporting_user: "mimi://hub.example/u/reporter".into(),
            alleged_abuser_uri: "mimi://example.com/p/AAAAAAAAAAAAAAAAAAAAAA".into(),
            reason_code: AbuseType::Reserved,
            note: "spam, über and over".into(),
            messages: vec![
                AbusiveMessage {
                    mimi_content: b"hello".to_vec(),
                    frank: frank(1),
                    accepted_timestamp: 7,
                },
                AbusiveMessage {
                    mimi_content: vec![0xA5; 200],
                    frank: frank(9),
                    accepted_timestamp: u64::MAX,
                },
            ],
        }
    }

    fn varint(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        put_vector(&mut out, &vec![0; len], "test").unwrap();
        out.truncate(out.len() - len);
        out
    }

    #[test]
    fn a_report_round_trips_byte_for_byte() {
        let bytes = sample().encode().unwrap();
        let decoded = AbuseReport::decode(&bytes).unwrap();
        assert_eq!(decoded, sample());
        assert_eq!(decoded.encode().unwrap(), bytes);
        // 200 bytes of content take a two-byte length: the sample covers both sizes.
        assert_eq!(varint(200), [0x40, 200]);
    }

    #[test]
    fn the_layout_is_the_drafts() {
        let report = AbuseReport {
            reporting_user: String::new(),
            alleged_abuser_uri: "a".into(),
            reason_code: AbuseType::Reserved,
            note: "n".into(),
            messages: vec![AbusiveMessage {
                mimi_content: vec![0xCC],
                frank: frank(0x10),
                accepted_timestamp: 0x0102_0304_0506_0708,
            }],
        };
        let mut expected = vec![0x00, 0x01, b'a', 0x00, 0x01, b'n'];
        // The list's 106 bytes take a two-byte length (one byte holds 0..=63).
        expected.extend([0x40, 2 + FRANK_LEN as u8 + 8]);
        expected.extend([0x01, 0xCC]);
        expected.extend(frank(0x10).to_bytes());
        expected.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(report.encode().unwrap(), expected);
        assert_eq!(AbuseReport::decode(&expected).unwrap(), report);
    }

    #[test]
    fn every_truncation_is_refused_as_malformed() {
        let bytes = sample().encode().unwrap();
        for cut in 0..bytes.len() {
            let error = AbuseReport::decode(&bytes[..cut]).unwrap_err();
            assert!(error.is_malformed(), "cut at {cut}: {error}");
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = sample().encode().unwrap();
        bytes.push(0);
        assert_eq!(AbuseReport::decode(&bytes), Err(AbuseReportError::TrailingBytes(1)));
    }

    #[test]
    fn only_the_listed_reason_codes_decode() {
        let mut bytes = AbuseReport { messages: vec![], ..sample() }.encode().unwrap();
        let at = 1 + sample().reporting_user.len() + 1 + sample().alleged_abuser_uri.len();
        assert_eq!(bytes[at], 0);
        for code in [1u8, 7, 255] {
            bytes[at] = code;
            let error = AbuseReport::decode(&bytes).unwrap_err();
            assert_eq!(error, AbuseReportError::UnknownReasonCode(code.into()));
            assert!(!error.is_malformed());
        }
        assert_eq!(AbuseType::try_from(0).unwrap(), AbuseType::Reserved);
        assert!(AbuseType::try_from(256).is_err());
    }

    #[test]
    fn lengths_must_be_short_canonical_and_bounded() {
        // Non-minimal (two bytes for 1), the 8-byte form, a length past the input.
        for prefix in [vec![0x40, 0x01], vec![0xC0, 0, 0, 0, 0, 0, 0, 1]] {
            let mut bytes = prefix;
            bytes.push(b'x');
            let error = AbuseReport::decode(&bytes).unwrap_err();
            assert_eq!(error, AbuseReportError::BadLength("reportingUser"));
        }
        // A length of 2^30 - 1 with nothing behind it: malformed, and
        // nothing allocated for it.
        let error = AbuseReport::decode(&[0xBF, 0xFF, 0xFF, 0xFF]).unwrap_err();
        assert_eq!(error, AbuseReportError::Truncated("reportingUser"));
        let mut over = varint(MAX_URI + 1);
        over.extend(vec![b'u'; MAX_URI + 1]);
        let error = AbuseReport::decode(&over).unwrap_err();
        assert_eq!(error, AbuseReportError::TooLong { field: "reportingUser", max: MAX_URI });
        // Content over its bound.
        let mut big = sample();
        big.messages[0].mimi_content = vec![0; MAX_CONTENT + 1];
        assert!(big.encode().is_err());
    }

    #[test]
    fn messages_are_bounded_and_must_fill_their_list() {
        let mut many = sample();
        many.messages = vec![many.messages[0].clone(); MAX_MESSAGES];
        let mut bytes = many.encode().unwrap();
        assert!(AbuseReport::decode(&bytes).is_ok());
        // An eleventh message, with the list's length fixed up.
        let one = {
            let mut v = Vec::new();
            put_vector(&mut v, b"hello", "t").unwrap();
            v.extend(frank(1).to_bytes());
            v.extend(7u64.to_be_bytes());
            v
        };
        let header = AbuseReport { messages: vec![], ..sample() }.encode().unwrap();
        let mut list = Vec::new();
        for _ in 0..=MAX_MESSAGES {
            list.extend(&one);
        }
        bytes = header[..header.len() - 1].to_vec();
        put_vector(&mut bytes, &list, "t").unwrap();
        assert_eq!(AbuseReport::decode(&bytes), Err(AbuseReportError::TooManyMessages));
        // A list one byte short of its last message.
        let mut short = header[..header.len() - 1].to_vec();
        put_vector(&mut short, &one[..one.len() - 1], "t").unwrap();
        assert_eq!(AbuseReport::decode(&short), Err(AbuseReportError::MessagesMisaligned));
    }

    #[test]
    fn text_fields_must_be_utf8() {
        let mut bytes =
            AbuseReport { messages: vec![], note: "n".into(), ..sample() }.encode().unwrap();
        let at = bytes.len() - 2;
        assert_eq!(bytes[at], b'n');
        bytes[at] = 0xFF;
        assert_eq!(AbuseReport::decode(&bytes), Err(AbuseReportError::NotUtf8("note")));
    }

    #[test]
    fn a_frank_in_base64_is_exactly_96_bytes() {
        let f = frank(3);
        assert_eq!(f.to_base64().len(), FRANK_BASE64_LEN);
        assert_eq!(Frank::from_base64(&f.to_base64()), Some(f));
        assert_eq!(Frank::from_bytes(&f.to_bytes()), Some(f));
        let short = Base64::encode_string(&[0u8; FRANK_LEN - 3]);
        let long = Base64::encode_string(&[0u8; FRANK_LEN + 3]);
        let url = f.to_base64().replace('+', "-").replace('/', "_");
        for bad in [short.as_str(), long.as_str(), "spam", "", &"*".repeat(FRANK_BASE64_LEN)] {
            assert_eq!(Frank::from_base64(bad), None, "{bad}");
        }
        if url != f.to_base64() {
            assert_eq!(Frank::from_base64(&url), None);
        }
        assert_eq!(Frank::from_bytes(&[0u8; FRANK_LEN + 1]), None);
    }

    /// The fuzz target's properties (fuzz/fuzz_targets/abuse_report.rs) on
    /// seeded mutations of valid reports, so a plain `cargo test` checks
    /// them too: no panic, and whatever decodes re-encodes to its input.
    #[test]
    fn mutated_reports_never_panic_and_decode_only_canonically() {
        let seeds = [
            sample().encode().unwrap(),
            AbuseReport { reporting_user: String::new(), messages: vec![], ..sample() }
                .encode()
                .unwrap(),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound.max(1) as u64).unwrap()
        };
        let mut decoded = 0;
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..=next(3) {
                let at = next(bytes.len() + 1);
                match next(5) {
                    0 if at < bytes.len() => bytes[at] ^= 1 << next(8),
                    1 if at < bytes.len() => {
                        bytes[at] = [0x00, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xff][next(8)]
                    }
                    2 => bytes.insert(at, u8::try_from(next(256)).unwrap()),
                    3 if at < bytes.len() => drop(bytes.remove(at)),
                    _ => bytes.truncate(at),
                }
            }
            if let Ok(report) = AbuseReport::decode(&bytes) {
                decoded += 1;
                assert!(report.messages.len() <= MAX_MESSAGES);
                assert_eq!(report.encode().unwrap(), bytes, "round {round}");
            }
        }
        assert!(decoded > 100, "the mutations reach past the decoder's first checks ({decoded})");
    }

    #[test]
    fn empty_input_is_its_own_error() {
        assert_eq!(AbuseReport::decode(&[]), Err(AbuseReportError::Empty));
    }
}
