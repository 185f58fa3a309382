//! Direct Line 3.0: the activity a Direct Line client (`botframework-directlinejs`, Bot Framework Web Chat) posts to
//! `POST /v3/directline/conversations/{id}/activities`, or puts in the `activity` part of an upload, parsed into an
//! [`Inbound`]. The client sends many fields this server has no use for (`timestamp`, `locale`, `entities`, …):
//! they are ignored, as the real service ignores what its bot does not read.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use switchboard_domain::{
    Code, Error,
    contact::CustomerIn,
    context::{ContextPatch, ContextValue, ContextVariableIn, VariableName},
    text::{CustomerField, MessageText, VariableValue, field_error},
};

use crate::inbound::{Act, Attachment, Inbound, Thread};

/// The longest id or name a client may give (`from.id`, `from.name`, an activity id): the channel's string limit.
pub const MAX_ID: usize = 256;
/// The largest activity the service accepts, as the real one does (about 256 KB).
pub const MAX_ACTIVITY_BYTES: usize = 256 * 1024;

/// A posted activity as the client writes it (camelCase; only the fields read here).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityIn {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    from: Option<AccountIn>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Option<Vec<AttachmentIn>>,
    #[serde(default)]
    channel_data: Option<Value>,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct AccountIn {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttachmentIn {
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content_url: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// A posted activity, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub inbound: Inbound,
    /// Web Chat's `channelData.clientActivityID`: echoed back on the stored activity, which is how Web Chat tells
    /// that its pending message was received.
    pub client_activity_id: Option<String>,
}

fn bounded(field: &str, value: Option<String>) -> Result<Option<String>, Error> {
    match value {
        Some(v) if v.chars().count() > MAX_ID => {
            Err(Error::field(Code::FieldTooLong, field, format!("`{field}` is longer than {MAX_ID} characters")))
        }
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Parses the JSON body of a posted activity for the conversation `conversation_id`. `bound_user` is the user id
/// the client's token was issued for, if any: an activity from anyone else is refused. `multipart` is true for the
/// `activity` part of an upload, whose files are the attachments (the part's own `attachments` only describe them).
pub fn parse(conversation_id: &str, body: &[u8], bound_user: Option<&str>, multipart: bool) -> Result<Posted, Error> {
    if body.len() > MAX_ACTIVITY_BYTES {
        return Err(Error::new(Code::PayloadTooLarge, format!("an activity is at most {MAX_ACTIVITY_BYTES} bytes")));
    }
    let a: ActivityIn = serde_json::from_slice(body)
        .map_err(|e| Error::new(Code::InvalidJson, format!("the activity is not valid JSON: {e}")))?;
    let from = a.from.ok_or_else(|| Error::field(Code::MissingField, "from", "`from.id` is required"))?;
    let sender_id = bounded("from.id", from.id)?
        .ok_or_else(|| Error::field(Code::MissingField, "from.id", "`from.id` is required"))?;
    if bound_user.is_some_and(|u| u != sender_id) {
        return Err(Error::field(Code::InvalidField, "from.id", "`from.id` is not the user this token was issued for"));
    }
    let sender_name = bounded("from.name", from.name)?;
    let client_activity_id =
        a.channel_data.as_ref().and_then(|d| d.get("clientActivityID")).and_then(Value::as_str).map(str::to_string);
    let client_activity_id = bounded("channelData.clientActivityID", client_activity_id)?;
    let provider_message_id = bounded("id", a.id)?.or_else(|| client_activity_id.clone());
    let kind = a.kind.ok_or_else(|| Error::field(Code::MissingField, "type", "`type` is required"))?;
    let act = match kind.as_str() {
        "message" => message(a.text, a.attachments.unwrap_or_default(), multipart)?,
        "typing" => Act::Typing,
        "endOfConversation" => Act::End,
        "event" => Act::Context(event_context(a.value, a.channel_data)?),
        other => {
            return Err(Error::field(
                Code::InvalidField,
                "type",
                format!("`{other}` activities are not accepted; send message, typing, endOfConversation or event"),
            ));
        }
    };
    let mut customer = CustomerIn::default();
    if let Some(name) = &sender_name {
        customer.preferred_name = Some(CustomerField::parse(name.clone()).map_err(|e| field_error("from.name", &e))?);
    }
    Ok(Posted {
        inbound: Inbound {
            provider_message_id,
            thread: Thread::Conversation(conversation_id.to_string()),
            customer,
            sender_id: Some(sender_id),
            sender_name,
            act,
            reply_to: None,
        },
        client_activity_id,
    })
}

fn message(text: Option<String>, attachments: Vec<AttachmentIn>, multipart: bool) -> Result<Act, Error> {
    let text = text.filter(|t| !t.trim().is_empty());
    if let Some(t) = &text {
        MessageText::parse(t.clone()).map_err(|e| field_error("text", &e))?;
    }
    let mut links = Vec::new();
    if !multipart {
        for (i, at) in attachments.into_iter().enumerate() {
            let field = format!("attachments[{i}]");
            let url = at.content_url.ok_or_else(|| {
                Error::field(Code::MissingField, format!("{field}.contentUrl"), "an attachment needs a `contentUrl`")
            })?;
            let content_type = at.content_type.unwrap_or_else(|| "application/octet-stream".into());
            links.push(Attachment::Link { content_type, url, name: at.name });
        }
    }
    if text.is_none() && links.is_empty() && !multipart {
        return Err(Error::new(Code::EmptyMessage, "a message needs `text` or at least one attachment"));
    }
    Ok(Act::Message { text, attachments: links, automated: false })
}

/// An `event` sets context variables: those of its `value` (an object), or of `channelData.conversationcontext`, as
/// the "bring your own channel" relay sends them. An event with neither changes nothing.
fn event_context(value: Option<Value>, channel_data: Option<Value>) -> Result<ContextPatch, Error> {
    let from_data = channel_data.and_then(|d| d.get("conversationcontext").cloned());
    let (field, source) = match (value, from_data) {
        (Some(Value::Object(v)), _) => ("value", v),
        (_, Some(Value::Object(v))) => ("channelData.conversationcontext", v),
        _ => return Ok(ContextPatch::default()),
    };
    let mut out = BTreeMap::new();
    for (key, v) in source {
        let at = format!("{field}.{key}");
        let name = VariableName::parse(key).map_err(|e| field_error(&at, &e))?;
        let value = match v {
            Value::Null => {
                out.insert(name, None);
                continue;
            }
            Value::Number(n) => ContextValue::Number(n.as_f64().unwrap_or_default()),
            Value::String(s) => ContextValue::Text(VariableValue::parse(s).map_err(|e| field_error(&at, &e))?),
            Value::Bool(b) => {
                ContextValue::Text(VariableValue::parse(b.to_string()).map_err(|e| field_error(&at, &e))?)
            }
            _ => return Err(Error::field(Code::InvalidField, at, "a context value is a string, number or boolean")),
        };
        out.insert(name, Some(ContextVariableIn { value, displayable: true }));
    }
    ContextPatch::try_from(out).map_err(|e| field_error(field, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: serde_json::Value) -> Result<Posted, Error> {
        parse("c1", body.to_string().as_bytes(), None, false)
    }

    #[test]
    fn a_web_chat_message_keeps_its_sender_and_client_activity_id() {
        let p = parsed(serde_json::json!({
            "type": "message", "text": "hi", "from": { "id": "u1", "name": "Una", "role": "user" },
            "locale": "en-US", "timestamp": "2026-01-01T00:00:00Z", "channelData": { "clientActivityID": "abc" },
        }))
        .unwrap();
        assert_eq!(p.client_activity_id.as_deref(), Some("abc"));
        assert_eq!(p.inbound.provider_message_id.as_deref(), Some("abc"));
        assert_eq!(p.inbound.sender_id.as_deref(), Some("u1"));
        assert_eq!(p.inbound.thread, Thread::Conversation("c1".into()));
        assert_eq!(p.inbound.act, Act::Message { text: Some("hi".into()), attachments: vec![], automated: false });
    }

    #[test]
    fn bad_activities_are_refused_with_stable_codes() {
        let code = |v: serde_json::Value| parsed(v).unwrap_err().code;
        assert_eq!(code(serde_json::json!({ "type": "message", "text": "hi" })), Code::MissingField);
        assert_eq!(code(serde_json::json!({ "type": "message", "from": { "id": "u" } })), Code::EmptyMessage);
        assert_eq!(code(serde_json::json!({ "type": "invoke", "from": { "id": "u" } })), Code::InvalidField);
        assert_eq!(code(serde_json::json!({ "from": { "id": "u" } })), Code::MissingField);
        assert_eq!(parse("c", b"{", None, false).unwrap_err().code, Code::InvalidJson);
        let other = parse("c", br#"{"type":"typing","from":{"id":"x"}}"#, Some("u"), false);
        assert_eq!(other.unwrap_err().code, Code::InvalidField);
    }

    #[test]
    fn events_set_context_and_other_types_map_to_acts() {
        let p = parsed(serde_json::json!({ "type": "event", "name": "ctx", "from": { "id": "u" },
            "value": { "product": "XBox", "tier": 3 } }))
        .unwrap();
        let Act::Context(patch) = p.inbound.act else { panic!("not context") };
        assert_eq!(patch.0.len(), 2);
        assert_eq!(
            parsed(serde_json::json!({ "type": "typing", "from": { "id": "u" } })).unwrap().inbound.act,
            Act::Typing
        );
        let end = parsed(serde_json::json!({ "type": "endOfConversation", "from": { "id": "u" } })).unwrap();
        assert_eq!(end.inbound.act, Act::End);
    }
}
