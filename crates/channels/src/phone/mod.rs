//! What every phone channel (SMS through Twilio or TeleSign, WhatsApp through Twilio or Meta) shares, without I/O:
//! numbers normalized to E.164 ([`e164`]), how many SMS segments a text costs ([`segments`]), and the carriers'
//! opt-out and help keywords ([`keywords`]). The server keeps the suppression list and the WhatsApp window
//! (`switchboard_server::channels::phone`).

pub mod e164;
pub mod keywords;
pub mod segments;

pub use e164::{E164, PhoneError};
pub use keywords::Keyword;
pub use segments::{Encoding, Segments};
