//! Routing configuration an organization owns (reference §6.4, §6.5): its custom presences, its capacity profiles
//! and the profiles each agent holds. Every change is an event in the organization's log.

use serde::Deserialize;
use switchboard_domain::{
    Code, Error, Timestamp,
    ids::*,
    routing::capacity_reset::{ProfileReset, ResetPeriod},
    setup::PresenceName,
};
use uuid::Uuid;

use switchboard_domain::event::{AgentCapacityProfilesChanged, Deleted, TypedEvent};
pub use switchboard_domain::record::{AgentProfileEntry, CapacityProfile, CustomPresence};

use crate::{
    events, params, routing, setup,
    sql::{Backend, Row, Tx},
};

/// The out-of-the-box presences' display names, which custom presences may not reuse.
const BUILT_IN_NAMES: [&str; 7] = ["available", "busy", "busy - dnd", "busy_dnd", "away", "offline", "inactive"];

const PRESENCE_COLUMNS: &str = "id, name, base, created_at, updated_at";

fn presence_from_row(r: &Row) -> Result<CustomPresence, Error> {
    Ok(CustomPresence {
        id: r.parse(0)?,
        name: r.string(1)?,
        base: r.enumeration(2, PresenceName::parse)?,
        created_at: r.ts(3)?,
        updated_at: r.ts(4)?,
    })
}

/// A name as an administrator gives it: trimmed, 1 to 100 characters.
pub(crate) fn clean_name(name: &str, field: &str) -> Result<(String, String), Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::field(Code::InvalidField, field, "a name is 1 to 100 characters"));
    }
    Ok((name.to_string(), name.to_lowercase()))
}

fn check_base(base: PresenceName) -> Result<(), Error> {
    if base == PresenceName::Inactive {
        return Err(Error::field(
            Code::InvalidPresence,
            "base",
            "a custom presence maps to available, busy, busy_dnd, away or offline",
        ));
    }
    Ok(())
}

pub fn list_presences(tx: &mut Tx<'_>, org: OrgId) -> Result<Vec<CustomPresence>, Error> {
    tx.query(
        &format!("SELECT {PRESENCE_COLUMNS} FROM custom_presences WHERE org_id = $1 ORDER BY name_key, id"),
        params![org],
    )?
    .iter()
    .map(presence_from_row)
    .collect()
}

pub fn get_presence(tx: &mut Tx<'_>, org: OrgId, id: Uuid) -> Result<CustomPresence, Error> {
    let row = tx
        .query_opt(
            &format!("SELECT {PRESENCE_COLUMNS} FROM custom_presences WHERE id = $1 AND org_id = $2"),
            params![id.to_string(), org],
        )?
        .ok_or_else(|| Error::not_found(Code::PresenceNotFound))?;
    presence_from_row(&row)
}

fn presence_name_taken(tx: &mut Tx<'_>, org: OrgId, key: &str, except: Option<Uuid>) -> Result<(), Error> {
    if BUILT_IN_NAMES.contains(&key) {
        return Err(Error::field(Code::AlreadyExists, "name", "that is the name of an out-of-the-box presence"));
    }
    let taken = tx.query_opt(
        "SELECT id FROM custom_presences WHERE org_id = $1 AND name_key = $2 AND id <> $3",
        params![org, key, except.map_or_else(String::new, |id| id.to_string())],
    )?;
    if taken.is_some() {
        return Err(Error::field(Code::AlreadyExists, "name", "a custom presence with this name exists"));
    }
    Ok(())
}

pub fn create_presence(
    tx: &mut Tx<'_>,
    org: OrgId,
    name: &str,
    base: PresenceName,
    now: Timestamp,
) -> Result<CustomPresence, Error> {
    let (name, key) = clean_name(name, "name")?;
    check_base(base)?;
    presence_name_taken(tx, org, &key, None)?;
    let p = CustomPresence { id: Uuid::now_v7(), name, base, created_at: now, updated_at: now };
    tx.execute(
        "INSERT INTO custom_presences (id, org_id, name, name_key, base, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![p.id.to_string(), org, &p.name, key, base.as_str(), now, now],
    )?;
    events::append_event(tx, org, None, &TypedEvent::PresenceCreated(p.clone()), now)?;
    Ok(p)
}

/// Renames a custom presence or maps it to another base. Agents in it are moved to the new base by the caller.
pub fn update_presence(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: Uuid,
    name: Option<&str>,
    base: Option<PresenceName>,
    now: Timestamp,
) -> Result<CustomPresence, Error> {
    let mut p = get_presence(tx, org, id)?;
    if let Some(name) = name {
        let (name, key) = clean_name(name, "name")?;
        presence_name_taken(tx, org, &key, Some(id))?;
        p.name = name;
    }
    if let Some(base) = base {
        check_base(base)?;
        p.base = base;
    }
    p.updated_at = now;
    tx.execute(
        "UPDATE custom_presences SET name = $3, name_key = $4, base = $5, updated_at = $6 WHERE id = $1 AND org_id = $2",
        params![id.to_string(), org, &p.name, p.name.to_lowercase(), p.base.as_str(), now],
    )?;
    // Agents in the presence keep it; their stored base follows the presence's.
    tx.execute(
        "UPDATE agent_routing SET presence = $3 WHERE org_id = $1 AND custom_presence_id = $2",
        params![org, id.to_string(), p.base.as_str()],
    )?;
    events::append_event(tx, org, None, &TypedEvent::PresenceUpdated(p.clone()), now)?;
    Ok(p)
}

/// Deletes a custom presence nobody is in. An agent in it is a 409 `in_use`: deleting it under them would leave
/// a presence nobody can name, and silently moving them to its base would change what their supervisor sees.
pub fn delete_presence(tx: &mut Tx<'_>, org: OrgId, id: Uuid, now: Timestamp) -> Result<(), Error> {
    let p = get_presence(tx, org, id)?;
    let n = tx
        .query_one(
            "SELECT COUNT(*) FROM agent_routing WHERE org_id = $1 AND custom_presence_id = $2",
            params![org, id.to_string()],
        )?
        .i64(0)?;
    if n > 0 {
        return Err(Error::new(
            Code::InUse,
            format!("{n} agent(s) are in the presence `{}`; move them to another presence first", p.name),
        ));
    }
    tx.execute("DELETE FROM custom_presences WHERE id = $1 AND org_id = $2", params![id.to_string(), org])?;
    events::append_event(tx, org, None, &TypedEvent::PresenceDeleted(Deleted { id }), now)?;
    Ok(())
}

/// The largest profile limit: far beyond what a person handles, small enough to stay an exact count.
pub const MAX_PROFILE_ITEMS: i64 = 1000;

const PROFILE_COLUMNS: &str =
    "id, name, max_items, block_others, created_at, updated_at, reset_minutes, reset_time_zone";

fn profile_from_row(r: &Row) -> Result<CapacityProfile, Error> {
    Ok(CapacityProfile {
        id: r.parse(0)?,
        name: r.string(1)?,
        max_items: r.i64(2)?,
        block_others: r.bool(3)?,
        created_at: r.ts(4)?,
        updated_at: r.ts(5)?,
        reset: reset_from_row(r, 6)?,
    })
}

/// A reset from its two columns (minutes, time zone) at `idx`; NULL minutes is on release.
fn reset_from_row(r: &Row, idx: usize) -> Result<ProfileReset, Error> {
    match r.opt_i64(idx)? {
        None => Ok(ProfileReset::OnRelease),
        Some(minutes) => {
            let time_zone = r.opt_string(idx + 1)?.unwrap_or_else(|| "UTC".to_string());
            ResetPeriod::new(minutes, &time_zone).map(ProfileReset::Every).map_err(Error::internal)
        }
    }
}

/// A reset as its two columns.
fn reset_columns(reset: ProfileReset) -> (Option<i64>, Option<String>) {
    match reset.period() {
        None => (None, None),
        Some(p) => (Some(i64::from(p.every_minutes())), Some(p.time_zone().name().to_string())),
    }
}

/// Checks a profile limit, naming the field.
pub fn check_items(field: &str, n: i64) -> Result<u32, Error> {
    if !(0..=MAX_PROFILE_ITEMS).contains(&n) {
        return Err(Error::field(Code::InvalidCapacity, field, "a profile's limit is 0 to 1,000 conversations"));
    }
    u32::try_from(n).map_err(Error::internal)
}

pub fn list_profiles(tx: &mut Tx<'_>, org: OrgId) -> Result<Vec<CapacityProfile>, Error> {
    tx.query(
        &format!("SELECT {PROFILE_COLUMNS} FROM capacity_profiles WHERE org_id = $1 ORDER BY name_key, id"),
        params![org],
    )?
    .iter()
    .map(profile_from_row)
    .collect()
}

pub fn get_profile(tx: &mut Tx<'_>, org: OrgId, id: Uuid) -> Result<CapacityProfile, Error> {
    let row = tx
        .query_opt(
            &format!("SELECT {PROFILE_COLUMNS} FROM capacity_profiles WHERE id = $1 AND org_id = $2"),
            params![id.to_string(), org],
        )?
        .ok_or_else(|| Error::not_found(Code::CapacityProfileNotFound))?;
    profile_from_row(&row)
}

fn profile_name_taken(tx: &mut Tx<'_>, org: OrgId, key: &str, except: Option<Uuid>) -> Result<(), Error> {
    let taken = tx.query_opt(
        "SELECT id FROM capacity_profiles WHERE org_id = $1 AND name_key = $2 AND id <> $3",
        params![org, key, except.map_or_else(String::new, |id| id.to_string())],
    )?;
    if taken.is_some() {
        return Err(Error::field(Code::AlreadyExists, "name", "a capacity profile with this name exists"));
    }
    Ok(())
}

pub fn create_profile(
    tx: &mut Tx<'_>,
    org: OrgId,
    name: &str,
    max_items: i64,
    block_others: bool,
    reset: ProfileReset,
    now: Timestamp,
) -> Result<CapacityProfile, Error> {
    let (name, key) = clean_name(name, "name")?;
    check_items("max_items", max_items)?;
    profile_name_taken(tx, org, &key, None)?;
    let p =
        CapacityProfile { id: Uuid::now_v7(), name, max_items, block_others, reset, created_at: now, updated_at: now };
    let (minutes, time_zone) = reset_columns(reset);
    tx.execute(
        "INSERT INTO capacity_profiles (id, org_id, name, name_key, max_items, block_others, created_at, updated_at,
                                        reset_minutes, reset_time_zone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        params![p.id.to_string(), org, &p.name, key, max_items, block_others, now, now, minutes, time_zone],
    )?;
    events::append_event(tx, org, None, &TypedEvent::CapacityProfileCreated(p.clone()), now)?;
    Ok(p)
}

/// What a change to a capacity profile sets; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub name: Option<String>,
    pub max_items: Option<i64>,
    pub block_others: Option<bool>,
    pub reset: Option<ProfileReset>,
}

pub fn update_profile(
    tx: &mut Tx<'_>,
    org: OrgId,
    id: Uuid,
    change: &ProfileChange,
    now: Timestamp,
) -> Result<CapacityProfile, Error> {
    let mut p = get_profile(tx, org, id)?;
    let ProfileChange { name, max_items, block_others, reset } = change.clone();
    if let Some(name) = name.as_deref() {
        let (name, key) = clean_name(name, "name")?;
        profile_name_taken(tx, org, &key, Some(id))?;
        p.name = name;
    }
    if let Some(n) = max_items {
        check_items("max_items", n)?;
        p.max_items = n;
    }
    if let Some(b) = block_others {
        p.block_others = b;
    }
    if let Some(reset) = reset {
        p.reset = reset;
    }
    p.updated_at = now;
    let (minutes, time_zone) = reset_columns(p.reset);
    tx.execute(
        "UPDATE capacity_profiles SET name = $3, name_key = $4, max_items = $5, block_others = $6, updated_at = $7,
                                      reset_minutes = $8, reset_time_zone = $9
         WHERE id = $1 AND org_id = $2",
        params![
            id.to_string(),
            org,
            &p.name,
            p.name.to_lowercase(),
            p.max_items,
            p.block_others,
            now,
            minutes,
            time_zone
        ],
    )?;
    events::append_event(tx, org, None, &TypedEvent::CapacityProfileUpdated(p.clone()), now)?;
    Ok(p)
}

/// Deletes a profile nothing uses: no agent holds it, no workstream consumes it, no custom assignment rule names
/// it. Otherwise 409 `in_use`, naming the first user found.
pub fn delete_profile(tx: &mut Tx<'_>, org: OrgId, id: Uuid, now: Timestamp) -> Result<(), Error> {
    let p = get_profile(tx, org, id)?;
    let holders = tx
        .query_one(
            "SELECT COUNT(*) FROM agent_capacity_profiles WHERE org_id = $1 AND profile_id = $2",
            params![org, id.to_string()],
        )?
        .i64(0)?;
    if holders > 0 {
        return Err(Error::new(Code::InUse, format!("{holders} agent(s) hold the capacity profile `{}`", p.name)));
    }
    for w in setup::list_workstreams(tx, org, None, 100_000)? {
        if w.settings.routing.capacity_profile_id == Some(id) {
            return Err(Error::new(Code::InUse, format!("the workstream `{}` consumes this capacity profile", w.name)));
        }
    }
    for q in routing::list_queues(tx, org)? {
        if q.routing.custom.as_ref().is_some_and(|c| c.profile_ids().iter().any(|(_, p)| *p == id)) {
            return Err(Error::new(Code::InUse, format!("the custom assignment rules of queue {} name it", q.id)));
        }
    }
    tx.execute("DELETE FROM capacity_profiles WHERE id = $1 AND org_id = $2", params![id.to_string(), org])?;
    events::append_event(tx, org, None, &TypedEvent::CapacityProfileDeleted(Deleted { id }), now)?;
    Ok(())
}

/// Every profile every agent of the organization holds, by agent, in the order they were given.
pub fn list_agent_profiles(tx: &mut Tx<'_>, org: OrgId) -> Result<Vec<(UserId, AgentProfileEntry)>, Error> {
    agent_profiles_where(tx, org, None)
}

pub fn agent_profiles(tx: &mut Tx<'_>, org: OrgId, agent: UserId) -> Result<Vec<AgentProfileEntry>, Error> {
    Ok(agent_profiles_where(tx, org, Some(agent))?.into_iter().map(|(_, e)| e).collect())
}

fn agent_profiles_where(
    tx: &mut Tx<'_>,
    org: OrgId,
    agent: Option<UserId>,
) -> Result<Vec<(UserId, AgentProfileEntry)>, Error> {
    tx.query(
        "SELECT a.user_id, p.id, p.name, COALESCE(a.max_items, p.max_items), a.max_items IS NOT NULL, p.block_others,
                p.reset_minutes, p.reset_time_zone
         FROM agent_capacity_profiles a JOIN capacity_profiles p ON p.id = a.profile_id
         WHERE a.org_id = $1 AND (CAST($2 AS TEXT) IS NULL OR a.user_id = $2) ORDER BY a.user_id, a.position",
        params![org, agent],
    )?
    .iter()
    .map(|r| {
        Ok((
            r.parse(0)?,
            AgentProfileEntry {
                profile_id: r.parse(1)?,
                name: r.string(2)?,
                max_items: r.i64(3)?,
                overridden: r.bool(4)?,
                block_others: r.bool(5)?,
                reset: reset_from_row(r, 6)?,
            },
        ))
    })
    .collect()
}

/// Replaces the profiles an agent holds; each is a profile of the organization, listed once, with an optional
/// limit of the agent's own.
pub fn set_agent_profiles(
    tx: &mut Tx<'_>,
    org: OrgId,
    agent: UserId,
    profiles: &[(Uuid, Option<i64>)],
    now: Timestamp,
) -> Result<Vec<AgentProfileEntry>, Error> {
    routing::get_agent(tx, org, agent)?;
    for (i, (id, max_items)) in profiles.iter().enumerate() {
        get_profile(tx, org, *id).map_err(|e| e.at(&format!("profiles[{i}].profile_id")))?;
        if profiles[..i].iter().any(|(other, _)| other == id) {
            return Err(Error::field(
                Code::InvalidField,
                format!("profiles[{i}].profile_id"),
                "a profile is listed once",
            ));
        }
        if let Some(n) = max_items {
            check_items(&format!("profiles[{i}].max_items"), *n)?;
        }
    }
    tx.execute("DELETE FROM agent_capacity_profiles WHERE org_id = $1 AND user_id = $2", params![org, agent])?;
    for (i, (id, max_items)) in profiles.iter().enumerate() {
        tx.execute(
            "INSERT INTO agent_capacity_profiles (user_id, profile_id, org_id, max_items, position)
             VALUES ($1, $2, $3, $4, $5)",
            params![agent, id.to_string(), org, *max_items, i],
        )?;
    }
    let entries = agent_profiles(tx, org, agent)?;
    let changed = AgentCapacityProfilesChanged { agent_id: agent, profiles: entries.clone() };
    events::append_event(tx, org, None, &TypedEvent::AgentCapacityProfilesChanged(changed), now)?;
    Ok(entries)
}

/// The agents who hold a profile, for applying a change to it.
pub fn profile_holders(tx: &mut Tx<'_>, org: OrgId, id: Uuid) -> Result<Vec<UserId>, Error> {
    tx.query(
        "SELECT user_id FROM agent_capacity_profiles WHERE org_id = $1 AND profile_id = $2 ORDER BY user_id",
        params![org, id.to_string()],
    )?
    .iter()
    .map(|r| r.parse(0))
    .collect()
}

/// The statement reading the organization's (`$1`) `routing.assigned` log entries at or after `$2`, with their
/// conversation's workstream, written for the index each backend has for it (migration 0013): PostgreSQL's is
/// partial on the type, which a constant in the statement selects; SQLite's is on an expression that only this
/// statement writes, so that no other statement's plan can take it. Public so that the conformance suite can
/// check that the plan uses the index.
pub fn assigned_events_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "SELECT e.conversation_id, c.workstream_id, e.created_at, e.payload FROM events e
             JOIN conversations c ON c.id = e.conversation_id
             WHERE e.org_id = $1 AND e.event_type = 'routing.assigned' AND e.created_at >= $2"
        }
        Backend::Sqlite => {
            "SELECT e.conversation_id, c.workstream_id, e.created_at, e.payload FROM events e
             JOIN conversations c ON c.id = e.conversation_id
             WHERE (CASE WHEN e.event_type = 'routing.assigned' THEN e.org_id END) = $1 AND e.created_at >= $2"
        }
    }
}

/// A conversation assigned to an agent, as the conversation's log recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedAssignment {
    pub agent: UserId,
    pub conversation: ConversationId,
    pub workstream: WorkstreamId,
    pub at: Timestamp,
}

/// Every assignment the organization recorded at or after `since`: what a periodic capacity profile's use is
/// rebuilt from.
///
/// An accepted offer's time is its `answered_at`, which is routing's own clock at the acceptance. Picks and
/// resumes have no offer, so their time is their `routing.assigned` log entry's: a conversation's log times
/// strictly increase, so that one can be later than routing's clock said (never earlier), and only for them
/// a period boundary is approximate.
pub fn assignments_since(tx: &mut Tx<'_>, org: OrgId, since: Timestamp) -> Result<Vec<LoggedAssignment>, Error> {
    #[derive(Deserialize)]
    struct Payload {
        agent_id: UserId,
        by: String,
    }
    let mut out = tx
        .query(
            "SELECT o.agent_id, o.conversation_id, c.workstream_id, o.answered_at FROM offers o
             JOIN conversations c ON c.id = o.conversation_id
             WHERE o.org_id = $1 AND o.state = 'accepted' AND o.answered_at >= $2",
            params![org, since],
        )?
        .iter()
        .map(|r| {
            Ok(LoggedAssignment {
                agent: r.parse(0)?,
                conversation: r.parse(1)?,
                workstream: r.parse(2)?,
                at: r.ts(3)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    for r in tx.query(assigned_events_sql(tx.backend()), params![org, since])? {
        let payload: Payload = r.json(3)?;
        if payload.by != "offer" {
            out.push(LoggedAssignment {
                agent: payload.agent_id,
                conversation: r.parse(0)?,
                workstream: r.parse(1)?,
                at: r.ts(2)?,
            });
        }
    }
    Ok(out)
}
