//! The WhatsApp (Meta Cloud API) channel's network half: its channels with their accounts' secrets, kept briefly so
//! that a notification costs no read before its write, and the Graph API calls the server makes outside the
//! delivery engine (a customer's file, fetched by its media id; the phone number, read to validate an account).

use std::{sync::Arc, time::Duration};

use switchboard_channels::meta::{MediaRef, outbound};
use switchboard_domain::{
    Code, Error, Timestamp,
    account::{AccountCredentials, AccountMethod, KeywordReplies, MessagingAccount},
    ids::ChannelId,
    setup::ChannelType,
    text::ShortText,
};
use switchboard_store::{messaging_accounts, model::Channel, setup};

use crate::{AppState, channels::accounts, config::MetaConfig};

/// The most of a Graph API JSON answer read (a media's or a phone number's description).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// How long a channel and its account are reused before they are read again.
const CHANNEL_CACHE_MS: i64 = 5_000;

/// A WhatsApp channel's account, opened.
pub struct MetaAccount {
    pub phone_number_id: String,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    /// What STOP, START and HELP are answered with.
    pub keyword_replies: Option<KeywordReplies>,
}

/// What the channel keeps while the server runs.
pub struct Meta {
    pub config: MetaConfig,
    http: reqwest::Client,
    channels: quick_cache::sync::Cache<ChannelId, (Channel, Arc<MetaAccount>, i64)>,
}

/// A customer's file, downloaded.
#[derive(Debug)]
pub struct Fetched {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Why a file could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// Larger than `max_media_bytes`: named in the message instead of kept.
    #[error("the file is {0} bytes, over the limit")]
    TooLarge(u64),
    /// The Graph API refused (4xx): the media id is unknown, expired or not this token's. Retrying will not help.
    #[error("the Graph API refused the media: {0}")]
    Refused(String),
    /// The Graph API failed or did not answer: worth Meta's retry of the whole notification.
    #[error("the Graph API did not give the media: {0}")]
    Unavailable(String),
}

impl Meta {
    pub fn new(config: &MetaConfig) -> anyhow::Result<Self> {
        Ok(Self { config: config.clone(), http: media_client()?, channels: quick_cache::sync::Cache::new(10_000) })
    }

    /// The WhatsApp channel named by the path, with its Meta account opened; anything else is not found.
    pub async fn channel(&self, app: &AppState, raw: &str) -> Result<(Channel, Arc<MetaAccount>), Error> {
        let id: ChannelId = raw.parse().map_err(|_| Error::not_found(Code::ChannelNotFound))?;
        // Real time, not the app's clock: tests hold that still, and the cache would never go stale.
        let now = Timestamp::now().millis();
        if let Some((channel, account, until)) = self.channels.get(&id)
            && until > now
        {
            return Ok((channel, account));
        }
        let (channel, account, credentials) =
            provider_channel(app, id, ChannelType::Whatsapp, AccountMethod::Meta).await?;
        let opened = Arc::new(MetaAccount {
            phone_number_id: text(account.settings.phone_number_id),
            access_token: text(credentials.access_token),
            app_secret: text(credentials.app_secret),
            verify_token: text(credentials.verify_token),
            keyword_replies: account.settings.keyword_replies,
        });
        self.channels.insert(id, (channel.clone(), opened.clone(), now + CHANNEL_CACHE_MS));
        Ok((channel, opened))
    }

    /// Downloads a customer's file as the Cloud API documents it: `GET /{media id}` for a short-lived URL, then
    /// that URL, both with the account's token. A file over `max_media_bytes` is refused before it is read whole.
    pub async fn fetch_media(&self, token: &str, media: &MediaRef) -> Result<Fetched, MediaError> {
        let url = outbound::media_url(&self.config.graph_url, &self.config.graph_version, &media.id);
        let answer = self.get(&url, token, MAX_ANSWER_BYTES).await?;
        let info = outbound::parse_media_info(&answer.bytes)
            .ok_or_else(|| MediaError::Unavailable("the media answer has no URL".into()))?;
        if let Some(size) = info.file_size.filter(|s| *s > self.config.max_media_bytes) {
            return Err(MediaError::TooLarge(size));
        }
        let file = self.get(&info.url, token, self.config.max_media_bytes).await?;
        let content_type = info
            .mime_type
            .or(media.mime_type.clone())
            .or(file.content_type)
            .unwrap_or_else(|| "application/octet-stream".into());
        Ok(Fetched { content_type, bytes: file.bytes })
    }

    /// `GET url` with the token, reading at most `limit` bytes of the answer.
    async fn get(&self, url: &str, token: &str, limit: u64) -> Result<Answer, MediaError> {
        let mut response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| MediaError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_client_error() {
            let body = response.bytes().await.unwrap_or_default();
            let why = outbound::parse_error(&body).map_or_else(|| format!("HTTP {status}"), |e| e.describe());
            return Err(MediaError::Refused(why));
        }
        if !status.is_success() {
            return Err(MediaError::Unavailable(format!("HTTP {status}")));
        }
        if let Some(length) = response.content_length().filter(|l| *l > limit) {
            return Err(MediaError::TooLarge(length));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| MediaError::Unavailable(e.to_string()))? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(MediaError::TooLarge(bytes.len() as u64));
            }
        }
        Ok(Answer { content_type, bytes })
    }

    /// Sends `text` to the WhatsApp user `to` (their `wa_id`) at once, outside the delivery engine: the answer to a
    /// STOP, START or HELP, which belongs to no conversation. It follows the customer's own message, so the 24-hour
    /// window is open.
    pub async fn send_text(&self, account: &MetaAccount, to: &str, text: &str) -> Result<(), String> {
        let url = outbound::messages_url(&self.config.graph_url, &self.config.graph_version, &account.phone_number_id);
        let body = outbound::render(to, &outbound::Outgoing::Text { body: text.to_string() }, None);
        let response = self
            .http
            .post(url)
            .bearer_auth(&account.access_token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("the Graph API did not answer: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(outbound::parse_error(&body).map_or_else(|| format!("HTTP {status}"), |e| e.describe()))
    }

    /// Validation: reads the account's phone number with its token. The number answering means the token is good
    /// and the id is the number's.
    pub async fn check_number(&self, phone_number_id: &str, token: &str) -> Result<(), String> {
        let url = outbound::phone_number_url(&self.config.graph_url, &self.config.graph_version, phone_number_id);
        match self.get(&url, token, MAX_ANSWER_BYTES).await {
            Ok(_) => Ok(()),
            Err(MediaError::Refused(why)) => Err(format!("the Graph API refused the phone number id and token: {why}")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A setting or credential as text; empty when absent (which `check_account` does not let an account be).
pub(crate) fn text(v: Option<ShortText>) -> String {
    v.map(ShortText::into_inner).unwrap_or_default()
}

/// The channel `id` with its account and opened credentials, when it is a channel of `kind` on an account of
/// `method`; anything else (another kind, another provider, no such channel) is not found.
pub(crate) async fn provider_channel(
    app: &AppState,
    id: ChannelId,
    kind: ChannelType,
    method: AccountMethod,
) -> Result<(Channel, MessagingAccount, AccountCredentials), Error> {
    let not_found = || Error::not_found(Code::ChannelNotFound);
    let (channel, account) = app
        .store
        .read(move |tx| {
            let channel = setup::find_channel(tx, id)?;
            let account = messaging_accounts::account_of_channel(tx, channel.org_id, id)?;
            Ok((channel, account))
        })
        .await
        .map_err(|_| not_found())?;
    if channel.channel_type != kind || account.method != Some(method) {
        return Err(not_found());
    }
    let credentials = accounts::open(app, &account)?;
    Ok((channel, account, credentials))
}

struct Answer {
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// Files take longer than the identity providers' answers the other clients wait for; the Graph API's URLs are
/// its own answers, not a customer's, so no SSRF guard (as for the Bot Framework's configured endpoints).
fn media_client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
        .build()?)
}
