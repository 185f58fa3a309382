//! What the store hands back. These records are also the API's output shapes and the payloads of events, so a
//! webhook receiver, an API client and the timeline all see one form of each object.

use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Timestamp,
    context::{ContextValue, VariableName},
    conversation::ConversationState,
    ids::*,
    message::{Attachment, SenderKind},
    role::Role,
    setup::{
        ChannelSettings, ChannelSettingsView, ChannelType, Distribution, QueueType, WorkstreamSettings, WorkstreamType,
    },
};
use utoipa::ToSchema;

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
pub(crate) fn display_name(preferred: Option<&str>, first: Option<&str>, last: Option<&str>) -> Option<String> {
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
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContextVariable {
    pub name: VariableName,
    pub value: ContextValue,
    pub displayable: bool,
    pub updated_at: Timestamp,
}

/// Something that happened, written in the same transaction as the change it describes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Increases with every event of the deployment.
    pub id: i64,
    pub org_id: OrgId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub conversation_id: Option<ConversationId>,
    /// The position in the conversation's log (1, 2, 3, … without gaps), for conversation events.
    pub sequence: Option<i64>,
    pub data: serde_json::Value,
    pub created_at: Timestamp,
}

/// One page of a list, and the cursor that continues it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says that more exist.
    pub fn from_rows(mut rows: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(cursor_of) } else { None };
        Self { data: rows, next_cursor }
    }
}
