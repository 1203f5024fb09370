//! Abuse reports from hubs: MIMI `reportAbuse` (draft-ietf-mimi-protocol-02
//! §5.9). The wire form (`formats::abuse_report`) and veil's JSON form both
//! become this one model, so deduplication, quota, reputation and storage
//! are one code path. Sizes are bounded in bytes, not characters.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use serde::Serialize;

use crate::formats::abuse_report::{self as wire, AbuseType, Frank};

pub const MAX_ROOM: usize = 512;
pub const MAX_USER: usize = wire::MAX_URI;
pub const MAX_NOTE: usize = wire::MAX_NOTE;
pub const MAX_MESSAGES: usize = wire::MAX_MESSAGES;
/// Bound on a message's `mimi_content`, in bytes (decoded).
pub const MAX_CONTENT: usize = wire::MAX_CONTENT;

/// A report as a hub sends it, in either form.
#[derive(Debug, Clone, Serialize)]
pub struct AbuseReport {
    pub room: String,
    /// `None` when the report names no reporting user (the wire form's
    /// empty URI).
    pub reporting_user: Option<String>,
    /// The pseudonym URI reported.
    pub alleged_abuser: String,
    pub reason_code: AbuseType,
    pub note: String,
    pub messages: Vec<ReportedMessage>,
}

/// One reported message with its frank.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedMessage {
    #[serde(serialize_with = "base64")]
    pub mimi_content: Vec<u8>,
    pub frank: Frank,
    pub accepted_timestamp: u64,
}

fn base64<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&Base64::encode_string(bytes))
}

impl AbuseReport {
    /// The wire form of a report on `room` (the route's path).
    pub fn from_wire(room: String, report: wire::AbuseReport) -> Self {
        Self {
            room,
            reporting_user: Some(report.reporting_user).filter(|u| !u.is_empty()),
            alleged_abuser: report.alleged_abuser_uri,
            reason_code: report.reason_code,
            note: report.note,
            messages: report
                .messages
                .into_iter()
                .map(|m| ReportedMessage {
                    mimi_content: m.mimi_content,
                    frank: m.frank,
                    accepted_timestamp: m.accepted_timestamp,
                })
                .collect(),
        }
    }
}

impl AbuseReport {
    /// Checks the size bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let too_long = |field: &str, max: usize| format!("`{field}` is limited to {max} bytes");
        if self.room.is_empty() || self.room.len() > MAX_ROOM {
            return Err(format!("`room` must be 1 to {MAX_ROOM} bytes"));
        }
        match &self.reporting_user {
            Some(user) if user.is_empty() => {
                return Err("`reporting_user` is left out, not empty".into());
            }
            Some(user) if user.len() > MAX_USER => {
                return Err(too_long("reporting_user", MAX_USER));
            }
            _ => {}
        }
        if self.note.len() > MAX_NOTE {
            return Err(too_long("note", MAX_NOTE));
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(format!("`messages` is limited to {MAX_MESSAGES} entries"));
        }
        for (i, m) in self.messages.iter().enumerate() {
            if m.mimi_content.len() > MAX_CONTENT {
                return Err(too_long(&format!("messages[{i}].mimi_content"), MAX_CONTENT));
            }
        }
        Ok(())
    }

    /// A stable id for this report from this reporter: what it reports
    /// (the room, the reporting user, the pseudonym, and the set of franked
    /// messages), not how it is worded. The same abuse sent again, with
    /// another note or reason code or its messages in another order, gets
    /// the same id, so it is stored and counted once.
    pub fn report_id(&self, reporter: &str) -> Result<String, serde_json::Error> {
        let mut franks: Vec<String> = self.messages.iter().map(|m| m.frank.to_base64()).collect();
        franks.sort_unstable();
        franks.dedup();
        let key = DedupKey {
            room: &self.room,
            reporting_user: self.reporting_user.as_deref(),
            alleged_abuser: &self.alleged_abuser,
            franks,
        };
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(b"veil abuse report v2\0");
        context.update(reporter.as_bytes());
        context.update(&[0]);
        context.update(&serde_json::to_vec(&key)?);
        Ok(Base64UrlUnpadded::encode_string(context.finish().as_ref()))
    }
}

/// What makes two reports the same report (see [`AbuseReport::report_id`]).
#[derive(Serialize)]
struct DedupKey<'a> {
    room: &'a str,
    reporting_user: Option<&'a str>,
    alleged_abuser: &'a str,
    /// Each frank in standard base64, as the JSON form sends it.
    franks: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frank that stands for message `name`.
    fn frank(name: &str) -> Frank {
        let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
        let mut tag = [0u8; wire::FRANK_PART];
        tag.copy_from_slice(digest.as_ref());
        Frank { franking_tag: tag, server_frank: [1; 32], franking_context_hash: [2; 32] }
    }

    fn report(note: &str, franks: &[&str]) -> AbuseReport {
        AbuseReport {
            room: "mimi://hub.example/r/lobby".into(),
            reporting_user: Some("mimi://hub.example/u/reporter".into()),
            alleged_abuser: "mimi://example.com/p/AAAAAAAAAAAAAAAAAAAAAA".into(),
            reason_code: AbuseType::Reserved,
            note: note.into(),
            messages: franks
                .iter()
                .map(|f| ReportedMessage {
                    mimi_content: format!("content of {f}").into_bytes(),
                    frank: frank(f),
                    accepted_timestamp: 1,
                })
                .collect(),
        }
    }

    fn id(report: &AbuseReport, reporter: &str) -> String {
        report.report_id(reporter).unwrap()
    }

    // The reason code is left out of the key too, but protocol-02 lists a
    // single code, so no two reports can differ in it yet.
    #[test]
    fn rewording_a_report_does_not_make_it_another() {
        let first = id(&report("spam", &["f1", "f2"]), "hub-a");
        assert_eq!(id(&report("SPAM!!", &["f1", "f2"]), "hub-a"), first, "note");
        assert_eq!(id(&report("spam", &["f2", "f1", "f2"]), "hub-a"), first, "message order");
        let mut content = report("spam", &["f1", "f2"]);
        content.messages[0].mimi_content = b"as another client decrypted it".to_vec();
        assert_eq!(id(&content, "hub-a"), first, "the frank names the message, not its content");
    }

    #[test]
    fn other_abuse_or_another_reporter_is_another_report() {
        let base = report("spam", &["f1"]);
        let first = id(&base, "hub-a");
        assert_ne!(id(&base, "hub-b"), first, "reporter");
        assert_ne!(id(&report("spam", &["f1", "f3"]), "hub-a"), first, "messages");
        assert_ne!(id(&report("spam", &[]), "hub-a"), first, "no messages");
        let mut other = base.clone();
        other.room = "mimi://hub.example/r/other".into();
        assert_ne!(id(&other, "hub-a"), first, "room");
        let mut other = base.clone();
        other.reporting_user = None;
        assert_ne!(id(&other, "hub-a"), first, "reporting user");
        let mut other = base.clone();
        other.messages[0].frank.server_frank = [9; 32];
        assert_ne!(id(&other, "hub-a"), first, "any part of the frank");
        let mut other = base;
        other.alleged_abuser = "mimi://example.com/p/BBBBBBBBBBBBBBBBBBBBBB".into();
        assert_ne!(id(&other, "hub-a"), first, "pseudonym");
    }

    /// The wire form of a report is the same report: same id, same model.
    #[test]
    fn the_wire_form_maps_onto_the_same_report() {
        let json_form = report("spam", &["f1", "f2"]);
        let wire_form = wire::AbuseReport {
            reporting_user: "mimi://hub.example/u/reporter".into(),
            alleged_abuser_uri: json_form.alleged_abuser.clone(),
            reason_code: AbuseType::Reserved,
            note: "worded otherwise".into(),
            messages: json_form
                .messages
                .iter()
                .rev()
                .map(|m| wire::AbusiveMessage {
                    mimi_content: m.mimi_content.clone(),
                    frank: m.frank,
                    accepted_timestamp: m.accepted_timestamp,
                })
                .collect(),
        };
        let bytes = wire_form.encode().unwrap();
        let decoded = wire::AbuseReport::decode(&bytes).unwrap();
        let mapped = AbuseReport::from_wire(json_form.room.clone(), decoded);
        assert!(mapped.validate().is_ok());
        assert_eq!(id(&mapped, "hub-a"), id(&json_form, "hub-a"));
        let anonymous = wire::AbuseReport { reporting_user: String::new(), ..wire_form };
        let mapped = AbuseReport::from_wire(json_form.room.clone(), anonymous);
        assert_eq!(mapped.reporting_user, None, "an empty reportingUser names no one");
    }
}
