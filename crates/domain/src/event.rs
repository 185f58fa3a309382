//! The event catalogue: every type of event the log records, with the payload each carries.
//!
//! Writers build a [`TypedEvent`], so an event's type and its payload cannot disagree; readers get one back from a
//! stored event with [`TypedEvent::from_stored`]. Webhook receivers and stream clients see the same payloads, and
//! the catalogue is published in the OpenAPI document ([`payload_schemas`], [`envelope_schemas`]) so that they can
//! generate types.
//!
//! The stored form of each payload is the one the server wrote before the catalogue existed, byte for byte: a
//! payload that was a store record is the record in its field order; one that was built as a JSON object has its
//! keys in alphabetical order (what `serde_json::Value` writes), see [`TypedEvent::stored_json`].

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{
    ToSchema,
    openapi::{
        KnownFormat, RefOr, Schema, SchemaFormat,
        schema::{Discriminator, ObjectBuilder, OneOfBuilder, Ref, SchemaType, Type},
    },
};
use uuid::Uuid;

use crate::{
    Timestamp,
    account::MessagingAccount,
    context::ContextPatch,
    conversation::{Action, ConversationState},
    ids::*,
    outbound::{MessageTemplate, OutboundConfig},
    record::{
        AgentProfileEntry, AgentRouting, CallbackRequest, CapacityProfile, ChannelView, Contact, ContextVariable,
        Conversation, CustomPresence, Member, Message, Org, Queue, QuickReply, RulesDocument, Subscription, User,
        Workstream,
    },
    setup::{PresenceName, QueueRouting},
    str_enum,
};

/// Who sees an event on the live stream and in webhooks (native webhooks see every type they subscribe to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// An event in a conversation's log: its timeline, and whoever may see the conversation.
    Conversation,
    /// A change to an organization's setup or people: admins, supervisors and integrations.
    Organization,
}

/// How a payload is stored: see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// The record as it serializes, fields in declaration order.
    Record,
    /// A JSON object with its keys (at every depth) in alphabetical order.
    Sorted,
}

macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident = $s:literal, $scope:ident, $stored:ident, $payload:ty;)+) => {
        str_enum!(
            /// The type of an event, as in its envelope's `type` and in webhook subscriptions' `event_types`.
            EventType { $($(#[$doc])* $variant = $s),+ }
        );

        impl EventType {
            /// Whose events these are: a conversation's or the organization's.
            pub fn scope(self) -> Scope {
                match self { $(EventType::$variant => Scope::$scope),+ }
            }

            fn stored(self) -> Stored {
                match self { $(EventType::$variant => Stored::$stored),+ }
            }

            /// The name of the payload's schema in the OpenAPI document's components.
            pub fn payload_schema(self) -> String {
                match self { $(EventType::$variant => <$payload as ToSchema>::name().into_owned()),+ }
            }
        }

        /// An event as writers build it and readers get it back: its type with its payload.
        #[derive(Debug, Clone)]
        pub enum TypedEvent { $($(#[$doc])* $variant($payload)),+ }

        impl TypedEvent {
            pub fn event_type(&self) -> EventType {
                match self { $(TypedEvent::$variant(_) => EventType::$variant),+ }
            }

            /// The payload as the event log stores it.
            pub fn stored_json(&self) -> Result<String, serde_json::Error> {
                match self { $(TypedEvent::$variant(p) => stored_json(EventType::$variant.stored(), p)),+ }
            }

            /// The payload as a JSON value (as readers of the log get it).
            pub fn data(&self) -> Result<serde_json::Value, serde_json::Error> {
                match self { $(TypedEvent::$variant(p) => serde_json::to_value(p)),+ }
            }

            /// The event of type `event_type` with the stored payload `data`.
            pub fn from_stored(event_type: &str, data: &serde_json::Value) -> Result<TypedEvent, ReadError> {
                let ty = EventType::parse(event_type).ok_or_else(|| ReadError::UnknownType(event_type.to_string()))?;
                let bad = |e: serde_json::Error| ReadError::Payload(ty, e.to_string());
                Ok(match ty {
                    $(EventType::$variant => TypedEvent::$variant(<$payload>::deserialize(data).map_err(bad)?)),+
                })
            }
        }

        /// The schemas of every payload, with the schemas they refer to, for the OpenAPI document's components.
        pub fn payload_schemas() -> Vec<(String, RefOr<Schema>)> {
            let mut out = Vec::new();
            $(
                out.push((<$payload as ToSchema>::name().into_owned(), <$payload as utoipa::PartialSchema>::schema()));
                <$payload as ToSchema>::schemas(&mut out);
            )+
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out.dedup_by(|a, b| a.0 == b.0);
            out
        }
    };
}

catalogue! {
    /// A conversation began (the customer's first contact, or an agent's outbound one).
    ConversationCreated = "conversation.created", Conversation, Record, Conversation;
    /// A conversation moved from one state to another.
    ConversationStateChanged = "conversation.state_changed", Conversation, Sorted, ConversationStateChanged;
    /// A conversation's context variables changed.
    ConversationContextUpdated = "conversation.context_updated", Conversation, Sorted, ContextUpdated;
    /// A conversation was sent to another queue or agent.
    ConversationTransferred = "conversation.transferred", Conversation, Sorted, ConversationTransferred;
    /// A message was written in a conversation.
    MessageCreated = "message.created", Conversation, Record, Message;
    /// A message did not reach the customer's channel: every attempt to deliver it failed.
    MessageDeliveryFailed = "message.delivery_failed", Conversation, Sorted, MessageDeliveryFailed;
    /// A message reached the customer's channel: its provider accepted it.
    MessageDelivered = "message.delivered", Conversation, Sorted, MessageDelivered;
    /// The provider reported what became of a message it accepted (SMS and WhatsApp: sent, delivered, read, failed).
    MessageStatusChanged = "message.status_changed", Conversation, Sorted, MessageStatusChanged;
    /// A conversation started waiting in a queue.
    RoutingQueued = "routing.queued", Conversation, Sorted, QueueWait;
    /// A conversation stopped waiting in a queue (offered, taken, moved or closed).
    RoutingDequeued = "routing.dequeued", Conversation, Sorted, QueueWait;
    /// A conversation was offered to an agent.
    RoutingOfferIssued = "routing.offer_issued", Conversation, Sorted, OfferIssued;
    /// The agent turned an offer down.
    RoutingOfferRejected = "routing.offer_rejected", Conversation, Sorted, OfferEnded;
    /// An offer lapsed unanswered.
    RoutingOfferExpired = "routing.offer_expired", Conversation, Sorted, OfferEnded;
    /// Routing took an offer back (the conversation left, or went elsewhere).
    RoutingOfferWithdrawn = "routing.offer_withdrawn", Conversation, Sorted, OfferEnded;
    /// A conversation was given to an agent.
    RoutingAssigned = "routing.assigned", Conversation, Sorted, Assigned;
    /// An agent's capacity held by a conversation was given back.
    RoutingCapacityReleased = "routing.capacity_released", Conversation, Sorted, CapacityReleased;
    /// A waiting conversation's place in its queue changed.
    RoutingPositionChanged = "routing.position_changed", Conversation, Sorted, PositionChanged;
    /// What the waiting customer was told of their place and wait changed (throttled).
    RoutingWaitEstimateChanged = "routing.wait_estimate_changed", Conversation, Sorted, WaitEstimateChanged;
    /// Queue overflow acted on a conversation.
    RoutingOverflowed = "routing.overflowed", Conversation, Sorted, Overflowed;
    /// A customer asked to be called back instead of waiting.
    RoutingCallbackRequested = "routing.callback_requested", Conversation, Sorted, CallbackRequest;
    /// An organization was created.
    OrganizationCreated = "organization.created", Organization, Record, Org;
    /// A user was created.
    UserCreated = "user.created", Organization, Record, User;
    /// A contact was created.
    ContactCreated = "contact.created", Organization, Record, Contact;
    /// A contact changed.
    ContactUpdated = "contact.updated", Organization, Record, Contact;
    /// A queue was created.
    QueueCreated = "queue.created", Organization, Record, Queue;
    /// A queue's routing settings changed.
    QueueRoutingChanged = "queue.routing_changed", Organization, Sorted, QueueRoutingChanged;
    /// A queue's members changed.
    QueueMembersChanged = "queue.members_changed", Organization, Sorted, QueueMembersChanged;
    /// A workstream was created.
    WorkstreamCreated = "workstream.created", Organization, Record, Workstream;
    /// A workstream changed.
    WorkstreamUpdated = "workstream.updated", Organization, Record, Workstream;
    /// A workstream's routing rules changed.
    WorkstreamRulesChanged = "workstream.rules_changed", Organization, Sorted, WorkstreamRulesChanged;
    /// A channel was created.
    ChannelCreated = "channel.created", Organization, Record, ChannelView;
    /// A channel changed.
    ChannelUpdated = "channel.updated", Organization, Record, ChannelView;
    /// A custom presence was created.
    PresenceCreated = "presence.created", Organization, Record, CustomPresence;
    /// A custom presence changed.
    PresenceUpdated = "presence.updated", Organization, Record, CustomPresence;
    /// A custom presence was deleted.
    PresenceDeleted = "presence.deleted", Organization, Sorted, Deleted;
    /// A messaging account was created.
    MessagingAccountCreated = "messaging_account.created", Organization, Record, MessagingAccount;
    /// A messaging account changed: its name, settings, credentials (never shown) or validation.
    MessagingAccountUpdated = "messaging_account.updated", Organization, Record, MessagingAccount;
    /// A messaging account was deleted.
    MessagingAccountDeleted = "messaging_account.deleted", Organization, Sorted, Deleted;
    /// A quick reply was created.
    QuickReplyCreated = "quick_reply.created", Organization, Record, QuickReply;
    /// A quick reply changed.
    QuickReplyUpdated = "quick_reply.updated", Organization, Record, QuickReply;
    /// A quick reply was deleted.
    QuickReplyDeleted = "quick_reply.deleted", Organization, Sorted, Deleted;
    /// An outbound message template was created.
    MessageTemplateCreated = "message_template.created", Organization, Record, MessageTemplate;
    /// An outbound message template changed.
    MessageTemplateUpdated = "message_template.updated", Organization, Record, MessageTemplate;
    /// An outbound message template was deleted.
    MessageTemplateDeleted = "message_template.deleted", Organization, Sorted, Deleted;
    /// An outbound configuration was created.
    OutboundConfigCreated = "outbound_config.created", Organization, Record, OutboundConfig;
    /// An outbound configuration changed.
    OutboundConfigUpdated = "outbound_config.updated", Organization, Record, OutboundConfig;
    /// An outbound configuration was deleted.
    OutboundConfigDeleted = "outbound_config.deleted", Organization, Sorted, Deleted;
    /// A capacity profile was created.
    CapacityProfileCreated = "capacity_profile.created", Organization, Record, CapacityProfile;
    /// A capacity profile changed.
    CapacityProfileUpdated = "capacity_profile.updated", Organization, Record, CapacityProfile;
    /// A capacity profile was deleted.
    CapacityProfileDeleted = "capacity_profile.deleted", Organization, Sorted, Deleted;
    /// The capacity profiles an agent holds changed.
    AgentCapacityProfilesChanged = "agent.capacity_profiles_changed", Organization, Sorted, AgentCapacityProfilesChanged;
    /// An agent's routing settings (presence, capacity, skills, attributes, calendar) were saved.
    AgentRoutingChanged = "agent.routing_changed", Organization, Record, AgentRouting;
    /// An agent's presence changed (set by the agent, or by routing).
    AgentPresenceChanged = "agent.presence_changed", Organization, Sorted, PresenceChanged;
    /// An agent signed in (a new web session); routing puts them in their default presence.
    AgentSignedIn = "agent.signed_in", Organization, Sorted, AgentSignedIn;
    /// A webhook subscription was created.
    WebhookSubscriptionCreated = "webhook_subscription.created", Organization, Record, Subscription;
    /// A webhook subscription changed.
    WebhookSubscriptionUpdated = "webhook_subscription.updated", Organization, Record, Subscription;
    /// A webhook subscription's secret was rotated.
    WebhookSubscriptionSecretRotated = "webhook_subscription.secret_rotated", Organization, Record, Subscription;
    /// A webhook subscription was deleted.
    WebhookSubscriptionDeleted = "webhook_subscription.deleted", Organization, Record, Subscription;
    /// A webhook subscription stopped receiving deliveries.
    WebhookSubscriptionDisabled = "webhook_subscription.disabled", Organization, Record, Subscription;
}

fn stored_json<T: Serialize>(stored: Stored, payload: &T) -> Result<String, serde_json::Error> {
    match stored {
        Stored::Record => serde_json::to_string(payload),
        Stored::Sorted => serde_json::to_string(&serde_json::to_value(payload)?),
    }
}

/// Why a stored event does not read as a [`TypedEvent`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("the payload of a `{0}` event does not read: {1}")]
    Payload(EventType, String),
}

impl EventType {
    /// The types a subscription or stream filter entry names: the type itself, a family such as `conversation.*`,
    /// or `*` for all. Empty when the entry names no known type.
    pub fn matching(filter: &str) -> Vec<EventType> {
        EventType::ALL.iter().copied().filter(|t| matches_filter(filter, t.as_str())).collect()
    }
}

/// Whether `event_type` matches a filter entry: the type itself, `*`, or a family such as `conversation.*` (what
/// webhook delivery applies).
pub fn matches_filter(filter: &str, event_type: &str) -> bool {
    match filter.strip_suffix(".*") {
        Some(family) => event_type.strip_prefix(family).is_some_and(|rest| rest.starts_with('.')),
        None => filter == event_type || filter == "*",
    }
}

/// The type's name in the OpenAPI document's schema names: `conversation.created` is `ConversationCreated`.
fn schema_stem(event_type: EventType) -> String {
    event_type
        .as_str()
        .split(['.', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The name of the envelope schema of one event type in the OpenAPI document, such as `ConversationCreatedEvent`.
pub fn envelope_schema_name(event_type: EventType) -> String {
    schema_stem(event_type) + "Event"
}

/// The name of the schema of one event type's entries in the event feed and conversations' timelines, such as
/// `ConversationCreatedLogEntry`.
pub fn log_entry_schema_name(event_type: EventType) -> String {
    schema_stem(event_type) + "LogEntry"
}

/// The name of the schema of any event's envelope: `oneOf` the per-type envelopes, told apart by `type`.
pub const ENVELOPE_SCHEMA: &str = "WebhookEvent";

/// The envelope a native webhook receives (and, with the same fields, a stream frame): one schema per event type,
/// and [`ENVELOPE_SCHEMA`] as their `oneOf` with a discriminator on `type`.
pub fn envelope_schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut out: Vec<_> = EventType::ALL
        .iter()
        .map(|&ty| {
            let (conversation, sequence) = scoped(ty);
            let schema = ObjectBuilder::new()
                .description(Some(format!("A `{}` event.", ty.as_str())))
                .property("type", type_property(ty))
                .required("type")
                .property("timestamp", formatted(SchemaType::new(Type::String), KnownFormat::DateTime))
                .required("timestamp")
                .property("event_id", event_id())
                .required("event_id")
                .property("conversation_id", formatted(conversation, KnownFormat::Uuid))
                .required("conversation_id")
                .property(
                    "sequence",
                    formatted(sequence, KnownFormat::Int64)
                        .description(Some("The event's position in its conversation's log.")),
                )
                .required("sequence")
                .property("data", Ref::from_schema_name(ty.payload_schema()))
                .required("data")
                .build();
            (envelope_schema_name(ty), RefOr::T(Schema::Object(schema)))
        })
        .collect();
    let description = "An event as a native webhook receives it; `type` says which payload `data` holds.";
    out.push((ENVELOPE_SCHEMA.to_string(), one_of_types(envelope_schema_name, description)));
    out
}

/// The name of the schema of any entry of the event feed (`GET /v1/events`) and of a conversation's timeline:
/// `oneOf` the per-type entries, told apart by `type`.
pub const LOG_ENTRY_SCHEMA: &str = "Event";

/// [`LOG_ENTRY_SCHEMA`]: `oneOf` the per-type entries of [`log_entry_schemas`], with a discriminator on `type`.
pub fn log_entry_schema() -> RefOr<Schema> {
    one_of_types(
        log_entry_schema_name,
        "Something that happened, written in the same transaction as the change it describes; `type` says which \
         payload `data` holds.",
    )
}

/// The schema of each event type's entries in the event feed and the timelines: the payloads of
/// [`envelope_schemas`], under the log's own field names.
pub fn log_entry_schemas() -> Vec<(String, RefOr<Schema>)> {
    EventType::ALL
        .iter()
        .map(|&ty| {
            let (conversation, sequence) = scoped(ty);
            let schema = ObjectBuilder::new()
                .description(Some(format!("A `{}` entry.", ty.as_str())))
                .property("id", event_id())
                .required("id")
                .property("org_id", formatted(SchemaType::new(Type::String), KnownFormat::Uuid))
                .required("org_id")
                .property("type", type_property(ty))
                .required("type")
                .property("conversation_id", formatted(conversation, KnownFormat::Uuid))
                .required("conversation_id")
                .property(
                    "sequence",
                    formatted(sequence, KnownFormat::Int64)
                        .description(Some("The position in the conversation's log (1, 2, 3, … without gaps).")),
                )
                .required("sequence")
                .property("data", Ref::from_schema_name(ty.payload_schema()))
                .required("data")
                .property("created_at", formatted(SchemaType::new(Type::String), KnownFormat::DateTime))
                .required("created_at")
                .build();
            (log_entry_schema_name(ty), RefOr::T(Schema::Object(schema)))
        })
        .collect()
}

/// `oneOf` the schemas `name_of` names, one per event type, told apart by `type`.
fn one_of_types(name_of: fn(EventType) -> String, description: &str) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new();
    let mut discriminator = Discriminator::new("type");
    for &ty in EventType::ALL {
        let name = name_of(ty);
        discriminator.mapping.insert(ty.as_str().to_string(), format!("#/components/schemas/{name}"));
        one_of = one_of.item(Ref::from_schema_name(name));
    }
    RefOr::T(Schema::OneOf(one_of.description(Some(description)).discriminator(Some(discriminator)).build()))
}

/// The types of `conversation_id` and `sequence`: null for the organization's events.
fn scoped(ty: EventType) -> (SchemaType, SchemaType) {
    let nullable = |t: Type| SchemaType::from_iter([t, Type::Null]);
    match ty.scope() {
        Scope::Conversation => (SchemaType::new(Type::String), SchemaType::new(Type::Integer)),
        Scope::Organization => (nullable(Type::String), nullable(Type::Integer)),
    }
}

fn type_property(ty: EventType) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some([ty.as_str()]))
}

fn event_id() -> ObjectBuilder {
    formatted(SchemaType::new(Type::Integer), KnownFormat::Int64)
        .description(Some("Increases with every event of the deployment."))
}

fn formatted(schema_type: SchemaType, format: KnownFormat) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(schema_type).format(Some(SchemaFormat::KnownFormat(format)))
}

/// An agent named in an event: their id, and their display name when they have one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentName {
    pub id: UserId,
    pub name: Option<String>,
}

/// `conversation.state_changed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversationStateChanged {
    /// The conversation after the change.
    pub conversation: Conversation,
    pub from: ConversationState,
    pub to: ConversationState,
    pub action: Action,
    /// Who made the change: a user, an API key or client, `routing`, `system`, …
    pub by: String,
    /// The agent who has (or, when it left them, had) the conversation.
    pub agent: Option<AgentName>,
    /// On a customer's reply that revived the conversation: the agent who had it, whom routing gives it back to
    /// when it can. Absent on other changes.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(value_type = Option<UserId>)]
    pub affinity_agent_id: Option<Option<UserId>>,
}

/// A field that may be absent (outer `None`) or present and null (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `conversation.context_updated`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContextUpdated {
    pub conversation_id: ConversationId,
    /// The change as asked: each variable's new value, or null where it was removed.
    pub changed: ContextPatch,
    /// Every variable after the change.
    pub variables: Vec<ContextVariable>,
}

/// `conversation.transferred`: from a queue (and the agent who had it, if any) to a queue or an agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversationTransferred {
    pub from_queue_id: Option<QueueId>,
    pub from_agent_id: Option<UserId>,
    /// The queue it goes to; null when sent to an agent.
    pub queue_id: Option<QueueId>,
    /// The agent it goes to; null when sent to a queue.
    pub agent_id: Option<UserId>,
    /// Who transferred it: a user, an API key or client, or `routing` (queue overflow).
    pub by: String,
}

/// `routing.queued` and `routing.dequeued`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueWait {
    pub queue_id: QueueId,
}

str_enum!(
    /// Why a conversation was offered to this agent.
    OfferSource {
        /// The queue's assignment chose them.
        Queue = "queue",
        /// They had the conversation before.
        Affinity = "affinity",
        /// It was transferred to them.
        Transfer = "transfer",
    }
);

/// `routing.offer_issued`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OfferIssued {
    #[schema(value_type = String, format = Uuid)]
    pub offer_id: Uuid,
    pub agent_id: UserId,
    pub queue_id: QueueId,
    pub expires_at: Timestamp,
    pub kind: OfferSource,
}

/// `message.delivery_failed`: the last attempt to deliver a message to its channel failed, and none follows. The
/// delivery log (`/v1/webhook-deliveries/{delivery_id}/attempts`) has every attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageDeliveryFailed {
    pub message_id: MessageId,
    pub channel_id: ChannelId,
    pub delivery_id: DeliveryId,
    /// Attempts made.
    pub attempts: i64,
    /// The channel's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why the last attempt failed, as the delivery log records it.
    pub error: Option<String>,
}

/// `message.delivered`: the delivery receipt of a message sent to its channel (the Messaging API's webhook, the Bot
/// Framework Connector): the provider accepted it, and named it `provider_message_id` when it said.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageDelivered {
    pub message_id: MessageId,
    pub channel_id: ChannelId,
    pub delivery_id: DeliveryId,
    /// The provider's id for the message (the Connector's `ResourceResponse.id`), when its answer named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// SMS: the segments the provider sends it as (each billed as one message), when its answer said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
}

crate::str_enum!(
    /// What became of a message after its provider accepted it, in the order it normally goes.
    ProviderStatus {
        /// Waiting at the provider to be sent.
        Queued = "queued",
        /// Handed to the carrier (or WhatsApp).
        Sent = "sent",
        /// The handset received it.
        Delivered = "delivered",
        /// WhatsApp: the customer read it.
        Read = "read",
        /// The carrier could not deliver it (`error_code` says why).
        Undelivered = "undelivered",
        /// The provider could not send it (`error_code` says why).
        Failed = "failed",
    }
);

impl ProviderStatus {
    /// How far along a message is: a later report of an earlier status (callbacks cross) changes nothing, and the
    /// two failures are final.
    pub fn rank(self) -> u8 {
        match self {
            ProviderStatus::Queued => 0,
            ProviderStatus::Sent => 1,
            ProviderStatus::Delivered => 2,
            ProviderStatus::Read => 3,
            ProviderStatus::Undelivered | ProviderStatus::Failed => 4,
        }
    }
}

/// `message.status_changed`: a message's provider reported its status (a Twilio status callback, …).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageStatusChanged {
    pub message_id: MessageId,
    pub channel_id: ChannelId,
    pub provider_message_id: String,
    pub status: ProviderStatus,
    /// The provider's error code with `undelivered` and `failed` (Twilio: `30003` unreachable, `30007` filtered, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// `routing.offer_rejected`, `routing.offer_expired` and `routing.offer_withdrawn`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OfferEnded {
    /// Null when the offer was made before the server last started.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub offer_id: Option<Uuid>,
    pub agent_id: UserId,
}

str_enum!(
    /// How a conversation reached its agent.
    AssignedBy {
        /// The agent accepted an offer.
        Offer = "offer",
        /// The agent picked it from the queue.
        Pick = "pick",
        /// The agent who had it took it back up.
        Resume = "resume",
    }
);

/// `routing.assigned`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Assigned {
    pub agent_id: UserId,
    pub queue_id: QueueId,
    pub by: AssignedBy,
    /// The offer accepted, when `by` is `offer`.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub offer_id: Option<Uuid>,
    /// How long it waited in the queue that served it, in milliseconds.
    pub waited_ms: Option<i64>,
}

/// `routing.capacity_released`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CapacityReleased {
    pub agent_id: UserId,
}

/// `routing.position_changed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PositionChanged {
    pub queue_id: QueueId,
    /// 1 is next.
    pub position: u64,
}

/// `routing.wait_estimate_changed`: what the waiting customer was told, and what they were told before.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WaitEstimateChanged {
    pub queue_id: QueueId,
    pub position: u64,
    /// Null when there is no estimate yet.
    pub estimated_wait_seconds: Option<u64>,
    pub previous_position: Option<u64>,
    pub previous_estimated_wait_seconds: Option<u64>,
    /// The sentence the customer got as a system message.
    pub text: String,
}

/// `routing.overflowed`: one overflow step a queue took for a conversation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Overflowed {
    pub queue_id: QueueId,
    /// `out_of_operating_hours`, `work_item_limit_exceeded`, `estimated_wait_exceeds` or `wait_in_queue_exceeds`.
    pub condition: String,
    /// `transfer_to_queue`, `offer_callback` or `end_conversation`.
    pub action: String,
    /// The queue it was sent to, for `transfer_to_queue`.
    pub to_queue_id: Option<QueueId>,
}

/// `queue.routing_changed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueRoutingChanged {
    pub queue_id: QueueId,
    pub routing: QueueRouting,
}

/// `queue.members_changed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueMembersChanged {
    pub queue_id: QueueId,
    /// Every member after the change.
    pub members: Vec<Member>,
}

/// `workstream.rules_changed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkstreamRulesChanged {
    pub workstream_id: WorkstreamId,
    pub rules: RulesDocument,
}

/// `presence.deleted` and `capacity_profile.deleted`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    pub id: Uuid,
}

/// `agent.capacity_profiles_changed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentCapacityProfilesChanged {
    pub agent_id: UserId,
    /// Every profile the agent holds after the change.
    pub profiles: Vec<AgentProfileEntry>,
}

str_enum!(
    /// Why an agent's presence changed.
    PresenceChangeReason {
        /// The agent set it.
        Agent = "agent",
        /// Routing made them Busy: their capacity is used up.
        CapacityFull = "capacity_full",
        /// Routing gave back their presence: capacity freed up.
        CapacityFreed = "capacity_freed",
        /// They let an offer lapse.
        MissedOffer = "missed_offer",
        /// They turned an offer down.
        RejectedOffer = "rejected_offer",
        /// A conversation of theirs entered wrap-up on a workstream with an after conversation work presence, or
        /// the last such one closed and their presence before came back.
        AfterConversationWork = "after_conversation_work",
    }
);

/// `agent.signed_in`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentSignedIn {
    pub agent_id: UserId,
    pub session_id: SessionId,
}

/// `agent.presence_changed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PresenceChanged {
    pub agent_id: UserId,
    /// The base presence routing goes by.
    pub presence: PresenceName,
    /// The custom presence, when the agent is in one.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub custom_presence_id: Option<Uuid>,
    pub reason: PresenceChangeReason,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_back_and_has_a_payload_schema() {
        let schemas = payload_schemas();
        for &ty in EventType::ALL {
            assert_eq!(EventType::parse(ty.as_str()), Some(ty));
            assert!(schemas.iter().any(|(name, _)| *name == ty.payload_schema()), "{ty}");
        }
    }

    #[test]
    fn filters_match_types_and_families() {
        assert_eq!(EventType::matching("message.created"), [EventType::MessageCreated]);
        assert_eq!(EventType::matching("*").len(), EventType::ALL.len());
        assert!(EventType::matching("conversation.*").contains(&EventType::ConversationTransferred));
        assert!(EventType::matching("*.created").is_empty());
        assert!(EventType::matching("conversation").is_empty());
        assert!(EventType::matching("conversation.created.x").is_empty());
        assert!(EventType::matching("nope.*").is_empty());
        assert_eq!(
            envelope_schema_name(EventType::WebhookSubscriptionSecretRotated),
            "WebhookSubscriptionSecretRotatedEvent"
        );
    }
}
