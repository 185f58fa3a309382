use serde::{Deserialize, Serialize};

use crate::{
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

/// A file attached to a message, by URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// MIME type, e.g. `image/png`.
    pub content_type: ShortText,
    pub url: HttpUrl,
    /// File name with extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<ShortText>,
}
