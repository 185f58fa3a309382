//! Twilio's side of the SMS and WhatsApp channels: finding the channel a webhook names with its account's
//! credentials, checking `X-Twilio-Signature` against the URL Twilio requested (the server's `public_url`, so that
//! a proxy in front changes nothing), and fetching the customer's media with the account's credentials. The
//! handlers are in `api::twilio`; replies go out through the delivery engine (`delivery::channel`).

use std::{sync::OnceLock, time::Duration};

use axum::http::{HeaderMap, Uri};
use switchboard_channels::{
    inbound::Attachment,
    twilio::{self as protocol, inbound::Media},
};
use switchboard_domain::{
    Code, Error,
    account::{AccountCredentials, AccountMethod, MessagingAccount},
    ids::ChannelId,
    setup::ChannelType,
};
use switchboard_store::{messaging_accounts, model::Channel, setup};

use crate::{AppState, channels::accounts};

/// A Twilio channel with its account and the account's credentials, opened.
pub struct TwilioChannel {
    pub channel: Channel,
    pub account: MessagingAccount,
    pub credentials: AccountCredentials,
}

impl TwilioChannel {
    pub fn whatsapp(&self) -> bool {
        self.channel.channel_type == ChannelType::Whatsapp
    }
}

/// The SMS or WhatsApp channel named by a webhook's path, of a Twilio account; anything else is not found.
pub async fn channel(app: &AppState, raw: &str) -> Result<TwilioChannel, Error> {
    let not_found = || Error::not_found(Code::ChannelNotFound);
    let id: ChannelId = raw.parse().map_err(|_| not_found())?;
    let (channel, account) = app
        .store
        .read(move |tx| {
            let channel = setup::find_channel(tx, id)?;
            let account = messaging_accounts::account_of_channel(tx, channel.org_id, id)?;
            Ok((channel, account))
        })
        .await
        .map_err(|_| not_found())?;
    if !matches!(channel.channel_type, ChannelType::Sms | ChannelType::Whatsapp)
        || account.method != Some(AccountMethod::Twilio)
    {
        return Err(not_found());
    }
    let credentials = accounts::open(app, &account)?;
    Ok(TwilioChannel { channel, account, credentials })
}

/// Checks the request's `X-Twilio-Signature`: Twilio signs the URL it was given (this server's `public_url` and
/// the path and query it requested) and the POST parameters with the account's auth token. 401 otherwise.
pub fn verify(
    app: &AppState,
    twilio: &TwilioChannel,
    uri: &Uri,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<(), Error> {
    let refused = |why: &str| Error::new(Code::Unauthenticated, format!("Twilio signature refused: {why}"));
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("no X-Twilio-Signature header"))?;
    let token = twilio.credentials.auth_token.as_ref().ok_or_else(|| refused("the account has no auth token"))?;
    let path = uri.path_and_query().map_or_else(|| uri.path(), |p| p.as_str());
    let url = format!("{}{path}", app.auth.signer.issuer().trim_end_matches('/'));
    if protocol::verify(token.as_str(), &url, params, signature) {
        Ok(())
    } else {
        Err(refused("it is not the auth token's signature of this URL and these parameters"))
    }
}

/// The client media are fetched with: no more than a few redirects (Twilio answers a media URL with a redirect to
/// its storage, and reqwest leaves the credentials behind when the host changes), a bounded wait.
fn media_client() -> Result<&'static reqwest::Client, Error> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .redirect(reqwest::redirect::Policy::limited(3))
                .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::new(Code::Unavailable, format!("no HTTP client for Twilio media: {e}")))
}

/// Fetches the customer's media with the account's credentials, each at most `channels.twilio.max_media_bytes`
/// (413 otherwise, and nothing is stored). Only URLs under the configured Twilio API are fetched: a webhook names
/// them, and the server must not be made to fetch (with the account's credentials) anywhere else.
pub async fn fetch_media(app: &AppState, twilio: &TwilioChannel, media: &[Media]) -> Result<Vec<Attachment>, Error> {
    let config = &app.config.channels.twilio;
    let base = format!("{}/", config.api_base_url.trim_end_matches('/'));
    let (user, password) = login(&twilio.account, &twilio.credentials);
    let mut out = Vec::with_capacity(media.len());
    for (i, m) in media.iter().enumerate() {
        let field = format!("MediaUrl{i}");
        if !m.url.starts_with(&base) {
            return Err(Error::field(Code::InvalidField, field, "media are fetched only from the Twilio API"));
        }
        let mut response = media_client()?
            .get(&m.url)
            .basic_auth(user, Some(password))
            .send()
            .await
            .map_err(|e| Error::new(Code::Unavailable, format!("fetching {field} failed: {e}")))?;
        if !response.status().is_success() {
            return Err(Error::new(
                Code::Unavailable,
                format!("fetching {field} failed: Twilio answered {}", response.status().as_u16()),
            ));
        }
        let too_large = || {
            Error::field(
                Code::PayloadTooLarge,
                format!("MediaUrl{i}"),
                format!("the file is larger than {} bytes", config.max_media_bytes),
            )
        };
        if response.content_length().is_some_and(|n| n > config.max_media_bytes) {
            return Err(too_large());
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| m.content_type.clone(), str::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| Error::new(Code::Unavailable, format!("reading {field} failed: {e}")))?
        {
            if (bytes.len() + chunk.len()) as u64 > config.max_media_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        out.push(Attachment::Embedded { content_type, name: None, bytes });
    }
    Ok(out)
}

/// The Basic-auth login of an account's API calls: its API key and secret, else its SID and auth token.
fn login<'a>(account: &'a MessagingAccount, credentials: &'a AccountCredentials) -> (&'a str, &'a str) {
    match (&account.settings.api_key_sid, &credentials.api_key_secret) {
        (Some(key), Some(secret)) => (key.as_str(), secret.as_str()),
        _ => (
            account.settings.account_sid.as_ref().map(|s| s.as_str()).unwrap_or_default(),
            credentials.auth_token.as_ref().map(|t| t.as_str()).unwrap_or_default(),
        ),
    }
}

/// Validates a Twilio account as replies will use it: its own resource (`GET
/// /2010-04-01/Accounts/{sid}.json`) fetched with its credentials. `Err` says why not, in Twilio's words.
pub async fn check_account(
    app: &AppState,
    account: &MessagingAccount,
    credentials: &AccountCredentials,
) -> Result<(), String> {
    let sid = account.settings.account_sid.as_ref().map(|s| s.as_str()).unwrap_or_default();
    let url =
        format!("{}/2010-04-01/Accounts/{sid}.json", app.config.channels.twilio.api_base_url.trim_end_matches('/'));
    let (user, password) = login(account, credentials);
    let client = media_client().map_err(|e| e.detail)?;
    let response = client
        .get(&url)
        .basic_auth(user, Some(password))
        .send()
        .await
        .map_err(|e| format!("Twilio did not answer: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.bytes().await.unwrap_or_default();
    let said = protocol::outbound::parse_error(&body)
        .map(|e| format!("{} {}", e.code.map(|c| c.to_string()).unwrap_or_default(), e.message.unwrap_or_default()))
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    Err(format!("Twilio refused the account SID and credentials: {}", said.trim()))
}

/// TwiML answering a webhook: empty, or one message back to the sender (a keyword's answer).
pub fn twiml(message: Option<&str>) -> String {
    match message {
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_string(),
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            escape_xml(text)
        ),
    }
}

fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_escapes_its_text() {
        assert_eq!(twiml(None), "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>");
        assert!(twiml(Some("a <b> & 'c'")).ends_with("<Message>a &lt;b&gt; &amp; &apos;c&apos;</Message></Response>"));
    }
}
