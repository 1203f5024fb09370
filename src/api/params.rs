//! Query and path extractors whose rejections are problem details (mapped
//! in `problem.rs`): a 400 naming the parameter, never echoing its value.
//! The query, like the body ([`super::json::ApiJson`]), is refused only
//! when the handler asks for it after its scope check.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::Problem;

pub struct ApiQuery<T>(Result<T, Problem>);

impl<T> ApiQuery<T> {
    /// The query, or the 400 that refuses it.
    pub fn parse(self) -> Result<T, Problem> {
        self.0
    }
}

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let query = Query::<T>::from_request_parts(parts, state).await;
        Ok(Self(query.map(|Query(value)| value).map_err(Problem::from)))
    }
}

pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}
