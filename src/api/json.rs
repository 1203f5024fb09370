//! The JSON body extractor. Reading never rejects the request: the handler
//! calls [`ApiJson::parse`] after its scope check, so a client without the
//! scope gets 403 whatever its body, and the body's refusals (problem
//! details mapped in `problem.rs`) go only to clients that may call.

use axum::extract::{FromRequest, Request};

use super::problem::Problem;

pub struct ApiJson<T>(Result<T, Problem>);

impl<T> ApiJson<T> {
    /// The body, or the problem that refuses it (415, 400, 413 or 422).
    pub fn parse(self) -> Result<T, Problem> {
        self.0
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            axum::Json::<T>::from_request(req, state)
                .await
                .map(|axum::Json(v)| v)
                .map_err(Problem::from),
        ))
    }
}
