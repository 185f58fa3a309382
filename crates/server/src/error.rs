//! The one place errors become HTTP responses: RFC 9457 problem+json with the stable code, or, on the OAuth2
//! token endpoint, the RFC 6749 error body that OAuth clients expect.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use switchboard_domain::{Code, Error};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self(Error::new(code, detail))
    }
}

fn status(code: Code) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = status(e.code);
        // These details name causes (a database, a URL) that are the operator's business, not the client's.
        let hidden = matches!(e.code, Code::Internal | Code::Unavailable);
        if hidden {
            tracing::error!(code = %e.code, detail = %e.detail, source = ?e.source, "request failed");
        } else {
            tracing::debug!(code = %e.code, detail = %e.detail, "request refused");
        }
        let mut body = json!({
            "type": format!("/docs/errors#{}", e.code),
            "title": e.code.title(),
            "status": status.as_u16(),
            "detail": if hidden { "internal error".to_string() } else { e.detail },
            "code": e.code.as_str(),
        });
        if let Some(field) = e.field {
            body["field"] = field.into();
        }
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// An error from `POST /oauth2/token`, rendered as RFC 6749 §5.2 requires.
#[derive(Debug)]
pub struct OAuthError(pub Error);

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let e = self.0;
        let (status, error) = match e.code {
            Code::InvalidClient | Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "invalid_client"),
            Code::UnsupportedGrantType => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
            Code::Internal | Code::Unavailable => return ApiError(e).into_response(),
            _ => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        let mut response = (status, Json(json!({ "error": error, "error_description": e.detail }))).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        }
        response
    }
}
