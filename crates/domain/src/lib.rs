//! The contact center's own vocabulary: ids, limits, validated values and the conversation state machine.
//!
//! Nothing here does I/O. Every value that crosses an edge (HTTP, a channel webhook, a CLI flag) is parsed into
//! one of these types once, so the code behind the edge never checks it again.

pub mod account;
pub mod contact;
pub mod context;
pub mod conversation;
pub mod error;
pub mod event;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod message;
pub mod outbound;
pub mod record;
pub mod role;
pub mod routing;
pub mod setup;
pub mod text;
pub mod time;

pub use error::{Code, Error, Result};
pub use time::Timestamp;
