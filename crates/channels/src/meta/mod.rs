//! WhatsApp through the Meta Cloud API: the WhatsApp Business Account webhook (the `hub.challenge` handshake, the
//! `X-Hub-Signature-256` on every notification, customers' messages of every kind and the statuses of ours), and
//! the Graph API's `/{phone-number-id}/messages` and media endpoints for what goes back.
//!
//! The phone number id names the business number a notification is for and sends come from; a channel is bound to
//! one, so a notification for another number is not the channel's.

pub mod outbound;
pub mod signature;
pub mod webhook;

pub use signature::{SignatureError, sign, verify_signature, verify_subscription};
pub use webhook::{Event, MediaRef, MessageIn, Notification, StatusIn, StatusState, parse_notification};
