//! The one error type of every handler: a status and a JSON body
//! `{"error": "..."}`. Server-side failures are logged in full and answered
//! with a generic message, so no internal detail leaks to the caller.

use crate::config::Role;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized,
    Forbidden(Role),
    NotFound(String),
    PayloadTooLarge(usize),
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// Temporarily unable (shutting down, store closed); the message is logged, not shown.
    Unavailable(String),
    /// A bug or an I/O failure; the message is logged, not shown.
    Internal(String),
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::BadRequest(m) | ApiError::NotFound(m) => m.clone(),
            ApiError::Unauthorized => {
                "missing or unknown API key (send `Authorization: Bearer KEY`)".into()
            }
            ApiError::Forbidden(role) => format!("this API key lacks the `{}` role", role.as_str()),
            ApiError::PayloadTooLarge(limit) => format!("body over the {limit}-byte limit"),
            ApiError::TooManyRequests { retry_after_secs } => {
                format!("ingest rate limit exceeded; retry after {retry_after_secs} s")
            }
            ApiError::Unavailable(_) => "service unavailable, retry later".into(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(m) => tracing::error!(error = %m, "request failed"),
            ApiError::Unavailable(m) => tracing::warn!(error = %m, "request refused"),
            _ => {}
        }
        let status = self.status();
        let mut resp = (
            status,
            Json(serde_json::json!({ "error": self.public_message() })),
        )
            .into_response();
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<apiwarden_store::StoreError> for ApiError {
    fn from(e: apiwarden_store::StoreError) -> Self {
        match e {
            apiwarden_store::StoreError::Closed => ApiError::Unavailable(e.to_string()),
            apiwarden_store::StoreError::InvalidCursor => {
                ApiError::BadRequest("invalid cursor".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}
