//! The configured objects conversations run through: channels, workstreams and queues.

/// Declares a closed set of snake_case values with `as_str`/`parse`, for the API and for the database column.
#[macro_export]
macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vdoc])* #[serde(rename = $s)] $variant),+ }

        // Written out rather than derived: utoipa's derive does not see a `rename` whose value is a macro
        // fragment, and documented the variant names instead of the strings the server speaks.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let docs: &[&str] = &[$(stringify!($doc)),*];
                let description = docs
                    .iter()
                    .filter_map(|d| d.split_once('"').and_then(|(_, rest)| rest.rsplit_once('"')).map(|(d, _)| d.trim()))
                    .collect::<Vec<_>>()
                    .join(" ");
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description((!description.is_empty()).then_some(description))
                    .enum_values(Some([$($s),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

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
    /// Live chat: the sites that may embed the chat page (`/chat/{channel}`) and call the chat API from their
    /// pages, as web origins (`https://shop.example`, at most 20). Empty: only a visit to the page itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<WebOrigin>,
    /// Live chat: what the customer answers before the chat starts (at most 20). The keys `name` and `email`
    /// describe the customer (their contact), `subject` is the conversation's subject (what agents' offers show);
    /// every other key becomes a displayable context variable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_chat_fields: Vec<PreChatField>,
    /// SMS, WhatsApp, Bot Framework and Google's Business Messages: the most messages a second the channel sends
    /// its provider (1 to 10,000), instead of the server's default for the provider. A provider's limit is the
    /// sender's: a US long code takes about 1 SMS a second, a short code 100, a WhatsApp number 80 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 10000)]
    pub sends_per_second: Option<u32>,
}

/// The highest `sends_per_second` a channel may be given.
pub const MAX_SENDS_PER_SECOND: u32 = 10_000;

/// Origins a live chat channel may list.
pub const MAX_ALLOWED_ORIGINS: usize = 20;
/// Questions a live chat channel may ask before the chat.
pub const MAX_PRE_CHAT_FIELDS: usize = 20;

/// A web origin as browsers send it in `Origin`: `http` or `https`, a host, an optional port, nothing else (no
/// path, no wildcard), lower-cased. A trailing `/` is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebOrigin(String);

impl WebOrigin {
    pub fn parse(s: impl Into<String>) -> Result<Self, String> {
        use crate::text::coded;
        let s: String = s.into();
        let invalid = |detail: &str| Err(coded(crate::Code::InvalidField, detail));
        if s.chars().count() > 300 {
            return invalid("must be at most 300 characters");
        }
        let lower = s.trim().to_ascii_lowercase();
        let lower = lower.strip_suffix('/').unwrap_or(&lower);
        let Some(authority) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) else {
            return invalid("must be a web origin: `https://` or `http://`, then a host (`https://shop.example`)");
        };
        if authority.contains('*') {
            return invalid("wildcards are not allowed: list each origin (`https://shop.example`)");
        }
        if authority.contains(['/', '?', '#']) {
            return invalid("must be an origin, without a path, query or fragment (`https://shop.example`)");
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && !host.starts_with(['.', '-'])
            && !host.ends_with(['.', '-'])
            && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0) && !p.starts_with('0'));
        if !host_ok || !port_ok {
            return invalid("must be an origin: a host name or IPv4 address and an optional port, nothing else");
        }
        Ok(Self(lower.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebOrigin {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl From<WebOrigin> for String {
    fn from(v: WebOrigin) -> String {
        v.0
    }
}

impl utoipa::PartialSchema for WebOrigin {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A web origin: scheme, host and optional port (`https://shop.example`)"))
            .pattern(Some(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"))
            .max_length(Some(300))
            .into()
    }
}

impl utoipa::ToSchema for WebOrigin {}

/// A question of a live chat's pre-chat form.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreChatField {
    /// `name` (the customer's name), `email` (their email address), `subject` (the conversation's), or the name of
    /// the context variable the answer is kept in.
    pub key: crate::context::VariableName,
    /// What the form asks, as the customer reads it.
    pub label: crate::text::Name,
    /// Whether the chat cannot start without an answer.
    #[serde(default)]
    pub required: bool,
}

impl PreChatField {
    pub const NAME: &str = "name";
    pub const EMAIL: &str = "email";
    pub const SUBJECT: &str = "subject";
}

/// A channel's settings as they are read back. Credentials are write-only, for every role: a read says whether
/// each is set (`<name>_set`), never what it is. The webhook URL and app id are configuration, not credentials
/// (the webhook call carries a token signed by this server), and read back as they were set.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ChannelSettingsView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<crate::text::HttpUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<crate::text::ShortText>,
    /// Whether customer-token keys are set (`customer_token` on create and `PATCH`; never read back).
    pub customer_token_set: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<WebOrigin>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_chat_fields: Vec<PreChatField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sends_per_second: Option<u32>,
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
    /// What a read shows of these settings: everything but the credentials, whose presence it tells.
    pub fn view(&self) -> ChannelSettingsView {
        ChannelSettingsView {
            webhook_url: self.webhook_url.clone(),
            app_id: self.app_id.clone(),
            customer_token_set: self.customer_token.is_some(),
            allowed_origins: self.allowed_origins.clone(),
            pre_chat_fields: self.pre_chat_fields.clone(),
            sends_per_second: self.sends_per_second,
        }
    }

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
        let live_chat = channel_type == ChannelType::LiveChat;
        for (set, name) in [
            (!self.allowed_origins.is_empty(), "allowed_origins"),
            (!self.pre_chat_fields.is_empty(), "pre_chat_fields"),
        ] {
            if set && !live_chat {
                return Err(Error::field(
                    Code::InvalidField,
                    format!("settings.{name}"),
                    format!("`{name}` is a setting of live_chat channels, not {channel_type}"),
                ));
            }
        }
        if let Some(rate) = self.sends_per_second {
            let provider = matches!(
                channel_type,
                ChannelType::Sms
                    | ChannelType::Whatsapp
                    | ChannelType::BotFramework
                    | ChannelType::GoogleBusinessMessages
            );
            if !provider {
                return Err(Error::field(
                    Code::InvalidField,
                    "settings.sends_per_second",
                    format!(
                        "`sends_per_second` is a setting of channels that send through a provider, not {channel_type}"
                    ),
                ));
            }
            if !(1..=MAX_SENDS_PER_SECOND).contains(&rate) {
                return Err(Error::field(
                    Code::InvalidField,
                    "settings.sends_per_second",
                    format!("must be from 1 to {MAX_SENDS_PER_SECOND}"),
                ));
            }
        }
        if self.allowed_origins.len() > MAX_ALLOWED_ORIGINS {
            return Err(Error::field(
                Code::InvalidField,
                "settings.allowed_origins",
                format!("at most {MAX_ALLOWED_ORIGINS} origins"),
            ));
        }
        if self.pre_chat_fields.len() > MAX_PRE_CHAT_FIELDS {
            return Err(Error::field(
                Code::InvalidField,
                "settings.pre_chat_fields",
                format!("at most {MAX_PRE_CHAT_FIELDS} questions"),
            ));
        }
        let mut keys = std::collections::HashSet::new();
        for (i, field) in self.pre_chat_fields.iter().enumerate() {
            if !keys.insert(field.key.as_str()) {
                return Err(Error::field(
                    Code::InvalidField,
                    format!("settings.pre_chat_fields[{i}].key"),
                    format!("the key `{}` is asked twice", field.key),
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
    /// How unified routing treats the workstream's conversations. Off by default: conversations then wait in the
    /// fallback queue until someone accepts them, as before routing existed.
    #[serde(default)]
    pub routing: RoutingSettings,
    /// When the system closes conversations left without activity (§6.6); each state defaults per channel.
    #[serde(default)]
    pub auto_close: crate::lifecycle::AutoCloseSettings,
    /// Messages telling waiting customers their place in the queue and their estimated wait (routed workstreams).
    #[serde(default)]
    pub wait_notifications: WaitNotifications,
}

/// How waiting customers hear of their position and estimated wait: a system message and a
/// `routing.wait_estimate_changed` event when either changes (the estimate by a whole step: minutes below 10,
/// five minutes below an hour, then quarter hours), never more often than `min_interval_seconds`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitNotifications {
    #[serde(default = "WaitNotifications::default_enabled")]
    pub enabled: bool,
    /// 10 to 3600 seconds; 60 by default.
    #[serde(default = "WaitNotifications::default_interval")]
    pub min_interval_seconds: u32,
}

impl WaitNotifications {
    fn default_enabled() -> bool {
        true
    }
    fn default_interval() -> u32 {
        60
    }

    pub fn check(&self) -> crate::Result<()> {
        if !(10..=3600).contains(&self.min_interval_seconds) {
            return Err(crate::Error::field(
                crate::Code::InvalidField,
                "settings.wait_notifications.min_interval_seconds",
                "updates are at least 10 and at most 3600 seconds apart",
            ));
        }
        Ok(())
    }
}

impl Default for WaitNotifications {
    fn default() -> Self {
        Self { enabled: Self::default_enabled(), min_interval_seconds: Self::default_interval() }
    }
}

str_enum!(
    /// A base presence as the API writes it; `inactive` is set by routing only.
    PresenceName {
        Available = "available",
        Busy = "busy",
        BusyDnd = "busy_dnd",
        Away = "away",
        Offline = "offline",
        Inactive = "inactive",
    }
);

str_enum!(
    /// How a workstream's required skills are matched (§6.5).
    SkillMatchingName {
        None = "none",
        Exact = "exact",
        Closest = "closest",
    }
);

/// A workstream's unified-routing settings (reference §6.1, §6.5).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Whether the routing engine classifies, queues and offers this workstream's conversations.
    #[serde(default)]
    pub enabled: bool,
    /// Capacity units one conversation takes from an agent (at least 1).
    #[serde(default = "RoutingSettings::default_units")]
    pub capacity_units: u32,
    /// Presences an agent may be in to be offered work.
    #[serde(default = "RoutingSettings::default_presences")]
    pub allowed_presences: Vec<PresenceName>,
    #[serde(default = "RoutingSettings::default_matching")]
    pub skill_matching: SkillMatchingName,
    /// Seconds an agent has to accept an offer.
    #[serde(default = "RoutingSettings::default_offer_timeout")]
    pub offer_timeout_seconds: u32,
    /// Seconds before a declined conversation is offered to the same agent again.
    #[serde(default = "RoutingSettings::default_cooldown")]
    pub reoffer_cooldown_seconds: u32,
    /// A revived conversation goes back to the agent who parked it first.
    #[serde(default)]
    pub affinity: bool,
    /// On a push workstream (reference §6.1 "allow selecting from push work streams"): agents who are members of
    /// the queue may also pick its Open conversations themselves (`POST /v1/conversations/{id}/pick`, and they are
    /// listed in the queue's work items), regardless of their capacity and presence. Only for push distribution.
    #[serde(default)]
    pub allow_pick_from_push: bool,
    /// The presence an agent is put in while a conversation of this workstream is in wrap-up (reference §6.5,
    /// "after conversation work"): a built-in presence (`busy`, `busy_dnd`, …) or a custom one's id, such as a
    /// "Busy - After conversation work" based on Busy-DND. Their presence before comes back when the conversation
    /// closes, unless they chose another meanwhile. Absent: the presence does not change at wrap-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_conversation_work_presence: Option<String>,
    #[serde(default)]
    pub missed_offer_sets_inactive: bool,
    #[serde(default)]
    pub rejected_offer_sets_busy_dnd: bool,
    /// Whether a conversation in wrap-up keeps its agent's capacity (§6.1 "block capacity for wrap-up"): `never`,
    /// `always` (until closed), or `timed` for `wrap_up_blocking_minutes`.
    #[serde(default = "RoutingSettings::default_wrap_up")]
    pub wrap_up_blocking: WrapUpBlockingName,
    /// With `timed`: 1 to 60 minutes, after which (or at close, if sooner) the capacity is released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_up_blocking_minutes: Option<u8>,
    /// Profile-based capacity (§6.4): each conversation also takes one item of this capacity profile. With
    /// `capacity_units: 0` the profile alone limits the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_profile_id: Option<uuid::Uuid>,
}

str_enum!(
    /// How long a conversation in wrap-up holds its agent's capacity.
    WrapUpBlockingName {
        Never = "never",
        Always = "always",
        Timed = "timed",
    }
);

impl RoutingSettings {
    fn default_units() -> u32 {
        1
    }
    fn default_presences() -> Vec<PresenceName> {
        vec![PresenceName::Available, PresenceName::Busy]
    }
    fn default_matching() -> SkillMatchingName {
        SkillMatchingName::None
    }
    fn default_offer_timeout() -> u32 {
        60
    }
    fn default_cooldown() -> u32 {
        300
    }
    fn default_wrap_up() -> WrapUpBlockingName {
        WrapUpBlockingName::Never
    }

    fn wrap_up_engine(&self) -> crate::Result<crate::routing::engine::WrapUpBlocking> {
        use crate::routing::engine::WrapUpBlocking;
        let field = |detail: &str| {
            crate::Error::field(crate::Code::InvalidField, "settings.routing.wrap_up_blocking_minutes", detail)
        };
        match (self.wrap_up_blocking, self.wrap_up_blocking_minutes) {
            (WrapUpBlockingName::Never, None) => Ok(WrapUpBlocking::Never),
            (WrapUpBlockingName::Always, None) => Ok(WrapUpBlocking::Always),
            (WrapUpBlockingName::Timed, Some(m)) if (1..=60).contains(&m) => Ok(WrapUpBlocking::Minutes(m)),
            (WrapUpBlockingName::Timed, Some(_)) => Err(field("wrap-up blocking is 1 to 60 minutes")),
            (WrapUpBlockingName::Timed, None) => Err(field("`timed` wrap-up blocking needs its minutes")),
            (_, Some(_)) => Err(field("minutes go with `\"wrap_up_blocking\": \"timed\"` only")),
        }
    }

    /// The engine's form of these settings; refuses what the engine cannot honour, naming the field.
    pub fn to_engine(&self, distribution: Distribution) -> crate::Result<crate::routing::engine::WorkstreamRouting> {
        use crate::routing::engine::{BasePresence, CapacityDemand, PresenceSet, SkillMatching, WorkstreamRouting};
        let mut allowed = PresenceSet::EMPTY;
        for p in &self.allowed_presences {
            allowed = allowed.with(match p {
                PresenceName::Available => BasePresence::Available,
                PresenceName::Busy => BasePresence::Busy,
                PresenceName::BusyDnd => BasePresence::BusyDnd,
                PresenceName::Away | PresenceName::Inactive => BasePresence::Away,
                PresenceName::Offline => BasePresence::Offline,
            });
        }
        if self.allow_pick_from_push && distribution != Distribution::Push {
            return Err(crate::Error::field(
                crate::Code::InvalidField,
                "settings.routing.allow_pick_from_push",
                "picking regardless of capacity and presence is for push workstreams; a pick workstream is picked anyway",
            ));
        }
        let routing = WorkstreamRouting {
            distribution,
            pick_regardless: self.allow_pick_from_push,
            capacity: CapacityDemand {
                units: self.capacity_units,
                profile: self.capacity_profile_id.map(crate::routing::engine::CapacityProfileId),
            },
            allowed_presences: allowed,
            skill_matching: match self.skill_matching {
                SkillMatchingName::None => SkillMatching::None,
                SkillMatchingName::Exact => SkillMatching::Exact,
                SkillMatchingName::Closest => SkillMatching::Closest,
            },
            wrap_up: self.wrap_up_engine()?,
            affinity: self.affinity,
            offer_timeout_ms: i64::from(self.offer_timeout_seconds) * 1000,
            missed_offer_sets_inactive: self.missed_offer_sets_inactive,
            rejected_offer_sets_busy_dnd: self.rejected_offer_sets_busy_dnd,
            reoffer_cooldown_ms: i64::from(self.reoffer_cooldown_seconds) * 1000,
        };
        routing.check().map_err(|e| {
            let field = format!("settings.routing.{}", e.field.as_deref().unwrap_or("capacity_units"));
            crate::Error { field: Some(field), ..e }
        })?;
        Ok(routing)
    }
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            capacity_units: Self::default_units(),
            allowed_presences: Self::default_presences(),
            skill_matching: Self::default_matching(),
            offer_timeout_seconds: Self::default_offer_timeout(),
            reoffer_cooldown_seconds: Self::default_cooldown(),
            affinity: false,
            allow_pick_from_push: false,
            after_conversation_work_presence: None,
            missed_offer_sets_inactive: false,
            rejected_offer_sets_busy_dnd: false,
            wrap_up_blocking: Self::default_wrap_up(),
            wrap_up_blocking_minutes: None,
            capacity_profile_id: None,
        }
    }
}

str_enum!(
    /// How a queue chooses the agent for each conversation (§6.3).
    AssignmentMethodName {
        HighestCapacity = "highest_capacity",
        RoundRobin = "round_robin",
        MostIdle = "most_idle",
        /// The queue's own prioritization and assignment rulesets (`QueueRouting::custom`).
        Custom = "custom",
    }
);

/// Where a queue sends new conversations it cannot take (§6.3 overflow); see `routing::overflow`.
pub use crate::routing::overflow::OverflowSettings;

/// A queue's routing settings: assignment method, operating hours and overflow.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueRouting {
    #[serde(default = "QueueRouting::default_method")]
    pub assignment_method: AssignmentMethodName,
    /// Operating hours; always open when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<crate::routing::calendar::CalendarSpec>,
    #[serde(default)]
    pub overflow: OverflowSettings,
    /// The rulesets of the `custom` assignment method; required with it, refused without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<crate::routing::assignment_rules::CustomAssignmentSpec>,
}

impl QueueRouting {
    fn default_method() -> AssignmentMethodName {
        AssignmentMethodName::HighestCapacity
    }
}

impl Default for QueueRouting {
    fn default() -> Self {
        Self {
            assignment_method: Self::default_method(),
            calendar: None,
            overflow: OverflowSettings::default(),
            custom: None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_origins_are_scheme_host_and_port_only() {
        assert_eq!(WebOrigin::parse("https://Shop.Example/").unwrap().as_str(), "https://shop.example");
        assert_eq!(WebOrigin::parse("http://127.0.0.1:8081").unwrap().as_str(), "http://127.0.0.1:8081");
        for bad in [
            "shop.example",
            "https://*.shop.example",
            "https://shop.example/chat",
            "https://shop.example?x=1",
            "ftp://shop.example",
            "https://",
            "https://shop.example:0",
            "https://shop.example:99999",
            "https://user@shop.example",
            "*",
        ] {
            assert!(WebOrigin::parse(bad).is_err(), "{bad}");
        }
    }
}
