//! Google's Business Messages (`contact-center-spec.md` §5): what Google posts to a partner's webhook (the
//! verification handshake, and each user event signed with `X-Goog-Signature`), turned into the ingest contract;
//! and the `businessmessages.googleapis.com/v1` calls an agent's side makes (`conversations.messages.create`,
//! `conversations.events.create`). Google shut the service down in July 2024; RCS Business Messaging keeps the same
//! shapes, so the adapter stays correct against the documented wire format.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha512;
use switchboard_domain::{
    Code,
    contact::CustomerIn,
    context::ContextPatch,
    limits,
    text::{CustomerField, HttpUrl},
};

use crate::{
    bot_framework::ParseError,
    inbound::{Act, Attachment, Inbound, Thread},
};

/// The largest webhook body accepted. Google documents none; a user message is at most a few KB.
pub const MAX_WEBHOOK_BYTES: usize = 256 * 1024;
/// Characters in Google's ids (`conversationId`, `messageId`, `requestId`, `agent`).
pub const MAX_ID: usize = 1_024;
/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-goog-signature";
/// The OAuth scope of the Business Messages API.
pub const SCOPE: &str = "https://www.googleapis.com/auth/businessmessages";

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no X-Goog-Signature header")]
    Missing,
    #[error("X-Goog-Signature is not base64")]
    NotBase64,
    #[error("X-Goog-Signature does not match the body signed with the client token")]
    Mismatch,
}

/// `X-Goog-Signature` for `body`: the base64 of its HMAC-SHA512 keyed with the partner's client token, as Google
/// signs each message it posts.
pub fn sign(client_token: &str, body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(client_token, body).finalize().into_bytes())
}

fn mac(client_token: &str, body: &[u8]) -> Hmac<Sha512> {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = Hmac::<Sha512>::new_from_slice(client_token.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    mac
}

/// Checks `signature` (the header's value) against the raw `body`, in constant time.
pub fn verify(client_token: &str, body: &[u8], signature: Option<&str>) -> Result<(), SignatureError> {
    let signature = signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::Missing)?;
    let given = base64::engine::general_purpose::STANDARD.decode(signature).map_err(|_| SignatureError::NotBase64)?;
    mac(client_token, body).verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// What Google posted.
#[derive(Debug, Clone, PartialEq)]
pub enum Webhook {
    /// Setting the webhook in the console: answer `secret` (200, plain text) when `client_token` is the partner's.
    Verification { client_token: String, secret: String },
    /// A user's message, suggestion response, typing, receipts or other event for the agent.
    Event(Box<UserEvent>),
}

/// A webhook's user event: exactly one of the payload fields is set (`message`, `suggestionResponse`,
/// `userStatus`, `receipts`, `surveyResponse`, `authenticationResponse`). Fields not read are dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEvent {
    /// `brands/{brandId}/agents/{agentId}`.
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub custom_agent_id: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub send_time: Option<String>,
    #[serde(default)]
    pub context: Option<Context>,
    #[serde(default)]
    pub message: Option<UserMessage>,
    #[serde(default)]
    pub suggestion_response: Option<SuggestionResponse>,
    #[serde(default)]
    pub user_status: Option<UserStatus>,
    #[serde(default)]
    pub receipts: Option<Receipts>,
    #[serde(default)]
    pub survey_response: Option<Value>,
    #[serde(default)]
    pub authentication_response: Option<Value>,
}

/// Where the user came from and who they are, as far as Google tells.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    #[serde(default)]
    pub entry_point: Option<String>,
    #[serde(default)]
    pub place_id: Option<String>,
    #[serde(default)]
    pub user_info: Option<UserInfo>,
    #[serde(default)]
    pub resolved_locale: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub user_device_locale: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserMessage {
    /// `conversations/{conversationId}/messages/{messageId}`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    /// A photo the user sent, served by Google at `contentInfo.fileUrl`.
    #[serde(default)]
    pub image: Option<Image>,
    #[serde(default)]
    pub create_time: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    #[serde(default)]
    pub content_info: Option<ContentInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentInfo {
    #[serde(default)]
    pub file_url: Option<String>,
    #[serde(default)]
    pub alt_text: Option<String>,
}

/// The user tapped one of an agent's suggestions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionResponse {
    /// The name of the user's response message.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub postback_data: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    /// `REPLY` or `ACTION`.
    #[serde(default)]
    pub suggestion_type: Option<String>,
    #[serde(default)]
    pub create_time: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserStatus {
    #[serde(default)]
    pub is_typing: Option<bool>,
    #[serde(default)]
    pub requested_live_agent: Option<bool>,
    #[serde(default)]
    pub create_time: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipts {
    #[serde(default)]
    pub receipts: Vec<Receipt>,
    #[serde(default)]
    pub create_time: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The agent's message it is about: `conversations/{conversationId}/messages/{messageId}`.
    #[serde(default)]
    pub message: Option<String>,
    /// `DELIVERED`, `READ` or `RECEIPT_TYPE_UNSPECIFIED`.
    #[serde(default)]
    pub receipt_type: Option<String>,
}

/// The verification request's shape: exactly these two fields.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerificationRequest {
    client_token: String,
    secret: String,
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

/// Reads one webhook body (at most [`MAX_WEBHOOK_BYTES`]) and holds it to its bounds: ids at most [`MAX_ID`]
/// characters, text at most the message limit, URLs at most [`limits::MAX_URL`].
pub fn parse(body: &[u8]) -> Result<Webhook, ParseError> {
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(ParseError::new(
            Code::PayloadTooLarge,
            None,
            format!("a webhook body is at most {MAX_WEBHOOK_BYTES} bytes, got {}", body.len()),
        ));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::new(Code::InvalidJson, None, e.to_string()))?;
    if value.get("clientToken").is_some() && value.get("secret").is_some() {
        let v: VerificationRequest = serde_json::from_value(value)
            .map_err(|e| ParseError::new(Code::InvalidBody, None, format!("a verification request: {e}")))?;
        at_most("clientToken", Some(&v.client_token), MAX_ID)?;
        at_most("secret", Some(&v.secret), MAX_ID)?;
        return Ok(Webhook::Verification { client_token: v.client_token, secret: v.secret });
    }
    let event: UserEvent =
        serde_json::from_value(value).map_err(|e| ParseError::new(Code::InvalidBody, None, e.to_string()))?;
    check_bounds(&event)?;
    Ok(Webhook::Event(Box::new(event)))
}

fn check_bounds(e: &UserEvent) -> Result<(), ParseError> {
    at_most("agent", e.agent.as_deref(), MAX_ID)?;
    at_most("conversationId", e.conversation_id.as_deref(), MAX_ID)?;
    at_most("requestId", e.request_id.as_deref(), MAX_ID)?;
    at_most("customAgentId", e.custom_agent_id.as_deref(), MAX_ID)?;
    if let Some(m) = &e.message {
        at_most("message.name", m.name.as_deref(), MAX_ID)?;
        at_most("message.messageId", m.message_id.as_deref(), MAX_ID)?;
        if m.text.as_deref().is_some_and(|t| chars(t) > limits::MAX_MESSAGE_TEXT) {
            return Err(ParseError::new(
                Code::MessageTooLong,
                Some("message.text"),
                format!("`message.text` must be at most {} characters", limits::MAX_MESSAGE_TEXT),
            ));
        }
        let info = m.image.as_ref().and_then(|i| i.content_info.as_ref());
        at_most("message.image.contentInfo.fileUrl", info.and_then(|i| i.file_url.as_deref()), limits::MAX_URL)?;
        at_most(
            "message.image.contentInfo.altText",
            info.and_then(|i| i.alt_text.as_deref()),
            limits::MAX_SHORT_FIELD,
        )?;
    }
    if let Some(s) = &e.suggestion_response {
        at_most("suggestionResponse.message", s.message.as_deref(), MAX_ID)?;
        at_most("suggestionResponse.postbackData", s.postback_data.as_deref(), limits::MAX_MESSAGE_TEXT)?;
        if s.text.as_deref().is_some_and(|t| chars(t) > limits::MAX_MESSAGE_TEXT) {
            return Err(ParseError::new(
                Code::MessageTooLong,
                Some("suggestionResponse.text"),
                format!("`suggestionResponse.text` must be at most {} characters", limits::MAX_MESSAGE_TEXT),
            ));
        }
    }
    if let Some(info) = e.context.as_ref().and_then(|c| c.user_info.as_ref()) {
        at_most("context.userInfo.displayName", info.display_name.as_deref(), limits::MAX_SHORT_FIELD)?;
    }
    Ok(())
}

/// Where an agent's side answers a conversation: kept with it (its reply address) when the user writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyTo {
    pub conversation_id: String,
    /// The Business Messages agent the user wrote to, `brands/{brandId}/agents/{agentId}`.
    #[serde(default)]
    pub agent: Option<String>,
}

/// What the event asks of Switchboard, or `Ok(None)` for what it keeps nowhere (receipts, `isTyping: false`,
/// survey and authentication responses).
///
/// - `message`: the user's text, and a photo as a link to Google's copy; the provider id is `messageId`.
/// - `suggestionResponse`: the tapped suggestion's text (its postback data when it has none), as a message.
/// - `userStatus.isTyping`: typing, shown to the agent; `requestedLiveAgent`: the conversation goes to people.
///
/// `conversationId` is the thread; the user's display name (`context.userInfo.displayName`) the customer's name.
pub fn to_inbound(e: &UserEvent) -> Result<Option<Inbound>, ParseError> {
    let (act, provider_id) = if let Some(m) = &e.message {
        let text = m.text.clone().filter(|t| !t.trim().is_empty());
        let mut attachments = Vec::new();
        if let Some(url) = m.image.as_ref().and_then(|i| i.content_info.as_ref()).and_then(|c| c.file_url.as_deref()) {
            let field = "message.image.contentInfo.fileUrl";
            let url = HttpUrl::parse(url).map_err(|msg| ParseError::coded(field, &msg))?;
            attachments.push(Attachment::Link {
                content_type: "image/*".into(),
                url: url.as_str().to_string(),
                name: None,
            });
        }
        if text.is_none() && attachments.is_empty() {
            return Err(ParseError::new(Code::MissingField, Some("message.text"), "the message has no text or image"));
        }
        (Act::Message { text, attachments, automated: false }, m.message_id.clone().or_else(|| m.name.clone()))
    } else if let Some(s) = &e.suggestion_response {
        let text = s
            .text
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| s.postback_data.clone().filter(|t| !t.trim().is_empty()))
            .ok_or_else(|| {
                ParseError::new(Code::MissingField, Some("suggestionResponse.text"), "the response has no text")
            })?;
        (Act::Message { text: Some(text), attachments: Vec::new(), automated: false }, s.message.clone())
    } else if let Some(status) = &e.user_status {
        if status.requested_live_agent == Some(true) {
            (Act::Escalate { context: ContextPatch::default() }, None)
        } else if status.is_typing == Some(true) {
            (Act::Typing, None)
        } else {
            return Ok(None);
        }
    } else {
        return Ok(None);
    };
    let conversation_id = e.conversation_id.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| {
        ParseError::new(Code::MissingField, Some("conversationId"), "the event has no `conversationId`")
    })?;
    let customer_id = CustomerField::parse(conversation_id).map_err(|m| ParseError::coded("conversationId", &m))?;
    let display_name = e
        .context
        .as_ref()
        .and_then(|c| c.user_info.as_ref())
        .and_then(|u| u.display_name.as_deref())
        .filter(|n| !n.trim().is_empty());
    let preferred_name = display_name
        .map(CustomerField::parse)
        .transpose()
        .map_err(|m| ParseError::coded("context.userInfo.displayName", &m))?;
    let reply_to = ReplyTo { conversation_id: conversation_id.to_string(), agent: e.agent.clone() };
    Ok(Some(Inbound {
        provider_message_id: provider_id.or_else(|| e.request_id.clone()).filter(|i| !i.is_empty()),
        thread: Thread::External(conversation_id.to_string()),
        customer: CustomerIn { customer_id: Some(customer_id), preferred_name, ..CustomerIn::default() },
        sender_id: Some(conversation_id.to_string()),
        sender_name: display_name.map(str::to_string),
        act,
        reply_to: serde_json::to_value(reply_to).ok(),
    }))
}

/// Who speaks for the agent's side: a person, or automation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representative {
    pub human: bool,
    pub display_name: Option<String>,
}

impl Representative {
    fn json(&self) -> Value {
        let mut r = json!({"representativeType": if self.human { "HUMAN" } else { "BOT" }});
        if let Some(name) = self.display_name.as_deref().filter(|n| !n.is_empty()) {
            r["displayName"] = json!(name);
        }
        r
    }
}

/// An event of `conversations.events.create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    TypingStarted,
    TypingStopped,
    RepresentativeJoined,
    RepresentativeLeft,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TypingStarted => "TYPING_STARTED",
            EventType::TypingStopped => "TYPING_STOPPED",
            EventType::RepresentativeJoined => "REPRESENTATIVE_JOINED",
            EventType::RepresentativeLeft => "REPRESENTATIVE_LEFT",
        }
    }
}

/// A file an agent sent: Google fetches it from `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub content_type: String,
    pub url: String,
    pub name: Option<String>,
}

/// What the agent's side sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// `id` becomes the message's `messageId` (Google refuses a second message with the same id, so a retried
    /// send is never shown twice). Suggestions are reply chips the user may tap.
    Message {
        id: String,
        text: Option<String>,
        files: Vec<OutFile>,
        suggestions: Vec<String>,
        representative: Representative,
    },
    Event {
        id: String,
        kind: EventType,
        representative: Representative,
    },
}

/// A call ready to make: `POST url` with `body`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub url: String,
    pub body: Value,
}

/// Why a stored reply address cannot be answered on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("the stored reply_to is not a Business Messages conversation: {0}")]
    BadReplyTo(String),
    #[error("nothing to send: the message has neither text nor files")]
    Empty,
}

/// Suggestions a message carries at most (Google's limit).
pub const MAX_SUGGESTIONS: usize = 13;
/// Characters of a suggestion's text (Google's limit).
pub const MAX_SUGGESTION_TEXT: usize = 25;

/// The request for `what` on the conversation `reply_to` names, against the API at `api_url`
/// (`https://businessmessages.googleapis.com`). A message is text; a message of one image and no text is an
/// image message; other files are listed as links under the text (a Business Messages message is text or an
/// image, never both).
pub fn render(api_url: &str, reply_to: &Value, what: &Outgoing) -> Result<Rendered, OutboundError> {
    let r = ReplyTo::deserialize(reply_to).map_err(|e| OutboundError::BadReplyTo(e.to_string()))?;
    if r.conversation_id.is_empty() {
        return Err(OutboundError::BadReplyTo("no conversationId".into()));
    }
    let conversation = percent_encoding::utf8_percent_encode(&r.conversation_id, percent_encoding::NON_ALPHANUMERIC);
    let base = format!("{}/v1/conversations/{conversation}", api_url.trim_end_matches('/'));
    match what {
        Outgoing::Message { id, text, files, suggestions, representative } => {
            let mut body = json!({"messageId": id, "representative": representative.json()});
            let only_image = text.is_none() && files.len() == 1 && files[0].content_type.starts_with("image/");
            if only_image {
                body["image"] = json!({"contentInfo": {"fileUrl": files[0].url, "forceRefresh": false}});
            } else {
                let mut lines: Vec<String> = text.iter().cloned().collect();
                lines.extend(files.iter().map(|f| match &f.name {
                    Some(name) => format!("{name}: {}", f.url),
                    None => f.url.clone(),
                }));
                if lines.is_empty() {
                    return Err(OutboundError::Empty);
                }
                body["text"] = json!(lines.join("\n"));
                body["containsRichText"] = json!(false);
                body["fallback"] = body["text"].clone();
            }
            let chips: Vec<Value> = suggestions
                .iter()
                .take(MAX_SUGGESTIONS)
                .map(|s| {
                    let shown: String = s.chars().take(MAX_SUGGESTION_TEXT).collect();
                    json!({"reply": {"text": shown, "postbackData": s}})
                })
                .collect();
            if !chips.is_empty() {
                body["suggestions"] = json!(chips);
            }
            Ok(Rendered { url: format!("{base}/messages"), body })
        }
        Outgoing::Event { id, kind, representative } => {
            let event_id = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC);
            Ok(Rendered {
                url: format!("{base}/events?eventId={event_id}"),
                body: json!({"eventType": kind.as_str(), "representative": representative.json()}),
            })
        }
    }
}

/// The service account key file a partner downloads from the console (the fields the JWT bearer grant uses).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccount {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub private_key_id: Option<String>,
    pub private_key: String,
    pub client_email: String,
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl std::fmt::Debug for ServiceAccount {
    // The private key never goes to a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a key file: JSON of `"type": "service_account"` with a PEM private key (RS256) and a client email.
    pub fn parse(json: &str) -> Result<Self, String> {
        let sa: ServiceAccount =
            serde_json::from_str(json).map_err(|e| format!("not a service account key file: {e}"))?;
        if sa.kind != "service_account" {
            return Err("not a service account key file: its `type` is not `service_account`".into());
        }
        if sa.client_email.trim().is_empty() {
            return Err("the service account key file has no `client_email`".into());
        }
        jsonwebtoken::EncodingKey::from_rsa_pem(sa.private_key.as_bytes())
            .map_err(|e| format!("the service account's `private_key` is not an RSA key in PEM: {e}"))?;
        Ok(sa)
    }
}

/// The claims of the JWT a service account signs to get an access token (RFC 7523, as Google's client libraries
/// send them): issued by the account, for `scope`, to the token endpoint `aud`, valid an hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantClaims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// The `assertion` of a JWT bearer grant: RS256, the key's id in the header, signed with the account's key.
pub fn grant_assertion(sa: &ServiceAccount, token_url: &str, now_seconds: i64) -> Result<String, String> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(sa.private_key.as_bytes())
        .map_err(|e| format!("the service account's private key: {e}"))?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = sa.private_key_id.clone();
    let claims = GrantClaims {
        iss: sa.client_email.clone(),
        scope: SCOPE.into(),
        aud: token_url.into(),
        iat: now_seconds,
        exp: now_seconds + 3_600,
    };
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| format!("signing the grant: {e}"))
}

/// Google's error body (`{"error": {"code", "message", "status"}}`) as one line: `INVALID_ARGUMENT: …`.
pub fn error_of(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let e = v.get("error")?;
    let status = e.get("status").and_then(Value::as_str);
    let message = e.get("message").and_then(Value::as_str);
    match (status, message) {
        (Some(s), Some(m)) => Some(format!("{s}: {m}")),
        (Some(s), None) => Some(s.to_string()),
        (None, Some(m)) => Some(m.to_string()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user message as Google's Hello World guide shows it, with a context.
    const USER_MESSAGE: &str = r#"{
        "agent": "brands/1111/agents/2222",
        "conversationId": "3333-aaaa",
        "customAgentId": "hello-world-bot",
        "requestId": "123123123",
        "message": {"messageId": "4444", "name": "conversations/3333-aaaa/messages/4444",
                    "text": "Hello, I'm World!", "createTime": "2020-10-02T15:01:23.045123456Z"},
        "context": {"entryPoint": "PLACESHEET", "placeId": "ChIJ", "resolvedLocale": "en",
                    "userInfo": {"displayName": "Ada Lovelace", "userDeviceLocale": "en-GB"}},
        "sendTime": "2020-10-02T15:01:24.045123456Z"
    }"#;

    fn event(body: &str) -> UserEvent {
        match parse(body.as_bytes()).unwrap() {
            Webhook::Event(e) => *e,
            other => panic!("not an event: {other:?}"),
        }
    }

    fn with(extra: Value) -> UserEvent {
        let mut v: Value = serde_json::from_str(USER_MESSAGE).unwrap();
        v.as_object_mut().unwrap().remove("message");
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        event(&v.to_string())
    }

    #[test]
    fn signatures_are_base64_hmac_sha512_of_the_raw_body() {
        // Computed with `openssl dgst -sha512 -hmac token -binary | base64`.
        let body = br#"{"a":1}"#;
        let sig = sign("token", body);
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(&sig).unwrap().len(), 64);
        assert_eq!(verify("token", body, Some(&sig)), Ok(()));
        assert_eq!(verify("other", body, Some(&sig)), Err(SignatureError::Mismatch));
        assert_eq!(verify("token", br#"{"a":2}"#, Some(&sig)), Err(SignatureError::Mismatch));
        assert_eq!(verify("token", body, None), Err(SignatureError::Missing));
        assert_eq!(verify("token", body, Some("  ")), Err(SignatureError::Missing));
        assert_eq!(verify("token", body, Some("%%%")), Err(SignatureError::NotBase64));
    }

    #[test]
    fn the_verification_request_is_told_apart() {
        assert_eq!(
            parse(br#"{"clientToken":"ct","secret":"s3"}"#).unwrap(),
            Webhook::Verification { client_token: "ct".into(), secret: "s3".into() }
        );
        assert_eq!(parse(br#"{"clientToken":1,"secret":"s"}"#).unwrap_err().reason(), "invalid_body");
    }

    #[test]
    fn a_message_names_its_thread_customer_and_where_to_answer() {
        let i = to_inbound(&event(USER_MESSAGE)).unwrap().unwrap();
        assert_eq!(i.thread, Thread::External("3333-aaaa".into()));
        assert_eq!(i.provider_message_id.as_deref(), Some("4444"));
        assert_eq!(i.customer.preferred_name.as_ref().map(CustomerField::as_str), Some("Ada Lovelace"));
        assert_eq!(i.sender_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(
            i.act,
            Act::Message { text: Some("Hello, I'm World!".into()), attachments: vec![], automated: false }
        );
        assert_eq!(i.reply_to, Some(json!({"conversationId": "3333-aaaa", "agent": "brands/1111/agents/2222"})));
        let photo = with(
            json!({"message": {"messageId": "5", "image": {"contentInfo": {"fileUrl": "https://lh3.googleusercontent.com/p/1"}}}}),
        );
        let Act::Message { text, attachments, .. } = to_inbound(&photo).unwrap().unwrap().act else { panic!() };
        assert_eq!(text, None);
        assert_eq!(
            attachments,
            vec![Attachment::Link {
                content_type: "image/*".into(),
                url: "https://lh3.googleusercontent.com/p/1".into(),
                name: None
            }]
        );
    }

    #[test]
    fn suggestions_typing_live_agent_and_what_is_kept_nowhere() {
        let tapped = with(json!({"suggestionResponse": {"message": "conversations/3333-aaaa/messages/9",
            "postbackData": "refund", "text": "Refund", "suggestionType": "REPLY"}}));
        let i = to_inbound(&tapped).unwrap().unwrap();
        assert_eq!(i.act, Act::Message { text: Some("Refund".into()), attachments: vec![], automated: false });
        assert_eq!(i.provider_message_id.as_deref(), Some("conversations/3333-aaaa/messages/9"));
        let typing = with(json!({"userStatus": {"isTyping": true, "createTime": "2020-10-02T15:01:23Z"}}));
        let i = to_inbound(&typing).unwrap().unwrap();
        assert_eq!((i.act, i.provider_message_id.as_deref()), (Act::Typing, Some("123123123")));
        let live = with(json!({"userStatus": {"requestedLiveAgent": true}}));
        assert_eq!(to_inbound(&live).unwrap().unwrap().act, Act::Escalate { context: ContextPatch::default() });
        for nothing in [
            json!({"userStatus": {"isTyping": false}}),
            json!({"receipts": {"receipts": [{"message": "conversations/3333-aaaa/messages/m1", "receiptType": "READ"}]}}),
            json!({"surveyResponse": {"survey": "x"}}),
            json!({}),
        ] {
            assert_eq!(to_inbound(&with(nothing.clone())).unwrap(), None, "{nothing}");
        }
    }

    #[test]
    fn bad_events_name_the_field() {
        let refused = |body: &str| {
            let e = parse(body.as_bytes()).and_then(|w| match w {
                Webhook::Event(e) => to_inbound(&e).map(|_| ()),
                Webhook::Verification { .. } => Ok(()),
            });
            let e = e.unwrap_err();
            (e.reason(), e.field.unwrap_or_default())
        };
        assert_eq!(refused("{\"message\":").0, "invalid_json");
        assert_eq!(refused("[1]").0, "invalid_body");
        assert_eq!(refused(r#"{"message": "hi"}"#).0, "invalid_body");
        assert_eq!(refused(r#"{"message": {"text": "hi"}}"#), ("missing_field", "conversationId".into()));
        assert_eq!(
            refused(r#"{"conversationId": "c", "message": {"text": " "}}"#),
            ("missing_field", "message.text".into())
        );
        let long = json!({"conversationId": "c", "message": {"text": "é".repeat(6_001)}}).to_string();
        assert_eq!(refused(&long), ("message_too_long", "message.text".into()));
        let long = json!({"conversationId": "c".repeat(1_025), "message": {"text": "x"}}).to_string();
        assert_eq!(refused(&long), ("field_too_long", "conversationId".into()));
        let bad_url =
            json!({"conversationId": "c", "message": {"image": {"contentInfo": {"fileUrl": "javascript:x"}}}});
        assert_eq!(refused(&bad_url.to_string()), ("invalid_field", "message.image.contentInfo.fileUrl".into()));
        let big = format!(r#"{{"conversationId":"c","message":{{"text":"{}"}}}}"#, "a".repeat(MAX_WEBHOOK_BYTES));
        assert_eq!(refused(&big).0, "payload_too_large");
    }

    fn human(name: &str) -> Representative {
        Representative { human: true, display_name: Some(name.into()) }
    }

    #[test]
    fn messages_and_events_render_as_the_api_documents() {
        let to = json!({"conversationId": "3333/aaaa", "agent": "brands/1/agents/2"});
        let m = Outgoing::Message {
            id: "0190-msg".into(),
            text: Some("Refunded.".into()),
            files: vec![],
            suggestions: vec!["Thanks".into(), "Something else entirely".into()],
            representative: human("Grace"),
        };
        let r = render("https://businessmessages.googleapis.com/", &to, &m).unwrap();
        assert_eq!(r.url, "https://businessmessages.googleapis.com/v1/conversations/3333%2Faaaa/messages");
        assert_eq!(
            r.body,
            json!({"messageId": "0190-msg", "representative": {"representativeType": "HUMAN", "displayName": "Grace"},
                   "text": "Refunded.", "containsRichText": false, "fallback": "Refunded.",
                   "suggestions": [{"reply": {"text": "Thanks", "postbackData": "Thanks"}},
                                   {"reply": {"text": "Something else entirely", "postbackData": "Something else entirely"}}]})
        );
        let image = OutFile { content_type: "image/png".into(), url: "https://sb/f/1?sig=x".into(), name: None };
        let m = Outgoing::Message {
            id: "m2".into(),
            text: None,
            files: vec![image.clone()],
            suggestions: vec![],
            representative: Representative { human: false, display_name: None },
        };
        let r = render("https://x", &to, &m).unwrap();
        assert_eq!(
            r.body,
            json!({"messageId": "m2", "representative": {"representativeType": "BOT"},
                   "image": {"contentInfo": {"fileUrl": "https://sb/f/1?sig=x", "forceRefresh": false}}})
        );
        let pdf = OutFile {
            content_type: "application/pdf".into(),
            url: "https://sb/f/2".into(),
            name: Some("a.pdf".into()),
        };
        let m = Outgoing::Message {
            id: "m3".into(),
            text: Some("Here".into()),
            files: vec![image, pdf],
            suggestions: vec![],
            representative: human("G"),
        };
        assert_eq!(
            render("https://x", &to, &m).unwrap().body["text"],
            "Here\nhttps://sb/f/1?sig=x\na.pdf: https://sb/f/2"
        );
        let e =
            Outgoing::Event { id: "e-1".into(), kind: EventType::RepresentativeJoined, representative: human("Grace") };
        let r = render("https://x", &to, &e).unwrap();
        assert_eq!(r.url, "https://x/v1/conversations/3333%2Faaaa/events?eventId=e%2D1");
        assert_eq!(
            r.body,
            json!({"eventType": "REPRESENTATIVE_JOINED", "representative": {"representativeType": "HUMAN", "displayName": "Grace"}})
        );
        let empty = Outgoing::Message {
            id: "m".into(),
            text: None,
            files: vec![],
            suggestions: vec![],
            representative: human("G"),
        };
        assert_eq!(render("https://x", &to, &empty), Err(OutboundError::Empty));
        assert!(matches!(render("https://x", &json!({"serviceUrl": 1}), &e), Err(OutboundError::BadReplyTo(_))));
    }

    #[test]
    fn the_grant_is_an_rs256_jwt_the_accounts_public_key_verifies() {
        let key = include_str!("../testdata/google_bm/service_account_key.pem");
        let public = include_str!("../testdata/google_bm/service_account_key.pub.pem");
        let file = json!({"type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": key,
                          "client_email": "sb@p.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"});
        let sa = ServiceAccount::parse(&file.to_string()).unwrap();
        assert!(!format!("{sa:?}").contains("PRIVATE"), "the key is not in Debug");
        let jwt = grant_assertion(&sa, "https://oauth2.example/token", 1_700_000_000).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::RS256, Some("k1")));
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["https://oauth2.example/token"]);
        v.validate_exp = false;
        let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<GrantClaims>(&jwt, &decoding, &v).unwrap().claims;
        assert_eq!(
            claims,
            GrantClaims {
                iss: "sb@p.iam.gserviceaccount.com".into(),
                scope: SCOPE.into(),
                aud: "https://oauth2.example/token".into(),
                iat: 1_700_000_000,
                exp: 1_700_003_600,
            }
        );
    }

    #[test]
    fn service_account_files_and_google_errors() {
        assert!(ServiceAccount::parse("{}").is_err());
        let wrong_type = json!({"type": "authorized_user", "private_key": "x", "client_email": "a@b"}).to_string();
        assert!(ServiceAccount::parse(&wrong_type).unwrap_err().contains("service_account"));
        let bad_key = json!({"type": "service_account", "private_key": "x", "client_email": "a@b"}).to_string();
        assert!(ServiceAccount::parse(&bad_key).unwrap_err().contains("private_key"));
        assert_eq!(
            error_of(r#"{"error":{"code":400,"message":"Invalid conversation","status":"INVALID_ARGUMENT"}}"#)
                .as_deref(),
            Some("INVALID_ARGUMENT: Invalid conversation")
        );
        assert_eq!(error_of("not json"), None);
    }
}
