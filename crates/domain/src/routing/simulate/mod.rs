//! A deterministic discrete-event simulator of a contact center, driving the real routing [`Engine`] on a virtual
//! clock (see docs/simulator.md).
//!
//! Customers arrive (Poisson or Markov-modulated), are enqueued, and are offered to agents by the engine; agents
//! accept at once, handle the conversation for a drawn handle time, then end and close it. A customer whose
//! patience runs out while still waiting is closed (abandoned). Shifts are presence changes. On each arrival the
//! simulator records what the [`WaitEstimator`] and the two baselines would tell that customer (fixed at arrival,
//! as reference §1.8 says), and later the wait they actually had, so [`run`] reports how each predictor did
//! alongside the usual service metrics.
//!
//! The same scenario and seed always give the same report: one seeded `StdRng`, events ordered by time then by
//! scheduling order, and an engine that is deterministic itself.

mod report;
mod scenarios;

use std::{collections::BTreeMap, time::Duration};

use rand::{Rng, SeedableRng, rngs::StdRng};
use uuid::Uuid;

pub use report::{QueueReport, ScenarioReport, json_line, table};
pub use scenarios::{AgentGroup, Arrivals, HandleTime, QueueSpec, Scenario, by_name, names, standard};

use super::{
    engine::{
        AgentSettings, Engine, EngineSettings, Presence, QueueSettings, RoutingEvent, WorkItem, WorkstreamRouting,
    },
    wait::{WaitConfig, WaitEstimator, erlang_c_wait, naive_wait},
};
use crate::{
    Timestamp,
    error::Result,
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
};

/// What a customer was told on arrival and what happened to them.
#[derive(Debug, Clone, Default)]
struct Customer {
    queue: usize,
    arrived_ms: i64,
    estimate: Option<Duration>,
    naive: Option<Duration>,
    erlang: Option<Duration>,
    /// Set once answered.
    answered_after: Option<Duration>,
    abandoned_after: Option<Duration>,
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
    staffed: usize,
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
    estimator: WaitEstimator,
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
        engine.upsert_workstream(workstream, WorkstreamRouting::default())?;
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
                let settings = AgentSettings { presence: Presence::Offline, units: 1, ..AgentSettings::default() };
                engine.add_agent(id, settings, at(0))?;
                for &q in &group.queues {
                    if let Some(queue) = queues.get(q) {
                        engine.join_queue(id, queue.id, at(0))?;
                    }
                }
                agents.push(Agent { id, queues: group.queues.clone(), online_since: None, handling: 0 });
            }
        }
        let estimator = WaitEstimator::new(config);
        let horizon_ms = (scenario.hours.max(0.0) * 3_600_000.0) as i64;
        let mut sim = Sim {
            scenario,
            rng: StdRng::seed_from_u64(seed),
            engine,
            estimator,
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
        let queue = self.queues[q].id;
        let availability = self.engine.availability(queue, self.workstream)?;
        let position = availability.waiting + 1;
        let staffed = self.queues[q].staffed;
        let aht = self.estimator.handle_time(queue);
        let naive = naive_wait(position, aht, staffed);
        let index = self.customers.len();
        self.customers.push(Customer {
            queue: q,
            arrived_ms: self.now,
            estimate: self.estimator.estimate(queue, position, staffed, availability.agents, now),
            naive,
            // Where Erlang C has no steady state (traffic at or over the agents), the baseline falls back to naive.
            erlang: erlang_c_wait(self.estimator.arrival_rate(queue, now), aht, staffed).or(naive),
            ..Customer::default()
        });
        if let Some(patience) = self.scenario.queues[q].patience {
            let gives_up = self.exponential(patience.as_secs_f64());
            self.schedule(gives_up, Event::Patience(index));
        }
        self.estimator.on_enqueue(queue, now);
        let events = self.engine.enqueue(WorkItem::new(conversation(index), self.workstream, queue, now), now)?;
        self.apply(events)
    }

    fn patience(&mut self, c: usize) -> Result<()> {
        let customer = &self.customers[c];
        if customer.answered_after.is_some() || customer.abandoned_after.is_some() {
            return Ok(());
        }
        let waited = since(customer.arrived_ms, self.now);
        let q = customer.queue;
        self.customers[c].abandoned_after = Some(waited);
        self.estimator.on_abandoned(self.queues[q].id, waited, at(self.now));
        let events = self.engine.close(conversation(c), at(self.now))?;
        self.apply(events)
    }

    fn done(&mut self, c: usize) -> Result<()> {
        let q = self.customers[c].queue;
        let (handled, agent) = self.handling.get(&c).copied().unwrap_or((0, usize::MAX));
        if let Some(before) = self.agents.get(agent).map(Agent::serving) {
            self.agents[agent].handling = self.agents[agent].handling.saturating_sub(1);
            self.restaff(agent, before);
        }
        self.estimator.on_handle_time(self.queues[q].id, Duration::from_millis(handled.max(0) as u64), at(self.now));
        let mut events = self.engine.end(conversation(c), at(self.now))?;
        events.extend(self.engine.close(conversation(c), at(self.now))?);
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

    /// Counts the agent in or out of their queues' staffing if whether they serve them changed.
    fn restaff(&mut self, a: usize, before: bool) {
        let after = self.agents[a].serving();
        if before == after {
            return;
        }
        for i in 0..self.agents[a].queues.len() {
            let state = &mut self.queues[self.agents[a].queues[i]];
            state.staffed = if after { state.staffed + 1 } else { state.staffed.saturating_sub(1) };
            self.estimator.on_staffing(state.id, state.staffed, at(self.now));
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

    /// Plays out the engine's events: every offer is accepted at once, every assignment starts handling.
    fn apply(&mut self, events: Vec<RoutingEvent>) -> Result<()> {
        let mut pending = std::collections::VecDeque::from(events);
        while let Some(event) = pending.pop_front() {
            match event {
                RoutingEvent::OfferIssued { offer, agent, .. } => {
                    pending.extend(self.engine.accept(offer, agent, at(self.now))?);
                }
                RoutingEvent::Assigned { conversation, agent, .. } => {
                    let c = customer_of(conversation);
                    let Some(customer) = self.customers.get_mut(c) else { continue };
                    let waited = since(customer.arrived_ms, self.now);
                    customer.answered_after = Some(waited);
                    let q = customer.queue;
                    self.estimator.on_assigned(self.queues[q].id, waited, at(self.now));
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
