//! Sends through TeleSign's messaging API: `POST {base}/v1/messaging`, `Authorization: Basic` with the customer id
//! and API key, the form `phone_number`, `message`, `message_type`, and optionally `sender_id`, `external_id` and
//! `callback_url`. TeleSign answers `reference_id` and a status (290, "Message in progress", when accepted).

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Deserialize;

/// `{base}/v1/messaging`.
pub fn messaging_url(base: &str) -> String {
    format!("{}/v1/messaging", base.trim_end_matches('/'))
}

/// `Basic base64(customer_id:api_key)`.
pub fn basic_auth(customer_id: &str, api_key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{customer_id}:{api_key}")))
}

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms<'a> {
    /// The customer's number, with country code (a leading `+` is dropped: TeleSign takes digits).
    pub phone_number: &'a str,
    pub message: &'a str,
    /// The business number or alphanumeric sender to send from, when the account has one.
    pub sender_id: Option<&'a str>,
    /// Switchboard's message id, echoed in delivery reports.
    pub external_id: Option<&'a str>,
    /// Where TeleSign posts this message's delivery reports.
    pub callback_url: Option<&'a str>,
}

/// The form body. `message_type` is `ARN` (alerts, reminders, notifications): a contact center's answers are
/// neither one-time passwords nor marketing.
pub fn render(sms: &Sms<'_>) -> String {
    let mut form = Form(String::new());
    form.append_pair("phone_number", sms.phone_number.trim_start_matches('+'));
    form.append_pair("message", sms.message);
    form.append_pair("message_type", "ARN");
    if let Some(s) = sms.sender_id.filter(|s| !s.is_empty()) {
        form.append_pair("sender_id", s);
    }
    if let Some(e) = sms.external_id.filter(|e| !e.is_empty()) {
        form.append_pair("external_id", e);
    }
    if let Some(c) = sms.callback_url.filter(|c| !c.is_empty()) {
        form.append_pair("callback_url", c);
    }
    form.finish()
}

/// `application/x-www-form-urlencoded`, as browsers and TeleSign's SDKs write it (space as `+`).
struct Form(String);

impl Form {
    fn append_pair(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        encode_into(&mut self.0, name);
        self.0.push('=');
        encode_into(&mut self.0, value);
    }

    fn finish(self) -> String {
        self.0
    }
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// What TeleSign answered a send with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SendAnswer {
    #[serde(default)]
    pub reference_id: Option<String>,
    #[serde(default)]
    pub status: Option<AnswerStatus>,
    #[serde(default)]
    pub errors: Vec<AnswerError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AnswerStatus {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AnswerError {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
}

impl SendAnswer {
    pub fn parse(body: &[u8]) -> Option<SendAnswer> {
        serde_json::from_slice(body).ok()
    }

    /// The provider's code and words for a refusal: the first error's, else the status's.
    pub fn describe(&self) -> (Option<i64>, String) {
        if let Some(e) = self.errors.first() {
            return (e.code, e.description.clone().unwrap_or_else(|| "TeleSign refused the message".into()));
        }
        let status = self.status.as_ref();
        (
            status.and_then(|s| s.code),
            status.and_then(|s| s.description.clone()).unwrap_or_else(|| "TeleSign refused the message".into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_what_telesigns_sdk_posts() {
        let body = render(&Sms {
            phone_number: "+15555551212",
            message: "Your order #12 ships today & arrives Friday",
            sender_id: Some("12345"),
            external_id: Some("0193a7e2-msg"),
            callback_url: Some("https://cc.example/channels/telesign/c1/callbacks"),
        });
        assert_eq!(
            body,
            "phone_number=15555551212&message=Your+order+%2312+ships+today+%26+arrives+Friday&message_type=ARN\
             &sender_id=12345&external_id=0193a7e2-msg\
             &callback_url=https%3A%2F%2Fcc.example%2Fchannels%2Ftelesign%2Fc1%2Fcallbacks"
        );
        let pairs: Vec<(String, String)> = url_pairs(&body);
        assert_eq!(pairs[1], ("message".into(), "Your order #12 ships today & arrives Friday".into()));
        let bare = render(&Sms {
            phone_number: "15555551212",
            message: "é",
            sender_id: None,
            external_id: None,
            callback_url: None,
        });
        assert_eq!(bare, "phone_number=15555551212&message=%C3%A9&message_type=ARN");
        assert_eq!(messaging_url("https://rest-ww.telesign.com/"), "https://rest-ww.telesign.com/v1/messaging");
        assert_eq!(basic_auth("CID", "KEY"), format!("Basic {}", STANDARD.encode("CID:KEY")));
    }

    /// A decoder written apart from the encoder, so the round trip checks the encoding rather than itself.
    fn url_pairs(body: &str) -> Vec<(String, String)> {
        body.split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let decode = |s: &str| {
                    let s = s.replace('+', " ");
                    let bytes = s.as_bytes();
                    let mut out = Vec::new();
                    let mut i = 0;
                    while i < bytes.len() {
                        if bytes[i] == b'%' {
                            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                            i += 3;
                        } else {
                            out.push(bytes[i]);
                            i += 1;
                        }
                    }
                    String::from_utf8(out).unwrap()
                };
                (decode(k), decode(v))
            })
            .collect()
    }

    #[test]
    fn answers_are_read_for_the_reference_id_and_the_refusal() {
        let ok = br#"{"reference_id":"35C8B5D1E32C0A2C9138F5EA9E0A8B8F","status":{"code":290,"description":"Message in progress","updated_on":"2026-12-07T01:02:03.000000Z"},"external_id":"m1"}"#;
        let a = SendAnswer::parse(ok).unwrap();
        assert_eq!(a.reference_id.as_deref(), Some("35C8B5D1E32C0A2C9138F5EA9E0A8B8F"));
        let refused = br#"{"status":{"code":11000,"description":"Invalid value for parameter phone_number."},"errors":[{"code":-10001,"description":"Invalid Request: PhoneNumber Parameter: 1234 is not valid."}]}"#;
        let a = SendAnswer::parse(refused).unwrap();
        assert_eq!(a.describe(), (Some(-10001), "Invalid Request: PhoneNumber Parameter: 1234 is not valid.".into()));
        let no_errors = br#"{"status":{"code":10033,"description":"Account suspended"}}"#;
        assert_eq!(SendAnswer::parse(no_errors).unwrap().describe(), (Some(10033), "Account suspended".into()));
        assert_eq!(SendAnswer::parse(b"<html>"), None);
    }
}
