use serde::{Deserialize, Serialize};

use crate::{
    ids::AttachmentId,
    str_enum,
    text::{HttpUrl, ShortText},
};

str_enum!(
    /// Who wrote a message.
    SenderKind {
        Customer = "customer",
        Agent = "agent",
        Bot = "bot",
        System = "system",
    }
);

impl SenderKind {
    /// The name a sender of this kind reads with when nothing better is known: "System" for the server's own
    /// messages, and for messages stored before senders were recorded whole.
    pub fn generic_name(self) -> &'static str {
        match self {
            SenderKind::Customer => "Customer",
            SenderKind::Agent => "Agent",
            SenderKind::Bot => "Bot",
            SenderKind::System => "System",
        }
    }
}

/// A file attached to a message, by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// MIME type, e.g. `image/png`.
    pub content_type: ShortText,
    /// Where the file is. For a file this server keeps, a link that works with the API's credentials; messages
    /// handed to agents and webhooks carry it signed and expiring, so it works without them.
    pub url: HttpUrl,
    /// File name with extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ShortText>,
    /// Set by the server for a file it keeps (an upload); never given by a caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AttachmentId>,
    /// Bytes, for a file the server keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The WhatsApp template a message is sent as: what may still reach a customer after WhatsApp's 24-hour window has
/// closed. Named as the channel's provider knows it: on Meta's Cloud API by the approved template's `name` and
/// `language`, on Twilio by its content template's `content_sid`; the values of its numbered variables (`{{1}}`
/// first) in `parameters`, or, on Meta, whole `components` in the Cloud API's own shape (header, body and button
/// parameters). The message's `text`, when given, is what the transcript shows of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsappTemplate {
    /// Meta: the approved template's name (lowercase letters, digits and underscores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Meta: the approved translation's language code (`en`, `en_US`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Twilio: the content template's SID (`HX` and 32 hexadecimal digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sid: Option<String>,
    /// The values of the numbered variables, `{{1}}` first (at most 100, each 1 to 1,024 characters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
    /// Meta: the components with their parameters, as the Cloud API takes them, instead of `parameters`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub components: Vec<serde_json::Value>,
}

/// Variables a template message fills at most (Meta's limit, all components together).
pub const MAX_TEMPLATE_PARAMETERS: usize = 100;
/// A variable's longest value.
pub const MAX_TEMPLATE_PARAMETER_CHARS: usize = 1_024;

impl WhatsappTemplate {
    /// Holds the template to one provider's way of naming it, with values within the providers' limits: a name
    /// and a language, or a content SID, never both; components only with a name, and not with `parameters`.
    pub fn check(&self) -> crate::Result<()> {
        use crate::{Code, Error};
        let bad =
            |field: &str, detail: &str| Err(Error::field(Code::InvalidField, format!("template.{field}"), detail));
        match (&self.name, &self.content_sid) {
            (Some(_), Some(_)) => {
                return bad(
                    "content_sid",
                    "a template is named by `name` and `language` (Meta) or by `content_sid` (Twilio), not both",
                );
            }
            (None, None) => {
                return Err(Error::field(
                    Code::MissingField,
                    "template.name",
                    "a template is named by `name` and `language` (Meta) or by `content_sid` (Twilio)",
                ));
            }
            (Some(name), None) => {
                if name.is_empty()
                    || name.len() > 512
                    || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    return bad("name", "a template name is 1 to 512 lowercase letters, digits and underscores");
                }
                let language = self.language.as_deref().unwrap_or_default();
                let mut parts = language.split('_');
                let lang_ok = parts
                    .next()
                    .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_lowercase()))
                    && parts
                        .next()
                        .is_none_or(|r| (2..=4).contains(&r.len()) && r.chars().all(|c| c.is_ascii_alphanumeric()))
                    && parts.next().is_none();
                if self.language.is_none() {
                    return Err(Error::field(
                        Code::MissingField,
                        "template.language",
                        "a Meta template needs its `language` (`en_US`)",
                    ));
                }
                if !lang_ok {
                    return bad("language", "a template language is a code such as `en` or `en_US`");
                }
            }
            (None, Some(sid)) => {
                if !(sid.len() == 34 && sid.starts_with("HX") && sid[2..].chars().all(|c| c.is_ascii_hexdigit())) {
                    return bad("content_sid", "a content SID is `HX` and 32 hexadecimal digits");
                }
                if self.language.is_some() {
                    return bad(
                        "language",
                        "a Twilio content template's language is its own: name it by `content_sid` alone",
                    );
                }
                if !self.components.is_empty() {
                    return bad("components", "`components` are Meta's: a Twilio content template takes `parameters`");
                }
            }
        }
        if !self.components.is_empty() && !self.parameters.is_empty() {
            return bad("parameters", "give `parameters` or `components`, not both");
        }
        if self.parameters.len() > MAX_TEMPLATE_PARAMETERS {
            return bad("parameters", &format!("at most {MAX_TEMPLATE_PARAMETERS} values"));
        }
        if let Some(i) =
            self.parameters.iter().position(|p| p.trim().is_empty() || p.chars().count() > MAX_TEMPLATE_PARAMETER_CHARS)
        {
            return bad(
                &format!("parameters[{i}]"),
                &format!("a value is 1 to {MAX_TEMPLATE_PARAMETER_CHARS} characters, not blank"),
            );
        }
        Ok(())
    }

    /// Whether the template is named as Twilio names its content templates.
    pub fn is_twilio(&self) -> bool {
        self.content_sid.is_some()
    }
}
