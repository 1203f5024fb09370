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

    /// A stable id for this report from this reporter: the same report sent
    /// twice gets the same id, so it is counted once.
    pub fn report_id(&self, reporter: &str) -> Result<String, serde_json::Error> {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(b"veil abuse report v1\0");
        context.update(reporter.as_bytes());
        context.update(&[0]);
        context.update(&serde_json::to_vec(self)?);
        Ok(Base64UrlUnpadded::encode_string(context.finish().as_ref()))
    }
}
