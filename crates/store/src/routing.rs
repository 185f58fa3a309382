//! Unified routing's durable state (reference §6): queue routing settings and members, agents' presence, capacity
//! and skills, each workstream's rules, what classification decided per conversation, and offers. The routing
//! engine in the server keeps the working state in memory and rebuilds it from here at start.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code, Error, Timestamp,
    conversation::ConversationState,
    ids::*,
    role::Role,
    routing::rules::Skill,
    setup::{PresenceName, QueueRouting},
};
use utoipa::ToSchema;

use switchboard_domain::event::{QueueMembersChanged, QueueRoutingChanged, TypedEvent, WorkstreamRulesChanged};
pub use switchboard_domain::record::{AgentRouting, AgentSkillEntry, Member, RulesDocument};

use crate::{
    access, events, params,
    setup::lock,
    sql::{Row, Tx},
};

/// A queue's routing settings with what the engine also needs from the queue itself.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub id: QueueId,
    /// Lower is served first (the queue's own `priority`).
    pub priority: i64,
    pub routing: QueueRouting,
}

const ENTRY_COLUMNS: &str = "id, priority, routing";

fn entry_from_row(r: &Row) -> Result<QueueEntry, Error> {
    Ok(QueueEntry { id: r.parse(0)?, priority: r.i64(1)?, routing: r.json(2)? })
}

pub fn list_queues(tx: &mut Tx<'_>, org: OrgId) -> Result<Vec<QueueEntry>, Error> {
    tx.query(&format!("SELECT {ENTRY_COLUMNS} FROM queues WHERE org_id = $1 ORDER BY id"), params![org])?
        .iter()
        .map(entry_from_row)
        .collect()
}

pub fn get_queue(tx: &mut Tx<'_>, org: OrgId, id: QueueId) -> Result<QueueEntry, Error> {
    tx.get_in_org("queues", ENTRY_COLUMNS, id.into(), org, Code::QueueNotFound, entry_from_row)
}

/// Changes a queue's routing to what `change` makes of the current one and records `queue.routing_changed`.
/// `change` gets this transaction (to check the result against other rows) and the routing as read with the row
/// locked (`FOR UPDATE` on PostgreSQL; SQLite's single writer serializes on its own), so that two concurrent
/// changes of different fields apply one after the other instead of the second writing back what the first
/// replaced. Returns the queue and whether anything changed: a change that leaves the routing as it was writes
/// and records nothing, and leaves the queue's `updated_at`.
pub fn update_queue_routing(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: QueueId,
    now: Timestamp,
    change: impl FnOnce(&mut Tx<'_>, &QueueRouting) -> Result<QueueRouting, Error>,
) -> Result<(QueueEntry, bool), Error> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM queues WHERE id = $1 AND org_id = $2{}", lock(tx));
    let row = tx.query_opt(&sql, params![id, org])?.ok_or_else(|| Error::not_found(Code::QueueNotFound))?;
    let current = entry_from_row(&row)?;
    let routing = change(tx, &current.routing)?;
    if routing == current.routing {
        return Ok((current, false));
    }
    let json = serde_json::to_string(&routing).map_err(Error::internal)?;
    tx.execute(
        "UPDATE queues SET routing = $3, updated_at = $4 WHERE id = $1 AND org_id = $2",
        params![id, org, json, now],
    )?;
    let changed = QueueRoutingChanged { queue_id: id, routing: routing.clone() };
    events::append_event(tx, org, None, &TypedEvent::QueueRoutingChanged(changed), now)?;
    Ok((QueueEntry { routing, ..current }, true))
}

fn member_from_row(r: &Row) -> Result<Member, Error> {
    Ok(Member { queue_id: r.parse(0)?, user_id: r.parse(1)?, joined_at: r.ts(2)? })
}

/// Every member of the organization's queues, in the order they joined.
pub fn list_members(tx: &mut Tx<'_>, org: OrgId, queue: Option<QueueId>) -> Result<Vec<Member>, Error> {
    tx.query(
        "SELECT queue_id, user_id, joined_at FROM queue_members WHERE org_id = $1
           AND (CAST($2 AS TEXT) IS NULL OR queue_id = $2) ORDER BY joined_at, user_id",
        params![org, queue],
    )?
    .iter()
    .map(member_from_row)
    .collect()
}

/// Makes `users` the queue's members. Those already members keep their join time (and so their place in round
/// robin); every user must be an agent of the organization. The queue's `updated_at` moves only if the members
/// changed.
pub fn set_members(
    tx: &mut Tx<'_>,
    org: OrgId,
    queue: QueueId,
    users: &[UserId],
    now: Timestamp,
) -> Result<Vec<Member>, Error> {
    get_queue(tx, org, queue)?;
    for (i, user) in users.iter().enumerate() {
        require_agent(tx, org, *user).map_err(|e| e.at(&format!("user_ids[{i}]")))?;
    }
    let before = list_members(tx, org, Some(queue))?;
    for m in before.iter().filter(|m| !users.contains(&m.user_id)) {
        tx.execute("DELETE FROM queue_members WHERE queue_id = $1 AND user_id = $2", params![queue, m.user_id])?;
    }
    for (i, user) in users.iter().enumerate() {
        if !before.iter().any(|m| m.user_id == *user) {
            // Distinct join times keep the order the request lists new members in.
            let joined = now.plus_millis(i64::try_from(i).unwrap_or(0));
            tx.execute(
                "INSERT INTO queue_members (queue_id, user_id, org_id, joined_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                params![queue, *user, org, joined],
            )?;
        }
    }
    let after = list_members(tx, org, Some(queue))?;
    // Members who stay keep their rows, so the same people read back as the same list.
    if after.iter().map(|m| m.user_id).ne(before.iter().map(|m| m.user_id)) {
        tx.execute("UPDATE queues SET updated_at = $3 WHERE id = $1 AND org_id = $2", params![queue, org, now])?;
    }
    let changed = QueueMembersChanged { queue_id: queue, members: after.clone() };
    events::append_event(tx, org, None, &TypedEvent::QueueMembersChanged(changed), now)?;
    Ok(after)
}

fn require_agent(tx: &mut Tx<'_>, org: OrgId, user: UserId) -> Result<(), Error> {
    let u = access::get_user(tx, org, user).map_err(|_| Error::not_found(Code::AgentNotFound))?;
    if u.role != Role::Agent {
        return Err(Error::new(Code::AgentNotFound, "this user is not an agent"));
    }
    Ok(())
}

fn agent_from_row(r: &Row) -> Result<AgentRouting, Error> {
    let user_id: UserId = r.parse(0)?;
    Ok(match r.opt_string(1)? {
        Some(presence) => AgentRouting {
            user_id,
            presence: PresenceName::parse(&presence).ok_or_else(|| Error::internal("stored presence"))?,
            capacity_units: r.i64(2)?,
            skills: r.json(3)?,
            custom_presence_id: r.opt_parse(4)?,
            attributes: r.json(5)?,
            calendar: r.opt_string(6)?.map(|c| serde_json::from_str(&c)).transpose().map_err(Error::internal)?,
            default_presence: r.opt_string(7)?,
        },
        None => AgentRouting::unset(user_id),
    })
}

const AGENT_SELECT: &str = "SELECT u.id, a.presence, a.capacity_units, a.skills, a.custom_presence_id, a.attributes,
       a.calendar, a.default_presence FROM users u
     LEFT JOIN agent_routing a ON a.user_id = u.id";

/// Every agent of the organization with their routing state.
pub fn list_agents(tx: &mut Tx<'_>, org: OrgId) -> Result<Vec<AgentRouting>, Error> {
    tx.query(
        &format!("{AGENT_SELECT} WHERE u.org_id = $1 AND u.role = $2 ORDER BY u.id"),
        params![org, Role::Agent.as_str()],
    )?
    .iter()
    .map(agent_from_row)
    .collect()
}

pub fn get_agent(tx: &mut Tx<'_>, org: OrgId, user: UserId) -> Result<AgentRouting, Error> {
    require_agent(tx, org, user)?;
    let row = tx.query_one(&format!("{AGENT_SELECT} WHERE u.id = $1 AND u.org_id = $2"), params![user, org])?;
    agent_from_row(&row)
}

/// Saves an agent's routing state and records the change.
pub fn put_agent(tx: &mut Tx<'_>, org: OrgId, agent: &AgentRouting, now: Timestamp) -> Result<AgentRouting, Error> {
    require_agent(tx, org, agent.user_id)?;
    save_agent(tx, org, agent, now)?;
    Ok(agent.clone())
}

/// [`put_agent`] for a user already known to be one of the organization's agents: a user's organization and role
/// never change, so a caller that read them once need not read them on every presence change.
pub fn save_agent(tx: &mut Tx<'_>, org: OrgId, agent: &AgentRouting, now: Timestamp) -> Result<(), Error> {
    let skills = serde_json::to_string(&agent.skills).map_err(Error::internal)?;
    let attributes = serde_json::to_string(&agent.attributes).map_err(Error::internal)?;
    let calendar = agent.calendar.as_ref().map(serde_json::to_string).transpose().map_err(Error::internal)?;
    tx.execute_later(
        "INSERT INTO agent_routing
           (user_id, org_id, presence, capacity_units, skills, updated_at, custom_presence_id, attributes, calendar,
            default_presence)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (user_id) DO UPDATE SET presence = $3, capacity_units = $4, skills = $5, updated_at = $6,
           custom_presence_id = $7, attributes = $8, calendar = $9, default_presence = $10",
        params![
            agent.user_id,
            org,
            agent.presence.as_str(),
            agent.capacity_units,
            skills,
            now,
            agent.custom_presence_id.map(|id| id.to_string()),
            attributes,
            calendar,
            agent.default_presence.as_deref()
        ],
    )?;
    events::record_event(tx, org, None, &TypedEvent::AgentRoutingChanged(agent.clone()), now)
}

/// An agent's presence as routing set it (a timer or an offer it let lapse), without touching the rest of its
/// routing state: routing's own decisions are queued writes, so this one travels with them.
pub fn set_presence(tx: &mut Tx<'_>, org: OrgId, agent: UserId, presence: &str, now: Timestamp) -> Result<(), Error> {
    tx.execute_later(
        "UPDATE agent_routing SET presence = $3, updated_at = $4 WHERE user_id = $1 AND org_id = $2",
        params![agent, org, presence, now],
    )
}

pub fn get_rules(tx: &mut Tx<'_>, org: OrgId, workstream: WorkstreamId) -> Result<RulesDocument, Error> {
    let row = tx
        .query_opt("SELECT rules FROM workstreams WHERE id = $1 AND org_id = $2", params![workstream, org])?
        .ok_or_else(|| Error::not_found(Code::WorkstreamNotFound))?;
    match row.opt_string(0)? {
        Some(json) => serde_json::from_str(&json).map_err(Error::internal),
        None => Ok(RulesDocument::default()),
    }
}

/// Every workstream's rules that has some.
pub fn list_rules(tx: &mut Tx<'_>, org: OrgId) -> Result<Vec<(WorkstreamId, RulesDocument)>, Error> {
    tx.query("SELECT id, rules FROM workstreams WHERE org_id = $1 AND rules IS NOT NULL", params![org])?
        .iter()
        .map(|r| Ok((r.parse(0)?, r.json(1)?)))
        .collect()
}

/// Saves rules the caller has already checked.
pub fn put_rules(
    tx: &mut Tx<'_>,
    org: OrgId,
    workstream: WorkstreamId,
    rules: &RulesDocument,
    now: Timestamp,
) -> Result<(), Error> {
    let json = serde_json::to_string(rules).map_err(Error::internal)?;
    let n = tx.execute(
        "UPDATE workstreams SET rules = $3, updated_at = $4 WHERE id = $1 AND org_id = $2",
        params![workstream, org, json, now],
    )?;
    if n == 0 {
        return Err(Error::not_found(Code::WorkstreamNotFound));
    }
    let changed = WorkstreamRulesChanged { workstream_id: workstream, rules: rules.clone() };
    events::append_event(tx, org, None, &TypedEvent::WorkstreamRulesChanged(changed), now)?;
    Ok(())
}

/// What classification decided for a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub conversation_id: ConversationId,
    pub queue_id: QueueId,
    pub priority: i64,
    pub severity: i64,
    pub skills: Vec<Skill>,
    pub enqueued_at: Timestamp,
    /// What custom prioritization reads (see `routing::assignment_rules::item_attributes`).
    pub attributes: BTreeMap<String, switchboard_domain::routing::rules::Value>,
}

/// Records classification: the conversation's queue and priority change, and the rest is kept for a restart.
pub fn classify(tx: &mut Tx<'_>, org: OrgId, c: &Classified) -> Result<(), Error> {
    let skills = serde_json::to_string(&c.skills).map_err(Error::internal)?;
    let attributes = serde_json::to_string(&c.attributes).map_err(Error::internal)?;
    tx.execute_later(
        "UPDATE conversations SET queue_id = $3, priority = $4 WHERE id = $1 AND org_id = $2",
        params![c.conversation_id, org, c.queue_id, c.priority],
    )?;
    tx.execute_later(
        "INSERT INTO routing_items (conversation_id, org_id, severity, skills, enqueued_at, attributes, queue_since)
         VALUES ($1, $2, $3, $4, $5, $6, $5)
         ON CONFLICT (conversation_id) DO UPDATE
         SET severity = $3, skills = $4, enqueued_at = $5, attributes = $6, queue_since = $5",
        params![c.conversation_id, org, c.severity, skills, c.enqueued_at, attributes],
    )
}

/// A conversation that is not closed, as a restart needs it.
#[derive(Debug, Clone)]
pub struct LiveItem {
    pub conversation_id: ConversationId,
    pub workstream_id: WorkstreamId,
    pub queue_id: Option<QueueId>,
    pub state: ConversationState,
    pub agent_id: Option<UserId>,
    pub priority: i64,
    pub created_at: Timestamp,
    /// Set once classification ran.
    pub classified: Option<(i64, Vec<Skill>, Timestamp)>,
    pub channel_type: switchboard_domain::setup::ChannelType,
    /// What classification left for custom prioritization; empty before it ran.
    pub attributes: BTreeMap<String, switchboard_domain::routing::rules::Value>,
    /// When it started waiting in its current queue (its routing, or its latest transfer or return from an agent);
    /// `None` before classification, and for rows written before this was kept (then `enqueued_at` stands in).
    pub queue_since: Option<Timestamp>,
}

/// Every conversation of the organization that is not closed, oldest first.
pub fn live_items(tx: &mut Tx<'_>, org: OrgId) -> Result<Vec<LiveItem>, Error> {
    tx.query(
        "SELECT c.id, c.workstream_id, c.queue_id, c.state, c.agent_id, c.priority, c.created_at,
                r.severity, r.skills, r.enqueued_at, ch.channel_type, r.attributes, r.queue_since
         FROM conversations c JOIN channels ch ON ch.id = c.channel_id
         LEFT JOIN routing_items r ON r.conversation_id = c.id
         WHERE c.org_id = $1 AND c.state <> 'closed' ORDER BY c.created_at, c.id",
        params![org],
    )?
    .iter()
    .map(|r| {
        let classified = match r.opt_i64(7)? {
            Some(severity) => Some((severity, r.json(8)?, r.ts(9)?)),
            None => None,
        };
        Ok(LiveItem {
            conversation_id: r.parse(0)?,
            workstream_id: r.parse(1)?,
            queue_id: r.opt_parse(2)?,
            state: r.enumeration(3, ConversationState::parse)?,
            agent_id: r.opt_parse(4)?,
            priority: r.i64(5)?,
            created_at: r.ts(6)?,
            classified,
            channel_type: r.enumeration(10, switchboard_domain::setup::ChannelType::parse)?,
            attributes: match r.opt_string(11)? {
                Some(json) => serde_json::from_str(&json).map_err(Error::internal)?,
                None => BTreeMap::new(),
            },
            queue_since: r.opt_ts(12)?,
        })
    })
    .collect()
}

/// The newest event's id (0 when there is none): where a follower of the log starts.
pub fn last_event_id(tx: &mut Tx<'_>) -> Result<i64, Error> {
    tx.query_one("SELECT COALESCE(MAX(id), 0) FROM events", params![])?.i64(0)
}

/// Every organization's id, for starting routing.
pub fn org_ids(tx: &mut Tx<'_>) -> Result<Vec<OrgId>, Error> {
    tx.query("SELECT id FROM orgs ORDER BY id", params![])?.iter().map(|r| r.parse(0)).collect()
}

switchboard_domain::str_enum!(
    /// Where an offer stands.
    OfferState {
        Pending = "pending",
        Accepted = "accepted",
        Rejected = "rejected",
        Expired = "expired",
        /// The conversation closed, moved or was taken another way before the agent answered.
        Withdrawn = "withdrawn",
    }
);

/// An offer of a conversation to an agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Offer {
    #[schema(value_type = String, format = Uuid)]
    pub id: OfferRecordId,
    pub conversation_id: ConversationId,
    pub agent_id: UserId,
    pub queue_id: QueueId,
    pub state: OfferState,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub answered_at: Option<Timestamp>,
}

/// An offer's id: a UUID, unlike the engine's per-process number, so it stays unique across restarts.
pub type OfferRecordId = uuid::Uuid;

const OFFER_COLUMNS: &str = "id, conversation_id, agent_id, queue_id, state, expires_at, created_at, answered_at";

fn offer_from_row(r: &Row) -> Result<Offer, Error> {
    Ok(Offer {
        id: r.parse(0)?,
        conversation_id: r.parse(1)?,
        agent_id: r.parse(2)?,
        queue_id: r.parse(3)?,
        state: r.enumeration(4, OfferState::parse)?,
        expires_at: r.ts(5)?,
        created_at: r.ts(6)?,
        answered_at: r.opt_ts(7)?,
    })
}

pub fn insert_offer(tx: &mut Tx<'_>, org: OrgId, offer: &Offer) -> Result<(), Error> {
    tx.execute_later(
        &format!("INSERT INTO offers ({OFFER_COLUMNS}, org_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
        params![
            offer.id.to_string(),
            offer.conversation_id,
            offer.agent_id,
            offer.queue_id,
            offer.state.as_str(),
            offer.expires_at,
            offer.created_at,
            offer.answered_at,
            org
        ],
    )
}

pub fn get_offer(tx: &mut Tx<'_>, org: OrgId, id: OfferRecordId) -> Result<Offer, Error> {
    let row = tx
        .query_opt(
            &format!("SELECT {OFFER_COLUMNS} FROM offers WHERE id = $1 AND org_id = $2"),
            params![id.to_string(), org],
        )?
        .ok_or_else(|| Error::not_found(Code::OfferNotFound))?;
    offer_from_row(&row)
}

/// Ends a pending offer; `waited_ms` is recorded for an accepted one. An offer no longer pending is left as it is.
pub fn finish_offer(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: OfferRecordId,
    state: OfferState,
    waited_ms: Option<i64>,
    now: Timestamp,
) -> Result<(), Error> {
    tx.execute_later(
        "UPDATE offers SET state = $3, answered_at = $4, waited_ms = $5 WHERE id = $1 AND org_id = $2 AND state = 'pending'",
        params![id.to_string(), org, state.as_str(), now, waited_ms],
    )
}

/// The agent's offers, newest first; only pending ones unless `all`.
pub fn agent_offers(tx: &mut Tx<'_>, org: OrgId, agent: UserId, all: bool, limit: usize) -> Result<Vec<Offer>, Error> {
    tx.query(
        &format!(
            "SELECT {OFFER_COLUMNS} FROM offers WHERE org_id = $1 AND agent_id = $2 AND ($3 OR state = 'pending')
             ORDER BY created_at DESC, id LIMIT $4"
        ),
        params![org, agent, all, limit],
    )?
    .iter()
    .map(offer_from_row)
    .collect()
}

/// Pending offers die with the process that made them: at start, each is marked withdrawn and its conversation
/// is routed again.
pub fn withdraw_pending_offers(tx: &mut Tx<'_>, org: OrgId, now: Timestamp) -> Result<u64, Error> {
    tx.execute(
        "UPDATE offers SET state = 'withdrawn', answered_at = $2 WHERE org_id = $1 AND state = 'pending'",
        params![org, now],
    )
}

/// The average wait of conversations assigned by offer from the queue since `since`, with how many there were.
pub fn average_wait(
    tx: &mut Tx<'_>,
    org: OrgId,
    queue: QueueId,
    since: Timestamp,
) -> Result<(i64, Option<f64>), Error> {
    let row = tx.query_one(
        "SELECT COUNT(*), AVG(CAST(waited_ms AS DOUBLE PRECISION)) FROM offers
         WHERE org_id = $1 AND queue_id = $2 AND state = 'accepted' AND answered_at >= $3 AND waited_ms IS NOT NULL",
        params![org, queue, since],
    )?;
    let avg = match row.opt_i64(0)? {
        Some(0) | None => None,
        Some(_) => Some(row.f64(1)?),
    };
    Ok((row.i64(0)?, avg))
}

/// For each of the organization's conversations that was offered, milliseconds from its creation to its first
/// offer (for `switchboard bench routing`).
pub fn offer_latencies(tx: &mut Tx<'_>, org: OrgId) -> Result<Vec<i64>, Error> {
    tx.query(
        "SELECT MIN(o.created_at) - c.created_at FROM offers o JOIN conversations c ON c.id = o.conversation_id
         WHERE o.org_id = $1 GROUP BY c.id, c.created_at",
        params![org],
    )?
    .iter()
    .map(|r| r.i64(0))
    .collect()
}

/// How many of the organization's conversations have been offered (for `switchboard bench routing`: cheaper to
/// poll than [`offer_latencies`] while the drain it watches runs).
pub fn offered_count(tx: &mut Tx<'_>, org: OrgId) -> Result<usize, Error> {
    let n =
        tx.query_one("SELECT COUNT(DISTINCT conversation_id) FROM offers WHERE org_id = $1", params![org])?.i64(0)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// How many of the organization's conversations routing has classified.
pub fn classified_count(tx: &mut Tx<'_>, org: OrgId) -> Result<usize, Error> {
    let n = tx.query_one("SELECT COUNT(*) FROM routing_items WHERE org_id = $1", params![org])?.i64(0)?;
    Ok(usize::try_from(n).unwrap_or(0))
}
