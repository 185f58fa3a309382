//! Twilio's Programmable Messaging, for SMS and WhatsApp: the webhooks Twilio posts (a customer's message, a sent
//! message's status), form-encoded and signed with the account's auth token ([`signature`]), parsed into what the
//! server stores ([`inbound`]); and the Messages API request a reply is sent as ([`outbound`]).

pub mod inbound;
pub mod outbound;
pub mod signature;

pub use inbound::{MessageStatus, ParseError, StatusCallback, TwilioMessage, parse_form, parse_message, parse_status};
pub use signature::{expected_signature, verify};

/// The prefix of a WhatsApp address on Twilio (`whatsapp:+14255550100`).
pub const WHATSAPP_PREFIX: &str = "whatsapp:";
