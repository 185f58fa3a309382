//! Browser sign-in: sessions (password or the organization's OpenID Connect provider), signing out, and passwords.
//! See docs/authentication.md.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Extension, Json,
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{Code, Error, Timestamp, ids::*, role::Role, text::Email};
use switchboard_store::{model::Page, sign_in::Session};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::{
        Principal,
        oidc_sign_in::{self, Callback},
        sessions::{self, COOKIE, Client, CurrentSession, Refusal},
    },
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiQuery, PageQuery, path_id},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in, list_sessions))
        .routes(routes!(current_session, sign_out))
        .routes(routes!(revoke_session))
        .routes(routes!(oidc_start))
        .routes(routes!(oidc_callback))
        .routes(routes!(set_password, change_password))
        .routes(routes!(create_password_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: Email,
    pub password: String,
    /// The organization to sign in to. Optional: among users with a password an email names one person in the
    /// deployment. When it names an organization that signs in through its identity provider, the answer is
    /// `password_sign_in_disabled` at once.
    #[serde(default)]
    pub organization: Option<OrgId>,
}

pub(super) fn client(app: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>, account: Option<String>) -> Client {
    let forwarded = app.config.sign_in.client_address_header.as_deref().and_then(|name| {
        let value = headers.get(name)?.to_str().ok()?;
        value.rsplit(',').next().map(str::trim).filter(|a| !a.is_empty()).map(str::to_string)
    });
    Client {
        address: forwarded.or_else(|| peer.map(|p| p.ip().to_string())),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
        account,
    }
}

fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn session_cookie(app: &AppState, token: &str) -> HeaderValue {
    sessions::set_cookie(app, COOKIE, token, "/", Duration::from_secs(app.config.sign_in.session_absolute_seconds))
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = ApiError(self.error).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Signs in with an email and password. Sets the session cookie (`HttpOnly; SameSite=Lax; Path=/`, `Secure` behind
/// https) and answers the session with its CSRF token. Failed sign-ins are limited per account and per client
/// address (429 with `Retry-After`).
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = SignIn,
    responses((status = 201, body = CurrentSession, headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 401, description = "`invalid_credentials`"),
        (status = 403, description = "`password_sign_in_disabled`: the organization signs in through its provider"),
        (status = 429, description = "`too_many_sign_in_attempts`", headers(("retry-after" = u64)))))]
async fn sign_in(
    State(app): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<SignIn>,
) -> Result<Response, Refusal> {
    let client = client(&app, &headers, peer.map(|p| p.0.0), None);
    let (current, token) =
        sessions::sign_in_with_password(&app, input.email, input.password, input.organization, client).await?;
    let cookie = session_cookie(&app, &token);
    Ok(with_cookie((StatusCode::CREATED, Json(current)).into_response(), cookie))
}

/// The live sessions: an admin's list has the organization's, anyone else's their own.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", security(("bearer" = []), ("session" = [])),
    params(PageQuery), responses((status = 200, body = Page<Session>)))]
async fn list_sessions(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Session>>> {
    let (limit, after) = (page.limit()?, page.cursor::<SessionId>()?);
    let rows = sessions::list(&app, &who, after, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |s| s.id.to_string())))
}

/// The caller's own session, with its CSRF token (for a page loaded after sign-in).
#[utoipa::path(get, path = "/v1/sessions/current", tag = "sessions", security(("session" = [])),
    responses((status = 200, body = CurrentSession),
        (status = 404, description = "`session_not_found`: the caller did not come with a session cookie")))]
async fn current_session(State(app): State<AppState>, who: Principal, headers: HeaderMap) -> ApiResult<Response> {
    let token = sessions::cookie(&headers, COOKIE).unwrap_or_default();
    let current = sessions::current_session(&app, &who, token).await?;
    let mut response = Json(current).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Signs out: revokes the caller's session and clears its cookie.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("session" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 204, description = "Signed out"),
        (status = 404, description = "`session_not_found`: the caller did not come with a session cookie")))]
async fn sign_out(State(app): State<AppState>, who: Principal) -> ApiResult<Response> {
    let (_, id) = sessions::current(&who)?;
    sessions::revoke(&app, &who, id).await?;
    let cleared = sessions::set_cookie(&app, COOKIE, "", "/", Duration::ZERO);
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), cleared))
}

/// Revokes a session at once: an admin any of the organization's, anyone else one of their own.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", security(("bearer" = []), ("session" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "Revoked"), (status = 404)))]
async fn revoke_session(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id = path_id(&id, Code::SessionNotFound)?;
    sessions::revoke(&app, &who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcStart {
    /// The organization whose identity provider to sign in with.
    pub organization: OrgId,
}

/// Starts signing in through the organization's OpenID Connect provider: redirects the browser to the provider
/// (authorization code flow with PKCE), which sends it back to `/v1/sessions/oidc/callback`.
#[utoipa::path(get, path = "/v1/sessions/oidc", tag = "sessions", params(OidcStart),
    responses((status = 303, description = "To the provider's authorization endpoint",
        headers(("location" = String), ("set-cookie" = String, description = "Ties the sign-in to this browser"))),
        (status = 404, description = "`oidc_not_configured`")))]
async fn oidc_start(State(app): State<AppState>, ApiQuery(q): ApiQuery<OidcStart>) -> ApiResult<Response> {
    let redirect_uri = callback_url(&app);
    let (location, state) = app.auth.sign_ins.start(&app.store, q.organization, &redirect_uri, app.clock.now()).await?;
    let cookie =
        sessions::set_cookie(&app, oidc_sign_in::STATE_COOKIE, &state, "/v1/sessions/oidc", oidc_sign_in::STATE_TTL);
    Ok(with_cookie(redirect(&location), cookie))
}

fn callback_url(app: &AppState) -> String {
    format!("{}/v1/sessions/oidc/callback", app.auth.signer.issuer())
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => ApiError(Error::internal("a redirect location is not a header value")).into_response(),
    }
}

/// Where the provider sends the browser back: exchanges the code, verifies the ID token (signature, issuer,
/// audience, expiry, nonce), finds the user by email, sets the session cookie and redirects to `/`.
#[utoipa::path(get, path = "/v1/sessions/oidc/callback", tag = "sessions", params(Callback),
    responses((status = 303, description = "Signed in; to `/`",
        headers(("location" = String), ("set-cookie" = String, description = "The session cookie"))),
        (status = 400, description = "`invalid_oidc_state`"), (status = 401, description = "`oidc_sign_in_failed`")))]
async fn oidc_callback(
    State(app): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiQuery(callback): ApiQuery<Callback>,
) -> ApiResult<Response> {
    let browser_state = sessions::cookie(&headers, oidc_sign_in::STATE_COOKIE);
    let redirect_uri = callback_url(&app);
    let now = app.clock.now();
    let user =
        app.auth.sign_ins.finish(&app.store, &app.auth.external, callback, browser_state, &redirect_uri, now).await?;
    let client = client(&app, &headers, peer.map(|p| p.0.0), None);
    let (_, token) = sessions::open(&app, user, switchboard_store::sign_in::SignInMethod::Oidc, &client).await?;
    let response = with_cookie(redirect("/"), session_cookie(&app, &token));
    let cleared = sessions::set_cookie(&app, oidc_sign_in::STATE_COOKIE, "", "/v1/sessions/oidc", Duration::ZERO);
    Ok(with_cookie(response, cleared))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// The one-time token an admin issued (`POST /v1/users/{id}/password-token`).
    pub token: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

/// Sets a user's password with a one-time token. The user's sessions end.
#[utoipa::path(post, path = "/v1/password", tag = "sessions", request_body = SetPassword,
    responses((status = 204, description = "The password is set"),
        (status = 400, description = "`invalid_password_token`, `password_too_short` or `password_too_long`")))]
async fn set_password(State(app): State<AppState>, ApiJson(input): ApiJson<SetPassword>) -> ApiResult<StatusCode> {
    sessions::set_with_token(&app, &input.token, input.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

/// Changes the caller's own password, given the current one. Their other sessions end.
#[utoipa::path(put, path = "/v1/password", tag = "sessions", security(("bearer" = []), ("session" = [])),
    request_body = ChangePassword,
    responses((status = 204, description = "The password is changed"),
        (status = 403, description = "`wrong_current_password`")))]
async fn change_password(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(input): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    sessions::change(&app, &who, input.current_password, input.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordToken {
    pub user_id: UserId,
    /// Give it to the user (e.g. in a link to the set-password page); it is shown only here and works once.
    pub token: String,
    pub expires_at: Timestamp,
}

/// Issues a one-time set-password token for a user (who needs an email to sign in with).
#[utoipa::path(post, path = "/v1/users/{id}/password-token", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 201, body = PasswordToken), (status = 404)))]
async fn create_password_token(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    let user = path_id(&id, Code::UserNotFound)?;
    let (token, expires_at) = sessions::issue_password_token(&app, who.org_id, user).await?;
    let body = PasswordToken { user_id: user, token, expires_at };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
