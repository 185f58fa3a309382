//! The channels' protocols, without I/O: each provider's wire format parsed into one [`inbound::Inbound`] that the
//! server's ingest service stores, and the server's events rendered into what the provider expects. Keeping them
//! free of the network and the store lets each parser be fuzzed on its own (`fuzz/`).
//!
//! A channel adapter is the pair of a parser here and its transport in `switchboard_server::channels`.

pub mod bot_framework;
pub mod direct_line;
pub mod google_bm;
pub mod inbound;
pub mod messaging_api;
pub mod meta;
pub mod phone;
pub mod telesign;
pub mod twilio;
