//! API clients, scopes and bearer tokens.
//!
//! Tokens carry 256 random bits, so one SHA-256 is a sufficient at-rest
//! hash (a slow KDF would dominate every request) and the lookup is by
//! that digest through a unique index.

use std::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::services::audit::{AuditAction, AuditEvent};
use crate::store::{NewClient, Store, StoreError};

mod operators;

pub use operators::{Operator, OperatorStatus};

/// What a client may do. A route names the scopes it accepts.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The provider's client-facing backend: mints, issues disclosures.
    Backend,
    /// A MIMI hub: checks pseudonyms, verifies disclosures, reports abuse.
    Hub,
    /// Operators: clients, keys, remedies, break-glass. Held only by a
    /// client of an active operator (a person).
    Admin,
    /// Read-only access to the audit log and the metrics.
    Auditor,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Backend => "backend",
            Scope::Hub => "hub",
            Scope::Admin => "admin",
            Scope::Auditor => "auditor",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "backend" => Some(Scope::Backend),
            "hub" => Some(Scope::Hub),
            "admin" => Some(Scope::Admin),
            "auditor" => Some(Scope::Auditor),
            _ => None,
        }
    }
}

/// A bearer token in clear: exists only between creation and the response
/// that shows it once. Never printed by `Debug`.
pub struct ApiToken(Zeroizing<String>);

impl ApiToken {
    const PREFIX: &'static str = "veil_";

    fn generate() -> Result<Self, AccessError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(bytes.as_mut()).map_err(|_| AccessError::Random)?;
        let body = Base64UrlUnpadded::encode_string(bytes.as_ref());
        Ok(Self(Zeroizing::new(format!("{}{body}", Self::PREFIX))))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(redacted)")
    }
}

/// SHA-256 of a presented token: what the database stores and indexes.
pub fn hash_token(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// An authenticated or listed API client.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The operator (person) behind an admin client.
    pub operator_id: Option<String>,
}

impl Client {
    pub fn has_any(&self, accepted: &[Scope]) -> bool {
        self.scopes.iter().any(|s| accepted.contains(s))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("a client name must be 1 to 100 characters")]
    BadName,
    #[error("at least one scope is required")]
    NoScopes,
    #[error("this is the last active admin client; create another admin first")]
    LastAdmin,
    #[error("an admin client must name its operator (`operator`)")]
    OperatorRequired,
    #[error("the operator is not active (pending approval, revoked or unknown)")]
    OperatorNotActive,
    #[error("an operator name must be 1 to 100 characters")]
    BadOperatorName,
    #[error("no operator has this id")]
    UnknownOperator,
    #[error("an operator cannot approve itself or an operator it requested")]
    OperatorSelfApproval,
    #[error("the operator is not pending approval")]
    OperatorNotPending,
    #[error("this is the last active operator with an admin client; add another operator first")]
    LastOperator,
    #[error("only a client of an active operator may do this")]
    NotAnOperator,
    #[error("no randomness available")]
    Random,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Client management and token checks.
#[derive(Debug, Clone)]
pub struct Access {
    store: Store,
}

impl Access {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a client; `actor` (a client id, or `bootstrap`) is recorded
    /// in the audit log with it. An admin client names its operator, which
    /// must be active; a refusal for a non-active one is audited.
    pub async fn create_client(
        &self,
        actor: &str,
        name: &str,
        scopes: &[Scope],
        operator: Option<&str>,
        now: i64,
    ) -> Result<(Client, ApiToken), AccessError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AccessError::BadName);
        }
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AccessError::NoScopes);
        }
        let operator = operator.map(str::trim).filter(|o| !o.is_empty());
        if scopes.contains(&Scope::Admin) && operator.is_none() {
            return Err(AccessError::OperatorRequired);
        }
        let token = ApiToken::generate()?;
        let id = uuid::Uuid::new_v4().to_string();
        let scope_text = join_scopes(&scopes);
        let inserted = self
            .store
            .insert_client(
                &NewClient {
                    id: &id,
                    name,
                    scopes: &scope_text,
                    token_hash: &hash_token(token.expose()),
                    created_at: now,
                    operator_id: operator,
                },
                &AuditEvent::new(now, actor, AuditAction::ClientCreated, &id, None, ""),
            )
            .await?;
        if !inserted {
            let error = AccessError::OperatorNotActive;
            let subject = operator.filter(|o| o.len() <= 100).unwrap_or_default();
            return Err(self.refused(actor, subject, error, now).await);
        }
        let client = Client {
            id,
            name: name.into(),
            scopes,
            created_at: now,
            revoked_at: None,
            operator_id: operator.map(str::to_string),
        };
        Ok((client, token))
    }

    /// The active client holding `token`, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Client>, AccessError> {
        let row = self.store.client_by_token_hash(&hash_token(token)).await?;
        Ok(row.map(client_from_row))
    }

    pub async fn list(&self) -> Result<Vec<Client>, AccessError> {
        Ok(self.store.list_clients().await?.into_iter().map(client_from_row).collect())
    }

    /// False when there is no active client with this id.
    /// Refuses to revoke the last active admin.
    pub async fn revoke(&self, actor: &str, id: &str, now: i64) -> Result<bool, AccessError> {
        let event = AuditEvent::new(now, actor, AuditAction::ClientRevoked, id, None, "");
        if self.store.revoke_client(id, &event).await? {
            return Ok(true);
        }
        match self.store.client_is_active(id).await? {
            true => Err(AccessError::LastAdmin),
            false => Ok(false),
        }
    }

    /// Whether any client was ever created (first-start bootstrap).
    pub async fn has_clients(&self) -> Result<bool, AccessError> {
        Ok(self.store.count_clients().await? > 0)
    }
}

fn join_scopes(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// The admin scope counts only while the client's operator is active: a
/// client of a pending or revoked operator (or of none) cannot act as admin.
fn client_from_row(row: crate::store::ClientRow) -> Client {
    let operator_active = row.operator_status.as_deref() == Some("active");
    Client {
        scopes: row
            .scopes
            .split_whitespace()
            .filter_map(Scope::parse)
            .filter(|s| *s != Scope::Admin || operator_active)
            .collect(),
        id: row.id,
        name: row.name,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
        operator_id: row.operator_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_redacted() {
        let a = ApiToken::generate().unwrap();
        let b = ApiToken::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("veil_"));
        assert_eq!(a.expose().len(), 5 + 43);
        assert!(!format!("{a:?}").contains(&a.expose()[5..]));
        assert_ne!(hash_token(a.expose()), hash_token(b.expose()));
    }
}
