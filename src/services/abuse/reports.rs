//! Abuse reports from hubs, in the shape of MIMI `reportAbuse`
//! (draft-ietf-mimi-protocol §5.9). Sizes are bounded, not characters.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};

pub const MAX_ROOM: usize = 512;
pub const MAX_USER: usize = 512;
pub const MAX_NOTE: usize = 4096;
pub const MAX_MESSAGES: usize = 10;
pub const MAX_CONTENT: usize = 4096;
pub const MAX_FRANK: usize = 512;

/// A report as a hub sends it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbuseReport {
    pub room: String,
    #[serde(default)]
    pub reporting_user: Option<String>,
    /// The pseudonym URI reported.
    pub alleged_abuser: String,
    pub reason_code: u32,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub messages: Vec<ReportedMessage>,
}

/// One reported message with its franking tag.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportedMessage {
    pub mimi_content: String,
    pub frank: String,
    pub accepted_timestamp: u64,
}

impl AbuseReport {
    /// Checks the size bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let too_long = |field: &str, max: usize| format!("`{field}` is limited to {max} bytes");
        if self.room.is_empty() || self.room.len() > MAX_ROOM {
            return Err(format!("`room` must be 1 to {MAX_ROOM} bytes"));
        }
        if self.reporting_user.as_ref().is_some_and(|u| u.len() > MAX_USER) {
            return Err(too_long("reporting_user", MAX_USER));
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
            if m.frank.len() > MAX_FRANK {
                return Err(too_long(&format!("messages[{i}].frank"), MAX_FRANK));
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
        let mut franks: Vec<&str> = self.messages.iter().map(|m| m.frank.as_str()).collect();
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
    franks: Vec<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(note: &str, reason_code: u32, franks: &[&str]) -> AbuseReport {
        AbuseReport {
            room: "mimi://hub.example/r/lobby".into(),
            reporting_user: Some("mimi://hub.example/u/reporter".into()),
            alleged_abuser: "mimi://example.com/p/AAAAAAAAAAAAAAAAAAAAAA".into(),
            reason_code,
            note: note.into(),
            messages: franks
                .iter()
                .map(|f| ReportedMessage {
                    mimi_content: format!("content of {f}"),
                    frank: (*f).into(),
                    accepted_timestamp: 1,
                })
                .collect(),
        }
    }

    fn id(report: &AbuseReport, reporter: &str) -> String {
        report.report_id(reporter).unwrap()
    }

    #[test]
    fn rewording_a_report_does_not_make_it_another() {
        let first = id(&report("spam", 1, &["f1", "f2"]), "hub-a");
        assert_eq!(id(&report("SPAM!!", 1, &["f1", "f2"]), "hub-a"), first, "note");
        assert_eq!(id(&report("spam", 7, &["f1", "f2"]), "hub-a"), first, "reason code");
        assert_eq!(id(&report("spam", 1, &["f2", "f1", "f2"]), "hub-a"), first, "message order");
    }

    #[test]
    fn other_abuse_or_another_reporter_is_another_report() {
        let base = report("spam", 1, &["f1"]);
        let first = id(&base, "hub-a");
        assert_ne!(id(&base, "hub-b"), first, "reporter");
        assert_ne!(id(&report("spam", 1, &["f1", "f3"]), "hub-a"), first, "messages");
        assert_ne!(id(&report("spam", 1, &[]), "hub-a"), first, "no messages");
        let mut other = base.clone();
        other.room = "mimi://hub.example/r/other".into();
        assert_ne!(id(&other, "hub-a"), first, "room");
        let mut other = base.clone();
        other.reporting_user = None;
        assert_ne!(id(&other, "hub-a"), first, "reporting user");
        let mut other = base;
        other.alleged_abuser = "mimi://example.com/p/BBBBBBBBBBBBBBBBBBBBBB".into();
        assert_ne!(id(&other, "hub-a"), first, "pseudonym");
    }
}
