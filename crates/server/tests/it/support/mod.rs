//! Fake providers for the tests: local servers speaking each provider's real wire format.

pub mod fake_bot_framework;
pub mod fake_google_bm;
pub mod fake_meta;
pub mod fake_telesign;
pub mod fake_twilio;
