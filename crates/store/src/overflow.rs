//! What queue overflow and wait estimates keep (reference §1.8, §6.3): callback requests taken when a queue
//! overflowed, when each queued conversation started its wait in its queue, and the recent routing history the wait
//! estimator is rebuilt from at start.

use switchboard_domain::{Error, Timestamp, ids::*};

pub use switchboard_domain::record::{CallbackRequest, CallbackState};

use crate::{
    params,
    sql::{Row, Tx},
};

const COLUMNS: &str =
    "id, conversation_id, queue_id, contact_id, customer_key, phone, email, name, reason, state, created_at";

fn from_row(r: &Row) -> Result<CallbackRequest, Error> {
    Ok(CallbackRequest {
        id: r.parse(0)?,
        conversation_id: r.parse(1)?,
        queue_id: r.parse(2)?,
        contact_id: r.opt_parse(3)?,
        customer_key: r.opt_string(4)?,
        phone: r.opt_string(5)?,
        email: r.opt_string(6)?,
        name: r.opt_string(7)?,
        reason: r.string(8)?,
        state: r.enumeration(9, CallbackState::parse)?,
        created_at: r.ts(10)?,
    })
}

/// Records a callback request; a conversation has at most one (a second is ignored).
pub fn insert_callback(tx: &mut Tx<'_>, org: OrgId, c: &CallbackRequest) -> Result<(), Error> {
    tx.execute(
        &format!(
            "INSERT INTO callback_requests ({COLUMNS}, org_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT DO NOTHING"
        ),
        params![
            c.id.to_string(),
            c.conversation_id,
            c.queue_id,
            c.contact_id,
            c.customer_key.as_deref(),
            c.phone.as_deref(),
            c.email.as_deref(),
            c.name.as_deref(),
            c.reason.as_str(),
            c.state.as_str(),
            c.created_at,
            org
        ],
    )?;
    Ok(())
}

/// The organization's callback requests, newest first, of one queue when given.
pub fn list_callbacks(
    tx: &mut Tx<'_>,
    org: OrgId,
    queue: Option<QueueId>,
    limit: usize,
) -> Result<Vec<CallbackRequest>, Error> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM callback_requests WHERE org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR queue_id = $2)
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ),
        params![org, queue, limit],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Records when the conversation started waiting in its current queue (`routing_items.queue_since`), which the
/// wait in queue overflow counts from, so that a restart counts from the same instant.
pub fn set_queue_since(tx: &mut Tx<'_>, org: OrgId, id: ConversationId, at: Timestamp) -> Result<(), Error> {
    tx.execute_later(
        "UPDATE routing_items SET queue_since = $3 WHERE conversation_id = $1 AND org_id = $2",
        params![id, org, at],
    )
}

/// Takes an Open conversation waiting in `from` for overflow, moving it to `to` (the same queue when it is about to
/// be ended). False when the store no longer has it there (accepted, closed, or moved meanwhile): the update is the
/// check, so that on PostgreSQL two nodes cannot both act on it.
pub fn claim_waiting(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: ConversationId,
    from: QueueId,
    to: QueueId,
) -> Result<bool, Error> {
    let n = tx.execute(
        "UPDATE conversations SET queue_id = $4 WHERE id = $1 AND org_id = $2 AND queue_id = $3 AND state = 'open'",
        params![id, org, from, to],
    )?;
    Ok(n == 1)
}

/// One finished stay in a queue, for rebuilding wait estimates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueStay {
    /// An agent accepted it at `at` after `waited_ms`, on an offer made at `offered_at`; `closed_at` when the
    /// conversation has since closed.
    Assigned { queue: QueueId, at: Timestamp, waited_ms: i64, offered_at: Timestamp, closed_at: Option<Timestamp> },
    /// It was closed at `at` while waiting, having joined the queue at `enqueued_at`.
    Abandoned { queue: QueueId, at: Timestamp, enqueued_at: Timestamp },
}

/// The organization's queue stays that ended since `since`, at most `limit` of each kind (the newest).
pub fn queue_history(tx: &mut Tx<'_>, org: OrgId, since: Timestamp, limit: usize) -> Result<Vec<QueueStay>, Error> {
    let mut out = Vec::new();
    for r in tx.query(
        "SELECT o.queue_id, o.answered_at, o.waited_ms, c.closed_at, o.created_at FROM offers o
         JOIN conversations c ON c.id = o.conversation_id
         WHERE o.org_id = $1 AND o.state = 'accepted' AND o.answered_at >= $2 AND o.waited_ms IS NOT NULL
         ORDER BY o.answered_at DESC LIMIT $3",
        params![org, since, limit],
    )? {
        out.push(QueueStay::Assigned {
            queue: r.parse(0)?,
            at: r.ts(1)?,
            waited_ms: r.i64(2)?,
            offered_at: r.ts(4)?,
            closed_at: r.opt_ts(3)?,
        });
    }
    // Closed without ever being accepted from the queue: the customer left (or was closed) while waiting.
    for r in tx.query(
        "SELECT c.queue_id, c.closed_at, r.enqueued_at FROM conversations c
         JOIN routing_items r ON r.conversation_id = c.id
         WHERE c.org_id = $1 AND c.state = 'closed' AND c.closed_at >= $2 AND c.agent_id IS NULL
           AND c.queue_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.conversation_id = c.id AND o.state = 'accepted')
         ORDER BY c.closed_at DESC LIMIT $3",
        params![org, since, limit],
    )? {
        out.push(QueueStay::Abandoned { queue: r.parse(0)?, at: r.ts(1)?, enqueued_at: r.ts(2)? });
    }
    Ok(out)
}
