//! The event log: the transactional outbox later workers deliver from, and each conversation's timeline.

use serde::Serialize;
use switchboard_domain::{Error, Timestamp, ids::*};

use crate::{
    model::Event,
    params,
    sql::{Row, Tx},
};

/// Records that something happened; call it inside the transaction that made it happen.
pub fn append(
    tx: &mut Tx<'_>,
    org: OrgId,
    event_type: &str,
    conversation: Option<ConversationId>,
    data: &impl Serialize,
    now: Timestamp,
) -> Result<(), Error> {
    let payload = serde_json::to_string(data).map_err(Error::internal)?;
    tx.execute(
        "INSERT INTO events (org_id, event_type, conversation_id, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![org, event_type, conversation, payload, now],
    )?;
    Ok(())
}

const COLUMNS: &str = "id, event_type, conversation_id, payload, created_at";

fn from_row(r: &Row) -> Result<Event, Error> {
    Ok(Event {
        id: r.i64(0)?,
        event_type: r.string(1)?,
        conversation_id: r.opt_parse(2)?,
        data: r.json(3)?,
        created_at: r.ts(4)?,
    })
}

/// The organization's events after `after`, oldest first.
pub fn list(tx: &mut Tx<'_>, org: OrgId, after: i64, limit: usize) -> Result<Vec<Event>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3");
    tx.query(&sql, params![org, after, limit])?.iter().map(from_row).collect()
}

/// One conversation's events after `after`, oldest first.
pub fn timeline(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    after: i64,
    limit: usize,
) -> Result<Vec<Event>, Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE conversation_id = $1 AND org_id = $2 AND id > $3 ORDER BY id LIMIT $4"
    );
    tx.query(&sql, params![conversation, org, after, limit])?.iter().map(from_row).collect()
}
