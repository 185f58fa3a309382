//! Browser sessions: signing in with a password, the session cookie and its CSRF token, the failed sign-in rate
//! limit, and the set-password flow. Sessions are never cached: each cookie request reads its row, so a revocation
//! takes effect at once on every node.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq;
use switchboard_domain::{
    Code, Error, Timestamp,
    event::{AgentSignedIn, TypedEvent},
    ids::*,
    role::Role,
    text::Email,
};
use switchboard_store::{
    events,
    model::User,
    sign_in::{self, NewSession, Session, SignInMethod},
};

use super::{
    Principal, Subject,
    passwords::{self, Password},
    secrets,
};
use crate::AppState;

pub const COOKIE: &str = "switchboard_session";
/// The header a cookie-authenticated write carries its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, and Secure when the server is reached over https.
pub fn set_cookie(app: &AppState, name: &str, value: &str, path: &str, max_age: Duration) -> HeaderValue {
    let secure = if app.auth.signer.issuer().starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; HttpOnly; SameSite=Lax; Path={path}; Max-Age={}{secure}", max_age.as_secs());
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What a signed-in browser is told about its session (at sign-in and at `GET /v1/sessions/current`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CurrentSession {
    pub id: SessionId,
    pub user: User,
    pub role: Role,
    pub method: SignInMethod,
    /// When the session ends unless used before (the idle expiry), or its absolute end, whichever is sooner.
    pub expires_at: Timestamp,
    /// Send it as the `X-CSRF-Token` header with every write (POST, PUT, PATCH, DELETE) made with the cookie.
    pub csrf_token: String,
}

/// A new session for `user`: its row, and the cookie's token (shown only to the browser).
pub async fn open(
    app: &AppState,
    user: User,
    method: SignInMethod,
    client: &Client,
) -> Result<(CurrentSession, String), Error> {
    let token = secrets::random_token("");
    let csrf = secrets::random_token("");
    let (token_hash, csrf_token) = (secrets::hash(&token), csrf.clone());
    let sign_in = &app.config.sign_in;
    let now = app.clock.now();
    let expires_at = now.plus_millis(millis(Duration::from_secs(sign_in.session_absolute_seconds)));
    let idle = millis(Duration::from_secs(sign_in.session_idle_seconds));
    let (address, user_agent, account) = (client.address.clone(), client.user_agent.clone(), client.account.clone());
    let (org, user_id, role) = (user.org_id, user.id, user.role);
    let session = app
        .store
        .write(move |tx| {
            if let Some(account) = &account {
                sign_in::clear_failures(tx, account)?;
            }
            let session = sign_in::create_session(
                tx,
                NewSession {
                    org,
                    user: user_id,
                    token_hash: &token_hash,
                    csrf_token: &csrf_token,
                    method,
                    address: address.as_deref(),
                    user_agent: user_agent.as_deref(),
                    expires_at,
                },
                now,
                idle,
            )?;
            if role == Role::Agent {
                // Routing follows it and puts the agent in their default presence (reference §6.5).
                let signed_in = AgentSignedIn { agent_id: user_id, session_id: session.id };
                events::record_event(tx, org, None, &TypedEvent::AgentSignedIn(signed_in), now)?;
            }
            Ok(session)
        })
        .await?;
    let current =
        CurrentSession { id: session.id, role, method, expires_at: session.expires_at, csrf_token: csrf, user };
    Ok((current, token))
}

/// Who is signing in, as the rate limit counts them.
pub struct Client {
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// The email tried, when signing in with a password.
    pub account: Option<String>,
}

/// A refused sign-in; `retry_after` seconds when it was refused for too many failures.
pub struct Refusal {
    pub error: Error,
    pub retry_after: Option<u64>,
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self { error, retry_after: None }
    }
}

fn invalid_credentials() -> Error {
    Error::new(Code::InvalidCredentials, "the email or password is wrong")
}

fn password_sign_in_disabled() -> Error {
    Error::new(
        Code::PasswordSignInDisabled,
        "this organization signs in through its identity provider: GET /v1/sessions/oidc?organization=…",
    )
}

/// Signs in with an email and password: rate limited per account and per address; an unknown email costs the
/// same work and gets the same answer as a wrong password.
pub async fn sign_in_with_password(
    app: &AppState,
    email: Email,
    password: String,
    organization: Option<OrgId>,
    client: Client,
) -> Result<(CurrentSession, String), Refusal> {
    if organization.is_some_and(|org| app.auth.sign_ins.uses_oidc(org)) {
        return Err(password_sign_in_disabled().into());
    }
    let config = &app.config.sign_in;
    let now = app.clock.now();
    let window = millis(Duration::from_secs(config.failure_window_seconds));
    let account = email.as_str().to_string();
    let address = client.address.clone().unwrap_or_default();
    let (a, b, since) = (account.clone(), address.clone(), now.plus_millis(-window));
    let failures = app.store.read(move |tx| sign_in::failures_since(tx, &a, &b, since)).await?;
    let limited = [
        (failures.account >= config.max_failures_per_account, failures.account_oldest, "this account"),
        (failures.address >= config.max_failures_per_address, failures.address_oldest, "this address"),
    ];
    if let Some((_, oldest, whom)) = limited.iter().find(|(over, _, _)| *over) {
        let free_at = oldest.unwrap_or(now).plus_millis(window);
        let seconds = (free_at.millis() - now.millis()).max(1000).div_euclid(1000) + 1;
        return Err(Refusal {
            error: Error::new(
                Code::TooManySignInAttempts,
                format!("too many failed sign-ins from {whom}; retry in {seconds} s"),
            ),
            retry_after: u64::try_from(seconds).ok(),
        });
    }
    let lookup = account.clone();
    let found = app.store.read(move |tx| sign_in::find_by_email(tx, &lookup)).await?;
    // A password longer than any we accept cannot match; it is not hashed, so it cannot cost more work either.
    let plausible = password.chars().count() <= passwords::MAX_CHARS;
    let (user, stored) = found.map_or((None, None), |(u, h)| (Some(u), Some(h)));
    let matches = passwords::verify(if plausible { password } else { String::new() }, stored).await? && plausible;
    let user = user.filter(|u| matches && organization.is_none_or(|org| org == u.org_id));
    let Some(user) = user else {
        let forget_before = now.plus_millis(-window);
        app.store.write(move |tx| sign_in::record_failure(tx, &account, &address, now, forget_before)).await?;
        return Err(invalid_credentials().into());
    };
    if app.auth.sign_ins.uses_oidc(user.org_id) {
        return Err(password_sign_in_disabled().into());
    }
    let client = Client { account: Some(account), ..client };
    Ok(open(app, user, SignInMethod::Password, &client).await?)
}

/// The caller's session, when they came with its cookie.
pub fn current(who: &Principal) -> Result<(UserId, SessionId), Error> {
    match who.subject {
        Subject::Session { user_id, session_id } => Ok((user_id, session_id)),
        _ => Err(Error::new(Code::SessionNotFound, "the caller did not sign in with a session cookie")),
    }
}

/// The user the caller is: a session's, or an API key's that acts as a user.
pub fn user_of(who: &Principal) -> Option<UserId> {
    match who.subject {
        Subject::Session { user_id, .. } | Subject::ApiKey { user_id: Some(user_id), .. } => Some(user_id),
        _ => None,
    }
}

pub async fn current_session(app: &AppState, who: &Principal, token: &str) -> Result<CurrentSession, Error> {
    let (user_id, session_id) = current(who)?;
    let idle = millis(Duration::from_secs(app.config.sign_in.session_idle_seconds));
    let (hash, org) = (secrets::hash(token), who.org_id);
    let (live, user) = app
        .store
        .read(move |tx| {
            let live = sign_in::find_session(tx, &hash, idle)?;
            let user = switchboard_store::access::get_user(tx, org, user_id)?;
            Ok((live, user))
        })
        .await?;
    let live = live.filter(|l| l.session.id == session_id).ok_or_else(|| Error::not_found(Code::SessionNotFound))?;
    Ok(CurrentSession {
        id: session_id,
        role: live.role,
        method: live.session.method,
        expires_at: live.session.expires_at,
        csrf_token: live.csrf_token,
        user,
    })
}

/// Lists live sessions: an admin sees the organization's, anyone else their own.
pub async fn list(
    app: &AppState,
    who: &Principal,
    after: Option<SessionId>,
    limit: usize,
) -> Result<Vec<Session>, Error> {
    let user = match (who.role, user_of(who)) {
        (Role::Admin, _) => None,
        (_, Some(user)) => Some(user),
        (_, None) => return Ok(Vec::new()),
    };
    let (org, now) = (who.org_id, app.clock.now());
    let idle = millis(Duration::from_secs(app.config.sign_in.session_idle_seconds));
    app.store.read(move |tx| sign_in::list_sessions(tx, org, user, now, idle, after, limit)).await
}

/// Revokes a session: an admin any of the organization's, anyone else only their own.
pub async fn revoke(app: &AppState, who: &Principal, id: SessionId) -> Result<(), Error> {
    let owner = if who.role == Role::Admin {
        None
    } else {
        Some(user_of(who).ok_or_else(|| Error::not_found(Code::SessionNotFound))?)
    };
    let (org, now) = (who.org_id, app.clock.now());
    app.store.write(move |tx| sign_in::revoke_session(tx, org, id, owner, now)).await
}

/// Sets a password with a one-time token an admin issued; the user's sessions end.
pub async fn set_with_token(app: &AppState, token: &str, password: String) -> Result<(), Error> {
    let password = Password::parse(password, "password")?;
    if !token.starts_with(PASSWORD_TOKEN_PREFIX) {
        return Err(Error::field(Code::InvalidPasswordToken, "token", "no such set-password token"));
    }
    let hashed = passwords::hash(password).await?;
    let (token_hash, now) = (secrets::hash(token), app.clock.now());
    app.store
        .write(move |tx| {
            let (org, user) = sign_in::use_password_token(tx, &token_hash, now)?;
            sign_in::set_password(tx, org, user, &hashed)?;
            sign_in::revoke_user_sessions(tx, user, None, now)?;
            Ok(())
        })
        .await
}

pub const PASSWORD_TOKEN_PREFIX: &str = "sbp_";

/// A user changes their own password with their current one; their other sessions end.
pub async fn change(app: &AppState, who: &Principal, current: String, password: String) -> Result<(), Error> {
    let user = user_of(who).ok_or_else(|| Error::new(Code::Forbidden, "only a user has a password to change"))?;
    let password = Password::parse(password, "password")?;
    let stored = app.store.read(move |tx| sign_in::password_hash(tx, user)).await?;
    let plausible = current.chars().count() <= passwords::MAX_CHARS;
    if !(plausible && passwords::verify(current, stored).await?) {
        return Err(Error::field(Code::WrongCurrentPassword, "current_password", "the current password is wrong"));
    }
    let hashed = passwords::hash(password).await?;
    let (org, now) = (who.org_id, app.clock.now());
    let keep = current_id(who);
    app.store
        .write(move |tx| {
            sign_in::set_password(tx, org, user, &hashed)?;
            sign_in::revoke_user_sessions(tx, user, keep, now)?;
            Ok(())
        })
        .await
}

fn current_id(who: &Principal) -> Option<SessionId> {
    current(who).ok().map(|(_, id)| id)
}

/// A one-time set-password token for a user of the organization.
pub async fn issue_password_token(app: &AppState, org: OrgId, user: UserId) -> Result<(String, Timestamp), Error> {
    let token = secrets::random_token(PASSWORD_TOKEN_PREFIX);
    let hash = secrets::hash(&token);
    let now = app.clock.now();
    let expires_at = now.plus_millis(millis(Duration::from_secs(app.config.sign_in.password_token_ttl_seconds)));
    app.store.write(move |tx| sign_in::create_password_token(tx, org, user, &hash, now, expires_at)).await?;
    Ok((token, expires_at))
}

/// Whether `sent` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(sent: Option<&str>, expected: &str) -> bool {
    sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
}
