//! What a customer's side sent, whatever the channel: the contract between every adapter's parser and the one
//! ingest service that stores it.

use switchboard_domain::{contact::CustomerIn, context::ContextPatch};

/// One thing the customer's side did, parsed and checked by its adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The provider's id for this activity or message: a repeat of an id already stored is stored once and answers
    /// as the first did.
    pub provider_message_id: Option<String>,
    /// Which conversation it belongs to.
    pub thread: Thread,
    /// Who sent it, as far as the provider tells.
    pub customer: CustomerIn,
    /// The sender's id on the provider (`from.id`), kept on the message.
    pub sender_id: Option<String>,
    /// The sender's display name, kept on the message.
    pub sender_name: Option<String>,
    pub act: Act,
    /// What the adapter needs to answer on this thread (Bot Framework: the service URL, the bot's and the
    /// provider's conversation ids), kept with the conversation and handed back when rendering replies. `None`
    /// keeps what is stored.
    pub reply_to: Option<serde_json::Value>,
}

/// How an inbound finds its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Thread {
    /// Switchboard's own conversation id, as the Messaging API and Direct Line clients send it.
    Conversation(String),
    /// The provider's key for the customer's thread (a Bot Framework conversation id, a phone number): the live
    /// conversation with this key on the channel, or a new one.
    External(String),
}

/// What the activity does.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Message {
        text: Option<String>,
        attachments: Vec<Attachment>,
        automated: bool,
    },
    /// The customer is typing: not stored, shown to the agent.
    Typing,
    /// The customer (or the bot speaking for them) ended the conversation.
    End,
    /// Context variables set (`Some`) or removed (`None`).
    Context(ContextPatch),
    /// A bot hands the conversation to people (`handoff.initiate`, the `Escalate` tag): it goes to a queue, with the
    /// bot's transcript kept. `context` is what the bot passed along.
    Escalate {
        context: ContextPatch,
    },
}

/// A file the customer sent: a link the provider serves, or the bytes themselves.
#[derive(Debug, Clone, PartialEq)]
pub enum Attachment {
    Link { content_type: String, url: String, name: Option<String> },
    Embedded { content_type: String, name: Option<String>, bytes: Vec<u8> },
}

/// Decodes `data:<type>;base64,<data>` or bare base64 (the documented `contentUrl` "URL or embedded base64"): the
/// file and its type (the URL's, else `content_type`); `None` for an http(s) URL, which is a link.
pub fn decode_embedded(content_url: &str, content_type: &str) -> Option<Result<(String, Vec<u8>), String>> {
    use base64::Engine as _;
    if content_url.starts_with("https://") || content_url.starts_with("http://") {
        return None;
    }
    let (declared, data) = match content_url.strip_prefix("data:") {
        Some(rest) => match rest.split_once(',') {
            Some((meta, data)) if meta.ends_with(";base64") => (meta.trim_end_matches(";base64").to_string(), data),
            _ => return Some(Err("a data URL must be `data:<type>;base64,<data>`".into())),
        },
        None => (content_type.to_string(), content_url),
    };
    let cleaned: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    Some(match base64::engine::general_purpose::STANDARD.decode(cleaned.as_bytes()) {
        Ok(bytes) if !bytes.is_empty() => {
            Ok((if declared.is_empty() { content_type.to_string() } else { declared }, bytes))
        }
        Ok(_) => Err("the attachment is empty".into()),
        Err(_) => Err("`contentUrl` is neither an http(s) URL nor valid base64".into()),
    })
}
