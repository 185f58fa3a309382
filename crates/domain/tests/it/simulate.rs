//! The simulator and the wait-time estimator: determinism, the estimator against its baselines on every standard
//! scenario (a claim about the algorithm on fixed seeds), and the estimator's behaviour on its own.

use std::time::Duration;

use switchboard_domain::{
    Timestamp,
    ids::QueueId,
    routing::{
        engine::{SkillId, SkillMatching, SkillRequirement, SkillSet},
        simulate::{self, ScenarioReport},
        wait::{Staffing, WaitConfig, WaitEstimator, erlang_a_wait, erlang_c_wait, naive_wait},
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

/// The heavily loaded scenarios, where queues are long enough for a queue-length predictor to be within 20%.
const HEAVY: [&str; 5] = ["steady", "bursty", "multi-skill", "understaffed", "shift-change"];

#[test]
fn the_estimator_beats_every_baseline_where_docs_simulator_md_says_it_does() {
    let mut failures = Vec::new();
    for name in simulate::names() {
        for seed in [1, 2] {
            let report = run(name, seed);
            let t = &report.total;
            assert!(t.evaluated > 300, "{name}/{seed}: only {} customers evaluated", t.evaluated);
            // Heavy load: below every baseline and close to the 20% bar (which docs/simulator.md measures over 8 h
            // and five seeds; over 4 h a calm spell of `bursty` leaves waits short and the ratio just above it).
            // Elsewhere most of a wait is an agent's time to accept, which no predictor knows in advance, so only
            // the comparison holds; `skills` included, where the estimate counts only the agents who hold the
            // skills a customer needs and learns their pace apart.
            let holds = if HEAVY.contains(&name) {
                t.beats_every_baseline() && t.estimate_error_ratio() <= 0.25
            } else {
                t.beats_every_baseline()
            };
            if !holds {
                failures.push(simulate::table(&[report]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn queue() -> QueueId {
    QueueId::from(Uuid::from_u128(1))
}

/// No skills needed: any agent of the queue may serve the customer.
fn any() -> SkillSet {
    SkillSet::default()
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

fn staffing(staffed: usize, free: usize) -> Staffing {
    Staffing { staffed, free, ..Staffing::default() }
}

#[test]
fn without_history_the_estimate_follows_the_staffing_model() {
    let estimator =
        WaitEstimator::new(WaitConfig { default_handle_time: Duration::from_secs(300), ..WaitConfig::default() });
    // Twenty completions needed at 10 agents × 1/300 s: a mean of 600 s, and a median a little below it.
    let wait = estimator.estimate(queue(), 20, &staffing(10, 0), t(0)).unwrap().as_secs_f64();
    assert!((560.0..=600.0).contains(&wait), "{wait}");
    assert_eq!(
        estimator.estimate(queue(), 3, &staffing(10, 3), t(0)),
        Some(Duration::ZERO),
        "free agents answer at once"
    );
    assert_eq!(estimator.estimate(queue(), 3, &staffing(0, 0), t(0)), None, "nobody staffed: no estimate");
}

#[test]
fn more_free_agents_mean_a_shorter_estimate() {
    let estimator = WaitEstimator::new(WaitConfig::default());
    let waits: Vec<Duration> =
        (0..5).map(|free| estimator.estimate(queue(), 5, &staffing(10, free), t(0)).unwrap()).collect();
    assert!(waits.windows(2).all(|w| w[1] < w[0]), "{waits:?}");
    // One completion needed at 10 agents × 1/300 s: the median of a 30 s exponential step.
    assert!(waits[4] <= Duration::from_secs(22), "{waits:?}");
}

#[test]
fn history_teaches_the_service_rate_and_abandonment() {
    let mut slow = WaitEstimator::new(WaitConfig::default());
    slow.on_staffing(queue(), &any(), 10, t(0));
    // A backlog that stays put while the queue is served at half the staffing model's speed (one every 60 s
    // instead of every 30 s): the estimate slows down, as far as the history outweighs the staffing model.
    for _ in 0..20 {
        slow.on_enqueue(queue(), &any(), t(0));
    }
    for i in 1..=400 {
        slow.on_enqueue(queue(), &any(), t(i * 60));
        slow.on_dequeued(queue(), &any(), t(i * 60));
        slow.on_assigned(queue(), &any(), Duration::from_secs(600), Duration::ZERO, t(i * 60));
        slow.on_handle_time(queue(), Duration::from_secs(300), t(i * 60));
    }
    let fresh = WaitEstimator::new(WaitConfig::default());
    let learned = slow.estimate(queue(), 10, &staffing(10, 0), t(400 * 60)).unwrap();
    let prior = fresh.estimate(queue(), 10, &staffing(10, 0), t(0)).unwrap();
    assert!(learned > prior.mul_f64(1.4), "learned {learned:?} vs prior {prior:?}");

    let mut impatient = slow.clone();
    for i in 0..200 {
        impatient.on_dequeued(queue(), &any(), t(400 * 60 + i));
        impatient.on_abandoned(queue(), Duration::from_secs(60), t(400 * 60 + i));
        impatient.on_enqueue(queue(), &any(), t(400 * 60 + i));
    }
    assert!(impatient.estimate(queue(), 10, &staffing(10, 0), t(400 * 60 + 200)).unwrap() < learned);
}

#[test]
fn baselines_are_as_documented() {
    assert_eq!(naive_wait(4, 0, Duration::from_secs(300), 10), Some(Duration::from_secs(120)));
    assert_eq!(naive_wait(4, 3, Duration::from_secs(300), 10), Some(Duration::from_secs(30)), "free agents count");
    assert_eq!(naive_wait(4, 5, Duration::from_secs(300), 10), Some(Duration::ZERO));
    assert_eq!(naive_wait(4, 0, Duration::from_secs(300), 0), None);
    assert_eq!(erlang_c_wait(0.1, Duration::from_secs(300), 20), None, "30 Erlangs on 20 agents: no steady state");
    let light = erlang_c_wait(0.01, Duration::from_secs(300), 20).unwrap();
    assert!(light < Duration::from_millis(10), "{light:?}");
}

#[test]
fn erlang_a_agrees_with_erlang_c_as_patience_grows_and_has_a_steady_state_under_overload() {
    let aht = Duration::from_secs(240);
    let c = erlang_c_wait(360.0 / 1800.0, aht, 55).unwrap().as_secs_f64();
    let a = erlang_a_wait(360.0 / 1800.0, aht, 55, 1e-7).unwrap().as_secs_f64();
    assert!((a - c).abs() < 0.2, "A {a} vs C {c}");
    // Impatient customers leave the queue shorter: a served customer waits less than without abandonment.
    let impatient = erlang_a_wait(360.0 / 1800.0, aht, 55, 1.0 / 60.0).unwrap().as_secs_f64();
    assert!(impatient < c, "{impatient} vs {c}");
    // 115% load: no steady state for C, a finite wait for A.
    assert_eq!(erlang_c_wait(0.1 * 1.15, Duration::from_secs(300), 30), None);
    let over = erlang_a_wait(0.1 * 1.15, Duration::from_secs(300), 30, 1.0 / 900.0).unwrap().as_secs_f64();
    assert!((10.0..900.0).contains(&over), "{over}");
}

#[test]
fn time_in_offers_is_added_to_the_estimate_not_taken_for_service() {
    let mut e = WaitEstimator::new(WaitConfig::default());
    e.on_staffing(queue(), &any(), 2, t(0));
    // Ten customers offered at once and accepted 5 s later: no backlog, so no departures to learn speed from.
    for i in 0..10 {
        e.on_enqueue(queue(), &any(), t(i * 400));
        e.on_dequeued(queue(), &any(), t(i * 400));
        e.on_assigned(queue(), &any(), Duration::ZERO, Duration::from_secs(5), t(i * 400 + 5));
        e.on_handle_time(queue(), Duration::from_secs(300), t(i * 400 + 305));
    }
    let fresh = WaitEstimator::new(WaitConfig::default()).estimate(queue(), 1, &staffing(2, 0), t(0)).unwrap();
    let learned = e.estimate(queue(), 1, &staffing(2, 0), t(4000)).unwrap();
    let more = learned.as_secs_f64() - fresh.as_secs_f64();
    assert!((3.0..=8.0).contains(&more), "fresh {fresh:?}, with offer time {learned:?}");
    // An agent free now: the wait is the time they take to accept.
    let free = e.estimate(queue(), 1, &staffing(2, 1), t(4000)).unwrap();
    assert_eq!(free, Duration::from_secs(5));
}

#[test]
fn an_agent_in_cooldown_becomes_free_when_it_ends() {
    let e = WaitEstimator::new(WaitConfig::default());
    let cooling =
        |secs: u64| Staffing { staffed: 2, cooldowns: vec![Duration::from_secs(secs)], ..Staffing::default() };
    // One of two agents cooling for 20 s: the customer is theirs then, long before either finishes (median 104 s).
    assert_eq!(e.estimate(queue(), 1, &cooling(20), t(0)), Some(Duration::from_secs(20)));
    // A cooldown longer than the queue's own pace changes nothing.
    assert_eq!(e.estimate(queue(), 1, &cooling(3000), t(0)), e.estimate(queue(), 1, &staffing(2, 0), t(0)));
    // Second in line: someone must finish too, or the cooldown ends and one finishes.
    let second = e.estimate(queue(), 2, &cooling(20), t(0)).unwrap();
    assert!(second > Duration::from_secs(20) && second < e.estimate(queue(), 2, &staffing(2, 0), t(0)).unwrap());
}

fn specialist() -> SkillSet {
    let skill = SkillId::from(Uuid::from_u128(7));
    SkillSet::new(&[SkillRequirement { skill, min_proficiency: None }], SkillMatching::Exact)
}

#[test]
fn a_customer_needing_a_skill_counts_only_its_agents_and_learns_their_pace() {
    let fresh = WaitEstimator::new(WaitConfig::default());
    // Fourth in line behind three customers whom anyone may serve, with 2 of the 10 agents holding the skill, none
    // free: one of those two must finish (the median of a 150 s exponential step, 104 s), whatever the others do.
    let alone = Staffing { skills: specialist(), staffed: 2, others_ahead: 3, ..Staffing::default() };
    let wait = fresh.estimate(queue(), 4, &alone, t(0)).unwrap().as_secs_f64();
    assert!((100.0..=110.0).contains(&wait), "{wait}");

    // 30 agents, 8 of them specialists. Customers needing one leave the backlog at about half the staffing model's
    // pace (their agents also serve everyone else), the queue as a whole at its pace: the specialists' customers
    // learn theirs, and everyone else's estimate stays near the queue's.
    let mut e = WaitEstimator::new(WaitConfig::default());
    e.on_staffing(queue(), &any(), 30, t(0));
    e.on_staffing(queue(), &specialist(), 8, t(0));
    e.on_enqueue(queue(), &any(), t(0));
    e.on_enqueue(queue(), &specialist(), t(0));
    for i in 1..=3000 {
        let set = if i % 8 == 0 { specialist() } else { any() };
        let at = t(i * 10);
        e.on_enqueue(queue(), &set, at);
        e.on_dequeued(queue(), &set, at);
        e.on_assigned(queue(), &set, Duration::from_secs(60), Duration::ZERO, at);
        e.on_handle_time(queue(), Duration::from_secs(300), at);
    }
    let now = t(3000 * 10);
    let specialists = Staffing { skills: specialist(), staffed: 8, others_ahead: 3, ..Staffing::default() };
    let learned = e.estimate(queue(), 4, &specialists, now).unwrap().as_secs_f64();
    let before = fresh.estimate(queue(), 4, &specialists, t(0)).unwrap().as_secs_f64();
    assert!(learned > 1.3 * before, "learned {learned} vs fresh {before}");
    let anyone = Staffing { staffed: 30, ..Staffing::default() };
    let (general, model) = (e.estimate(queue(), 4, &anyone, now).unwrap(), fresh.estimate(queue(), 4, &anyone, t(0)));
    assert!(general.as_secs_f64() < 1.2 * model.unwrap().as_secs_f64(), "{general:?} vs {model:?}");
}
