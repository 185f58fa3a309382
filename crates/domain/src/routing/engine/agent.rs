//! One agent's routing state: presence, capacity in units and profiles, skills, and when they last got and gave
//! back work.

use std::collections::{BTreeMap, BTreeSet};

use super::config::{
    AgentProfile, AgentSettings, AgentSkill, AttributeValue, BasePresence, CapacityDemand, CapacityProfileId, Presence,
    SkillId, SkillMatching, SkillRequirement,
};
use crate::{
    Timestamp,
    ids::{ConversationId, UserId},
    routing::{calendar::Calendar, capacity_reset::ResetPeriod},
};

/// How long a calendar that does not change within its search horizon is trusted before it is asked again.
const RECHECK_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Clone)]
pub(super) struct ProfileSlot {
    pub(super) limit: AgentProfile,
    /// Conversations of the profile the agent holds now, offers included: what `block_others` reads, and the use
    /// of a profile that resets on release.
    pub(super) held: u32,
    /// The current period of a profile that resets periodically.
    pub(super) period: Option<Period>,
}

/// One period of a periodically reset profile. Conversations are counted by id, so that a conversation parked and
/// resumed, or released and taken again, within one period counts once.
#[derive(Debug, Clone)]
pub(super) struct Period {
    rule: ResetPeriod,
    pub(super) starts_at: Timestamp,
    pub(super) ends_at: Timestamp,
    /// The profile's conversations assigned to the agent since `starts_at`.
    taken: BTreeSet<ConversationId>,
    /// The profile's conversations offered to the agent and not answered yet. An offer reserves its place until
    /// answered, whichever period that falls in; accepted, it counts in the period it is accepted in.
    offered: BTreeSet<ConversationId>,
}

impl Period {
    fn new(rule: ResetPeriod, now: Timestamp) -> Self {
        let (starts_at, ends_at) = rule.period(now);
        Self { rule, starts_at, ends_at, taken: BTreeSet::new(), offered: BTreeSet::new() }
    }
}

impl ProfileSlot {
    fn new(limit: AgentProfile, now: Timestamp) -> Self {
        Self { limit, held: 0, period: limit.reset.period().map(|rule| Period::new(rule, now)) }
    }

    /// What counts against `max_items`.
    pub(super) fn used(&self) -> u32 {
        match &self.period {
            None => self.held,
            Some(p) => {
                let n = p.taken.len() + p.offered.difference(&p.taken).count();
                u32::try_from(n).unwrap_or(u32::MAX)
            }
        }
    }

    /// When the current period ends, for a periodic profile.
    pub(super) fn resets_at(&self) -> Option<Timestamp> {
        self.period.as_ref().map(|p| p.ends_at)
    }
}

/// An agent's working hours with what they said when last asked. Rules read them for every conversation and
/// finding the next change searches day by day, so the answer is kept until it can change.
#[derive(Debug, Clone)]
pub(super) struct Schedule {
    calendar: Calendar,
    open: bool,
    /// `open` holds from `checked_at` until `next_change`.
    checked_at: Timestamp,
    pub(super) next_change: Option<Timestamp>,
}

impl Schedule {
    fn new(calendar: Calendar) -> Self {
        // Checked "at the end of time", so the first refresh asks the calendar.
        Self { calendar, open: false, checked_at: Timestamp::from_millis(i64::MAX), next_change: None }
    }

    /// Makes `open` and `next_change` true at `now`.
    pub(super) fn refresh(&mut self, now: Timestamp) {
        let until = self.next_change.unwrap_or_else(|| self.checked_at.plus_millis(RECHECK_MS));
        if self.checked_at <= now && now < until {
            return;
        }
        self.open = self.calendar.is_open(now);
        self.next_change = self.calendar.next_change(now);
        self.checked_at = now;
    }
}

#[derive(Debug, Clone)]
pub(super) struct Agent {
    pub(super) id: UserId,
    pub(super) presence: Presence,
    pub(super) base: BasePresence,
    /// Set when routing itself made the agent Busy because they were full, so that only that Busy is undone when
    /// capacity frees; a Busy the agent chose is theirs to change.
    pub(super) auto_busy: bool,
    pub(super) total_units: u32,
    /// Units held by offers, active conversations and blocking wrap-ups.
    pub(super) used_units: u32,
    pub(super) profiles: Vec<ProfileSlot>,
    /// Sorted by skill, for binary search.
    pub(super) skills: Vec<AgentSkill>,
    pub(super) attributes: BTreeMap<String, AttributeValue>,
    /// Working hours; `None`: always working. Read only after `refresh` at the cycle's time.
    pub(super) schedule: Option<Schedule>,
    /// Indices of the queues the agent is a member of, ascending.
    pub(super) queues: Vec<usize>,
    /// The engine-wide sequence number of the agent's last offer or assignment; 0 for never. A sequence rather
    /// than a time, because a backlog drains many assignments within one millisecond.
    pub(super) last_assigned: u64,
    /// When capacity was last released, in epoch ms; `i64::MIN` for never, which makes a new agent the most idle.
    pub(super) last_released: i64,
}

impl Agent {
    pub(super) fn new(id: UserId, settings: AgentSettings, base: BasePresence, now: Timestamp) -> Self {
        let mut agent = Agent {
            id,
            presence: settings.presence,
            base,
            auto_busy: false,
            total_units: settings.units,
            used_units: 0,
            profiles: Vec::new(),
            skills: Vec::new(),
            attributes: settings.attributes,
            schedule: settings.calendar.map(Schedule::new),
            queues: Vec::new(),
            last_assigned: 0,
            last_released: i64::MIN,
        };
        agent.set_skills(settings.skills);
        for profile in settings.profiles {
            agent.set_profile(profile, now);
        }
        agent
    }

    pub(super) fn set_calendar(&mut self, calendar: Option<Calendar>) {
        self.schedule = calendar.map(Schedule::new);
    }

    /// Whether the agent's calendar was open when last refreshed; always without one.
    pub(super) fn is_working(&self) -> bool {
        self.schedule.as_ref().is_none_or(|s| s.open)
    }

    pub(super) fn set_skills(&mut self, mut skills: Vec<AgentSkill>) {
        skills.sort_by_key(|s| s.skill);
        skills.dedup_by_key(|s| s.skill);
        self.skills = skills;
    }

    /// Adds or changes a profile, keeping what is in use. A changed reset starts a new, empty period: what was
    /// counted under the old rule says nothing of the new one's periods (the server counts them again from its
    /// log).
    pub(super) fn set_profile(&mut self, limit: AgentProfile, now: Timestamp) {
        match self.profiles.iter_mut().find(|p| p.limit.profile == limit.profile) {
            Some(slot) => {
                if slot.limit.reset != limit.reset {
                    slot.period = limit.reset.period().map(|rule| Period::new(rule, now));
                }
                slot.limit = limit;
            }
            None => self.profiles.push(ProfileSlot::new(limit, now)),
        }
    }

    fn period_mut(&mut self, profile: Option<CapacityProfileId>) -> Option<&mut Period> {
        let profile = profile?;
        self.profiles.iter_mut().find(|p| p.limit.profile == profile)?.period.as_mut()
    }

    /// A conversation of the profile is offered to the agent.
    pub(super) fn note_offered(&mut self, demand: CapacityDemand, conversation: ConversationId) {
        if let Some(p) = self.period_mut(demand.profile) {
            p.offered.insert(conversation);
        }
    }

    /// A conversation of the profile is assigned to the agent (an offer accepted, a pick, a resume).
    pub(super) fn note_assigned(&mut self, demand: CapacityDemand, conversation: ConversationId) {
        if let Some(p) = self.period_mut(demand.profile) {
            p.offered.remove(&conversation);
            p.taken.insert(conversation);
        }
    }

    /// An offer of the profile ended without being accepted.
    pub(super) fn note_offer_ended(&mut self, demand: CapacityDemand, conversation: ConversationId) {
        if let Some(p) = self.period_mut(demand.profile) {
            p.offered.remove(&conversation);
        }
    }

    /// Counts an assignment the store recorded at `at`, if it falls in the profile's current period.
    pub(super) fn restore_assigned(&mut self, profile: CapacityProfileId, conversation: ConversationId, at: Timestamp) {
        if let Some(p) = self.period_mut(Some(profile))
            && p.starts_at <= at
            && at < p.ends_at
        {
            p.taken.insert(conversation);
        }
    }

    /// Starts a new period for every periodic profile whose period is over at `now`; whether any did.
    pub(super) fn roll_periods(&mut self, now: Timestamp) -> bool {
        let mut rolled = false;
        for p in self.profiles.iter_mut().filter_map(|s| s.period.as_mut()) {
            if p.ends_at <= now {
                (p.starts_at, p.ends_at) = p.rule.period(now);
                p.taken.clear();
                rolled = true;
            }
        }
        rolled
    }

    /// When the next of the agent's periodic profiles resets.
    pub(super) fn next_reset(&self) -> Option<Timestamp> {
        self.profiles.iter().filter_map(ProfileSlot::resets_at).min()
    }

    /// When the earliest current period of the agent's periodic profiles began.
    pub(super) fn period_start(&self) -> Option<Timestamp> {
        self.profiles.iter().filter_map(|s| s.period.as_ref().map(|p| p.starts_at)).min()
    }

    pub(super) fn free_units(&self) -> u32 {
        self.total_units.saturating_sub(self.used_units)
    }

    pub(super) fn free_profile(&self, profile: CapacityProfileId) -> u32 {
        self.profiles
            .iter()
            .find(|p| p.limit.profile == profile)
            .map_or(0, |p| p.limit.max_items.saturating_sub(p.used()))
    }

    /// Whether one more conversation with this demand fits, counting offers as reservations.
    pub(super) fn fits(&self, demand: CapacityDemand) -> bool {
        self.fits_again(demand, None)
    }

    /// Like `fits`, but a conversation a periodic profile already counted in this period needs no new room there:
    /// an agent at their daily limit may take back the conversation they parked today.
    pub(super) fn fits_again(&self, demand: CapacityDemand, conversation: Option<ConversationId>) -> bool {
        if demand.units > self.free_units() {
            return false;
        }
        let blocked =
            self.profiles.iter().any(|p| p.held > 0 && p.limit.block_others && Some(p.limit.profile) != demand.profile);
        if blocked {
            return false;
        }
        let counted = |slot: &ProfileSlot| {
            conversation.is_some_and(|c| slot.period.as_ref().is_some_and(|p| p.taken.contains(&c)))
        };
        demand.profile.is_none_or(|profile| {
            self.free_profile(profile) > 0
                || self.profiles.iter().any(|slot| slot.limit.profile == profile && counted(slot))
        })
    }

    /// How many more conversations with this demand fit now, counting offers as reservations.
    pub(super) fn room_for(&self, demand: CapacityDemand) -> u32 {
        if !self.fits(demand) {
            return 0;
        }
        let by_units = self.free_units().checked_div(demand.units).unwrap_or(u32::MAX);
        let by_profile = demand.profile.map_or(u32::MAX, |p| self.free_profile(p));
        by_units.min(by_profile).max(1)
    }

    /// How many one-unit conversations the agent holds at most: their units, or without units their largest
    /// profile's limit; at least one.
    pub(super) fn slots(&self) -> u32 {
        let profiles = self.profiles.iter().map(|p| p.limit.max_items).max().unwrap_or(0);
        (if self.total_units > 0 { self.total_units } else { profiles }).max(1)
    }

    /// Whether the agent can take nothing more at all: no free units and no free profile slot.
    pub(super) fn is_full(&self) -> bool {
        self.free_units() == 0 && self.profiles.iter().all(|p| p.used() >= p.limit.max_items)
    }

    pub(super) fn reserve(&mut self, demand: CapacityDemand) {
        self.used_units = self.used_units.saturating_add(demand.units);
        if let Some(slot) = demand.profile.and_then(|id| self.profiles.iter_mut().find(|p| p.limit.profile == id)) {
            slot.held = slot.held.saturating_add(1);
        }
    }

    pub(super) fn unreserve(&mut self, demand: CapacityDemand) {
        self.used_units = self.used_units.saturating_sub(demand.units);
        if let Some(slot) = demand.profile.and_then(|id| self.profiles.iter_mut().find(|p| p.limit.profile == id)) {
            slot.held = slot.held.saturating_sub(1);
        }
    }

    pub(super) fn proficiency(&self, skill: SkillId) -> Option<u8> {
        self.skills.binary_search_by_key(&skill, |s| s.skill).ok().map(|i| self.skills[i].proficiency)
    }

    /// How far the agent falls short of the required skills (0 for a full match), or `None` when they may not
    /// take the conversation at all.
    pub(super) fn skill_shortfall(&self, required: &[SkillRequirement], matching: SkillMatching) -> Option<u32> {
        let mut shortfall = 0u32;
        if matching == SkillMatching::None {
            return Some(0);
        }
        for req in required {
            let have = self.proficiency(req.skill)?;
            let want = req.min_proficiency.unwrap_or(0);
            if have < want {
                if matching == SkillMatching::Exact {
                    return None;
                }
                shortfall += u32::from(want - have);
            }
        }
        Some(shortfall)
    }

    /// The agent's summed proficiency in the required skills.
    pub(super) fn proficiency_in(&self, required: &[SkillRequirement]) -> u32 {
        required.iter().filter_map(|r| self.proficiency(r.skill)).map(u32::from).sum()
    }
}
