//! The Bot Framework service's signing keys: its OpenID metadata, then the JWKS it names, kept 24 hours and
//! fetched again at most once a minute when a token names a key not seen yet (the SDK's `OpenIdMetadata`, which
//! allows once an hour; a minute lets a rotation through sooner at the cost of one extra fetch).

use std::sync::Arc;

use switchboard_channels::bot_framework::{
    Activity,
    auth::{self, AuthError, Claims, Expected, KeySet},
};
use switchboard_domain::{Code, Error, Timestamp};

use crate::{clock::Clock, config::BotFrameworkConfig};

/// How long a fetched key set is used before it is fetched again.
pub const KEYS_TTL_MILLIS: i64 = 24 * 60 * 60 * 1_000;
/// The least time between two fetches caused by a key not seen yet.
pub const UNKNOWN_KEY_REFETCH_MILLIS: i64 = 60 * 1_000;

/// Tokens remembered as verified: the service reuses one token for its hour, for every activity, so most requests
/// would otherwise repeat the same RS256 check (the SDK keeps verified tokens too).
const VERIFIED_CAPACITY: usize = 10_000;

/// Why an activity's token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The token is not good: answered 401.
    #[error("{0}")]
    Refused(AuthError),
    /// The service's keys could not be fetched and none are cached: answered 503, so that the service retries.
    #[error("the Bot Framework signing keys are unavailable: {0}")]
    Unavailable(String),
}

/// What a verified token is remembered by: the token and everything it was checked against, each ended by a 0 byte
/// (none of them holds one), so that no two different checks share a key.
fn verified_key(token: &str, expected: &Expected<'_>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [token, expected.issuer, expected.app_id, expected.channel_id, expected.service_url] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().into()
}

impl From<KeysError> for Error {
    fn from(e: KeysError) -> Self {
        match &e {
            KeysError::Refused(reason) => {
                Error::new(Code::Unauthenticated, format!("Bot Framework token refused ({}): {e}", reason.reason()))
            }
            KeysError::Unavailable(_) => Error::new(Code::Unavailable, e.to_string()),
        }
    }
}

#[derive(Default)]
struct State {
    /// The keys and when they were fetched.
    keys: Option<(Arc<KeySet>, Timestamp)>,
    /// When a fetch was last tried, successful or not.
    tried: Option<Timestamp>,
}

/// The cached keys, shared by every request.
pub struct BotKeys {
    config: BotFrameworkConfig,
    http: reqwest::Client,
    clock: Clock,
    /// Held while fetching, so that concurrent requests wait for one fetch instead of each making their own.
    state: tokio::sync::Mutex<State>,
    /// How many times the keys were fetched (for tests and metrics).
    fetches: std::sync::atomic::AtomicU64,
    /// Verified tokens by the hash of the token and of what it was checked against (app, channel, service URL):
    /// the same token for another channel or service URL is checked afresh.
    verified: quick_cache::sync::Cache<[u8; 32], Claims>,
}

impl BotKeys {
    pub fn new(config: &BotFrameworkConfig, clock: Clock) -> anyhow::Result<Self> {
        Ok(Self {
            config: config.clone(),
            http: super::http_client()?,
            clock,
            state: tokio::sync::Mutex::new(State::default()),
            fetches: std::sync::atomic::AtomicU64::new(0),
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        })
    }

    /// How many times the metadata and keys have been fetched.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks the `Authorization` header sent with `activity` for the bot `app_id`.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        activity: &Activity,
        app_id: &str,
    ) -> Result<Claims, KeysError> {
        let token = auth::bearer(authorization).map_err(KeysError::Refused)?;
        let expected = Expected {
            issuer: &self.config.issuer,
            app_id,
            channel_id: activity.channel_id.as_deref().unwrap_or_default(),
            service_url: activity.service_url.as_deref().unwrap_or_default(),
        };
        let now = self.clock.now().millis().div_euclid(1_000);
        let hash = verified_key(token, &expected);
        // A remembered token is good until it expires, with the same leeway the full check allows.
        if let Some(claims) = self.verified.get(&hash)
            && now <= claims.expires_at.saturating_add(auth::LEEWAY_SECONDS)
        {
            return Ok(claims);
        }
        let kid = auth::key_id(token).map_err(KeysError::Refused)?;
        let keys = self.keys_for(&kid).await?;
        let claims = auth::verify(token, &keys, &expected, now).map_err(KeysError::Refused)?;
        self.verified.insert(hash, claims.clone());
        Ok(claims)
    }

    /// How many verified tokens are remembered.
    pub fn verified_len(&self) -> usize {
        self.verified.len()
    }

    /// The key set to check a token naming `kid` against: the cached one while it is under a day old and knows the
    /// key, else a fresh one, fetched at most once a minute. When a fetch fails the cached keys are used, however
    /// old: they were the service's, and refusing every activity while its metadata is down helps no one.
    async fn keys_for(&self, kid: &str) -> Result<Arc<KeySet>, KeysError> {
        let mut state = self.state.lock().await;
        let now = self.clock.now();
        let since = |t: Timestamp| now.millis().saturating_sub(t.millis());
        if let Some((keys, at)) = &state.keys
            && since(*at) < KEYS_TTL_MILLIS
            && keys.contains(kid)
        {
            return Ok(keys.clone());
        }
        let tried_lately = state.tried.is_some_and(|t| since(t) < UNKNOWN_KEY_REFETCH_MILLIS);
        if tried_lately {
            return match &state.keys {
                Some((keys, _)) => Ok(keys.clone()),
                None => Err(KeysError::Unavailable("the last fetch, under a minute ago, failed".into())),
            };
        }
        state.tried = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                state.keys = Some((keys.clone(), now));
                Ok(keys)
            }
            Err(e) => match &state.keys {
                Some((keys, _)) => {
                    tracing::warn!(error = %e, "refreshing the Bot Framework signing keys failed; using the cached ones");
                    Ok(keys.clone())
                }
                None => Err(KeysError::Unavailable(e)),
            },
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = self.get(&self.config.openid_metadata_url).await?;
        let metadata = auth::parse_openid_metadata(&body).map_err(|e| e.to_string())?;
        if !auth::metadata_supports_rs256(&metadata) {
            return Err("the OpenID metadata offers no RS256 signing".into());
        }
        let body = self.get(&metadata.jwks_uri).await?;
        auth::parse_jwks(&body).map_err(|e| e.to_string())
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("fetching {url}: {e}"))?;
        response.bytes().await.map(|b| b.to_vec()).map_err(|e| format!("reading {url}: {e}"))
    }
}
