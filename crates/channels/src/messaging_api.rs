//! The Messaging API's customer side (seed 000, reference §1.5): the Bot Framework activities an integrator's
//! channel posts to `/api/v1.0/consumer/conversation/{id}`, checked and turned into the inbound contract. Fields
//! the API does not use are accepted and ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_domain::{
    Code, Error,
    contact::CustomerIn,
    context::{ContextPatch, ContextValue, ContextVariableIn, VariableName},
    ids::{ChannelId, ConversationId},
    limits,
    text::{MessageText, ShortText, VariableValue, field_error},
};
use utoipa::ToSchema;

use crate::inbound::{Act, Attachment, Inbound, Thread, decode_embedded};

/// Activity ids and types: 256 characters (§1.5).
const MAX_ACTIVITY_FIELD: usize = 256;

fn too_long(field: &str, max: usize) -> Error {
    Error::field(Code::FieldTooLong, field, format!("`{field}` is longer than {max} characters"))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ChannelAccount {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ConversationRef {
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttachmentIn {
    #[serde(rename = "contentType")]
    pub content_type: ShortText,
    /// An http(s) URL, a `data:` URL, or bare base64.
    #[serde(rename = "contentUrl")]
    pub content_url: String,
    #[serde(default)]
    pub name: Option<ShortText>,
}

/// A Bot Framework activity from the customer's side.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActivityIn {
    /// `message`, `typing`, `endOfConversation` or `event`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The client's id for the activity: a repeated id answers with the first result.
    #[serde(default)]
    pub id: Option<String>,
    /// Must equal the `channel-id` header when given.
    #[serde(default, rename = "channelId")]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub from: Option<ChannelAccount>,
    #[serde(default)]
    pub conversation: Option<ConversationRef>,
    #[serde(default)]
    pub text: Option<MessageText>,
    #[serde(default)]
    pub attachments: Vec<AttachmentIn>,
    /// For events: the event's name (also `channelData.customEventName`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "channelData")]
    #[schema(value_type = Object)]
    pub channel_data: Option<Value>,
}

/// A compatible context map (`{name: {isDisplayable, value}}` or `{name: primitive}`), as set (`null` removes).
pub fn compat_context(map: &serde_json::Map<String, Value>, field: &str) -> Result<ContextPatch, Error> {
    if map.len() > limits::MAX_CONTEXT_VARIABLES {
        return Err(Error::field(
            Code::TooManyContextVariables,
            field,
            format!("{} variables given; a conversation holds at most {}", map.len(), limits::MAX_CONTEXT_VARIABLES),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, raw) in map {
        let path = format!("{field}.{name}");
        let key = VariableName::parse(name.clone()).map_err(|e| field_error(&path, &e))?;
        let (value, displayable) = match raw {
            Value::Object(o) => {
                let displayable = match o.get("isDisplayable").or_else(|| o.get("isdisplayable")) {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return Err(Error::field(
                            Code::InvalidField,
                            format!("{path}.isDisplayable"),
                            "must be a boolean",
                        ));
                    }
                };
                (o.get("value").cloned().unwrap_or(Value::Null), displayable)
            }
            other => (other.clone(), false),
        };
        let value = match value {
            Value::Null if matches!(raw, Value::Null) => None,
            Value::String(s) => Some(ContextValue::Text(
                VariableValue::parse(s).map_err(|e| field_error(&format!("{path}.value"), &e))?,
            )),
            Value::Number(n) => Some(ContextValue::Number(n.as_f64().unwrap_or_default())),
            Value::Bool(b) => Some(ContextValue::Text(VariableValue::from_stored(b.to_string()))),
            _ => {
                return Err(Error::field(
                    Code::InvalidField,
                    format!("{path}.value"),
                    "a context value is text, a number or a boolean",
                ));
            }
        };
        out.insert(key, value.map(|value| ContextVariableIn { value, displayable }));
    }
    Ok(ContextPatch(out))
}

/// The activity as the ingest service takes it, checked against the caller's channel (the `channel-id` header)
/// and the path's conversation.
pub fn parse_activity(channel: ChannelId, conversation: ConversationId, a: ActivityIn) -> Result<Inbound, Error> {
    if a.kind.chars().count() > MAX_ACTIVITY_FIELD {
        return Err(too_long("type", MAX_ACTIVITY_FIELD));
    }
    if let Some(given) = &a.channel_id
        && given.parse::<ChannelId>().ok() != Some(channel)
    {
        return Err(Error::field(Code::InvalidField, "channelId", "`channelId` must equal the `channel-id` header"));
    }
    if let Some(given) = a.conversation.as_ref().and_then(|c| c.id.as_ref())
        && given.parse::<ConversationId>().ok() != Some(conversation)
    {
        return Err(Error::field(Code::InvalidField, "conversation.id", "`conversation.id` must equal the path's id"));
    }
    let from = a.from.unwrap_or_default();
    for (value, field) in [(&from.id, "from.id"), (&from.name, "from.name"), (&a.id, "id")] {
        if value.as_ref().is_some_and(|v| v.chars().count() > MAX_ACTIVITY_FIELD) {
            return Err(too_long(field, MAX_ACTIVITY_FIELD));
        }
    }
    let act = match a.kind.as_str() {
        "message" => {
            if a.attachments.len() > limits::MAX_ATTACHMENTS {
                return Err(Error::field(
                    Code::TooManyAttachments,
                    "attachments",
                    format!("at most {} attachments per message", limits::MAX_ATTACHMENTS),
                ));
            }
            let text = a.text.map(MessageText::into_inner).filter(|t| !t.is_empty());
            if text.is_none() && a.attachments.is_empty() {
                return Err(Error::new(Code::EmptyMessage, "a message needs `text` or at least one attachment"));
            }
            let mut attachments = Vec::new();
            for (i, att) in a.attachments.into_iter().enumerate() {
                let name = att.name.map(ShortText::into_inner);
                attachments.push(match decode_embedded(&att.content_url, att.content_type.as_str()) {
                    None => {
                        Attachment::Link { content_type: att.content_type.into_inner(), url: att.content_url, name }
                    }
                    Some(Err(detail)) => {
                        return Err(Error::field(Code::InvalidField, format!("attachments[{i}].contentUrl"), detail));
                    }
                    Some(Ok((content_type, bytes))) => Attachment::Embedded { content_type, name, bytes },
                });
            }
            let automated = a
                .channel_data
                .as_ref()
                .and_then(|d| d.get("messagingapi-oc"))
                .and_then(|d| d.get("type"))
                .and_then(Value::as_str)
                == Some("AutomatedMessage");
            Act::Message { text, attachments, automated }
        }
        "typing" => Act::Typing,
        "endOfConversation" => Act::End,
        "event" => {
            let data = a.channel_data.unwrap_or(Value::Null);
            let custom = data.get("customEvent").and_then(Value::as_bool) == Some(true);
            let name = data.get("customEventName").and_then(Value::as_str).or(a.name.as_deref());
            if !custom || name.is_none_or(str::is_empty) {
                return Err(Error::field(
                    Code::UnsupportedActivity,
                    "name",
                    "the supported events are custom events: `channelData.customEvent: true` with a `customEventName`",
                ));
            }
            match data.get("customEventValue") {
                None | Some(Value::Null) => Act::Context(ContextPatch::default()),
                Some(Value::String(raw)) => {
                    let map: serde_json::Map<String, Value> = serde_json::from_str(raw).map_err(|_| {
                        Error::field(
                            Code::InvalidField,
                            "channelData.customEventValue",
                            "`customEventValue` must hold a JSON object of variables",
                        )
                    })?;
                    Act::Context(compat_context(&map, "channelData.customEventValue")?)
                }
                Some(_) => {
                    return Err(Error::field(
                        Code::InvalidField,
                        "channelData.customEventValue",
                        "`customEventValue` is a JSON-encoded string",
                    ));
                }
            }
        }
        other => {
            return Err(Error::field(
                Code::UnsupportedActivity,
                "type",
                format!("`{other}` is not a supported activity type (message, typing, endOfConversation, event)"),
            ));
        }
    };
    Ok(Inbound {
        provider_message_id: a.id,
        thread: Thread::Conversation(conversation.to_string()),
        customer: CustomerIn::default(),
        sender_id: from.id,
        sender_name: from.name,
        act,
        reply_to: None,
    })
}
