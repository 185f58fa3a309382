//! The Bot Framework channel (`contact-center-spec.md` §4.2–§4.4): Switchboard as a bot's messaging endpoint.
//! Activities come in signed by the service ([`auth`]), are read and bounded ([`activity`]) and turned into the
//! ingest contract ([`inbound`]); replies go out through the Connector API ([`outbound`]).

pub mod activity;
pub mod auth;
pub mod inbound;
pub mod outbound;

pub use activity::{Activity, ParseError, parse_activity};
pub use inbound::to_inbound;
