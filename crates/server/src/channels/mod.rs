//! Channels: how customers reach Switchboard other than through the native API. Each channel's adapter is its
//! protocol in `switchboard_channels` (parse what the provider sends, render what goes back) and its transport
//! here (the endpoint the provider calls, its authentication); everything it receives goes through the one
//! [`ingest`] service, and everything it sends through the delivery engine (`crate::delivery`). Messaging accounts
//! ([`accounts`]) hold each provider's credentials for the channels added to them.

pub mod accounts;
pub mod bench;
mod bench_outbound;
mod bench_phone;
pub mod bot_framework;
pub mod google_bm;
mod google_bm_bench;
pub mod ingest;
pub mod meta;
pub mod phone;
pub mod receipts;
pub mod telesign;
pub mod twilio;
