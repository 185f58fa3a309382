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
