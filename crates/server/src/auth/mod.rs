//! Who is calling: API keys, our own OAuth2 access tokens, tokens of trusted external issuers, and browsers'
//! session cookies, each resolved to a [`Principal`] with an organization and a role. Verified bearer credentials
//! are cached briefly, so the check costs a hash lookup on the hot path; sessions are read every time, so that
//! signing out or revoking one takes effect at once.

pub mod oidc;
pub mod oidc_sign_in;
pub mod passwords;
pub mod secrets;
pub mod sessions;
pub mod tokens;

use std::{sync::Arc, time::Duration};

use axum::{extract::FromRequestParts, http::request::Parts};
use sha2::{Digest, Sha256};
use switchboard_domain::{Code, Error, Timestamp, ids::*, role::Role};
use switchboard_store::{Store, access, conversations::Scope};

use crate::{AppState, error::ApiError};

pub const API_KEY_PREFIX: &str = "sbk_";
pub const CLIENT_SECRET_PREFIX: &str = "sbs_";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub org_id: OrgId,
    pub role: Role,
    pub subject: Subject,
    /// The key's or OAuth2 client's name (an external token's subject): how messages it sends are signed.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    ApiKey {
        id: ApiKeyId,
        user_id: Option<UserId>,
    },
    Client(ClientId),
    External {
        subject: String,
    },
    /// A browser signed in as a user, authenticated by its session cookie.
    Session {
        user_id: UserId,
        session_id: SessionId,
    },
}

impl Principal {
    /// How the caller is named in events and idempotency records.
    pub fn label(&self) -> String {
        match &self.subject {
            Subject::ApiKey { id, .. } => format!("api_key:{id}"),
            Subject::Client(id) => format!("client:{id}"),
            Subject::External { subject } => format!("external:{subject}"),
            Subject::Session { user_id, .. } => format!("user:{user_id}"),
        }
    }

    /// Whether the caller came with a session cookie, which a browser sends on its own (to any request, from any
    /// page): such callers' writes need the CSRF token, and their WebSocket upgrades an allowed `Origin`.
    pub fn by_cookie(&self) -> bool {
        matches!(self.subject, Subject::Session { .. })
    }

    /// The agent this caller is, when it acts as one.
    pub fn agent(&self) -> Option<UserId> {
        match (&self.subject, self.role) {
            (Subject::ApiKey { user_id: Some(user), .. } | Subject::Session { user_id: user, .. }, Role::Agent) => {
                Some(*user)
            }
            _ => None,
        }
    }

    /// Which conversations this caller sees: an agent their own work and what waits in their queues, everyone
    /// else of the organization all of them.
    pub fn conversations(&self) -> Scope {
        match (self.role, self.agent()) {
            (Role::Agent, Some(agent)) => Scope::Agent(agent),
            (Role::Agent, None) | (Role::Bot, _) => Scope::Nothing,
            _ => Scope::All,
        }
    }

    pub fn require(&self, allowed: &[Role]) -> Result<(), ApiError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            Err(ApiError(Error::new(
                Code::Forbidden,
                format!("this needs the role {}; the caller is {}", names.join(" or "), self.role),
            )))
        }
    }
}

pub struct Auth {
    pub signer: tokens::Signer,
    pub external: oidc::ExternalIssuers,
    pub secrets: secrets::SecretBox,
    /// Organizations that sign in through their own identity provider.
    pub sign_ins: oidc_sign_in::SignIns,
    session_idle: Duration,
    cache: quick_cache::sync::Cache<[u8; 32], (Principal, i64)>,
    cache_ttl: Duration,
    pub token_ttl: Duration,
}

impl Auth {
    pub fn new(
        signer: tokens::Signer,
        external: oidc::ExternalIssuers,
        secrets: secrets::SecretBox,
        cache_ttl: Duration,
        token_ttl: Duration,
        sign_in: (Duration, oidc_sign_in::SignIns),
    ) -> Self {
        let (session_idle, sign_ins) = sign_in;
        Self {
            signer,
            external,
            secrets,
            sign_ins,
            session_idle,
            cache: quick_cache::sync::Cache::new(100_000),
            cache_ttl,
            token_ttl,
        }
    }

    /// The caller of a session cookie, and the session's CSRF token. Not cached: a revoked or expired session is
    /// refused at once. Use pushes back the idle expiry, written at most once a minute per session.
    pub async fn session(&self, store: &Arc<Store>, token: &str, now: Timestamp) -> Result<(Principal, String), Error> {
        let hash = secrets::hash(token);
        let idle = i64::try_from(self.session_idle.as_millis()).unwrap_or(i64::MAX);
        let live = store
            .read(move |tx| switchboard_store::sign_in::find_session(tx, &hash, idle))
            .await?
            .ok_or_else(|| tokens::unauthenticated("unknown or revoked session; sign in again"))?;
        if live.session.expires_at <= now {
            return Err(Error::new(Code::SessionExpired, "the session has expired; sign in again"));
        }
        let id = live.session.id;
        if now.millis() - live.session.last_seen_at.millis() >= (idle / 100).min(60_000) {
            store.write(move |tx| switchboard_store::sign_in::touch_session(tx, id, now)).await?;
        }
        let principal = Principal {
            org_id: live.org_id,
            role: live.role,
            subject: Subject::Session { user_id: live.session.user_id, session_id: id },
            name: live.name,
        };
        Ok((principal, live.csrf_token))
    }

    /// Forgets every cached credential (after a revocation on this node).
    pub fn forget(&self) {
        self.cache.clear();
    }

    pub async fn authenticate(&self, store: &Arc<Store>, bearer: &str) -> Result<Principal, Error> {
        let digest: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        // A cache's freshness is real time, as are the expiries of the tokens it holds.
        let now = Timestamp::now().millis();
        if let Some((principal, until)) = self.cache.get(&digest)
            && until > now
        {
            return Ok(principal);
        }
        let (principal, until) = if bearer.starts_with(API_KEY_PREFIX) {
            let hash = hex::encode(digest);
            let key = store
                .read(move |tx| access::find_api_key(tx, &hash))
                .await?
                .ok_or_else(|| tokens::unauthenticated("unknown or revoked API key"))?;
            let ttl = i64::try_from(self.cache_ttl.as_millis()).unwrap_or(i64::MAX);
            let principal = Principal {
                org_id: key.org_id,
                role: key.role,
                subject: Subject::ApiKey { id: key.id, user_id: key.user_id },
                name: key.name,
            };
            (principal, now.saturating_add(ttl))
        } else {
            let iss = tokens::peek_issuer(bearer)
                .ok_or_else(|| tokens::unauthenticated("the bearer token is neither an API key nor a JWT"))?;
            if iss == self.signer.issuer() {
                let claims = self.signer.verify(bearer)?;
                let org_id = claims.org.parse().map_err(|_| tokens::unauthenticated("bad org claim"))?;
                let role = claims.role.parse().map_err(|_| tokens::unauthenticated("bad role claim"))?;
                let client = claims.sub.parse().map_err(|_| tokens::unauthenticated("bad sub claim"))?;
                // A revoked client's tokens stop working at once, not when they expire.
                let (live, _) = store
                    .read(move |tx| access::find_client(tx, client))
                    .await?
                    .ok_or_else(|| tokens::unauthenticated("the client of this token was revoked"))?;
                let principal = Principal { org_id, role, subject: Subject::Client(client), name: live.name };
                (principal, claims.exp.saturating_mul(1000))
            } else if self.external.is_trusted(&iss) {
                let who = self.external.verify(&iss, bearer).await?;
                let principal = Principal {
                    org_id: who.org_id,
                    role: who.role,
                    name: who.subject.clone(),
                    subject: Subject::External { subject: who.subject },
                };
                (principal, who.expires_at.saturating_mul(1000))
            } else {
                return Err(tokens::unauthenticated("the token's issuer is not trusted"));
            }
        };
        let ttl_end = now.saturating_add(i64::try_from(self.cache_ttl.as_millis()).unwrap_or(i64::MAX));
        self.cache.insert(digest, (principal.clone(), until.min(ttl_end)));
        Ok(principal)
    }
}

/// Whether this request signs in with the session cookie: it carries the cookie and no `Authorization` header
/// (which takes precedence, as in the [`Principal`] extractor). Decided from the headers alone, before the
/// credentials are looked at.
pub fn signs_in_by_cookie(headers: &axum::http::HeaderMap) -> bool {
    !headers.contains_key(axum::http::header::AUTHORIZATION) && sessions::cookie(headers, sessions::COOKIE).is_some()
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            let Some(token) = sessions::cookie(&parts.headers, sessions::COOKIE) else {
                return Err(ApiError::new(
                    Code::Unauthenticated,
                    "send `Authorization: Bearer <API key or access token>`, or sign in (POST /v1/sessions)",
                ));
            };
            let (principal, csrf) = state.auth.session(&state.store, token, state.clock.now()).await?;
            if !parts.method.is_safe() {
                let sent = parts.headers.get(sessions::CSRF_HEADER).and_then(|v| v.to_str().ok());
                if !sessions::csrf_matches(sent, &csrf) {
                    return Err(ApiError::new(
                        Code::CsrfTokenInvalid,
                        "a write made with the session cookie needs the session's `X-CSRF-Token` header",
                    ));
                }
            }
            return Ok(principal);
        };
        let header = header.to_str().map_err(|_| {
            ApiError::new(Code::Unauthenticated, "send `Authorization: Bearer <API key or access token>`")
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::new(Code::Unauthenticated, "the Authorization header must be `Bearer <token>`"))?;
        Ok(state.auth.authenticate(&state.store, token).await?)
    }
}
