//! An agent's typing, sent to the channels whose customers see it (Bot Framework's). Typing is news of a moment:
//! it goes at once from the node the agent typed on, not through the durable delivery engine; it is never stored
//! nor retried (a typing indicator that arrives late is worse than none), and a failure is only logged. A channel's
//! client shows typing for a few seconds, so a conversation's typing is sent at most once per [`EVERY_MILLIS`].

use std::{collections::HashMap, sync::Arc};

use switchboard_channels::bot_framework::outbound::Outgoing;
use switchboard_domain::{
    Error,
    ids::{ConversationId, DeliveryId, OrgId},
};
use switchboard_store::{Store, webhooks};

use super::{
    channel::{Adapter, BotReply, Connector},
    guard, http_client, send,
};
use crate::{auth::secrets::SecretBox, channels::bot_framework::BotTokens, clock::Clock};

/// How long a channel's client shows a typing indicator (Web Chat and Teams: about three seconds).
pub const EVERY_MILLIS: i64 = 3_000;

/// Conversations remembered at most before the old entries are dropped.
const REMEMBERED: usize = 10_000;

pub struct Typing {
    store: Arc<Store>,
    clock: Clock,
    http: reqwest::Client,
    connector: Connector,
    secrets: SecretBox,
    allow: guard::Allow,
    hosts: Vec<String>,
    /// When each conversation's typing was last sent.
    sent: std::sync::Mutex<HashMap<ConversationId, i64>>,
}

impl Typing {
    pub fn new(
        store: Arc<Store>,
        clock: Clock,
        config: &crate::Config,
        public_url: &str,
        secrets: SecretBox,
        tokens: Arc<BotTokens>,
        google_tokens: Arc<crate::channels::google_bm::GoogleTokens>,
    ) -> Result<Self, Error> {
        let phone = super::channel::PhoneApis::of(config, public_url);
        let google_api = config.channels.google_business_messages.api_url.clone();
        let config = &config.webhooks;
        Ok(Self {
            connector: Connector {
                store: store.clone(),
                clock: clock.clone(),
                tokens,
                phone,
                google_tokens,
                google_api,
            },
            store,
            clock,
            http: http_client(config)?,
            secrets,
            allow: guard::Allow { loopback: config.allow_loopback, private: config.allow_private },
            hosts: config.allowed_hosts.clone(),
            sent: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Tells the customer of `conversation` that an agent is typing, when its channel shows that. Answers once the
    /// channel is known; the call to the channel is made in the background.
    pub async fn agent_typing(&self, org: OrgId, conversation: ConversationId) -> Result<(), Error> {
        if !self.due(conversation) {
            return Ok(());
        }
        let Some(target) = self.store.read(move |tx| webhooks::bot_framework_target_of(tx, org, conversation)).await?
        else {
            return Ok(());
        };
        let Ok(Some(Adapter::BotFramework { app_id, tenant, secret })) = Adapter::of(&target, &self.secrets) else {
            return Ok(());
        };
        let reply = BotReply {
            conversation,
            outgoing: Outgoing::Typing { agent_name: None },
            app_id,
            tenant,
            secret,
            webhook_id: format!("typing_{}", DeliveryId::new().to_string().replace('-', "")),
        };
        let (connector, http, allow, hosts) =
            (self.connector.clone(), self.http.clone(), self.allow, self.hosts.clone());
        tokio::spawn(async move {
            let request = match connector.request(reply).await {
                Ok(request) => request,
                Err(refused) => {
                    tracing::debug!(%conversation, reason = %refused.reason, "agent typing not sent");
                    return;
                }
            };
            let outcome = send(&http, request, allow, &hosts).await;
            if let Some(error) = outcome.error {
                tracing::debug!(%conversation, %error, "agent typing not taken by the channel");
            }
        });
        Ok(())
    }

    /// Whether the conversation's typing is to be sent now (and, if so, that it was).
    fn due(&self, conversation: ConversationId) -> bool {
        let now = self.clock.now().millis();
        let Ok(mut sent) = self.sent.lock() else { return false };
        if sent.get(&conversation).is_some_and(|at| now - at < EVERY_MILLIS) {
            return false;
        }
        if sent.len() >= REMEMBERED {
            sent.retain(|_, at| now - *at < EVERY_MILLIS);
        }
        sent.insert(conversation, now);
        true
    }
}
