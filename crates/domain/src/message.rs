use serde::{Deserialize, Serialize};

use crate::{
    ids::AttachmentId,
    str_enum,
    text::{HttpUrl, ShortText},
};

str_enum!(
    /// Who wrote a message.
    SenderKind {
        Customer = "customer",
        Agent = "agent",
        Bot = "bot",
        System = "system",
    }
);

impl SenderKind {
    /// The name a sender of this kind reads with when nothing better is known: "System" for the server's own
    /// messages, and for messages stored before senders were recorded whole.
    pub fn generic_name(self) -> &'static str {
        match self {
            SenderKind::Customer => "Customer",
            SenderKind::Agent => "Agent",
            SenderKind::Bot => "Bot",
            SenderKind::System => "System",
        }
    }
}

/// A file attached to a message, by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// MIME type, e.g. `image/png`.
    pub content_type: ShortText,
    /// Where the file is. For a file this server keeps, a link that works with the API's credentials; messages
    /// handed to agents and webhooks carry it signed and expiring, so it works without them.
    pub url: HttpUrl,
    /// File name with extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ShortText>,
    /// Set by the server for a file it keeps (an upload); never given by a caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AttachmentId>,
    /// Bytes, for a file the server keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}
