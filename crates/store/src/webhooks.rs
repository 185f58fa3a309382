//! Webhook subscriptions, and the delivery records the delivery engine keeps: one row per event and endpoint,
//! and a log row per attempt. The engine's position in the event log is kept in `outbox_cursors` and moves in the
//! same transaction that records the deliveries of the events it passed.

use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code, Error, Timestamp,
    account::{AccountMethod, AccountSettings},
    ids::*,
    setup::{ChannelSettings, ChannelType},
};
use utoipa::ToSchema;

pub use switchboard_domain::record::Subscription;

use crate::{
    events,
    model::Event,
    params,
    provider_messages::ProviderMessage,
    sql::{Row, Tx},
};
use switchboard_domain::{
    event::{EventType, MessageDelivered, MessageDeliveryFailed, TypedEvent},
    record::Message,
};

const SUB_COLUMNS: &str = "id, org_id, url, description, event_types, disabled_at, disabled_reason, \
     previous_secret_expires_at, created_at, updated_at";

fn sub_from_row(r: &Row) -> Result<Subscription, Error> {
    Ok(Subscription {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        url: r.string(2)?,
        description: r.opt_string(3)?,
        event_types: serde_json::from_str(&r.string(4)?).map_err(Error::internal)?,
        disabled_at: r.opt_ts(5)?,
        disabled_reason: r.opt_string(6)?,
        previous_secret_expires_at: r.opt_ts(7)?,
        created_at: r.ts(8)?,
        updated_at: r.ts(9)?,
    })
}

/// A subscription as the server saves it; `sealed_secret` is already encrypted.
pub struct NewSubscription {
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub sealed_secret: String,
}

pub fn create_subscription(
    tx: &mut Tx<'_>,
    org: OrgId,
    new: NewSubscription,
    now: Timestamp,
) -> Result<Subscription, Error> {
    let id = SubscriptionId::new();
    let types = serde_json::to_string(&new.event_types).map_err(Error::internal)?;
    tx.execute(
        "INSERT INTO webhook_subscriptions (id, org_id, url, description, event_types, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        params![id, org, &new.url, new.description.as_deref(), types, &new.sealed_secret, now],
    )?;
    let sub = get_subscription(tx, org, id)?;
    events::append_event(tx, org, None, &TypedEvent::WebhookSubscriptionCreated(sub.clone()), now)?;
    Ok(sub)
}

pub fn get_subscription(tx: &mut Tx<'_>, org: OrgId, id: SubscriptionId) -> Result<Subscription, Error> {
    tx.get_in_org("webhook_subscriptions", SUB_COLUMNS, id.into(), org, Code::SubscriptionNotFound, sub_from_row)
}

pub fn list_subscriptions(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: Option<SubscriptionId>,
    limit: usize,
) -> Result<Vec<Subscription>, Error> {
    tx.list_in_org("webhook_subscriptions", SUB_COLUMNS, org, after, limit, sub_from_row)
}

/// What an update may change; `None` leaves a field as it is.
#[derive(Default)]
pub struct SubscriptionChange {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    /// `Some(true)` enables a disabled subscription again; `Some(false)` disables it.
    pub enabled: Option<bool>,
}

pub fn update_subscription(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: SubscriptionId,
    change: SubscriptionChange,
    now: Timestamp,
) -> Result<Subscription, Error> {
    let before = get_subscription(tx, org, id)?;
    let url = change.url.unwrap_or(before.url);
    let description = change.description.unwrap_or(before.description);
    let types = serde_json::to_string(&change.event_types.unwrap_or(before.event_types)).map_err(Error::internal)?;
    let (disabled_at, reason) = match change.enabled {
        Some(true) => (None, None),
        Some(false) if before.disabled_at.is_none() => (Some(now), Some("disabled by an administrator".to_string())),
        _ => (before.disabled_at, before.disabled_reason),
    };
    tx.execute(
        "UPDATE webhook_subscriptions SET url = $3, description = $4, event_types = $5, disabled_at = $6,
           disabled_reason = $7, updated_at = $8 WHERE id = $1 AND org_id = $2",
        params![id, org, url, description, types, disabled_at, reason, now],
    )?;
    let sub = get_subscription(tx, org, id)?;
    events::append_event(tx, org, None, &TypedEvent::WebhookSubscriptionUpdated(sub.clone()), now)?;
    Ok(sub)
}

/// Replaces the signing secret; the old one keeps signing (a second signature) until `previous_until`.
pub fn rotate_secret(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: SubscriptionId,
    sealed_secret: &str,
    previous_until: Timestamp,
    now: Timestamp,
) -> Result<Subscription, Error> {
    get_subscription(tx, org, id)?;
    tx.execute(
        "UPDATE webhook_subscriptions SET previous_secret = secret, previous_secret_expires_at = $3, secret = $4,
           updated_at = $5 WHERE id = $1 AND org_id = $2",
        params![id, org, previous_until, sealed_secret, now],
    )?;
    let sub = get_subscription(tx, org, id)?;
    events::append_event(tx, org, None, &TypedEvent::WebhookSubscriptionSecretRotated(sub.clone()), now)?;
    Ok(sub)
}

pub fn delete_subscription(tx: &mut Tx<'_>, org: OrgId, id: SubscriptionId, now: Timestamp) -> Result<(), Error> {
    let sub = get_subscription(tx, org, id)?;
    tx.execute("DELETE FROM webhook_subscriptions WHERE id = $1 AND org_id = $2", params![id, org])?;
    // Its pending deliveries have nowhere to go.
    tx.execute(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = 'subscription deleted', next_attempt_at = NULL
         WHERE endpoint = $1 AND state = 'pending'",
        params![Endpoint::Subscription(id).key()],
    )?;
    events::append_event(tx, org, None, &TypedEvent::WebhookSubscriptionDeleted(sub.clone()), now)?;
    Ok(())
}

/// Where a delivery goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// A native subscription, signed per Standard Webhooks.
    Subscription(SubscriptionId),
    /// A Messaging API channel's webhook, sent as Bot Framework activities.
    Channel(ChannelId),
    /// A channel's bot (its OAuth2 client id), sent the customer's activities while it holds a conversation.
    Bot(ClientId),
}

impl Endpoint {
    pub fn key(&self) -> String {
        match self {
            Endpoint::Subscription(id) => format!("subscription:{id}"),
            Endpoint::Channel(id) => format!("channel:{id}"),
            Endpoint::Bot(id) => format!("bot:{id}"),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once(':')?;
        match kind {
            "subscription" => id.parse().ok().map(Endpoint::Subscription),
            "channel" => id.parse().ok().map(Endpoint::Channel),
            "bot" => id.parse().ok().map(Endpoint::Bot),
            _ => None,
        }
    }
}

/// An endpoint the engine delivers to, with what it needs to sign and address it.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: Endpoint,
    pub org_id: OrgId,
    pub url: String,
    /// Subscriptions: the event types wanted (empty: all).
    pub event_types: Vec<String>,
    /// Subscriptions: the sealed secret, and the previous one while it still signs.
    pub sealed_secrets: Vec<String>,
    /// Channels: the audience of the webhook token (Messaging API), or the bot's app id (Bot Framework).
    pub app_id: Option<String>,
    /// Channels: the kind of channel, whose adapter renders and addresses the deliveries.
    pub channel_type: Option<ChannelType>,
    /// Bot Framework channels: the account's credentials, sealed; the app's tenant when it is single-tenant.
    pub sealed_credentials: Option<String>,
    pub tenant_id: Option<String>,
    /// SMS and WhatsApp channels: their account's settings (sender, account id), read as the adapter needs them.
    pub account: Option<AccountSettings>,
    /// Channels of an account: its method, which names the provider an SMS or WhatsApp channel sends through.
    pub method: Option<AccountMethod>,
    /// Provider channels: the channel's own limit on sends a second, over the server's default for the provider.
    pub sends_per_second: Option<u32>,
}

/// Every endpoint that should receive deliveries now: enabled subscriptions, and Messaging API channels with a
/// webhook URL.
pub fn targets(tx: &mut Tx<'_>, now: Timestamp) -> Result<Vec<Target>, Error> {
    let mut out = Vec::new();
    for r in tx.query(
        "SELECT id, org_id, url, event_types, secret, previous_secret, previous_secret_expires_at
         FROM webhook_subscriptions WHERE disabled_at IS NULL ORDER BY id",
        params![],
    )? {
        let mut sealed_secrets = vec![r.string(4)?];
        if let (Some(previous), Some(until)) = (r.opt_string(5)?, r.opt_ts(6)?)
            && until > now
        {
            sealed_secrets.push(previous);
        }
        out.push(Target {
            endpoint: Endpoint::Subscription(r.parse(0)?),
            org_id: r.parse(1)?,
            url: r.string(2)?,
            event_types: serde_json::from_str(&r.string(3)?).map_err(Error::internal)?,
            sealed_secrets,
            app_id: None,
            channel_type: None,
            sealed_credentials: None,
            tenant_id: None,
            account: None,
            method: None,
            sends_per_second: None,
        });
    }
    for r in tx.query(
        "SELECT id, org_id, settings FROM channels WHERE channel_type = 'messaging_api' ORDER BY id",
        params![],
    )? {
        let settings: ChannelSettings = r.json(2)?;
        if let Some(url) = settings.webhook_url {
            out.push(Target {
                endpoint: Endpoint::Channel(r.parse(0)?),
                org_id: r.parse(1)?,
                url: url.as_str().to_string(),
                event_types: Vec::new(),
                sealed_secrets: Vec::new(),
                app_id: settings.app_id.map(|a| a.as_str().to_string()),
                channel_type: Some(ChannelType::MessagingApi),
                sealed_credentials: None,
                tenant_id: None,
                account: None,
                method: None,
                sends_per_second: None,
            });
        }
    }
    // A Bot Framework channel answers wherever each conversation's activities came from (its reply address),
    // with a token for its account's app.
    for r in tx.query(
        "SELECT c.id, c.org_id, a.settings, a.credentials, c.settings FROM channels c
         JOIN messaging_accounts a ON a.id = c.account_id
         WHERE c.channel_type = 'bot_framework' ORDER BY c.id",
        params![],
    )? {
        out.push(bot_framework_target(&r)?);
    }
    // An SMS or WhatsApp channel sends through its account's provider (the account's method: Twilio, Meta's Cloud
    // API, TeleSign), as the account's sender, to the number each conversation's reply address names.
    for r in tx.query(
        "SELECT c.id, c.org_id, c.channel_type, c.settings, a.method, a.settings, a.credentials FROM channels c
         JOIN messaging_accounts a ON a.id = c.account_id
         WHERE c.channel_type IN ('sms', 'whatsapp') ORDER BY c.id",
        params![],
    )? {
        let channel: ChannelSettings = r.json(3)?;
        out.push(Target {
            endpoint: Endpoint::Channel(r.parse(0)?),
            org_id: r.parse(1)?,
            url: String::new(),
            event_types: Vec::new(),
            sealed_secrets: Vec::new(),
            app_id: None,
            channel_type: Some(r.enumeration(2, ChannelType::parse)?),
            sealed_credentials: r.opt_string(6)?,
            tenant_id: None,
            account: Some(r.json(5)?),
            method: r.opt_string(4)?.as_deref().and_then(AccountMethod::parse),
            sends_per_second: channel.sends_per_second,
        });
    }
    // A Google's Business Messages channel answers each conversation at Google's API (its reply address names the
    // conversation), as its account's service account.
    for r in tx.query(
        "SELECT c.id, c.org_id, a.credentials, c.settings FROM channels c
         JOIN messaging_accounts a ON a.id = c.account_id
         WHERE c.channel_type = 'google_business_messages' ORDER BY c.id",
        params![],
    )? {
        out.push(Target {
            endpoint: Endpoint::Channel(r.parse(0)?),
            org_id: r.parse(1)?,
            url: String::new(),
            event_types: Vec::new(),
            sealed_secrets: Vec::new(),
            app_id: None,
            channel_type: Some(ChannelType::GoogleBusinessMessages),
            sealed_credentials: r.opt_string(2)?,
            tenant_id: None,
            account: None,
            method: Some(AccountMethod::Google),
            sends_per_second: r.json::<ChannelSettings>(3)?.sends_per_second,
        });
    }
    // A bot hears the customers of the conversations it holds, at its messaging endpoint, for its app id.
    for (org_id, bot) in crate::bots::all(tx)? {
        out.push(Target {
            endpoint: Endpoint::Bot(bot.client_id),
            org_id,
            url: bot.messaging_endpoint,
            event_types: Vec::new(),
            sealed_secrets: Vec::new(),
            app_id: Some(bot.app_id),
            channel_type: None,
            sealed_credentials: None,
            tenant_id: None,
            account: None,
            method: None,
            sends_per_second: None,
        });
    }
    Ok(out)
}

/// A Bot Framework channel's target from `c.id, c.org_id, a.settings, a.credentials, c.settings` (channel, then
/// account).
fn bot_framework_target(r: &Row) -> Result<Target, Error> {
    let settings: AccountSettings = r.json(2)?;
    let channel: ChannelSettings = r.json(4)?;
    Ok(Target {
        endpoint: Endpoint::Channel(r.parse(0)?),
        org_id: r.parse(1)?,
        url: String::new(),
        event_types: Vec::new(),
        sealed_secrets: Vec::new(),
        app_id: settings.app_id.map(|a| a.as_str().to_string()),
        channel_type: Some(ChannelType::BotFramework),
        sealed_credentials: r.opt_string(3)?,
        tenant_id: settings.tenant_id.map(|t| t.as_str().to_string()),
        account: None,
        method: Some(AccountMethod::AzureBotFramework),
        sends_per_second: channel.sends_per_second,
    })
}

/// The target of a conversation's channel when the channel is Bot Framework's (where an agent's typing goes);
/// `None` for other channels and unknown conversations.
pub fn bot_framework_target_of(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
) -> Result<Option<Target>, Error> {
    tx.query_opt(
        "SELECT c.id, c.org_id, a.settings, a.credentials, c.settings FROM conversations v
         JOIN channels c ON c.id = v.channel_id
         JOIN messaging_accounts a ON a.id = c.account_id
         WHERE v.id = $1 AND v.org_id = $2 AND c.channel_type = 'bot_framework'",
        params![conversation, org],
    )?
    .map(|r| bot_framework_target(&r))
    .transpose()
}

/// Stops deliveries to a subscription whose receiver said it is gone (410).
pub fn disable_subscription(tx: &mut Tx<'_>, id: SubscriptionId, reason: &str, now: Timestamp) -> Result<(), Error> {
    let Some(row) =
        tx.query_opt("SELECT org_id FROM webhook_subscriptions WHERE id = $1 AND disabled_at IS NULL", params![id])?
    else {
        return Ok(());
    };
    let org: OrgId = row.parse(0)?;
    tx.execute(
        "UPDATE webhook_subscriptions SET disabled_at = $2, disabled_reason = $3, updated_at = $2 WHERE id = $1",
        params![id, now, reason],
    )?;
    let sub = get_subscription(tx, org, id)?;
    events::append_event(tx, org, None, &TypedEvent::WebhookSubscriptionDisabled(sub.clone()), now)?;
    Ok(())
}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet accepted by the receiver; due at `next_attempt_at`.
    Pending,
    Delivered,
    /// A dead letter: retries ran out, the receiver answered 410, or the endpoint went away. Replay sends it again.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub id: DeliveryId,
    pub org_id: OrgId,
    /// The subscription, when the endpoint is one.
    pub subscription_id: Option<SubscriptionId>,
    /// The Messaging API channel, when the endpoint is its webhook.
    pub channel_id: Option<ChannelId>,
    /// The bot (its OAuth2 client id), when the endpoint is a channel's bot's messaging endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub bot_id: Option<ClientId>,
    pub event_id: i64,
    pub event_type: String,
    pub conversation_id: Option<ConversationId>,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last attempt, if the receiver answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

impl Delivery {
    pub fn endpoint(&self) -> Option<Endpoint> {
        match (self.subscription_id, self.channel_id) {
            (Some(s), _) => Some(Endpoint::Subscription(s)),
            (None, Some(c)) => Some(Endpoint::Channel(c)),
            _ => self.bot_id.map(Endpoint::Bot),
        }
    }
}

const DELIVERY_COLUMNS: &str = "id, org_id, endpoint, event_id, event_type, conversation_id, state, attempts, \
     next_attempt_at, last_status, last_error, created_at, updated_at, delivered_at";

fn delivery_from_row(r: &Row) -> Result<Delivery, Error> {
    let endpoint = Endpoint::parse(&r.string(2)?).ok_or_else(|| Error::internal("unknown delivery endpoint"))?;
    Ok(Delivery {
        id: r.parse(0)?,
        org_id: r.parse(1)?,
        subscription_id: match endpoint {
            Endpoint::Subscription(s) => Some(s),
            Endpoint::Channel(_) | Endpoint::Bot(_) => None,
        },
        channel_id: match endpoint {
            Endpoint::Channel(c) => Some(c),
            Endpoint::Subscription(_) | Endpoint::Bot(_) => None,
        },
        bot_id: match endpoint {
            Endpoint::Bot(b) => Some(b),
            Endpoint::Subscription(_) | Endpoint::Channel(_) => None,
        },
        event_id: r.i64(3)?,
        event_type: r.string(4)?,
        conversation_id: r.opt_parse(5)?,
        state: r.enumeration(6, DeliveryState::parse)?,
        attempts: r.i64(7)?,
        next_attempt_at: r.opt_ts(8)?,
        last_status: r.opt_i64(9)?,
        last_error: r.opt_string(10)?,
        created_at: r.ts(11)?,
        updated_at: r.ts(12)?,
        delivered_at: r.opt_ts(13)?,
    })
}

/// A delivery about to be made.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub org_id: OrgId,
    pub endpoint: Endpoint,
    pub event_id: i64,
    pub event_type: String,
    pub conversation_id: Option<ConversationId>,
}

/// Records the deliveries of the events up to `cursor` and moves the cursor there, in one transaction, so an event
/// is never passed without its deliveries on record. Returns the deliveries that are new (a delivery recorded
/// before a crash is not recorded twice).
pub fn enqueue(
    tx: &mut Tx<'_>,
    cursor_name: &str,
    cursor: i64,
    deliveries: Vec<NewDelivery>,
    now: Timestamp,
) -> Result<Vec<NewDelivery>, Error> {
    let mut fresh = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        let inserted = tx.execute(
            "INSERT INTO webhook_deliveries (id, org_id, endpoint, event_id, event_type, conversation_id, state,
               attempts, next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7)
             ON CONFLICT (endpoint, event_id) DO NOTHING",
            params![d.id, d.org_id, d.endpoint.key(), d.event_id, &d.event_type, d.conversation_id, now],
        )?;
        if inserted > 0 {
            fresh.push(d);
        }
    }
    set_cursor(tx, cursor_name, cursor)?;
    Ok(fresh)
}

pub fn cursor(tx: &mut Tx<'_>, name: &str) -> Result<Option<i64>, Error> {
    tx.query_opt("SELECT event_id FROM outbox_cursors WHERE name = $1", params![name])?.map(|r| r.i64(0)).transpose()
}

pub fn set_cursor(tx: &mut Tx<'_>, name: &str, event_id: i64) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO outbox_cursors (name, event_id) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET event_id = excluded.event_id",
        params![name, event_id],
    )?;
    Ok(())
}

/// The outcome of one attempt, to be recorded.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: DeliveryId,
    pub number: i64,
    pub at: Timestamp,
    pub status: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// The start of the receiver's answer, for the delivery log.
    pub response: Option<String>,
    /// What the delivery becomes.
    pub state: DeliveryState,
    pub next_attempt_at: Option<Timestamp>,
    /// The delivery carries a message to its channel: its conversation is told how the delivery ended.
    pub channel_message: bool,
}

/// Writes a batch of attempts to the log and brings their deliveries up to date.
pub fn record_attempts(tx: &mut Tx<'_>, attempts: &[Attempt], now: Timestamp) -> Result<(), Error> {
    for a in attempts {
        tx.execute(
            "INSERT INTO webhook_attempts (delivery_id, attempt, org_id, at, status, duration_ms, error, response)
             SELECT $1, $2, org_id, $3, $4, $5, $6, $7 FROM webhook_deliveries WHERE id = $1
             ON CONFLICT (delivery_id, attempt) DO NOTHING",
            params![
                a.delivery_id,
                a.number,
                a.at,
                a.status.map(i64::from),
                a.duration_ms,
                a.error.as_deref(),
                a.response.as_deref()
            ],
        )?;
        let delivered_at = (a.state == DeliveryState::Delivered).then_some(a.at);
        tx.execute(
            "UPDATE webhook_deliveries SET state = $2, attempts = $3, next_attempt_at = $4, last_status = $5,
               last_error = $6, updated_at = $7, delivered_at = COALESCE($8, delivered_at)
             WHERE id = $1",
            params![
                a.delivery_id,
                a.state.as_str(),
                a.number,
                a.next_attempt_at,
                a.status.map(i64::from),
                a.error.as_deref(),
                now,
                delivered_at
            ],
        )?;
    }
    Ok(())
}

/// Tells a message's conversation that its channel never got it (`message.delivery_failed`), after `a`, the last
/// attempt, failed; the agent sees it next to the message. Anything else that failed is left alone.
///
/// Its own transaction, one conversation's: appending to a conversation's log locks the conversation, and a batch
/// of attempts that locked several would deadlock with routing's writes, which lock theirs in another order.
pub fn tell_undelivered_message(tx: &mut Tx<'_>, a: &Attempt, now: Timestamp) -> Result<(), Error> {
    let Some((org, channel_id, conversation, message)) = channel_message(tx, a)? else { return Ok(()) };
    let failed = MessageDeliveryFailed {
        message_id: message.id,
        channel_id,
        delivery_id: a.delivery_id,
        attempts: a.number,
        status: a.status,
        error: a.error.clone(),
    };
    events::append_event(tx, org, Some(conversation), &TypedEvent::MessageDeliveryFailed(failed), now)?;
    Ok(())
}

/// Puts a message's delivery receipt (`message.delivered`) on its conversation, after `a`, the attempt its channel
/// accepted; the provider's id for it is taken from the answer (`{"id": …}`) when there is one. Its own
/// transaction, one conversation's, as [`tell_undelivered_message`].
pub fn tell_delivered_message(tx: &mut Tx<'_>, a: &Attempt, now: Timestamp) -> Result<(), Error> {
    let Some((org, channel_id, conversation, message)) = channel_message(tx, a)? else { return Ok(()) };
    let answer = a.response.as_deref().and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok());
    // The Connector names its message `id`; Twilio `sid`; Google's Business Messages `messageId`; Meta and TeleSign
    // theirs.
    let provider_message_id = answer
        .as_ref()
        .and_then(|v| {
            v.get("id")
                .or_else(|| v.get("sid"))
                .or_else(|| v.get("messageId"))
                .and_then(|id| id.as_str())
                .or_else(|| provider_id(v))
        })
        .map(str::to_string)
        .filter(|id| !id.is_empty() && id.chars().count() <= 256);
    // Twilio writes the count as a string of digits.
    let segments = answer.as_ref().and_then(|v| v.get("num_segments")).and_then(|n| match n {
        serde_json::Value::String(s) => s.parse::<u32>().ok(),
        n => n.as_u64().and_then(|n| u32::try_from(n).ok()),
    });
    if let Some(provider_id) = &provider_message_id {
        let kept = ProviderMessage {
            org_id: org,
            conversation_id: conversation,
            message_id: message.id,
            delivery_id: a.delivery_id,
            segments,
        };
        crate::provider_messages::keep(tx, channel_id, provider_id, &kept, now)?;
    }
    let delivered = MessageDelivered {
        message_id: message.id,
        channel_id,
        delivery_id: a.delivery_id,
        provider_message_id: provider_message_id.clone(),
        segments,
    };
    events::append_event(tx, org, Some(conversation), &TypedEvent::MessageDelivered(delivered), now)?;
    if let Some(provider_id) = &provider_message_id {
        crate::provider_messages::apply_early(tx, channel_id, provider_id, now)?;
    }
    Ok(())
}

/// The id a provider that does not answer `{"id": …}` names its message with: the WhatsApp Cloud API's
/// `messages[0].id`, TeleSign's `reference_id`.
fn provider_id(answer: &serde_json::Value) -> Option<&str> {
    answer.pointer("/messages/0/id").or_else(|| answer.get("reference_id")).and_then(|id| id.as_str())
}

/// The message a channel delivery carried, with its organization, channel and conversation; `None` for any other
/// delivery.
fn channel_message(tx: &mut Tx<'_>, a: &Attempt) -> Result<Option<(OrgId, ChannelId, ConversationId, Message)>, Error> {
    let Some(row) = tx.query_opt(
        "SELECT d.org_id, d.endpoint, e.conversation_id, e.payload FROM webhook_deliveries d
         JOIN events e ON e.id = d.event_id
         WHERE d.id = $1 AND d.event_type = $2 AND d.endpoint LIKE 'channel:%'",
        params![a.delivery_id, EventType::MessageCreated.as_str()],
    )?
    else {
        return Ok(None);
    };
    let (org, endpoint, conversation): (OrgId, String, ConversationId) = (row.parse(0)?, row.string(1)?, row.parse(2)?);
    let Some(Endpoint::Channel(channel_id)) = Endpoint::parse(&endpoint) else { return Ok(None) };
    Ok(Some((org, channel_id, conversation, row.json(3)?)))
}

/// Fails the pending deliveries of an endpoint (it was disabled or went away).
pub fn fail_pending(tx: &mut Tx<'_>, endpoint: Endpoint, reason: &str, now: Timestamp) -> Result<(), Error> {
    tx.execute(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = $2, next_attempt_at = NULL, updated_at = $3
         WHERE endpoint = $1 AND state = 'pending'",
        params![endpoint.key(), reason, now],
    )?;
    Ok(())
}

/// A pending delivery with its event, as the engine resumes it after a restart or a replay.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub delivery: Delivery,
    pub event: Event,
}

/// Pending deliveries in event order, after delivery `after` (by event id then id), with their events.
pub fn pending(tx: &mut Tx<'_>, after: Option<(i64, DeliveryId)>, limit: usize) -> Result<Vec<PendingDelivery>, Error> {
    let (after_event, after_id) = after.map_or((0, String::new()), |(e, d)| (e, d.to_string()));
    let cols = DELIVERY_COLUMNS.split(", ").map(|c| format!("d.{c}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT {cols}, e.id, e.event_type, e.conversation_id, e.seq, e.payload, e.created_at, e.org_id
         FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.state = 'pending' AND (d.event_id > $1 OR (d.event_id = $1 AND d.id > $2))
         ORDER BY d.event_id, d.id LIMIT $3"
    );
    tx.query(&sql, params![after_event, after_id, limit])?
        .iter()
        .map(|r| {
            Ok(PendingDelivery {
                delivery: delivery_from_row(r)?,
                event: Event {
                    id: r.i64(14)?,
                    org_id: r.parse(20)?,
                    event_type: r.string(15)?,
                    conversation_id: r.opt_parse(16)?,
                    sequence: r.opt_i64(17)?,
                    data: r.json(18)?,
                    created_at: r.ts(19)?,
                },
            })
        })
        .collect()
}

pub fn get_delivery(tx: &mut Tx<'_>, org: OrgId, id: DeliveryId) -> Result<Delivery, Error> {
    tx.get_in_org("webhook_deliveries", DELIVERY_COLUMNS, id.into(), org, Code::DeliveryNotFound, delivery_from_row)
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint: Option<Endpoint>,
    pub state: Option<DeliveryState>,
    pub conversation_id: Option<ConversationId>,
}

pub fn list_deliveries(
    tx: &mut Tx<'_>,
    org: OrgId,
    f: &DeliveryFilter,
    after: Option<DeliveryId>,
    limit: usize,
) -> Result<Vec<Delivery>, Error> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org_id = $1
           AND (CAST($2 AS TEXT) IS NULL OR endpoint = $2)
           AND (CAST($3 AS TEXT) IS NULL OR state = $3)
           AND (CAST($4 AS TEXT) IS NULL OR conversation_id = $4)
           AND id > $5 ORDER BY id LIMIT $6"
    );
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    tx.query(
        &sql,
        params![org, f.endpoint.map(|e| e.key()), f.state.map(DeliveryState::as_str), f.conversation_id, after, limit],
    )?
    .iter()
    .map(delivery_from_row)
    .collect()
}

/// One entry of the delivery log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptRecord {
    pub attempt: i64,
    pub at: Timestamp,
    pub status: Option<i64>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response: Option<String>,
}

pub fn attempts(tx: &mut Tx<'_>, org: OrgId, id: DeliveryId) -> Result<Vec<AttemptRecord>, Error> {
    get_delivery(tx, org, id)?;
    tx.query(
        "SELECT attempt, at, status, duration_ms, error, response FROM webhook_attempts
         WHERE delivery_id = $1 AND org_id = $2 ORDER BY attempt",
        params![id, org],
    )?
    .iter()
    .map(|r| {
        Ok(AttemptRecord {
            attempt: r.i64(0)?,
            at: r.ts(1)?,
            status: r.opt_i64(2)?,
            duration_ms: r.i64(3)?,
            error: r.opt_string(4)?,
            response: r.opt_string(5)?,
        })
    })
    .collect()
}

/// Makes a delivery due again now, whatever its state; the attempt count and log carry on.
pub fn replay(tx: &mut Tx<'_>, org: OrgId, id: DeliveryId, now: Timestamp) -> Result<Delivery, Error> {
    get_delivery(tx, org, id)?;
    tx.execute(
        "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $3, updated_at = $3
         WHERE id = $1 AND org_id = $2",
        params![id, org, now],
    )?;
    get_delivery(tx, org, id)
}

/// Makes due again every delivery to `endpoint` whose event happened in `[since, until)`: the failed ones, and the
/// delivered ones too when `include_delivered`. Returns how many.
pub fn replay_range(
    tx: &mut Tx<'_>,
    org: OrgId,
    endpoint: Endpoint,
    since: Timestamp,
    until: Timestamp,
    include_delivered: bool,
    now: Timestamp,
) -> Result<u64, Error> {
    tx.execute(
        "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $6, updated_at = $6
         WHERE org_id = $1 AND endpoint = $2 AND created_at >= $3 AND created_at < $4
           AND (state = 'failed' OR ($5 AND state = 'delivered'))",
        params![org, endpoint.key(), since, until, include_delivered, now],
    )
}
