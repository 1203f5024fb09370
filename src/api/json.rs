//! JSON extractors whose rejections are problem details (mapped in
//! `problem.rs`).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::problem::Problem;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// For bodies whose every field is optional: a request with neither a
/// content type nor a body reads as `{}`, so a bare `POST` works. Anything
/// else is [`ApiJson`], with its refusals (a non-JSON body is still 415).
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            let ApiJson(value) = ApiJson::from_request(req, state).await?;
            return Ok(Self(value));
        }
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state).await?;
        if bytes.is_empty() {
            let axum::Json(value) = axum::Json::<T>::from_bytes(b"{}")?;
            return Ok(Self(value));
        }
        // A body without a content type: let the JSON extractor refuse it.
        let req = Request::from_parts(parts, Body::from(bytes));
        let ApiJson(value) = ApiJson::from_request(req, state).await?;
        Ok(Self(value))
    }
}
