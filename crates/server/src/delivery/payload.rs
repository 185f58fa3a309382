//! What each endpoint receives for an event: native subscriptions get the event in the Standard Webhooks shape
//! `{type, timestamp, data}`; a Messaging API channel's webhook gets a Bot Framework activity, and only for what
//! its customer should see (agent, bot and system messages, the agent joining or leaving, the close).
//!
//! Both are typed (serde) with their fields in alphabetical order at every depth: the bytes they serialize to are
//! the ones receivers got when these bodies were built as `serde_json::Value`s, which sort their keys.

use serde::Serialize;
use serde_json::Value;
use switchboard_domain::{
    Timestamp,
    conversation::ConversationState,
    event::{AgentName, ConversationStateChanged, EventType, TypedEvent, WaitEstimateChanged},
    ids::*,
    message::SenderKind,
    record::Message,
    text::{HttpUrl, ShortText},
};
use switchboard_store::model::Event;

use crate::attachments::Links;

/// A native webhook's body (see the `WebhookEvent` schema in the OpenAPI document).
#[derive(Serialize)]
struct Envelope<'a> {
    conversation_id: Option<ConversationId>,
    data: &'a Value,
    event_id: i64,
    sequence: Option<i64>,
    timestamp: Timestamp,
    #[serde(rename = "type")]
    event_type: &'a str,
}

/// The body of a native webhook for `event`.
pub fn subscription_body(event: &Event, links: &Links) -> Vec<u8> {
    let signed = links.signed_event(event);
    let body = Envelope {
        conversation_id: event.conversation_id,
        data: &signed.data,
        event_id: event.id,
        sequence: event.sequence,
        timestamp: event.created_at,
        event_type: &event.event_type,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Whether a Messaging API webhook carries this event at all (the customer's own messages are not echoed back).
pub fn is_activity(event: &Event) -> bool {
    match EventType::parse(&event.event_type) {
        Some(EventType::MessageCreated) => {
            matches!(event.typed(), Ok(TypedEvent::MessageCreated(m)) if m.sender.kind != SenderKind::Customer)
        }
        Some(EventType::ConversationStateChanged) => true,
        // The throttled update waiting customers get (routing::wait), not every raw `routing.position_changed`.
        Some(EventType::RoutingWaitEstimateChanged) => true,
        _ => false,
    }
}

/// A Bot Framework activity as a Messaging API webhook receives it.
#[derive(Debug, Serialize)]
pub struct Activity {
    #[serde(skip_serializing_if = "Option::is_none")]
    attachments: Option<Vec<ActivityAttachment>>,
    #[serde(rename = "channelData")]
    channel_data: ChannelData,
    #[serde(rename = "channelId")]
    channel_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    conversation: ConversationRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<Party>,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(rename = "textFormat", skip_serializing_if = "Option::is_none")]
    text_format: Option<&'static str>,
    timestamp: Timestamp,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<ActivityValue>,
}

#[derive(Debug, Serialize)]
struct ChannelData {
    #[serde(rename = "messageId")]
    message_id: String,
    #[serde(rename = "messagingapi-oc", skip_serializing_if = "Option::is_none")]
    messagingapi_oc: Option<Tagged>,
    /// The closure reason, on `endOfConversation` only (null when none was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<Option<String>>,
    sequence: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<[String; 1]>,
}

#[derive(Debug, Serialize)]
struct Tagged {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct ConversationRef {
    id: ConversationId,
}

#[derive(Debug, Serialize)]
struct Party {
    id: String,
    name: String,
}

impl Party {
    fn system() -> Self {
        Party { id: "system".to_string(), name: "System".to_string() }
    }
}

#[derive(Debug, Serialize)]
struct ActivityAttachment {
    content: Option<()>,
    #[serde(rename = "contentType")]
    content_type: ShortText,
    #[serde(rename = "contentUrl")]
    content_url: HttpUrl,
    name: Option<ShortText>,
    #[serde(rename = "thumbnailUrl")]
    thumbnail_url: Option<()>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ActivityValue {
    /// `agentAccepted`, `agentReleased`, `agentEnded`, `conversationWaiting`, `conversationQueued`.
    StateChanged { agent: Option<AgentName>, from: ConversationState, to: ConversationState },
    /// `queuePositionChanged`.
    Position { estimated_wait_seconds: Option<u64>, position: u64, queue_id: QueueId },
}

/// The Bot Framework activity for `event`, or `None` when the customer's side has nothing to see.
pub fn activity(event: &Event, links: &Links) -> Option<Activity> {
    let conversation_id = event.conversation_id?;
    let base = |kind: &'static str| Activity {
        attachments: None,
        channel_data: ChannelData {
            message_id: event.created_at.millis().to_string(),
            messagingapi_oc: None,
            reason: None,
            sequence: event.sequence,
            tags: None,
        },
        channel_id: "MessagingApi",
        code: None,
        conversation: ConversationRef { id: conversation_id },
        from: None,
        id: event.id.to_string(),
        name: None,
        text: None,
        text_format: None,
        timestamp: event.created_at,
        kind,
        value: None,
    };
    match event.typed().ok()? {
        TypedEvent::MessageCreated(message) => message_activity(message, links, base("message")),
        TypedEvent::ConversationStateChanged(change) => Some(state_activity(&change, base)),
        TypedEvent::RoutingWaitEstimateChanged(wait) => Some(wait_activity(&wait, base("event"))),
        _ => None,
    }
}

fn message_activity(mut message: Message, links: &Links, mut a: Activity) -> Option<Activity> {
    if message.sender.kind == SenderKind::Customer {
        return None;
    }
    links.sign_attachments(&mut message.attachments);
    a.from = Some(Party { id: message.sender.id, name: message.sender.name });
    // Bot Framework clients read `text` as a string; a message of attachments only has none to show.
    a.text = Some(message.text.unwrap_or_default());
    a.text_format = Some("markdown");
    a.attachments = Some(
        message
            .attachments
            .into_iter()
            .map(|att| ActivityAttachment {
                content: None,
                content_type: att.content_type,
                content_url: att.url,
                name: att.name,
                thumbnail_url: None,
            })
            .collect(),
    );
    a.channel_data.tags = Some([message.sender.kind.as_str().to_string()]);
    if message.automated {
        a.channel_data.messagingapi_oc = Some(Tagged { kind: "AutomatedMessage" });
    }
    Some(a)
}

fn state_activity(d: &ConversationStateChanged, base: impl Fn(&'static str) -> Activity) -> Activity {
    let (from, to) = (d.from, d.to);
    let agent_name = d.agent.as_ref().and_then(|a| a.name.as_deref()).unwrap_or("An agent");
    let (name, text) = match (from, to) {
        (_, ConversationState::Closed) => {
            let mut a = base("endOfConversation");
            a.code = Some("completedSuccessfully");
            a.text = Some("The conversation was closed.".to_string());
            a.channel_data.tags = Some(["system".to_string()]);
            a.channel_data.reason = Some(d.conversation.closure_reason.clone());
            return a;
        }
        (_, ConversationState::Active) => ("agentAccepted", format!("{agent_name} joined the conversation.")),
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
    a.name = Some(name);
    a.text = Some(text);
    a.from = Some(Party::system());
    a.value = Some(ActivityValue::StateChanged { agent: d.agent.clone(), from, to });
    a.channel_data.tags = Some(["system".to_string()]);
    a
}

fn wait_activity(d: &WaitEstimateChanged, mut a: Activity) -> Activity {
    // The readable sentence reaches the customer as the system message written with this event; the event
    // carries the numbers for the client program.
    a.name = Some("queuePositionChanged");
    a.from = Some(Party::system());
    a.value = Some(ActivityValue::Position {
        estimated_wait_seconds: d.estimated_wait_seconds,
        position: d.position,
        queue_id: d.queue_id,
    });
    a.channel_data.tags = Some(["system".to_string()]);
    a
}

#[cfg(test)]
#[path = "payload_pins.rs"]
mod pins;
