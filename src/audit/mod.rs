//! Audit events: every remedy (applied or lifted) and reputation adjustment (and, later, every break-glass step) is
//! written through [`AuditEvent`] in the same transaction as the change it
//! records, so no change lands without its event. For now the store keeps
//! them in an insert-only table; issue 5 turns it into a hash-chained log
//! behind this same type.

use crate::abuse::remedies::RemedyAction;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    RemedyApplied(RemedyAction),
    RemedyLifted,
    ReputationAdjusted,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::RemedyApplied(action) => match action {
                RemedyAction::Mute => "remedy.mute",
                RemedyAction::Suspend => "remedy.suspend",
                RemedyAction::SuspendAndRevoke => "remedy.suspend_and_revoke",
                RemedyAction::Delete => "remedy.delete",
            },
            AuditAction::RemedyLifted => "remedy.lift",
            AuditAction::ReputationAdjusted => "reputation.adjust",
        }
    }
}

/// One audit event. Never account data: `subject` names the record
/// (e.g. a remedy id), `actor` the API client (or `auto`).
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub id: String,
    pub at: i64,
    pub actor: &'a str,
    pub action: AuditAction,
    pub subject: &'a str,
    pub case_id: Option<&'a str>,
    pub reason: &'a str,
}

impl<'a> AuditEvent<'a> {
    pub fn new(
        at: i64,
        actor: &'a str,
        action: AuditAction,
        subject: &'a str,
        case_id: Option<&'a str>,
        reason: &'a str,
    ) -> Self {
        Self { id: uuid::Uuid::new_v4().to_string(), at, actor, action, subject, case_id, reason }
    }
}
