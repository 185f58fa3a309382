//! What the store hands back. The records are also the API's output shapes and the payloads of events; they are
//! defined in `switchboard_domain::record`, beside the event catalogue, and re-exported here.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
pub(crate) use switchboard_domain::record::display_name;
pub use switchboard_domain::record::{
    ApiKey, Channel, ChannelView, Contact, ContextVariable, Conversation, Message, OAuthClient, Org, Queue, Sender,
    User, Workstream,
};
use switchboard_domain::{
    Timestamp,
    event::{self, EventType, ReadError, TypedEvent},
    ids::*,
};
use utoipa::{
    ToSchema,
    openapi::{RefOr, Schema},
};

/// Something that happened, written in the same transaction as the change it describes. Documented as the
/// catalogue's entries ([`event::log_entry_schema`]), one per type, so that clients get typed payloads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Increases with every event of the deployment.
    pub id: i64,
    pub org_id: OrgId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub conversation_id: Option<ConversationId>,
    /// The position in the conversation's log (1, 2, 3, … without gaps), for conversation events.
    pub sequence: Option<i64>,
    pub data: serde_json::Value,
    pub created_at: Timestamp,
}

impl utoipa::PartialSchema for Event {
    fn schema() -> RefOr<Schema> {
        event::log_entry_schema()
    }
}

impl ToSchema for Event {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(event::LOG_ENTRY_SCHEMA)
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(event::log_entry_schemas());
        schemas.extend(event::payload_schemas());
    }
}

impl Event {
    /// The event's type in the catalogue; `None` for a type the catalogue does not know.
    pub fn kind(&self) -> Option<EventType> {
        EventType::parse(&self.event_type)
    }

    /// The event with its payload read as the catalogue's type for it.
    pub fn typed(&self) -> Result<TypedEvent, ReadError> {
        TypedEvent::from_stored(&self.event_type, &self.data)
    }
}

/// One page of a list, and the cursor that continues it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says that more exist.
    pub fn from_rows(mut rows: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(cursor_of) } else { None };
        Self { data: rows, next_cursor }
    }
}
