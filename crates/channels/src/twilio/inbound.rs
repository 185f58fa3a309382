//! What Twilio posts to a channel's webhooks, form-encoded: a customer's message (`MessageSid`, `From`, `To`,
//! `Body`, `NumMedia` with `MediaUrl{N}` and `MediaContentType{N}`, and on WhatsApp `ProfileName`), and a sent
//! message's status (`MessageSid`, `MessageStatus`, `ErrorCode`). Parsed strictly enough that what is stored is
//! what Twilio sent: a message without its SID or sender, or with media it does not list, is refused.

use crate::phone::E164;

use super::WHATSAPP_PREFIX;

/// Parameters one webhook carries at most (a message with ten media and WhatsApp's extras is under 60).
const MAX_PARAMS: usize = 200;
/// Media one message carries at most (Twilio's limit).
pub const MAX_MEDIA: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not form-encoded UTF-8")]
    NotForm,
    #[error("the body has more than {MAX_PARAMS} parameters")]
    TooManyParams,
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{0}` is not valid: {1}")]
    Invalid(&'static str, String),
}

impl ParseError {
    /// The parameter the error is about.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ParseError::Missing(f) | ParseError::Invalid(f, _) => Some(f),
            _ => None,
        }
    }
}

/// Reads a form-encoded body into its parameters, in order.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, ParseError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ParseError::NotForm);
    }
    let mut params = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if params.len() == MAX_PARAMS {
            return Err(ParseError::TooManyParams);
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    Ok(params)
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn require<'a>(params: &'a [(String, String)], name: &'static str) -> Result<&'a str, ParseError> {
    get(params, name).ok_or(ParseError::Missing(name))
}

/// Whether `s` looks like a Twilio SID: two capital letters, then 32 hexadecimal digits.
fn is_sid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 34 && b[..2].iter().all(u8::is_ascii_uppercase) && b[2..].iter().all(u8::is_ascii_hexdigit)
}

fn sid<'a>(params: &'a [(String, String)], name: &'static str) -> Result<&'a str, ParseError> {
    let v = require(params, name)?;
    if is_sid(v) { Ok(v) } else { Err(ParseError::Invalid(name, "not a Twilio SID".into())) }
}

/// A customer's number as Twilio writes it: `+E164`, or `whatsapp:+E164`.
fn address(raw: &str, name: &'static str) -> Result<(E164, bool), ParseError> {
    let (number, whatsapp) = match raw.strip_prefix(WHATSAPP_PREFIX) {
        Some(n) => (n, true),
        None => (raw, false),
    };
    let e164 = E164::parse(number, None).map_err(|e| ParseError::Invalid(name, e.to_string()))?;
    Ok((e164, whatsapp))
}

/// A file a customer sent, on Twilio's media URL (fetched with the account's credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub url: String,
    pub content_type: String,
}

/// A customer's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioMessage {
    /// `SM…` (or `MM…` for a message with media): Twilio's id, which a retried webhook repeats.
    pub message_sid: String,
    pub account_sid: String,
    pub from: E164,
    /// The number (or WhatsApp sender) the customer wrote to, as Twilio wrote it: replies go from it.
    pub to: String,
    /// Whether it came over WhatsApp (`whatsapp:` addresses).
    pub whatsapp: bool,
    pub body: Option<String>,
    pub media: Vec<Media>,
    /// WhatsApp: the customer's profile name.
    pub profile_name: Option<String>,
}

/// Parses a customer's message from the webhook's parameters.
pub fn parse_message(params: &[(String, String)]) -> Result<TwilioMessage, ParseError> {
    let message_sid = match get(params, "MessageSid") {
        Some(_) => sid(params, "MessageSid")?,
        None => sid(params, "SmsSid")?,
    };
    let account_sid = sid(params, "AccountSid")?;
    let (from, whatsapp) = address(require(params, "From")?, "From")?;
    let to = require(params, "To")?;
    if to.strip_prefix(WHATSAPP_PREFIX).is_some() != whatsapp {
        return Err(ParseError::Invalid("To", "`From` and `To` must both be WhatsApp addresses, or neither".into()));
    }
    let count = match get(params, "NumMedia") {
        None => 0,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MEDIA)
            .ok_or_else(|| ParseError::Invalid("NumMedia", format!("must be 0 to {MAX_MEDIA}")))?,
    };
    const URL: [&str; MAX_MEDIA] = [
        "MediaUrl0",
        "MediaUrl1",
        "MediaUrl2",
        "MediaUrl3",
        "MediaUrl4",
        "MediaUrl5",
        "MediaUrl6",
        "MediaUrl7",
        "MediaUrl8",
        "MediaUrl9",
    ];
    let mut media = Vec::with_capacity(count);
    for (i, name) in URL.iter().enumerate().take(count) {
        let url = require(params, name)?;
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(ParseError::Invalid(name, "not an http(s) URL".into()));
        }
        let content_type = get(params, &format!("MediaContentType{i}")).unwrap_or("application/octet-stream");
        media.push(Media { url: url.to_string(), content_type: content_type.to_string() });
    }
    let body = get(params, "Body").map(str::to_string);
    if body.is_none() && media.is_empty() {
        return Err(ParseError::Missing("Body"));
    }
    Ok(TwilioMessage {
        message_sid: message_sid.to_string(),
        account_sid: account_sid.to_string(),
        from,
        to: to.to_string(),
        whatsapp,
        body,
        media,
        profile_name: get(params, "ProfileName").map(str::to_string),
    })
}

switchboard_domain::str_enum!(
    /// A sent message's status, as Twilio reports it.
    MessageStatus {
        Accepted = "accepted",
        Scheduled = "scheduled",
        Queued = "queued",
        Sending = "sending",
        Sent = "sent",
        Delivered = "delivered",
        /// WhatsApp: the customer read it.
        Read = "read",
        Undelivered = "undelivered",
        Failed = "failed",
        Canceled = "canceled",
    }
);

impl MessageStatus {
    /// Whether the message will not arrive.
    pub fn is_failure(self) -> bool {
        matches!(self, MessageStatus::Undelivered | MessageStatus::Failed | MessageStatus::Canceled)
    }
}

/// A sent message's status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    pub message_sid: String,
    pub account_sid: String,
    pub status: MessageStatus,
    /// Twilio's error code (`30003` unreachable, `30007` filtered, …) with `undelivered` and `failed`.
    pub error_code: Option<u32>,
}

/// Parses a status callback from the webhook's parameters.
pub fn parse_status(params: &[(String, String)]) -> Result<StatusCallback, ParseError> {
    let message_sid = match get(params, "MessageSid") {
        Some(_) => sid(params, "MessageSid")?,
        None => sid(params, "SmsSid")?,
    };
    let account_sid = sid(params, "AccountSid")?;
    let raw = get(params, "MessageStatus")
        .or_else(|| get(params, "SmsStatus"))
        .ok_or(ParseError::Missing("MessageStatus"))?;
    let status = MessageStatus::parse(raw)
        .ok_or_else(|| ParseError::Invalid("MessageStatus", format!("unknown status `{raw}`")))?;
    let error_code = match get(params, "ErrorCode") {
        None => None,
        Some(c) => Some(c.parse::<u32>().map_err(|_| ParseError::Invalid("ErrorCode", "not a number".into()))?),
    };
    Ok(StatusCallback {
        message_sid: message_sid.to_string(),
        account_sid: account_sid.to_string(),
        status,
        error_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SM: &str = "SM0123456789abcdef0123456789abcdef";
    const AC: &str = "AC0123456789abcdef0123456789abcdef";

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_sms_with_media_parses() {
        let body = format!(
            "MessageSid={SM}&AccountSid={AC}&From=%2B14255550100&To=%2B14255550199&Body=Hello+there%21&NumMedia=1\
             &MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm%2F1&MediaContentType0=image%2Fjpeg"
        );
        let m = parse_message(&parse_form(body.as_bytes()).unwrap()).unwrap();
        assert_eq!((m.message_sid.as_str(), m.from.as_str(), m.to.as_str()), (SM, "+14255550100", "+14255550199"));
        assert_eq!((m.body.as_deref(), m.whatsapp), (Some("Hello there!"), false));
        assert_eq!(m.media, [Media { url: "https://api.twilio.com/m/1".into(), content_type: "image/jpeg".into() }]);
    }

    #[test]
    fn a_whatsapp_message_carries_its_profile_name() {
        let p = form(&[
            ("SmsSid", SM),
            ("AccountSid", AC),
            ("From", "whatsapp:+14255550100"),
            ("To", "whatsapp:+14155238886"),
            ("Body", "Hi"),
            ("ProfileName", "Ada"),
        ]);
        let m = parse_message(&p).unwrap();
        assert!(m.whatsapp);
        assert_eq!((m.from.as_str(), m.profile_name.as_deref()), ("+14255550100", Some("Ada")));
    }

    #[test]
    fn what_twilio_would_not_send_is_refused() {
        let base =
            [("MessageSid", SM), ("AccountSid", AC), ("From", "+14255550100"), ("To", "+14255550199"), ("Body", "x")];
        let with = |k: &str, v: &str| {
            let mut p = form(&base);
            p.retain(|(n, _)| n != k);
            if !v.is_empty() {
                p.push((k.to_string(), v.to_string()));
            }
            parse_message(&p).map(drop).map_err(|e| e.field())
        };
        assert_eq!(with("MessageSid", ""), Err(Some("SmsSid")));
        assert_eq!(with("MessageSid", "SM123"), Err(Some("MessageSid")));
        assert_eq!(with("From", ""), Err(Some("From")));
        assert_eq!(with("From", "not a number"), Err(Some("From")));
        assert_eq!(with("To", "whatsapp:+14255550199"), Err(Some("To")));
        assert_eq!(with("Body", ""), Err(Some("Body")));
        assert_eq!(with("NumMedia", "11"), Err(Some("NumMedia")));
        assert_eq!(with("NumMedia", "1"), Err(Some("MediaUrl0")));
        assert_eq!(with("NumMedia", "0"), Ok(()));
        assert_eq!(parse_form(b"\xff\xfe"), Err(ParseError::NotForm));
        assert_eq!(parse_form("a=1&".repeat(201).as_bytes()), Err(ParseError::TooManyParams));
    }

    #[test]
    fn status_callbacks_parse() {
        let p =
            form(&[("MessageSid", SM), ("AccountSid", AC), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")]);
        let s = parse_status(&p).unwrap();
        assert_eq!((s.status, s.error_code), (MessageStatus::Undelivered, Some(30003)));
        assert!(s.status.is_failure());
        let p = form(&[("MessageSid", SM), ("AccountSid", AC), ("MessageStatus", "exploded")]);
        assert_eq!(parse_status(&p).unwrap_err().field(), Some("MessageStatus"));
        let p = form(&[("MessageSid", SM), ("AccountSid", AC), ("SmsStatus", "delivered")]);
        assert_eq!(parse_status(&p).unwrap().status, MessageStatus::Delivered);
    }
}
