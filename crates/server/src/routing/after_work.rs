//! The "after conversation work" presence (reference §6.5): while a conversation of a workstream with
//! `settings.routing.after_conversation_work_presence` is in wrap-up, its agent is in that presence (a
//! "Busy - After conversation work", say), so that supervisors see why they take nothing and routing offers them
//! only what that presence allows. When the last such conversation closes, the presence they had before comes
//! back, unless they chose another meanwhile. Agents who are Away or Offline are left as they are.
//!
//! Kept in memory: after a restart an agent still in the after-work presence keeps it until they change it.

use std::collections::{HashMap, HashSet};

use switchboard_domain::{
    Error, Timestamp,
    ids::*,
    routing::engine::{BasePresence, CustomPresenceId, Presence, PresenceReason, RoutingEvent},
    setup::PresenceName,
};
use switchboard_store::routing::{self as store, AgentRouting};
use uuid::Uuid;

use super::{Deps, OrgRouting, agents::engine_presence, catalogue::PresenceChoice, persist::FirstWrite};

/// An agent in an after-work presence.
#[derive(Debug)]
struct Held {
    /// The conversations in wrap-up that keep them there.
    conversations: HashSet<ConversationId>,
    /// What they were in before, as their saved row has it.
    before: (PresenceName, Option<Uuid>),
    /// The after-work presence, as the engine has it.
    during: Presence,
}

#[derive(Debug, Default)]
pub(super) struct AfterWork {
    agents: HashMap<UserId, Held>,
}

/// A presence change routing makes for after-work, with the agent's saved row that goes with it.
pub(super) struct Change {
    pub(super) events: Vec<RoutingEvent>,
    pub(super) write: FirstWrite,
}

impl OrgRouting {
    /// `conversation` of `workstream` entered wrap-up with `agent`: the agent goes into the workstream's after-work
    /// presence, if it has one that still exists and the agent is at work (Available, Busy or Busy-DND).
    pub(super) async fn after_work_begins(
        &mut self,
        deps: &Deps,
        conversation: ConversationId,
        workstream: WorkstreamId,
        agent: UserId,
        now: Timestamp,
    ) -> Result<Option<Change>, Error> {
        let Some(raw) = self.workstreams.get(&workstream).and_then(|w| w.after_work_presence.clone()) else {
            return Ok(None);
        };
        if let Some(held) = self.after_work.agents.get_mut(&agent) {
            held.conversations.insert(conversation);
            return Ok(None);
        }
        let Some(view) = self.engine.agent(agent) else { return Ok(None) };
        if !matches!(view.base, BasePresence::Available | BasePresence::Busy | BasePresence::BusyDnd) {
            return Ok(None);
        }
        let choice = match deps.routing.resolve_presence(deps, self.org, &raw).await {
            Ok(choice) => choice,
            Err(e) => {
                // Deleted since the workstream named it: the agent's presence is left alone.
                tracing::warn!(%workstream, error = %e, "after conversation work presence unusable");
                return Ok(None);
            }
        };
        let (name, custom) = match choice {
            PresenceChoice::BuiltIn(p) => (p, None),
            PresenceChoice::Custom(id, base) => (base, Some(id)),
        };
        let Some(saved) = self.saved_agents.get(&agent).cloned() else { return Ok(None) };
        let during = custom.map_or_else(|| engine_presence(name), |id| Presence::Custom(CustomPresenceId(id)));
        let held = Held {
            conversations: HashSet::from([conversation]),
            before: (saved.presence, saved.custom_presence_id),
            during,
        };
        self.after_work.agents.insert(agent, held);
        self.after_work_set(agent, saved, (name, custom), now).map(Some)
    }

    /// `conversation` closed: if it was the last keeping its agent in the after-work presence, and they are still in
    /// it, their presence before comes back.
    pub(super) fn after_work_ends(
        &mut self,
        conversation: ConversationId,
        now: Timestamp,
    ) -> Result<Option<Change>, Error> {
        let Some(agent) =
            self.after_work.agents.iter().find(|(_, h)| h.conversations.contains(&conversation)).map(|(a, _)| *a)
        else {
            return Ok(None);
        };
        let Some(held) = self.after_work.agents.get_mut(&agent) else { return Ok(None) };
        held.conversations.remove(&conversation);
        if !held.conversations.is_empty() {
            return Ok(None);
        }
        let Some(held) = self.after_work.agents.remove(&agent) else { return Ok(None) };
        // Another presence chosen meanwhile (or set by routing) stays.
        if self.engine.agent(agent).map(|v| v.presence) != Some(held.during) {
            return Ok(None);
        }
        let Some(saved) = self.saved_agents.get(&agent).cloned() else { return Ok(None) };
        self.after_work_set(agent, saved, held.before, now).map(Some)
    }

    /// Moves the agent to `presence` in the engine and in their saved row, the change said to be routing's.
    fn after_work_set(
        &mut self,
        agent: UserId,
        mut saved: AgentRouting,
        (name, custom): (PresenceName, Option<Uuid>),
        now: Timestamp,
    ) -> Result<Change, Error> {
        let presence = custom.map_or_else(|| engine_presence(name), |id| Presence::Custom(CustomPresenceId(id)));
        let mut events = self.engine.set_presence(agent, presence, now)?;
        for event in &mut events {
            if let RoutingEvent::PresenceChanged { agent: a, reason, .. } = event
                && *a == agent
                && matches!(reason, PresenceReason::Agent)
            {
                *reason = PresenceReason::AfterConversationWork;
            }
        }
        saved.presence = name;
        saved.custom_presence_id = custom;
        self.saved_agents.insert(agent, saved.clone());
        let org = self.org;
        let write: FirstWrite = Box::new(move |tx| store::save_agent(tx, org, &saved, now));
        Ok(Change { events, write })
    }
}
