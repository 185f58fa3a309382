//! Browser sign-in: password hashes, one-time set-password tokens, sessions, the failed sign-ins the rate limit
//! counts, and OpenID Connect sign-ins under way. Secrets arrive here already hashed; hashing passwords (argon2id)
//! is the server's business, on its own threads.

use serde::{Deserialize, Serialize};
use switchboard_domain::{Code, Error, Timestamp, ids::*, role::Role};
use utoipa::ToSchema;

use crate::{
    access::{USER_COLUMNS, user_from_row},
    model::User,
    params,
    sql::{Row, Tx},
};

/// Sets (or replaces) a user's password hash. The user needs an email, which no other user with a password has.
pub fn set_password(tx: &mut Tx<'_>, org: OrgId, user: UserId, password_hash: &str) -> Result<User, Error> {
    let found = crate::access::get_user(tx, org, user)?;
    if found.email.is_none() {
        return Err(Error::field(Code::MissingField, "email", "a user signs in with their email; this one has none"));
    }
    tx.execute("UPDATE users SET password_hash = $1 WHERE id = $2 AND org_id = $3", params![password_hash, user, org])
        .map_err(|e| match e.code {
            Code::AlreadyExists => Error::field(
                Code::AlreadyExists,
                "email",
                "another user who signs in with a password has this email (emails name one person per deployment)",
            ),
            _ => e,
        })?;
    Ok(found)
}

/// The user who signs in with this (lower-cased) email, and their password hash.
pub fn find_by_email(tx: &mut Tx<'_>, email: &str) -> Result<Option<(User, String)>, Error> {
    let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1 AND password_hash IS NOT NULL");
    match tx.query_opt(&sql, params![email])? {
        Some(r) => Ok(Some((user_from_row(&r)?, r.string(6)?))),
        None => Ok(None),
    }
}

/// A user of `org` by email (an identity provider's answer names them so).
pub fn find_in_org_by_email(tx: &mut Tx<'_>, org: OrgId, email: &str) -> Result<Option<User>, Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 AND email = $2");
    tx.query_opt(&sql, params![org, email])?.as_ref().map(user_from_row).transpose()
}

pub fn password_hash(tx: &mut Tx<'_>, user: UserId) -> Result<Option<String>, Error> {
    Ok(tx
        .query_opt("SELECT password_hash FROM users WHERE id = $1", params![user])?
        .and_then(|r| r.opt_string(0).ok()?))
}

pub fn create_password_token(
    tx: &mut Tx<'_>,
    org: OrgId,
    user: UserId,
    token_hash: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<User, Error> {
    let found = crate::access::get_user(tx, org, user)?;
    tx.execute(
        "INSERT INTO password_tokens (token_hash, org_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        params![token_hash, org, user, now, expires_at],
    )?;
    Ok(found)
}

/// Spends a set-password token: the user it was issued for, once, before it expires.
pub fn use_password_token(tx: &mut Tx<'_>, token_hash: &str, now: Timestamp) -> Result<(OrgId, UserId), Error> {
    let row = tx
        .query_opt(
            "SELECT org_id, user_id, expires_at, used_at FROM password_tokens WHERE token_hash = $1",
            params![token_hash],
        )?
        .ok_or_else(|| Error::field(Code::InvalidPasswordToken, "token", "no such set-password token"))?;
    if row.opt_ts(3)?.is_some() {
        return Err(Error::field(Code::InvalidPasswordToken, "token", "this set-password token was used already"));
    }
    if row.ts(2)? <= now {
        return Err(Error::field(Code::InvalidPasswordToken, "token", "this set-password token has expired"));
    }
    let n = tx.execute(
        "UPDATE password_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        params![now, token_hash],
    )?;
    if n == 0 {
        return Err(Error::field(Code::InvalidPasswordToken, "token", "this set-password token was used already"));
    }
    Ok((row.parse(0)?, row.parse(1)?))
}

/// How a session was signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignInMethod {
    Password,
    Oidc,
}

impl SignInMethod {
    fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::Oidc => "oidc",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "password" => Some(SignInMethod::Password),
            "oidc" => Some(SignInMethod::Oidc),
            _ => None,
        }
    }
}

/// A browser's session, as listed (its token and CSRF token are never shown here).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub method: SignInMethod,
    /// The client address it signed in from.
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// When it ends unless used again before (idle expiry), or at its absolute end, whichever is sooner.
    pub expires_at: Timestamp,
}

pub struct NewSession<'a> {
    pub org: OrgId,
    pub user: UserId,
    pub token_hash: &'a str,
    pub csrf_token: &'a str,
    pub method: SignInMethod,
    pub address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The absolute end.
    pub expires_at: Timestamp,
}

const SESSION_COLUMNS: &str = "s.id, s.user_id, s.method, s.address, s.user_agent, s.created_at, s.last_seen_at, \
    s.expires_at";

fn session_from_row(r: &Row, idle_ms: i64) -> Result<Session, Error> {
    let last_seen_at = r.ts(6)?;
    let absolute = r.ts(7)?;
    Ok(Session {
        id: r.parse(0)?,
        user_id: r.parse(1)?,
        method: r.enumeration(2, SignInMethod::parse)?,
        address: r.opt_string(3)?,
        user_agent: r.opt_string(4)?,
        created_at: r.ts(5)?,
        last_seen_at,
        expires_at: absolute.min(last_seen_at.plus_millis(idle_ms)),
    })
}

pub fn create_session(tx: &mut Tx<'_>, new: NewSession<'_>, now: Timestamp, idle_ms: i64) -> Result<Session, Error> {
    let id = SessionId::new();
    tx.execute(
        "INSERT INTO sessions (id, org_id, user_id, token_hash, csrf_token, method, address, user_agent, created_at,
         last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
        params![
            id,
            new.org,
            new.user,
            new.token_hash,
            new.csrf_token,
            new.method.as_str(),
            new.address,
            new.user_agent,
            now,
            new.expires_at
        ],
    )?;
    Ok(Session {
        id,
        user_id: new.user,
        method: new.method,
        address: new.address.map(str::to_string),
        user_agent: new.user_agent.map(str::to_string),
        created_at: now,
        last_seen_at: now,
        expires_at: new.expires_at.min(now.plus_millis(idle_ms)),
    })
}

/// A session found by its token, with its user (their role now) and its CSRF token; revoked ones are not found.
pub struct LiveSession {
    pub session: Session,
    pub org_id: OrgId,
    pub role: Role,
    pub name: String,
    pub csrf_token: String,
}

pub fn find_session(tx: &mut Tx<'_>, token_hash: &str, idle_ms: i64) -> Result<Option<LiveSession>, Error> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS}, s.org_id, u.role, u.name, s.csrf_token FROM sessions s
         JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.revoked_at IS NULL"
    );
    let Some(r) = tx.query_opt(&sql, params![token_hash])? else { return Ok(None) };
    Ok(Some(LiveSession {
        session: session_from_row(&r, idle_ms)?,
        org_id: r.parse(8)?,
        role: r.parse(9)?,
        name: r.string(10)?,
        csrf_token: r.string(11)?,
    }))
}

/// Records that a session was used, which pushes back its idle expiry.
pub fn touch_session(tx: &mut Tx<'_>, id: SessionId, now: Timestamp) -> Result<(), Error> {
    tx.execute("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1", params![now, id])?;
    Ok(())
}

/// The live (unrevoked, unexpired) sessions of `org`, or of one user of it, in id order after `after`.
pub fn list_sessions(
    tx: &mut Tx<'_>,
    org: OrgId,
    user: Option<UserId>,
    now: Timestamp,
    idle_ms: i64,
    after: Option<SessionId>,
    limit: usize,
) -> Result<Vec<Session>, Error> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR s.user_id = $2)
         AND s.revoked_at IS NULL AND s.expires_at > $3 AND s.last_seen_at > $4 AND s.id > $5 ORDER BY s.id LIMIT $6"
    );
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    let idle_cut = now.plus_millis(-idle_ms);
    tx.query(&sql, params![org, user, now, idle_cut, after, limit])?
        .iter()
        .map(|r| session_from_row(r, idle_ms))
        .collect()
}

/// Revokes one session of `org` (of `user` only, when given); `session_not_found` when there is no such live one.
pub fn revoke_session(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: SessionId,
    user: Option<UserId>,
    now: Timestamp,
) -> Result<(), Error> {
    let n = tx.execute(
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL
         AND (CAST($4 AS TEXT) IS NULL OR user_id = $4)",
        params![now, id, org, user],
    )?;
    if n == 0 {
        return Err(Error::not_found(Code::SessionNotFound));
    }
    Ok(())
}

/// Revokes every session of a user but `keep` (after their password changed).
pub fn revoke_user_sessions(
    tx: &mut Tx<'_>,
    user: UserId,
    keep: Option<SessionId>,
    now: Timestamp,
) -> Result<u64, Error> {
    let keep = keep.map(|k| k.to_string()).unwrap_or_default();
    tx.execute(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3",
        params![now, user, keep],
    )
}

/// Failed sign-ins since a time: how many, and the oldest of them, per account and per address.
#[derive(Debug, Clone, Copy, Default)]
pub struct Failures {
    pub account: u64,
    pub account_oldest: Option<Timestamp>,
    pub address: u64,
    pub address_oldest: Option<Timestamp>,
}

pub fn failures_since(tx: &mut Tx<'_>, account: &str, address: &str, since: Timestamp) -> Result<Failures, Error> {
    let count = |tx: &mut Tx<'_>, column: &str, key: &str| -> Result<(u64, Option<Timestamp>), Error> {
        let sql = format!("SELECT COUNT(*), MIN(at) FROM sign_in_failures WHERE {column} = $1 AND at > $2");
        let r = tx.query_one(&sql, params![key, since])?;
        Ok((u64::try_from(r.i64(0)?).unwrap_or(0), r.opt_ts(1)?))
    };
    let (account, account_oldest) = count(tx, "account", account)?;
    let (address, address_oldest) = count(tx, "address", address)?;
    Ok(Failures { account, account_oldest, address, address_oldest })
}

/// Records a failed sign-in, and forgets this account's and address's failures older than `forget_before`.
pub fn record_failure(
    tx: &mut Tx<'_>,
    account: &str,
    address: &str,
    now: Timestamp,
    forget_before: Timestamp,
) -> Result<(), Error> {
    tx.execute(
        "DELETE FROM sign_in_failures WHERE (account = $1 OR address = $2) AND at <= $3",
        params![account, address, forget_before],
    )?;
    tx.execute(
        "INSERT INTO sign_in_failures (account, address, at) VALUES ($1, $2, $3)",
        params![account, address, now],
    )?;
    Ok(())
}

/// Forgets an account's failures once its owner has signed in.
pub fn clear_failures(tx: &mut Tx<'_>, account: &str) -> Result<(), Error> {
    tx.execute("DELETE FROM sign_in_failures WHERE account = $1", params![account])?;
    Ok(())
}

/// An OpenID Connect sign-in under way: what the callback checks the provider's answer against.
#[derive(Debug, Clone)]
pub struct OidcSignIn {
    pub org_id: OrgId,
    pub nonce: String,
    pub code_verifier: String,
    pub expires_at: Timestamp,
}

pub fn start_oidc(tx: &mut Tx<'_>, state_hash: &str, sign_in: &OidcSignIn, now: Timestamp) -> Result<(), Error> {
    // Sign-ins never completed would otherwise stay for good.
    tx.execute("DELETE FROM oidc_sign_ins WHERE expires_at <= $1", params![now])?;
    tx.execute(
        "INSERT INTO oidc_sign_ins (state_hash, org_id, nonce, code_verifier, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![state_hash, sign_in.org_id, &sign_in.nonce, &sign_in.code_verifier, now, sign_in.expires_at],
    )?;
    Ok(())
}

/// Takes (once) the sign-in a callback's `state` names, if it has not expired.
pub fn take_oidc(tx: &mut Tx<'_>, state_hash: &str, now: Timestamp) -> Result<Option<OidcSignIn>, Error> {
    let row = tx.query_opt(
        "SELECT org_id, nonce, code_verifier, expires_at FROM oidc_sign_ins WHERE state_hash = $1",
        params![state_hash],
    )?;
    let Some(r) = row else { return Ok(None) };
    tx.execute("DELETE FROM oidc_sign_ins WHERE state_hash = $1", params![state_hash])?;
    let sign_in =
        OidcSignIn { org_id: r.parse(0)?, nonce: r.string(1)?, code_verifier: r.string(2)?, expires_at: r.ts(3)? };
    Ok((sign_in.expires_at > now).then_some(sign_in))
}
