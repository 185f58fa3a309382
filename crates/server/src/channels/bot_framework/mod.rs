//! The Bot Framework channel's network half: the service's signing keys, fetched and cached, to check the token
//! on each incoming activity ([`keys`]), and the bot's client-credentials tokens for the Connector API ([`token`]).

pub mod keys;
pub mod token;

pub use keys::{BotKeys, KeysError};
pub use token::{BotTokens, Token, TokenError};

use std::time::Duration;

/// The client both use: the service's endpoints are configured, not user-supplied, so no SSRF guard; no
/// redirects, a bounded wait, as the server's other clients of identity providers.
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    // As in `build_state`: reqwest is built without a TLS provider; these may be made before the state is.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// What the Bot Framework channel keeps while the server runs: the service's keys, the apps' Connector tokens,
/// and its channels briefly (a channel with its account's app id), so that an activity costs no read before its
/// write.
pub struct BotFramework {
    pub keys: BotKeys,
    pub tokens: std::sync::Arc<BotTokens>,
    pub channels:
        quick_cache::sync::Cache<switchboard_domain::ids::ChannelId, (switchboard_store::model::Channel, String, i64)>,
}

impl BotFramework {
    pub fn new(config: &crate::config::BotFrameworkConfig, clock: crate::clock::Clock) -> anyhow::Result<Self> {
        Ok(Self {
            keys: BotKeys::new(config, clock.clone())?,
            tokens: std::sync::Arc::new(BotTokens::new(config, clock)?),
            channels: quick_cache::sync::Cache::new(10_000),
        })
    }
}
