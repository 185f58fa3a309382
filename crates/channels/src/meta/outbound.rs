//! What Switchboard sends through the Graph API: `POST {graph}/{version}/{phone-number-id}/messages` with the
//! access token as a bearer, for text, media by link and template messages; and the two calls that fetch a file a
//! customer sent (`GET {graph}/{version}/{media-id}` for its URL, then that URL with the same token).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchboard_domain::Code;

use crate::bot_framework::ParseError;

/// `{graph}/{version}/{phone_number_id}/messages`.
pub fn messages_url(graph_base: &str, version: &str, phone_number_id: &str) -> String {
    format!("{}/{}/{}/messages", graph_base.trim_end_matches('/'), version.trim_matches('/'), phone_number_id)
}

/// `{graph}/{version}/{media_id}`: answers the media's short-lived download URL.
pub fn media_url(graph_base: &str, version: &str, media_id: &str) -> String {
    format!("{}/{}/{}", graph_base.trim_end_matches('/'), version.trim_matches('/'), media_id)
}

/// `{graph}/{version}/{phone_number_id}`: what validating an account reads (the number's display name and quality).
pub fn phone_number_url(graph_base: &str, version: &str, phone_number_id: &str) -> String {
    media_url(graph_base, version, phone_number_id)
}

/// The kinds of file a message may carry by link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

impl MediaKind {
    fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// The kind WhatsApp shows a file of `content_type` as: images, audio and video as themselves, everything
    /// else as a document (which keeps its file name).
    pub fn for_content_type(content_type: &str) -> MediaKind {
        let ct = content_type.to_ascii_lowercase();
        if ct == "image/webp" {
            MediaKind::Sticker
        } else if ct.starts_with("image/") {
            MediaKind::Image
        } else if ct.starts_with("audio/") {
            MediaKind::Audio
        } else if ct.starts_with("video/") {
            MediaKind::Video
        } else {
            MediaKind::Document
        }
    }

    /// Audio and stickers take no caption.
    fn takes_caption(self) -> bool {
        matches!(self, MediaKind::Image | MediaKind::Video | MediaKind::Document)
    }
}

/// A template message: an approved template by name and language, with the values for its variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The template's name as approved (lowercase letters, digits and underscores).
    pub name: String,
    /// The language and locale code of the approved translation (`en_US`, `fr`).
    pub language: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<TemplateComponent>,
}

/// One part of a template with its values: `header`, `body` or `button` (with `sub_type` and `index`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateComponent {
    #[serde(rename = "type")]
    pub kind: ComponentKind,
    /// A button's kind: `quick_reply`, `url`, `copy_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    /// A button's position, `"0"` to `"9"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    #[serde(default)]
    pub parameters: Vec<TemplateParameter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Header,
    Body,
    Button,
}

/// A value for a template variable, in the Cloud API's own shape (`{"type": "text", "text": "…"}`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemplateParameter {
    Text {
        text: String,
        /// A named parameter's name (templates created with named variables).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
    },
    Currency {
        currency: Currency,
    },
    DateTime {
        date_time: DateTimeValue,
    },
    Image {
        image: LinkedMedia,
    },
    Video {
        video: LinkedMedia,
    },
    Document {
        document: LinkedMedia,
    },
    Payload {
        payload: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Currency {
    pub fallback_value: String,
    /// ISO 4217.
    pub code: String,
    /// The amount times 1,000.
    pub amount_1000: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateTimeValue {
    pub fallback_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedMedia {
    pub link: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// The longest template name Meta accepts.
pub const MAX_TEMPLATE_NAME: usize = 512;
/// Parameters a template message carries at most, all components together.
pub const MAX_TEMPLATE_PARAMETERS: usize = 100;
/// A text parameter's longest value (a body's whole text is at most 1,024 characters).
pub const MAX_PARAMETER_TEXT: usize = 1_024;

impl Template {
    /// Holds a template to what Meta accepts, so that a send it would refuse is refused here, before it leaves:
    /// a name of lowercase letters, digits and underscores, a language code (`en`, `en_US`), at most
    /// [`MAX_TEMPLATE_PARAMETERS`] parameters, text values non-empty and at most [`MAX_PARAMETER_TEXT`] characters,
    /// buttons with their `sub_type` and `index`.
    pub fn check(&self) -> Result<(), ParseError> {
        let bad = |field: &str, why: &str| ParseError::new(Code::InvalidField, Some(field), why.to_string());
        if self.name.is_empty()
            || self.name.len() > MAX_TEMPLATE_NAME
            || !self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(bad("template.name", "a template name is lowercase letters, digits and underscores"));
        }
        let lang_ok = {
            let mut parts = self.language.split('_');
            let lang = parts.next().unwrap_or_default();
            let region = parts.next();
            (2..=3).contains(&lang.len())
                && lang.bytes().all(|b| b.is_ascii_lowercase())
                && region.is_none_or(|r| (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()))
                && parts.next().is_none()
        };
        if !lang_ok {
            return Err(bad("template.language", "a template language is a code such as `en` or `en_US`"));
        }
        let count: usize = self.components.iter().map(|c| c.parameters.len()).sum();
        if count > MAX_TEMPLATE_PARAMETERS {
            return Err(bad("template.components", "a template message has at most 100 parameters"));
        }
        for (i, c) in self.components.iter().enumerate() {
            if c.kind == ComponentKind::Button {
                let index_ok = c.index.as_deref().is_some_and(|x| x.len() == 1 && x.as_bytes()[0].is_ascii_digit());
                if c.sub_type.as_deref().is_none_or(str::is_empty) || !index_ok {
                    return Err(bad(
                        &format!("template.components[{i}]"),
                        "a button component names its `sub_type` and its `index` (\"0\" to \"9\")",
                    ));
                }
            }
            for (j, p) in c.parameters.iter().enumerate() {
                if let TemplateParameter::Text { text, .. } = p
                    && (text.trim().is_empty() || text.chars().count() > MAX_PARAMETER_TEXT)
                {
                    return Err(bad(
                        &format!("template.components[{i}].parameters[{j}].text"),
                        "a text parameter has 1 to 1,024 characters",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    Text { body: String },
    Media { kind: MediaKind, link: String, caption: Option<String>, filename: Option<String> },
    Template(Template),
}

/// The body of `POST …/messages` for `what`, to the customer `to` (their `wa_id`). `reply_to_message`, when given,
/// quotes the customer's message it answers.
pub fn render(to: &str, what: &Outgoing, reply_to_message: Option<&str>) -> Value {
    let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to});
    match what {
        Outgoing::Text { body: text } => {
            body["type"] = json!("text");
            // Links in an agent's words are shown as links, not expanded into previews the agent did not choose.
            body["text"] = json!({"preview_url": false, "body": text});
        }
        Outgoing::Media { kind, link, caption, filename } => {
            let mut media = json!({"link": link});
            if let Some(c) = caption.as_deref().filter(|c| !c.is_empty() && kind.takes_caption()) {
                media["caption"] = json!(c);
            }
            if let (MediaKind::Document, Some(f)) = (kind, filename) {
                media["filename"] = json!(f);
            }
            body["type"] = json!(kind.as_str());
            body[kind.as_str()] = media;
        }
        Outgoing::Template(t) => {
            body["type"] = json!("template");
            let mut template = json!({"name": t.name, "language": {"code": t.language}});
            if !t.components.is_empty() {
                template["components"] = serde_json::to_value(&t.components).unwrap_or(Value::Null);
            }
            body["template"] = template;
        }
    }
    if let Some(id) = reply_to_message.filter(|i| !i.is_empty()) {
        body["context"] = json!({"message_id": id});
    }
    body
}

/// The Graph API's error object (`{"error": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
    #[serde(default)]
    pub error_data: Option<Value>,
}

impl GraphError {
    /// `(#131030) Recipient phone number not in allowed list`: the code first, as Meta's own console shows it.
    pub fn describe(&self) -> String {
        let code = self.code.map(|c| format!("(#{c}) ")).unwrap_or_default();
        let details = self.error_data.as_ref().and_then(|d| d.get("details")).and_then(Value::as_str);
        let message = self.message.as_deref().unwrap_or("the Graph API refused the request");
        match details {
            Some(d) if d != message => format!("{code}{message}: {d}"),
            _ => format!("{code}{message}"),
        }
    }
}

/// The error in a Graph API answer's body, when it has one.
pub fn parse_error(body: &[u8]) -> Option<GraphError> {
    #[derive(Deserialize)]
    struct Wrapper {
        error: GraphError,
    }
    serde_json::from_slice::<Wrapper>(body).ok().map(|w| w.error)
}

/// The `wamid.…` of an accepted send (`{"messages": [{"id": …}]}`).
pub fn parse_sent(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.pointer("/messages/0/id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// What `GET /{media-id}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
}

pub fn parse_media_info(body: &[u8]) -> Option<MediaInfo> {
    serde_json::from_slice::<MediaInfo>(body)
        .ok()
        .filter(|m| m.url.starts_with("https://") || m.url.starts_with("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_sent_as_the_cloud_api_documents_it() {
        let body = render("16505551234", &Outgoing::Text { body: "Hello https://x.example".into() }, Some("wamid.in"));
        assert_eq!(
            body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                   "type": "text", "text": {"preview_url": false, "body": "Hello https://x.example"},
                   "context": {"message_id": "wamid.in"}})
        );
        assert_eq!(
            messages_url("https://graph.facebook.com/", "v21.0", "1065"),
            "https://graph.facebook.com/v21.0/1065/messages"
        );
        assert_eq!(media_url("http://127.0.0.1:9/", "/v21.0/", "77"), "http://127.0.0.1:9/v21.0/77");
    }

    #[test]
    fn media_goes_by_link_with_caption_and_file_name_where_whatsapp_takes_them() {
        let doc = Outgoing::Media {
            kind: MediaKind::for_content_type("application/pdf"),
            link: "https://cc.example/f/1".into(),
            caption: Some("your invoice".into()),
            filename: Some("invoice.pdf".into()),
        };
        assert_eq!(
            render("1", &doc, None)["document"],
            json!({"link": "https://cc.example/f/1", "caption": "your invoice", "filename": "invoice.pdf"})
        );
        let audio = Outgoing::Media {
            kind: MediaKind::for_content_type("audio/ogg"),
            link: "https://a/1".into(),
            caption: Some("c".into()),
            filename: Some("n".into()),
        };
        let body = render("1", &audio, None);
        assert_eq!((body["type"].as_str(), &body["audio"]), (Some("audio"), &json!({"link": "https://a/1"})));
        assert_eq!(MediaKind::for_content_type("IMAGE/PNG"), MediaKind::Image);
        assert_eq!(MediaKind::for_content_type("image/webp"), MediaKind::Sticker);
        assert_eq!(MediaKind::for_content_type("video/mp4"), MediaKind::Video);
    }

    fn order_template() -> Template {
        serde_json::from_value(json!({
            "name": "order_update", "language": "en_US",
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cc.example/logo.png"}}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Ada"},
                    {"type": "currency", "currency": {"fallback_value": "$12.50", "code": "USD", "amount_1000": 12500}},
                    {"type": "date_time", "date_time": {"fallback_value": "December 7, 2026"}}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK"}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_template_keeps_its_name_language_and_components_as_given() {
        let t = order_template();
        assert_eq!(t.check(), Ok(()));
        let body = render("16505551234", &Outgoing::Template(t), None);
        assert_eq!(body["type"], "template");
        assert_eq!(body["template"]["name"], "order_update");
        assert_eq!(body["template"]["language"], json!({"code": "en_US"}));
        assert_eq!(body["template"]["components"][1]["parameters"][1]["currency"]["amount_1000"], 12500);
        assert_eq!(
            body["template"]["components"][2],
            json!({"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "TRACK"}]})
        );
        assert_eq!(
            body["template"]["components"][0]["parameters"][0],
            json!({"type": "image", "image": {"link": "https://cc.example/logo.png"}})
        );
        let bare = Template { name: "hello_world".into(), language: "en_US".into(), components: vec![] };
        assert_eq!(
            render("1", &Outgoing::Template(bare), None)["template"],
            json!({"name": "hello_world", "language": {"code": "en_US"}})
        );
    }

    #[test]
    fn templates_meta_would_refuse_are_refused_first() {
        let field = |t: &Template| t.check().unwrap_err().field;
        let mut t = order_template();
        t.name = "Order Update".into();
        assert_eq!(field(&t).as_deref(), Some("template.name"));
        let mut t = order_template();
        t.language = "english".into();
        assert_eq!(field(&t).as_deref(), Some("template.language"));
        let mut t = order_template();
        t.components[2].index = None;
        assert_eq!(field(&t).as_deref(), Some("template.components[2]"));
        let mut t = order_template();
        t.components[1].parameters[0] = TemplateParameter::Text { text: " ".into(), parameter_name: None };
        assert_eq!(field(&t).as_deref(), Some("template.components[1].parameters[0].text"));
        assert!(serde_json::from_value::<Template>(json!({"name": "x", "language": "en", "extra": 1})).is_err());
        assert!(serde_json::from_value::<Template>(json!({"name": "x", "language": "en", "components": [{"type": "body", "parameters": [{"type": "emoji"}]}]})).is_err());
    }

    #[test]
    fn answers_are_read_for_the_message_id_the_error_and_the_media_url() {
        let ok = br#"{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.HBgL"}]}"#;
        assert_eq!(parse_sent(ok).as_deref(), Some("wamid.HBgL"));
        assert_eq!(parse_sent(b"{}"), None);
        let err = br#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}"#;
        let e = parse_error(err).unwrap();
        assert_eq!(e.code, Some(131_030));
        assert!(e.describe().starts_with("(#131030) "));
        assert!(e.describe().contains("Add recipient phone number"));
        assert_eq!(parse_error(b"{}"), None);
        let media = br#"{"url":"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1","mime_type":"image/jpeg","sha256":"abc","file_size":303833,"id":"1003383421387256","messaging_product":"whatsapp"}"#;
        assert_eq!(parse_media_info(media).map(|m| m.file_size), Some(Some(303_833)));
        assert_eq!(parse_media_info(br#"{"url":"file:///etc/passwd"}"#), None);
    }
}
