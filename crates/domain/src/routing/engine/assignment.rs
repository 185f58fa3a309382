//! The assignment cycle (§6.3): each touched queue's top block of Open push conversations is matched to agents by
//! the queue's assignment method, and every match becomes an offer.

use super::{
    AssignmentMethod, BasePresence, Engine, Hold, Item, Offer, OfferId, OfferKind, RoutingEvent, Status,
    agent::Agent,
    config::{
        AgentCondition, AgentOrder, AttributeValue, CustomAssignment, ItemField, SkillMatching, WorkstreamRouting,
    },
};
use crate::{Timestamp, ids::ConversationId, routing::rules::text_eq};

/// A queue member who might take something in this cycle, with their place in the queue's member list.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    agent: usize,
    member: usize,
}

enum Choice {
    Agent(usize, OfferKind),
    /// The returning conversation's agent cannot take it now, so it is routed like any other.
    DropAffinity,
    Nobody,
}

/// How good an agent is for one conversation; the lowest wins. In order: has declined it before, skill shortfall,
/// the method's own measure, its tie-break (the earliest last assignment), and the agent's index so that no two
/// ranks are equal.
type Rank = (u8, u32, i64, u64, usize);

impl Engine {
    /// Runs the assignment cycle on every queue marked since the last call, then reports moved positions.
    pub(super) fn finish(&mut self, now: Timestamp, events: &mut Vec<RoutingEvent>) {
        self.roll_periods(now, events);
        while let Some((_, q)) = self.dirty.pop_first() {
            self.assign_queue(q, now, events);
        }
        self.report_positions(events);
    }

    fn assign_queue(&mut self, q: usize, now: Timestamp, events: &mut Vec<RoutingEvent>) {
        // Members who cannot take anything are left out once per cycle instead of once per conversation, which is
        // what keeps a cycle cheap when one agent frees up in a queue of many busy agents.
        let mut candidates: Vec<Candidate> = self.queues[q]
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                let agent = &self.agents[m.agent];
                agent.base != BasePresence::Offline && !agent.is_full()
            })
            .map(|(member, m)| Candidate { agent: m.agent, member })
            .collect();
        // Calendars are asked once per cycle, and only where a rule reads them.
        let mut calendar_change = None;
        if reads_calendars(&self.queues[q].settings.method) {
            for c in &candidates {
                if let Some(schedule) = self.agents[c.agent].schedule.as_mut() {
                    schedule.refresh(now);
                    if let Some(at) = schedule.next_change {
                        calendar_change = Some(calendar_change.map_or(at, |earliest: Timestamp| earliest.min(at)));
                    }
                }
            }
        }
        let mut unplaced = false;
        let block_size = self.settings.block_size.max(1);
        let mut block = Vec::with_capacity(block_size);
        loop {
            block.clear();
            block.extend(self.queues[q].push.values().take(block_size).copied());
            let whole_block = block.len() == block_size;
            let mut offered = false;
            let mut reordered = false;
            for &conversation in &block {
                let Some(item) = self.items.get(&conversation) else { continue };
                // Returning conversations sort first and may go to an agent outside the candidates; after them,
                // nobody left means nothing more can be placed.
                if candidates.is_empty() && item.affinity.is_none() {
                    break;
                }
                match self.choose(item, q, &candidates, now) {
                    Choice::Agent(a, kind) => {
                        self.issue_offer(conversation, a, kind, now, events);
                        offered = true;
                        if self.agents[a].is_full() {
                            candidates.retain(|c| c.agent != a);
                        }
                    }
                    Choice::DropAffinity => {
                        if let Some(item) = self.items.get_mut(&conversation) {
                            item.affinity = None;
                        }
                        // It now sorts by priority and arrival, possibly still ahead of the rest of this block, so
                        // the block is taken again in the new order. Each restart drops one affinity, so it ends.
                        self.requeue_in_place(conversation);
                        reordered = true;
                        break;
                    }
                    Choice::Nobody => {
                        unplaced = true;
                        self.note_relaxation(conversation, q, now);
                    }
                }
            }
            if reordered {
                continue;
            }
            // A full block with progress may have let new conversations into the top block; otherwise the block
            // waits for the next trigger, as the reference says.
            if !offered || !whole_block {
                break;
            }
        }
        // A member starting or ending work is no event of its own, so the queue is run again when it happens.
        if let Some(at) = calendar_change.filter(|_| unplaced) {
            self.rerun_deadlines.insert((at, q));
        }
    }

    fn choose(&self, item: &Item, q: usize, candidates: &[Candidate], now: Timestamp) -> Choice {
        let Some(ws) = self.workstreams.get(&item.work.workstream) else { return Choice::Nobody };
        if let Some(a) = item.affinity {
            let agent = &self.agents[a];
            let eligible = agent.base != BasePresence::Offline
                && ws.allowed_presences.contains(agent.base)
                && agent.fits_again(ws.capacity, Some(item.work.conversation))
                && declined_rank(item, a, now).is_some();
            return if eligible { Choice::Agent(a, OfferKind::Affinity) } else { Choice::DropAffinity };
        }
        let best = match &self.queues[q].settings.method {
            AssignmentMethod::Custom(custom) => self.choose_custom(custom, item, ws, candidates, now),
            method => {
                let mut best: Option<Rank> = None;
                for c in candidates {
                    let agent = &self.agents[c.agent];
                    let presence_ok = match method {
                        AssignmentMethod::MostIdle => agent.base != BasePresence::Offline,
                        _ => ws.allowed_presences.contains(agent.base),
                    };
                    if !presence_ok || !agent.fits(ws.capacity) {
                        continue;
                    }
                    let Some(declined) = declined_rank(item, c.agent, now) else { continue };
                    let Some(shortfall) = agent.skill_shortfall(&item.work.skills, ws.skill_matching) else {
                        continue;
                    };
                    let (measure, tie) = match method {
                        AssignmentMethod::RoundRobin => {
                            let member = &self.queues[q].members[c.member];
                            (to_i64(member.rotation), member.join_seq)
                        }
                        AssignmentMethod::MostIdle => (agent.last_released, agent.last_assigned),
                        _ => (-free_capacity(agent, ws), agent.last_assigned),
                    };
                    let rank = (declined, shortfall, measure, tie, c.agent);
                    if best.is_none_or(|b| rank < b) {
                        best = Some(rank);
                    }
                }
                best
            }
        };
        best.map_or(Choice::Nobody, |rank| Choice::Agent(rank.4, OfferKind::Queue))
    }

    /// Remembers when a looser custom rule opens to a conversation nobody could take, so that the queue is tried
    /// again then rather than at the next unrelated trigger.
    fn note_relaxation(&mut self, conversation: ConversationId, q: usize, now: Timestamp) {
        let AssignmentMethod::Custom(custom) = &self.queues[q].settings.method else { return };
        let Some(item) = self.items.get(&conversation) else { return };
        let enqueued = item.work.enqueued_at;
        let next = custom.rules.iter().map(|rule| enqueued.plus_millis(rule.min_wait_ms)).filter(|at| *at > now).min();
        if let Some(at) = next {
            self.rerun_deadlines.insert((at, q));
        }
    }

    /// The first assignment rule open to the conversation (it has waited the rule's `min_wait_ms`) that matches
    /// any agent chooses among the agents it matches.
    fn choose_custom(
        &self,
        custom: &CustomAssignment,
        item: &Item,
        ws: &WorkstreamRouting,
        candidates: &[Candidate],
        now: Timestamp,
    ) -> Option<Rank> {
        let waited = now.millis().saturating_sub(item.work.enqueued_at.millis());
        for rule in custom.rules.iter().filter(|rule| waited >= rule.min_wait_ms) {
            let mut best: Option<Rank> = None;
            for c in candidates {
                let agent = &self.agents[c.agent];
                if agent.base == BasePresence::Offline || !agent.fits(ws.capacity) {
                    continue;
                }
                let Some(declined) = declined_rank(item, c.agent, now) else { continue };
                if !rule.conditions.iter().all(|condition| holds(condition, agent, item)) {
                    continue;
                }
                let measure = match &rule.order {
                    AgentOrder::MostIdle => Some(agent.last_released),
                    AgentOrder::RoundRobin => Some(to_i64(self.queues[item.queue].members[c.member].rotation)),
                    AgentOrder::AvailableUnits => Some(-i64::from(agent.free_units())),
                    AgentOrder::AvailableProfile(profile) => Some(-i64::from(agent.free_profile(*profile))),
                    AgentOrder::Proficiency => Some(-i64::from(agent.proficiency_in(&item.work.skills))),
                    AgentOrder::SkillCount => Some(to_i64(agent.skills.len() as u64)),
                    // `!` reverses the order without the overflow of negating `i64::MIN`.
                    AgentOrder::Attribute { name, descending } => {
                        sort_key(agent.attributes.get(name)).map(|k| if *descending { !k } else { k })
                    }
                };
                // An agent the order cannot measure goes after every agent it can.
                let rank = (declined, u32::from(measure.is_none()), measure.unwrap_or(0), agent.last_assigned, c.agent);
                if best.is_none_or(|b| rank < b) {
                    best = Some(rank);
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// Offers the conversation to the agent, reserving the capacity it needs until the offer is answered.
    pub(super) fn issue_offer(
        &mut self,
        conversation: ConversationId,
        a: usize,
        kind: OfferKind,
        now: Timestamp,
        events: &mut Vec<RoutingEvent>,
    ) {
        let Some(item) = self.items.get(&conversation) else { return };
        let Some(ws) = self.workstreams.get(&item.work.workstream) else { return };
        let demand = ws.capacity;
        let expires_at = now.plus_millis(ws.offer_timeout_ms);
        let q = item.queue;
        self.remove_waiting(conversation);
        let seq = self.next_seq();
        let offer = OfferId(seq);
        let agent = &mut self.agents[a];
        agent.reserve(demand);
        agent.note_offered(demand, conversation);
        agent.last_assigned = seq;
        let user = agent.id;
        if kind == OfferKind::Queue
            && let Some(member) = self.queues[q].members.iter_mut().find(|m| m.agent == a)
        {
            member.rotation = seq;
        }
        if let Some(item) = self.items.get_mut(&conversation) {
            item.status = Status::Offered(offer);
            item.hold = Some(Hold { agent: a, demand, assigned: false });
        }
        self.offers.insert(offer, Offer { conversation, agent: a, expires_at, kind });
        self.offer_deadlines.insert((expires_at, offer));
        events.push(RoutingEvent::OfferIssued {
            offer,
            conversation,
            agent: user,
            queue: self.queues[q].id,
            expires_at,
            kind,
        });
    }

    /// Emits `PositionChanged` for the conversations near the front of each queue whose order changed.
    fn report_positions(&mut self, events: &mut Vec<RoutingEvent>) {
        let depth = self.settings.position_report_depth;
        while let Some(q) = self.moved.pop_first() {
            let queue = &self.queues[q];
            for waiting in [&queue.push, &queue.pick] {
                for (i, conversation) in waiting.values().take(depth).enumerate() {
                    let position = i + 1;
                    if let Some(item) = self.items.get_mut(conversation)
                        && item.reported_position != position
                    {
                        item.reported_position = position;
                        events.push(RoutingEvent::PositionChanged {
                            conversation: *conversation,
                            queue: queue.id,
                            position,
                        });
                    }
                }
            }
        }
    }
}

/// 0 for an agent who never declined the conversation, 1 for one whose cooldown has passed, `None` during it.
fn declined_rank(item: &Item, a: usize, now: Timestamp) -> Option<u8> {
    match item.declines.iter().find(|d| d.agent == a) {
        None => Some(0),
        Some(d) if now < d.until => None,
        Some(_) => Some(1),
    }
}

/// Free capacity in what the workstream consumes: units, or profile slots for a profile-only workstream.
fn free_capacity(agent: &Agent, ws: &WorkstreamRouting) -> i64 {
    if ws.capacity.units > 0 {
        i64::from(agent.free_units())
    } else {
        ws.capacity.profile.map_or(0, |p| i64::from(agent.free_profile(p)))
    }
}

/// Whether a queue's method has a rule that reads agents' calendars.
fn reads_calendars(method: &AssignmentMethod) -> bool {
    let AssignmentMethod::Custom(custom) = method else { return false };
    custom.rules.iter().flat_map(|r| &r.conditions).any(|c| matches!(c, AgentCondition::Working(_)))
}

/// An attribute as an order sorts it: numbers in their order (booleans as 0 and 1), mapped onto `i64` so that
/// it fits the rank; `None` for text or a missing attribute.
fn sort_key(value: Option<&AttributeValue>) -> Option<i64> {
    let n = match value? {
        AttributeValue::Number(n) => *n,
        AttributeValue::Bool(b) => f64::from(u8::from(*b)),
        AttributeValue::Text(_) => return None,
    };
    // -0.0 and 0.0 are the same number to a person.
    let n = if n == 0.0 { 0.0 } else { n };
    // IEEE 754 bits read as a signed integer order positive numbers correctly and negative ones backwards;
    // flipping all but the sign bit of negative ones gives the total order (as `f64::total_cmp`).
    let bits = i64::from_ne_bytes(n.to_bits().to_ne_bytes());
    Some(if bits < 0 { bits ^ i64::MAX } else { bits })
}

/// Whether an agent's attribute equals a conversation's value: text ignoring case, as the rules language
/// compares it; a boolean equals the text `true` or `false`, which is how a conversation carries one.
fn same_value(mine: &AttributeValue, theirs: &AttributeValue) -> bool {
    match (mine, theirs) {
        (AttributeValue::Text(a), AttributeValue::Text(b)) => text_eq(a, b),
        (AttributeValue::Number(a), AttributeValue::Number(b)) => a == b,
        (AttributeValue::Bool(a), AttributeValue::Bool(b)) => a == b,
        (AttributeValue::Bool(b), AttributeValue::Text(t)) | (AttributeValue::Text(t), AttributeValue::Bool(b)) => {
            t.trim().eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        _ => false,
    }
}

fn holds(condition: &AgentCondition, agent: &Agent, item: &Item) -> bool {
    match condition {
        AgentCondition::PresenceIn(set) => set.contains(agent.base),
        AgentCondition::FreeUnitsAtLeast(n) => agent.free_units() >= *n,
        AgentCondition::FreeProfileAtLeast(profile, n) => agent.free_profile(*profile) >= *n,
        AgentCondition::ItemSkills { exact } => {
            let matching = if *exact { SkillMatching::Exact } else { SkillMatching::Closest };
            agent.skill_shortfall(&item.work.skills, matching).is_some()
        }
        AgentCondition::Skill { skill, min_proficiency } => {
            agent.proficiency(*skill).is_some_and(|p| p >= *min_proficiency)
        }
        AgentCondition::AttributeEquals(name, value) => {
            agent.attributes.get(name).is_some_and(|a| same_value(a, value))
        }
        AgentCondition::AttributeEqualsItem(name, field) => {
            agent.attributes.get(name).is_some_and(|mine| match field {
                ItemField::Attribute(key) => {
                    item.work.attributes.get(key).is_some_and(|theirs| same_value(mine, theirs))
                }
                ItemField::Channel => matches!(mine, AttributeValue::Text(t) if text_eq(t, item.work.channel.as_str())),
            })
        }
        AgentCondition::AttributeInRange { name, at_least, at_most } => match agent.attributes.get(name) {
            Some(AttributeValue::Number(n)) => {
                at_least.is_none_or(|min| *n >= min) && at_most.is_none_or(|max| *n <= max)
            }
            _ => false,
        },
        AgentCondition::Working(want) => agent.is_working() == *want,
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
