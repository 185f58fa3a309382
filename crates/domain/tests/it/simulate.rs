//! The simulator and the wait-time estimator: determinism, the estimator against its baselines on every standard
//! scenario (a claim about the algorithm on fixed seeds), and the estimator's behaviour on its own.

use std::time::Duration;

use switchboard_domain::{
    Timestamp,
    ids::QueueId,
    routing::{
        simulate::{self, ScenarioReport},
        wait::{WaitConfig, WaitEstimator, erlang_c_wait, naive_wait},
    },
};
use uuid::Uuid;

/// Long enough for the queues to settle and for a few hundred answered customers per scenario, short enough for
/// debug builds.
const HOURS: f64 = 4.0;

fn run(name: &str, seed: u64) -> ScenarioReport {
    let scenario = simulate::by_name(name).unwrap().with_hours(HOURS);
    simulate::run(&scenario, seed).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let a = run("bursty", 7);
    let b = run("bursty", 7);
    assert_eq!(a, b);
    let c = run("bursty", 8);
    assert_ne!(a.total, c.total, "another seed is another run");
}

#[test]
fn the_estimator_beats_both_baselines_on_every_standard_scenario() {
    let mut failures = Vec::new();
    for name in simulate::names() {
        for seed in [1, 2] {
            let report = run(name, seed);
            let t = &report.total;
            assert!(t.evaluated > 300, "{name}/{seed}: only {} customers evaluated", t.evaluated);
            if !(t.mae_estimate_secs < t.mae_naive_secs
                && t.mae_estimate_secs < t.mae_erlang_secs
                && t.estimate_error_ratio() <= 0.20)
            {
                failures.push(simulate::table(&[report]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn queue() -> QueueId {
    QueueId::from(Uuid::from_u128(1))
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

#[test]
fn without_history_the_estimate_follows_the_staffing_model() {
    let estimator =
        WaitEstimator::new(WaitConfig { default_handle_time: Duration::from_secs(300), ..WaitConfig::default() });
    // Twenty completions needed at 10 agents × 1/300 s: a mean of 600 s, and a median a little below it.
    let wait = estimator.estimate(queue(), 20, 10, 0, t(0)).unwrap().as_secs_f64();
    assert!((560.0..=600.0).contains(&wait), "{wait}");
    assert_eq!(estimator.estimate(queue(), 3, 10, 3, t(0)), Some(Duration::ZERO), "free agents answer at once");
    assert_eq!(estimator.estimate(queue(), 3, 0, 0, t(0)), None, "nobody staffed: no estimate");
}

#[test]
fn more_free_agents_mean_a_shorter_estimate() {
    let estimator = WaitEstimator::new(WaitConfig::default());
    let waits: Vec<Duration> = (0..5).map(|free| estimator.estimate(queue(), 5, 10, free, t(0)).unwrap()).collect();
    assert!(waits.windows(2).all(|w| w[1] < w[0]), "{waits:?}");
    // One completion needed at 10 agents × 1/300 s: the median of a 30 s exponential step.
    assert!(waits[4] <= Duration::from_secs(22), "{waits:?}");
}

#[test]
fn history_teaches_the_service_rate_and_abandonment() {
    let mut slow = WaitEstimator::new(WaitConfig::default());
    slow.on_staffing(queue(), 10, t(0));
    // A backlog that stays put while the queue is served at half the staffing model's speed (one every 60 s
    // instead of every 30 s): the estimate slows down, as far as the history outweighs the staffing model.
    for _ in 0..20 {
        slow.on_enqueue(queue(), t(0));
    }
    for i in 1..=400 {
        slow.on_enqueue(queue(), t(i * 60));
        slow.on_assigned(queue(), Duration::from_secs(600), t(i * 60));
        slow.on_handle_time(queue(), Duration::from_secs(300), t(i * 60));
    }
    let fresh = WaitEstimator::new(WaitConfig::default());
    let learned = slow.estimate(queue(), 10, 10, 0, t(400 * 60)).unwrap();
    let prior = fresh.estimate(queue(), 10, 10, 0, t(0)).unwrap();
    assert!(learned > prior.mul_f64(1.4), "learned {learned:?} vs prior {prior:?}");

    let mut impatient = slow.clone();
    for i in 0..200 {
        impatient.on_abandoned(queue(), Duration::from_secs(60), t(400 * 60 + i));
        impatient.on_enqueue(queue(), t(400 * 60 + i));
    }
    assert!(impatient.estimate(queue(), 10, 10, 0, t(400 * 60 + 200)).unwrap() < learned);
}

#[test]
fn baselines_are_as_documented() {
    assert_eq!(naive_wait(4, Duration::from_secs(300), 10), Some(Duration::from_secs(120)));
    assert_eq!(naive_wait(4, Duration::from_secs(300), 0), None);
    assert_eq!(erlang_c_wait(0.1, Duration::from_secs(300), 20), None, "30 Erlangs on 20 agents: no steady state");
    let light = erlang_c_wait(0.01, Duration::from_secs(300), 20).unwrap();
    assert!(light < Duration::from_millis(10), "{light:?}");
}
