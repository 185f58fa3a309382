//! The one error catalogue. Every failure a client can see has a stable `code` here, with its HTTP status;
//! the server renders it as RFC 9457 problem+json in exactly one place.

use std::fmt;

macro_rules! codes {
    ($($variant:ident => ($code:literal, $status:literal, $title:literal)),+ $(,)?) => {
        /// A stable, documented error code. The string form never changes once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $($variant),+ }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),+ }
            }

            /// The HTTP status this code is answered with.
            pub fn status(self) -> u16 {
                match self { $(Code::$variant => $status),+ }
            }

            /// A short, human title (the problem's `title`).
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title),+ }
            }
        }
    };
}

codes! {
    InvalidJson => ("invalid_json", 400, "The body is not valid JSON"),
    InvalidBody => ("invalid_body", 400, "The body does not match the expected shape"),
    UnknownField => ("unknown_field", 400, "The body has a field this endpoint does not accept"),
    MissingField => ("missing_field", 400, "A required field is missing"),
    InvalidField => ("invalid_field", 400, "A field has an invalid value"),
    UnknownEventType => ("unknown_event_type", 400, "An event type filter names no type of the event catalogue"),
    FieldTooLong => ("field_too_long", 400, "A field is longer than its limit"),
    MessageTooLong => ("message_too_long", 400, "The message text is longer than 6,000 characters"),
    EmptyMessage => ("empty_message", 400, "A message needs text or at least one attachment"),
    TooManyContextVariables => ("too_many_context_variables", 400, "A conversation holds at most 100 context variables"),
    TooManyAttachments => ("too_many_attachments", 400, "Too many attachments on one message"),
    TooManyQuickReplies => ("too_many_quick_replies", 409, "An organization holds at most 1,000 quick replies"),
    TooManyChannels => ("too_many_channels", 409, "A messaging account holds at most 100 channels"),
    AttachmentsNotAllowed => ("attachments_not_allowed", 400, "The channel does not let this sender send attachments"),
    UnsupportedActivity => ("unsupported_activity", 400, "The activity type or event name is not supported"),
    InvalidQuery => ("invalid_query", 400, "A query parameter is invalid"),
    InvalidCursor => ("invalid_cursor", 400, "The pagination cursor is invalid"),
    InvalidIdempotencyKey => ("invalid_idempotency_key", 400, "The Idempotency-Key header is invalid"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "The body must be application/json"),
    PayloadTooLarge => ("payload_too_large", 413, "The body is larger than the limit"),
    HeaderTimeout => ("header_timeout", 408, "The request's headers did not arrive within the header read timeout"),
    Unauthenticated => ("unauthenticated", 401, "Credentials are missing or invalid"),
    TokenExpired => ("token_expired", 401, "The bearer token has expired"),
    InvalidClient => ("invalid_client", 401, "Client authentication failed"),
    UnsupportedGrantType => ("unsupported_grant_type", 400, "Only the client_credentials grant is supported"),
    Forbidden => ("forbidden", 403, "Your role does not allow this"),
    InvalidCredentials => ("invalid_credentials", 401, "The email or password is wrong"),
    SessionExpired => ("session_expired", 401, "The session has expired; sign in again"),
    CsrfTokenInvalid => ("csrf_token_invalid", 403, "A write made with the session cookie needs the session's X-CSRF-Token header"),
    TooManySignInAttempts => ("too_many_sign_in_attempts", 429, "Too many failed sign-ins; retry after the Retry-After seconds"),
    TooManyChats => ("too_many_chats", 429, "Too many chats started from this address; retry after the Retry-After seconds"),
    PasswordTooShort => ("password_too_short", 400, "The password is shorter than 12 characters"),
    PasswordTooLong => ("password_too_long", 400, "The password is longer than 128 characters"),
    WrongCurrentPassword => ("wrong_current_password", 403, "The current password is wrong"),
    InvalidPasswordToken => ("invalid_password_token", 400, "The set-password token is unknown, used or expired"),
    PasswordSignInDisabled => ("password_sign_in_disabled", 403, "This organization signs in through its identity provider"),
    OidcNotConfigured => ("oidc_not_configured", 404, "The organization has no identity provider for sign-in"),
    InvalidOidcState => ("invalid_oidc_state", 400, "The sign-in's state is unknown, expired or not this browser's"),
    OidcSignInFailed => ("oidc_sign_in_failed", 401, "The identity provider's answer did not sign anyone in"),
    SessionNotFound => ("session_not_found", 404, "Session not found"),
    OriginNotAllowed => ("origin_not_allowed", 403, "The request's Origin is not one this server allows"),
    NotAcceptable => ("not_acceptable", 406, "This endpoint cannot answer in the media type the Accept header asks for"),
    ResumeIdAhead => ("resume_id_ahead", 400, "The resume id is newer than every event in the log"),
    WatermarkAhead => ("watermark_ahead", 400, "The Direct Line watermark is newer than the conversation's log"),
    RouteNotFound => ("route_not_found", 404, "No such endpoint"),
    MethodNotAllowed => ("method_not_allowed", 405, "This endpoint does not accept that method"),
    OrganizationNotFound => ("organization_not_found", 404, "Organization not found"),
    UserNotFound => ("user_not_found", 404, "User not found"),
    ApiKeyNotFound => ("api_key_not_found", 404, "API key not found"),
    ClientNotFound => ("client_not_found", 404, "Client not found"),
    ContactNotFound => ("contact_not_found", 404, "Contact not found"),
    ChannelNotFound => ("channel_not_found", 404, "Channel not found"),
    WorkstreamNotFound => ("workstream_not_found", 404, "Workstream not found"),
    QueueNotFound => ("queue_not_found", 404, "Queue not found"),
    ConversationNotFound => ("conversation_not_found", 404, "Conversation not found"),
    AgentNotFound => ("agent_not_found", 404, "Agent not found"),
    SubscriptionNotFound => ("subscription_not_found", 404, "Webhook subscription not found"),
    DeliveryNotFound => ("delivery_not_found", 404, "Webhook delivery not found"),
    AttachmentNotFound => ("attachment_not_found", 404, "Attachment not found or its link expired"),
    InvalidStateTransition => ("invalid_state_transition", 409, "The conversation's state does not allow this"),
    ConversationClosed => ("conversation_closed", 409, "The conversation is closed"),
    BotNotInConversation => ("bot_not_in_conversation", 409, "The bot has escalated or ended this conversation"),
    NotAssignedAgent => ("not_assigned_agent", 403, "Only the assigned agent may do this"),
    AlreadyExists => ("already_exists", 409, "An object with that key already exists"),
    IdempotencyKeyReused => ("idempotency_key_reused", 422, "The Idempotency-Key was used with a different request"),
    InvalidRule => ("invalid_rule", 400, "A routing rule does not parse or names something unknown"),
    InvalidCalendar => ("invalid_calendar", 400, "Operating hours overlap, are inverted or name an unknown time zone"),
    InvalidPresence => ("invalid_presence", 400, "No such presence"),
    InvalidCapacity => ("invalid_capacity", 400, "Capacity must be a whole number of units, zero or more"),
    InvalidOverflow => ("invalid_overflow", 400, "A queue's overflow rules are out of range, repeat a condition or loop"),
    OfferNotFound => ("offer_not_found", 404, "Offer not found"),
    OfferExpired => ("offer_expired", 409, "The offer has expired or was withdrawn"),
    AgentUnavailable => ("agent_unavailable", 409, "The agent's presence or capacity does not allow this"),
    InUse => ("in_use", 409, "The object is in use and cannot be deleted"),
    PresenceNotFound => ("presence_not_found", 404, "Custom presence not found"),
    QuickReplyNotFound => ("quick_reply_not_found", 404, "Quick reply not found"),
    MessagingAccountNotFound => ("messaging_account_not_found", 404, "Messaging account not found"),
    CapacityProfileNotFound => ("capacity_profile_not_found", 404, "Capacity profile not found"),
    SuppressionNotFound => ("suppression_not_found", 404, "The number is not on the suppression list"),
    MessageTemplateNotFound => ("message_template_not_found", 404, "Message template not found"),
    OutboundConfigNotFound => ("outbound_config_not_found", 404, "Outbound configuration not found"),
    MissingPlaceholder => ("missing_placeholder", 400, "A template's placeholder has no value"),
    ConflictingPlaceholder => ("conflicting_placeholder", 400, "A placeholder was given two different values (names are not case-sensitive)"),
    RecipientOptedOut => ("recipient_opted_out", 409, "The customer's number opted out (STOP): nothing is sent to it until it opts back in"),
    WhatsappWindowClosed => ("whatsapp_window_closed", 409, "The customer last wrote over 24 hours ago: WhatsApp takes only a template until they write again"),
    AlreadyInQueue => ("already_in_queue", 409, "The conversation is already in that queue"),
    NotRouted => ("not_routed", 409, "Routing does not hold this conversation (routing is off for its workstream)"),
    NoRoutingLeader => ("no_routing_leader", 503, "No node leads routing at the moment; retry after the Retry-After seconds"),
    Internal => ("internal", 500, "Internal error"),
    Unavailable => ("unavailable", 503, "A dependency is unavailable"),
    RequestTimeout => ("request_timeout", 503, "The request took longer than the request timeout; retry later"),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a client can be told about: a stable code, a sentence that says what went wrong, and where.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Error {
    pub code: Code,
    pub detail: String,
    /// The JSON path or parameter the error is about, when there is one.
    pub field: Option<String>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), field: None, source: None }
    }

    pub fn field(code: Code, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), field: Some(field.into()), source: None }
    }

    /// A 500 whose cause is logged, never shown.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { code: Code::Internal, detail: "internal error".into(), field: None, source: Some(source.into()) }
    }

    pub fn not_found(code: Code) -> Self {
        Self::new(code, code.title())
    }

    /// Prefixes the field path, so that a nested value's error names its full path.
    pub fn at(mut self, prefix: &str) -> Self {
        self.field = Some(match self.field.take() {
            Some(inner) if !inner.is_empty() => format!("{prefix}.{inner}"),
            _ => prefix.to_string(),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_client_errors_are_4xx() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert!(code.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            let status = code.status();
            assert!((400..600).contains(&status));
            if !matches!(code, Code::Internal | Code::Unavailable | Code::NoRoutingLeader | Code::RequestTimeout) {
                assert!(status < 500, "{code} must be a client error");
            }
        }
    }
}
