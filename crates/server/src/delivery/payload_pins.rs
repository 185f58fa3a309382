//! Pins the wire shape of every event type: the payload as the log stores it and the native webhook's body. Each
//! is compared twice: with the form the server produced before the catalogue existed (the writers' own
//! `json!` objects, or the record itself, rebuilt here from the same values), and with the literal bytes in
//! `event_pins.txt`. A type with no pin fails `every_type_has_a_pin`.

use std::{collections::BTreeMap, str::FromStr};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use switchboard_domain::{
    Timestamp,
    context::ContextPatch,
    conversation::{Action, ConversationState},
    event::*,
    ids::*,
    outbound::{MessageTemplate, OutboundConfig},
    record::*,
    setup::{PresenceName, QueueRouting},
};
use switchboard_store::model::Event;
use uuid::Uuid;

use super::subscription_body;
use crate::{attachments::Links, clock::Clock};

const ORG: &str = "01900000-0000-7000-8000-000000000001";
const CONVERSATION: &str = "01900000-0000-7000-8000-000000000002";
const CHANNEL: &str = "01900000-0000-7000-8000-000000000003";
const WORKSTREAM: &str = "01900000-0000-7000-8000-000000000004";
const QUEUE: &str = "01900000-0000-7000-8000-000000000005";
const OTHER_QUEUE: &str = "01900000-0000-7000-8000-000000000006";
const CONTACT: &str = "01900000-0000-7000-8000-000000000007";
const AGENT: &str = "01900000-0000-7000-8000-000000000008";
const MESSAGE: &str = "01900000-0000-7000-8000-000000000009";
const OFFER: &str = "01900000-0000-7000-8000-00000000000a";
const SUBSCRIPTION: &str = "01900000-0000-7000-8000-00000000000b";
const PROFILE: &str = "01900000-0000-7000-8000-00000000000c";
const ATTACHMENT: &str = "01900000-0000-7000-8000-00000000000d";
const ACCOUNT: &str = "01900000-0000-7000-8000-00000000000f";
const SESSION: &str = "01900000-0000-7000-8000-000000000010";
const T0: i64 = 1_767_225_600_000;

fn id<T: FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().expect("a fixture id")
}

fn at(offset: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset)
}

fn read<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a fixture record")
}

fn conversation(state: &str, closure_reason: Option<&str>) -> Conversation {
    read(json!({
        "id": CONVERSATION, "org_id": ORG, "channel_id": CHANNEL, "workstream_id": WORKSTREAM, "queue_id": QUEUE,
        "contact_id": CONTACT, "customer_key": "customer-42", "state": state, "agent_id": AGENT, "priority": 2,
        "subject": "Billing", "created_at": at(0), "updated_at": at(5), "state_changed_at": at(5),
        "closed_at": closure_reason.map(|_| at(9)), "closure_reason": closure_reason,
    }))
}

fn message() -> Message {
    read(json!({
        "id": MESSAGE, "conversation_id": CONVERSATION, "sequence": 3,
        "sender": { "kind": "agent", "id": AGENT, "name": "Ada" },
        "text": "Hello **there**",
        "attachments": [
            { "content_type": "image/png", "url": format!("http://files.test/v1/attachments/{ATTACHMENT}"),
              "name": "a.png", "id": ATTACHMENT, "size": 12 },
            { "content_type": "application/pdf", "url": "https://example.test/x.pdf" },
        ],
        "automated": false, "created_at": at(3),
    }))
}

fn contact() -> Contact {
    read(json!({
        "id": CONTACT, "org_id": ORG, "customer_id": "customer-42", "first_name": "Grace", "last_name": "Hopper",
        "preferred_name": null, "email": "grace@example.test", "phone": "+14255550100",
        "created_at": at(0), "updated_at": at(1),
    }))
}

fn workstream() -> Workstream {
    read(json!({
        "id": WORKSTREAM, "org_id": ORG, "name": "Support", "workstream_type": "messaging",
        "distribution": "push", "fallback_queue_id": QUEUE, "created_at": at(0), "updated_at": at(1),
        "settings": {},
    }))
}

fn channel() -> ChannelView {
    read(json!({
        "id": CHANNEL, "org_id": ORG, "channel_type": "messaging_api", "name": "Web", "workstream_id": WORKSTREAM,
        "created_at": at(0), "updated_at": at(1),
        "settings": { "webhook_url": "https://bot.example.test/hook", "app_id": null, "customer_token_set": true },
        "account_id": ACCOUNT, "language": "en-US",
        "behaviours": { "wait_time_message": true, "post_conversation_survey": false },
        "attachments": { "customers": true, "agents": false },
    }))
}

fn account() -> switchboard_domain::account::MessagingAccount {
    read(json!({
        "id": ACCOUNT, "org_id": ORG, "name": "Contoso bot", "kind": "bot_framework", "method": "azure_bot_framework",
        "settings": { "app_id": "app-1" }, "credentials_set": true,
        "validation": { "state": "invalid", "reason": "invalid_client", "checked_at": at(2) },
        "created_at": at(0), "updated_at": at(2),
    }))
}

fn presence() -> CustomPresence {
    read(json!({ "id": PROFILE, "name": "Training", "base": "away", "created_at": at(0), "updated_at": at(1) }))
}

fn profile() -> CapacityProfile {
    read(json!({
        "id": PROFILE, "name": "Chat", "max_items": 3, "block_others": false, "reset": "on_release",
        "created_at": at(0), "updated_at": at(1),
    }))
}

fn subscription() -> Subscription {
    read(json!({
        "id": SUBSCRIPTION, "org_id": ORG, "url": "https://hooks.example.test/in", "description": "CRM",
        "event_types": ["conversation.*", "message.created"], "disabled_at": null, "disabled_reason": null,
        "previous_secret_expires_at": null, "created_at": at(0), "updated_at": at(1),
    }))
}

fn agent_routing() -> AgentRouting {
    read(json!({
        "user_id": AGENT, "presence": "available", "capacity_units": 3,
        "skills": [{ "name": "Billing", "proficiency": 7 }], "attributes": { "Region": "EU" }, "calendar": null,
    }))
}

/// One pinned event: what writers build now, and the payload the server wrote for it before (`legacy`).
struct Pin {
    name: &'static str,
    conversation: bool,
    event: TypedEvent,
    legacy: String,
}

fn record<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("a record serializes")
}

fn object(value: Value) -> String {
    serde_json::to_string(&value).expect("an object serializes")
}

#[allow(clippy::too_many_lines)]
fn pins() -> Vec<Pin> {
    let org: OrgId = id(ORG);
    let conversation_id: ConversationId = id(CONVERSATION);
    let queue: QueueId = id(QUEUE);
    let other_queue: QueueId = id(OTHER_QUEUE);
    let agent: UserId = id(AGENT);
    let offer: Uuid = id(OFFER);
    let profile_id: Uuid = id(PROFILE);
    let mut out = Vec::new();
    let mut pin = |name: &'static str, conversation: bool, event: TypedEvent, legacy: String| {
        out.push(Pin { name, conversation, event, legacy });
    };

    let c = conversation("open", None);
    pin("conversation.created", true, TypedEvent::ConversationCreated(c.clone()), record(&c));

    // As conversations::change_state wrote it: the agent named, the conversation after the change.
    let after = conversation("active", None);
    let agent_json = json!({ "id": agent, "name": "Ada" });
    let legacy = json!({ "conversation": after, "from": ConversationState::Open, "to": ConversationState::Active,
        "action": Action::Accept, "by": "user:ada", "agent": agent_json });
    let change = ConversationStateChanged {
        conversation: after.clone(),
        from: ConversationState::Open,
        to: ConversationState::Active,
        action: Action::Accept,
        by: "user:ada".to_string(),
        agent: Some(AgentName { id: agent, name: Some("Ada".to_string()) }),
        affinity_agent_id: None,
    };
    pin("conversation.state_changed", true, TypedEvent::ConversationStateChanged(change), object(legacy));

    let revived = conversation("open", None);
    let mut legacy = json!({ "conversation": revived, "from": ConversationState::Waiting,
        "to": ConversationState::Open, "action": Action::CustomerReply, "by": "customer",
        "agent": Value::Null });
    legacy["affinity_agent_id"] = json!(Some(agent));
    let change = ConversationStateChanged {
        conversation: revived,
        from: ConversationState::Waiting,
        to: ConversationState::Open,
        action: Action::CustomerReply,
        by: "customer".to_string(),
        agent: None,
        affinity_agent_id: Some(Some(agent)),
    };
    pin(
        "conversation.state_changed (customer reply)",
        true,
        TypedEvent::ConversationStateChanged(change),
        object(legacy),
    );

    let closed = conversation("closed", Some("resolved"));
    let legacy = json!({ "conversation": closed, "from": ConversationState::WrapUp, "to": ConversationState::Closed,
        "action": Action::Close, "by": "user:ada", "agent": json!({ "id": agent, "name": Value::Null }) });
    let change = ConversationStateChanged {
        conversation: closed,
        from: ConversationState::WrapUp,
        to: ConversationState::Closed,
        action: Action::Close,
        by: "user:ada".to_string(),
        agent: Some(AgentName { id: agent, name: None }),
        affinity_agent_id: None,
    };
    pin("conversation.state_changed (closed)", true, TypedEvent::ConversationStateChanged(change), object(legacy));

    let patch: ContextPatch = read(json!({ "Product": { "value": "XBox", "displayable": true }, "Old": null }));
    let variables: Vec<ContextVariable> =
        read(json!([{ "name": "Product", "value": "XBox", "displayable": true, "updated_at": at(4) },
                    { "name": "Amount", "value": 3, "displayable": false, "updated_at": at(2) }]));
    let legacy = json!({ "conversation_id": conversation_id, "changed": patch, "variables": variables });
    let changed = ContextUpdated { conversation_id, changed: patch, variables };
    pin("conversation.context_updated", true, TypedEvent::ConversationContextUpdated(changed), object(legacy));

    // As routing::lifecycle wrote a transfer to a queue, and overflow its transfer.
    let legacy = json!({ "from_queue_id": Some(queue), "from_agent_id": Some(agent), "queue_id": other_queue,
        "agent_id": null, "by": "user:ada" });
    let transferred = ConversationTransferred {
        from_queue_id: Some(queue),
        from_agent_id: Some(agent),
        queue_id: Some(other_queue),
        agent_id: None,
        by: "user:ada".to_string(),
    };
    pin("conversation.transferred", true, TypedEvent::ConversationTransferred(transferred), object(legacy));

    let m = message();
    pin("message.created", true, TypedEvent::MessageCreated(m.clone()), record(&m));
    let delivery: DeliveryId = id("01900000-0000-7000-8000-00000000000e");
    let legacy = object(json!({ "attempts": 9, "channel_id": CHANNEL, "delivery_id": delivery, "error": "HTTP 503",
        "message_id": MESSAGE, "status": 503 }));
    let failed = MessageDeliveryFailed {
        message_id: m.id,
        channel_id: id(CHANNEL),
        delivery_id: delivery,
        attempts: 9,
        status: Some(503),
        error: Some("HTTP 503".into()),
    };
    pin("message.delivery_failed", true, TypedEvent::MessageDeliveryFailed(failed), legacy);
    let legacy = object(json!({ "channel_id": CHANNEL, "delivery_id": delivery, "message_id": MESSAGE,
        "provider_message_id": "1234567890" }));
    let delivered = MessageDelivered {
        message_id: m.id,
        channel_id: id(CHANNEL),
        delivery_id: delivery,
        provider_message_id: Some("1234567890".into()),
        segments: None,
    };
    pin("message.delivered", true, TypedEvent::MessageDelivered(delivered), legacy);
    let legacy = object(json!({ "channel_id": CHANNEL, "error_code": "30003", "message_id": MESSAGE,
        "provider_message_id": "SM0123456789abcdef0123456789abcdef", "status": "undelivered" }));
    let status = MessageStatusChanged {
        message_id: m.id,
        channel_id: id(CHANNEL),
        provider_message_id: "SM0123456789abcdef0123456789abcdef".into(),
        status: ProviderStatus::Undelivered,
        error_code: Some("30003".into()),
    };
    pin("message.status_changed", true, TypedEvent::MessageStatusChanged(status), legacy);

    let legacy = object(json!({ "queue_id": queue }));
    pin("routing.queued", true, TypedEvent::RoutingQueued(QueueWait { queue_id: queue }), legacy.clone());
    pin("routing.dequeued", true, TypedEvent::RoutingDequeued(QueueWait { queue_id: queue }), legacy);

    let legacy = json!({ "offer_id": offer, "agent_id": agent, "queue_id": queue, "expires_at": at(30_000),
        "kind": "affinity" });
    let issued = OfferIssued {
        offer_id: offer,
        agent_id: agent,
        queue_id: queue,
        expires_at: at(30_000),
        kind: OfferSource::Affinity,
    };
    pin("routing.offer_issued", true, TypedEvent::RoutingOfferIssued(issued), object(legacy));

    let ended = OfferEnded { offer_id: Some(offer), agent_id: agent };
    let legacy = object(json!({ "offer_id": Some(offer), "agent_id": agent }));
    pin("routing.offer_rejected", true, TypedEvent::RoutingOfferRejected(ended.clone()), legacy.clone());
    pin("routing.offer_expired", true, TypedEvent::RoutingOfferExpired(ended), legacy);
    let unknown = OfferEnded { offer_id: None, agent_id: agent };
    let legacy = object(json!({ "offer_id": None::<Uuid>, "agent_id": agent }));
    pin("routing.offer_withdrawn", true, TypedEvent::RoutingOfferWithdrawn(unknown), legacy);

    let legacy = json!({ "agent_id": agent, "queue_id": queue, "by": "offer", "offer_id": Some(offer),
        "waited_ms": Some(1_500) });
    let assigned = Assigned {
        agent_id: agent,
        queue_id: queue,
        by: AssignedBy::Offer,
        offer_id: Some(offer),
        waited_ms: Some(1_500),
    };
    pin("routing.assigned", true, TypedEvent::RoutingAssigned(assigned), object(legacy));

    let legacy = object(json!({ "agent_id": agent }));
    pin(
        "routing.capacity_released",
        true,
        TypedEvent::RoutingCapacityReleased(CapacityReleased { agent_id: agent }),
        legacy,
    );

    let legacy = object(json!({ "queue_id": queue, "position": 4_usize }));
    pin(
        "routing.position_changed",
        true,
        TypedEvent::RoutingPositionChanged(PositionChanged { queue_id: queue, position: 4 }),
        legacy,
    );

    let legacy = json!({ "queue_id": queue, "position": 2_usize, "estimated_wait_seconds": Some(90_u64),
        "previous_position": Some(4_usize), "previous_estimated_wait_seconds": None::<u64>,
        "text": "You are number 2 in the queue." });
    let wait = WaitEstimateChanged {
        queue_id: queue,
        position: 2,
        estimated_wait_seconds: Some(90),
        previous_position: Some(4),
        previous_estimated_wait_seconds: None,
        text: "You are number 2 in the queue.".to_string(),
    };
    pin("routing.wait_estimate_changed", true, TypedEvent::RoutingWaitEstimateChanged(wait), object(legacy));

    let legacy = json!({ "queue_id": queue, "condition": "wait_in_queue_exceeds", "action": "transfer_to_queue",
        "to_queue_id": Some(other_queue) });
    let step = Overflowed {
        queue_id: queue,
        condition: "wait_in_queue_exceeds".to_string(),
        action: "transfer_to_queue".to_string(),
        to_queue_id: Some(other_queue),
    };
    pin("routing.overflowed", true, TypedEvent::RoutingOverflowed(step), object(legacy));

    let callback: CallbackRequest = read(json!({
        "id": OFFER, "conversation_id": CONVERSATION, "queue_id": QUEUE, "contact_id": CONTACT,
        "customer_key": "customer-42", "phone": "+14255550100", "email": null, "name": "Grace Hopper",
        "reason": "out_of_operating_hours", "state": "requested", "created_at": at(7),
    }));
    let legacy = object(json!(callback));
    pin("routing.callback_requested", true, TypedEvent::RoutingCallbackRequested(callback), legacy);

    let o: Org = read(json!({ "id": ORG, "name": "Contoso", "created_at": at(0) }));
    pin("organization.created", false, TypedEvent::OrganizationCreated(o.clone()), record(&o));
    let u: User = read(json!({ "id": AGENT, "org_id": ORG, "name": "Ada", "email": "ada@example.test",
        "role": "agent", "created_at": at(0) }));
    pin("user.created", false, TypedEvent::UserCreated(u.clone()), record(&u));

    let k = contact();
    pin("contact.created", false, TypedEvent::ContactCreated(k.clone()), record(&k));
    pin("contact.updated", false, TypedEvent::ContactUpdated(k.clone()), record(&k));

    let q: Queue = read(json!({ "id": QUEUE, "org_id": ORG, "name": "Tier 1", "queue_type": "messaging",
        "priority": 1, "created_at": at(0), "updated_at": at(0) }));
    pin("queue.created", false, TypedEvent::QueueCreated(q.clone()), record(&q));

    let routing = QueueRouting::default();
    let legacy = json!({ "queue_id": queue, "routing": routing });
    let changed = QueueRoutingChanged { queue_id: queue, routing };
    pin("queue.routing_changed", false, TypedEvent::QueueRoutingChanged(changed), object(legacy));

    let members: Vec<Member> = read(json!([{ "queue_id": QUEUE, "user_id": AGENT, "joined_at": at(2) }]));
    let legacy = json!({ "queue_id": queue, "members": members });
    let changed = QueueMembersChanged { queue_id: queue, members };
    pin("queue.members_changed", false, TypedEvent::QueueMembersChanged(changed), object(legacy));

    let w = workstream();
    pin("workstream.created", false, TypedEvent::WorkstreamCreated(w.clone()), record(&w));
    pin("workstream.updated", false, TypedEvent::WorkstreamUpdated(w.clone()), record(&w));
    let rules: RulesDocument = read(json!({ "context_variables": { "Product": "text" } }));
    let legacy = json!({ "workstream_id": w.id, "rules": rules });
    let changed = WorkstreamRulesChanged { workstream_id: w.id, rules };
    pin("workstream.rules_changed", false, TypedEvent::WorkstreamRulesChanged(changed), object(legacy));

    let ch = channel();
    pin("channel.created", false, TypedEvent::ChannelCreated(ch.clone()), record(&ch));
    pin("channel.updated", false, TypedEvent::ChannelUpdated(ch.clone()), record(&ch));

    let p = presence();
    pin("presence.created", false, TypedEvent::PresenceCreated(p.clone()), record(&p));
    pin("presence.updated", false, TypedEvent::PresenceUpdated(p.clone()), record(&p));
    let legacy = object(json!({ "id": profile_id }));
    pin("presence.deleted", false, TypedEvent::PresenceDeleted(Deleted { id: profile_id }), legacy.clone());

    let a = account();
    pin("messaging_account.created", false, TypedEvent::MessagingAccountCreated(a.clone()), record(&a));
    pin("messaging_account.updated", false, TypedEvent::MessagingAccountUpdated(a.clone()), record(&a));
    let deleted = Deleted { id: a.id.uuid() };
    pin(
        "messaging_account.deleted",
        false,
        TypedEvent::MessagingAccountDeleted(deleted),
        object(json!({ "id": a.id })),
    );

    let q: QuickReply = read(json!({ "id": PROFILE, "title": "Opening hours", "text": "From 8:00 to 18:00.",
        "created_at": at(1), "updated_at": at(2) }));
    pin("quick_reply.created", false, TypedEvent::QuickReplyCreated(q.clone()), record(&q));
    pin("quick_reply.updated", false, TypedEvent::QuickReplyUpdated(q.clone()), record(&q));
    pin(
        "quick_reply.deleted",
        false,
        TypedEvent::QuickReplyDeleted(Deleted { id: q.id }),
        object(json!({ "id": q.id })),
    );

    let t: MessageTemplate = read(json!({ "id": PROFILE, "name": "Case resolved", "channel_type": "sms",
        "default_locale": "en-US", "versions": [
            { "locale": "en-US", "text": "Hi {CustomerName}, case {CaseName} is resolved." },
            { "locale": "fr-FR", "text": "Bonjour {CustomerName}, le dossier {CaseName} est clos." }],
        "placeholders": ["CaseName", "CustomerName"], "created_at": at(1), "updated_at": at(2) }));
    pin("message_template.created", false, TypedEvent::MessageTemplateCreated(t.clone()), record(&t));
    pin("message_template.updated", false, TypedEvent::MessageTemplateUpdated(t.clone()), record(&t));
    pin(
        "message_template.deleted",
        false,
        TypedEvent::MessageTemplateDeleted(Deleted { id: t.id.uuid() }),
        object(json!({ "id": t.id })),
    );

    let c: OutboundConfig = read(json!({ "id": PROFILE, "name": "Case resolved SMS", "show_in_timeline": true,
        "channel_type": "sms", "channel_id": CHANNEL, "template_id": PROFILE, "created_at": at(1), "updated_at": at(2) }));
    pin("outbound_config.created", false, TypedEvent::OutboundConfigCreated(c.clone()), record(&c));
    pin("outbound_config.updated", false, TypedEvent::OutboundConfigUpdated(c.clone()), record(&c));
    pin(
        "outbound_config.deleted",
        false,
        TypedEvent::OutboundConfigDeleted(Deleted { id: c.id.uuid() }),
        object(json!({ "id": c.id })),
    );

    let cp = profile();
    pin("capacity_profile.created", false, TypedEvent::CapacityProfileCreated(cp.clone()), record(&cp));
    pin("capacity_profile.updated", false, TypedEvent::CapacityProfileUpdated(cp.clone()), record(&cp));
    pin("capacity_profile.deleted", false, TypedEvent::CapacityProfileDeleted(Deleted { id: profile_id }), legacy);

    let entries: Vec<AgentProfileEntry> = read(json!([{ "profile_id": PROFILE, "name": "Chat", "max_items": 2,
        "overridden": true, "block_others": false, "reset": "on_release" }]));
    let legacy = json!({ "agent_id": agent, "profiles": entries });
    let changed = AgentCapacityProfilesChanged { agent_id: agent, profiles: entries };
    pin("agent.capacity_profiles_changed", false, TypedEvent::AgentCapacityProfilesChanged(changed), object(legacy));

    let r = agent_routing();
    pin("agent.routing_changed", false, TypedEvent::AgentRoutingChanged(r.clone()), record(&r));

    // As routing's describe wrote a presence set by routing: the custom presence's base, and why.
    let legacy = json!({ "agent_id": agent, "presence": PresenceName::Away, "custom_presence_id": Some(profile_id),
        "reason": "missed_offer" });
    let changed = PresenceChanged {
        agent_id: agent,
        presence: PresenceName::Away,
        custom_presence_id: Some(profile_id),
        reason: PresenceChangeReason::MissedOffer,
    };
    pin("agent.presence_changed", false, TypedEvent::AgentPresenceChanged(changed), object(legacy));

    let session: SessionId = id(SESSION);
    let signed_in = AgentSignedIn { agent_id: agent, session_id: session };
    let legacy = json!({ "agent_id": agent, "session_id": session });
    pin("agent.signed_in", false, TypedEvent::AgentSignedIn(signed_in), object(legacy));

    let s = subscription();
    for (name, event) in [
        ("webhook_subscription.created", TypedEvent::WebhookSubscriptionCreated(s.clone())),
        ("webhook_subscription.updated", TypedEvent::WebhookSubscriptionUpdated(s.clone())),
        ("webhook_subscription.secret_rotated", TypedEvent::WebhookSubscriptionSecretRotated(s.clone())),
        ("webhook_subscription.deleted", TypedEvent::WebhookSubscriptionDeleted(s.clone())),
        ("webhook_subscription.disabled", TypedEvent::WebhookSubscriptionDisabled(s.clone())),
    ] {
        pin(name, false, event, record(&s));
    }
    let _ = org;
    out
}

/// The event as the log hands it back: the stored payload read as JSON.
fn logged(pin: &Pin, stored: &str) -> Event {
    Event {
        id: 812,
        org_id: id(ORG),
        event_type: pin.event.event_type().as_str().to_string(),
        conversation_id: pin.conversation.then(|| id(CONVERSATION)),
        sequence: pin.conversation.then_some(7),
        data: serde_json::from_str(stored).expect("stored JSON"),
        created_at: at(11),
    }
}

fn links() -> Links {
    Links::new([7; 32], "http://files.test", 300, Clock::Manual(crate::clock::ManualClock::new(at(0))))
}

/// The webhook body as the server built it before: a `json!` object.
fn legacy_body(event: &Event, links: &Links) -> Vec<u8> {
    let mut data = event.data.clone();
    if event.event_type == "message.created" {
        links.sign_message(&mut data);
    }
    let body = json!({
        "type": event.event_type,
        "timestamp": event.created_at,
        "event_id": event.id,
        "conversation_id": event.conversation_id,
        "sequence": event.sequence,
        "data": data,
    });
    serde_json::to_vec(&body).expect("a body")
}

fn literals() -> BTreeMap<&'static str, (&'static str, &'static str)> {
    include_str!("event_pins.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.split('\t');
            let name = parts.next().expect("a name");
            (name, (parts.next().expect("a stored payload"), parts.next().expect("a body")))
        })
        .collect()
}

#[test]
fn every_stored_payload_and_webhook_body_is_as_before() {
    let literals = literals();
    let links = links();
    let mut printed = String::new();
    for pin in pins() {
        let stored = pin.event.stored_json().expect("stored JSON");
        assert_eq!(stored, pin.legacy, "{}: the stored payload changed", pin.name);
        let event = logged(&pin, &stored);
        let body = subscription_body(&event, &links);
        assert_eq!(
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&legacy_body(&event, &links)),
            "{}: the webhook body changed",
            pin.name
        );
        let body = String::from_utf8(body).expect("UTF-8");
        printed.push_str(&format!("{}\t{stored}\t{body}\n", pin.name));
        if std::env::var_os("PRINT_EVENT_PINS").is_some() {
            continue;
        }
        let (want_stored, want_body) = literals.get(pin.name).unwrap_or_else(|| panic!("{}: no literal pin", pin.name));
        assert_eq!(stored, *want_stored, "{}: stored payload", pin.name);
        assert_eq!(body, *want_body, "{}: webhook body", pin.name);
        // And the log's readers get the same event back, typed.
        let typed = event.typed().unwrap_or_else(|e| panic!("{}: {e}", pin.name));
        assert_eq!(typed.stored_json().expect("stored JSON"), stored, "{}: read back", pin.name);
    }
    if std::env::var_os("PRINT_EVENT_PINS").is_some() {
        println!("{printed}");
    }
}

#[test]
fn every_type_has_a_pin() {
    let pinned: Vec<EventType> = pins().iter().map(|p| p.event.event_type()).collect();
    let literals = literals();
    for &ty in EventType::ALL {
        assert!(pinned.contains(&ty), "`{ty}` has no pin in payload_pins.rs");
        assert!(literals.contains_key(ty.as_str()), "`{ty}` has no literal in event_pins.txt");
    }
    for pin in pins() {
        assert_eq!(pin.conversation, pin.event.event_type().scope() == Scope::Conversation, "{}: scope", pin.name);
    }
}

// The Bot Framework activity as the server built it before the catalogue, kept verbatim to compare with.
#[allow(clippy::indexing_slicing)]
mod legacy {
    use serde_json::{Value, json};
    use switchboard_domain::{conversation::ConversationState, message::SenderKind};
    use switchboard_store::model::Event;

    use crate::attachments::Links;

    /// Whether a Messaging API webhook carries this event at all (the customer's own messages are not echoed back).
    pub fn legacy_is_activity(event: &Event) -> bool {
        match event.event_type.as_str() {
            "message.created" => {
                event.data["sender"]["kind"].as_str().is_some_and(|k| k != SenderKind::Customer.as_str())
            }
            "conversation.state_changed" => true,
            // The throttled update waiting customers get (routing::wait), not every raw `routing.position_changed`.
            "routing.wait_estimate_changed" => true,
            _ => false,
        }
    }

    fn party(id: &Value, name: &Value) -> Value {
        json!({ "id": id, "name": name })
    }

    /// The activity as the server built it before: `json!` objects.
    pub fn legacy_activity(event: &Event, links: &Links) -> Option<Value> {
        let conversation_id = event.conversation_id?;
        let d = &event.data;
        let base = |kind: &str| {
            json!({
                "type": kind,
                "id": event.id.to_string(),
                "timestamp": event.created_at,
                "channelId": "MessagingApi",
                "conversation": { "id": conversation_id },
                "channelData": { "sequence": event.sequence, "messageId": event.created_at.millis().to_string() },
            })
        };
        match event.event_type.as_str() {
            "message.created" => {
                let kind = d["sender"]["kind"].as_str()?;
                if kind == SenderKind::Customer.as_str() {
                    return None;
                }
                let mut data = d.clone();
                links.sign_message(&mut data);
                let mut a = base("message");
                a["from"] = party(&data["sender"]["id"], &data["sender"]["name"]);
                // Bot Framework clients read `text` as a string; a message of attachments only has none to show.
                a["text"] = if data["text"].is_string() { data["text"].clone() } else { json!("") };
                a["textFormat"] = json!("markdown");
                a["attachments"] = Value::Array(
                    data["attachments"]
                        .as_array()
                        .map(|list| {
                            list.iter()
                                .map(|att| {
                                    json!({ "contentType": att["content_type"], "contentUrl": att["url"],
                                            "content": null, "name": att["name"], "thumbnailUrl": null })
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                );
                a["channelData"]["tags"] = json!([kind]);
                if d["automated"].as_bool() == Some(true) {
                    a["channelData"]["messagingapi-oc"] = json!({ "type": "AutomatedMessage" });
                }
                Some(a)
            }
            "conversation.state_changed" => {
                let to = d["to"].as_str().and_then(ConversationState::parse)?;
                let from = d["from"].as_str().and_then(ConversationState::parse)?;
                let agent = &d["agent"];
                let agent_name = agent["name"].as_str().unwrap_or("An agent");
                let (name, text) = match (from, to) {
                    (_, ConversationState::Closed) => {
                        let mut a = base("endOfConversation");
                        a["code"] = json!("completedSuccessfully");
                        a["text"] = json!("The conversation was closed.");
                        a["channelData"]["tags"] = json!(["system"]);
                        a["channelData"]["reason"] = d["conversation"]["closure_reason"].clone();
                        return Some(a);
                    }
                    (_, ConversationState::Active) => {
                        ("agentAccepted", format!("{agent_name} joined the conversation."))
                    }
                    (ConversationState::Active, ConversationState::Open) => {
                        ("agentReleased", "You are being transferred to the next available agent.".to_string())
                    }
                    (_, ConversationState::WrapUp) => ("agentEnded", format!("{agent_name} ended the conversation.")),
                    (_, ConversationState::Waiting) => {
                        ("conversationWaiting", "The agent will get back to you when you reply.".to_string())
                    }
                    (_, ConversationState::Open) => ("conversationQueued", "Finding you an agent.".to_string()),
                };
                let mut a = base("event");
                a["name"] = json!(name);
                a["text"] = json!(text);
                a["from"] = party(&json!("system"), &json!("System"));
                a["value"] = json!({ "from": from, "to": to, "agent": agent });
                a["channelData"]["tags"] = json!(["system"]);
                Some(a)
            }
            "routing.wait_estimate_changed" => {
                // The readable sentence reaches the customer as the system message written with this event; the event
                // carries the numbers for the client program.
                let mut a = base("event");
                a["name"] = json!("queuePositionChanged");
                a["from"] = party(&json!("system"), &json!("System"));
                a["value"] = json!({
                    "position": d["position"],
                    "queue_id": d["queue_id"],
                    "estimated_wait_seconds": d["estimated_wait_seconds"],
                });
                a["channelData"]["tags"] = json!(["system"]);
                Some(a)
            }
            _ => None,
        }
    }
}

#[test]
fn activities_are_as_before() {
    let links = links();
    let mut checked = 0;
    let mut customer = message();
    customer.sender = read(json!({ "kind": "customer", "id": "customer-42", "name": "Grace" }));
    let mut automated = message();
    automated.automated = true;
    automated.text = None;
    automated.sender = read(json!({ "kind": "bot", "id": "bot", "name": "Bot" }));
    let extra = [
        ("message.created (customer)", TypedEvent::MessageCreated(customer)),
        ("message.created (automated)", TypedEvent::MessageCreated(automated)),
    ];
    let mut all: Vec<(String, bool, TypedEvent)> =
        pins().into_iter().map(|p| (p.name.to_string(), p.conversation, p.event)).collect();
    all.extend(extra.into_iter().map(|(n, e)| (n.to_string(), true, e)));
    for state in ["open", "active", "waiting", "wrap_up", "closed"] {
        for from in [ConversationState::Open, ConversationState::Active, ConversationState::Waiting] {
            let change = ConversationStateChanged {
                conversation: conversation(state, (state == "closed").then_some("resolved")),
                from,
                to: ConversationState::parse(state).expect("a state"),
                action: Action::Accept,
                by: "x".to_string(),
                agent: (from != ConversationState::Waiting).then(|| AgentName {
                    id: id(AGENT),
                    name: (from == ConversationState::Open).then(|| "Ada".into()),
                }),
                affinity_agent_id: None,
            };
            all.push((format!("state {from} -> {state}"), true, TypedEvent::ConversationStateChanged(change)));
        }
    }
    for (name, conversation, event) in all {
        let stored = event.stored_json().expect("stored JSON");
        let pin = Pin { name: "", conversation, event, legacy: String::new() };
        let event = logged(&pin, &stored);
        let want = legacy::legacy_activity(&event, &links).map(|a| serde_json::to_string(&a).expect("JSON"));
        let got = super::activity(&event, &links).map(|a| serde_json::to_string(&a).expect("JSON"));
        assert_eq!(got, want, "{name}");
        assert_eq!(super::is_activity(&event), legacy::legacy_is_activity(&event), "{name}");
        checked += usize::from(want.is_some());
    }
    assert!(checked >= 17, "{checked} activities compared");
}
