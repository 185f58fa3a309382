//! Messaging accounts' service functions: checking and sealing what an administrator gives, validating an
//! account against its provider, and the messaging endpoint URL each channel shows.

use switchboard_domain::{
    Error, Timestamp,
    account::{AccountCredentials, AccountMethod, AccountValidation, MessagingAccount, ValidationState, check_account},
    record::{Channel, ChannelView},
    setup::ChannelType,
};

use crate::{AppState, channels::bot_framework::TokenError};

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

/// Characters of a provider's refusal kept as the reason (Entra's descriptions carry trace ids and URLs).
const MAX_REASON: usize = 500;

/// Validates `account` with its `credentials` (opened from the store): its settings must be complete for its
/// kind, and, for kinds that sign in to a provider, the provider must accept them. Kinds with nothing external
/// (`messaging_api`, `live_chat`, `direct_line`, ...) are valid once their settings are complete.
pub async fn validate(app: &AppState, account: &MessagingAccount, credentials: AccountCredentials) -> Validation {
    if let Err(e) = check_account(account.kind, account.method, &account.settings, false, Some(&credentials)) {
        return Validation::Invalid(e.detail);
    }
    match (account.kind, account.method) {
        (ChannelType::BotFramework, _) => bot_framework_token(app, account, &credentials).await,
        (_, Some(AccountMethod::Meta)) => {
            let (Some(id), Some(token)) = (&account.settings.phone_number_id, &credentials.access_token) else {
                return Validation::Invalid(
                    "a Meta WhatsApp account needs its phone number id and access token".into(),
                );
            };
            match app.meta.check_number(id.as_str(), token.as_str()).await {
                Ok(()) => Validation::Valid,
                Err(why) => Validation::Invalid(clip(&why)),
            }
        }
        (_, Some(AccountMethod::Telesign)) => {
            let (Some(customer), Some(key)) = (&account.settings.customer_id, &credentials.api_key) else {
                return Validation::Invalid("a TeleSign account needs its customer id and API key".into());
            };
            match app.telesign.check_credentials(customer.as_str(), key.as_str()).await {
                Ok(()) => Validation::Valid,
                Err(why) => Validation::Invalid(clip(&why)),
            }
        }
        (_, Some(AccountMethod::Twilio)) => {
            match crate::channels::twilio::check_account(app, account, &credentials).await {
                Ok(()) => Validation::Valid,
                Err(why) => Validation::Invalid(clip(&why)),
            }
        }
        (ChannelType::GoogleBusinessMessages, _) => google_token(app, &credentials).await,
        _ => Validation::Valid,
    }
}

/// Asks the Bot Framework's token service for a token with the account's app id and client secret (the OAuth 2.0
/// client-credentials grant, as the Connector's clients do), through the channel's own token client: a token means
/// the credentials are good. A single-tenant bot (`tenant_id`) asks its own tenant instead of `botframework.com`.
async fn bot_framework_token(
    app: &AppState,
    account: &MessagingAccount,
    credentials: &AccountCredentials,
) -> Validation {
    let (Some(app_id), Some(secret)) = (&account.settings.app_id, &credentials.client_secret) else {
        return Validation::Invalid("a Bot Framework account needs its app id and client secret".into());
    };
    let tenant = account.settings.tenant_id.as_ref().map(|t| t.as_str());
    match app.bot_framework.tokens.fetch_once(app_id.as_str(), tenant, secret.as_str()).await {
        Ok(_) => Validation::Valid,
        Err(TokenError::Rejected { status, error, description }) => {
            let said = match (error, description) {
                (Some(e), Some(d)) => format!("{e}: {d}"),
                (Some(e), None) => e,
                (None, Some(d)) => d,
                (None, None) => format!("HTTP {status}"),
            };
            Validation::Invalid(format!("the token service refused the app id and client secret: {}", clip(&said)))
        }
        Err(TokenError::Unavailable(why)) => {
            Validation::Invalid(clip(&format!("the token service did not answer: {why}")))
        }
    }
}

/// Asks Google's token endpoint for an access token with the account's service account (a JWT it signs, the grant
/// the API's calls use): a token means the key file is good and the account is known.
async fn google_token(app: &AppState, credentials: &AccountCredentials) -> Validation {
    let Some(file) = &credentials.service_account else {
        return Validation::Invalid("a Google's Business Messages account needs its service account key file".into());
    };
    let account = match switchboard_channels::google_bm::ServiceAccount::parse(&file.to_string()) {
        Ok(a) => a,
        Err(e) => return Validation::Invalid(clip(&e)),
    };
    match app.google_bm.tokens.fetch_once(&account).await {
        Ok(_) => Validation::Valid,
        Err(TokenError::Rejected { status, error, description }) => {
            let said = match (error, description) {
                (Some(e), Some(d)) => format!("{e}: {d}"),
                (Some(e), None) => e,
                (None, Some(d)) => d,
                (None, None) => format!("HTTP {status}"),
            };
            Validation::Invalid(format!("the token endpoint refused the service account: {}", clip(&said)))
        }
        Err(TokenError::Unavailable(why)) => {
            Validation::Invalid(clip(&format!("the token endpoint did not answer: {why}")))
        }
    }
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
/// provider's console (for a Bot Framework channel, the bot registration's messaging endpoint; for an SMS or
/// WhatsApp channel, where its account's provider posts messages: `method`). `None` for channel types that have
/// no endpoint of their own.
pub fn messaging_endpoint_url(public_url: &str, channel: &Channel, method: Option<AccountMethod>) -> Option<String> {
    let base = public_url.trim_end_matches('/');
    let id = channel.id;
    match channel.channel_type {
        ChannelType::BotFramework => Some(format!("{base}/channels/bot-framework/{id}/messages")),
        // Calls name the channel in their `channel-id` header.
        ChannelType::MessagingApi => Some(format!("{base}/api/v1.0/consumer")),
        ChannelType::DirectLine => Some(format!("{base}/v3/directline")),
        ChannelType::LiveChat => Some(format!("{base}/chat/{id}")),
        ChannelType::GoogleBusinessMessages => Some(format!("{base}/channels/google-business-messages/{id}/webhook")),
        // Twilio's status callbacks go to `/channels/twilio/{id}/status`, named on each send: nothing to paste.
        ChannelType::Sms | ChannelType::Whatsapp => match method? {
            AccountMethod::Twilio => Some(format!("{base}/channels/twilio/{id}/messages")),
            AccountMethod::Meta => Some(format!("{base}/channels/whatsapp/{id}/webhook")),
            AccountMethod::Telesign => Some(format!("{base}/channels/telesign/{id}/callbacks")),
            AccountMethod::AzureBotFramework | AccountMethod::Google => None,
        },
        ChannelType::Voice => None,
    }
}

/// A channel as a reader sees it: settings (without credentials) and messaging endpoint URL for those who
/// configure or oversee channels (`with_settings`).
pub fn channel_view(
    app: &AppState,
    channel: &Channel,
    method: Option<AccountMethod>,
    with_settings: bool,
) -> ChannelView {
    let mut view = channel.view(with_settings);
    if with_settings {
        view.messaging_endpoint_url = messaging_endpoint_url(app.auth.signer.issuer(), channel, method);
    }
    view
}
