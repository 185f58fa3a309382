//! The activities Switchboard sends back through the Connector (§4.4): an agent's message, typing, the end; and the
//! URL each is posted to. Built from the `reply_to` the inbound side stored with the conversation.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::activity::{ChannelAccount, ConversationAccount};

/// What `encodeURIComponent` leaves alone, which is how the SDK escapes conversation and activity ids.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Where and to whom a reply goes: the `reply_to` JSON stored with the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyTo {
    pub service_url: String,
    pub channel_id: String,
    pub conversation: ConversationAccount,
    #[serde(default)]
    pub bot: Option<ChannelAccount>,
    #[serde(default)]
    pub user: Option<ChannelAccount>,
    /// The customer's latest activity: replies are threaded under it, as the SDK does.
    #[serde(default)]
    pub activity_id: Option<String>,
}

/// Why a stored `reply_to` cannot be answered on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("the stored reply_to is not a Bot Framework conversation reference: {0}")]
    BadReplyTo(String),
    #[error("the stored reply_to has no conversation id")]
    NoConversation,
}

impl ReplyTo {
    pub fn from_value(v: &Value) -> Result<Self, OutboundError> {
        let r = Self::deserialize(v).map_err(|e| OutboundError::BadReplyTo(e.to_string()))?;
        if r.conversation.id.as_deref().is_none_or(str::is_empty) {
            return Err(OutboundError::NoConversation);
        }
        Ok(r)
    }

    fn conversation_id(&self) -> &str {
        self.conversation.id.as_deref().unwrap_or_default()
    }
}

/// A file an agent sent, as a link the channel fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutAttachment {
    pub content_type: String,
    pub url: String,
    pub name: Option<String>,
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// An agent's message, shown under the agent's display name.
    Message {
        text: Option<String>,
        attachments: Vec<OutAttachment>,
        agent_name: Option<String>,
    },
    Typing {
        agent_name: Option<String>,
    },
    /// The conversation ended on Switchboard's side. `code` is one of the Activity schema's end codes
    /// (`completedSuccessfully`, …); `None` sends none.
    End {
        code: Option<String>,
    },
}

/// An activity ready to post: `POST url` with `activity` as its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub url: String,
    pub activity: Value,
}

/// `{serviceUrl}/v3/conversations/{conversationId}/activities[/{replyToId}]`, each id escaped as one path segment.
pub fn activities_url(service_url: &str, conversation_id: &str, reply_to_id: Option<&str>) -> String {
    let mut url = format!(
        "{}/v3/conversations/{}/activities",
        service_url.trim_end_matches('/'),
        utf8_percent_encode(conversation_id, COMPONENT)
    );
    if let Some(id) = reply_to_id.filter(|i| !i.is_empty()) {
        url.push('/');
        url.extend(utf8_percent_encode(id, COMPONENT));
    }
    url
}

/// The activity for `what` on the conversation `reply_to` names, and where to post it. As the SDK applies a
/// conversation reference: `from` is the bot (with the agent's name), `recipient` the customer, the conversation,
/// channel and service URL as received, `replyToId` the customer's latest activity. Messages carry
/// `channelData.deliveryMode = "bridged"`, which Dynamics requires of bot-to-customer messages (§4.2).
pub fn render(reply_to: &Value, what: &Outgoing) -> Result<Rendered, OutboundError> {
    let r = ReplyTo::from_value(reply_to)?;
    let from = |agent_name: &Option<String>| {
        let mut bot = r.bot.clone().unwrap_or_default();
        if let Some(name) = agent_name {
            bot.name = Some(name.clone());
        }
        bot.role = Some("bot".into());
        bot
    };
    let mut activity = json!({
        "serviceUrl": r.service_url,
        "channelId": r.channel_id,
        "conversation": r.conversation,
        "recipient": r.user,
    });
    let body = match what {
        Outgoing::Message { text, attachments, agent_name } => {
            let mut m = json!({
                "type": "message",
                "from": from(agent_name),
                "textFormat": "plain",
                "channelData": {"deliveryMode": "bridged"},
            });
            if let Some(t) = text {
                m["text"] = json!(t);
            }
            if !attachments.is_empty() {
                m["attachments"] = attachments
                    .iter()
                    .map(|a| {
                        let mut v = json!({"contentType": a.content_type, "contentUrl": a.url});
                        if let Some(n) = &a.name {
                            v["name"] = json!(n);
                        }
                        v
                    })
                    .collect();
            }
            m
        }
        Outgoing::Typing { agent_name } => json!({"type": "typing", "from": from(agent_name)}),
        Outgoing::End { code } => {
            let mut m = json!({"type": "endOfConversation", "from": from(&None)});
            if let Some(c) = code {
                m["code"] = json!(c);
            }
            m
        }
    };
    if let (Some(target), Value::Object(fields)) = (activity.as_object_mut(), body) {
        target.extend(fields);
    }
    if let Some(id) = r.activity_id.as_deref().filter(|i| !i.is_empty()) {
        activity["replyToId"] = json!(id);
    }
    let url = activities_url(&r.service_url, r.conversation_id(), r.activity_id.as_deref());
    Ok(Rendered { url, activity })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_to() -> Value {
        json!({
            "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "channelId": "msteams",
            "conversation": {"id": "19:abc@thread.tacv2;messageid=42", "tenantId": "t-1"},
            "bot": {"id": "28:app-id", "name": "Switchboard"},
            "user": {"id": "29:1user", "name": "Ada Lovelace"},
            "activityId": "f:1/2",
        })
    }

    #[test]
    fn urls_escape_each_segment_as_the_sdk_does() {
        assert_eq!(
            activities_url("https://smba.trafficmanager.net/emea/", "19:abc@thread.tacv2;messageid=42", Some("f:1/2")),
            "https://smba.trafficmanager.net/emea/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D42/activities/f%3A1%2F2"
        );
        assert_eq!(
            activities_url("https://webchat.botframework.com", "GZ8qH7cQJY1-eu", None),
            "https://webchat.botframework.com/v3/conversations/GZ8qH7cQJY1-eu/activities"
        );
        assert_eq!(activities_url("https://x/", "a b", Some("")), "https://x/v3/conversations/a%20b/activities");
    }

    #[test]
    fn an_agent_message_speaks_as_the_bot_under_the_agents_name() {
        let what = Outgoing::Message {
            text: Some("Refunded.".into()),
            attachments: vec![OutAttachment {
                content_type: "application/pdf".into(),
                url: "https://sb.example/files/1?sig=x".into(),
                name: Some("refund.pdf".into()),
            }],
            agent_name: Some("Grace (Support)".into()),
        };
        let r = render(&reply_to(), &what).unwrap();
        assert_eq!(
            r.url,
            "https://smba.trafficmanager.net/emea/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D42/activities/f%3A1%2F2"
        );
        assert_eq!(
            r.activity,
            json!({
                "type": "message",
                "serviceUrl": "https://smba.trafficmanager.net/emea/",
                "channelId": "msteams",
                "conversation": {"id": "19:abc@thread.tacv2;messageid=42", "tenantId": "t-1"},
                "from": {"id": "28:app-id", "name": "Grace (Support)", "role": "bot"},
                "recipient": {"id": "29:1user", "name": "Ada Lovelace"},
                "replyToId": "f:1/2",
                "text": "Refunded.",
                "textFormat": "plain",
                "attachments": [{"contentType": "application/pdf", "contentUrl": "https://sb.example/files/1?sig=x", "name": "refund.pdf"}],
                "channelData": {"deliveryMode": "bridged"},
            })
        );
    }

    #[test]
    fn typing_and_end() {
        let mut rt = reply_to();
        rt.as_object_mut().unwrap().remove("activityId");
        let t = render(&rt, &Outgoing::Typing { agent_name: None }).unwrap();
        assert!(t.url.ends_with("/activities"), "no activity to reply to: sent to the conversation");
        assert_eq!(t.activity["type"], "typing");
        assert_eq!(t.activity["from"], json!({"id": "28:app-id", "name": "Switchboard", "role": "bot"}));
        assert!(t.activity.get("replyToId").is_none());
        let e = render(&rt, &Outgoing::End { code: Some("completedSuccessfully".into()) }).unwrap();
        assert_eq!(
            (e.activity["type"].as_str(), e.activity["code"].as_str()),
            (Some("endOfConversation"), Some("completedSuccessfully"))
        );
    }

    #[test]
    fn a_bad_reply_to_is_an_error_not_a_panic() {
        assert!(matches!(
            render(&json!({"serviceUrl": 1}), &Outgoing::Typing { agent_name: None }),
            Err(OutboundError::BadReplyTo(_))
        ));
        let no_conv = json!({"serviceUrl": "https://x", "channelId": "c", "conversation": {}});
        assert_eq!(render(&no_conv, &Outgoing::End { code: None }), Err(OutboundError::NoConversation));
    }
}
