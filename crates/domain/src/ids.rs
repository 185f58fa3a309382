//! Typed ids. Each is a UUIDv7 (time-ordered, so ids sort by creation and make stable pagination cursors), written
//! as a plain GUID string because the documented APIs use GUIDs for conversation and channel ids.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    )+};
}

id_type! {
    /// An organization (tenant). Every other row belongs to one.
    OrgId,
    /// A person who signs in: admin, supervisor or agent.
    UserId,
    ApiKeyId,
    /// An OAuth2 client (client-credentials grant).
    ClientId,
    /// A customer record.
    ContactId,
    /// A channel instance: one configured entry point (a Messaging API channel, an SMS number, ...).
    ChannelId,
    WorkstreamId,
    QueueId,
    ConversationId,
    MessageId,
    /// A native webhook subscription.
    SubscriptionId,
    /// One event on its way to one webhook endpoint.
    DeliveryId,
    /// A file a customer or agent uploaded.
    AttachmentId,
    /// A browser's sign-in: what its session cookie stands for.
    SessionId,
    /// A messaging account: a provider registration (a Bot Framework app, ...) that channels are added to.
    MessagingAccountId,
    /// An outbound message template: SMS or WhatsApp text (or a WhatsApp provider template) in several locales.
    MessageTemplateId,
    /// An outbound configuration: which channel and template a send goes through (`msdyn_ocoutboundconfigurationid`).
    OutboundConfigId,
}
