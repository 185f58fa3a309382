//! A WhatsApp Business Account notification, as Meta posts it to the webhook: `entry[].changes[].value` with the
//! business number's `metadata`, the customers' `contacts`, their `messages`, and the `statuses` of what the
//! business sent. One notification may carry several of each; each becomes an [`Event`].

use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_domain::{
    Code,
    contact::CustomerIn,
    limits,
    text::{CustomerField, Phone},
};

use crate::{
    bot_framework::ParseError,
    inbound::{Act, Inbound, Thread},
};

/// The largest notification read. Meta batches at most a few messages a notification; 3 MB is its own ceiling.
pub const MAX_NOTIFICATION_BYTES: usize = 3 * 1024 * 1024;
/// Ids (`wamid.…`, phone number ids, media ids) and short fields (types, statuses, emoji).
pub const MAX_ID: usize = 256;
/// Events read from one notification (Meta batches up to 1,000 statuses).
pub const MAX_EVENTS: usize = 1_000;

/// The whole notification, its events in the order Meta listed them.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub events: Vec<Event>,
}

/// One thing a notification says.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A customer wrote.
    Message(Box<MessageIn>),
    /// What became of a message the business sent.
    Status(StatusIn),
}

/// A customer's message: what the ingest service stores, and the media it names, which the server fetches from
/// the Graph API (Meta sends a media id, never the file) and adds as attachments before storing.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageIn {
    /// The business number it was sent to.
    pub phone_number_id: String,
    pub inbound: Inbound,
    pub media: Vec<MediaRef>,
    /// When the customer sent it, Unix seconds: the start of the 24-hour customer-service window.
    pub timestamp: Option<i64>,
}

/// A file the customer sent, by its media id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRef {
    /// `image`, `audio`, `video`, `document` or `sticker`.
    pub kind: String,
    pub id: String,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    /// A document's file name.
    pub filename: Option<String>,
}

/// A status of a message the business sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusIn {
    pub phone_number_id: String,
    /// The `wamid.…` the Graph API answered the send with.
    pub message_id: String,
    pub state: StatusState,
    pub recipient_id: Option<String>,
    pub timestamp: Option<i64>,
    /// Why it failed (`failed`), as Meta reports it.
    pub errors: Vec<ProviderError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Sent,
    Delivered,
    Read,
    Failed,
    /// A status Meta added after this was written (`deleted`, `warning`, …): kept, acted on by no one.
    Other,
}

/// An error as the Graph API and the webhook report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    pub details: Option<String>,
}

// The wire shapes. Everything Switchboard does not read is accepted and dropped, since Meta adds fields.

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    value: Option<ChangeValue>,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<WireContact>,
    #[serde(default)]
    messages: Vec<WireMessage>,
    #[serde(default)]
    statuses: Vec<WireStatus>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct WireContact {
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<WireText>,
    #[serde(default)]
    image: Option<WireMedia>,
    #[serde(default)]
    audio: Option<WireMedia>,
    #[serde(default)]
    video: Option<WireMedia>,
    #[serde(default)]
    document: Option<WireMedia>,
    #[serde(default)]
    sticker: Option<WireMedia>,
    #[serde(default)]
    location: Option<WireLocation>,
    #[serde(default)]
    interactive: Option<WireInteractive>,
    #[serde(default)]
    button: Option<WireButton>,
    #[serde(default)]
    reaction: Option<WireReaction>,
    #[serde(default)]
    contacts: Option<Vec<Value>>,
    #[serde(default)]
    context: Option<WireContext>,
}

#[derive(Deserialize)]
struct WireText {
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize)]
struct WireMedia {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize)]
struct WireLocation {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Deserialize)]
struct WireInteractive {
    #[serde(default)]
    button_reply: Option<WireReply>,
    #[serde(default)]
    list_reply: Option<WireReply>,
}

#[derive(Deserialize)]
struct WireReply {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct WireButton {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct WireReaction {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct WireContext {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct WireStatus {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    recipient_id: Option<String>,
    #[serde(default)]
    errors: Vec<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_data: Option<WireErrorData>,
}

#[derive(Deserialize)]
struct WireErrorData {
    #[serde(default)]
    details: Option<String>,
}

fn missing(field: &str) -> ParseError {
    ParseError::new(Code::MissingField, Some(field), format!("the notification has no `{field}`"))
}

fn bounded<'a>(field: &str, value: Option<&'a str>, max: usize) -> Result<Option<&'a str>, ParseError> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(ParseError::new(Code::FieldTooLong, Some(field), format!("`{field}` must be at most {max} characters")))
        }
        Some("") => Ok(None),
        other => Ok(other),
    }
}

fn required<'a>(field: &str, value: Option<&'a str>, max: usize) -> Result<&'a str, ParseError> {
    bounded(field, value, max)?.ok_or_else(|| missing(field))
}

/// Reads a notification. Bounds: the body at most [`MAX_NOTIFICATION_BYTES`], `object` must be
/// `whatsapp_business_account`, at most [`MAX_EVENTS`] messages and statuses, ids at most [`MAX_ID`] characters,
/// a message's text at most the message limit. Changes of fields other than `messages` (template reviews, quality
/// ratings, account updates) carry nothing for a conversation and are skipped.
pub fn parse_notification(body: &[u8]) -> Result<Notification, ParseError> {
    if body.len() > MAX_NOTIFICATION_BYTES {
        return Err(ParseError::new(
            Code::PayloadTooLarge,
            None,
            format!("a notification is at most {MAX_NOTIFICATION_BYTES} bytes, got {}", body.len()),
        ));
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        let code = match e.classify() {
            serde_json::error::Category::Data => Code::InvalidBody,
            _ => Code::InvalidJson,
        };
        ParseError::new(code, None, e.to_string())
    })?;
    match envelope.object.as_deref() {
        Some("whatsapp_business_account") => {}
        None => return Err(missing("object")),
        Some(_) => {
            return Err(ParseError::new(
                Code::InvalidField,
                Some("object"),
                "a WhatsApp webhook's `object` is `whatsapp_business_account`",
            ));
        }
    }
    let mut events = Vec::new();
    for (e, entry) in envelope.entry.into_iter().enumerate() {
        for (c, change) in entry.changes.into_iter().enumerate() {
            if change.field.as_deref().is_some_and(|f| f != "messages") {
                continue;
            }
            let Some(value) = change.value else { continue };
            let at = format!("entry[{e}].changes[{c}].value");
            if value.messages.len() + value.statuses.len() + events.len() > MAX_EVENTS {
                return Err(ParseError::new(
                    Code::InvalidBody,
                    None,
                    format!("a notification carries at most {MAX_EVENTS} messages and statuses"),
                ));
            }
            let pnid_field = format!("{at}.metadata.phone_number_id");
            let phone_number_id =
                required(&pnid_field, value.metadata.as_ref().and_then(|m| m.phone_number_id.as_deref()), MAX_ID)?
                    .to_string();
            for (m, message) in value.messages.iter().enumerate() {
                let field = format!("{at}.messages[{m}]");
                if let Some(msg) = message_in(&field, &phone_number_id, &value.contacts, message)? {
                    events.push(Event::Message(Box::new(msg)));
                }
            }
            for (s, status) in value.statuses.iter().enumerate() {
                let field = format!("{at}.statuses[{s}]");
                events.push(Event::Status(status_in(&field, &phone_number_id, status)?));
            }
        }
    }
    Ok(Notification { events })
}

fn timestamp(field: &str, raw: Option<&str>) -> Result<Option<i64>, ParseError> {
    raw.map(|t| {
        t.parse::<i64>().map_err(|_| {
            ParseError::new(Code::InvalidField, Some(field), "`timestamp` is Unix seconds, as a string of digits")
        })
    })
    .transpose()
}

fn status_in(field: &str, phone_number_id: &str, s: &WireStatus) -> Result<StatusIn, ParseError> {
    let message_id = required(&format!("{field}.id"), s.id.as_deref(), MAX_ID)?.to_string();
    let state = match required(&format!("{field}.status"), s.status.as_deref(), MAX_ID)? {
        "sent" => StatusState::Sent,
        "delivered" => StatusState::Delivered,
        "read" => StatusState::Read,
        "failed" => StatusState::Failed,
        _ => StatusState::Other,
    };
    let recipient_id =
        bounded(&format!("{field}.recipient_id"), s.recipient_id.as_deref(), MAX_ID)?.map(str::to_string);
    let errors = s
        .errors
        .iter()
        .take(limits::MAX_ATTACHMENTS)
        .map(|e| ProviderError {
            code: e.code.unwrap_or_default(),
            title: e.title.as_deref().map(clip),
            message: e.message.as_deref().map(clip),
            details: e.error_data.as_ref().and_then(|d| d.details.as_deref()).map(clip),
        })
        .collect();
    Ok(StatusIn {
        phone_number_id: phone_number_id.to_string(),
        message_id,
        state,
        recipient_id,
        timestamp: timestamp(&format!("{field}.timestamp"), s.timestamp.as_deref())?,
        errors,
    })
}

/// A provider's words kept on a message: at most a short field's length.
fn clip(s: &str) -> String {
    match s.char_indices().nth(limits::MAX_SHORT_FIELD) {
        Some((at, _)) => s[..at].to_string(),
        None => s.to_string(),
    }
}

fn message_in(
    field: &str,
    phone_number_id: &str,
    contacts: &[WireContact],
    m: &WireMessage,
) -> Result<Option<MessageIn>, ParseError> {
    let from = required(&format!("{field}.from"), m.from.as_deref(), MAX_ID)?;
    let id = required(&format!("{field}.id"), m.id.as_deref(), MAX_ID)?;
    let kind = required(&format!("{field}.type"), m.kind.as_deref(), MAX_ID)?;
    // `wa_id`s are the customer's number in international form without the `+`.
    let phone = Phone::parse(format!("+{from}")).map_err(|e| ParseError::coded(&format!("{field}.from"), &e))?;
    let name = contacts
        .iter()
        .find(|c| c.wa_id.as_deref() == Some(from))
        .or(contacts.first().filter(|_| contacts.len() == 1))
        .and_then(|c| c.profile.as_ref())
        .and_then(|p| p.name.as_deref())
        .filter(|n| !n.trim().is_empty());
    let preferred_name =
        name.map(CustomerField::parse).transpose().map_err(|e| ParseError::coded(&format!("{field}.name"), &e))?;
    let mut media = Vec::new();
    let text: Option<String> = match kind {
        "text" => m.text.as_ref().and_then(|t| t.body.clone()),
        "image" | "audio" | "video" | "document" | "sticker" => {
            let wire = match kind {
                "image" => &m.image,
                "audio" => &m.audio,
                "video" => &m.video,
                "document" => &m.document,
                _ => &m.sticker,
            };
            let wire = wire.as_ref().ok_or_else(|| missing(&format!("{field}.{kind}")))?;
            let at = |f: &str| format!("{field}.{kind}.{f}");
            media.push(MediaRef {
                kind: kind.to_string(),
                id: required(&at("id"), wire.id.as_deref(), MAX_ID)?.to_string(),
                mime_type: bounded(&at("mime_type"), wire.mime_type.as_deref(), limits::MAX_SHORT_FIELD)?
                    .map(str::to_string),
                sha256: bounded(&at("sha256"), wire.sha256.as_deref(), limits::MAX_SHORT_FIELD)?.map(str::to_string),
                filename: bounded(&at("filename"), wire.filename.as_deref(), limits::MAX_SHORT_FIELD)?
                    .map(str::to_string),
            });
            wire.caption.clone()
        }
        "location" => {
            let l = m.location.as_ref().ok_or_else(|| missing(&format!("{field}.location")))?;
            let (Some(lat), Some(long)) = (l.latitude, l.longitude) else {
                return Err(missing(&format!("{field}.location.latitude")));
            };
            let place = [l.name.as_deref(), l.address.as_deref()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            let link = format!("https://maps.google.com/?q={lat},{long}");
            Some(if place.is_empty() { format!("Location: {link}") } else { format!("Location: {place} {link}") })
        }
        "interactive" => {
            let i = m.interactive.as_ref().ok_or_else(|| missing(&format!("{field}.interactive")))?;
            let reply = i.button_reply.as_ref().or(i.list_reply.as_ref());
            let reply = reply.ok_or_else(|| missing(&format!("{field}.interactive.button_reply")))?;
            let title = reply.title.as_deref().or(reply.id.as_deref()).unwrap_or_default();
            match reply.description.as_deref().filter(|d| !d.is_empty()) {
                Some(d) => Some(format!("{title} ({d})")),
                None => Some(title.to_string()),
            }
        }
        // A quick-reply button of a template message.
        "button" => m.button.as_ref().and_then(|b| b.text.clone().or_else(|| b.payload.clone())),
        "reaction" => {
            let r = m.reaction.as_ref().ok_or_else(|| missing(&format!("{field}.reaction")))?;
            bounded(&format!("{field}.reaction.message_id"), r.message_id.as_deref(), MAX_ID)?;
            match r.emoji.as_deref().filter(|e| !e.is_empty()) {
                Some(emoji) => Some(format!("Reacted {} to a message", clip(emoji))),
                // A removed reaction: nothing an agent needs to read.
                None => return Ok(None),
            }
        }
        "contacts" => {
            let cards = m.contacts.as_deref().unwrap_or_default();
            let names: Vec<String> = cards
                .iter()
                .map(|c| {
                    let name = c.pointer("/name/formatted_name").and_then(Value::as_str).unwrap_or("a contact");
                    let phone = c.pointer("/phones/0/phone").and_then(Value::as_str);
                    match phone {
                        Some(p) => format!("{} {}", clip(name), clip(p)),
                        None => clip(name),
                    }
                })
                .collect();
            Some(format!("Shared contact: {}", names.join("; ")))
        }
        // `system` (the customer changed number), `request_welcome`: nothing the customer wrote.
        "system" | "request_welcome" => return Ok(None),
        other => Some(format!("(a WhatsApp {} message, which Switchboard does not show)", clip(other))),
    };
    let text = text.filter(|t| !t.trim().is_empty());
    if let Some(t) = &text
        && t.chars().count() > limits::MAX_MESSAGE_TEXT
    {
        return Err(ParseError::new(
            Code::MessageTooLong,
            Some(&format!("{field}.text")),
            format!("a message is at most {} characters", limits::MAX_MESSAGE_TEXT),
        ));
    }
    let reply_to = json!({
        "wa_id": from,
        "phone_number_id": phone_number_id,
        "message_id": id,
        "context_id": m.context.as_ref().and_then(|c| c.id.clone()),
    });
    Ok(Some(MessageIn {
        phone_number_id: phone_number_id.to_string(),
        inbound: Inbound {
            provider_message_id: Some(id.to_string()),
            thread: Thread::External(phone.as_str().to_string()),
            customer: CustomerIn { preferred_name, phone: Some(phone.clone()), ..CustomerIn::default() },
            sender_id: Some(from.to_string()),
            sender_name: name.map(str::to_string),
            act: Act::Message { text, attachments: Vec::new(), automated: false },
            reply_to: Some(reply_to),
        },
        media,
        timestamp: timestamp(&format!("{field}.timestamp"), m.timestamp.as_deref())?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(value: Value) -> Vec<u8> {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]
        })
        .to_string()
        .into_bytes()
    }

    fn with_messages(messages: Value) -> Vec<u8> {
        notification(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": messages
        }))
    }

    fn one(body: &[u8]) -> MessageIn {
        let n = parse_notification(body).unwrap();
        match n.events.as_slice() {
            [Event::Message(m)] => (**m).clone(),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    fn text_of(m: &MessageIn) -> Option<String> {
        match &m.inbound.act {
            Act::Message { text, .. } => text.clone(),
            other => panic!("not a message: {other:?}"),
        }
    }

    /// Meta's documented text-message notification.
    #[test]
    fn a_text_message_is_the_customers_with_their_number_and_name() {
        let body = with_messages(json!([{
            "from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in another color?"}
        }]));
        let m = one(&body);
        assert_eq!(m.phone_number_id, "106540352242922");
        assert_eq!(m.timestamp, Some(1_749_416_383));
        assert_eq!(text_of(&m).as_deref(), Some("Does it come in another color?"));
        assert_eq!(m.inbound.thread, Thread::External("+16505551234".into()));
        assert_eq!(m.inbound.customer.phone.as_ref().map(Phone::as_str), Some("+16505551234"));
        assert_eq!(m.inbound.sender_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(
            m.inbound.provider_message_id.as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
        );
        assert_eq!(m.inbound.reply_to.as_ref().and_then(|r| r["wa_id"].as_str()), Some("16505551234"));
        assert!(m.media.is_empty());
    }

    #[test]
    fn every_kind_of_media_names_its_media_id_and_keeps_the_caption() {
        for kind in ["image", "audio", "video", "document", "sticker"] {
            let body = with_messages(json!([{
                "from": "16505551234", "id": format!("wamid.{kind}"), "timestamp": "1749416383", "type": kind,
                kind: {"id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "abc=", "caption": "the box",
                       "filename": "receipt.pdf"}
            }]));
            let m = one(&body);
            assert_eq!(m.media.len(), 1, "{kind}");
            assert_eq!(m.media[0].kind, kind);
            assert_eq!(m.media[0].id, "1003383421387256");
            assert_eq!(m.media[0].mime_type.as_deref(), Some("image/jpeg"));
            assert_eq!(text_of(&m).as_deref(), Some("the box"));
        }
        let no_id = with_messages(json!([{"from": "16505551234", "id": "wamid.x", "type": "image", "image": {}}]));
        let e = parse_notification(&no_id).unwrap_err();
        assert_eq!(
            (e.reason(), e.field.as_deref()),
            ("missing_field", Some("entry[0].changes[0].value.messages[0].image.id"))
        );
    }

    #[test]
    fn locations_interactive_replies_buttons_reactions_and_contacts_read_as_text() {
        let cases = [
            (
                json!({"type": "location", "location": {"latitude": 37.483, "longitude": -122.148, "name": "Philz", "address": "1 Hacker Way"}}),
                Some("Location: Philz, 1 Hacker Way https://maps.google.com/?q=37.483,-122.148"),
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes"}}}),
                Some("Yes"),
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "r2", "title": "Refund", "description": "Money back"}}}),
                Some("Refund (Money back)"),
            ),
            (
                json!({"type": "button", "button": {"payload": "STOP_PROMOS", "text": "Stop promotions"}}),
                Some("Stop promotions"),
            ),
            (
                json!({"type": "reaction", "reaction": {"message_id": "wamid.out", "emoji": "👍"}}),
                Some("Reacted 👍 to a message"),
            ),
            (
                json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Ada L"}, "phones": [{"phone": "+44 20 7946 0000"}]}]}),
                Some("Shared contact: Ada L +44 20 7946 0000"),
            ),
            (
                json!({"type": "unsupported", "errors": [{"code": 131051}]}),
                Some("(a WhatsApp unsupported message, which Switchboard does not show)"),
            ),
        ];
        for (extra, want) in cases {
            let mut msg = json!({"from": "16505551234", "id": "wamid.1", "timestamp": "1749416383"});
            for (k, v) in extra.as_object().unwrap() {
                msg[k] = v.clone();
            }
            let m = one(&with_messages(json!([msg])));
            assert_eq!(text_of(&m).as_deref(), want, "{extra}");
        }
    }

    #[test]
    fn removed_reactions_and_system_messages_are_not_messages() {
        let body = with_messages(json!([
            {"from": "16505551234", "id": "wamid.1", "type": "reaction", "reaction": {"message_id": "wamid.o", "emoji": ""}},
            {"from": "16505551234", "id": "wamid.2", "type": "system", "system": {"body": "changed number"}}
        ]));
        assert!(parse_notification(&body).unwrap().events.is_empty());
    }

    #[test]
    fn statuses_carry_the_sent_message_id_and_the_error_code() {
        let body = notification(json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [
                {"id": "wamid.out1", "status": "delivered", "timestamp": "1750263773", "recipient_id": "16505551234",
                 "pricing": {"billable": true, "category": "utility"}},
                {"id": "wamid.out2", "status": "failed", "timestamp": "1750263774", "recipient_id": "16505551234",
                 "errors": [{"code": 131047, "title": "Re-engagement message",
                             "message": "Re-engagement message", "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]},
                {"id": "wamid.out3", "status": "deleted"}
            ]
        }));
        let n = parse_notification(&body).unwrap();
        let statuses: Vec<_> = n
            .events
            .iter()
            .map(|e| match e {
                Event::Status(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(statuses[0].state, StatusState::Delivered);
        assert_eq!(statuses[0].message_id, "wamid.out1");
        assert_eq!(statuses[1].state, StatusState::Failed);
        assert_eq!(statuses[1].errors[0].code, 131_047);
        assert!(statuses[1].errors[0].details.as_deref().unwrap_or_default().contains("24 hours"));
        assert_eq!(statuses[2].state, StatusState::Other);
    }

    #[test]
    fn other_fields_are_skipped_and_bad_notifications_have_their_reason() {
        let template_review = json!({"object": "whatsapp_business_account", "entry": [{"changes": [
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]});
        assert!(parse_notification(template_review.to_string().as_bytes()).unwrap().events.is_empty());

        let refused = |body: &[u8]| {
            let e = parse_notification(body).unwrap_err();
            (e.reason().to_string(), e.field)
        };
        assert_eq!(refused(b"{").0, "invalid_json");
        assert_eq!(refused(br#""a string""#).0, "invalid_body");
        assert_eq!(refused(br#"{"entry":[]}"#), ("missing_field".into(), Some("object".into())));
        assert_eq!(refused(br#"{"object":"page","entry":[]}"#), ("invalid_field".into(), Some("object".into())));
        let big = vec![b' '; MAX_NOTIFICATION_BYTES + 1];
        assert_eq!(refused(&big).0, "payload_too_large");
        let no_metadata = notification(json!({"messages": []}));
        assert_eq!(refused(&no_metadata).0, "missing_field");
        let no_from = with_messages(json!([{"id": "wamid.1", "type": "text", "text": {"body": "hi"}}]));
        assert_eq!(
            refused(&no_from),
            ("missing_field".into(), Some("entry[0].changes[0].value.messages[0].from".into()))
        );
        let bad_from = with_messages(json!([{"from": "abc", "id": "wamid.1", "type": "text", "text": {"body": "hi"}}]));
        assert_eq!(refused(&bad_from).0, "invalid_field");
        let long_id = with_messages(json!([{"from": "16505551234", "id": "w".repeat(MAX_ID + 1), "type": "text"}]));
        assert_eq!(refused(&long_id).0, "field_too_long");
        let long_text = with_messages(
            json!([{"from": "16505551234", "id": "w", "type": "text", "text": {"body": "a".repeat(6_001)}}]),
        );
        assert_eq!(refused(&long_text).0, "message_too_long");
        let bad_ts = with_messages(json!([{"from": "16505551234", "id": "w", "timestamp": "soon", "type": "text"}]));
        assert_eq!(refused(&bad_ts).0, "invalid_field");
        let too_many: Vec<Value> = (0..=MAX_EVENTS).map(|i| json!({"id": format!("w{i}"), "status": "sent"})).collect();
        let body = notification(json!({"metadata": {"phone_number_id": "1"}, "statuses": too_many}));
        assert_eq!(refused(&body).0, "invalid_body");
    }
}
