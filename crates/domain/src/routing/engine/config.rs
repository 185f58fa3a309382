//! What administrators configure for routing (reference §6.1, §6.3-6.5): presences, workstream routing settings,
//! queues with their assignment methods, agents, and the work items that flow through them.

use std::{collections::BTreeMap, fmt, sync::Arc};

use uuid::Uuid;

use crate::{
    Timestamp,
    error::{Code, Error, Result},
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
    routing::{calendar::Calendar, capacity_reset::ProfileReset},
    setup::{ChannelType, Distribution},
};

macro_rules! routing_id {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    )+};
}

routing_id! {
    /// A capacity profile (§6.4): a kind of work with its own limit of concurrent items per agent.
    CapacityProfileId,
    /// A skill that agents hold with a proficiency and conversations may require.
    SkillId,
    /// An administrator-defined presence mapped to a base presence, such as "Training" → Away.
    CustomPresenceId,
}

/// The five base presences. Only these appear in a workstream's allowed presences (§6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BasePresence {
    Available,
    Busy,
    BusyDnd,
    Away,
    Offline,
}

impl BasePresence {
    pub const ALL: [BasePresence; 5] =
        [BasePresence::Available, BasePresence::Busy, BasePresence::BusyDnd, BasePresence::Away, BasePresence::Offline];

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// An agent's presence: a base presence, the system's Inactive, or a custom presence from the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Presence {
    Available,
    Busy,
    BusyDnd,
    Away,
    Offline,
    /// Set by the system when an agent misses an offer; agents cannot choose it. It counts as Away, which is why
    /// the reference warns against allowing Away on workstreams that set it.
    Inactive,
    Custom(CustomPresenceId),
}

impl From<BasePresence> for Presence {
    fn from(base: BasePresence) -> Self {
        match base {
            BasePresence::Available => Presence::Available,
            BasePresence::Busy => Presence::Busy,
            BasePresence::BusyDnd => Presence::BusyDnd,
            BasePresence::Away => Presence::Away,
            BasePresence::Offline => Presence::Offline,
        }
    }
}

/// A custom presence: its own text, routed as its base presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomPresence {
    pub name: String,
    pub base: BasePresence,
}

/// The custom presences an organization defined; the out-of-the-box ones need no entry.
#[derive(Debug, Clone, Default)]
pub struct PresenceCatalogue {
    custom: BTreeMap<CustomPresenceId, CustomPresence>,
}

impl PresenceCatalogue {
    /// Adds or renames a custom presence.
    pub fn define(&mut self, id: CustomPresenceId, presence: CustomPresence) {
        self.custom.insert(id, presence);
    }

    /// A custom presence's text and base.
    pub fn get(&self, id: CustomPresenceId) -> Option<&CustomPresence> {
        self.custom.get(&id)
    }

    /// The base presence routing sees, or `None` for a custom presence that is not in the catalogue.
    pub fn base_of(&self, presence: Presence) -> Option<BasePresence> {
        Some(match presence {
            Presence::Available => BasePresence::Available,
            Presence::Busy => BasePresence::Busy,
            Presence::BusyDnd => BasePresence::BusyDnd,
            Presence::Away | Presence::Inactive => BasePresence::Away,
            Presence::Offline => BasePresence::Offline,
            Presence::Custom(id) => self.custom.get(&id)?.base,
        })
    }
}

/// A set of base presences, as a bit set because it is checked for every agent on every assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PresenceSet(u8);

impl PresenceSet {
    pub const EMPTY: PresenceSet = PresenceSet(0);

    /// The set of the given presences; `const`, so allowed-presence sets can be constants.
    pub const fn of(presences: &[BasePresence]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < presences.len() {
            bits |= presences[i].bit();
            i += 1;
        }
        PresenceSet(bits)
    }

    pub fn contains(self, presence: BasePresence) -> bool {
        self.0 & presence.bit() != 0
    }

    /// This set plus one presence.
    pub fn with(self, presence: BasePresence) -> Self {
        PresenceSet(self.0 | presence.bit())
    }
}

/// How a workstream's required skills are matched against agents' skills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SkillMatching {
    /// Skills are not used.
    #[default]
    None,
    /// The agent holds every required skill at or above its minimum proficiency.
    Exact,
    /// The agent holds every required skill; proficiency below a minimum is allowed but ranks the agent after
    /// agents who fall short by less (the sum of the shortfalls orders them first).
    Closest,
}

/// Whether a conversation in wrap-up keeps consuming its agent's capacity (§6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WrapUpBlocking {
    /// Capacity stays blocked until the conversation is closed.
    Always,
    /// Capacity is released when the conversation ends.
    #[default]
    Never,
    /// Capacity is released after this many minutes (1 to 60) or at close, whichever comes first.
    Minutes(u8),
}

/// What one conversation of a workstream consumes from an agent: units, a profile slot, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityDemand {
    pub units: u32,
    pub profile: Option<CapacityProfileId>,
}

/// A workstream's routing settings (§6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkstreamRouting {
    pub distribution: Distribution,
    /// On a push workstream, lets agents pick its open conversations regardless of their capacity and presence.
    pub pick_regardless: bool,
    pub capacity: CapacityDemand,
    /// The base presences an agent may be in to be offered this workstream's conversations.
    pub allowed_presences: PresenceSet,
    pub skill_matching: SkillMatching,
    pub wrap_up: WrapUpBlocking,
    /// A conversation revived from Waiting goes back to the agent who parked it, ahead of the queue, if that
    /// agent is eligible when it is routed.
    pub affinity: bool,
    /// How long an agent has to accept an offer, in milliseconds.
    pub offer_timeout_ms: i64,
    /// A missed (timed-out) offer sets the agent Inactive.
    pub missed_offer_sets_inactive: bool,
    /// A rejected offer sets the agent Busy-DND.
    pub rejected_offer_sets_busy_dnd: bool,
    /// How long an agent who rejected, missed or released a conversation is not offered it again, in
    /// milliseconds. After it, the agent is eligible again but ranks after every agent who has not declined it.
    pub reoffer_cooldown_ms: i64,
}

impl Default for WorkstreamRouting {
    fn default() -> Self {
        Self {
            distribution: Distribution::Push,
            pick_regardless: false,
            capacity: CapacityDemand { units: 1, profile: None },
            allowed_presences: PresenceSet::of(&[BasePresence::Available, BasePresence::Busy]),
            skill_matching: SkillMatching::None,
            wrap_up: WrapUpBlocking::Never,
            affinity: false,
            offer_timeout_ms: 60_000,
            missed_offer_sets_inactive: false,
            rejected_offer_sets_busy_dnd: false,
            reoffer_cooldown_ms: 300_000,
        }
    }
}

impl WorkstreamRouting {
    /// Refuses settings routing cannot honour, naming the field.
    pub fn check(&self) -> Result<()> {
        if let WrapUpBlocking::Minutes(m) = self.wrap_up
            && !(1..=60).contains(&m)
        {
            return Err(Error::field(Code::InvalidField, "wrap_up", "wrap-up blocking is 1 to 60 minutes"));
        }
        if self.capacity.units == 0 && self.capacity.profile.is_none() {
            // An item that consumes nothing could be offered without limit, which no contact center wants.
            return Err(Error::field(
                Code::InvalidCapacity,
                "capacity",
                "a workstream consumes capacity units, a capacity profile or both",
            ));
        }
        if self.offer_timeout_ms <= 0 {
            return Err(Error::field(Code::InvalidField, "offer_timeout_ms", "the offer timeout must be positive"));
        }
        if self.reoffer_cooldown_ms < 0 {
            return Err(Error::field(Code::InvalidField, "reoffer_cooldown_ms", "the cooldown cannot be negative"));
        }
        Ok(())
    }
}

/// A value a work item or agent carries for custom prioritization and assignment rules.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// A skill a conversation needs, with the least proficiency (0-10) that counts as having it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkillRequirement {
    pub skill: SkillId,
    pub min_proficiency: Option<u8>,
}

/// What a conversation's required skills come to once its workstream's matching is applied: exactly what decides
/// which agents may take it. Empty when any member may (no skills, or a workstream that does not match skills);
/// without minimum proficiencies under closest matching, where any holder of the skills may take it; sorted, one
/// entry per skill. Conversations with equal sets compete for the same agents, which is what a wait estimate
/// needs to know (see `routing::wait`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkillSet(Vec<SkillRequirement>);

impl SkillSet {
    /// The set `required` comes to under `matching`. A skill required twice keeps its higher minimum, and a
    /// minimum of zero is no minimum, so that requirements meaning the same agents are one set.
    pub fn new(required: &[SkillRequirement], matching: SkillMatching) -> Self {
        if matching == SkillMatching::None || required.is_empty() {
            return Self::default();
        }
        let mut set: Vec<SkillRequirement> = required
            .iter()
            .map(|r| SkillRequirement {
                skill: r.skill,
                min_proficiency: r.min_proficiency.filter(|&m| m > 0 && matching == SkillMatching::Exact),
            })
            .collect();
        // Highest minimum first within a skill, so that deduplicating keeps it.
        set.sort_by(|a, b| a.skill.cmp(&b.skill).then(b.min_proficiency.cmp(&a.min_proficiency)));
        set.dedup_by_key(|r| r.skill);
        Self(set)
    }

    /// No skills needed: any member may take the conversation.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The requirements, sorted by skill; matched exactly (a minimum left is one the workstream enforces).
    pub fn requirements(&self) -> &[SkillRequirement] {
        &self.0
    }
}

/// A conversation waiting to be routed, as classification left it (§6.2).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    pub conversation: ConversationId,
    pub workstream: WorkstreamId,
    pub queue: QueueId,
    /// Higher goes first.
    pub priority: i32,
    pub severity: i32,
    pub skills: Vec<SkillRequirement>,
    pub enqueued_at: Timestamp,
    pub attributes: BTreeMap<String, AttributeValue>,
    /// The agent a revived conversation returns to first.
    pub affinity_agent: Option<UserId>,
    pub channel: ChannelType,
}

impl WorkItem {
    /// A messaging conversation with priority 0, no skills and no attributes.
    pub fn new(conversation: ConversationId, workstream: WorkstreamId, queue: QueueId, enqueued_at: Timestamp) -> Self {
        Self {
            conversation,
            workstream,
            queue,
            priority: 0,
            severity: 0,
            skills: Vec::new(),
            enqueued_at,
            attributes: BTreeMap::new(),
            affinity_agent: None,
            channel: ChannelType::MessagingApi,
        }
    }

    pub(super) fn number(&self, name: &str) -> Option<f64> {
        match self.attributes.get(name)? {
            AttributeValue::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// A capacity profile an agent holds: how many of its conversations at once, and whether one active blocks
/// conversations of every other profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentProfile {
    pub profile: CapacityProfileId,
    pub max_items: u32,
    pub block_others: bool,
    /// When use comes back: on release, or at the start of each period.
    pub reset: ProfileReset,
}

/// A skill an agent holds, proficiency 0 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSkill {
    pub skill: SkillId,
    pub proficiency: u8,
}

/// An agent as routing needs them when they sign in or are configured.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    pub presence: Presence,
    pub units: u32,
    pub profiles: Vec<AgentProfile>,
    pub skills: Vec<AgentSkill>,
    pub attributes: BTreeMap<String, AttributeValue>,
    /// When the agent works, for `AgentCondition::Working`; `None`: always.
    pub calendar: Option<Calendar>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            presence: Presence::Offline,
            units: 0,
            profiles: Vec::new(),
            skills: Vec::new(),
            attributes: BTreeMap::new(),
            calendar: None,
        }
    }
}

pub(super) fn check_skills(skills: &[AgentSkill]) -> Result<()> {
    if skills.iter().any(|s| s.proficiency > 10) {
        return Err(Error::field(Code::InvalidField, "skills", "proficiency is 0 to 10"));
    }
    Ok(())
}

/// A queue's routing settings (§6.3).
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// When one agent serves several queues, higher-priority queues are served first in each cycle.
    pub priority: i32,
    pub method: AssignmentMethod,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { priority: 0, method: AssignmentMethod::HighestCapacity }
    }
}

/// How a queue chooses the agent for each conversation.
#[derive(Debug, Clone, Default)]
pub enum AssignmentMethod {
    /// Agents with allowed presence and matching skills, most free capacity first, ties to the earliest last
    /// assignment.
    #[default]
    HighestCapacity,
    /// Members in the order they joined, rotating by assignment in this queue.
    RoundRobin,
    /// The agent whose capacity was released longest ago; presence is ignored except that Offline agents are
    /// never offered work.
    MostIdle,
    Custom(CustomAssignment),
}

/// A custom assignment method: a prioritization ruleset for conversations and an assignment ruleset for agents.
/// Presence and skills are what the rules say; capacity is always enforced, because it is an invariant.
#[derive(Debug, Clone, Default)]
pub struct CustomAssignment {
    /// Ordered buckets; a conversation goes into the first whose predicate holds, the rest into a final FIFO
    /// bucket. Priority is not used: the buckets are the priority.
    pub prioritization: Vec<PriorityBucket>,
    /// Ordered rules; the first that matches any agent chooses, so later rules relax earlier ones.
    pub rules: Vec<AssignmentRule>,
}

/// A predicate on a work item, so that a rules language can plug in.
pub type ItemPredicate = Arc<dyn Fn(&WorkItem) -> bool + Send + Sync>;

/// One prioritization bucket.
#[derive(Clone)]
pub struct PriorityBucket {
    pub name: String,
    pub matches: ItemPredicate,
    pub order: ItemOrder,
}

impl fmt::Debug for PriorityBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriorityBucket").field("name", &self.name).field("order", &self.order).finish()
    }
}

/// The order of conversations within a prioritization bucket. Conversations lacking the numeric attribute go
/// last, FIFO among themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOrder {
    Fifo,
    Ascending(String),
    Descending(String),
}

/// One assignment rule: every condition must hold for an agent, then `order` chooses among those that match.
#[derive(Debug, Clone)]
pub struct AssignmentRule {
    pub name: String,
    pub conditions: Vec<AgentCondition>,
    pub order: AgentOrder,
    /// The rule is tried only for conversations that have waited at least this long in the queue, in
    /// milliseconds: gradual relaxation, where a looser rule after a strict one waits its turn instead of
    /// taking the conversation at once.
    pub min_wait_ms: i64,
}

/// A condition on an agent in an assignment rule.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentCondition {
    /// The agent's base presence is in the set.
    PresenceIn(PresenceSet),
    /// At least this many capacity units are free.
    FreeUnitsAtLeast(u32),
    /// At least this many items of the profile can still be taken.
    FreeProfileAtLeast(CapacityProfileId, u32),
    /// The agent holds every skill the conversation requires; with `exact`, at or above its minimum proficiency.
    ItemSkills { exact: bool },
    /// The agent holds this skill at least at this proficiency.
    Skill { skill: SkillId, min_proficiency: u8 },
    /// The agent's attribute equals the value (text ignoring case, as the rules language compares it).
    AttributeEquals(String, AttributeValue),
    /// The agent's attribute equals the conversation's value of a field; a missing value on either side never
    /// matches.
    AttributeEqualsItem(String, ItemField),
    /// The agent's attribute is a number within the bounds (each inclusive, absent: unbounded).
    AttributeInRange { name: String, at_least: Option<f64>, at_most: Option<f64> },
    /// The agent's calendar is open (`true`) or closed (`false`) at the engine's time; an agent without a
    /// calendar is always working.
    Working(bool),
}

/// What a dynamic condition reads from the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemField {
    /// One of the work item's attributes, such as `context.Region` or `language`.
    Attribute(String),
    /// The conversation's channel type, such as `messaging_api`.
    Channel,
}

/// How an assignment rule orders the agents that match it; ties go to the earliest last assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOrder {
    MostIdle,
    RoundRobin,
    /// Most free units first.
    AvailableUnits,
    /// Most free slots of the profile first.
    AvailableProfile(CapacityProfileId),
    /// Highest summed proficiency in the conversation's required skills first.
    Proficiency,
    /// Fewest skills first, so that versatile agents stay free for conversations only they can take.
    SkillCount,
    /// By a number attribute of the agent (a boolean counts as 1 for true, 0 for false), smallest first or with
    /// `descending` largest first; agents without it, or with text in it, go last.
    Attribute {
        name: String,
        descending: bool,
    },
}

/// Engine-wide tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Conversations considered per queue per pass (the reference's top block of 100).
    pub block_size: usize,
    /// `PositionChanged` is emitted only for conversations this close to the front; deeper positions are read with
    /// `position`, so that assigning from a long queue does not emit one event per waiting customer.
    pub position_report_depth: usize,
    /// How long a finished offer is remembered so that a late accept is told it expired rather than not found.
    pub offer_memory_ms: i64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { block_size: 100, position_report_depth: 20, offer_memory_ms: 3_600_000 }
    }
}
