//! The configured objects conversations run through: channels, workstreams and queues.

/// Declares a closed set of snake_case values with `as_str`/`parse`, for the API and for the database column.
#[macro_export]
macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $s)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// The kind of a channel instance.
    ChannelType {
        /// The REST Messaging API: an integrator's own channel (seed 000).
        MessagingApi = "messaging_api",
        /// A live chat widget: the customer is on the page, so the conversation cannot wait.
        LiveChat = "live_chat",
        DirectLine = "direct_line",
        BotFramework = "bot_framework",
        GoogleBusinessMessages = "google_business_messages",
        Sms = "sms",
        Whatsapp = "whatsapp",
        Voice = "voice",
    }
);

impl ChannelType {
    /// Asynchronous channels let an agent park a conversation in Waiting (§6.6); live chat and voice do not.
    pub fn is_async(self) -> bool {
        !matches!(self, ChannelType::LiveChat | ChannelType::Voice)
    }
}

str_enum!(
    WorkstreamType {
        Messaging = "messaging",
        Voice = "voice",
        Record = "record",
    }
);

str_enum!(
    /// Push offers work to agents; pick lets agents take it from the queue.
    Distribution {
        Push = "push",
        Pick = "pick",
    }
);

str_enum!(
    QueueType {
        Messaging = "messaging",
        Voice = "voice",
        Record = "record",
    }
);

/// How a channel reaches the outside world, by channel type. Fields a channel type does not use are refused when
/// the channel is saved.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// Messaging API: the base URL agent and system activities are POSTed to, as
    /// `{webhook_url}/v3/conversations/{id}/activities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<crate::text::HttpUrl>,
    /// Messaging API: the integrator's app id; the token on each webhook call is minted with this audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<crate::text::ShortText>,
    /// Messaging API: how to check an authenticated customer's token on conversation create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_token: Option<CustomerTokenKeys>,
}

/// The organization's key for customer tokens: a PEM public key (RS256 or ES256), or a JWKS URL.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerTokenKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<crate::text::HttpUrl>,
    /// When set, the token's `iss` must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<crate::text::ShortText>,
}

impl ChannelSettings {
    /// Refuses settings that make no sense for `channel_type`, so a typo'd setup fails when saved, not when used.
    pub fn check(&self, channel_type: ChannelType) -> crate::Result<()> {
        use crate::{Code, Error};
        let messaging = channel_type == ChannelType::MessagingApi;
        for (set, name) in [
            (self.webhook_url.is_some(), "webhook_url"),
            (self.app_id.is_some(), "app_id"),
            (self.customer_token.is_some(), "customer_token"),
        ] {
            if set && !messaging {
                return Err(Error::field(
                    Code::InvalidField,
                    format!("settings.{name}"),
                    format!("`{name}` is a setting of messaging_api channels, not {channel_type}"),
                ));
            }
        }
        if let Some(keys) = &self.customer_token {
            match (&keys.public_key_pem, &keys.jwks_url) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(Error::field(
                        Code::InvalidField,
                        "settings.customer_token",
                        "give exactly one of `public_key_pem` and `jwks_url`",
                    ));
                }
                (Some(pem), None) if !pem.contains("-----BEGIN PUBLIC KEY-----") => {
                    return Err(Error::field(
                        Code::InvalidField,
                        "settings.customer_token.public_key_pem",
                        "must be a PEM `PUBLIC KEY`",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Per-workstream settings beyond routing.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkstreamSettings {
    /// What customers may upload (reference §1.5: "allowed attachment types and sizes follow the org's file
    /// attachment settings").
    #[serde(default)]
    pub attachments: AttachmentPolicy,
}

/// Which uploaded files a workstream accepts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentPolicy {
    /// Largest file in bytes (default 5 MiB, at most 16 MiB).
    #[serde(default = "AttachmentPolicy::default_max_bytes")]
    pub max_bytes: u64,
    /// MIME types accepted, exact (`image/png`) or by family (`image/*`). Empty accepts none.
    #[serde(default = "AttachmentPolicy::default_types")]
    pub allowed_types: Vec<crate::text::ShortText>,
}

impl AttachmentPolicy {
    pub const MAX_BYTES_LIMIT: u64 = 16 << 20;

    fn default_max_bytes() -> u64 {
        5 << 20
    }

    fn default_types() -> Vec<crate::text::ShortText> {
        ["image/*", "audio/*", "video/*", "application/pdf", "text/plain"]
            .into_iter()
            .map(|t| crate::text::ShortText::from_stored(t.to_string()))
            .collect()
    }

    pub fn allows_type(&self, content_type: &str) -> bool {
        let content_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        self.allowed_types.iter().any(|t| {
            let t = t.as_str().to_ascii_lowercase();
            match t.strip_suffix("/*") {
                Some(family) => content_type.split('/').next() == Some(family) && content_type.contains('/'),
                None => t == content_type,
            }
        })
    }

    pub fn check(&self) -> crate::Result<()> {
        if self.max_bytes == 0 || self.max_bytes > Self::MAX_BYTES_LIMIT {
            return Err(crate::Error::field(
                crate::Code::InvalidField,
                "settings.attachments.max_bytes",
                format!("must be between 1 and {} bytes", Self::MAX_BYTES_LIMIT),
            ));
        }
        Ok(())
    }
}

impl Default for AttachmentPolicy {
    fn default() -> Self {
        Self { max_bytes: Self::default_max_bytes(), allowed_types: Self::default_types() }
    }
}
