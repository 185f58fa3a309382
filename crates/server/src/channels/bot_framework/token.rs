//! The bot's tokens for the Connector API: the OAuth client-credentials grant with the bot's app id and secret
//! (§4.4), each kept until five minutes before it expires and fetched once however many sends wait for it.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::Deserialize;
use switchboard_domain::Timestamp;

use crate::{clock::Clock, config::BotFrameworkConfig};

/// A token is fetched again this long before it expires, so that none expires on its way to the Connector.
pub const REFRESH_BEFORE_EXPIRY_MILLIS: i64 = 5 * 60 * 1_000;

/// A token as the token endpoint issued it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub access_token: String,
    /// Seconds it lives from issue.
    pub expires_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint refused the app id, secret or scope (a 4xx): retrying will not help until the account is
    /// fixed. `error` is the OAuth error code (`invalid_client`, `unauthorized_client`, …).
    #[error("the token endpoint refused the credentials ({status}): {}", .description.as_deref().or(.error.as_deref()).unwrap_or("no reason given"))]
    Rejected { status: u16, error: Option<String>, description: Option<String> },
    /// The endpoint could not be reached, failed (5xx) or answered something that is not a token: worth a retry.
    #[error("no token from the token endpoint: {0}")]
    Unavailable(String),
}

impl TokenError {
    /// Whether retrying with the same credentials is pointless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, TokenError::Rejected { .. })
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    /// A number, or (from older Azure AD endpoints) a string of digits.
    expires_in: serde_json::Value,
}

#[derive(Deserialize)]
struct ErrorResponse {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// One app's cached token and when it expires.
type Slot = Arc<tokio::sync::Mutex<Option<(String, Timestamp)>>>;

pub struct BotTokens {
    config: BotFrameworkConfig,
    http: reqwest::Client,
    clock: Clock,
    /// Per app id; each slot's lock is held while its token is fetched, so that concurrent sends wait for one fetch.
    slots: Mutex<HashMap<String, Slot>>,
    fetches: AtomicU64,
}

impl BotTokens {
    pub fn new(config: &BotFrameworkConfig, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            config: config.clone(),
            http: super::http_client()?,
            clock,
            slots: Mutex::new(HashMap::new()),
            fetches: AtomicU64::new(0),
        })
    }

    /// How many tokens have been asked for.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn slot(&self, app_id: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(app_id.to_string()).or_default().clone()
    }

    /// A bearer token for the Connector on behalf of `app_id` (of `tenant`, for a single-tenant app): the cached one
    /// until five minutes before it expires, else a new one.
    pub async fn token(&self, app_id: &str, tenant: Option<&str>, secret: &str) -> Result<String, TokenError> {
        let slot = self.slot(app_id);
        let mut cached = slot.lock().await;
        if let Some((token, expires_at)) = cached.as_ref()
            && self.clock.now().millis() < expires_at.millis().saturating_sub(REFRESH_BEFORE_EXPIRY_MILLIS)
        {
            return Ok(token.clone());
        }
        let issued_at = self.clock.now();
        let token = self.fetch_once(app_id, tenant, secret).await?;
        let lifetime = i64::try_from(token.expires_in.saturating_mul(1_000)).unwrap_or(i64::MAX);
        *cached = Some((token.access_token.clone(), issued_at.plus_millis(lifetime)));
        Ok(token.access_token)
    }

    /// Drops `app_id`'s cached token: after the Connector refused it (401), or the account's secret changed.
    pub async fn forget(&self, app_id: &str) {
        let slot = self.slot(app_id);
        *slot.lock().await = None;
    }

    /// Where `tenant`'s apps get their tokens: the configured endpoint, with a single-tenant app's tenant in place of
    /// the multi-tenant `botframework.com`.
    fn token_url(&self, tenant: Option<&str>) -> String {
        match tenant {
            Some(tenant) => self.config.token_url.replace("/botframework.com/", &format!("/{tenant}/")),
            None => self.config.token_url.clone(),
        }
    }

    /// Asks the token endpoint once, caching nothing: what validating an account's app id and secret does.
    pub async fn fetch_once(&self, app_id: &str, tenant: Option<&str>, secret: &str) -> Result<Token, TokenError> {
        let url = self.token_url(tenant);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", app_id)
            .append_pair("client_secret", secret)
            .append_pair("scope", &self.config.token_scope)
            .finish();
        let response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(format!("requesting {url}: {e}")))?;
        let status = response.status();
        let body =
            response.bytes().await.map_err(|e| TokenError::Unavailable(format!("reading the token response: {e}")))?;
        if status.is_client_error() {
            let reason = serde_json::from_slice::<ErrorResponse>(&body).ok();
            return Err(TokenError::Rejected {
                status: status.as_u16(),
                error: reason.as_ref().and_then(|r| r.error.clone()),
                description: reason.and_then(|r| r.error_description),
            });
        }
        if !status.is_success() {
            return Err(TokenError::Unavailable(format!("the token endpoint answered {status}")));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| TokenError::Unavailable(format!("the token response is not a token: {e}")))?;
        if parsed.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
            return Err(TokenError::Unavailable("the token endpoint issued a token that is not a bearer token".into()));
        }
        let expires_in = match &parsed.expires_in {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| TokenError::Unavailable("the token response has no expires_in".into()))?;
        if parsed.access_token.is_empty() {
            return Err(TokenError::Unavailable("the token response has an empty access_token".into()));
        }
        Ok(Token { access_token: parsed.access_token, expires_in })
    }
}
