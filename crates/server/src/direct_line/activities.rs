//! The conversation's log as Direct Line activities: what polling answers and the stream pushes, in the same shape.

use serde_json::{Value, json};
use switchboard_domain::{Error, Timestamp, message::SenderKind, record::Message};
use switchboard_store::direct_line as store;

use super::{ActivitySet, Grant, activity_id};
use crate::{AppState, attachments::Links};

/// The conversation's activities after the watermark `at`, at most `limit` of them, and the watermark they reach,
/// rendered by `render` (which goes on to render what follows them).
pub(super) async fn after(
    app: &AppState,
    grant: &Grant,
    at: i64,
    limit: usize,
    render: &mut Renderer,
) -> Result<ActivitySet, Error> {
    let (org, id) = (grant.org, grant.conversation);
    // What the customer last said before the watermark, which the first reply after it answers.
    let seed = at > 0 && render.last_from_user.is_none();
    let (rows, clients, before) = app
        .store
        .read(move |tx| {
            let before = if seed { store::last_customer_message(tx, org, id, at)? } else { None };
            Ok((store::shown_after(tx, org, id, at, limit)?, store::client_activities(tx, id, at)?, before))
        })
        .await?;
    if let Some(seq) = before {
        render.last_from_user = Some(activity_id(id, seq));
    }
    let activities = rows
        .iter()
        .filter_map(|r| render.entry(&r.event_type, r.seq, &r.payload, r.created_at, clients.get(&r.seq).cloned()))
        .collect();
    let watermark = rows.last().map_or(at, |r| r.seq);
    Ok(ActivitySet { activities, watermark: watermark.to_string() })
}

/// Renders log entries of one conversation in order; remembers the customer's last activity, which the next reply
/// answers (`replyToId`).
pub(super) struct Renderer {
    conversation: String,
    /// The id the agents' side goes by: the channel's, as a bot's handle is the same for every conversation.
    bot: String,
    links: Links,
    last_from_user: Option<String>,
}

impl Renderer {
    pub(super) fn new(grant: &Grant, links: Links) -> Self {
        Self {
            conversation: grant.conversation.to_string(),
            bot: grant.channel.to_string(),
            links,
            last_from_user: None,
        }
    }

    fn bot(&self, name: &str) -> Value {
        json!({ "id": self.bot, "name": name, "role": "bot" })
    }

    /// The activity for an entry of the log, if the client is shown it.
    pub(super) fn entry(
        &mut self,
        event_type: &str,
        seq: i64,
        data: &Value,
        at: Timestamp,
        client_activity_id: Option<String>,
    ) -> Option<Value> {
        match event_type {
            "message.created" => {
                let m: Message = serde_json::from_value(data.clone()).ok()?;
                Some(self.message(m, client_activity_id))
            }
            "conversation.state_changed" => {
                let ended = |s: Option<&str>| matches!(s, Some("wrap_up" | "closed"));
                let (from, to) = (data.get("from").and_then(Value::as_str), data.get("to").and_then(Value::as_str));
                if !ended(to) || ended(from) {
                    return None;
                }
                Some(json!({
                    "type": "endOfConversation",
                    "id": format!("{}|{seq:07}", self.conversation),
                    "timestamp": at,
                    "channelId": "directline",
                    "from": self.bot("System"),
                    "conversation": { "id": self.conversation },
                    "code": "completedSuccessfully",
                }))
            }
            _ => None,
        }
    }

    fn message(&mut self, mut m: Message, client_activity_id: Option<String>) -> Value {
        self.links.sign_attachments(&mut m.attachments);
        let id = activity_id(m.conversation_id, m.sequence);
        let attachments: Vec<Value> = m
            .attachments
            .iter()
            .map(|a| json!({ "contentType": a.content_type, "contentUrl": a.url, "name": a.name }))
            .collect();
        let mut activity = json!({
            "type": "message",
            "id": id,
            "timestamp": m.created_at,
            "channelId": "directline",
            "conversation": { "id": self.conversation },
            "text": m.text.unwrap_or_default(),
            "textFormat": "plain",
            "attachments": attachments,
        });
        if m.sender.kind == SenderKind::Customer {
            activity["from"] = json!({ "id": m.sender.id, "name": m.sender.name, "role": "user" });
            if let Some(client) = client_activity_id {
                activity["channelData"] = json!({ "clientActivityID": client });
            }
            self.last_from_user = Some(id);
        } else {
            activity["from"] = self.bot(&m.sender.name);
            if let Some(reply_to) = &self.last_from_user {
                activity["replyToId"] = json!(reply_to);
            }
        }
        activity
    }

    /// An agent's typing, as the stream shows it (a customer's own typing is not echoed).
    pub(super) fn typing(&self, data: &Value) -> Option<Value> {
        if data.get("by").and_then(Value::as_str) == Some("customer") {
            return None;
        }
        Some(json!({
            "type": "typing",
            "channelId": "directline",
            "from": self.bot("Agent"),
            "conversation": { "id": self.conversation },
        }))
    }
}
