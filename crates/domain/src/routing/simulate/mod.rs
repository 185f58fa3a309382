//! A deterministic discrete-event simulator of a contact center, driving the real routing [`Engine`] on a virtual
//! clock (see docs/simulator.md).
//!
//! Customers arrive (Poisson or Markov-modulated), overflow to another queue when too many wait, are enqueued,
//! and are offered to agents by the engine; agents answer after a drawn delay (accept, reject, or let it time out,
//! after which the engine's cooldown keeps the conversation from them for a while), handle the conversation for a
//! drawn handle time, then end and close it. A customer whose patience runs out while still waiting is closed
//! (abandoned). Shifts are presence changes. On each arrival the simulator records what the server's estimator
//! would tell that customer (fixed at arrival, as reference §1.8 says) and what the baselines would, and later the
//! wait they actually had, so [`run`] reports how each predictor did alongside the usual service metrics.
//!
//! The estimator is fed by the server's own [`WaitTracker`] from the engine's events, and estimates with the
//! staffing, free agents and cooldowns the engine reports ([`Staffing::of`]), exactly as the server does.
//!
//! The same scenario and seed always give the same report: one seeded `StdRng`, events ordered by time then by
//! scheduling order, and an engine that is deterministic itself.

mod report;
mod scenarios;

use std::{collections::BTreeMap, time::Duration};

use rand::{Rng, SeedableRng, rngs::StdRng};
use uuid::Uuid;

pub use report::{QueueReport, ScenarioReport, json_line, pooled, table};
pub use scenarios::{
    AgentGroup, Answers, Arrivals, HandleTime, Overflow, QueueSpec, Scenario, by_name, names, standard,
};

use super::{
    engine::{
        AgentSettings, AgentSkill, Engine, EngineSettings, OfferId, Presence, QueueSettings, RoutingEvent, SkillId,
        SkillMatching, SkillRequirement, WorkItem, WorkstreamRouting,
    },
    wait::{Asker, Staffing, WaitConfig, erlang_a_wait, erlang_c_wait, naive_wait},
    wait_tracker::WaitTracker,
};
use crate::{
    Timestamp,
    error::Result,
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
};

/// The specialist skill of the scenarios with skill requirements.
const SPECIALIST: u128 = 0x51_0000;

/// What a customer was told on arrival and what happened to them.
#[derive(Debug, Clone, Default)]
struct Customer {
    queue: usize,
    arrived_ms: i64,
    estimate: Option<Duration>,
    naive: Option<Duration>,
    erlang: Option<Duration>,
    erlang_a: Option<Duration>,
    /// What the estimator said when an offer to this customer was declined and they waited again (cooldowns in
    /// play), with when; the last such.
    after_decline: Option<(i64, Option<Duration>, Option<Duration>)>,
    /// Set once answered.
    answered_after: Option<Duration>,
    abandoned_after: Option<Duration>,
}

/// What each predictor tells a customer.
#[derive(Debug, Clone, Copy, Default)]
struct Predictions {
    estimate: Option<Duration>,
    naive: Option<Duration>,
    erlang: Option<Duration>,
    erlang_a: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Arrival(usize),
    /// A queue's arrival process switches between calm and burst.
    Switch(usize),
    Patience(usize),
    /// The agent finishes the conversation.
    Done(usize),
    ShiftStart(usize),
    ShiftEnd(usize),
    /// An agent answers an offer: accepts (true) or rejects.
    Answer(OfferId, usize, bool),
}

#[derive(Debug, Clone)]
struct Agent {
    id: UserId,
    queues: Vec<usize>,
    online_since: Option<i64>,
    /// Conversations in progress: an agent whose shift ended still serves the queue until they finish.
    handling: usize,
}

impl Agent {
    fn serving(&self) -> bool {
        self.online_since.is_some() || self.handling > 0
    }
}

/// Per-queue accumulators besides the customers themselves.
#[derive(Debug, Clone, Default)]
struct QueueState {
    id: QueueId,
    bursting: bool,
    /// Agent-milliseconds staffed within the horizon, each agent's time split evenly over their queues.
    staffed_ms: f64,
    /// Milliseconds of handling within the horizon.
    busy_ms: f64,
}

struct Sim<'a> {
    scenario: &'a Scenario,
    rng: StdRng,
    engine: Engine,
    tracker: WaitTracker,
    workstream: WorkstreamId,
    horizon_ms: i64,
    now: i64,
    seq: u64,
    events: BTreeMap<(i64, u64), Event>,
    customers: Vec<Customer>,
    /// Handle time drawn for each answered customer and their agent, by customer index.
    handling: BTreeMap<usize, (i64, usize)>,
    agents: Vec<Agent>,
    queues: Vec<QueueState>,
}

/// The customer behind a conversation id: ids are made from indexes, so this is their inverse.
fn customer_of(conversation: ConversationId) -> usize {
    (conversation.uuid().as_u128() & 0xFFFF_FFFF_FFFF) as usize
}

fn conversation(index: usize) -> ConversationId {
    ConversationId::from(Uuid::from_u128(0xC0_0000_0000_0000 | index as u128))
}

fn agent_of(user: UserId) -> usize {
    (user.uuid().as_u128().wrapping_sub(AGENT_BASE)) as usize
}

const AGENT_BASE: u128 = 0xA_0000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn since(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms - from_ms).unwrap_or(0))
}

/// Runs a scenario with a seed and reports per queue and overall.
pub fn run(scenario: &Scenario, seed: u64) -> Result<ScenarioReport> {
    run_with(scenario, seed, WaitConfig::default())
}

/// [`run`] with a tuned estimator, to compare settings.
pub fn run_with(scenario: &Scenario, seed: u64, config: WaitConfig) -> Result<ScenarioReport> {
    let mut sim = Sim::new(scenario, seed, config)?;
    sim.run()?;
    Ok(report::build(scenario, seed, sim.now, &sim.customers, &sim.queues))
}

impl<'a> Sim<'a> {
    fn new(scenario: &'a Scenario, seed: u64, config: WaitConfig) -> Result<Self> {
        let mut engine = Engine::new(EngineSettings::default());
        let workstream = WorkstreamId::from(Uuid::from_u128(0x5_0000));
        let answers = &scenario.answers;
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let routing = WorkstreamRouting {
            skill_matching: SkillMatching::Exact,
            offer_timeout_ms: millis(answers.timeout),
            reoffer_cooldown_ms: millis(answers.cooldown),
            ..WorkstreamRouting::default()
        };
        engine.upsert_workstream(workstream, routing)?;
        let mut queues = Vec::new();
        for (i, spec) in scenario.queues.iter().enumerate() {
            let id = QueueId::from(Uuid::from_u128(0x9_0000 + i as u128));
            engine.upsert_queue(id, QueueSettings { priority: spec.priority, ..QueueSettings::default() }, at(0));
            queues.push(QueueState { id, ..QueueState::default() });
        }
        let mut agents = Vec::new();
        for group in &scenario.agents {
            for _ in 0..group.count {
                let id = UserId::from(Uuid::from_u128(AGENT_BASE + agents.len() as u128));
                let skills = if group.skilled {
                    vec![AgentSkill { skill: SkillId::from(Uuid::from_u128(SPECIALIST)), proficiency: 5 }]
                } else {
                    Vec::new()
                };
                let settings = AgentSettings {
                    presence: Presence::Offline,
                    units: group.units,
                    skills,
                    ..AgentSettings::default()
                };
                engine.add_agent(id, settings, at(0))?;
                for &q in &group.queues {
                    if let Some(queue) = queues.get(q) {
                        engine.join_queue(id, queue.id, at(0))?;
                    }
                }
                agents.push(Agent { id, queues: group.queues.clone(), online_since: None, handling: 0 });
            }
        }
        let tracker = WaitTracker::new(config);
        let horizon_ms = (scenario.hours.max(0.0) * 3_600_000.0) as i64;
        let mut sim = Sim {
            scenario,
            rng: StdRng::seed_from_u64(seed),
            engine,
            tracker,
            workstream,
            horizon_ms,
            now: 0,
            seq: 0,
            events: BTreeMap::new(),
            customers: Vec::new(),
            handling: BTreeMap::new(),
            agents,
            queues,
        };
        // Shifts first, so that agents starting at zero are in before the first customer.
        let mut index = 0;
        for group in &scenario.agents {
            for _ in 0..group.count {
                sim.schedule((group.from * horizon_ms as f64) as i64, Event::ShiftStart(index));
                if let Some(until) = group.until {
                    sim.schedule((until * horizon_ms as f64) as i64, Event::ShiftEnd(index));
                }
                index += 1;
            }
        }
        for q in 0..scenario.queues.len() {
            if let Arrivals::Bursty { calm_mean, .. } = scenario.queues[q].arrivals {
                let first = sim.exponential(calm_mean.as_secs_f64());
                sim.schedule(first, Event::Switch(q));
            }
            sim.next_arrival(q);
        }
        Ok(sim)
    }

    fn schedule(&mut self, at_ms: i64, event: Event) {
        self.seq += 1;
        self.events.insert((at_ms.max(self.now), self.seq), event);
    }

    /// An exponential draw with this mean in seconds, as milliseconds from now.
    fn exponential(&mut self, mean_secs: f64) -> i64 {
        let u: f64 = self.rng.gen_range(0.0..1.0);
        self.now + (-(1.0 - u).ln() * mean_secs * 1000.0) as i64
    }

    fn handle_time(&mut self, q: usize) -> i64 {
        match self.scenario.queues[q].handle {
            HandleTime::Exponential { mean } => self.exponential(mean.as_secs_f64()) - self.now,
            HandleTime::LogNormal { mean, sigma } => {
                // Box-Muller for a standard normal; mu makes the lognormal's mean the configured one.
                let u1: f64 = self.rng.gen_range(f64::MIN_POSITIVE..1.0);
                let u2: f64 = self.rng.gen_range(0.0..1.0);
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let mu = mean.as_secs_f64().ln() - sigma * sigma / 2.0;
                ((mu + sigma * z).exp() * 1000.0) as i64
            }
        }
        .max(1000)
    }

    /// Schedules the queue's next arrival by thinning: candidates at the highest rate, each kept with probability
    /// current rate ÷ highest rate (checked when it fires, since the rate may switch in between).
    fn next_arrival(&mut self, q: usize) {
        let max = self.scenario.queues[q].arrivals.max_per_sec();
        if max <= 0.0 {
            return;
        }
        let next = self.exponential(1.0 / max);
        if next < self.horizon_ms {
            self.schedule(next, Event::Arrival(q));
        }
    }

    fn run(&mut self) -> Result<()> {
        while let Some(((time, _), event)) = self.events.pop_first() {
            while let Some(deadline) = self.engine.next_deadline() {
                if deadline.millis() > time {
                    break;
                }
                self.now = deadline.millis().max(self.now);
                let events = self.engine.tick(deadline);
                self.apply(events)?;
            }
            self.now = time;
            match event {
                Event::Arrival(q) => self.arrival(q)?,
                Event::Switch(q) => {
                    let state = &mut self.queues[q];
                    state.bursting = !state.bursting;
                    if let Arrivals::Bursty { calm_mean, burst_mean, .. } = self.scenario.queues[q].arrivals {
                        let mean = if self.queues[q].bursting { burst_mean } else { calm_mean };
                        let next = self.exponential(mean.as_secs_f64());
                        if next < self.horizon_ms {
                            self.schedule(next, Event::Switch(q));
                        }
                    }
                }
                Event::Patience(c) => self.patience(c)?,
                Event::Done(c) => self.done(c)?,
                Event::ShiftStart(a) => self.shift(a, true)?,
                Event::ShiftEnd(a) => self.shift(a, false)?,
                Event::Answer(offer, a, accept) => self.answer(offer, a, accept)?,
            }
        }
        self.now = self.horizon_ms;
        for a in 0..self.agents.len() {
            self.account_staffing(a);
        }
        Ok(())
    }

    fn current_rate(&self, q: usize) -> f64 {
        match self.scenario.queues[q].arrivals {
            Arrivals::Poisson { per_hour } => per_hour / 3600.0,
            Arrivals::Bursty { calm_per_hour, burst_per_hour, .. } => {
                (if self.queues[q].bursting { burst_per_hour } else { calm_per_hour }) / 3600.0
            }
        }
    }

    fn arrival(&mut self, q: usize) -> Result<()> {
        let keep = self.current_rate(q) / self.scenario.queues[q].arrivals.max_per_sec();
        let draw: f64 = self.rng.gen_range(0.0..1.0);
        self.next_arrival(q);
        if draw >= keep {
            return Ok(());
        }
        let now = at(self.now);
        // The work item limit's overflow: a newcomer who would find too many waiting goes to the other queue.
        let mut q = q;
        if let Some(overflow) = &self.scenario.queues[q].overflow {
            let waiting = self.engine.availability(self.queues[q].id, self.workstream)?.waiting;
            if waiting >= overflow.waiting && overflow.to < self.queues.len() {
                q = overflow.to;
            }
        }
        let queue = self.queues[q].id;
        let position = self.engine.availability(queue, self.workstream)?.waiting + 1;
        let index = self.customers.len();
        if let Some(patience) = self.scenario.queues[q].patience {
            let gives_up = self.exponential(patience.as_secs_f64());
            self.schedule(gives_up, Event::Patience(index));
        }
        let skilled = self.scenario.queues[q].skilled;
        let mut item = WorkItem::new(conversation(index), self.workstream, queue, now);
        if skilled > 0.0 && self.rng.gen_range(0.0..1.0) < skilled {
            let skill = SkillId::from(Uuid::from_u128(SPECIALIST));
            item.skills = vec![SkillRequirement { skill, min_proficiency: None }];
        }
        // What the customer is told, with the skills they need, before routing has them.
        let told = self.predictions(queue, position, Asker::Newcomer(&item.skills));
        self.customers.push(Customer {
            queue: q,
            arrived_ms: self.now,
            estimate: told.estimate,
            naive: told.naive,
            erlang: told.erlang,
            erlang_a: told.erlang_a,
            ..Customer::default()
        });
        let events = self.engine.enqueue(item, now)?;
        self.apply(events)
    }

    /// What the estimator and the baselines tell a customer at `position` (a newcomer with the skills they need, or
    /// a conversation in routing, for its cooldowns). The baselines get the same staffing, history and offer time
    /// as the estimator, so the comparison is of the methods; where Erlang C or A has no steady state, it falls
    /// back to the position baseline.
    fn predictions(&self, queue: QueueId, position: usize, asker: Asker<'_>) -> Predictions {
        let now = at(self.now);
        let estimator = self.tracker.estimator();
        let estimate = self.tracker.estimate(&self.engine, queue, self.workstream, position, asker, now);
        let Some(staffing) = Staffing::of(&self.engine, queue, self.workstream, asker, now) else {
            return Predictions { estimate, ..Predictions::default() };
        };
        let aht = estimator.handle_time(queue);
        let offer = Duration::from_secs_f64(estimator.offer_time(queue).0);
        // The position baseline does not know cooldowns: an agent cooling down counts as free, as the engine's
        // availability counts them.
        let free = staffing.free + staffing.cooldowns.len();
        let naive = naive_wait(position, free, aht, staffing.staffed);
        let rate = estimator.arrival_rate_of(queue, &staffing.skills, now);
        let erlang = erlang_c_wait(rate, aht, staffing.staffed).or(naive);
        let erlang_a = erlang_a_wait(rate, aht, staffing.staffed, estimator.abandonment_rate(queue)).or(naive);
        let plus = |d: Option<Duration>| d.map(|d| d + offer);
        Predictions { estimate, naive: plus(naive), erlang: plus(erlang), erlang_a: plus(erlang_a) }
    }

    fn patience(&mut self, c: usize) -> Result<()> {
        let customer = &self.customers[c];
        if customer.answered_after.is_some() || customer.abandoned_after.is_some() {
            return Ok(());
        }
        let waited = since(customer.arrived_ms, self.now);
        self.customers[c].abandoned_after = Some(waited);
        let events = self.engine.close(conversation(c), at(self.now))?;
        self.apply(events)
    }

    fn done(&mut self, c: usize) -> Result<()> {
        let agent = self.handling.get(&c).map_or(usize::MAX, |h| h.1);
        if let Some(before) = self.agents.get(agent).map(Agent::serving) {
            self.agents[agent].handling = self.agents[agent].handling.saturating_sub(1);
            self.restaff(agent, before);
        }
        let events = self.engine.end(conversation(c), at(self.now))?;
        self.apply(events)?;
        let events = self.engine.close(conversation(c), at(self.now))?;
        self.apply(events)
    }

    /// Adds the agent's time online so far to their queues' staffed time.
    fn account_staffing(&mut self, a: usize) {
        let agent = &mut self.agents[a];
        if let Some(from) = agent.online_since.take() {
            let share = (self.now - from) as f64 / agent.queues.len().max(1) as f64;
            for &q in &agent.queues {
                self.queues[q].staffed_ms += share;
            }
            agent.online_since = Some(self.now);
        }
    }

    /// Starts or stops counting the agent's time as staffed (for occupancy) when whether they serve changed.
    fn restaff(&mut self, a: usize, before: bool) {
        if before != self.agents[a].serving() {
            self.account_staffing(a);
        }
    }

    fn shift(&mut self, a: usize, start: bool) -> Result<()> {
        self.account_staffing(a);
        let agent = &mut self.agents[a];
        if start == agent.online_since.is_some() {
            return Ok(());
        }
        let before = agent.serving();
        agent.online_since = start.then_some(self.now);
        let id = agent.id;
        self.restaff(a, before);
        let presence = if start { Presence::Available } else { Presence::Offline };
        let events = self.engine.set_presence(id, presence, at(self.now))?;
        self.apply(events)
    }

    /// An agent's answer to an offer, unless the offer already ended (expired, withdrawn, the customer left).
    fn answer(&mut self, offer: OfferId, a: usize, accept: bool) -> Result<()> {
        if self.engine.offer(offer).is_none() {
            return Ok(());
        }
        let (id, now) = (self.agents[a].id, at(self.now));
        let events = if accept { self.engine.accept(offer, id, now)? } else { self.engine.reject(offer, id, now)? };
        self.apply(events)
    }

    /// A lognormal answer delay in milliseconds (zero for a zero mean).
    fn answer_delay(&mut self) -> i64 {
        let answers = &self.scenario.answers;
        let (mean, sigma) = (answers.delay_mean.as_secs_f64(), answers.delay_sigma);
        if mean <= 0.0 {
            return 0;
        }
        let u1: f64 = self.rng.gen_range(f64::MIN_POSITIVE..1.0);
        let u2: f64 = self.rng.gen_range(0.0..1.0);
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let mu = mean.ln() - sigma * sigma / 2.0;
        ((mu + sigma * z).exp() * 1000.0) as i64
    }

    /// Feeds a batch of the engine's events to the estimator, as the server does on every persist, then plays them
    /// out: an offer is answered after a drawn delay (or left to time out), an assignment starts handling, and a
    /// declined offer is an occasion to ask the estimator again with the cooldown in play.
    fn apply(&mut self, events: Vec<RoutingEvent>) -> Result<()> {
        let now = at(self.now);
        let queue_ids: Vec<QueueId> = self.queues.iter().map(|q| q.id).collect();
        self.tracker.refresh_staffing(&self.engine, queue_ids, now);
        self.tracker.observe(&self.engine, &events, now, |_| None);
        for event in events {
            match event {
                RoutingEvent::OfferIssued { offer, agent, .. } => {
                    let a = agent_of(agent);
                    let answers = &self.scenario.answers;
                    let (reject, ignore) = (answers.reject, answers.ignore);
                    let draw: f64 = self.rng.gen_range(0.0..1.0);
                    if draw < ignore {
                        continue;
                    }
                    let delay = self.answer_delay();
                    let accept = draw >= ignore + reject;
                    if delay == 0 && accept {
                        let events = self.engine.accept(offer, agent, now)?;
                        self.apply(events)?;
                    } else {
                        self.schedule(self.now + delay, Event::Answer(offer, a, accept));
                    }
                }
                RoutingEvent::OfferRejected { conversation, .. } | RoutingEvent::OfferExpired { conversation, .. } => {
                    let c = customer_of(conversation);
                    if let Some((queue, position)) = self.engine.position(conversation)
                        && c < self.customers.len()
                    {
                        let told = self.predictions(queue, position, Asker::Conversation(conversation));
                        self.customers[c].after_decline = Some((self.now, told.estimate, told.naive));
                    }
                }
                RoutingEvent::Assigned { conversation, agent, .. } => {
                    let c = customer_of(conversation);
                    let Some(customer) = self.customers.get_mut(c) else { continue };
                    let waited = since(customer.arrived_ms, self.now);
                    customer.answered_after = Some(waited);
                    let q = customer.queue;
                    let handle = self.handle_time(q);
                    let a = agent_of(agent);
                    if let Some(before) = self.agents.get(a).map(Agent::serving) {
                        self.agents[a].handling += 1;
                        self.restaff(a, before);
                    }
                    // Occupancy is measured over the arrival horizon, not the drain after it.
                    let end = (self.now + handle).min(self.horizon_ms);
                    self.queues[q].busy_ms += (end - self.now.min(self.horizon_ms)) as f64;
                    self.handling.insert(c, (handle, a));
                    self.schedule(self.now + handle, Event::Done(c));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
