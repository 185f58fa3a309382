//! Agents as routing sees them: presence, capacity, skills, attributes and working hours, saved and applied to
//! the engine together, and what the API shows of an agent's routing state.

use std::collections::BTreeMap;

use switchboard_domain::{
    Code, Error,
    ids::*,
    routing::{
        agent_attributes::{AgentAttribute, engine_form},
        calendar::{Calendar, CalendarSpec},
        engine::{CustomPresenceId, Presence},
    },
    setup::PresenceName,
};
use switchboard_store::routing::{self as store, AgentRouting};

use super::{Deps, Routing, catalogue, persist::FirstWrite, setup::checked_calendar};

pub(super) fn engine_presence(p: PresenceName) -> Presence {
    match p {
        PresenceName::Available => Presence::Available,
        PresenceName::Busy => Presence::Busy,
        PresenceName::BusyDnd => Presence::BusyDnd,
        PresenceName::Away => Presence::Away,
        PresenceName::Offline => Presence::Offline,
        PresenceName::Inactive => Presence::Inactive,
    }
}

/// The API name of a built-in engine presence. A custom presence is named by its base, which only the engine's
/// agent view knows (see `AgentStatus`); here it reads as Away.
pub fn presence_name(p: Presence) -> PresenceName {
    match p {
        Presence::Available => PresenceName::Available,
        Presence::Busy => PresenceName::Busy,
        Presence::BusyDnd => PresenceName::BusyDnd,
        Presence::Away | Presence::Custom(_) => PresenceName::Away,
        Presence::Offline => PresenceName::Offline,
        Presence::Inactive => PresenceName::Inactive,
    }
}

/// An agent's saved working hours for the engine. A stored calendar was checked when saved; one that no longer
/// is valid counts as always working rather than stop the agent from being routed.
pub(super) fn agent_calendar(agent: &AgentRouting) -> Option<Calendar> {
    checked_calendar(agent.calendar.as_ref()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, agent = %agent.user_id, "stored agent calendar refused; always working");
        None
    })
}

/// An agent's routing state for the API: what is saved, and what routing sees now.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AgentStatus {
    pub user_id: UserId,
    /// The presence routing sees now; routing sets `busy` when capacity is full, `inactive` after a missed offer.
    pub presence: PresenceName,
    pub capacity_units: i64,
    pub used_units: u32,
    pub skills: Vec<store::AgentSkillEntry>,
    pub queue_ids: Vec<QueueId>,
    /// The custom presence the agent is in, if any; `presence` is its base.
    pub custom_presence: Option<catalogue::PresenceRef>,
    /// The capacity profiles the agent holds, with the items of each in use.
    pub capacity_profiles: Vec<catalogue::ProfileStatus>,
    /// What custom assignment rules read about the agent.
    pub attributes: BTreeMap<String, AgentAttribute>,
    /// When the agent works, for `is_working` rules; null: always.
    pub calendar: Option<CalendarSpec>,
    /// The presence the agent is put in when they sign in (a presence id of `/v1/presences`); null: Available.
    pub default_presence: Option<String>,
}

/// The routing API's agent operations: each writes the store, then moves the engine, under the organization's lock.
impl Routing {
    pub async fn agent(&self, deps: &Deps, org: OrgId, agent: UserId) -> Result<AgentStatus, Error> {
        let (saved, custom, profiles) = deps.store.read(move |tx| catalogue::saved_agent(tx, org, agent)).await?;
        let o = self.org(deps, org).await?;
        let view = {
            let mut st = o.lock().await;
            st.ensure_agent(agent, deps.clock.now())?;
            st.engine.agent(agent).ok_or_else(|| Error::not_found(Code::AgentNotFound))?
        };
        Ok(agent_status(saved, custom, &profiles, view))
    }

    /// Saves and applies an agent's presence, capacity, skills, attributes and calendar (whichever the caller
    /// changed).
    pub async fn update_agent(
        &self,
        deps: &Deps,
        org: OrgId,
        agent: UserId,
        change: impl FnOnce(&mut AgentRouting) + Send + 'static,
    ) -> Result<AgentStatus, Error> {
        let o = self.org(deps, org).await?;
        let committing = {
            let mut st = o.lock().await;
            let now = deps.clock.now();
            // The agent's row and what routing decides from it commit together, and the lock is released before
            // the commit: agents coming online together share group commits instead of queueing one by one.
            // The engine holds what the copy says, so only what the change touches is applied: each setter runs
            // an assignment cycle, and a presence change need not run four. An agent the copy lacks gets it all.
            let before = st.saved_agents.get(&agent).cloned();
            let mut saved = match &before {
                Some(saved) => saved.clone(),
                None => deps.store.read(move |tx| store::get_agent(tx, org, agent)).await?,
            };
            change(&mut saved);
            st.ensure_agent(agent, now)?;
            let b = before.as_ref();
            let attributes = b.is_none_or(|b| b.attributes != saved.attributes).then(|| engine_form(&saved.attributes));
            let calendar = match b.is_none_or(|b| b.calendar != saved.calendar) {
                true => Some(checked_calendar(saved.calendar.as_ref())?),
                false => None,
            };
            let units = b.is_none_or(|b| b.capacity_units != saved.capacity_units).then_some(saved.capacity_units);
            let skills = b.is_none_or(|b| b.skills != saved.skills).then(|| st.agent_skills(&saved.skills));
            let wanted = match saved.custom_presence_id {
                Some(id) => Presence::Custom(CustomPresenceId(id)),
                None => engine_presence(saved.presence),
            };
            let moved = (|| {
                let mut events = Vec::new();
                // What rules read about the agent first, so that the cycles capacity and presence run see it.
                if let Some(attributes) = attributes {
                    events.extend(st.engine.set_attributes(agent, attributes, now)?);
                }
                if let Some(calendar) = calendar {
                    events.extend(st.engine.set_calendar(agent, calendar, now)?);
                }
                if let Some(units) = units {
                    events.extend(st.engine.set_unit_capacity(agent, units, now)?);
                }
                if let Some(skills) = skills {
                    events.extend(st.engine.set_skills(agent, skills, now)?);
                }
                if st.engine.agent(agent).map(|a| a.presence) != Some(wanted) {
                    events.extend(st.engine.set_presence(agent, wanted, now)?);
                }
                Ok::<_, Error>(events)
            })();
            match moved {
                Ok(events) => {
                    st.saved_agents.insert(agent, saved.clone());
                    // Routing's copy holds only the organization's agents (read with their role checked).
                    let known = before.is_some();
                    let row = saved.clone();
                    let write: FirstWrite = Box::new(move |tx| match known {
                        true => store::save_agent(tx, org, &row, now),
                        false => store::put_agent(tx, org, &row, now).map(drop),
                    });
                    let commit = st.submit(deps, Vec::new(), events, Some(write)).await;
                    // The answer is what this change left, read now rather than under the lock once more after
                    // the commit: 64 agents coming online at once each queued for it twice.
                    let view = st.engine.agent(agent).ok_or_else(|| Error::not_found(Code::AgentNotFound));
                    commit.and_then(|c| view.map(|v| (c, v, saved)))
                }
                Err(e) => Err(e),
            }
        };
        // A refusal after the engine began to change (skills after capacity), or a commit that failed, leaves the
        // engine ahead of the store: it is rebuilt from the store on next use.
        let (view, saved) = match committing {
            // A commit that fails has the organization rebuilt where it is awaited (`submit`).
            Ok((commit, view, saved)) => commit.await.map(|()| (view, saved))?,
            Err(e) => {
                self.forget(org);
                return Err(e);
            }
        };
        let read = saved.clone();
        let (custom, profiles) = deps.store.read(move |tx| catalogue::presence_and_profiles(tx, org, &read)).await?;
        Ok(agent_status(saved, custom, &profiles, view))
    }
}

/// What `GET /v1/agents/{id}/routing` answers: the saved row, with what the engine says of the agent now.
fn agent_status(
    saved: AgentRouting,
    custom: Option<catalogue::PresenceRef>,
    profiles: &[switchboard_store::routing_config::AgentProfileEntry],
    view: switchboard_domain::routing::engine::AgentView,
) -> AgentStatus {
    let capacity_profiles = catalogue::profile_status(profiles, &view);
    AgentStatus {
        user_id: saved.user_id,
        presence: match view.presence {
            Presence::Custom(_) => catalogue::base_name(view.base),
            p => presence_name(p),
        },
        capacity_units: saved.capacity_units,
        used_units: view.used_units,
        skills: saved.skills,
        queue_ids: view.queues,
        // Routing's own presences (Busy when full, Inactive) replace the custom one the agent chose.
        custom_presence: custom.filter(|_| matches!(view.presence, Presence::Custom(_))),
        capacity_profiles,
        attributes: saved.attributes,
        calendar: saved.calendar,
        default_presence: saved.default_presence,
    }
}
