//! The routing engine (reference §6.1, §6.3-6.6): which agent is offered which conversation, when.
//!
//! It is pure and in memory. Every call takes the current time and returns what happened as [`RoutingEvent`]s, so
//! the server persists and publishes them and a simulator replays the same code on a virtual clock. Every decision
//! iterates ordered maps or compares explicit keys, so the same calls give the same events.
//!
//! The lifecycle of a conversation here: [`Engine::enqueue`] puts it in its queue (Open). Each call that can make
//! an assignment possible (arrival, presence, capacity, skills, queue membership, a declined or expired offer, a
//! cooldown ending) runs an assignment cycle on the queues it touched: for push workstreams, each queue's top block
//! of conversations is matched to agents by the queue's assignment method and each match becomes an offer that
//! reserves the agent's capacity until it is accepted, rejected or expires. [`Engine::accept`] makes it Active;
//! [`Engine::end`], [`Engine::park`], [`Engine::release`], [`Engine::transfer`] and [`Engine::close`] give capacity
//! back as the reference says. [`Engine::tick`] runs the deadlines (offer expiry, timed wrap-up blocks, reoffer
//! cooldowns); [`Engine::next_deadline`] says when it is next needed.
//!
//! A declined conversation (rejected, missed or released by an agent) is not offered to that agent again for the
//! workstream's `reoffer_cooldown_ms`; after that the agent is eligible again but ranks after every agent who has
//! not declined it, so it goes round everyone before coming back, and a lone agent gets it back after the cooldown
//! rather than in a tight loop.

mod agent;
mod assignment;
mod config;
mod event;
mod queue;

use std::collections::{BTreeMap, BTreeSet};

pub use config::{
    AgentCondition, AgentOrder, AgentProfile, AgentSettings, AgentSkill, AssignmentMethod, AssignmentRule,
    AttributeValue, BasePresence, CapacityDemand, CapacityProfileId, CustomAssignment, CustomPresence,
    CustomPresenceId, EngineSettings, ItemField, ItemOrder, ItemPredicate, Presence, PresenceCatalogue, PresenceSet,
    PriorityBucket, QueueSettings, SkillId, SkillMatching, SkillRequirement, SkillSet, WorkItem, WorkstreamRouting,
    WrapUpBlocking,
};
pub use event::{AssignedBy, OfferId, OfferKind, PresenceReason, RoutingEvent};

use self::{
    agent::Agent,
    queue::{Member, Queue, QueueKey},
};
use crate::{
    Timestamp,
    error::{Code, Error, Result},
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
    routing::calendar::Calendar,
    setup::Distribution,
};

/// Where a conversation is in routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingState {
    /// Waiting in its queue.
    Open,
    /// Offered to an agent, who has not answered yet.
    Offered,
    Active,
    WrapUp,
    /// Parked by its agent; a customer reply revives it.
    Waiting,
}

/// Where to transfer a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTarget {
    /// Back to routing in another queue.
    Queue(QueueId),
    /// An offer to one agent; if they reject or miss it, the conversation waits in its queue.
    Agent(UserId),
}

/// A conversation as routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationView {
    pub queue: QueueId,
    pub workstream: WorkstreamId,
    pub state: RoutingState,
    /// The agent holding it (offered, active, wrap-up or parked).
    pub agent: Option<UserId>,
    pub offer: Option<OfferId>,
    /// Whether it currently consumes the agent's capacity.
    pub holds_capacity: bool,
}

/// An agent as routing sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    pub presence: Presence,
    pub base: BasePresence,
    pub total_units: u32,
    /// Units held by offers, active conversations and blocking wrap-ups.
    pub used_units: u32,
    /// Each profile with its items in use and its limit.
    pub profiles: Vec<ProfileUse>,
    pub queues: Vec<QueueId>,
}

/// One of an agent's capacity profiles as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileUse {
    pub profile: CapacityProfileId,
    /// What counts against the limit: the conversations held (offers included) for a profile that resets on
    /// release, the conversations assigned this period (and pending offers) for a periodic one.
    pub used: u32,
    pub max_items: u32,
    /// When the current period ends, for a periodic profile.
    pub resets_at: Option<Timestamp>,
}

/// Whether a queue can take a conversation of a workstream now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    /// Members who could be offered one now.
    pub agents: usize,
    /// Open conversations already waiting.
    pub waiting: usize,
}

/// A pending offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferView {
    pub conversation: ConversationId,
    pub agent: UserId,
    pub expires_at: Timestamp,
    pub kind: OfferKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Open,
    Offered(OfferId),
    Active(usize),
    WrapUp(usize),
    Waiting(usize),
}

/// Capacity a conversation takes from an agent. `assigned` is false while it is only an offer's reservation, whose
/// return does not count as the agent's capacity being released (most idle and `CapacityReleased`).
#[derive(Debug, Clone, Copy)]
struct Hold {
    agent: usize,
    demand: CapacityDemand,
    assigned: bool,
}

#[derive(Debug, Clone, Copy)]
struct Decline {
    agent: usize,
    until: Timestamp,
}

#[derive(Debug)]
struct Item {
    work: WorkItem,
    queue: usize,
    pick: bool,
    status: Status,
    key: QueueKey,
    hold: Option<Hold>,
    declines: Vec<Decline>,
    affinity: Option<usize>,
    reported_position: usize,
}

#[derive(Debug, Clone, Copy)]
struct Offer {
    conversation: ConversationId,
    agent: usize,
    expires_at: Timestamp,
    kind: OfferKind,
}

/// Whether an agent is at work (signed in as Available, Busy or Busy-DND, with some capacity), whether or not they
/// have room now.
fn working(a: &Agent) -> bool {
    matches!(a.base, BasePresence::Available | BasePresence::Busy | BasePresence::BusyDnd)
        && (a.total_units > 0 || !a.profiles.is_empty())
}

/// Whether the agent holds every skill of the set (at its minimum, if it has one): may take a conversation that
/// needs it.
fn holds(a: &Agent, skills: &SkillSet) -> bool {
    skills.is_empty() || a.skill_shortfall(skills.requirements(), SkillMatching::Exact).is_some()
}

/// The routing state of one organization. See the module documentation.
#[derive(Debug, Default)]
pub struct Engine {
    settings: EngineSettings,
    presences: PresenceCatalogue,
    workstreams: BTreeMap<WorkstreamId, WorkstreamRouting>,
    queues: Vec<Queue>,
    queue_index: BTreeMap<QueueId, usize>,
    agents: Vec<Agent>,
    agent_index: BTreeMap<UserId, usize>,
    items: BTreeMap<ConversationId, Item>,
    offers: BTreeMap<OfferId, Offer>,
    offer_deadlines: BTreeSet<(Timestamp, OfferId)>,
    wrap_up_deadlines: BTreeSet<(Timestamp, ConversationId)>,
    cooldown_deadlines: BTreeSet<(Timestamp, ConversationId)>,
    /// When a custom queue's waiting conversations may find an agent without any other trigger: a rule opens to
    /// one of them (gradual relaxation) or a member's calendar opens or closes (`is_working`).
    rerun_deadlines: BTreeSet<(Timestamp, usize)>,
    /// When an agent's periodic capacity profile starts a new period. Entries may be stale (the profile changed);
    /// running one then only reschedules.
    reset_deadlines: BTreeSet<(Timestamp, usize)>,
    /// Offers that ended recently, with their agent and end, so that a late accept hears "expired".
    finished_offers: BTreeMap<OfferId, (usize, Timestamp)>,
    seq: u64,
    /// Queues to run an assignment cycle on, higher queue priority first.
    dirty: BTreeSet<(i64, usize)>,
    /// Queues whose waiting order changed, for `PositionChanged`.
    moved: BTreeSet<usize>,
    /// Conversations held that require skills: while there are none, every customer needs the same agents, and
    /// [`Engine::waiting_with_other_skills`] answers without a pass over the queue (it is asked for every
    /// customer who joins one).
    skilled_items: usize,
}

impl Engine {
    /// An empty engine; add workstreams, queues and agents before conversations.
    pub fn new(settings: EngineSettings) -> Self {
        Engine { settings, ..Engine::default() }
    }

    /// Adds or renames a custom presence.
    pub fn define_presence(&mut self, id: CustomPresenceId, presence: CustomPresence) {
        self.presences.define(id, presence);
    }

    /// Adds or changes a custom presence and moves the agents who are in it to its (possibly new) base, running
    /// an assignment cycle for their queues.
    pub fn redefine_presence(
        &mut self,
        id: CustomPresenceId,
        presence: CustomPresence,
        now: Timestamp,
    ) -> Vec<RoutingEvent> {
        let base = presence.base;
        self.presences.define(id, presence);
        for a in 0..self.agents.len() {
            if self.agents[a].presence == Presence::Custom(id) && self.agents[a].base != base {
                self.agents[a].base = base;
                self.mark_agent_queues(a);
            }
        }
        let mut events = Vec::new();
        self.finish(now, &mut events);
        events
    }

    /// Adds or changes a workstream's routing settings. Conversations already offered or assigned keep the
    /// capacity they took.
    pub fn upsert_workstream(&mut self, id: WorkstreamId, routing: WorkstreamRouting) -> Result<()> {
        routing.check()?;
        self.workstreams.insert(id, routing);
        Ok(())
    }

    /// Adds a queue, or changes one's priority and method, re-sorting its waiting conversations.
    pub fn upsert_queue(&mut self, id: QueueId, settings: QueueSettings, now: Timestamp) -> Vec<RoutingEvent> {
        let mut events = Vec::new();
        match self.queue_index.get(&id) {
            Some(&q) => {
                self.queues[q].settings = settings;
                let waiting: Vec<ConversationId> =
                    self.queues[q].push.values().chain(self.queues[q].pick.values()).copied().collect();
                for conversation in waiting {
                    self.requeue_in_place(conversation);
                }
                self.mark_queue(q);
                self.moved.insert(q);
            }
            None => {
                self.queue_index.insert(id, self.queues.len());
                self.queues.push(Queue::new(id, settings));
            }
        }
        self.finish(now, &mut events);
        events
    }

    /// Registers an agent. Their presence may not be Inactive, which only routing sets.
    pub fn add_agent(&mut self, id: UserId, settings: AgentSettings, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        if self.agent_index.contains_key(&id) {
            return Err(Error::new(Code::AlreadyExists, "the agent is already known to routing"));
        }
        let base = self.chosen_presence_base(settings.presence)?;
        config::check_skills(&settings.skills)?;
        let a = self.agents.len();
        self.agent_index.insert(id, a);
        self.agents.push(Agent::new(id, settings, base, now));
        self.schedule_reset(a);
        let mut events = Vec::new();
        self.finish(now, &mut events);
        Ok(events)
    }

    /// The agent (or a supervisor for them) sets their presence. This ends a Busy that routing had set.
    pub fn set_presence(&mut self, agent: UserId, presence: Presence, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        let base = self.chosen_presence_base(presence)?;
        let mut events = Vec::new();
        self.agents[a].auto_busy = false;
        self.change_presence(a, presence, base, PresenceReason::Agent, &mut events);
        if base == BasePresence::Offline {
            self.withdraw_offers_of(a, now, &mut events);
        }
        self.mark_agent_queues(a);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// An agent who goes offline will not answer: their pending offers are taken back at once (not when they
    /// expire) and the conversations wait again at their place, for the next agent.
    fn withdraw_offers_of(&mut self, a: usize, now: Timestamp, events: &mut Vec<RoutingEvent>) {
        let offers: Vec<OfferId> = self.offers.iter().filter(|(_, o)| o.agent == a).map(|(id, _)| *id).collect();
        for offer in offers {
            let Some(o) = self.finish_offer(offer, now) else { continue };
            events.push(RoutingEvent::OfferWithdrawn { offer, conversation: o.conversation, agent: self.agents[a].id });
            self.release_hold(o.conversation, now, events);
            self.requeue_in_place(o.conversation);
            self.insert_waiting(o.conversation, events);
        }
    }

    /// Sets the agent's total capacity units (a whole number, zero or more). Lowering it below what is in use
    /// takes nothing away; it only stops new offers.
    pub fn set_unit_capacity(&mut self, agent: UserId, units: i64, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        let units = u32::try_from(units).map_err(|_| {
            Error::field(Code::InvalidCapacity, "units", "capacity is a whole number of units, zero or more")
        })?;
        self.agents[a].total_units = units;
        Ok(self.after_capacity_change(a, now))
    }

    /// Adds or changes one of the agent's capacity profiles.
    pub fn set_profile(&mut self, agent: UserId, profile: AgentProfile, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        self.agents[a].set_profile(profile, now);
        self.schedule_reset(a);
        Ok(self.after_capacity_change(a, now))
    }

    /// Replaces the agent's capacity profiles. A profile kept keeps the items it has in use; a profile dropped
    /// takes nothing away from conversations already assigned, it only stops new ones.
    pub fn set_profiles(
        &mut self,
        agent: UserId,
        profiles: Vec<AgentProfile>,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        self.agents[a].profiles.retain(|slot| profiles.iter().any(|p| p.profile == slot.limit.profile));
        for profile in profiles {
            self.agents[a].set_profile(profile, now);
        }
        self.schedule_reset(a);
        Ok(self.after_capacity_change(a, now))
    }

    /// Replaces the agent's skills.
    pub fn set_skills(&mut self, agent: UserId, skills: Vec<AgentSkill>, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        config::check_skills(&skills)?;
        self.agents[a].set_skills(skills);
        Ok(self.rerun_agent_queues(a, now))
    }

    /// Replaces the agent's attributes, which custom assignment rules read.
    pub fn set_attributes(
        &mut self,
        agent: UserId,
        attributes: BTreeMap<String, AttributeValue>,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        self.agents[a].attributes = attributes;
        Ok(self.rerun_agent_queues(a, now))
    }

    /// Replaces the agent's working hours (`None`: always working), which custom assignment rules read.
    pub fn set_calendar(
        &mut self,
        agent: UserId,
        calendar: Option<Calendar>,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        self.agents[a].set_calendar(calendar);
        Ok(self.rerun_agent_queues(a, now))
    }

    /// Adds the agent to the queue; round robin takes members in the order they joined. Joining twice does
    /// nothing.
    pub fn join_queue(&mut self, agent: UserId, queue: QueueId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        let q = self.queue_idx(queue)?;
        let mut events = Vec::new();
        if self.queues[q].member(a).is_none() {
            let join_seq = self.next_seq();
            self.queues[q].members.push(Member { agent: a, join_seq, rotation: 0 });
            let queues = &mut self.agents[a].queues;
            if let Err(at) = queues.binary_search(&q) {
                queues.insert(at, q);
            }
            self.mark_queue(q);
            self.finish(now, &mut events);
        }
        Ok(events)
    }

    /// Removes the agent from the queue. What they already hold stays theirs.
    pub fn leave_queue(&mut self, agent: UserId, queue: QueueId) -> Result<()> {
        let a = self.agent_idx(agent)?;
        let q = self.queue_idx(queue)?;
        self.queues[q].members.retain(|m| m.agent != a);
        self.agents[a].queues.retain(|&x| x != q);
        Ok(())
    }

    /// A new conversation arrives in its queue (Open) and is routed.
    pub fn enqueue(&mut self, item: WorkItem, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        if self.items.contains_key(&item.conversation) {
            return Err(Error::new(Code::AlreadyExists, "the conversation is already in routing"));
        }
        let q = self.queue_idx(item.queue)?;
        let ws = self.workstream(item.workstream)?;
        let pick = ws.distribution == Distribution::Pick;
        let affinity =
            if ws.affinity { item.affinity_agent.and_then(|u| self.agent_index.get(&u).copied()) } else { None };
        let conversation = item.conversation;
        let seq = self.next_seq();
        let key = self.queues[q].key_for(&item, affinity.is_some(), seq);
        self.skilled_items += usize::from(!item.skills.is_empty());
        self.items.insert(
            conversation,
            Item {
                work: item,
                queue: q,
                pick,
                status: Status::Open,
                key,
                hold: None,
                declines: Vec::new(),
                affinity,
                reported_position: 0,
            },
        );
        let mut events = Vec::new();
        self.insert_waiting(conversation, &mut events);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// Puts back a conversation an agent already holds, as a restart finds it in the store: Active (taking the
    /// agent's capacity, even past their limit, since the assignment already happened), Waiting (parked, remembered
    /// for affinity) or WrapUp (holding nothing). Nothing is offered for it.
    pub fn restore(
        &mut self,
        item: WorkItem,
        agent: UserId,
        state: RoutingState,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>> {
        if self.items.contains_key(&item.conversation) {
            return Err(Error::new(Code::AlreadyExists, "the conversation is already in routing"));
        }
        let q = self.queue_idx(item.queue)?;
        let a = self.agent_idx(agent)?;
        let ws = self.workstream(item.workstream)?;
        let (pick, demand) = (ws.distribution == Distribution::Pick, ws.capacity);
        let seq = self.next_seq();
        let key = self.queues[q].key_for(&item, false, seq);
        let (status, hold) = match state {
            RoutingState::Active => {
                self.agents[a].reserve(demand);
                self.agents[a].last_assigned = seq;
                (Status::Active(a), Some(Hold { agent: a, demand, assigned: true }))
            }
            RoutingState::Waiting => (Status::Waiting(a), None),
            RoutingState::WrapUp => (Status::WrapUp(a), None),
            RoutingState::Open | RoutingState::Offered => {
                return Err(Error::new(Code::InvalidStateTransition, "only a held conversation is restored"));
            }
        };
        let mut work = item;
        if state == RoutingState::Waiting {
            work.affinity_agent = Some(agent);
        }
        let conversation = work.conversation;
        self.skilled_items += usize::from(!work.skills.is_empty());
        self.items.insert(
            conversation,
            Item {
                work,
                queue: q,
                pick,
                status,
                key,
                hold,
                declines: Vec::new(),
                affinity: None,
                reported_position: 0,
            },
        );
        let mut events = Vec::new();
        if state == RoutingState::Active {
            self.busy_if_full(a, &mut events);
        }
        self.finish(now, &mut events);
        Ok(events)
    }

    /// Puts back a conversation in wrap-up since `since`, holding its agent's capacity as the workstream's wrap-up
    /// blocking still says: always, for what is left of its minutes, or not at all.
    pub fn restore_wrap_up(
        &mut self,
        item: WorkItem,
        agent: UserId,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>> {
        let conversation = item.conversation;
        let mut events = self.restore(item, agent, RoutingState::WrapUp, now)?;
        let Some(ws) = self.workstream_of(conversation) else { return Ok(events) };
        let (blocking, demand) = (ws.wrap_up, ws.capacity);
        let until = match blocking {
            WrapUpBlocking::Never => return Ok(events),
            WrapUpBlocking::Always => None,
            WrapUpBlocking::Minutes(m) => {
                let until = since.plus_millis(i64::from(m) * 60_000);
                if until <= now {
                    return Ok(events);
                }
                Some(until)
            }
        };
        let a = self.agent_idx(agent)?;
        self.agents[a].reserve(demand);
        if let Some(item) = self.items.get_mut(&conversation) {
            item.hold = Some(Hold { agent: a, demand, assigned: true });
        }
        if let Some(until) = until {
            self.wrap_up_deadlines.insert((until, conversation));
        }
        self.busy_if_full(a, &mut events);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// When the earliest current period of the agent's periodic capacity profiles began; `None` without any.
    /// Assignments the store recorded since then are what [`Engine::restore_assignment`] needs after a restart.
    pub fn period_start(&self, agent: UserId) -> Option<Timestamp> {
        self.agent_index.get(&agent).and_then(|&a| self.agents[a].period_start())
    }

    /// Counts an assignment the store recorded (at `at`, of a conversation of `workstream`) against the agent's
    /// periodic profile the workstream consumes, if it falls in the current period. Counting a conversation again
    /// changes nothing, and nothing is routed: this rebuilds use after a restart or a change of reset.
    pub fn restore_assignment(
        &mut self,
        agent: UserId,
        conversation: ConversationId,
        workstream: WorkstreamId,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        let Some(profile) = self.workstream(workstream)?.capacity.profile else { return Ok(Vec::new()) };
        self.agents[a].restore_assigned(profile, conversation, at);
        let mut events = Vec::new();
        self.busy_if_full(a, &mut events);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// The agent accepts their offer: the conversation is Active and keeps the capacity the offer reserved.
    pub fn accept(&mut self, offer: OfferId, agent: UserId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        let o = self.live_offer(offer, a, now)?;
        let mut events = Vec::new();
        self.roll_periods(now, &mut events);
        self.finish_offer(offer, now);
        let queue = self.queue_id_of(o.conversation);
        if let Some(item) = self.items.get_mut(&o.conversation) {
            item.status = Status::Active(a);
            item.affinity = None;
            item.declines.clear();
            if let Some(hold) = &mut item.hold {
                hold.assigned = true;
                self.agents[hold.agent].note_assigned(hold.demand, o.conversation);
            }
        }
        events.push(RoutingEvent::Assigned {
            conversation: o.conversation,
            agent,
            queue,
            by: AssignedBy::Offer(offer),
        });
        self.busy_if_full(a, &mut events);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// The agent rejects their offer: the conversation goes back to its place in the queue and is offered to
    /// others first (see the module documentation).
    pub fn reject(&mut self, offer: OfferId, agent: UserId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let a = self.agent_idx(agent)?;
        let o = self.live_offer(offer, a, now)?;
        let mut events = Vec::new();
        self.finish_offer(offer, now);
        events.push(RoutingEvent::OfferRejected { offer, conversation: o.conversation, agent });
        let busy_dnd = self.workstream_of(o.conversation).is_some_and(|ws| ws.rejected_offer_sets_busy_dnd);
        self.decline_and_requeue(o.conversation, a, now, &mut events);
        if busy_dnd {
            self.agents[a].auto_busy = false;
            self.change_presence(
                a,
                Presence::BusyDnd,
                BasePresence::BusyDnd,
                PresenceReason::RejectedOffer,
                &mut events,
            );
        }
        self.finish(now, &mut events);
        Ok(events)
    }

    /// The agent takes an Open conversation from the queue. On a pick workstream the agent must be a member of the
    /// queue with an allowed presence and room for it; on a push workstream picking is allowed only when the
    /// workstream lets agents pick regardless of capacity and presence.
    pub fn pick(&mut self, agent: UserId, conversation: ConversationId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let demand = self.can_pick(agent, conversation)?;
        let a = self.agent_idx(agent)?;
        let mut events = Vec::new();
        self.roll_periods(now, &mut events);
        self.remove_waiting(conversation);
        let seq = self.next_seq();
        let queue = self.queue_id_of(conversation);
        self.agents[a].reserve(demand);
        self.agents[a].note_assigned(demand, conversation);
        self.agents[a].last_assigned = seq;
        if let Some(item) = self.items.get_mut(&conversation) {
            item.status = Status::Active(a);
            item.hold = Some(Hold { agent: a, demand, assigned: true });
            item.affinity = None;
            item.declines.clear();
        }
        events.push(RoutingEvent::Assigned { conversation, agent, queue, by: AssignedBy::Pick });
        self.busy_if_full(a, &mut events);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// Whether [`Engine::pick`] would succeed, changing nothing (so a caller can commit the assignment elsewhere
    /// first); the capacity the conversation would take.
    pub fn can_pick(&self, agent: UserId, conversation: ConversationId) -> Result<CapacityDemand> {
        let a = self.agent_idx(agent)?;
        let item = self.items.get(&conversation).ok_or_else(|| Error::not_found(Code::ConversationNotFound))?;
        if item.status != Status::Open {
            return Err(Error::new(Code::InvalidStateTransition, "only an open conversation can be picked"));
        }
        let ws = self.workstream(item.work.workstream)?;
        if self.queues[item.queue].member(a).is_none() {
            return Err(Error::new(Code::AgentUnavailable, "the agent is not a member of the conversation's queue"));
        }
        let regardless = match ws.distribution {
            Distribution::Pick => false,
            Distribution::Push if ws.pick_regardless => true,
            Distribution::Push => {
                return Err(Error::new(Code::AgentUnavailable, "this workstream offers its conversations to agents"));
            }
        };
        let agent_state = &self.agents[a];
        let allowed = ws.allowed_presences.contains(agent_state.base) && agent_state.fits(ws.capacity);
        if !regardless && !allowed {
            return Err(Error::new(Code::AgentUnavailable, "the agent's presence or capacity does not allow this"));
        }
        Ok(ws.capacity)
    }

    /// The agent gives an Active conversation back to its queue. It keeps its original arrival time, so the
    /// customer does not lose their place, and the agent counts as having declined it.
    pub fn release(&mut self, conversation: ConversationId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let a = match self.status(conversation)? {
            Status::Active(a) => a,
            _ => return Err(Error::new(Code::InvalidStateTransition, "only an active conversation can be released")),
        };
        let mut events = Vec::new();
        self.decline_and_requeue(conversation, a, now, &mut events);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// Moves an Open, Offered or Active conversation to another queue or to one agent, giving back the capacity it
    /// held. A transfer to an agent needs an agent who is not Offline and has room for it.
    pub fn transfer(
        &mut self,
        conversation: ConversationId,
        target: TransferTarget,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>> {
        self.can_transfer(conversation, target)?;
        let mut events = Vec::new();
        match target {
            TransferTarget::Queue(queue) => {
                let q = self.queue_idx(queue)?;
                self.detach(conversation, now, &mut events);
                if let Some(item) = self.items.get_mut(&conversation) {
                    item.queue = q;
                    item.work.queue = queue;
                    item.declines.clear();
                    item.affinity = None;
                }
                self.requeue_in_place(conversation);
                self.insert_waiting(conversation, &mut events);
            }
            TransferTarget::Agent(user) => {
                let a = self.agent_idx(user)?;
                self.detach(conversation, now, &mut events);
                self.issue_offer(conversation, a, OfferKind::Transfer, now, &mut events);
            }
        }
        self.finish(now, &mut events);
        Ok(events)
    }

    /// Whether [`Engine::transfer`] would succeed, changing nothing.
    pub fn can_transfer(&self, conversation: ConversationId, target: TransferTarget) -> Result<()> {
        let status = self.status(conversation)?;
        if matches!(status, Status::WrapUp(_) | Status::Waiting(_)) {
            return Err(Error::new(Code::InvalidStateTransition, "only an open or active conversation can move"));
        }
        match target {
            TransferTarget::Queue(queue) => {
                self.queue_idx(queue)?;
            }
            TransferTarget::Agent(user) => {
                let a = self.agent_idx(user)?;
                let demand = self.workstream_of(conversation).map(|ws| ws.capacity);
                let agent_state = &self.agents[a];
                let holds_it = self.items.get(&conversation).and_then(|i| i.hold).is_some_and(|h| h.agent == a);
                if holds_it {
                    return Err(Error::new(Code::InvalidStateTransition, "the agent already has this conversation"));
                }
                if agent_state.base == BasePresence::Offline || !demand.is_some_and(|d| agent_state.fits(d)) {
                    return Err(Error::new(Code::AgentUnavailable, "the agent is offline or has no room for it"));
                }
            }
        }
        Ok(())
    }

    /// The agent closes the session without ending it (Active → Waiting, asynchronous channels only): capacity is
    /// released and the agent is remembered for affinity.
    pub fn park(&mut self, conversation: ConversationId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let item = self.items.get(&conversation).ok_or_else(|| Error::not_found(Code::ConversationNotFound))?;
        let Status::Active(a) = item.status else {
            return Err(Error::new(Code::InvalidStateTransition, "only an active conversation can wait"));
        };
        if !item.work.channel.is_async() {
            return Err(Error::new(
                Code::InvalidStateTransition,
                format!("a {} conversation cannot wait; end it instead", item.work.channel),
            ));
        }
        let mut events = Vec::new();
        self.release_hold(conversation, now, &mut events);
        if let Some(item) = self.items.get_mut(&conversation) {
            item.status = Status::Waiting(a);
            item.work.affinity_agent = Some(self.agents[a].id);
        }
        self.finish(now, &mut events);
        Ok(events)
    }

    /// The customer replied to a Waiting conversation (Waiting → Open): it is routed anew, to the agent who parked
    /// it first when the workstream keeps the same agent.
    pub fn revive(&mut self, conversation: ConversationId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let Status::Waiting(a) = self.status(conversation)? else {
            return Err(Error::new(Code::InvalidStateTransition, "only a waiting conversation can be revived"));
        };
        let affinity = self.workstream_of(conversation).is_some_and(|ws| ws.affinity);
        let seq = self.next_seq();
        if let Some(item) = self.items.get_mut(&conversation) {
            item.work.enqueued_at = now;
            item.affinity = affinity.then_some(a);
            item.declines.clear();
            item.key.seq = seq;
        }
        let mut events = Vec::new();
        self.requeue_in_place(conversation);
        self.insert_waiting(conversation, &mut events);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// The agent who parked a Waiting conversation takes it back from their own list (Waiting → Active). It
    /// consumes capacity again, so it needs room, but not an allowed presence: the agent chose to.
    pub fn resume(&mut self, conversation: ConversationId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let Status::Waiting(a) = self.status(conversation)? else {
            return Err(Error::new(Code::InvalidStateTransition, "only a waiting conversation can be resumed"));
        };
        let mut events = Vec::new();
        self.roll_periods(now, &mut events);
        let demand = self.workstream_of(conversation).map(|ws| ws.capacity);
        let Some(demand) = demand.filter(|d| self.agents[a].fits_again(*d, Some(conversation))) else {
            return Err(Error::new(Code::AgentUnavailable, "the agent has no room for the conversation"));
        };
        let seq = self.next_seq();
        let agent = &mut self.agents[a];
        agent.reserve(demand);
        agent.note_assigned(demand, conversation);
        agent.last_assigned = seq;
        let user = agent.id;
        if let Some(item) = self.items.get_mut(&conversation) {
            item.status = Status::Active(a);
            item.hold = Some(Hold { agent: a, demand, assigned: true });
        }
        events.push(RoutingEvent::Assigned {
            conversation,
            agent: user,
            queue: self.queue_id_of(conversation),
            by: AssignedBy::Resume,
        });
        self.busy_if_full(a, &mut events);
        self.finish(now, &mut events);
        Ok(events)
    }

    /// The conversation ends (Active → Wrap-up); its capacity is released now, at close, or after the
    /// workstream's wrap-up minutes.
    pub fn end(&mut self, conversation: ConversationId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        let Status::Active(a) = self.status(conversation)? else {
            return Err(Error::new(Code::InvalidStateTransition, "only an active conversation can end"));
        };
        let blocking = self.workstream_of(conversation).map_or(WrapUpBlocking::Never, |ws| ws.wrap_up);
        if let Some(item) = self.items.get_mut(&conversation) {
            item.status = Status::WrapUp(a);
        }
        let mut events = Vec::new();
        match blocking {
            WrapUpBlocking::Never => self.release_hold(conversation, now, &mut events),
            WrapUpBlocking::Always => {}
            WrapUpBlocking::Minutes(m) => {
                self.wrap_up_deadlines.insert((now.plus_millis(i64::from(m) * 60_000), conversation));
            }
        }
        self.finish(now, &mut events);
        Ok(events)
    }

    /// The conversation is closed from any state and leaves routing, giving back whatever it held.
    pub fn close(&mut self, conversation: ConversationId, now: Timestamp) -> Result<Vec<RoutingEvent>> {
        self.status(conversation)?;
        let mut events = Vec::new();
        self.detach(conversation, now, &mut events);
        if self.items.remove(&conversation).is_some_and(|item| !item.work.skills.is_empty()) {
            self.skilled_items -= 1;
        }
        self.finish(now, &mut events);
        Ok(events)
    }

    /// Replaces a conversation's attributes; an Open one is re-sorted, since custom buckets read them.
    pub fn update_attributes(
        &mut self,
        conversation: ConversationId,
        attributes: BTreeMap<String, AttributeValue>,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>> {
        let status = self.status(conversation)?;
        if let Some(item) = self.items.get_mut(&conversation) {
            item.work.attributes = attributes;
        }
        let mut events = Vec::new();
        if status == Status::Open {
            self.requeue_in_place(conversation);
        }
        self.finish(now, &mut events);
        Ok(events)
    }

    /// Runs every deadline due at `now`: offers expire (a missed offer counts as a decline and may set the agent
    /// Inactive), timed wrap-up blocks release capacity, and reoffer cooldowns end.
    pub fn tick(&mut self, now: Timestamp) -> Vec<RoutingEvent> {
        let mut events = Vec::new();
        self.roll_periods(now, &mut events);
        while let Some(&(at, offer)) = self.offer_deadlines.first() {
            if at > now {
                break;
            }
            self.offer_deadlines.pop_first();
            let Some(o) = self.finish_offer(offer, now) else { continue };
            let user = self.agents[o.agent].id;
            events.push(RoutingEvent::OfferExpired { offer, conversation: o.conversation, agent: user });
            let inactive = self.workstream_of(o.conversation).is_some_and(|ws| ws.missed_offer_sets_inactive);
            self.decline_and_requeue(o.conversation, o.agent, now, &mut events);
            if inactive && self.agents[o.agent].presence != Presence::Inactive {
                self.agents[o.agent].auto_busy = false;
                self.change_presence(
                    o.agent,
                    Presence::Inactive,
                    BasePresence::Away,
                    PresenceReason::MissedOffer,
                    &mut events,
                );
            }
        }
        while let Some(&(at, conversation)) = self.wrap_up_deadlines.first() {
            if at > now {
                break;
            }
            self.wrap_up_deadlines.pop_first();
            if matches!(self.items.get(&conversation), Some(i) if matches!(i.status, Status::WrapUp(_))) {
                self.release_hold(conversation, now, &mut events);
            }
        }
        while let Some(&(at, q)) = self.rerun_deadlines.first() {
            if at > now {
                break;
            }
            self.rerun_deadlines.pop_first();
            self.mark_queue(q);
        }
        while let Some(&(at, conversation)) = self.cooldown_deadlines.first() {
            if at > now {
                break;
            }
            self.cooldown_deadlines.pop_first();
            if let Some(item) = self.items.get(&conversation)
                && item.status == Status::Open
            {
                let q = item.queue;
                self.mark_queue(q);
            }
        }
        let forget_before = now.plus_millis(-self.settings.offer_memory_ms);
        self.finished_offers.retain(|_, (_, at)| *at >= forget_before);
        self.finish(now, &mut events);
        events
    }

    /// When `tick` next has something to do.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        [
            self.offer_deadlines.first().map(|d| d.0),
            self.wrap_up_deadlines.first().map(|d| d.0),
            self.cooldown_deadlines.first().map(|d| d.0),
            self.rerun_deadlines.first().map(|d| d.0),
            self.reset_deadlines.first().map(|d| d.0),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// An Open conversation's queue and 1-based position in it. Push and pick conversations are counted apart,
    /// since only push conversations are taken in order.
    pub fn position(&self, conversation: ConversationId) -> Option<(QueueId, usize)> {
        let item = self.items.get(&conversation)?;
        if item.status != Status::Open {
            return None;
        }
        let queue = &self.queues[item.queue];
        let waiting = if item.pick { &queue.pick } else { &queue.push };
        Some((queue.id, waiting.range(..item.key).count() + 1))
    }

    /// How many of the queue's members could be offered a conversation of the workstream right now (allowed
    /// presence and room for it; skills aside), and how many conversations wait ahead of a new one: what the
    /// Messaging API's agent-availability check answers before a conversation is created.
    pub fn availability(&self, queue: QueueId, workstream: WorkstreamId) -> Result<Availability> {
        let q = &self.queues[self.queue_idx(queue)?];
        let ws = self.workstream(workstream)?;
        let agents = q
            .members
            .iter()
            .map(|m| &self.agents[m.agent])
            .filter(|a| a.base != BasePresence::Offline && ws.allowed_presences.contains(a.base) && a.fits(ws.capacity))
            .count();
        let waiting = if ws.distribution == Distribution::Pick { q.pick.len() } else { q.push.len() };
        Ok(Availability { agents, waiting })
    }

    /// How many conversations of the workstream the queue's members could be offered now (allowed presence,
    /// summing each member's room: an agent with three free units has room for three one-unit conversations).
    pub fn room(&self, queue: QueueId, workstream: WorkstreamId) -> Result<usize> {
        self.room_with(queue, workstream, &SkillSet::default())
    }

    /// [`Engine::room`] counting only the members who hold `skills`: the room there is for a conversation that
    /// needs them.
    pub fn room_with(&self, queue: QueueId, workstream: WorkstreamId, skills: &SkillSet) -> Result<usize> {
        let q = &self.queues[self.queue_idx(queue)?];
        let ws = self.workstream(workstream)?;
        Ok(q.members
            .iter()
            .map(|m| &self.agents[m.agent])
            .filter(|a| a.base != BasePresence::Offline && ws.allowed_presences.contains(a.base))
            .filter(|a| holds(a, skills))
            .map(|a| a.room_for(ws.capacity) as usize)
            .sum())
    }

    /// How many one-unit conversations the queue's members at work for it (as in [`Engine::staffed`]) hold at
    /// most together: the servers of the queue, for a wait estimate.
    pub fn staffed_slots(&self, queue: QueueId) -> Result<usize> {
        self.staffed_slots_with(queue, &SkillSet::default())
    }

    /// [`Engine::staffed_slots`] counting only the members who hold `skills`: the servers of a conversation that
    /// needs them.
    pub fn staffed_slots_with(&self, queue: QueueId, skills: &SkillSet) -> Result<usize> {
        let q = &self.queues[self.queue_idx(queue)?];
        Ok(q.members
            .iter()
            .map(|m| &self.agents[m.agent])
            .filter(|a| working(a) && holds(a, skills))
            .map(|a| a.slots() as usize)
            .sum())
    }

    /// The skill set of a conversation routing holds, under its workstream's skill matching.
    pub fn skill_set(&self, conversation: ConversationId) -> Option<SkillSet> {
        self.items.get(&conversation).map(|item| self.skill_set_of(item))
    }

    /// The skill set a new conversation of `workstream` needing `required` would have.
    pub fn skill_set_for(&self, workstream: WorkstreamId, required: &[SkillRequirement]) -> SkillSet {
        let matching = self.workstreams.get(&workstream).map_or(SkillMatching::None, |ws| ws.skill_matching);
        SkillSet::new(required, matching)
    }

    fn skill_set_of(&self, item: &Item) -> SkillSet {
        self.skill_set_for(item.work.workstream, &item.work.skills)
    }

    /// Whether the item's skill set is `skills`, without building it in the common case of no skills.
    fn needs(&self, item: &Item, skills: &SkillSet) -> bool {
        if item.work.skills.is_empty() { skills.is_empty() } else { self.skill_set_of(item) == *skills }
    }

    /// How many Open conversations wait in the queue ahead of `conversation` (all of them for a newcomer of
    /// `workstream`, or a conversation not Open in this queue) needing skills other than `skills`. Push and pick
    /// conversations are counted apart, as in [`Engine::position`]. Those conversations do not compete for the
    /// agents a customer needing `skills` waits for, so a wait estimate leaves them out of the customer's place.
    pub fn waiting_with_other_skills(
        &self,
        queue: QueueId,
        workstream: WorkstreamId,
        skills: &SkillSet,
        conversation: Option<ConversationId>,
    ) -> Result<usize> {
        let q_idx = self.queue_idx(queue)?;
        if self.skilled_items == 0 && skills.is_empty() {
            return Ok(0);
        }
        let q = &self.queues[q_idx];
        let own =
            conversation.and_then(|c| self.items.get(&c)).filter(|i| i.status == Status::Open && i.queue == q_idx);
        let pick = match own {
            Some(item) => item.pick,
            None => self.workstream(workstream)?.distribution == Distribution::Pick,
        };
        let waiting = if pick { &q.pick } else { &q.push };
        let other = |c: &ConversationId| self.items.get(c).is_some_and(|item| !self.needs(item, skills));
        Ok(match own {
            Some(item) => waiting.range(..item.key).filter(|(_, c)| other(c)).count(),
            None => waiting.values().filter(|c| other(c)).count(),
        })
    }

    /// The queue's members who could be offered this conversation now (allowed presence and room for it) but
    /// declined it recently: when each one's cooldown ends, and their room. [`Engine::room`] counts them, yet they
    /// are not offered it before then. Sorted by end; empty for a conversation routing does not hold.
    pub fn cooldowns(&self, conversation: ConversationId, now: Timestamp) -> Vec<(Timestamp, usize)> {
        let Some(item) = self.items.get(&conversation) else { return Vec::new() };
        let Some(ws) = self.workstreams.get(&item.work.workstream) else { return Vec::new() };
        let queue = &self.queues[item.queue];
        let skills = self.skill_set_of(item);
        let mut ends: Vec<(Timestamp, usize)> = item
            .declines
            .iter()
            .filter(|d| now < d.until && queue.member(d.agent).is_some())
            .filter_map(|d| {
                let a = &self.agents[d.agent];
                let eligible =
                    a.base != BasePresence::Offline && ws.allowed_presences.contains(a.base) && holds(a, &skills);
                let room = if eligible { a.room_for(ws.capacity) as usize } else { 0 };
                (room > 0).then_some((d.until, room))
            })
            .collect();
        ends.sort();
        ends
    }

    /// How many of the queue's members are at work for it (signed in as Available, Busy or Busy-DND, with some
    /// capacity), whether or not they have room now: the staffing a wait estimate divides the queue's work by.
    pub fn staffed(&self, queue: QueueId) -> Result<usize> {
        let q = &self.queues[self.queue_idx(queue)?];
        Ok(q.members.iter().filter(|m| working(&self.agents[m.agent])).count())
    }

    /// Every Open conversation of the queue with its 1-based position (push and pick counted apart, as in
    /// `position`), in one pass.
    pub fn positions(&self, queue: QueueId) -> Result<Vec<(ConversationId, usize)>> {
        let q = &self.queues[self.queue_idx(queue)?];
        let number = |(i, c): (usize, &ConversationId)| (*c, i + 1);
        Ok(q.push.values().enumerate().map(number).chain(q.pick.values().enumerate().map(number)).collect())
    }

    /// The queue's Open conversations in routing order: push conversations, then pick conversations.
    pub fn waiting(&self, queue: QueueId) -> Result<Vec<ConversationId>> {
        let q = &self.queues[self.queue_idx(queue)?];
        Ok(q.push.values().chain(q.pick.values()).copied().collect())
    }

    /// Where the conversation is in routing; `None` once closed or if never enqueued.
    pub fn conversation(&self, conversation: ConversationId) -> Option<ConversationView> {
        let item = self.items.get(&conversation)?;
        let (state, agent, offer) = match item.status {
            Status::Open => (RoutingState::Open, None, None),
            Status::Offered(o) => (RoutingState::Offered, self.offers.get(&o).map(|o| o.agent), Some(o)),
            Status::Active(a) => (RoutingState::Active, Some(a), None),
            Status::WrapUp(a) => (RoutingState::WrapUp, Some(a), None),
            Status::Waiting(a) => (RoutingState::Waiting, Some(a), None),
        };
        Some(ConversationView {
            queue: self.queues[item.queue].id,
            workstream: item.work.workstream,
            state,
            agent: agent.map(|a| self.agents[a].id),
            offer,
            holds_capacity: item.hold.is_some(),
        })
    }

    /// The agent's presence, capacity and queues.
    pub fn agent(&self, agent: UserId) -> Option<AgentView> {
        let a = &self.agents[*self.agent_index.get(&agent)?];
        Some(AgentView {
            presence: a.presence,
            base: a.base,
            total_units: a.total_units,
            used_units: a.used_units,
            profiles: a
                .profiles
                .iter()
                .map(|p| ProfileUse {
                    profile: p.limit.profile,
                    used: p.used(),
                    max_items: p.limit.max_items,
                    resets_at: p.resets_at(),
                })
                .collect(),
            queues: a.queues.iter().map(|&q| self.queues[q].id).collect(),
        })
    }

    /// Every agent routing knows, in id order.
    pub fn agent_ids(&self) -> impl Iterator<Item = UserId> + '_ {
        self.agent_index.keys().copied()
    }

    /// A pending offer; `None` once answered, expired or withdrawn.
    pub fn offer(&self, offer: OfferId) -> Option<OfferView> {
        let o = self.offers.get(&offer)?;
        Some(OfferView {
            conversation: o.conversation,
            agent: self.agents[o.agent].id,
            expires_at: o.expires_at,
            kind: o.kind,
        })
    }

    /// The pending offers, oldest first.
    pub fn offers(&self) -> impl Iterator<Item = (OfferId, OfferView)> + '_ {
        self.offers.keys().filter_map(|&id| Some((id, self.offer(id)?)))
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn agent_idx(&self, agent: UserId) -> Result<usize> {
        self.agent_index.get(&agent).copied().ok_or_else(|| Error::not_found(Code::AgentNotFound))
    }

    fn queue_idx(&self, queue: QueueId) -> Result<usize> {
        self.queue_index.get(&queue).copied().ok_or_else(|| Error::not_found(Code::QueueNotFound))
    }

    fn workstream(&self, id: WorkstreamId) -> Result<&WorkstreamRouting> {
        self.workstreams.get(&id).ok_or_else(|| Error::not_found(Code::WorkstreamNotFound))
    }

    fn workstream_of(&self, conversation: ConversationId) -> Option<&WorkstreamRouting> {
        self.workstreams.get(&self.items.get(&conversation)?.work.workstream)
    }

    fn status(&self, conversation: ConversationId) -> Result<Status> {
        self.items.get(&conversation).map(|i| i.status).ok_or_else(|| Error::not_found(Code::ConversationNotFound))
    }

    fn queue_id_of(&self, conversation: ConversationId) -> QueueId {
        self.items.get(&conversation).map_or_else(QueueId::default, |i| i.work.queue)
    }

    /// The base of a presence an agent may choose: a known one, and not the system's Inactive.
    fn chosen_presence_base(&self, presence: Presence) -> Result<BasePresence> {
        if presence == Presence::Inactive {
            return Err(Error::field(Code::InvalidPresence, "presence", "only routing sets an agent Inactive"));
        }
        self.presences
            .base_of(presence)
            .ok_or_else(|| Error::field(Code::InvalidPresence, "presence", "no such custom presence"))
    }

    /// An offer the agent may still answer.
    fn live_offer(&self, offer: OfferId, a: usize, now: Timestamp) -> Result<Offer> {
        match self.offers.get(&offer) {
            Some(o) if o.agent != a => Err(Error::not_found(Code::OfferNotFound)),
            Some(o) if now >= o.expires_at => Err(Error::not_found(Code::OfferExpired)),
            Some(o) => Ok(*o),
            None => match self.finished_offers.get(&offer) {
                Some(&(agent, _)) if agent == a => Err(Error::not_found(Code::OfferExpired)),
                _ => Err(Error::not_found(Code::OfferNotFound)),
            },
        }
    }

    fn mark_queue(&mut self, q: usize) {
        self.dirty.insert((-i64::from(self.queues[q].settings.priority), q));
    }

    fn mark_agent_queues(&mut self, a: usize) {
        for i in 0..self.agents[a].queues.len() {
            let q = self.agents[a].queues[i];
            self.mark_queue(q);
        }
    }

    fn change_presence(
        &mut self,
        a: usize,
        presence: Presence,
        base: BasePresence,
        reason: PresenceReason,
        events: &mut Vec<RoutingEvent>,
    ) {
        let agent = &mut self.agents[a];
        agent.presence = presence;
        agent.base = base;
        events.push(RoutingEvent::PresenceChanged { agent: agent.id, presence, reason });
    }

    /// Busy when capacity is full (§6.5), only from Available: any other presence is a choice routing keeps.
    fn busy_if_full(&mut self, a: usize, events: &mut Vec<RoutingEvent>) {
        let agent = &self.agents[a];
        if agent.presence == Presence::Available && agent.is_full() {
            self.agents[a].auto_busy = true;
            self.change_presence(a, Presence::Busy, BasePresence::Busy, PresenceReason::CapacityFull, events);
        }
    }

    /// Back to Available once there is room again, if routing made the agent Busy and they did not change it.
    fn available_if_freed(&mut self, a: usize, events: &mut Vec<RoutingEvent>) {
        let agent = &self.agents[a];
        if agent.auto_busy && agent.presence == Presence::Busy && !agent.is_full() {
            self.agents[a].auto_busy = false;
            self.change_presence(
                a,
                Presence::Available,
                BasePresence::Available,
                PresenceReason::CapacityFreed,
                events,
            );
        }
    }

    /// Runs the agent's queues after a change to what rules read about them (skills, attributes, hours).
    fn rerun_agent_queues(&mut self, a: usize, now: Timestamp) -> Vec<RoutingEvent> {
        self.mark_agent_queues(a);
        let mut events = Vec::new();
        self.finish(now, &mut events);
        events
    }

    fn after_capacity_change(&mut self, a: usize, now: Timestamp) -> Vec<RoutingEvent> {
        let mut events = Vec::new();
        self.available_if_freed(a, &mut events);
        self.busy_if_full(a, &mut events);
        self.mark_agent_queues(a);
        self.finish(now, &mut events);
        events
    }

    /// Gives back the capacity the conversation holds, if any.
    fn release_hold(&mut self, conversation: ConversationId, now: Timestamp, events: &mut Vec<RoutingEvent>) {
        let Some(hold) = self.items.get_mut(&conversation).and_then(|i| i.hold.take()) else { return };
        let agent = &mut self.agents[hold.agent];
        agent.unreserve(hold.demand);
        if !hold.assigned {
            agent.note_offer_ended(hold.demand, conversation);
        }
        if hold.assigned {
            agent.last_released = now.millis();
            events.push(RoutingEvent::CapacityReleased { conversation, agent: agent.id });
        }
        self.available_if_freed(hold.agent, events);
        self.mark_agent_queues(hold.agent);
    }

    fn schedule_reset(&mut self, a: usize) {
        if let Some(at) = self.agents[a].next_reset() {
            self.reset_deadlines.insert((at, a));
        }
    }

    /// Starts the new period of every periodic profile whose period is over at `now`: its use goes back to the
    /// offers still pending, an agent routing made Busy when full is Available again, and the agent's queues run.
    fn roll_periods(&mut self, now: Timestamp, events: &mut Vec<RoutingEvent>) {
        while let Some(&(at, a)) = self.reset_deadlines.first() {
            if at > now {
                break;
            }
            self.reset_deadlines.pop_first();
            if self.agents[a].roll_periods(now) {
                self.available_if_freed(a, events);
                self.mark_agent_queues(a);
            }
            self.schedule_reset(a);
        }
    }

    /// Ends a pending offer and remembers it for late answers.
    fn finish_offer(&mut self, offer: OfferId, now: Timestamp) -> Option<Offer> {
        let o = self.offers.remove(&offer)?;
        self.offer_deadlines.remove(&(o.expires_at, offer));
        self.finished_offers.insert(offer, (o.agent, now));
        Some(o)
    }

    /// Takes the conversation away from wherever it is (its queue, an offer, an agent) without putting it anywhere.
    fn detach(&mut self, conversation: ConversationId, now: Timestamp, events: &mut Vec<RoutingEvent>) {
        let Some(item) = self.items.get(&conversation) else { return };
        match item.status {
            Status::Open => {
                let queue = self.queues[item.queue].id;
                self.remove_waiting(conversation);
                events.push(RoutingEvent::Dequeued { conversation, queue });
            }
            Status::Offered(offer) => {
                if let Some(o) = self.finish_offer(offer, now) {
                    let agent = self.agents[o.agent].id;
                    events.push(RoutingEvent::OfferWithdrawn { offer, conversation, agent });
                }
            }
            Status::Active(_) | Status::WrapUp(_) | Status::Waiting(_) => {}
        }
        self.release_hold(conversation, now, events);
    }

    /// Puts a declined conversation back in its queue, keeping its place, and keeps it from the agent for the
    /// cooldown.
    fn decline_and_requeue(
        &mut self,
        conversation: ConversationId,
        a: usize,
        now: Timestamp,
        events: &mut Vec<RoutingEvent>,
    ) {
        self.release_hold(conversation, now, events);
        let cooldown = self.workstream_of(conversation).map_or(0, |ws| ws.reoffer_cooldown_ms);
        let until = now.plus_millis(cooldown);
        let Some(item) = self.items.get_mut(&conversation) else { return };
        match item.declines.iter_mut().find(|d| d.agent == a) {
            Some(d) => d.until = until,
            None => item.declines.push(Decline { agent: a, until }),
        }
        // An agent who turns down a returning conversation loses the affinity: it is routed like any other.
        item.affinity = None;
        self.cooldown_deadlines.insert((until, conversation));
        self.requeue_in_place(conversation);
        self.insert_waiting(conversation, events);
    }

    /// Recomputes the conversation's queue key from its queue, affinity and attributes, moving it if it waits.
    fn requeue_in_place(&mut self, conversation: ConversationId) {
        let Some(item) = self.items.get(&conversation) else { return };
        let waiting = item.status == Status::Open;
        if waiting {
            self.remove_waiting(conversation);
        }
        let Some(item) = self.items.get_mut(&conversation) else { return };
        item.key = self.queues[item.queue].key_for(&item.work, item.affinity.is_some(), item.key.seq);
        if waiting {
            let queue = &mut self.queues[item.queue];
            let waiting = if item.pick { &mut queue.pick } else { &mut queue.push };
            waiting.insert(item.key, conversation);
        }
    }

    /// Makes the conversation Open in its queue at its key.
    fn insert_waiting(&mut self, conversation: ConversationId, events: &mut Vec<RoutingEvent>) {
        let Some(item) = self.items.get_mut(&conversation) else { return };
        item.status = Status::Open;
        let q = item.queue;
        let queue = &mut self.queues[q];
        let waiting = if item.pick { &mut queue.pick } else { &mut queue.push };
        waiting.insert(item.key, conversation);
        events.push(RoutingEvent::Queued { conversation, queue: queue.id });
        self.moved.insert(q);
        if !item.pick {
            self.mark_queue(q);
        }
    }

    fn remove_waiting(&mut self, conversation: ConversationId) {
        let Some(item) = self.items.get_mut(&conversation) else { return };
        let queue = &mut self.queues[item.queue];
        let waiting = if item.pick { &mut queue.pick } else { &mut queue.push };
        waiting.remove(&item.key);
        item.reported_position = 0;
        self.moved.insert(item.queue);
    }
}
