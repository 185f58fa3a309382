//! SMS through TeleSign: its callbacks (a customer's message, `mo_sms`, and delivery reports of ours), each signed
//! with `Authorization: TSA <customer id>:<signature>`, and sends through its messaging API (`POST /v1/messaging`,
//! Basic auth with the customer id and API key, form-encoded).

pub mod callback;
pub mod outbound;

pub use callback::{
    Callback, DeliveryOutcome, DeliveryReport, SignatureError, parse_callback, sign_callback, verify_callback,
};
