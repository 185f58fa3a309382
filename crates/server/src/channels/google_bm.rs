//! Google's Business Messages channel, its network half: the access tokens of partners' service accounts (the
//! OAuth 2.0 JWT bearer grant, RFC 7523: a JWT signed with the account's key exchanged at the token endpoint), kept
//! until five minutes before they expire and fetched once however many sends wait for one; and the channels, kept
//! briefly with their account's client token, so that a webhook costs no read before its write.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::Deserialize;
use switchboard_channels::google_bm::{ServiceAccount, grant_assertion};
use switchboard_domain::{Timestamp, ids::ChannelId};
use switchboard_store::model::Channel;

use super::bot_framework::TokenError;
use crate::{
    channels::bot_framework::token::REFRESH_BEFORE_EXPIRY_MILLIS, clock::Clock, config::GoogleBusinessMessagesConfig,
};

/// One service account's cached token and when it expires.
type Slot = Arc<tokio::sync::Mutex<Option<(String, Timestamp)>>>;

/// What a channel's webhook needs of its account, cached: the channel and its client token.
pub type CachedChannel = (Channel, String, i64);

pub struct GoogleBusinessMessages {
    pub tokens: Arc<GoogleTokens>,
    pub channels: quick_cache::sync::Cache<ChannelId, CachedChannel>,
}

impl GoogleBusinessMessages {
    pub fn new(config: &GoogleBusinessMessagesConfig, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            tokens: Arc::new(GoogleTokens::new(config, clock)?),
            channels: quick_cache::sync::Cache::new(10_000),
        })
    }
}

pub struct GoogleTokens {
    token_url: String,
    /// Also the client of the typing relay's calls: the API's URL is configuration, not user-supplied.
    pub(crate) http: reqwest::Client,
    clock: Clock,
    /// Per service account (its client email and key id); each slot's lock is held while its token is fetched.
    slots: Mutex<HashMap<String, Slot>>,
    fetches: AtomicU64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    expires_in: u64,
}

#[derive(Deserialize)]
struct ErrorResponse {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl GoogleTokens {
    pub fn new(config: &GoogleBusinessMessagesConfig, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            token_url: config.token_url.clone(),
            http: super::bot_framework::http_client()?,
            clock,
            slots: Mutex::new(HashMap::new()),
            fetches: AtomicU64::new(0),
        })
    }

    /// How many tokens have been asked for.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn slot(&self, account: &ServiceAccount) -> Slot {
        let key = format!("{}#{}", account.client_email, account.private_key_id.as_deref().unwrap_or_default());
        let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(key).or_default().clone()
    }

    /// A bearer token for the Business Messages API as `account`: the cached one until five minutes before it
    /// expires, else a new one.
    pub async fn token(&self, account: &ServiceAccount) -> Result<String, TokenError> {
        let slot = self.slot(account);
        let mut cached = slot.lock().await;
        if let Some((token, expires_at)) = cached.as_ref()
            && self.clock.now().millis() < expires_at.millis().saturating_sub(REFRESH_BEFORE_EXPIRY_MILLIS)
        {
            return Ok(token.clone());
        }
        let issued_at = self.clock.now();
        let (token, expires_in) = self.fetch_once(account).await?;
        let lifetime = i64::try_from(expires_in.saturating_mul(1_000)).unwrap_or(i64::MAX);
        *cached = Some((token.clone(), issued_at.plus_millis(lifetime)));
        Ok(token)
    }

    /// Drops `account`'s cached token, after the API refused it (401).
    pub async fn forget(&self, account: &ServiceAccount) {
        *self.slot(account).lock().await = None;
    }

    /// Signs a grant and exchanges it once, caching nothing: what validating an account does. The token and the
    /// seconds it lives.
    pub async fn fetch_once(&self, account: &ServiceAccount) -> Result<(String, u64), TokenError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        // The grant's times are judged by Google's clock: the wall clock, not the app's.
        let assertion = grant_assertion(account, &self.token_url, Timestamp::now().millis() / 1_000)
            .map_err(|e| TokenError::Rejected { status: 0, error: Some("invalid_key".into()), description: Some(e) })?;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
            .append_pair("assertion", &assertion)
            .finish();
        let url = &self.token_url;
        let response = self
            .http
            .post(url)
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
        if parsed.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
            || parsed.access_token.is_empty()
        {
            return Err(TokenError::Unavailable("the token endpoint issued no bearer token".into()));
        }
        Ok((parsed.access_token, parsed.expires_in))
    }
}

/// At most one `TYPING_STARTED` a conversation this often: an agent's page signals typing every few seconds while
/// they type, and Google shows the indicator until the next message or for a while.
const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Relays agents' typing to Business Messages users as `TYPING_STARTED` events. Typing is a signal, never in the
/// event log, so the delivery engine never sees it; this follows the signals instead, on the node that delivers
/// (the leader), and, like the signal, is best effort: a failed call is logged, never retried.
pub fn start_typing(app: &crate::AppState) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        let mut signals = app.stream.signals.subscribe();
        let mut last: HashMap<switchboard_domain::ids::ConversationId, std::time::Instant> = HashMap::new();
        loop {
            let json = match signals.recv().await {
                Ok(json) => json,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let Ok(signal) = serde_json::from_str::<crate::stream::Signal>(&json) else { continue };
            if signal.kind != crate::stream::SignalKind::Typing || signal.agent_id.is_none() {
                continue;
            }
            let now = std::time::Instant::now();
            if last.get(&signal.conversation_id).is_some_and(|at| now.duration_since(*at) < TYPING_EVERY) {
                continue;
            }
            last.retain(|_, at| now.duration_since(*at) < TYPING_EVERY);
            last.insert(signal.conversation_id, now);
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(e) = send_typing(&app, signal.org_id, signal.conversation_id).await {
                    tracing::warn!(conversation = %signal.conversation_id, error = %e,
                        "relaying an agent's typing to Business Messages failed");
                }
            });
        }
    })
}

/// Sends `TYPING_STARTED` on `conversation` when it is a Business Messages channel's.
async fn send_typing(
    app: &crate::AppState,
    org: switchboard_domain::ids::OrgId,
    conversation: switchboard_domain::ids::ConversationId,
) -> Result<(), String> {
    use switchboard_channels::google_bm::{EventType, Outgoing, Representative, render};
    use switchboard_domain::setup::ChannelType;
    use switchboard_store::{conversations, messaging_accounts, reply_addresses, setup};
    let found = app
        .store
        .read(move |tx| {
            let c = conversations::get(tx, org, conversation)?;
            let channel = setup::find_channel(tx, c.channel_id)?;
            if channel.channel_type != ChannelType::GoogleBusinessMessages {
                return Ok(None);
            }
            let account = messaging_accounts::account_of_channel(tx, org, channel.id)?;
            Ok(reply_addresses::get(tx, conversation)?.map(|address| (account, address)))
        })
        .await
        .map_err(|e| e.to_string())?;
    let Some((account, address)) = found else { return Ok(()) };
    let file = super::accounts::open(app, &account)
        .map_err(|e| e.to_string())?
        .service_account
        .ok_or("the account has no service account")?;
    let service_account = ServiceAccount::parse(&file.to_string())?;
    let what = Outgoing::Event {
        id: uuid::Uuid::new_v4().to_string(),
        kind: EventType::TypingStarted,
        representative: Representative { human: true, display_name: None },
    };
    let rendered =
        render(&app.config.channels.google_business_messages.api_url, &address, &what).map_err(|e| e.to_string())?;
    let token = app.google_bm.tokens.token(&service_account).await.map_err(|e| e.to_string())?;
    let response = app
        .google_bm
        .tokens
        .http
        .post(&rendered.url)
        .bearer_auth(token)
        .json(&rendered.body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        let status = response.status();
        let said = response.text().await.ok().and_then(|t| switchboard_channels::google_bm::error_of(&t));
        return Err(format!("the API answered {status}{}", said.map(|s| format!(": {s}")).unwrap_or_default()));
    }
    Ok(())
}
