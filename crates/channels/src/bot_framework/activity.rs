//! The Bot Framework Activity as the Connector service posts it to a bot's messaging endpoint
//! (`contact-center-spec.md` §4.3), with the bounds Switchboard holds it to before anything else reads it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_domain::{Code, Error, limits};

/// The largest activity accepted. The service's own limit is about 256 KB (§4.5).
pub const MAX_ACTIVITY_BYTES: usize = 256 * 1024;
/// Characters in an activity's `id`, `type` and `name`.
pub const MAX_ACTIVITY_FIELD: usize = 256;
/// Characters in a conversation id. Teams' channel-thread ids (`19:…@thread.tacv2;messageid=…`) run past 100, so
/// this is looser than the short fields.
pub const MAX_CONVERSATION_ID: usize = 1_024;

/// One activity. Fields Switchboard does not read are accepted and dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// Empty when the body has none, which [`parse_activity`] refuses as a missing field.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<ActivityAttachment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Value>>,
    /// Opaque, channel-specific. Dynamics' own relay writes it `channeldata` (§4.1), hence the alias.
    #[serde(default, alias = "channeldata", skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `from` and `recipient`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `user`, `bot` or `skill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
}

/// `conversation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// One entry of `attachments`: a file by URL, or a card inline in `content`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityAttachment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// Why an activity was refused. `reason()` is one of the stable codes of the error catalogue, so that the ingest
/// service answers it as every other bad input is answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", code.as_str())]
pub struct ParseError {
    pub code: Code,
    /// The activity's field the error is about (`text`, `attachments[2].contentUrl`), when there is one.
    pub field: Option<String>,
    pub detail: String,
}

impl ParseError {
    pub fn new(code: Code, field: Option<&str>, detail: impl Into<String>) -> Self {
        Self { code, field: field.map(str::to_string), detail: detail.into() }
    }

    /// The stable reason: `payload_too_large`, `invalid_json`, `invalid_body`, `missing_field`, `field_too_long`,
    /// `invalid_field`, `message_too_long`, `too_many_attachments` or `too_many_context_variables`.
    pub fn reason(&self) -> &'static str {
        self.code.as_str()
    }

    pub(crate) fn missing(field: &str) -> Self {
        Self::new(Code::MissingField, Some(field), format!("the activity has no `{field}`"))
    }

    pub(crate) fn too_long(field: &str, max: usize) -> Self {
        Self::new(Code::FieldTooLong, Some(field), format!("`{field}` must be at most {max} characters"))
    }

    /// A domain parser's coded message (`field_too_long: …`), kept with its code.
    pub(crate) fn coded(field: &str, message: &str) -> Self {
        match switchboard_domain::text::split_coded(message) {
            Some((code, detail)) => Self::new(code, Some(field), detail),
            None => Self::new(Code::InvalidField, Some(field), message),
        }
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        match e.field {
            Some(field) => Error::field(e.code, field, e.detail),
            None => Error::new(e.code, e.detail),
        }
    }
}

/// Reads one activity from a request body and holds it to the bounds: the body at most 256 KB, `id`, `type` and
/// `name` at most 256 characters, `text` at most the message limit, at most [`limits::MAX_ATTACHMENTS`]
/// attachments, each URL at most [`limits::MAX_URL`] characters (`data:` URLs, which carry the file, excepted).
pub fn parse_activity(body: &[u8]) -> Result<Activity, ParseError> {
    if body.len() > MAX_ACTIVITY_BYTES {
        return Err(ParseError::new(
            Code::PayloadTooLarge,
            None,
            format!("an activity is at most {MAX_ACTIVITY_BYTES} bytes, got {}", body.len()),
        ));
    }
    let activity: Activity = serde_json::from_slice(body).map_err(|e| {
        let code = match e.classify() {
            serde_json::error::Category::Data => Code::InvalidBody,
            _ => Code::InvalidJson,
        };
        ParseError::new(code, None, e.to_string())
    })?;
    check_bounds(&activity)?;
    Ok(activity)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn at_most(field: &str, value: Option<&str>, max: usize) -> Result<(), ParseError> {
    match value {
        Some(v) if chars(v) > max => Err(ParseError::too_long(field, max)),
        _ => Ok(()),
    }
}

fn check_bounds(a: &Activity) -> Result<(), ParseError> {
    if a.kind.is_empty() {
        return Err(ParseError::missing("type"));
    }
    at_most("type", Some(&a.kind), MAX_ACTIVITY_FIELD)?;
    at_most("id", a.id.as_deref(), MAX_ACTIVITY_FIELD)?;
    at_most("name", a.name.as_deref(), MAX_ACTIVITY_FIELD)?;
    at_most("replyToId", a.reply_to_id.as_deref(), MAX_ACTIVITY_FIELD)?;
    at_most("channelId", a.channel_id.as_deref(), MAX_ACTIVITY_FIELD)?;
    at_most("serviceUrl", a.service_url.as_deref(), limits::MAX_URL)?;
    at_most("conversation.id", a.conversation.as_ref().and_then(|c| c.id.as_deref()), MAX_CONVERSATION_ID)?;
    if let Some(text) = &a.text
        && chars(text) > limits::MAX_MESSAGE_TEXT
    {
        return Err(ParseError::new(
            Code::MessageTooLong,
            Some("text"),
            format!("`text` must be at most {} characters", limits::MAX_MESSAGE_TEXT),
        ));
    }
    let attachments = a.attachments.as_deref().unwrap_or_default();
    if attachments.len() > limits::MAX_ATTACHMENTS {
        return Err(ParseError::new(
            Code::TooManyAttachments,
            Some("attachments"),
            format!("at most {} attachments, got {}", limits::MAX_ATTACHMENTS, attachments.len()),
        ));
    }
    for (i, att) in attachments.iter().enumerate() {
        let field = |name: &str| format!("attachments[{i}].{name}");
        at_most(&field("contentType"), att.content_type.as_deref(), limits::MAX_SHORT_FIELD)?;
        at_most(&field("name"), att.name.as_deref(), limits::MAX_SHORT_FIELD)?;
        at_most(&field("thumbnailUrl"), att.thumbnail_url.as_deref(), limits::MAX_URL)?;
        if let Some(url) = att.content_url.as_deref()
            && !url.starts_with("data:")
        {
            at_most(&field("contentUrl"), Some(url), limits::MAX_URL)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Web Chat posts through the Connector, as captured from the service.
    pub(crate) const WEBCHAT_MESSAGE: &str = r#"{
        "type": "message",
        "id": "GZ8qH7cQJY1-eu|0000001",
        "timestamp": "2026-12-07T01:02:03.456Z",
        "localTimestamp": "2026-12-07T02:02:03.456+01:00",
        "serviceUrl": "https://webchat.botframework.com/",
        "channelId": "webchat",
        "from": {"id": "dl_user-1", "name": "Ada Lovelace", "role": "user"},
        "conversation": {"id": "GZ8qH7cQJY1-eu"},
        "recipient": {"id": "sb-bot@6fcd", "name": "Switchboard"},
        "textFormat": "plain",
        "locale": "en-GB",
        "text": "My card was charged twice",
        "attachments": [{"contentType": "image/png", "contentUrl": "https://webchat.botframework.com/attachments/GZ8/0/0", "name": "receipt.png"}],
        "entities": [{"type": "ClientCapabilities", "requiresBotState": true}],
        "channelData": {"clientActivityID": "1765069323456abc"},
        "somethingNew": {"the": "service may add fields"}
    }"#;

    #[test]
    fn reads_a_real_activity_and_ignores_unknown_fields() {
        let a = parse_activity(WEBCHAT_MESSAGE.as_bytes()).unwrap();
        assert_eq!(a.kind, "message");
        assert_eq!(a.service_url.as_deref(), Some("https://webchat.botframework.com/"));
        assert_eq!(a.from.as_ref().and_then(|f| f.name.as_deref()), Some("Ada Lovelace"));
        assert_eq!(a.conversation.and_then(|c| c.id).as_deref(), Some("GZ8qH7cQJY1-eu"));
        assert_eq!(a.attachments.map(|v| v.len()), Some(1));
        assert_eq!(a.text_format.as_deref(), Some("plain"));
    }

    #[test]
    fn dynamics_relay_spelling_of_channel_data_is_read() {
        let a = parse_activity(br#"{"type":"message","channeldata":{"channeltype":"messageBird"}}"#).unwrap();
        assert_eq!(a.channel_data, Some(serde_json::json!({"channeltype": "messageBird"})));
    }

    fn refused(body: &[u8]) -> (String, Option<String>) {
        let e = parse_activity(body).unwrap_err();
        (e.reason().to_string(), e.field)
    }

    #[test]
    fn every_bound_has_its_own_reason() {
        let big = format!(r#"{{"type":"message","text":"{}"}}"#, "a".repeat(MAX_ACTIVITY_BYTES));
        assert_eq!(refused(big.as_bytes()).0, "payload_too_large");
        assert_eq!(refused(b"{\"type\":").0, "invalid_json");
        assert_eq!(refused(b"[1,2]").0, "invalid_body");
        assert_eq!(refused(br#"{"type":"message","from":"someone"}"#).0, "invalid_body");
        assert_eq!(refused(br#"{"id":"1"}"#), ("missing_field".into(), Some("type".into())));
        assert_eq!(refused(br#"{"type":""}"#), ("missing_field".into(), Some("type".into())));
        let long = "x".repeat(257);
        for field in ["id", "type", "name"] {
            let body = serde_json::json!({"type": "message", field: long}).to_string();
            assert_eq!(refused(body.as_bytes()), ("field_too_long".into(), Some(field.into())));
        }
        let body = serde_json::json!({"type": "message", "id": "x".repeat(256), "text": "é".repeat(6_000)});
        assert!(parse_activity(body.to_string().as_bytes()).is_ok(), "limits count characters, inclusive");
        let body = serde_json::json!({"type": "message", "text": "é".repeat(6_001)}).to_string();
        assert_eq!(refused(body.as_bytes()), ("message_too_long".into(), Some("text".into())));
        let many: Vec<_> = (0..11).map(|i| serde_json::json!({"contentUrl": format!("https://x/{i}")})).collect();
        let body = serde_json::json!({"type": "message", "attachments": many}).to_string();
        assert_eq!(refused(body.as_bytes()).0, "too_many_attachments");
        let body = serde_json::json!({"type": "message", "attachments": [{}, {"contentUrl": "https://x/".to_string() + &"a".repeat(2_048)}]});
        assert_eq!(
            refused(body.to_string().as_bytes()),
            ("field_too_long".into(), Some("attachments[1].contentUrl".into()))
        );
        let err: Error = parse_activity(br#"{"type":""}"#).unwrap_err().into();
        assert_eq!((err.code, err.field.as_deref()), (Code::MissingField, Some("type")));
    }
}
