//! What each endpoint receives for an event: native subscriptions get the event in the Standard Webhooks shape
//! `{type, timestamp, data}`; a Messaging API channel's webhook gets a Bot Framework activity, and only for what
//! its customer should see (agent, bot and system messages, the agent joining or leaving, the close).

use serde_json::{Value, json};
use switchboard_domain::{conversation::ConversationState, message::SenderKind};
use switchboard_store::{events::MESSAGE_CREATED, model::Event};

use crate::attachments::Links;

/// The body of a native webhook for `event`.
pub fn subscription_body(event: &Event, links: &Links) -> Vec<u8> {
    let mut data = event.data.clone();
    if event.event_type == MESSAGE_CREATED {
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
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Whether a Messaging API webhook carries this event at all (the customer's own messages are not echoed back).
pub fn is_activity(event: &Event) -> bool {
    match event.event_type.as_str() {
        MESSAGE_CREATED => event.data["sender"]["kind"].as_str().is_some_and(|k| k != SenderKind::Customer.as_str()),
        "conversation.state_changed" => true,
        // The throttled update waiting customers get (routing::wait), not every raw `routing.position_changed`.
        "routing.wait_estimate_changed" => true,
        _ => false,
    }
}

fn party(id: &Value, name: &Value) -> Value {
    json!({ "id": id, "name": name })
}

/// The Bot Framework activity for `event`, or `None` when the customer's side has nothing to see.
pub fn activity(event: &Event, links: &Links) -> Option<Value> {
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
        MESSAGE_CREATED => {
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
