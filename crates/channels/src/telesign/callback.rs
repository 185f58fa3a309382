//! TeleSign's callbacks to the Transaction Callback Service, as its documentation describes them
//! (developer.telesign.com, "Authenticate callbacks", "Inbound SMS", "Receive SMS delivery reports").
//!
//! Signature: the header (`Authorization`, or the same value in `X-TS-Authorization`) is `TSA <customer id>:<sig>`,
//! where `sig` is Base64 of HMAC-SHA256 over the body alone, keyed with the Base64-decoded API key. Unlike requests
//! to TeleSign, nothing but the body is signed, so a replayed callback verifies: the provider's `reference_id`
//! de-duplicates it.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use switchboard_domain::{Code, contact::CustomerIn, limits, text::Phone};

use crate::{
    bot_framework::ParseError,
    inbound::{Act, Inbound, Thread},
};

/// The largest callback read: TeleSign's are a few hundred bytes.
pub const MAX_CALLBACK_BYTES: usize = 64 * 1024;
/// `reference_id`s are 32 hex digits; this leaves room and no more.
pub const MAX_REFERENCE_ID: usize = 64;

/// Why a callback is not TeleSign's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the callback has no Authorization header")]
    Missing,
    #[error("the Authorization header is not `TSA <customer id>:<signature>`")]
    Malformed,
    #[error("the Authorization header names another customer id")]
    WrongCustomer,
    #[error("the signature does not match the body and the API key")]
    Mismatch,
    #[error("the account's API key is not Base64")]
    BadApiKey,
}

fn mac(api_key: &str) -> Result<Hmac<Sha256>, SignatureError> {
    let key = STANDARD.decode(api_key.trim()).map_err(|_| SignatureError::BadApiKey)?;
    if key.is_empty() {
        return Err(SignatureError::BadApiKey);
    }
    Hmac::<Sha256>::new_from_slice(&key).map_err(|_| SignatureError::BadApiKey)
}

/// The `Authorization` value TeleSign sends with `body`: what the tests' fake TeleSign signs its callbacks with.
pub fn sign_callback(customer_id: &str, api_key: &str, body: &[u8]) -> Result<String, SignatureError> {
    let mut m = mac(api_key)?;
    m.update(body);
    Ok(format!("TSA {customer_id}:{}", STANDARD.encode(m.finalize().into_bytes())))
}

/// Checks a callback's `Authorization` (or `X-TS-Authorization`) value against the account's customer id and API
/// key. The customer id is compared case-insensitively (TeleSign writes them upper case, consoles show both), the
/// signature in constant time.
pub fn verify_callback(
    customer_id: &str,
    api_key: &str,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let (scheme, rest) = header.split_once(' ').ok_or(SignatureError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("TSA") {
        return Err(SignatureError::Malformed);
    }
    // Customer ids have no colon; Base64 signatures have none either, so the last colon splits them.
    let (who, signature) = rest.trim().rsplit_once(':').ok_or(SignatureError::Malformed)?;
    if !who.eq_ignore_ascii_case(customer_id.trim()) {
        return Err(SignatureError::WrongCustomer);
    }
    let given = STANDARD.decode(signature.trim()).map_err(|_| SignatureError::Malformed)?;
    let mut m = mac(api_key)?;
    m.update(body);
    m.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// What a callback says.
#[derive(Debug, Clone, PartialEq)]
pub enum Callback {
    /// A customer's text (`sub_resource: mo_sms`), to the business number `to`.
    Inbound { inbound: Box<Inbound>, to: Option<String> },
    /// What became of a message Switchboard sent.
    Delivery(DeliveryReport),
}

/// A delivery report of one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The `reference_id` TeleSign answered the send with.
    pub reference_id: String,
    /// TeleSign's status code (200 delivered, 203 delivered to the gateway, 290 in progress, 207…: failures).
    pub code: i64,
    pub description: Option<String>,
    pub outcome: DeliveryOutcome,
    /// The `external_id` Switchboard gave the send (its own message id), when TeleSign echoes it.
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// On the customer's handset (200): final.
    Delivered,
    /// On its way (203 delivered to gateway, 290 in progress, 291/292 queued, 295 sent): more reports follow.
    Pending,
    /// Every other code is a final failure (207, 210, 211, 220, 221, 222, 229, 230, 231, 233, 237, 238, …).
    Failed,
}

impl DeliveryOutcome {
    pub fn of(code: i64) -> DeliveryOutcome {
        match code {
            200 => DeliveryOutcome::Delivered,
            203 | 290 | 291 | 292 | 295 => DeliveryOutcome::Pending,
            _ => DeliveryOutcome::Failed,
        }
    }
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    reference_id: Option<String>,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    status: Option<WireStatus>,
    #[serde(default)]
    user_response: Option<UserResponse>,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct WireStatus {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct UserResponse {
    /// The customer's number, with its country code and no `+`.
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    mo_message: Option<String>,
    /// The business number (short or long code) the customer wrote to.
    #[serde(default)]
    sender_id: Option<String>,
}

fn missing(field: &str) -> ParseError {
    ParseError::new(Code::MissingField, Some(field), format!("the callback has no `{field}`"))
}

/// Reads a callback: a customer's message when `sub_resource` is `mo_sms` (or `user_response` is present), a
/// delivery report when it has a `status.code`. Other callbacks (voice, verification) are not an SMS channel's
/// and are refused as `invalid_body`.
pub fn parse_callback(body: &[u8]) -> Result<Callback, ParseError> {
    if body.len() > MAX_CALLBACK_BYTES {
        return Err(ParseError::new(
            Code::PayloadTooLarge,
            None,
            format!("a callback is at most {MAX_CALLBACK_BYTES} bytes, got {}", body.len()),
        ));
    }
    let wire: Wire = serde_json::from_slice(body).map_err(|e| {
        let code = match e.classify() {
            serde_json::error::Category::Data => Code::InvalidBody,
            _ => Code::InvalidJson,
        };
        ParseError::new(code, None, e.to_string())
    })?;
    let reference_id = wire.reference_id.as_deref().filter(|r| !r.is_empty()).ok_or_else(|| missing("reference_id"))?;
    if reference_id.chars().count() > MAX_REFERENCE_ID {
        return Err(ParseError::new(
            Code::FieldTooLong,
            Some("reference_id"),
            format!("`reference_id` must be at most {MAX_REFERENCE_ID} characters"),
        ));
    }
    let is_mo = wire.sub_resource.as_deref() == Some("mo_sms") || wire.user_response.is_some();
    if is_mo {
        let user = wire.user_response.as_ref().ok_or_else(|| missing("user_response"))?;
        let from = user
            .phone_number
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| missing("user_response.phone_number"))?;
        let plus = if from.starts_with('+') { "" } else { "+" };
        let phone =
            Phone::parse(format!("{plus}{from}")).map_err(|e| ParseError::coded("user_response.phone_number", &e))?;
        let text = user.mo_message.clone().filter(|t| !t.trim().is_empty());
        if let Some(t) = &text
            && t.chars().count() > limits::MAX_MESSAGE_TEXT
        {
            return Err(ParseError::new(
                Code::MessageTooLong,
                Some("user_response.mo_message"),
                format!("a message is at most {} characters", limits::MAX_MESSAGE_TEXT),
            ));
        }
        let to = user.sender_id.as_deref().filter(|s| !s.is_empty());
        if to.is_some_and(|s| s.chars().count() > limits::MAX_SHORT_FIELD) {
            return Err(ParseError::new(
                Code::FieldTooLong,
                Some("user_response.sender_id"),
                format!("`sender_id` must be at most {} characters", limits::MAX_SHORT_FIELD),
            ));
        }
        let reply_to = json!({"phone_number": phone.as_str().trim_start_matches('+'), "sender_id": to});
        return Ok(Callback::Inbound {
            inbound: Box::new(Inbound {
                provider_message_id: Some(reference_id.to_string()),
                thread: Thread::External(phone.as_str().to_string()),
                customer: CustomerIn { phone: Some(phone.clone()), ..CustomerIn::default() },
                sender_id: Some(phone.as_str().to_string()),
                sender_name: None,
                act: Act::Message { text, attachments: Vec::new(), automated: false },
                reply_to: Some(reply_to),
            }),
            to: to.map(str::to_string),
        });
    }
    let status = wire.status.as_ref().ok_or_else(|| missing("status.code"))?;
    let code = status.code.ok_or_else(|| missing("status.code"))?;
    let clip = |s: &str| s.chars().take(limits::MAX_SHORT_FIELD).collect::<String>();
    Ok(Callback::Delivery(DeliveryReport {
        reference_id: reference_id.to_string(),
        code,
        description: status.description.as_deref().map(clip),
        outcome: DeliveryOutcome::of(code),
        external_id: wire.external_id.as_deref().filter(|e| !e.is_empty()).map(clip),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TeleSign's documented example credentials.
    const CUSTOMER_ID: &str = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890";
    const API_KEY: &str = "ABC12345yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw==";

    const DELIVERED: &str = r#"{"status":{"updated_on":"Thu, 23 Jun 2022 19:03:44 GMT","code":200,"description":"Delivered to handset"},"errors":[],"sub_resource":"sms","additional_info":{"mcc":"310","mnc":"004","price":"0.01","currency":"USD","message_parts_count":"2"},"reference_id":"0123456789ABCDEF0123456789ABCDEF"}"#;

    const MO: &str = r#"{"reference_id":"F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6","sub_resource":"mo_sms","errors":[],"status":{"updated_on":"2026-12-07T01:02:03.000000Z","code":2000,"description":""},"submit_timestamp":"2026-12-07T01:02:03.000000Z","user_response":{"iso_country_code":"US","phone_number":"15555551212","mo_message":"Where is my order?","sender_id":"12345"}}"#;

    #[test]
    fn a_callback_signed_with_the_api_key_verifies_and_nothing_else_does() {
        let body = DELIVERED.as_bytes();
        let header = sign_callback(CUSTOMER_ID, API_KEY, body).unwrap();
        assert!(header.starts_with("TSA FFFFFFFF-EEEE-DDDD-1234-AB1234567890:"));
        assert_eq!(verify_callback(CUSTOMER_ID, API_KEY, Some(&header), body), Ok(()));
        assert_eq!(verify_callback(&CUSTOMER_ID.to_lowercase(), API_KEY, Some(&header), body), Ok(()));
        assert_eq!(verify_callback(CUSTOMER_ID, API_KEY, Some(&header), b"{}"), Err(SignatureError::Mismatch));
        let other_key = STANDARD.encode(b"another key entirely");
        assert_eq!(verify_callback(CUSTOMER_ID, &other_key, Some(&header), body), Err(SignatureError::Mismatch));
        assert_eq!(verify_callback("AAAA", API_KEY, Some(&header), body), Err(SignatureError::WrongCustomer));
        assert_eq!(verify_callback(CUSTOMER_ID, API_KEY, None, body), Err(SignatureError::Missing));
        let bearer = header.replacen("TSA", "Bearer", 1);
        assert_eq!(verify_callback(CUSTOMER_ID, API_KEY, Some(&bearer), body), Err(SignatureError::Malformed));
        assert_eq!(verify_callback(CUSTOMER_ID, API_KEY, Some("TSA nocolon"), body), Err(SignatureError::Malformed));
        let garbled = format!("TSA {CUSTOMER_ID}:not*base64");
        assert_eq!(verify_callback(CUSTOMER_ID, API_KEY, Some(&garbled), body), Err(SignatureError::Malformed));
        assert_eq!(verify_callback(CUSTOMER_ID, "%%%", Some(&header), body), Err(SignatureError::BadApiKey));
    }

    #[test]
    fn the_signature_is_the_documented_hmac_of_the_body_alone() {
        // RFC 4231 test case 2 ("Jefe" / "what do ya want for nothing?"), with the key as TeleSign gives keys: Base64.
        let key = STANDARD.encode(b"Jefe");
        let header = sign_callback("C", &key, b"what do ya want for nothing?").unwrap();
        let expected =
            STANDARD.encode(hex::decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843").unwrap());
        assert_eq!(header, format!("TSA C:{expected}"));
    }

    #[test]
    fn a_customers_message_is_an_inbound_on_their_number() {
        let Callback::Inbound { inbound, to } = parse_callback(MO.as_bytes()).unwrap() else { panic!("not inbound") };
        assert_eq!(to.as_deref(), Some("12345"));
        assert_eq!(inbound.provider_message_id.as_deref(), Some("F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6"));
        assert_eq!(inbound.thread, Thread::External("+15555551212".into()));
        assert_eq!(inbound.customer.phone.as_ref().map(Phone::as_str), Some("+15555551212"));
        assert_eq!(
            inbound.act,
            Act::Message { text: Some("Where is my order?".into()), attachments: vec![], automated: false }
        );
        assert_eq!(inbound.reply_to, Some(json!({"phone_number": "15555551212", "sender_id": "12345"})));
    }

    #[test]
    fn delivery_reports_say_delivered_pending_or_failed_with_the_code() {
        let Callback::Delivery(r) = parse_callback(DELIVERED.as_bytes()).unwrap() else { panic!("not a report") };
        assert_eq!(
            (r.reference_id.as_str(), r.code, r.outcome),
            ("0123456789ABCDEF0123456789ABCDEF", 200, DeliveryOutcome::Delivered)
        );
        assert_eq!(r.description.as_deref(), Some("Delivered to handset"));
        let failed = r#"{"status":{"code":238,"description":"Destination blocked by end user","updated_on":"2016-10-21T14:05:36.181346Z"},"reference_id":"0123456789ABCDEF0123456789ABCDEF","external_id":"msg-1"}"#;
        let Callback::Delivery(r) = parse_callback(failed.as_bytes()).unwrap() else { panic!("not a report") };
        assert_eq!((r.code, r.outcome, r.external_id.as_deref()), (238, DeliveryOutcome::Failed, Some("msg-1")));
        for code in [203, 290, 291, 292, 295] {
            assert_eq!(DeliveryOutcome::of(code), DeliveryOutcome::Pending);
        }
        for code in [207, 210, 211, 220, 221, 222, 229, 230, 231, 233, 237, 238, 250, 502] {
            assert_eq!(DeliveryOutcome::of(code), DeliveryOutcome::Failed);
        }
    }

    #[test]
    fn bad_callbacks_have_their_reason() {
        let refused = |body: &str| {
            let e = parse_callback(body.as_bytes()).unwrap_err();
            (e.reason().to_string(), e.field)
        };
        assert_eq!(refused("{").0, "invalid_json");
        assert_eq!(refused("[1]").0, "invalid_body");
        assert_eq!(refused(r#"{"status":{"code":200}}"#), ("missing_field".into(), Some("reference_id".into())));
        assert_eq!(refused(r#"{"reference_id":"A"}"#), ("missing_field".into(), Some("status.code".into())));
        assert_eq!(
            refused(&format!(r#"{{"reference_id":"{}","status":{{"code":200}}}}"#, "A".repeat(65))).0,
            "field_too_long"
        );
        assert_eq!(
            refused(r#"{"reference_id":"A","sub_resource":"mo_sms"}"#),
            ("missing_field".into(), Some("user_response".into()))
        );
        assert_eq!(
            refused(r#"{"reference_id":"A","user_response":{"phone_number":"not a number","mo_message":"x"}}"#).0,
            "invalid_field"
        );
        let long = format!(
            r#"{{"reference_id":"A","user_response":{{"phone_number":"15555551212","mo_message":"{}"}}}}"#,
            "a".repeat(6_001)
        );
        assert_eq!(refused(&long).0, "message_too_long");
        assert_eq!(parse_callback(&vec![b' '; MAX_CALLBACK_BYTES + 1]).unwrap_err().reason(), "payload_too_large");
    }
}
