//! A checked activity turned into what the ingest service stores: a message, typing, the end, or a bot's escalation
//! (the `handoff.initiate` event, or the `Escalate` command in `channelData.tags`, §4.2).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use switchboard_domain::{
    Code,
    contact::CustomerIn,
    context::{ContextPatch, ContextValue, ContextVariableIn, VariableName},
    limits,
    text::{CustomerField, HttpUrl},
};

use super::activity::{Activity, ActivityAttachment, ParseError};
use crate::inbound::{Act, Attachment, Inbound, Thread};

/// The content type of an attachment that names none.
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// What the activity asks of Switchboard, or `Ok(None)` for activity types it has no use for
/// (`conversationUpdate`, `installationUpdate`, `messageReaction`, `invoke`, events other than `handoff.initiate`…).
///
/// A message's attachments with a `contentUrl` become links (`data:` URLs become the bytes they carry); inline
/// cards (`content` without a URL) are kept as a line of text each, appended to the message's text while it stays
/// within the message limit, so that an agent sees that a card was sent and what it said.
///
/// Context passed by a bot (the `Escalate` tag's `context`, the `handoff.initiate` event's `value`) keeps its
/// top-level text, number and boolean values (booleans as text), displayable to agents; `null` removes a variable;
/// nested objects and arrays are left out.
pub fn to_inbound(a: Activity) -> Result<Option<Inbound>, ParseError> {
    let command = match a.kind.as_str() {
        "message" | "event" => tag_command(a.channel_data.as_ref())?,
        _ => None,
    };
    let act = match (a.kind.as_str(), command) {
        (_, Some(Act::Escalate { context })) => Act::Escalate { context: with_summary(context, a.text.as_deref())? },
        (_, Some(act)) => act,
        ("message", None) => message(&a)?,
        ("typing", None) => Act::Typing,
        ("endOfConversation", None) => Act::End,
        ("event", None) if a.name.as_deref() == Some("handoff.initiate") => {
            let source = match &a.value {
                Some(Value::Object(_)) => a.value.as_ref(),
                _ => a.channel_data.as_ref(),
            };
            let context = match source {
                Some(Value::Object(map)) => context_patch(map, "value")?,
                _ => ContextPatch::default(),
            };
            Act::Escalate { context: with_summary(context, a.text.as_deref())? }
        }
        _ => return Ok(None),
    };
    let service_url = a.service_url.as_deref().ok_or_else(|| ParseError::missing("serviceUrl"))?;
    HttpUrl::parse(service_url).map_err(|m| ParseError::coded("serviceUrl", &m))?;
    let channel_id =
        a.channel_id.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| ParseError::missing("channelId"))?;
    let conversation = a.conversation.as_ref().ok_or_else(|| ParseError::missing("conversation.id"))?;
    let conversation_id =
        conversation.id.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| ParseError::missing("conversation.id"))?;
    let from = a.from.as_ref().ok_or_else(|| ParseError::missing("from.id"))?;
    let from_id = from.id.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| ParseError::missing("from.id"))?;
    let customer_id = CustomerField::parse(from_id).map_err(|m| ParseError::coded("from.id", &m))?;
    let from_name = from.name.as_deref().filter(|n| !n.trim().is_empty());
    let preferred_name =
        from_name.map(CustomerField::parse).transpose().map_err(|m| ParseError::coded("from.name", &m))?;
    let reply_to = json!({
        "serviceUrl": service_url,
        "channelId": channel_id,
        "conversation": conversation,
        "bot": a.recipient,
        "user": from,
        "activityId": a.id,
    });
    Ok(Some(Inbound {
        provider_message_id: a.id.clone().filter(|i| !i.is_empty()),
        thread: Thread::External(conversation_id.to_string()),
        customer: CustomerIn { customer_id: Some(customer_id), preferred_name, ..CustomerIn::default() },
        sender_id: Some(from_id.to_string()),
        sender_name: from_name.map(str::to_string),
        act,
        reply_to: Some(reply_to),
    }))
}

/// The command a bot put in `channelData.tags`: a serialized JSON string (as Dynamics documents it) or an object.
/// Other tags (Dynamics' own are comma-separated words) are not commands.
fn tag_command(channel_data: Option<&Value>) -> Result<Option<Act>, ParseError> {
    let tags = match channel_data.and_then(|d| d.get("tags")) {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => return Ok(None),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Ok(None),
    };
    match tags.get("type").and_then(Value::as_str) {
        Some("Escalate") => {
            let context = match tags.get("context") {
                Some(Value::Object(map)) => context_patch(map, "channelData.tags.context")?,
                _ => ContextPatch::default(),
            };
            Ok(Some(Act::Escalate { context }))
        }
        Some("EndConversation") => Ok(Some(Act::End)),
        _ => Ok(None),
    }
}

/// The context variable an escalation's text is kept in: §4.2 makes it a summary only the agent sees, and the
/// conversation's context is shown to agents, never to the customer.
pub const ESCALATION_SUMMARY: &str = "EscalationSummary";

/// An escalation's context with the activity's text as its summary, when it has one.
fn with_summary(mut context: ContextPatch, text: Option<&str>) -> Result<ContextPatch, ParseError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(context) };
    let value = switchboard_domain::text::VariableValue::parse(text).map_err(|m| ParseError::coded("text", &m))?;
    let name = VariableName::parse(ESCALATION_SUMMARY).map_err(|m| ParseError::coded("text", &m))?;
    context.0.insert(name, Some(ContextVariableIn { value: ContextValue::Text(value), displayable: true }));
    ContextPatch::try_from(context.0).map_err(|m| ParseError::coded("channelData.tags.context", &m))
}

fn context_patch(map: &Map<String, Value>, field: &str) -> Result<ContextPatch, ParseError> {
    let mut patch = BTreeMap::new();
    for (name, value) in map {
        let value = match value {
            Value::String(s) => Some(ContextValue::Text(
                switchboard_domain::text::VariableValue::parse(s.as_str())
                    .map_err(|m| ParseError::coded(&format!("{field}.{name}"), &m))?,
            )),
            Value::Number(n) => match n.as_f64() {
                Some(f) => Some(ContextValue::Number(f)),
                None => continue,
            },
            Value::Bool(b) => {
                Some(ContextValue::Text(switchboard_domain::text::VariableValue::from_stored(b.to_string())))
            }
            Value::Null => None,
            Value::Array(_) | Value::Object(_) => continue,
        };
        let name = VariableName::parse(name.as_str()).map_err(|m| ParseError::coded(field, &m))?;
        patch.insert(name, value.map(|value| ContextVariableIn { value, displayable: true }));
    }
    ContextPatch::try_from(patch).map_err(|m| ParseError::coded(field, &m))
}

fn message(a: &Activity) -> Result<Act, ParseError> {
    let mut text = a.text.clone().filter(|t| !t.trim().is_empty());
    let mut attachments = Vec::new();
    for (i, att) in a.attachments.iter().flatten().enumerate() {
        match att.content_url.as_deref() {
            Some(url) => attachments.push(attachment(att, url, i)?),
            None => {
                if let Some(line) = card_summary(att) {
                    append_line(&mut text, &line);
                }
            }
        }
    }
    let automated = matches!(a.from.as_ref().and_then(|f| f.role.as_deref()), Some("bot" | "skill"));
    Ok(Act::Message { text, attachments, automated })
}

fn attachment(att: &ActivityAttachment, url: &str, i: usize) -> Result<Attachment, ParseError> {
    let field = format!("attachments[{i}].contentUrl");
    let declared = att.content_type.clone().filter(|t| !t.is_empty());
    let name = att.name.clone().filter(|n| !n.is_empty());
    if let Some(data) = url.strip_prefix("data:") {
        // `data:[<type>][;base64],<payload>`: Web Chat sends small uploads this way.
        let (meta, payload) = data
            .split_once(',')
            .ok_or_else(|| ParseError::new(Code::InvalidField, Some(&field), "a data: URL needs a comma"))?;
        let (media, is_base64) = match meta.strip_suffix(";base64") {
            Some(media) => (media, true),
            None => (meta, false),
        };
        if !is_base64 {
            return Err(ParseError::new(Code::InvalidField, Some(&field), "only base64 data: URLs are accepted"));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|_| ParseError::new(Code::InvalidField, Some(&field), "the data: URL is not valid base64"))?;
        let media = media.split(';').next().unwrap_or_default();
        let content_type = declared
            .or_else(|| (!media.is_empty()).then(|| media.to_string()))
            .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string());
        if content_type.chars().count() > limits::MAX_SHORT_FIELD {
            return Err(ParseError::too_long(&field, limits::MAX_SHORT_FIELD));
        }
        return Ok(Attachment::Embedded { content_type, name, bytes });
    }
    let url = HttpUrl::parse(url).map_err(|m| ParseError::coded(&field, &m))?;
    Ok(Attachment::Link {
        content_type: declared.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
        url: url.as_str().to_string(),
        name,
    })
}

/// One line saying what an inline card showed: a hero or thumbnail card's title, subtitle and text, an adaptive
/// card's `fallbackText` or `speak`, else only its kind.
fn card_summary(att: &ActivityAttachment) -> Option<String> {
    let content_type = att.content_type.as_deref().unwrap_or("card");
    let kind = content_type.rsplit('.').next().unwrap_or(content_type);
    let content = att.content.as_ref()?;
    let field = |k: &str| content.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let parts: Vec<&str> = ["title", "subtitle", "text"].into_iter().filter_map(field).collect();
    let said = if parts.is_empty() {
        field("fallbackText").or_else(|| field("speak")).map(str::to_string)
    } else {
        Some(parts.join(" — "))
    };
    Some(match said {
        Some(s) => format!("[{kind}] {s}"),
        None => format!("[{kind}]"),
    })
}

/// Appends `line`, or as much of it as fits under the message limit.
fn append_line(text: &mut Option<String>, line: &str) {
    let current = text.as_deref().map_or(0, |t| t.chars().count());
    let sep = usize::from(current > 0);
    let room = limits::MAX_MESSAGE_TEXT.saturating_sub(current + sep);
    if room == 0 {
        return;
    }
    let line: String = line.chars().take(room).collect();
    match text {
        Some(t) if !t.is_empty() => {
            t.push('\n');
            t.push_str(&line);
        }
        _ => *text = Some(line),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bot_framework::activity::parse_activity;

    fn inbound(v: Value) -> Result<Option<Inbound>, ParseError> {
        to_inbound(parse_activity(v.to_string().as_bytes())?)
    }

    fn base(kind: &str) -> Value {
        json!({
            "type": kind,
            "id": "act-1",
            "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "channelId": "msteams",
            "from": {"id": "29:1user", "name": "Ada Lovelace", "aadObjectId": "00000000-0000-0000-0000-000000000001"},
            "recipient": {"id": "28:app-id", "name": "Switchboard"},
            "conversation": {"id": "a:1conv", "conversationType": "personal", "tenantId": "t-1"},
        })
    }

    fn with(mut v: Value, extra: Value) -> Value {
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    fn act(v: Value) -> Act {
        inbound(v).unwrap().unwrap().act
    }

    fn var(name: &str, value: ContextValue) -> (VariableName, Option<ContextVariableIn>) {
        (VariableName::parse(name).unwrap(), Some(ContextVariableIn { value, displayable: true }))
    }

    fn text(s: &str) -> ContextValue {
        ContextValue::Text(switchboard_domain::text::VariableValue::parse(s).unwrap())
    }

    #[test]
    fn a_message_keeps_thread_sender_customer_and_where_to_answer() {
        let v = with(
            base("message"),
            json!({"text": "Hello", "attachments": [
                {"contentType": "image/png", "contentUrl": "https://smba.trafficmanager.net/att/1", "name": "a.png"},
                {"contentUrl": "data:text/plain;base64,aGk="},
            ]}),
        );
        let i = inbound(v).unwrap().unwrap();
        assert_eq!(i.thread, Thread::External("a:1conv".into()));
        assert_eq!(i.provider_message_id.as_deref(), Some("act-1"));
        assert_eq!((i.sender_id.as_deref(), i.sender_name.as_deref()), (Some("29:1user"), Some("Ada Lovelace")));
        assert_eq!(i.customer.customer_id.as_ref().map(CustomerField::as_str), Some("29:1user"));
        assert_eq!(i.customer.preferred_name.as_ref().map(CustomerField::as_str), Some("Ada Lovelace"));
        assert_eq!(
            i.act,
            Act::Message {
                text: Some("Hello".into()),
                attachments: vec![
                    Attachment::Link {
                        content_type: "image/png".into(),
                        url: "https://smba.trafficmanager.net/att/1".into(),
                        name: Some("a.png".into())
                    },
                    Attachment::Embedded { content_type: "text/plain".into(), name: None, bytes: b"hi".to_vec() },
                ],
                automated: false,
            }
        );
        assert_eq!(
            i.reply_to,
            Some(json!({
                "serviceUrl": "https://smba.trafficmanager.net/emea/",
                "channelId": "msteams",
                "conversation": {"id": "a:1conv", "conversationType": "personal", "tenantId": "t-1"},
                "bot": {"id": "28:app-id", "name": "Switchboard"},
                "user": {"id": "29:1user", "name": "Ada Lovelace", "aadObjectId": "00000000-0000-0000-0000-000000000001"},
                "activityId": "act-1",
            }))
        );
    }

    #[test]
    fn inline_cards_become_lines_of_text() {
        let v = with(
            base("message"),
            json!({"attachments": [
                {"contentType": "application/vnd.microsoft.card.hero", "content": {"title": "Plans", "text": "Pick one"}},
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "fallbackText": "Rate us"}},
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard"}},
            ]}),
        );
        let Act::Message { text, attachments, .. } = act(v) else { panic!("not a message") };
        assert_eq!(text.as_deref(), Some("[hero] Plans — Pick one\n[adaptive] Rate us\n[adaptive]"));
        assert!(attachments.is_empty());
        let v = with(
            base("message"),
            json!({"text": "x".repeat(5_995), "attachments": [{"contentType": "a.hero", "content": {"title": "long title"}}]}),
        );
        let Act::Message { text, .. } = act(v) else { panic!("not a message") };
        assert_eq!(text.map(|t| t.chars().count()), Some(6_000), "summaries stop at the message limit");
    }

    #[test]
    fn typing_end_and_ignored_types() {
        assert_eq!(act(base("typing")), Act::Typing);
        assert_eq!(act(with(base("endOfConversation"), json!({"code": "userCancelled"}))), Act::End);
        for kind in ["conversationUpdate", "installationUpdate", "messageReaction", "invoke", "trace", "handoff"] {
            assert_eq!(inbound(base(kind)).unwrap(), None, "{kind}");
        }
        assert_eq!(inbound(with(base("event"), json!({"name": "webchat/join"}))).unwrap(), None);
        assert_eq!(
            inbound(json!({"type": "conversationUpdate", "membersAdded": [{"id": "x"}]})).unwrap(),
            None,
            "ignored activities need nothing else"
        );
        let bot = with(base("message"), json!({"text": "hi", "from": {"id": "28:other-bot", "role": "bot"}}));
        assert!(matches!(act(bot), Act::Message { automated: true, .. }));
    }

    #[test]
    fn escalation_by_event_and_by_tag() {
        let v = with(
            base("event"),
            json!({"name": "handoff.initiate", "value": {"Topic": "CreditCard", "Attempts": 2, "Vip": true, "Old": null, "Nested": {"x": 1}},
                   "attachments": [{"contentType": "application/vnd.microsoft.activities.transcript", "content": []}]}),
        );
        let expected: BTreeMap<_, _> = [
            var("Topic", text("CreditCard")),
            var("Attempts", ContextValue::Number(2.0)),
            var("Vip", text("true")),
            (VariableName::parse("Old").unwrap(), None),
        ]
        .into_iter()
        .collect();
        assert_eq!(act(v), Act::Escalate { context: ContextPatch(expected) });
        let from_channel_data =
            with(base("event"), json!({"name": "handoff.initiate", "channelData": {"Skill": "billing"}}));
        let expected: BTreeMap<_, _> = [var("Skill", text("billing"))].into_iter().collect();
        assert_eq!(act(from_channel_data), Act::Escalate { context: ContextPatch(expected.clone()) });

        let serialized = json!({"type": "Escalate", "context": {"Skill": "billing"}}).to_string();
        let tag = with(base("message"), json!({"text": "Summary for the agent", "channelData": {"tags": serialized}}));
        let mut summarized = expected.clone();
        summarized.extend([var(ESCALATION_SUMMARY, text("Summary for the agent"))]);
        assert_eq!(act(tag), Act::Escalate { context: ContextPatch(summarized) });
        let object = with(
            base("message"),
            json!({"channelData": {"tags": {"type": "Escalate", "context": {"Skill": "billing"}}}}),
        );
        assert_eq!(act(object), Act::Escalate { context: ContextPatch(expected) });
        let end =
            with(base("message"), json!({"channelData": {"tags": "{\"type\":\"EndConversation\",\"context\":{}}"}}));
        assert_eq!(act(end), Act::End);
        let words = with(base("message"), json!({"text": "hi", "channelData": {"tags": "ChannelId-lcw,Hidden"}}));
        assert!(matches!(act(words), Act::Message { .. }), "Dynamics' word tags are not commands");
    }

    #[test]
    fn bad_activities_name_the_field() {
        let refused = |v: Value| {
            let e = inbound(v).unwrap_err();
            (e.reason(), e.field.unwrap_or_default())
        };
        let mut v = base("message");
        v.as_object_mut().unwrap().remove("serviceUrl");
        assert_eq!(refused(v), ("missing_field", "serviceUrl".into()));
        assert_eq!(
            refused(with(base("message"), json!({"serviceUrl": "ftp://x"}))),
            ("invalid_field", "serviceUrl".into())
        );
        assert_eq!(refused(with(base("message"), json!({"channelId": ""}))), ("missing_field", "channelId".into()));
        assert_eq!(
            refused(with(base("typing"), json!({"conversation": {}}))),
            ("missing_field", "conversation.id".into())
        );
        assert_eq!(refused(with(base("message"), json!({"from": {"name": "x"}}))), ("missing_field", "from.id".into()));
        assert_eq!(
            refused(with(base("message"), json!({"from": {"id": "u".repeat(201)}}))),
            ("field_too_long", "from.id".into())
        );
        assert_eq!(
            refused(with(base("message"), json!({"attachments": [{"contentUrl": "javascript:alert(1)"}]}))),
            ("invalid_field", "attachments[0].contentUrl".into())
        );
        assert_eq!(
            refused(with(base("message"), json!({"attachments": [{"contentUrl": "data:text/plain,hi"}]}))),
            ("invalid_field", "attachments[0].contentUrl".into())
        );
        let hundred_one: Map<String, Value> = (0..101).map(|i| (format!("v{i}"), json!("x"))).collect();
        let tag = json!({"type": "Escalate", "context": hundred_one}).to_string();
        assert_eq!(
            refused(with(base("message"), json!({"channelData": {"tags": tag}}))).0,
            "too_many_context_variables"
        );
        let tag = json!({"type": "Escalate", "context": {" padded ": "x"}}).to_string();
        assert_eq!(refused(with(base("message"), json!({"channelData": {"tags": tag}}))).0, "invalid_field");
        let tag = json!({"type": "Escalate", "context": {"long": "x".repeat(4_001)}}).to_string();
        assert_eq!(
            refused(with(base("message"), json!({"channelData": {"tags": tag}}))),
            ("field_too_long", "channelData.tags.context.long".into())
        );
    }
}
