//! Estimated wait time (reference §1.8; performance-reliability A4): how long a customer arriving now at a given
//! position is likely to wait for an agent, from the queue's live state and its recent history.
//!
//! # Method
//!
//! A customer at 1-based `position` with `free` agents able to take their conversation now needs `n = position −
//! others − free` service completions in the queue before an agent is theirs, where `others` are the customers
//! ahead who need other skills (they wait for other agents) and every count of agents is of those who hold the
//! skills this customer needs (their **skill set**, see [`SkillSet`]; empty when anyone may serve them). While the
//! queue has a backlog, its items leave at the **service rate** `s` (per second) and each customer ahead gives up
//! at the **abandonment rate** `θ`, so with `j` customers still ahead the next step comes after an exponential
//! time of rate `s + jθ`. That part of the wait is the sum of those steps, `Σ_{j<n} 1/(s + jθ)`, whose mean and
//! variance have closed forms (integral approximations of the sums), which keeps [`WaitEstimator::estimate`] O(1)
//! at any position.
//!
//! - `s = staffed × p`, where `staffed` counts the servers holding the customer's skill set and `p` is the
//!   per-server productivity learned for that set in this queue: departures of customers needing it who spent
//!   time in the backlog, per server-second while such a customer waited, in an exponentially decayed window (a
//!   customer offered at once is no departure, since an idle queue says nothing about how fast it can be served),
//!   blended with the staffing model `1 / AHT` while that history is thin. Learning `p` rather than `s` lets
//!   staffing changes (shifts) apply at once, and it captures what a staffing model cannot, such as agents shared
//!   with a higher-priority queue, agents with room for several conversations, or specialists whose time goes to
//!   customers anyone could serve. In a queue whose customers all need the same skills (most queues: none) there
//!   is one set and `p` is the queue's.
//! - `θ` = abandonments ÷ customer-seconds of waiting in the window: the maximum-likelihood rate for exponential
//!   patience.
//! - **Offer time.** Once an agent is theirs, the customer still waits for the agent to accept, and for any offers
//!   declined before. That time is not service (it is learned apart, as the decayed mean and variance of the time
//!   assigned customers spent in offers) and is added to the wait: a customer with an agent free waits only that.
//! - **Cooldowns.** An agent with room who declined this customer recently is not free for them until their
//!   cooldown ends; the server passes those ends (see [`Staffing`]), and each is one more way for the customer's
//!   turn to come (the median is then `min_k max(r_k, median(T_{n−k}))`, see [`WaitEstimator::estimate`]).
//! - The value returned is the **median** of the wait (a gamma distribution matched to its mean and variance,
//!   Wilson-Hilferty), not its mean: the median is what minimises absolute error, and for short queues the wait is
//!   skewed enough (one exponential step has its median at 69% of its mean) for this to matter.
//!
//! There is deliberately no feedback correction from realised waits. A per-queue factor tracking realised ÷
//! estimated was tried and made every scenario worse: an outcome arrives one whole wait after its estimate, and
//! consecutive outcomes are strongly correlated (a slow spell delays everyone in it), so the factor chased the last
//! spell just as the queue left it. The state-based model already sees a spell through the queue length.
//!
//! Every update is O(1) in the queue's size: each queue keeps a handful of decayed sums, and a few more per skill
//! set its customers needed, brought up to date lazily on each call.
//!
//! [`naive_wait`], [`erlang_c_wait`] and [`erlang_a_wait`] are the baselines the simulator compares against.

use std::{collections::BTreeMap, time::Duration};

use super::engine::{Engine, SkillRequirement, SkillSet};
use crate::{
    Timestamp,
    ids::{ConversationId, QueueId, WorkstreamId},
};

/// Tuning for a [`WaitEstimator`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitConfig {
    /// How fast history fades: an observation weighs half as much after this long.
    pub half_life: Duration,
    /// The handle time assumed before any has been observed.
    pub default_handle_time: Duration,
    /// How many observed backlog departures weigh as much as the staffing model `1 / AHT`.
    pub prior_departures: f64,
}

impl Default for WaitConfig {
    fn default() -> Self {
        Self {
            half_life: Duration::from_secs(3600),
            default_handle_time: Duration::from_secs(300),
            prior_departures: 50.0,
        }
    }
}

/// Per-queue history, every sum decayed to `last`.
#[derive(Debug, Clone, Default)]
struct QueueHistory {
    /// Seconds since the epoch of the last update; `None` before the first.
    last: Option<f64>,
    /// Customers waiting, as the estimator counted them.
    waiting: u64,
    /// Decayed seconds observed, for the arrival rate.
    observed: f64,
    arrivals: f64,
    abandons: f64,
    /// Decayed customer-seconds of waiting.
    waiting_secs: f64,
    handle_sum: f64,
    handle_count: f64,
    /// Decayed sums of the time assigned conversations spent in offers (accepted or declined) and its square.
    offer_sum: f64,
    offer_sq: f64,
    offer_count: f64,
    /// The pace of service, for each skill set the queue's customers needed (the empty set: none).
    skills: BTreeMap<SkillSet, SkillHistory>,
}

/// The part of a queue's history kept per skill set: the customers needing it who wait, the servers who hold it,
/// and how fast those customers leave the backlog. A specialist customer waits for the few agents who hold the
/// skill, who may be serving anyone else, so their pace is their own. It is not pulled toward the queue's: that
/// would count every member as a server while someone waits, and while only customers needing a few of them wait
/// the rest are idle, so the queue's pace reads slow.
#[derive(Debug, Clone, Default)]
struct SkillHistory {
    waiting: u64,
    /// Servers (conversations the agents at work holding the set can hold together).
    staffed: f64,
    /// Decayed arrivals needing the set (over the queue's `observed` seconds).
    arrivals: f64,
    backlog_departures: f64,
    /// Decayed server-seconds during which someone needing the set waited in the backlog.
    backlog_agent_secs: f64,
}

/// Estimates wait times per queue; see the module documentation for the method.
#[derive(Debug, Clone)]
pub struct WaitEstimator {
    config: WaitConfig,
    /// Decay per second, `ln 2 / half_life`.
    decay: f64,
    queues: BTreeMap<QueueId, QueueHistory>,
}

fn secs(at: Timestamp) -> f64 {
    at.millis() as f64 / 1000.0
}

impl WaitEstimator {
    /// An estimator with no history.
    pub fn new(config: WaitConfig) -> Self {
        let half_life = config.half_life.as_secs_f64().max(1.0);
        Self { config, decay: std::f64::consts::LN_2 / half_life, queues: BTreeMap::new() }
    }

    /// The queue's history brought forward to `at`: the integrals accrue over the time since the last update at
    /// the state that held during it, then everything decays.
    fn advance(&mut self, queue: QueueId, at: Timestamp) -> &mut QueueHistory {
        let decay = self.decay;
        let h = self.queues.entry(queue).or_default();
        let now = secs(at);
        let dt = h.last.map_or(0.0, |last| (now - last).max(0.0));
        let keep = (-decay * dt).exp();
        // The decayed integral of a constant c over the last dt seconds is c (1 - e^{-k dt}) / k.
        let span = (1.0 - keep) / decay;
        h.observed = h.observed * keep + span;
        h.arrivals *= keep;
        h.abandons *= keep;
        h.waiting_secs = h.waiting_secs * keep + h.waiting as f64 * span;
        h.handle_sum *= keep;
        h.handle_count *= keep;
        h.offer_sum *= keep;
        h.offer_sq *= keep;
        h.offer_count *= keep;
        for k in h.skills.values_mut() {
            k.arrivals *= keep;
            k.backlog_departures *= keep;
            k.backlog_agent_secs *= keep;
            if k.waiting > 0 {
                k.backlog_agent_secs += k.staffed * span;
            }
        }
        h.last = Some(h.last.map_or(now, |last| last.max(now)));
        h
    }

    /// The number of servers for customers of the queue needing `skills` changed (shift start or end, queue
    /// membership, an agent's skills); for the empty set, the queue's whole staffing.
    pub fn on_staffing(&mut self, queue: QueueId, skills: &SkillSet, staffed: usize, at: Timestamp) {
        let h = self.advance(queue, at);
        skill_history(h, skills).staffed = staffed as f64;
    }

    /// The skill sets the queue's history knows (whose staffing it needs to be told).
    pub fn skill_sets(&self, queue: QueueId) -> impl Iterator<Item = &SkillSet> + '_ {
        self.queues.get(&queue).into_iter().flat_map(|h| h.skills.keys())
    }

    /// A customer needing `skills` joined the queue (arrived, or moved in from another queue): one more waiting,
    /// one more arrival.
    pub fn on_enqueue(&mut self, queue: QueueId, skills: &SkillSet, at: Timestamp) {
        let h = self.advance(queue, at);
        h.arrivals += 1.0;
        h.waiting += 1;
        let k = skill_history(h, skills);
        k.arrivals += 1.0;
        k.waiting += 1;
    }

    /// A waiting customer left the queue's backlog: offered to an agent, picked, moved away or gone. What it means
    /// is told apart by [`WaitEstimator::on_assigned`] and [`WaitEstimator::on_abandoned`].
    pub fn on_dequeued(&mut self, queue: QueueId, skills: &SkillSet, at: Timestamp) {
        let h = self.advance(queue, at);
        h.waiting = h.waiting.saturating_sub(1);
        let k = skill_history(h, skills);
        k.waiting = k.waiting.saturating_sub(1);
    }

    /// A customer came back to the queue's backlog from a declined offer (rejected, missed, withdrawn): waiting
    /// again, but no new arrival.
    pub fn on_requeued(&mut self, queue: QueueId, skills: &SkillSet, at: Timestamp) {
        let h = self.advance(queue, at);
        h.waiting += 1;
        skill_history(h, skills).waiting += 1;
    }

    /// A customer of the queue got an agent after `queued` in the backlog and `offered` in offers (the accepted
    /// one and any declined before it).
    ///
    /// Only time in the backlog says how fast the queue is served: a customer offered at once (`queued` zero)
    /// left no backlog behind, and the seconds an agent takes to accept are not service (counting them as such
    /// made a fresh queue look several times faster than its staffing). The offer time is learned apart and added
    /// to every estimate. A departure is counted, for the customer's skill set, only while someone holding it
    /// staffs the queue, since productivity is departures per staffed second (history replayed at start has no
    /// staffing to measure against).
    pub fn on_assigned(
        &mut self,
        queue: QueueId,
        skills: &SkillSet,
        queued: Duration,
        offered: Duration,
        at: Timestamp,
    ) {
        let h = self.advance(queue, at);
        let k = skill_history(h, skills);
        if !queued.is_zero() && k.staffed > 0.0 {
            k.backlog_departures += 1.0;
        }
        let o = offered.as_secs_f64();
        h.offer_sum += o;
        h.offer_sq += o * o;
        h.offer_count += 1.0;
    }

    /// A customer of the queue gave up after `waited` (in the backlog or in an offer).
    pub fn on_abandoned(&mut self, queue: QueueId, _waited: Duration, at: Timestamp) {
        self.advance(queue, at).abandons += 1.0;
    }

    /// A conversation of the queue was handled in `duration` (assignment to end).
    pub fn on_handle_time(&mut self, queue: QueueId, duration: Duration, at: Timestamp) {
        let h = self.advance(queue, at);
        h.handle_sum += duration.as_secs_f64();
        h.handle_count += 1.0;
    }

    /// The queue's average handle time: the decayed mean of observed handle times, pulled toward the configured
    /// default by one pseudo-observation so that the first few do not swing it.
    pub fn handle_time(&self, queue: QueueId) -> Duration {
        let default = self.config.default_handle_time.as_secs_f64();
        let aht = match self.queues.get(&queue) {
            Some(h) => (h.handle_sum + default) / (h.handle_count + 1.0),
            None => default,
        };
        Duration::from_secs_f64(aht.max(0.0))
    }

    /// The queue's recent arrival rate, per second (zero before any history).
    pub fn arrival_rate(&self, queue: QueueId, at: Timestamp) -> f64 {
        let Some(h) = self.queues.get(&queue) else { return 0.0 };
        let (observed, arrivals) = self.decayed_to(h, at, |h| (h.observed, h.arrivals));
        if observed > 0.0 { arrivals / observed } else { 0.0 }
    }

    /// The recent arrival rate, per second, of the queue's customers who need `skills`: all of the queue's for the
    /// empty set (every customer of the queue competes for its agents), else those needing exactly that set.
    pub fn arrival_rate_of(&self, queue: QueueId, skills: &SkillSet, at: Timestamp) -> f64 {
        if skills.is_empty() {
            return self.arrival_rate(queue, at);
        }
        let Some(h) = self.queues.get(&queue) else { return 0.0 };
        let arrivals = h.skills.get(skills).map_or(0.0, |k| k.arrivals);
        let (observed, arrivals) = self.decayed_to(h, at, |h| (h.observed, arrivals));
        if observed > 0.0 { arrivals / observed } else { 0.0 }
    }

    /// Brings two of the history's sums forward to `at` without changing the history (for read-only queries).
    fn decayed_to(&self, h: &QueueHistory, at: Timestamp, pick: impl Fn(&QueueHistory) -> (f64, f64)) -> (f64, f64) {
        let dt = h.last.map_or(0.0, |last| (secs(at) - last).max(0.0));
        let keep = (-self.decay * dt).exp();
        let (observed, other) = pick(h);
        (observed * keep + (1.0 - keep) / self.decay, other * keep)
    }

    /// The queue's recent abandonment rate per waiting customer, per second (zero before any history).
    pub fn abandonment_rate(&self, queue: QueueId) -> f64 {
        self.queues.get(&queue).map_or(0.0, |h| if h.waiting_secs > 0.0 { h.abandons / h.waiting_secs } else { 0.0 })
    }

    /// Mean and variance, in seconds, of the time an assigned customer spends in offers; zero before any.
    pub fn offer_time(&self, queue: QueueId) -> (f64, f64) {
        match self.queues.get(&queue) {
            Some(h) if h.offer_count > 0.0 => {
                let mean = h.offer_sum / h.offer_count;
                (mean, (h.offer_sq / h.offer_count - mean * mean).max(0.0))
            }
            _ => (0.0, 0.0),
        }
    }

    /// The estimated wait for a customer at 1-based `position` in the queue now, given its [`Staffing`]. `None` when
    /// nobody is staffed (nobody holding the skills the customer needs), since no honest number exists then.
    ///
    /// Customers ahead needing other skills wait for other agents, so they are left out of the customer's place
    /// (`others_ahead`); the servers, the room free and the pace are those of the customer's skill set.
    ///
    /// `n = position − others_ahead − free` agents must finish before one is theirs (the queue model), unless an
    /// agent cooling down for this customer becomes free first; then they wait for the offer to be accepted. Agents in
    /// cooldown end theirs at known times `r_1 ≤ r_2 ≤ …`, so with `k` of them over the customer needs `n − k`
    /// completions, and the median wait is exactly `min_k max(r_k, median(T_{n−k}))` (the survival function
    /// depends on `t` only through which `r_k` it has passed). Offer time is added to each term.
    pub fn estimate(&self, queue: QueueId, position: usize, staffing: &Staffing, _at: Timestamp) -> Option<Duration> {
        if staffing.staffed == 0 {
            return None;
        }
        let (offer_mean, offer_var) = self.offer_time(queue);
        let offer_median = gamma_median(offer_mean, offer_var);
        let needed = position.saturating_sub(staffing.others_ahead).saturating_sub(staffing.free);
        if needed == 0 {
            return Some(Duration::from_secs_f64(offer_median));
        }
        let model = 1.0 / self.handle_time(queue).as_secs_f64().max(1.0);
        let (productivity, abandon_rate) = match self.queues.get(&queue) {
            Some(h) => {
                let pace = match h.skills.get(&staffing.skills) {
                    Some(k) if k.backlog_agent_secs > 0.0 => {
                        let observed = k.backlog_departures / k.backlog_agent_secs;
                        let weight =
                            k.backlog_departures / (k.backlog_departures + self.config.prior_departures.max(0.0));
                        weight * observed + (1.0 - weight) * model
                    }
                    _ => model,
                };
                let theta = if h.waiting_secs > 0.0 { h.abandons / h.waiting_secs } else { 0.0 };
                (pace, theta)
            }
            None => (model, 0.0),
        };
        let rate = staffing.staffed as f64 * productivity;
        if rate <= 0.0 || !rate.is_finite() {
            return None;
        }
        let mut cooldowns = staffing.cooldowns.clone();
        cooldowns.sort();
        let mut best = f64::INFINITY;
        for k in 0..=cooldowns.len().min(needed) {
            let ready = if k == 0 { 0.0 } else { cooldowns[k - 1].as_secs_f64() + offer_median };
            let rest = needed - k;
            let median = if rest == 0 {
                offer_median
            } else {
                let (mean, variance) = wait_moments(rest as f64, rate, abandon_rate);
                gamma_median(mean + offer_mean, variance + offer_var)
            };
            best = best.min(ready.max(median));
        }
        if best.is_finite() { Some(Duration::from_secs_f64(best.max(0.0))) } else { None }
    }
}

/// What the estimator needs to know of a queue's agents at the moment of an estimate, from the engine: those who
/// may take this customer (who hold the skills they need). Counted in conversations, not agents: an agent with
/// room for three is three servers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Staffing {
    /// The skill set the customer needs (empty: any member may take them); the fields below count only agents
    /// holding it.
    pub skills: SkillSet,
    /// Conversations the agents at work for the queue can hold together, with room now or not.
    pub staffed: usize,
    /// Conversations that could be offered now, to agents free for this customer.
    pub free: usize,
    /// For agents with room who declined this customer's conversation recently: how long until they may be
    /// offered it again. Their room is not in `free`.
    pub cooldowns: Vec<Duration>,
    /// Customers waiting ahead of this one who need other skills, and so wait for other agents.
    pub others_ahead: usize,
}

/// Whose wait is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker<'a> {
    /// A conversation already in routing: its own skills, place and cooldowns count (one routing no longer
    /// holds counts as a newcomer needing no skills).
    Conversation(ConversationId),
    /// A customer not in routing yet, needing these skills, who would wait behind everyone.
    Newcomer(&'a [SkillRequirement]),
}

impl Asker<'_> {
    /// A newcomer needing no skills.
    pub const ANYONE: Asker<'static> = Asker::Newcomer(&[]);

    fn conversation(self) -> Option<ConversationId> {
        match self {
            Asker::Conversation(c) => Some(c),
            Asker::Newcomer(_) => None,
        }
    }
}

impl Staffing {
    /// The staffing of `queue` for `asker`, a customer of `workstream`, as the engine has it now: what the server
    /// and the simulator both estimate with.
    pub fn of(
        engine: &Engine,
        queue: QueueId,
        workstream: WorkstreamId,
        asker: Asker<'_>,
        now: Timestamp,
    ) -> Option<Staffing> {
        let conversation = asker.conversation();
        let skills = match (asker, conversation.and_then(|c| engine.skill_set(c))) {
            (_, Some(own)) => own,
            (Asker::Newcomer(required), None) => engine.skill_set_for(workstream, required),
            (Asker::Conversation(_), None) => SkillSet::default(),
        };
        let staffed = engine.staffed_slots_with(queue, &skills).ok()?;
        let room = engine.room_with(queue, workstream, &skills).unwrap_or(0);
        let cooling = conversation.map(|c| engine.cooldowns(c, now)).unwrap_or_default();
        let blocked: usize = cooling.iter().map(|(_, room)| room).sum();
        let left = |end: Timestamp| Duration::from_millis(u64::try_from(end.millis() - now.millis()).unwrap_or(0));
        let others_ahead = engine.waiting_with_other_skills(queue, workstream, &skills, conversation).unwrap_or(0);
        Some(Staffing {
            staffed: staffed.max(room),
            free: room.saturating_sub(blocked),
            cooldowns: cooling.iter().map(|&(end, _)| left(end)).collect(),
            others_ahead,
            skills,
        })
    }
}

/// The queue's history for customers needing `skills`, begun if new.
fn skill_history<'h>(h: &'h mut QueueHistory, skills: &SkillSet) -> &'h mut SkillHistory {
    // Cloning the empty set, the common case, allocates nothing.
    h.skills.entry(skills.clone()).or_default()
}

/// Mean and variance of `Σ_{j<n} X_j` with `X_j ~ Exp(s + jθ)`. Exact sums for short queues; beyond that the
/// midpoint-rule integrals, which are within a fraction of a percent once `n` is large.
fn wait_moments(n: f64, s: f64, theta: f64) -> (f64, f64) {
    if n <= 32.0 {
        let mut mean = 0.0;
        let mut variance = 0.0;
        let mut j = 0.0;
        while j < n {
            let r = s + j * theta;
            mean += 1.0 / r;
            variance += 1.0 / (r * r);
            j += 1.0;
        }
        return (mean, variance);
    }
    // Without abandonment (or with a rate too small to matter) the steps are identical: an Erlang distribution.
    if theta * n < 1e-9 * s {
        return (n / s, n / (s * s));
    }
    let low = s - 0.5 * theta;
    let high = s + (n - 0.5) * theta;
    if low <= 0.0 {
        // θ dwarfs s, so the first step dominates; the exact sum is cheap enough to bound this rare case.
        return wait_moments(32.0, s, theta);
    }
    ((high / low).ln() / theta, (1.0 / low - 1.0 / high) / theta)
}

/// The median of a gamma distribution with this mean and variance (Wilson-Hilferty), floored at zero.
fn gamma_median(mean: f64, variance: f64) -> f64 {
    if mean <= 0.0 || variance <= 0.0 {
        return mean.max(0.0);
    }
    let shape = mean * mean / variance;
    let factor = 1.0 - 1.0 / (9.0 * shape);
    (mean * factor * factor * factor).max(0.0)
}

/// The position baseline: `(position − free) × AHT ÷ staffed`, as if every agent finished one conversation per AHT;
/// a customer with an agent free waits nothing. `None` when nobody is staffed.
pub fn naive_wait(position: usize, free: usize, handle_time: Duration, staffed: usize) -> Option<Duration> {
    if staffed == 0 {
        return None;
    }
    Some(handle_time.mul_f64(position.saturating_sub(free) as f64 / staffed as f64))
}

/// The Erlang C baseline (M/M/c): the expected wait of a random arrival, `P_wait × AHT ÷ (N − A)` with traffic
/// `A = λ × AHT` Erlangs and `N` agents; the same number for every customer, whatever their position. `None`
/// when there are no agents or `A ≥ N`, where the model has no steady state.
pub fn erlang_c_wait(arrivals_per_sec: f64, handle_time: Duration, agents: usize) -> Option<Duration> {
    let aht = handle_time.as_secs_f64();
    let traffic = arrivals_per_sec * aht;
    let servers = agents as f64;
    if agents == 0 || !traffic.is_finite() || traffic < 0.0 || traffic >= servers {
        return None;
    }
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=agents {
        b = traffic * b / (k as f64 + traffic * b);
    }
    let p_wait = servers * b / (servers - traffic * (1.0 - b));
    let wait = p_wait * aht / (servers - traffic);
    wait.is_finite().then(|| Duration::from_secs_f64(wait.max(0.0)))
}

/// The Erlang A baseline (M/M/c+M, Palm's model with exponential patience): the expected wait of a random arrival
/// who is served, with traffic `λ × AHT`, `agents` servers and each waiting customer abandoning at
/// `abandon_per_sec`. Unlike Erlang C it has a steady state under overload. `None` with no agents, or without
/// abandonment where Erlang C has no steady state either.
pub fn erlang_a_wait(
    arrivals_per_sec: f64,
    handle_time: Duration,
    agents: usize,
    abandon_per_sec: f64,
) -> Option<Duration> {
    let aht = handle_time.as_secs_f64();
    if agents == 0 || aht <= 0.0 || !arrivals_per_sec.is_finite() || arrivals_per_sec < 0.0 {
        return None;
    }
    let (lambda, mu, theta, c) = (arrivals_per_sec, 1.0 / aht, abandon_per_sec.max(0.0), agents as f64);
    if theta <= 0.0 {
        return erlang_c_wait(arrivals_per_sec, handle_time, agents);
    }
    // The birth-death chain in unnormalised weights, walked until the states left weigh nothing. An arrival
    // finding j customers waiting is served only if it outlasts its turn: with i ahead, the next event is a
    // service or one of them leaving (rate cμ + iθ) or itself leaving (θ), and the step lasts 1/(cμ + (i+1)θ)
    // whichever ends it.
    let (mut weight, mut total, mut served, mut waited) = (1.0_f64, 0.0_f64, 0.0_f64, 0.0_f64);
    for k in 0..agents {
        total += weight;
        served += weight;
        weight *= lambda / ((k + 1) as f64 * mu);
    }
    let (mut p_served, mut mean_wait) = (1.0_f64, 0.0_f64);
    for j in 0..1_000_000usize {
        let i = j as f64;
        p_served *= (c * mu + i * theta) / (c * mu + (i + 1.0) * theta);
        mean_wait += 1.0 / (c * mu + (i + 1.0) * theta);
        total += weight;
        served += weight * p_served;
        waited += weight * p_served * mean_wait;
        weight *= lambda / (c * mu + (i + 1.0) * theta);
        if weight < total * 1e-12 && (i + 1.0) * theta > lambda {
            break;
        }
    }
    let wait = if served > 0.0 { waited / served } else { 0.0 };
    wait.is_finite().then(|| Duration::from_secs_f64(wait.max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_the_worked_example() {
        // 360 calls per 30 minutes, AHT 4 minutes, 55 agents: A = 48, P_wait ≈ 0.24, ASA ≈ 8.3 s.
        let wait = erlang_c_wait(360.0 / 1800.0, Duration::from_secs(240), 55).map(|d| d.as_secs_f64());
        assert!(matches!(wait, Some(w) if (7.0..10.0).contains(&w)), "{wait:?}");
    }

    #[test]
    fn moments_agree_between_sum_and_integral() {
        let (m1, v1) = wait_moments(32.0, 0.1, 0.001);
        let (m2, v2) = {
            let low: f64 = 0.1 - 0.0005;
            let high = 0.1 + 31.5 * 0.001;
            ((high / low).ln() / 0.001, (1.0 / low - 1.0 / high) / 0.001)
        };
        assert!((m1 - m2).abs() / m1 < 0.01 && (v1 - v2).abs() / v1 < 0.01);
    }
}
