//! The records the store keeps and hands back. They are also the API's output shapes and the payloads of events
//! (see [`crate::event`]), so a webhook receiver, an API client and the timeline all see one form of each object;
//! they live here, beside the event catalogue, and the store re-exports them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    Timestamp,
    account::{AttachmentPermissions, ChannelBehaviours, Language},
    context::{ContextValue, VariableKind, VariableName},
    conversation::ConversationState,
    ids::*,
    message::{Attachment, SenderKind},
    role::Role,
    routing::{
        agent_attributes::AgentAttribute,
        calendar::CalendarSpec,
        capacity_reset::ProfileReset,
        rules::{ClassificationRulesetSpec, RouteToQueueSpec},
    },
    setup::{
        ChannelSettings, ChannelSettingsView, ChannelType, Distribution, PresenceName, QueueType, WorkstreamSettings,
        WorkstreamType,
    },
};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
}

/// A person: admin, supervisor or agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub created_at: Timestamp,
}

/// An API key as listed: the secret itself is shown once, at creation, and only its hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub name: String,
    pub role: Role,
    /// The user this key acts as (agents' keys).
    pub user_id: Option<UserId>,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// An OAuth2 client for the client-credentials grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OAuthClient {
    pub id: ClientId,
    pub org_id: OrgId,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A customer record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub org_id: OrgId,
    pub customer_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub preferred_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Contact {
    /// The name to show: the preferred name, else first and last name.
    pub fn display_name(&self) -> Option<String> {
        display_name(self.preferred_name.as_deref(), self.first_name.as_deref(), self.last_name.as_deref())
    }
}

/// A contact's name to show, from its name columns: the preferred name, else first and last name.
pub fn display_name(preferred: Option<&str>, first: Option<&str>, last: Option<&str>) -> Option<String> {
    preferred.map(str::to_string).or_else(|| {
        let parts: Vec<&str> = [first, last].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Queue {
    pub id: QueueId,
    pub org_id: OrgId,
    pub name: String,
    pub queue_type: QueueType,
    /// Lower numbers are served first when an agent belongs to several queues.
    pub priority: i64,
    pub created_at: Timestamp,
    /// When the queue was created or last changed: its routing (`PATCH /v1/queues/{id}`) or its members.
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Workstream {
    pub id: WorkstreamId,
    pub org_id: OrgId,
    pub name: String,
    pub workstream_type: WorkstreamType,
    pub distribution: Distribution,
    /// Where conversations go when no routing rule matches.
    pub fallback_queue_id: Option<QueueId>,
    pub created_at: Timestamp,
    /// When the workstream was created or last changed by a `PATCH` that changed something.
    pub updated_at: Timestamp,
    pub settings: WorkstreamSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Channel {
    pub id: ChannelId,
    pub org_id: OrgId,
    pub channel_type: ChannelType,
    pub name: String,
    pub workstream_id: WorkstreamId,
    pub created_at: Timestamp,
    /// When the channel was created or last changed by a `PATCH` that changed something.
    pub updated_at: Timestamp,
    pub settings: ChannelSettings,
    /// The messaging account the channel belongs to (one of its own kind).
    pub account_id: MessagingAccountId,
    pub language: Language,
    pub behaviours: ChannelBehaviours,
    pub attachments: AttachmentPermissions,
}

impl Channel {
    /// The channel as the API and its events show it: settings without credentials, and, for callers that do not
    /// configure or oversee channels (`with_settings` false), no settings at all.
    pub fn view(&self, with_settings: bool) -> ChannelView {
        ChannelView {
            id: self.id,
            org_id: self.org_id,
            channel_type: self.channel_type,
            name: self.name.clone(),
            workstream_id: self.workstream_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
            settings: with_settings.then(|| self.settings.view()),
            account_id: Some(self.account_id),
            language: self.language.clone(),
            behaviours: self.behaviours.clone(),
            attachments: self.attachments,
            messaging_endpoint_url: None,
        }
    }
}

/// A channel as it is read back (`GET`, the answers to `POST` and `PATCH`, and `channel.*` events).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Channel)]
pub struct ChannelView {
    pub id: ChannelId,
    pub org_id: OrgId,
    pub channel_type: ChannelType,
    pub name: String,
    pub workstream_id: WorkstreamId,
    pub created_at: Timestamp,
    /// When the channel was created or last changed by a `PATCH` that changed something.
    pub updated_at: Timestamp,
    /// Admins and supervisors only; credentials are never read back, only whether they are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ChannelSettingsView>,
    /// The messaging account the channel belongs to; `null` only in events recorded before accounts existed.
    #[serde(default)]
    pub account_id: Option<MessagingAccountId>,
    /// The language the channel's customers are served in (BCP 47; `en-US` by default).
    #[serde(default)]
    pub language: Language,
    #[serde(default)]
    pub behaviours: ChannelBehaviours,
    /// Who may send files on the channel.
    #[serde(default)]
    pub attachments: AttachmentPermissions,
    /// Admins and supervisors, in API reads: the URL to give the provider (for a Bot Framework channel, the bot
    /// registration's messaging endpoint). Events leave it out: it follows the server's `public_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub org_id: OrgId,
    pub channel_id: ChannelId,
    pub workstream_id: WorkstreamId,
    pub queue_id: Option<QueueId>,
    pub contact_id: Option<ContactId>,
    /// The persistent-conversation key (the customer id given at creation).
    pub customer_key: Option<String>,
    pub state: ConversationState,
    /// The agent working on it (Active, Waiting and Wrap-up keep the agent for affinity).
    pub agent_id: Option<UserId>,
    pub priority: i64,
    pub subject: Option<String>,
    pub created_at: Timestamp,
    /// When the conversation itself last changed (state, assignment); messages are in its log.
    pub updated_at: Timestamp,
    pub state_changed_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub closure_reason: Option<String>,
}

/// Who wrote a message, recorded whole when the message is written, so that every reader (transcripts, webhooks,
/// the event log) gets the same sender and a later rename does not rewrite history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(from = "StoredSender")]
pub struct Sender {
    pub kind: SenderKind,
    /// An agent's user id; the customer's id (the id given, else the conversation's customer id, else its contact
    /// id, else `customer`); `system` for the server's own messages; for a message sent with an API key or an
    /// OAuth2 client as `system` or `bot`, the id given, else the key (`api_key:<id>`) or client (`client:<id>`).
    pub id: String,
    /// The agent's display name; the customer's name (given, else the contact's); `System`; the key's or client's
    /// name. `Customer`, `Agent` or `Bot` when nothing better is known.
    pub name: String,
}

/// A sender as stored. Messages written before senders were recorded whole may lack the id or the name; they read
/// with their kind's generic ones (`customer` / `Customer`, `system` / `System`, …).
#[derive(Deserialize)]
struct StoredSender {
    kind: SenderKind,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl From<StoredSender> for Sender {
    fn from(s: StoredSender) -> Self {
        Sender {
            kind: s.kind,
            id: s.id.unwrap_or_else(|| s.kind.as_str().to_string()),
            name: s.name.unwrap_or_else(|| s.kind.generic_name().to_string()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// The message's position in its conversation's log. It increases with every message and event of the
    /// conversation, so messages and events sort by it into the order every reader sees.
    pub sequence: i64,
    pub sender: Sender,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Sent by automation rather than typed by a person.
    pub automated: bool,
    /// WhatsApp: the template the message is sent as (what the customer receives; `text` is what the transcript
    /// shows of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::message::WhatsappTemplate>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContextVariable {
    pub name: VariableName,
    pub value: ContextValue,
    pub displayable: bool,
    pub updated_at: Timestamp,
}

/// A queue member.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub queue_id: QueueId,
    pub user_id: UserId,
    pub joined_at: Timestamp,
}

/// A skill an agent holds, by name, with a proficiency of 0 to 10.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSkillEntry {
    #[schema(example = "Billing")]
    pub name: String,
    #[schema(example = 7)]
    pub proficiency: u8,
}

/// An agent's routing state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentRouting {
    pub user_id: UserId,
    pub presence: PresenceName,
    pub capacity_units: i64,
    pub skills: Vec<AgentSkillEntry>,
    /// The custom presence the agent chose; `presence` is its base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_presence_id: Option<uuid::Uuid>,
    /// What custom assignment rules read about the agent, such as `{"Region": "EU", "Seniority": 3}`.
    #[serde(default)]
    pub attributes: BTreeMap<String, AgentAttribute>,
    /// When the agent works, for `is_working` rules; `None`: always.
    #[serde(default)]
    pub calendar: Option<CalendarSpec>,
    /// The presence the agent is put in when they sign in (reference §6.5): a built-in presence's id or a custom
    /// one's; `None`: Available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_presence: Option<String>,
}

impl AgentRouting {
    /// An agent nobody configured: Offline with no capacity.
    pub fn unset(user_id: UserId) -> Self {
        Self {
            user_id,
            presence: PresenceName::Offline,
            capacity_units: 0,
            skills: Vec::new(),
            custom_presence_id: None,
            attributes: BTreeMap::new(),
            calendar: None,
            default_presence: None,
        }
    }
}

/// A workstream's rules as saved: the context variables conditions may name, with their types, and the rulesets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesDocument {
    /// The context variables conditions may read, with their types.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>, example = json!({ "Product": "text", "Amount": "number" }))]
    pub context_variables: BTreeMap<String, VariableKind>,
    #[serde(default)]
    pub classification: Vec<ClassificationRulesetSpec>,
    #[serde(default)]
    pub route_to_queue: RouteToQueueSpec,
}

/// A presence an organization defined, routed as its base presence (such as "Training" → Away).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustomPresence {
    pub id: Uuid,
    #[schema(example = "Training")]
    pub name: String,
    /// `available`, `busy`, `busy_dnd`, `away` or `offline`.
    pub base: PresenceName,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A text an organization's agents insert into a reply instead of typing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuickReply {
    pub id: Uuid,
    /// What the agent picks it by: 1 to 100 characters, unique in the organization ignoring case.
    #[schema(example = "Opening hours")]
    pub title: String,
    /// What it inserts: up to 6,000 characters, as a message.
    #[schema(example = "We are open Monday to Friday, 8:00 to 18:00.")]
    pub text: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A capacity profile (§6.4): how many conversations of one kind an agent takes at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CapacityProfile {
    pub id: Uuid,
    #[schema(example = "Chat")]
    pub name: String,
    /// Conversations of this profile an agent holding it takes at once, unless the agent has their own limit.
    #[schema(example = 3)]
    pub max_items: i64,
    /// While an agent has one of this profile's conversations, they are offered nothing of any other profile
    /// (a phone call that blocks chats, say).
    pub block_others: bool,
    /// When use comes back: `"on_release"`, or `{"every_minutes": n, "time_zone": "…"}` where use counts the
    /// conversations assigned since the current period began.
    pub reset: ProfileReset,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A profile an agent holds, with the limit in force for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentProfileEntry {
    pub profile_id: Uuid,
    pub name: String,
    /// The agent's own limit when set, otherwise the profile's.
    pub max_items: i64,
    /// Whether `max_items` is the agent's own limit rather than the profile's.
    pub overridden: bool,
    pub block_others: bool,
    /// The profile's reset.
    pub reset: ProfileReset,
}

/// A native webhook subscription, as shown to its owner (never with its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub org_id: OrgId,
    pub url: String,
    pub description: Option<String>,
    /// The event types delivered; empty means every type.
    pub event_types: Vec<String>,
    /// When the subscription stopped receiving deliveries (the receiver answered 410, or an admin disabled it).
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
    /// Until when the previous secret still signs, after a rotation.
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

crate::str_enum!(
    /// Where a callback request stands.
    CallbackState {
        /// Taken; nobody has called the customer back yet.
        Requested = "requested",
    }
);

/// A customer's request to be called back, taken instead of queueing them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallbackRequest {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    pub conversation_id: ConversationId,
    /// The queue that overflowed.
    pub queue_id: QueueId,
    pub contact_id: Option<ContactId>,
    /// The customer's id in the integrator's system (the persistent-conversation key).
    pub customer_key: Option<String>,
    /// The number to call, from the customer's contact record; null when the contact has none.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The overflow condition that held: `out_of_operating_hours`, `work_item_limit_exceeded`,
    /// `estimated_wait_exceeds` or `wait_in_queue_exceeds`.
    pub reason: String,
    #[schema(value_type = String, example = "requested")]
    pub state: CallbackState,
    pub created_at: Timestamp,
}
