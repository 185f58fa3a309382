//! The event log: the transactional outbox later workers deliver from, and each conversation's own log (its
//! timeline and transcript), numbered by `seq`.

use switchboard_domain::{
    Error, Timestamp,
    event::{EventType, TypedEvent},
    ids::*,
};

use crate::{
    model::{Event, Sender},
    params,
    sql::{Backend, Row, Tx},
};

/// A place in a conversation's log: its number, and its time, which is after every earlier entry's time (at least
/// one millisecond later), so that entries of one conversation sort the same by time as by number. The
/// Messaging API's `messageId` (epoch milliseconds, strictly increasing per conversation) is that time.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    pub seq: i64,
    pub at: Timestamp,
}

/// The next position in a conversation's log. On PostgreSQL it locks the conversation row first, so concurrent
/// writers to one conversation (on any node) take distinct, consecutive positions; SQLite has a single writer.
pub fn next_position(tx: &mut Tx<'_>, conversation: ConversationId, now: Timestamp) -> Result<Position, Error> {
    if tx.backend() == Backend::Postgres {
        // Sent with the read of the log's end below: one round trip for both.
        tx.execute_later("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", params![conversation])?;
    }
    let last = match LAST_POSITIONS.with_borrow(|cache| cache.as_ref().and_then(|c| c.get(&conversation).copied())) {
        Some(last) => Some(last),
        None => tx
            .query_opt(
                "SELECT seq, created_at FROM events WHERE conversation_id = $1 ORDER BY seq DESC LIMIT 1",
                params![conversation],
            )?
            .map(|r| Ok::<_, Error>(Position { seq: r.i64(0)?, at: r.ts(1)? }))
            .transpose()?,
    };
    let next = match last {
        Some(last) => Position { seq: last.seq + 1, at: now.max(last.at.plus_millis(1)) },
        None => Position { seq: 1, at: now },
    };
    LAST_POSITIONS.with_borrow_mut(|cache| {
        if let Some(cache) = cache {
            if cache.len() >= REMEMBERED_POSITIONS {
                cache.clear();
            }
            cache.insert(conversation, next);
        }
    });
    Ok(next)
}

thread_local! {
    /// On SQLite's writer thread only: the last position taken in each recently written conversation. That thread
    /// is the database's only writer, so what it took last is the log's end, and the lookup it saves was two
    /// fifths of appending an event. Cleared whenever a write is rolled back, since positions taken in it were
    /// never written.
    static LAST_POSITIONS: std::cell::RefCell<Option<std::collections::HashMap<ConversationId, Position>>> =
        const { std::cell::RefCell::new(None) };
}

/// Conversations whose last position is remembered at most; past it the memory starts over.
const REMEMBERED_POSITIONS: usize = 65_536;

/// Makes this thread remember log positions: for the single writer of an embedded database.
pub(crate) fn remember_positions_on_this_thread() {
    LAST_POSITIONS.with_borrow_mut(|cache| *cache = Some(std::collections::HashMap::new()));
}

/// Forgets remembered positions, after a rollback.
pub(crate) fn forget_positions() {
    LAST_POSITIONS.with_borrow_mut(|cache| {
        if let Some(cache) = cache {
            cache.clear();
        }
    });
}

/// Records `event` at a position taken with [`next_position`] (or none, for events outside conversations).
/// Nothing is read back, so on PostgreSQL it travels with the transaction's next statements
/// ([`Tx::execute_later`]).
pub fn insert_event(
    tx: &mut Tx<'_>,
    org: OrgId,
    at: Option<(ConversationId, Position)>,
    event: &TypedEvent,
    now: Timestamp,
) -> Result<(), Error> {
    let payload = event.stored_json().map_err(Error::internal)?;
    insert_stored(tx, org, event.event_type(), at, payload, now)
}

/// Records that `event` happened; call it inside the transaction that made it happen. Returns the position in
/// the conversation's log, if it is a conversation's event.
pub fn append_event(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: Option<ConversationId>,
    event: &TypedEvent,
    now: Timestamp,
) -> Result<Option<Position>, Error> {
    let at = conversation.map(|c| next_position(tx, c, now).map(|p| (c, p))).transpose()?;
    insert_event(tx, org, at, event, now)?;
    Ok(at.map(|a| a.1))
}

/// Like [`append_event`], for a caller that needs no position back: on PostgreSQL the entry's position is taken by
/// the statement that writes it, so the whole append is pipelined with the transaction's other writes
/// ([`Tx::execute_later`]) instead of waiting three round trips.
pub fn record_event(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: Option<ConversationId>,
    event: &TypedEvent,
    now: Timestamp,
) -> Result<(), Error> {
    let payload = event.stored_json().map_err(Error::internal)?;
    record_stored(tx, org, event.event_type(), conversation, payload, now)
}

fn insert_stored(
    tx: &mut Tx<'_>,
    org: OrgId,
    event_type: EventType,
    at: Option<(ConversationId, Position)>,
    payload: String,
    now: Timestamp,
) -> Result<(), Error> {
    let created_at = at.map_or(now, |(_, p)| p.at);
    tx.note_events_written();
    tx.execute_later(
        "INSERT INTO events (org_id, event_type, conversation_id, seq, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![org, event_type.as_str(), at.map(|a| a.0), at.map(|a| a.1.seq), payload, created_at],
    )
}

fn record_stored(
    tx: &mut Tx<'_>,
    org: OrgId,
    event_type: EventType,
    conversation: Option<ConversationId>,
    payload: String,
    now: Timestamp,
) -> Result<(), Error> {
    if tx.backend() != Backend::Postgres {
        let at = conversation.map(|c| next_position(tx, c, now).map(|p| (c, p))).transpose()?;
        return insert_stored(tx, org, event_type, at, payload, now);
    }
    let Some(conversation) = conversation else {
        return insert_stored(tx, org, event_type, None, payload, now);
    };
    tx.note_events_written();
    // The lock is its own statement: under READ COMMITTED the next statement's snapshot then includes whatever
    // the lock waited for, where a lock taken inside the insert would leave its subquery reading an older log.
    tx.execute_later("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", params![conversation])?;
    tx.execute_later(
        "INSERT INTO events (org_id, event_type, conversation_id, seq, payload, created_at)
         SELECT $1, $2, $3, COALESCE(last.seq, 0) + 1, $4, GREATEST($5, COALESCE(last.created_at + 1, $5))
         FROM (SELECT 1) AS one LEFT JOIN LATERAL
           (SELECT seq, created_at FROM events WHERE conversation_id = $3 ORDER BY seq DESC LIMIT 1) AS last ON true",
        params![org, event_type.as_str(), conversation, payload, now],
    )
}

/// How many events of `event_type` the organization has (for `switchboard bench channels`, which checks that every
/// activity it sent was stored once).
pub fn count_of_type(tx: &mut Tx<'_>, org: OrgId, event_type: EventType) -> Result<u64, Error> {
    let n = tx
        .query_one(
            "SELECT COUNT(*) FROM events WHERE org_id = $1 AND event_type = $2",
            params![org, event_type.as_str()],
        )?
        .i64(0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

const COLUMNS: &str = "id, event_type, conversation_id, seq, payload, created_at, org_id";

fn from_row(r: &Row) -> Result<Event, Error> {
    let event_type = r.string(1)?;
    let mut data: serde_json::Value = r.json(4)?;
    if event_type == EventType::MessageCreated.as_str() {
        complete_old_sender(&mut data);
    }
    Ok(Event {
        id: r.i64(0)?,
        org_id: r.parse(6)?,
        event_type,
        conversation_id: r.opt_parse(2)?,
        sequence: r.opt_i64(3)?,
        data,
        created_at: r.ts(5)?,
    })
}

/// A message stored before senders were recorded whole reads with its kind's generic id and name, as
/// [`Message`](crate::model::Message) does.
fn complete_old_sender(message: &mut serde_json::Value) {
    let sender = &mut message["sender"];
    if (sender["id"].is_null() || sender["name"].is_null())
        && let Ok(whole) = serde_json::from_value::<Sender>(sender.clone())
        && let Ok(whole) = serde_json::to_value(whole)
    {
        *sender = whole;
    }
}

/// What identifies an event without its payload.
#[derive(Debug, Clone)]
pub struct EventHead {
    pub id: i64,
    pub org_id: OrgId,
    pub event_type: String,
    pub conversation_id: Option<ConversationId>,
}

const HEAD_COLUMNS: &str = "id, org_id, event_type, conversation_id";

fn head_from_row(r: &Row) -> Result<EventHead, Error> {
    Ok(EventHead { id: r.i64(0)?, org_id: r.parse(1)?, event_type: r.string(2)?, conversation_id: r.opt_parse(3)? })
}

/// The heads of every organization's events with ids in `(after, until]`, oldest first.
pub fn heads(tx: &mut Tx<'_>, after: i64, until: i64, limit: usize) -> Result<Vec<EventHead>, Error> {
    let sql = format!("SELECT {HEAD_COLUMNS} FROM events WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3");
    tx.query(&sql, params![after, until, limit])?.iter().map(head_from_row).collect()
}

/// A condition on `id` that holds for the ids in `$1`, a comma-separated list: one statement reads any number of
/// scattered events, where a statement per event cost a round trip each on PostgreSQL.
fn id_in_list(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "id IN (SELECT value FROM json_each('[' || $1 || ']'))",
        Backend::Postgres => "id = ANY(string_to_array($1, ',')::bigint[])",
    }
}

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// The heads of those of `ids` that are in the log, oldest first.
pub fn heads_of(tx: &mut Tx<'_>, ids: &[i64]) -> Result<Vec<EventHead>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {HEAD_COLUMNS} FROM events WHERE {} ORDER BY id", id_in_list(tx.backend()));
    tx.query(&sql, params![id_list(ids)])?.iter().map(head_from_row).collect()
}

/// Those of `ids` that are in the log, in full, oldest first.
pub fn with_ids(tx: &mut Tx<'_>, ids: &[i64]) -> Result<Vec<Event>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {COLUMNS} FROM events WHERE {} ORDER BY id", id_in_list(tx.backend()));
    tx.query(&sql, params![id_list(ids)])?.iter().map(from_row).collect()
}

/// The entries of one type in a conversation's log after time `after`, in order (the log's times strictly
/// increase, see [`Position`]).
pub fn entries_since(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    event_type: EventType,
    after: Timestamp,
    limit: usize,
) -> Result<Vec<Row>, Error> {
    tx.query(
        "SELECT payload FROM events WHERE conversation_id = $1 AND org_id = $2 AND created_at > $3 AND event_type = $4
         ORDER BY seq LIMIT $5",
        params![conversation, org, after, event_type.as_str(), limit],
    )
}

/// The organization's events after `after`, oldest first.
pub fn list(tx: &mut Tx<'_>, org: OrgId, after: i64, limit: usize) -> Result<Vec<Event>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3");
    tx.query(&sql, params![org, after, limit])?.iter().map(from_row).collect()
}

/// One organization's events with ids in `(after, until]`, oldest first, at most `limit`: only those of `types`
/// and of `conversations` where they are given (events outside conversations have none, so a list of
/// conversations leaves them out). What a stream client that reconnects has missed.
pub fn page(
    tx: &mut Tx<'_>,
    org: OrgId,
    after: i64,
    until: i64,
    types: Option<&[String]>,
    conversations: Option<&[ConversationId]>,
    limit: usize,
) -> Result<Vec<Event>, Error> {
    // The lists travel as JSON arrays, which holds any text a filter names, unlike a separator would.
    let sql = match tx.backend() {
        Backend::Sqlite => format!(
            "SELECT {COLUMNS} FROM events WHERE org_id = $1 AND id > $2 AND id <= $3
             AND ($5 IS NULL OR event_type IN (SELECT value FROM json_each($5)))
             AND ($6 IS NULL OR conversation_id IN (SELECT value FROM json_each($6)))
             ORDER BY id LIMIT $4"
        ),
        Backend::Postgres => format!(
            "SELECT {COLUMNS} FROM events WHERE org_id = $1 AND id > $2 AND id <= $3
             AND ($5::jsonb IS NULL OR event_type IN (SELECT jsonb_array_elements_text($5::jsonb)))
             AND ($6::jsonb IS NULL OR conversation_id IN (SELECT jsonb_array_elements_text($6::jsonb)))
             ORDER BY id LIMIT $4"
        ),
    };
    let json = |list: Vec<String>| serde_json::to_string(&list).map_err(Error::internal);
    let types = types.map(|t| json(t.to_vec())).transpose()?;
    let conversations = conversations.map(|c| json(c.iter().map(ToString::to_string).collect())).transpose()?;
    tx.query(&sql, params![org, after, until, limit, types, conversations])?.iter().map(from_row).collect()
}

/// One conversation's log after position `after`, in order.
pub fn timeline(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    after: i64,
    limit: usize,
) -> Result<Vec<Event>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE conversation_id = $1 AND org_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
    );
    tx.query(&sql, params![conversation, org, after, limit])?.iter().map(from_row).collect()
}

/// The payloads of one type of entry in a conversation's log after position `after`, in order.
pub fn entries(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    event_type: EventType,
    after: i64,
    limit: usize,
) -> Result<Vec<Row>, Error> {
    tx.query(
        "SELECT payload FROM events WHERE conversation_id = $1 AND org_id = $2 AND seq > $3 AND event_type = $4
         ORDER BY seq LIMIT $5",
        params![conversation, org, after, event_type.as_str(), limit],
    )
}

/// The time of the newest entry of a conversation's log.
pub fn last_time(tx: &mut Tx<'_>, conversation: ConversationId) -> Result<Timestamp, Error> {
    tx.query_one(
        "SELECT created_at FROM events WHERE conversation_id = $1 ORDER BY seq DESC LIMIT 1",
        params![conversation],
    )?
    .ts(0)
}
