//! Bearer-token authentication as an extractor; each handler states the
//! scopes it accepts with `Caller::require`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::problem::Problem;
use crate::services::access::{Client, Scope};

/// The authenticated API client behind a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Client);

impl Caller {
    /// 403 unless the client holds one of `scopes`.
    pub fn require(&self, scopes: &[Scope]) -> Result<&Client, Problem> {
        if self.0.has_any(scopes) { Ok(&self.0) } else { Err(Problem::forbidden_scope()) }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| Problem::unauthorized("send `Authorization: Bearer <token>`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        match state.access.authenticate(token).await {
            Ok(Some(client)) => Ok(Caller(client)),
            Ok(None) => Err(Problem::unauthorized("the token is unknown or revoked")),
            Err(e) => Err(Problem::internal(e)),
        }
    }
}
