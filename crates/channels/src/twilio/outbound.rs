//! A reply as Twilio's Messages API takes it: `POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded, Basic auth (the account SID and auth token, or an API key and its secret); `To`, then either
//! `MessagingServiceSid` or `From`, then `Body` and `MediaUrl` (or, for a WhatsApp template, `ContentSid` and
//! `ContentVariables`), and `StatusCallback` for the statuses that follow. Twilio answers 201 with the message
//! resource (`sid`, `status`, `num_segments`) or an error (`code`, `message`).

use serde::Deserialize;

use super::WHATSAPP_PREFIX;

/// Characters of a body Twilio accepts (error 21617 above it).
pub const MAX_BODY_CHARS: usize = 1_600;

/// Who a reply goes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A messaging service: Twilio picks the number.
    MessagingService(String),
    /// A number (E.164) or, for WhatsApp, the sender's number.
    Number(String),
}

/// A reply to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The customer's number (E.164).
    pub to: String,
    pub whatsapp: bool,
    pub from: Sender,
    pub body: Option<String>,
    /// Public URLs of files to send (MMS, WhatsApp media).
    pub media_urls: Vec<String>,
    /// A WhatsApp (or SMS) content template: its `HX…` SID and its variables as a JSON object.
    pub content: Option<(String, serde_json::Value)>,
    pub status_callback: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the message has no text, file or template")]
    Empty,
    #[error("the text is {0} characters; Twilio takes at most {MAX_BODY_CHARS}")]
    TooLong(usize),
}

/// The Messages API's URL for `account_sid` under `api_base` (`https://api.twilio.com`).
pub fn messages_url(api_base: &str, account_sid: &str) -> String {
    format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", api_base.trim_end_matches('/'))
}

fn address(number: &str, whatsapp: bool) -> String {
    if whatsapp && !number.starts_with(WHATSAPP_PREFIX) {
        format!("{WHATSAPP_PREFIX}{number}")
    } else {
        number.to_string()
    }
}

/// The form parameters of `out`, in the order given.
pub fn params(out: &Outgoing) -> Result<Vec<(&'static str, String)>, RenderError> {
    let chars = out.body.as_deref().map_or(0, |b| b.chars().count());
    if chars > MAX_BODY_CHARS {
        return Err(RenderError::TooLong(chars));
    }
    if chars == 0 && out.media_urls.is_empty() && out.content.is_none() {
        return Err(RenderError::Empty);
    }
    let mut p = vec![("To", address(&out.to, out.whatsapp))];
    match &out.from {
        Sender::MessagingService(sid) => p.push(("MessagingServiceSid", sid.clone())),
        Sender::Number(n) => p.push(("From", address(n, out.whatsapp))),
    }
    match &out.content {
        Some((sid, variables)) => {
            p.push(("ContentSid", sid.clone()));
            if variables.as_object().is_some_and(|o| !o.is_empty()) {
                p.push(("ContentVariables", variables.to_string()));
            }
        }
        None => {
            if let Some(body) = out.body.as_deref().filter(|b| !b.is_empty()) {
                p.push(("Body", body.to_string()));
            }
            for url in &out.media_urls {
                p.push(("MediaUrl", url.clone()));
            }
        }
    }
    if let Some(cb) = &out.status_callback {
        p.push(("StatusCallback", cb.clone()));
    }
    Ok(p)
}

/// `out` form-encoded, as the request body.
pub fn encode(out: &Outgoing) -> Result<String, RenderError> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params(out)? {
        s.append_pair(k, &v);
    }
    Ok(s.finish())
}

/// What the Messages API answered a send with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Sent {
    pub sid: String,
    #[serde(default)]
    pub status: Option<String>,
    /// A string of digits in Twilio's answers.
    #[serde(default)]
    pub num_segments: Option<serde_json::Value>,
}

impl Sent {
    pub fn segments(&self) -> Option<u32> {
        match self.num_segments.as_ref()? {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            _ => None,
        }
    }
}

pub fn parse_sent(body: &[u8]) -> Option<Sent> {
    serde_json::from_slice::<Sent>(body).ok().filter(|s| !s.sid.is_empty())
}

/// Twilio's error answer: its error code (`21211` invalid `To`, `21610` the number sent STOP, …) and message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: Option<u32>,
    #[serde(default)]
    pub message: Option<String>,
}

pub fn parse_error(body: &[u8]) -> Option<ApiError> {
    serde_json::from_slice::<ApiError>(body).ok().filter(|e| e.code.is_some() || e.message.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms() -> Outgoing {
        Outgoing {
            to: "+14255550100".into(),
            whatsapp: false,
            from: Sender::Number("+14255550199".into()),
            body: Some("Hello & welcome".into()),
            media_urls: vec!["https://files.test/a.png?sig=1&x=2".into()],
            content: None,
            status_callback: Some("https://sb.test/channels/twilio/c/status".into()),
        }
    }

    #[test]
    fn an_sms_renders_as_the_messages_api_takes_it() {
        assert_eq!(
            encode(&sms()).unwrap(),
            "To=%2B14255550100&From=%2B14255550199&Body=Hello+%26+welcome\
             &MediaUrl=https%3A%2F%2Ffiles.test%2Fa.png%3Fsig%3D1%26x%3D2\
             &StatusCallback=https%3A%2F%2Fsb.test%2Fchannels%2Ftwilio%2Fc%2Fstatus"
        );
        assert_eq!(
            messages_url("https://api.twilio.com/", "AC1"),
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
        );
    }

    #[test]
    fn whatsapp_addresses_and_templates() {
        let out = Outgoing {
            whatsapp: true,
            from: Sender::MessagingService("MG1".into()),
            content: Some(("HX1".into(), serde_json::json!({"1": "Ada"}))),
            ..sms()
        };
        let p = params(&out).unwrap();
        assert_eq!(p[0], ("To", "whatsapp:+14255550100".to_string()));
        assert_eq!(p[1], ("MessagingServiceSid", "MG1".to_string()));
        assert_eq!(p[2], ("ContentSid", "HX1".to_string()));
        assert_eq!(p[3], ("ContentVariables", r#"{"1":"Ada"}"#.to_string()));
        assert!(!p.iter().any(|(k, _)| *k == "Body"));
    }

    #[test]
    fn empty_and_long_texts_are_refused() {
        let empty = Outgoing { body: None, media_urls: vec![], ..sms() };
        assert_eq!(params(&empty), Err(RenderError::Empty));
        let long = Outgoing { body: Some("a".repeat(1_601)), ..sms() };
        assert_eq!(params(&long), Err(RenderError::TooLong(1_601)));
        let sent = parse_sent(br#"{"sid":"SM1","status":"queued","num_segments":"2"}"#).unwrap();
        assert_eq!((sent.sid.as_str(), sent.segments()), ("SM1", Some(2)));
        let e = parse_error(br#"{"code":21211,"message":"Invalid 'To' Phone Number","status":400}"#).unwrap();
        assert_eq!(e.code, Some(21211));
        assert!(parse_error(b"<html>").is_none());
    }
}
