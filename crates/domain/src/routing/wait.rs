//! Estimated wait time (reference §1.8; performance-reliability A4): how long a customer arriving now at a given
//! position is likely to wait for an agent, from the queue's live state and its recent history.
//!
//! # Method
//!
//! A customer at 1-based `position` with `free` agents able to take work needs `n = position - free` service
//! completions in the queue before an agent is theirs; `n = 0` means they are answered at once. While the queue has
//! a backlog, its items leave at the **service rate** `s` (per second) and each customer ahead gives up at the
//! **abandonment rate** `θ`, so with `j` customers still ahead the next step comes after an exponential time of
//! rate `s + jθ`. The wait is the sum of those steps, `Σ_{j<n} 1/(s + jθ)`, whose mean and variance have closed
//! forms (integral approximations of the sums), which keeps [`WaitEstimator::estimate`] O(1) at any position.
//!
//! - `s = staffed × p`, where `p` is the per-agent productivity of this queue: backlog departures per agent-second
//!   of backlog observed in an exponentially decayed window (departures only count while the queue had someone
//!   waiting, since an idle queue says nothing about how fast it can be served), blended with the staffing model
//!   `1 / AHT` while that history is thin. Learning `p` rather than `s` lets staffing changes (shifts) apply at
//!   once, and it captures what a staffing model cannot, such as agents shared with a higher-priority queue.
//! - `θ` = abandonments ÷ customer-seconds of waiting in the window: the maximum-likelihood rate for exponential
//!   patience.
//! - The value returned is the **median** of that wait (a gamma distribution matched to its mean and variance,
//!   Wilson-Hilferty), not its mean: the median is what minimises absolute error, and for short queues the wait is
//!   skewed enough (one exponential step has its median at 69% of its mean) for this to matter.
//!
//! There is deliberately no feedback correction from realised waits. A per-queue factor tracking realised ÷
//! estimated was tried and made every scenario worse: an outcome arrives one whole wait after its estimate, and
//! consecutive outcomes are strongly correlated (a slow spell delays everyone in it), so the factor chased the last
//! spell just as the queue left it. The state-based model already sees a spell through the queue length.
//!
//! Every update is O(1): each queue keeps a handful of decayed sums, brought up to date lazily on each call.
//!
//! [`naive_wait`] and [`erlang_c_wait`] are the two baselines the simulator compares against.

use std::{collections::BTreeMap, time::Duration};

use crate::{Timestamp, ids::QueueId};

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
    staffed: f64,
    /// Decayed seconds observed, for the arrival rate.
    observed: f64,
    arrivals: f64,
    backlog_departures: f64,
    /// Decayed agent-seconds during which the queue had someone waiting.
    backlog_agent_secs: f64,
    abandons: f64,
    /// Decayed customer-seconds of waiting.
    waiting_secs: f64,
    handle_sum: f64,
    handle_count: f64,
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
        h.backlog_departures *= keep;
        h.backlog_agent_secs *= keep;
        if h.waiting > 0 {
            h.backlog_agent_secs += h.staffed * span;
        }
        h.abandons *= keep;
        h.waiting_secs = h.waiting_secs * keep + h.waiting as f64 * span;
        h.handle_sum *= keep;
        h.handle_count *= keep;
        h.last = Some(h.last.map_or(now, |last| last.max(now)));
        h
    }

    /// The number of agents serving the queue changed (shift start or end, queue membership).
    pub fn on_staffing(&mut self, queue: QueueId, staffed: usize, at: Timestamp) {
        self.advance(queue, at).staffed = staffed as f64;
    }

    /// A customer joined the queue.
    pub fn on_enqueue(&mut self, queue: QueueId, at: Timestamp) {
        let h = self.advance(queue, at);
        h.arrivals += 1.0;
        h.waiting += 1;
    }

    /// A customer of the queue got an agent after `waited`.
    pub fn on_assigned(&mut self, queue: QueueId, waited: Duration, at: Timestamp) {
        let h = self.advance(queue, at);
        h.waiting = h.waiting.saturating_sub(1);
        // Someone answered at once left no backlog behind them: their departure says nothing about service speed.
        if !waited.is_zero() {
            h.backlog_departures += 1.0;
        }
    }

    /// A waiting customer of the queue gave up after `waited`.
    pub fn on_abandoned(&mut self, queue: QueueId, _waited: Duration, at: Timestamp) {
        let h = self.advance(queue, at);
        h.waiting = h.waiting.saturating_sub(1);
        h.abandons += 1.0;
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

    /// Brings two of the history's sums forward to `at` without changing the history (for read-only queries).
    fn decayed_to(&self, h: &QueueHistory, at: Timestamp, pick: impl Fn(&QueueHistory) -> (f64, f64)) -> (f64, f64) {
        let dt = h.last.map_or(0.0, |last| (secs(at) - last).max(0.0));
        let keep = (-self.decay * dt).exp();
        let (observed, other) = pick(h);
        (observed * keep + (1.0 - keep) / self.decay, other * keep)
    }

    /// The estimated wait for a customer joining the queue now at 1-based `position`, with `staffed` agents
    /// serving the queue and `free` of them able to take a conversation now. `None` when nobody is staffed, since
    /// no honest number exists then.
    pub fn estimate(
        &self,
        queue: QueueId,
        position: usize,
        staffed: usize,
        free: usize,
        _at: Timestamp,
    ) -> Option<Duration> {
        if staffed == 0 {
            return None;
        }
        let needed = position.saturating_sub(free);
        if needed == 0 {
            return Some(Duration::ZERO);
        }
        let model = 1.0 / self.handle_time(queue).as_secs_f64().max(1.0);
        let (productivity, abandon_rate) = match self.queues.get(&queue) {
            Some(h) => {
                let observed =
                    if h.backlog_agent_secs > 0.0 { h.backlog_departures / h.backlog_agent_secs } else { model };
                let weight = h.backlog_departures / (h.backlog_departures + self.config.prior_departures.max(0.0));
                let theta = if h.waiting_secs > 0.0 { h.abandons / h.waiting_secs } else { 0.0 };
                (weight * observed + (1.0 - weight) * model, theta)
            }
            None => (model, 0.0),
        };
        let rate = staffed as f64 * productivity;
        if rate <= 0.0 || !rate.is_finite() {
            return None;
        }
        let (mean, variance) = wait_moments(needed as f64, rate, abandon_rate);
        let wait = gamma_median(mean, variance);
        if wait.is_finite() { Some(Duration::from_secs_f64(wait.max(0.0))) } else { None }
    }
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

/// The naive baseline: `position × AHT ÷ staffed`, as if every agent finished one conversation per AHT and free
/// agents did not exist. `None` when nobody is staffed.
pub fn naive_wait(position: usize, handle_time: Duration, staffed: usize) -> Option<Duration> {
    if staffed == 0 {
        return None;
    }
    Some(handle_time.mul_f64(position as f64 / staffed as f64))
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
