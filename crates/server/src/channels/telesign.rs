//! The TeleSign SMS channel's network half: its channels with their accounts' customer id and API key, kept briefly
//! so that a callback costs no read before its write, and validation's call to TeleSign.

use std::sync::Arc;

use switchboard_channels::telesign::outbound;
use switchboard_domain::{
    Code, Error, Timestamp,
    account::{AccountMethod, KeywordReplies},
    ids::ChannelId,
    setup::ChannelType,
};
use switchboard_store::model::Channel;

use crate::{
    AppState,
    channels::meta::{provider_channel, text},
    config::TelesignConfig,
};

const CHANNEL_CACHE_MS: i64 = 5_000;

/// A TeleSign channel's account, opened.
pub struct TelesignAccount {
    pub customer_id: String,
    pub api_key: String,
    pub sender_id: Option<String>,
    /// What STOP, START and HELP are answered with.
    pub keyword_replies: Option<KeywordReplies>,
}

pub struct Telesign {
    pub config: TelesignConfig,
    http: reqwest::Client,
    channels: quick_cache::sync::Cache<ChannelId, (Channel, Arc<TelesignAccount>, i64)>,
}

impl Telesign {
    pub fn new(config: &TelesignConfig) -> anyhow::Result<Self> {
        Ok(Self {
            config: config.clone(),
            http: crate::channels::bot_framework::http_client()?,
            channels: quick_cache::sync::Cache::new(10_000),
        })
    }

    /// The SMS channel named by the path, with its TeleSign account opened; anything else is not found.
    pub async fn channel(&self, app: &AppState, raw: &str) -> Result<(Channel, Arc<TelesignAccount>), Error> {
        let id: ChannelId = raw.parse().map_err(|_| Error::not_found(Code::ChannelNotFound))?;
        let now = Timestamp::now().millis();
        if let Some((channel, account, until)) = self.channels.get(&id)
            && until > now
        {
            return Ok((channel, account));
        }
        let (channel, account, credentials) =
            provider_channel(app, id, ChannelType::Sms, AccountMethod::Telesign).await?;
        let opened = Arc::new(TelesignAccount {
            customer_id: text(account.settings.customer_id),
            api_key: text(credentials.api_key),
            sender_id: account.settings.sender_id.map(|s| s.into_inner()),
            keyword_replies: account.settings.keyword_replies,
        });
        self.channels.insert(id, (channel.clone(), opened.clone(), now + CHANNEL_CACHE_MS));
        Ok((channel, opened))
    }

    /// Sends `text` to `to` at once, outside the delivery engine, from `sender` (the number the customer wrote to)
    /// or the account's: the answer to a STOP, START or HELP, which belongs to no conversation.
    pub async fn send_text(
        &self,
        account: &TelesignAccount,
        to: &str,
        sender: Option<&str>,
        text: &str,
    ) -> Result<(), String> {
        let body = outbound::render(&outbound::Sms {
            phone_number: to,
            message: text,
            sender_id: account.sender_id.as_deref().or(sender),
            external_id: None,
            callback_url: None,
        });
        let response = self
            .http
            .post(outbound::messaging_url(&self.config.api_url))
            .header(reqwest::header::AUTHORIZATION, outbound::basic_auth(&account.customer_id, &account.api_key))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("TeleSign did not answer: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(outbound::SendAnswer::parse(&body).map_or_else(|| format!("HTTP {status}"), |a| a.describe().1))
    }

    /// Validation: TeleSign has no call that checks credentials and sends nothing, so a send is made to no one:
    /// `POST /v1/messaging` without a phone number. TeleSign answers 401 for a customer id and API key it does not
    /// know, and 400 (a missing parameter) once it has accepted them.
    pub async fn check_credentials(&self, customer_id: &str, api_key: &str) -> Result<(), String> {
        let response = self
            .http
            .post(outbound::messaging_url(&self.config.api_url))
            .header(reqwest::header::AUTHORIZATION, outbound::basic_auth(customer_id, api_key))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("message_type=ARN")
            .send()
            .await
            .map_err(|e| format!("TeleSign did not answer: {}", e.without_url()))?;
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        match status.as_u16() {
            401 | 403 => {
                let said = outbound::SendAnswer::parse(&body).map(|a| a.describe().1).unwrap_or_default();
                Err(format!("TeleSign refused the customer id and API key ({status}): {said}"))
            }
            200..=499 => Ok(()),
            _ => Err(format!("TeleSign did not answer ({status})")),
        }
    }
}
