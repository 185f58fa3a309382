//! One organization's routing state ([`OrgRouting`]: its engine and what the runtime keeps beside it), and
//! its loading from the store when the organization is first used.

use std::collections::{BTreeMap, HashMap};

use switchboard_domain::{
    Error, Timestamp,
    conversation::ConversationState,
    ids::*,
    routing::{
        agent_attributes::engine_form,
        assignment_rules::engine_attributes,
        calendar::Calendar,
        engine::{
            AgentSettings, AgentSkill, CustomPresenceId, Engine, EngineSettings, OfferId, Presence, RoutingState,
            SkillId, SkillRequirement, WorkItem,
        },
        rules::{Skill, WorkstreamRules},
    },
    setup::{PresenceName, QueueRouting},
};
use switchboard_store::routing::{self as store, AgentRouting};
use uuid::Uuid;

use super::{
    Deps, after_work,
    agents::{agent_calendar, engine_presence},
    overflow, position_log, wait,
};

pub(super) struct WorkstreamInfo {
    pub(super) name: String,
    pub(super) enabled: bool,
    pub(super) fallback: Option<QueueId>,
    pub(super) rules: WorkstreamRules,
    pub(super) wait_notifications: switchboard_domain::setup::WaitNotifications,
    /// The presence its agents are put in during wrap-up (`after_conversation_work`).
    pub(super) after_work_presence: Option<String>,
}

pub(super) struct QueueInfo {
    pub(super) routing: QueueRouting,
    pub(super) calendar: Calendar,
}

/// One organization's engine and what the runtime keeps beside it.
pub struct OrgRouting {
    pub(super) org: OrgId,
    pub(super) engine: Engine,
    pub(super) workstreams: HashMap<WorkstreamId, WorkstreamInfo>,
    pub(super) queues: HashMap<QueueId, QueueInfo>,
    /// Skill names (compared ignoring case) to the engine's ids.
    pub(super) skills: BTreeMap<String, SkillId>,
    pub(super) offer_uuid: HashMap<OfferId, Uuid>,
    pub(super) offer_by_uuid: HashMap<Uuid, OfferId>,
    pub(super) enqueued_at: HashMap<ConversationId, Timestamp>,
    /// The wait estimator and waiting customers' updates (`wait`).
    pub(super) waits: wait::Waits,
    /// What overflow decided, written with the next persist (`overflow`).
    pub(super) overflow: overflow::Pending,
    /// Waits in queue and their overflow deadlines (`overflow`, after queueing).
    pub(super) queue_waits: overflow::QueueWaits,
    /// Each agent's saved routing row as this engine last wrote it. Writes are queued for commit after the lock is
    /// released, so a read of the store under the lock could miss the previous change and write it back over.
    pub(super) saved_agents: HashMap<UserId, AgentRouting>,
    /// How often each waiting conversation's log records its position (`position_log`).
    pub(super) positions: position_log::PositionLog,
    /// Agents put in an after-work presence during wrap-up (`after_work`).
    pub(super) after_work: after_work::AfterWork,
}

impl OrgRouting {
    pub(super) fn empty(org: OrgId) -> Self {
        Self {
            org,
            engine: Engine::new(EngineSettings::default()),
            workstreams: HashMap::new(),
            queues: HashMap::new(),
            skills: BTreeMap::new(),
            offer_uuid: HashMap::new(),
            offer_by_uuid: HashMap::new(),
            enqueued_at: HashMap::new(),
            waits: wait::Waits::default(),
            overflow: overflow::Pending::default(),
            queue_waits: overflow::QueueWaits::default(),
            saved_agents: HashMap::new(),
            positions: position_log::PositionLog::default(),
            after_work: after_work::AfterWork::default(),
        }
    }

    pub(super) fn skill(&mut self, name: &str) -> SkillId {
        let next = u128::try_from(self.skills.len()).unwrap_or(u128::MAX).saturating_add(1);
        *self.skills.entry(name.to_lowercase()).or_insert_with(|| SkillId(Uuid::from_u128(next)))
    }

    pub(super) fn agent_skills(&mut self, skills: &[store::AgentSkillEntry]) -> Vec<AgentSkill> {
        skills.iter().map(|s| AgentSkill { skill: self.skill(&s.name), proficiency: s.proficiency }).collect()
    }

    /// Rebuilds the engine from the store.
    pub(super) async fn load(&mut self, deps: &Deps) -> Result<(), Error> {
        let org = self.org;
        let now = deps.clock.now();
        let (agents, members, items) = deps
            .store
            .write(move |tx| {
                store::withdraw_pending_offers(tx, org, now)?;
                Ok((store::list_agents(tx, org)?, store::list_members(tx, org, None)?, store::live_items(tx, org)?))
            })
            .await?;
        let mut profiles = self.load_catalogue(deps).await?;
        self.refresh_setup(deps).await?;
        self.load_wait_history(deps, now).await?;
        let mut events = Vec::new();
        for a in &agents {
            let settings = AgentSettings {
                // Inactive is routing's to set; after a restart the agent is Away until they choose again.
                presence: match (a.presence, a.custom_presence_id) {
                    (_, Some(id)) => Presence::Custom(CustomPresenceId(id)),
                    (PresenceName::Inactive, None) => Presence::Away,
                    (p, None) => engine_presence(p),
                },
                units: u32::try_from(a.capacity_units).unwrap_or(0),
                skills: self.agent_skills(&a.skills),
                profiles: profiles.remove(&a.user_id).unwrap_or_default(),
                attributes: engine_form(&a.attributes),
                calendar: agent_calendar(a),
            };
            events.extend(self.engine.add_agent(a.user_id, settings, now)?);
        }
        self.saved_agents = agents.into_iter().map(|a| (a.user_id, a)).collect();
        for m in &members {
            events.extend(self.engine.join_queue(m.user_id, m.queue_id, now)?);
        }
        // Before any conversation is queued, so that none is offered to an agent whose period is already used.
        events.extend(self.restore_profile_use(deps, None, now).await?);
        let wrap_up_since = deps
            .store
            .read(move |tx| switchboard_store::timers::states_since(tx, org, ConversationState::WrapUp))
            .await?;
        let mut unclassified = Vec::new();
        for item in items {
            let Some(queue) = item.queue_id else { continue };
            if !self.workstreams.get(&item.workstream_id).is_some_and(|w| w.enabled) {
                continue;
            }
            let Some((severity, skills, enqueued_at)) = item.classified.clone() else {
                if item.state == ConversationState::Open {
                    unclassified.push(item.conversation_id);
                }
                continue;
            };
            let mut work = WorkItem::new(item.conversation_id, item.workstream_id, queue, enqueued_at);
            work.priority = i32::try_from(item.priority).unwrap_or(0);
            work.severity = i32::try_from(severity).unwrap_or(0);
            work.skills = self.requirements(&skills);
            work.channel = item.channel_type;
            work.attributes = engine_attributes(&item.attributes);
            self.enqueued_at.insert(item.conversation_id, enqueued_at);
            if item.state == ConversationState::Open {
                self.wait_started(item.conversation_id, item.queue_since.unwrap_or(enqueued_at));
            }
            let held = match item.state {
                ConversationState::Active => Some(RoutingState::Active),
                ConversationState::Waiting => Some(RoutingState::Waiting),
                ConversationState::WrapUp => Some(RoutingState::WrapUp),
                _ => None,
            };
            let result = match (held, item.agent_id) {
                (Some(RoutingState::WrapUp), Some(agent)) => {
                    self.ensure_agent(agent, now)?;
                    // Without a timer row (written after the commit), the wrap-up counts as starting now.
                    let since = wrap_up_since.get(&item.conversation_id).copied().unwrap_or(now);
                    self.engine.restore_wrap_up(work, agent, since, now)
                }
                (Some(state), Some(agent)) => {
                    self.ensure_agent(agent, now)?;
                    self.engine.restore(work, agent, state, now)
                }
                _ => self.engine.enqueue(work, now),
            };
            match result {
                Ok(e) => events.extend(e),
                Err(e) => tracing::warn!(error = %e, conversation = %item.conversation_id, "not restored to routing"),
            }
        }
        self.persist(deps, events).await?;
        for id in unclassified {
            self.route_new(deps, id).await?;
        }
        Ok(())
    }

    pub(super) fn requirements(&mut self, skills: &[Skill]) -> Vec<SkillRequirement> {
        skills
            .iter()
            .map(|s| SkillRequirement { skill: self.skill(&s.name), min_proficiency: s.min_proficiency })
            .collect()
    }

    /// Makes sure routing knows the agent (agents created after start are added Offline, with no capacity).
    pub(super) fn ensure_agent(&mut self, agent: UserId, now: Timestamp) -> Result<(), Error> {
        if self.engine.agent(agent).is_none() {
            self.engine.add_agent(agent, AgentSettings::default(), now)?;
        }
        Ok(())
    }
}
