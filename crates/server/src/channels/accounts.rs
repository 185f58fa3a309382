//! Messaging accounts' service functions: checking and sealing what an administrator gives, validating an
//! account against its provider, and the messaging endpoint URL each channel shows.

use std::time::Duration;

use switchboard_domain::{
    Error, Timestamp,
    account::{AccountCredentials, AccountValidation, MessagingAccount, ValidationState, check_account},
    record::{Channel, ChannelView},
    setup::ChannelType,
};

use crate::AppState;

/// What validating an account found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    Valid,
    /// Why not, in words an administrator can act on.
    Invalid(String),
}

impl Validation {
    /// The state to store, checked at `now`.
    pub fn at(self, now: Timestamp) -> AccountValidation {
        match self {
            Validation::Valid => {
                AccountValidation { state: ValidationState::Valid, reason: None, checked_at: Some(now) }
            }
            Validation::Invalid(reason) => {
                AccountValidation { state: ValidationState::Invalid, reason: Some(reason), checked_at: Some(now) }
            }
        }
    }
}

/// How long the provider has to answer a validation.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters of a provider's refusal kept as the reason (Entra's descriptions carry trace ids and URLs).
const MAX_REASON: usize = 500;

/// Validates `account` with its `credentials` (opened from the store): its settings must be complete for its
/// kind, and, for kinds that sign in to a provider, the provider must accept them. Kinds with nothing external
/// (`messaging_api`, `live_chat`, `direct_line`, ...) are valid once their settings are complete.
pub async fn validate(app: &AppState, account: &MessagingAccount, credentials: AccountCredentials) -> Validation {
    if let Err(e) = check_account(account.kind, account.method, &account.settings, false, Some(&credentials)) {
        return Validation::Invalid(e.detail);
    }
    match account.kind {
        ChannelType::BotFramework => bot_framework_token(app, account, &credentials).await,
        _ => Validation::Valid,
    }
}

/// Asks the Bot Framework's token service for a token with the account's app id and client secret (the OAuth 2.0
/// client-credentials grant, as the Bot Connector's clients do): a token means the credentials are good. A plain
/// form POST here; the lead's Bot Framework channel routes it through its token cache (`BotTokens`), which makes
/// the same request. A single-tenant bot (`tenant_id`) asks its own tenant instead of `botframework.com`.
async fn bot_framework_token(
    app: &AppState,
    account: &MessagingAccount,
    credentials: &AccountCredentials,
) -> Validation {
    let config = &app.config.channels.bot_framework;
    let (Some(app_id), Some(secret)) = (&account.settings.app_id, &credentials.client_secret) else {
        return Validation::Invalid("a Bot Framework account needs its app id and client secret".into());
    };
    let url = match &account.settings.tenant_id {
        Some(tenant) => config.token_url.replace("/botframework.com/", &format!("/{}/", tenant.as_str())),
        None => config.token_url.clone(),
    };
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", app_id.as_str())
        .append_pair("client_secret", secret.as_str())
        .append_pair("scope", &config.token_scope)
        .finish();
    let client = match reqwest::Client::builder().timeout(PROVIDER_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => return Validation::Invalid(format!("no HTTP client to reach the token service: {e}")),
    };
    let sent = client
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(reqwest::header::ACCEPT, "application/json")
        .body(form)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Validation::Invalid(format!("the token service at {url} did not answer: {e}")),
    };
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    let field = |name: &str| answer.get(name).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty());
    if status.is_success() {
        return match field("access_token") {
            Some(_) => Validation::Valid,
            None => Validation::Invalid(format!("the token service at {url} answered {status} without a token")),
        };
    }
    let said = match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => format!("HTTP {status}"),
    };
    Validation::Invalid(format!("the token service refused the app id and client secret: {}", clip(&said)))
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_REASON) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// Seals credentials for the store; `None` when there are none.
pub fn seal(app: &AppState, credentials: &AccountCredentials) -> Result<Option<String>, Error> {
    if credentials.is_empty() {
        return Ok(None);
    }
    let json = serde_json::to_vec(credentials).map_err(Error::internal)?;
    app.auth.secrets.seal(&json).map(Some)
}

/// The credentials of an account read from the store, opened.
pub fn open(app: &AppState, account: &MessagingAccount) -> Result<AccountCredentials, Error> {
    match &account.sealed_credentials {
        None => Ok(AccountCredentials::default()),
        Some(sealed) => serde_json::from_slice(&app.auth.secrets.open(sealed)?).map_err(Error::internal),
    }
}

/// Where the provider reaches a channel, from the server's `public_url`: what an administrator pastes into the
/// provider's console (for a Bot Framework channel, the bot registration's messaging endpoint). `None` for
/// channel types that have no endpoint of their own.
pub fn messaging_endpoint_url(public_url: &str, channel: &Channel) -> Option<String> {
    let base = public_url.trim_end_matches('/');
    let id = channel.id;
    match channel.channel_type {
        ChannelType::BotFramework => Some(format!("{base}/channels/bot-framework/{id}/messages")),
        // Calls name the channel in their `channel-id` header.
        ChannelType::MessagingApi => Some(format!("{base}/api/v1.0/consumer")),
        ChannelType::DirectLine => Some(format!("{base}/v3/directline")),
        ChannelType::LiveChat => Some(format!("{base}/chat/{id}")),
        ChannelType::GoogleBusinessMessages | ChannelType::Sms | ChannelType::Whatsapp | ChannelType::Voice => None,
    }
}

/// A channel as a reader sees it: settings (without credentials) and messaging endpoint URL for those who
/// configure or oversee channels (`with_settings`).
pub fn channel_view(app: &AppState, channel: &Channel, with_settings: bool) -> ChannelView {
    let mut view = channel.view(with_settings);
    if with_settings {
        view.messaging_endpoint_url = messaging_endpoint_url(app.auth.signer.issuer(), channel);
    }
    view
}
