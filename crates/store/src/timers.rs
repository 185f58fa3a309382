//! Conversation auto-close timers (reference §6.6), durable so that a restart fires what fell due while the server
//! was down. Each conversation that is not closed has one row: the state its timer belongs to and when it fires,
//! computed from the workstream's `settings.auto_close` and the channel's defaults.
//!
//! Due timers are claimed and fired in one transaction with the state change they cause. On PostgreSQL the claim
//! is `FOR UPDATE SKIP LOCKED`, so two nodes never fire one timer twice: the second node skips the locked row,
//! and once the first commits the row is gone (or belongs to the conversation's next state).

use switchboard_domain::{
    Code, Error, Timestamp,
    conversation::{Action, ConversationState},
    ids::*,
    lifecycle::AutoCloseSettings,
    setup::{ChannelType, WorkstreamType},
};

use crate::{
    conversations::{self, ActionRequest, Actor},
    model::Conversation,
    params,
    sql::{Backend, Row, Tx},
};

/// The closure reason auto-closed conversations carry.
pub const AUTO_CLOSE_REASON: &str = "auto_close";
/// How the system appears as the actor of an auto-close in the conversation's log.
pub const AUTO_CLOSE_ACTOR: &str = "system:auto_close";

/// A conversation's auto-close timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub org_id: OrgId,
    pub conversation_id: ConversationId,
    /// The state the timer belongs to; it fires only while the conversation is still in it.
    pub state: ConversationState,
    /// When the conversation entered the state.
    pub state_since: Timestamp,
    /// When the timer last started: the state change or the latest activity.
    pub started_at: Timestamp,
    /// When it fires; `None` when this state never closes by itself.
    pub due_at: Option<Timestamp>,
}

const COLUMNS: &str = "org_id, conversation_id, state, state_since, started_at, due_at";

fn from_row(r: &Row) -> Result<Timer, Error> {
    Ok(Timer {
        org_id: r.parse(0)?,
        conversation_id: r.parse(1)?,
        state: r.enumeration(2, ConversationState::parse)?,
        state_since: r.ts(3)?,
        started_at: r.ts(4)?,
        due_at: r.opt_ts(5)?,
    })
}

/// The conversation's timer, if it has one (closed conversations have none).
pub fn get(tx: &mut Tx<'_>, org: OrgId, conversation: ConversationId) -> Result<Option<Timer>, Error> {
    tx.query_opt(
        &format!("SELECT {COLUMNS} FROM conversation_timers WHERE conversation_id = $1 AND org_id = $2"),
        params![conversation, org],
    )?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Starts the timer of the conversation's current state, at `now`. With `expected`, only when the conversation is
/// in that state: an event about an older state must not start a timer for it. A closed conversation's timer is
/// removed.
pub fn arm(
    tx: &mut Tx<'_>,
    org: OrgId,
    conversation: ConversationId,
    expected: Option<ConversationState>,
    now: Timestamp,
) -> Result<Option<Timer>, Error> {
    let row = tx.query_opt(
        "SELECT c.state, ch.channel_type, w.workstream_type, w.settings FROM conversations c
         JOIN channels ch ON ch.id = c.channel_id JOIN workstreams w ON w.id = c.workstream_id
         WHERE c.id = $1 AND c.org_id = $2",
        params![conversation, org],
    )?;
    let Some(row) = row else { return Ok(None) };
    let state = row.enumeration(0, ConversationState::parse)?;
    if state == ConversationState::Closed {
        disarm(tx, org, conversation)?;
        return Ok(None);
    }
    if expected.is_some_and(|e| e != state) {
        return get(tx, org, conversation);
    }
    let channel = row.enumeration(1, ChannelType::parse)?;
    let workstream = row.enumeration(2, WorkstreamType::parse)?;
    let settings: serde_json::Value = row.json(3)?;
    // Settings were checked when saved; a row that no longer parses closes nothing rather than failing routing.
    let auto_close: AutoCloseSettings =
        settings.get("auto_close").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
    let due_at = auto_close.timeout_ms(state, channel, workstream).map(|ms| now.plus_millis(ms));
    tx.execute(
        "INSERT INTO conversation_timers (conversation_id, org_id, state, state_since, started_at, due_at)
         VALUES ($1, $2, $3, $4, $4, $5)
         ON CONFLICT (conversation_id) DO UPDATE SET state = $3, state_since = $4, started_at = $4, due_at = $5",
        params![conversation, org, state.as_str(), now, due_at],
    )?;
    Ok(Some(Timer { org_id: org, conversation_id: conversation, state, state_since: now, started_at: now, due_at }))
}

/// Activity in the conversation restarts its timer from `now`, keeping the state's timeout. Never moves a timer
/// back: a late activity (read after a later one) changes nothing.
pub fn touch(tx: &mut Tx<'_>, org: OrgId, conversation: ConversationId, now: Timestamp) -> Result<(), Error> {
    tx.execute(
        "UPDATE conversation_timers SET due_at = $3 + (due_at - started_at), started_at = $3
         WHERE conversation_id = $1 AND org_id = $2 AND started_at < $3",
        params![conversation, org, now],
    )?;
    Ok(())
}

pub fn disarm(tx: &mut Tx<'_>, org: OrgId, conversation: ConversationId) -> Result<(), Error> {
    tx.execute(
        "DELETE FROM conversation_timers WHERE conversation_id = $1 AND org_id = $2",
        params![conversation, org],
    )?;
    Ok(())
}

/// When the next timer of any organization fires.
pub fn next_due(tx: &mut Tx<'_>) -> Result<Option<Timestamp>, Error> {
    tx.query_one("SELECT MIN(due_at) FROM conversation_timers WHERE due_at IS NOT NULL", params![])?.opt_ts(0)
}

/// Claims up to `limit` timers due at `now`, oldest first, for this transaction. On PostgreSQL the rows stay
/// locked until it ends and other nodes skip them; SQLite has one writer, so a plain read is already exclusive.
pub fn claim_due(tx: &mut Tx<'_>, now: Timestamp, limit: usize) -> Result<Vec<Timer>, Error> {
    let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM conversation_timers WHERE due_at IS NOT NULL AND due_at <= $1
             ORDER BY due_at LIMIT $2{lock}"
        ),
        params![now, limit],
    )?
    .iter()
    .map(from_row)
    .collect()
}

/// Fires a claimed timer: the conversation is closed through the state machine (an Active one is ended first, so
/// it passes through wrap-up as an agent's close would), and its events follow as for any close. A conversation
/// that has left the timer's state gets the timer of its current state instead. Returns the closed conversation.
pub fn fire(tx: &mut Tx<'_>, timer: &Timer, now: Timestamp) -> Result<Option<Conversation>, Error> {
    let (org, id) = (timer.org_id, timer.conversation_id);
    let current = conversations::get(tx, org, id)?;
    if current.state != timer.state {
        arm(tx, org, id, None, now)?;
        return Ok(None);
    }
    let actor = Actor { label: AUTO_CLOSE_ACTOR.to_string(), agent: None };
    let step = |action| ActionRequest { action, agent_id: None, reason: Some(AUTO_CLOSE_REASON.to_string()) };
    let mut closed = Ok(current);
    if timer.state == ConversationState::Active {
        closed = conversations::apply(tx, org, id, &actor, step(Action::End), now);
    }
    closed = closed.and_then(|_| conversations::apply(tx, org, id, &actor, step(Action::Close), now));
    match closed {
        Ok(c) => {
            disarm(tx, org, id)?;
            Ok(Some(c))
        }
        // The state machine refuses before writing anything; a timer it refuses would only fire again.
        Err(e) if matches!(e.code, Code::InvalidStateTransition | Code::ConversationClosed) => {
            disarm(tx, org, id)?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Gives every conversation that is not closed the timer of its current state if it lacks one (its state changed
/// while no follower was running), and drops timers of closed conversations. A timer started here starts at
/// `now`: closing late is better than closing a conversation early. Returns how many timers were started.
pub fn reconcile(tx: &mut Tx<'_>, now: Timestamp) -> Result<usize, Error> {
    tx.execute(
        "DELETE FROM conversation_timers
         WHERE conversation_id IN (SELECT id FROM conversations WHERE state = 'closed')",
        params![],
    )?;
    let stale = tx.query(
        "SELECT c.org_id, c.id FROM conversations c
         LEFT JOIN conversation_timers t ON t.conversation_id = c.id
         WHERE c.state <> 'closed' AND (t.conversation_id IS NULL OR t.state <> c.state)",
        params![],
    )?;
    let mut started = 0;
    for row in &stale {
        let (org, id): (OrgId, ConversationId) = (row.parse(0)?, row.parse(1)?);
        arm(tx, org, id, None, now)?;
        started += 1;
    }
    Ok(started)
}

/// When each of the organization's conversations in `state` entered it, by its timer (for a restart to know how
/// long a wrap-up has lasted).
pub fn states_since(
    tx: &mut Tx<'_>,
    org: OrgId,
    state: ConversationState,
) -> Result<std::collections::HashMap<ConversationId, Timestamp>, Error> {
    tx.query(
        "SELECT conversation_id, state_since FROM conversation_timers WHERE org_id = $1 AND state = $2",
        params![org, state.as_str()],
    )?
    .iter()
    .map(|r| Ok((r.parse(0)?, r.ts(1)?)))
    .collect()
}
