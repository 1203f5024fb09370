//! Operators: the people behind admin clients (issue 12). Two tokens of one
//! person are one approver; a new operator needs another operator's
//! approval (or `veilctl operator add` on the host); the last operator who
//! can still act cannot be revoked. Refusals are audited.

use serde::Serialize;

use super::{Access, AccessError, ApiToken, Client, Scope};
use crate::services::audit::{AuditAction, AuditEvent};
use crate::store::{NewOperator, OperatorRow};

/// The actor recorded for `veilctl operator add` (offline, on the host).
pub const HOST_ACTOR: &str = "host";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperatorStatus {
    /// Requested; waits for another operator's approval.
    Pending,
    Active,
    Revoked,
}

/// An operator as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: String,
    pub name: String,
    pub status: OperatorStatus,
    pub requested_by: Option<String>,
    pub approved_by: Option<String>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn operator_from_row(row: OperatorRow) -> Operator {
    let status = match row.status.as_str() {
        "active" => OperatorStatus::Active,
        "pending" => OperatorStatus::Pending,
        _ => OperatorStatus::Revoked,
    };
    Operator {
        id: row.id,
        name: row.name,
        status,
        requested_by: row.requested_by,
        approved_by: row.approved_by,
        created_at: row.created_at,
        activated_at: row.activated_at,
        revoked_at: row.revoked_at,
    }
}

fn checked_name(name: &str) -> Result<&str, AccessError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AccessError::BadOperatorName);
    }
    Ok(name)
}

impl Access {
    /// Records a refusal of an authenticated caller, then returns it (or
    /// the audit write's own failure).
    pub(super) async fn refused(
        &self,
        actor: &str,
        subject: &str,
        error: AccessError,
        now: i64,
    ) -> AccessError {
        let why = error.to_string();
        let event = AuditEvent::new(now, actor, AuditAction::OperatorRefused, subject, None, &why);
        match self.store.append_audit(&event).await {
            Ok(()) => error,
            Err(e) => AccessError::Store(e),
        }
    }

    /// First start or `veilctl init`: the first operator and its admin client.
    pub async fn create_first_admin(&self, now: i64) -> Result<ApiToken, AccessError> {
        let operator = self.insert_operator("bootstrap", "first admin", true, None, now).await?;
        let (_, token) = self
            .create_client("bootstrap", "first admin", &[Scope::Admin], Some(&operator.id), now)
            .await?;
        Ok(token)
    }

    async fn insert_operator(
        &self,
        actor: &str,
        name: &str,
        active: bool,
        requested_by: Option<&str>,
        now: i64,
    ) -> Result<Operator, AccessError> {
        let name = checked_name(name)?;
        let id = uuid::Uuid::new_v4().to_string();
        let action =
            if active { AuditAction::OperatorAdded } else { AuditAction::OperatorRequested };
        let event = AuditEvent::new(now, actor, action, &id, None, "");
        let new = NewOperator { id: &id, name, active, requested_by, created_at: now };
        self.store.insert_operator(&new, &event).await?;
        self.operator(&id).await
    }

    /// `veilctl operator add` on the host: active at once (whoever holds the
    /// host and its key directory could as well run `veilctl init`).
    pub async fn add_operator_on_host(
        &self,
        name: &str,
        now: i64,
    ) -> Result<Operator, AccessError> {
        self.insert_operator(HOST_ACTOR, name, true, None, now).await
    }

    /// The caller's active operator; refused (and audited) otherwise.
    async fn caller_operator(&self, caller: &Client, now: i64) -> Result<String, AccessError> {
        match self.store.active_operator_of_client(&caller.id).await? {
            Some((operator, _)) => Ok(operator),
            None => Err(self.refused(&caller.id, "", AccessError::NotAnOperator, now).await),
        }
    }

    /// A new operator, pending until a different operator approves it.
    pub async fn request_operator(
        &self,
        caller: &Client,
        name: &str,
        now: i64,
    ) -> Result<Operator, AccessError> {
        let requester = self.caller_operator(caller, now).await?;
        self.insert_operator(&caller.id, name, false, Some(&requester), now).await
    }

    /// Activates a pending operator; the operator that requested it (through
    /// any of its clients) is refused.
    pub async fn approve_operator(
        &self,
        caller: &Client,
        id: &str,
        now: i64,
    ) -> Result<Operator, AccessError> {
        let approver = self.caller_operator(caller, now).await?;
        let event = AuditEvent::new(now, &caller.id, AuditAction::OperatorApproved, id, None, "");
        if self.store.approve_operator(id, &approver, &event).await? {
            return self.operator(id).await;
        }
        let error = match self.store.operator(id).await? {
            None => AccessError::UnknownOperator,
            Some(row) if row.status != "pending" => AccessError::OperatorNotPending,
            Some(_) => AccessError::OperatorSelfApproval,
        };
        let subject = if id.len() <= 100 { id } else { "" };
        Err(self.refused(&caller.id, subject, error, now).await)
    }

    pub async fn operator(&self, id: &str) -> Result<Operator, AccessError> {
        let row = self.store.operator(id).await?.ok_or(AccessError::UnknownOperator)?;
        Ok(operator_from_row(row))
    }

    pub async fn list_operators(&self) -> Result<Vec<Operator>, AccessError> {
        Ok(self.store.list_operators().await?.into_iter().map(operator_from_row).collect())
    }

    /// Revokes an operator and all its clients. Refused (and audited) when
    /// it is unknown or revoked, or when no other active operator with an
    /// admin client would remain.
    pub async fn revoke_operator(
        &self,
        actor: &str,
        id: &str,
        now: i64,
    ) -> Result<Operator, AccessError> {
        let event = AuditEvent::new(now, actor, AuditAction::OperatorRevoked, id, None, "");
        if self.store.revoke_operator(id, &event).await? {
            return self.operator(id).await;
        }
        let error = match self.store.operator(id).await? {
            None => AccessError::UnknownOperator,
            Some(row) if row.status == "revoked" => AccessError::OperatorNotActive,
            Some(_) => AccessError::LastOperator,
        };
        let subject = if id.len() <= 100 { id } else { "" };
        Err(self.refused(actor, subject, error, now).await)
    }
}
