//! OAuth2 client credentials (RFC 6749 §4.4) and the discovery documents that let any JWT library verify our
//! tokens.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use switchboard_domain::{Code, Error, Timestamp, ids::ClientId};
use switchboard_store::access;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{
        secrets,
        tokens::{API_AUDIENCE, Claims},
    },
    error::OAuthError,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token)).routes(routes!(openid_configuration)).routes(routes!(jwks))
}

/// Other fields (such as `scope`) are accepted and ignored: a token carries its client's role.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn invalid_client() -> Error {
    Error::new(Code::InvalidClient, "unknown client or wrong secret")
}

/// Issues an access token for a client's id and secret, sent as form fields (or JSON) or with HTTP Basic.
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth2",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 400, description = "RFC 6749 error"),
        (status = 401, description = "RFC 6749 `invalid_client`")))]
async fn token(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, OAuthError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let form: TokenRequest = if is_json {
        serde_json::from_slice(&body).map_err(|e| Error::new(Code::InvalidBody, format!("bad JSON body: {e}")))?
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| Error::new(Code::InvalidBody, format!("bad form body: {e}")))?
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => return Err(Error::new(Code::MissingField, "grant_type is required").into()),
        Some(other) => {
            return Err(Error::new(Code::UnsupportedGrantType, format!("grant_type `{other}` is not supported")).into());
        }
    }
    let (id, secret) = match (basic_credentials(&headers), form.client_id, form.client_secret) {
        (Some(basic), _, _) => basic,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => return Err(Error::new(Code::InvalidClient, "send client_id and client_secret").into()),
    };
    let id: ClientId = id.parse().map_err(|_| invalid_client())?;
    let (client, stored_hash) =
        app.store.read(move |tx| access::find_client(tx, id)).await?.ok_or_else(invalid_client)?;
    if !bool::from(secrets::hash(&secret).as_bytes().ct_eq(stored_hash.as_bytes())) {
        return Err(invalid_client().into());
    }
    // The wall clock, not the app's: tokens are checked (here and by anyone holding the JWKS) against real time.
    let now = Timestamp::now().millis() / 1000;
    let ttl = app.auth.token_ttl.as_secs();
    let claims = Claims {
        iss: app.auth.signer.issuer().to_string(),
        sub: client.id.to_string(),
        aud: API_AUDIENCE.to_string(),
        exp: now + i64::try_from(ttl).unwrap_or(3600),
        iat: now,
        jti: uuid::Uuid::now_v7().to_string(),
        org: client.org_id.to_string(),
        role: client.role.to_string(),
    };
    let access_token = app.auth.signer.sign(&claims)?;
    let mut response = Json(TokenResponse { access_token, token_type: "Bearer", expires_in: ttl }).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// OpenID Connect discovery, for libraries that find the keys from the issuer.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth2", responses((status = 200)))]
async fn openid_configuration(State(app): State<AppState>) -> Json<serde_json::Value> {
    let issuer = app.auth.signer.issuer();
    Json(serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }))
}

/// The public keys our tokens are signed with.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth2", responses((status = 200)))]
async fn jwks(State(app): State<AppState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(app.auth.signer.jwks())).into_response()
}
