//! `switchboard bench routing-engine`: the routing engine alone, in memory, without the store or HTTP, so its own
//! cost is told apart from the server's.
//!
//! - **Drain**: 10,000 conversations wait in 50 queues; 1,000 agents (each in 5 queues, capacity for everything)
//!   come online one by one and accept every offer. Reports assignments per second.
//! - **Arrivals**: 20,000 conversations arrive at 1,000 Available agents in 50 queues, a tenth of them needing a
//!   skill nobody has (so every queue's top block stays full of them). Reports the time each `enqueue` takes to
//!   issue its offer, then the time an agent's `end` takes to offer the freed unit to the next conversation.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_domain::{
    Timestamp,
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
    routing::engine::*,
};
use uuid::Uuid;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn user(n: u128) -> UserId {
    UserId::from(Uuid::from_u128(0xA000 + n))
}

fn conv(n: u128) -> ConversationId {
    ConversationId::from(Uuid::from_u128(0xC000 + n))
}

fn queue(n: u128) -> QueueId {
    QueueId::from(Uuid::from_u128(0xB000 + n))
}

fn skill(n: u128) -> SkillId {
    SkillId(Uuid::from_u128(0xE000 + n))
}

const STREAM: u128 = 0xD001;

fn offers(events: &[RoutingEvent]) -> usize {
    events.iter().filter(|e| matches!(e, RoutingEvent::OfferIssued { .. })).count()
}

fn drain(items: u128, agents: u128, queues: u128) -> anyhow::Result<(usize, Duration)> {
    let stream = WorkstreamId::from(Uuid::from_u128(STREAM));
    let mut engine = Engine::default();
    engine.upsert_workstream(stream, WorkstreamRouting::default())?;
    for q in 0..queues {
        engine.upsert_queue(queue(q), QueueSettings::default(), t(0));
    }
    // Twice what is needed, since each agent serves only 5 of the queues.
    let units = u32::try_from(2 * items.div_ceil(agents))?;
    for a in 0..agents {
        engine.add_agent(user(a), AgentSettings { presence: Presence::Offline, units, ..Default::default() }, t(0))?;
        for k in 0..5 {
            engine.join_queue(user(a), queue((a + k) % queues), t(0))?;
        }
    }
    for n in 0..items {
        let mut w = WorkItem::new(conv(n), stream, queue(n % queues), t(1));
        w.priority = (n % 3) as i32;
        engine.enqueue(w, t(1))?;
    }
    let started = Instant::now();
    let mut assigned = 0;
    for a in 0..agents {
        for event in engine.set_presence(user(a), Presence::Available, t(2))? {
            if let RoutingEvent::OfferIssued { offer, agent, .. } = event {
                engine.accept(offer, agent, t(3))?;
                assigned += 1;
            }
        }
    }
    Ok((assigned, started.elapsed()))
}

fn percentiles(took: &mut [Duration]) -> Value {
    took.sort();
    let at = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)].as_secs_f64() * 1e6;
    json!({ "p50_us": at(0.5).round(), "p99_us": at(0.99).round(), "max_us": at(1.0).round() })
}

fn arrivals() -> anyhow::Result<Value> {
    let stream = WorkstreamId::from(Uuid::from_u128(STREAM));
    let mut engine = Engine::default();
    let routing = WorkstreamRouting { skill_matching: SkillMatching::Exact, ..Default::default() };
    engine.upsert_workstream(stream, routing)?;
    for q in 0..50 {
        engine.upsert_queue(queue(q), QueueSettings::default(), t(0));
    }
    for a in 0..1_000u128 {
        let settings = AgentSettings {
            presence: Presence::Available,
            units: 10,
            skills: vec![AgentSkill { skill: skill(1), proficiency: (a % 11) as u8 }],
            ..Default::default()
        };
        engine.add_agent(user(a), settings, t(0))?;
        for k in 0..5 {
            engine.join_queue(user(a), queue((a + k * 7) % 50), t(0))?;
        }
    }
    let (mut took, mut offered) = (Vec::new(), 0);
    for n in 0..20_000u128 {
        let mut w = WorkItem::new(conv(n), stream, queue(n % 50), t(1 + n as i64));
        let needed = if n % 10 == 0 { skill(2) } else { skill(1) };
        w.skills = vec![SkillRequirement { skill: needed, min_proficiency: Some((n % 5) as u8) }];
        let started = Instant::now();
        let events = engine.enqueue(w, t(1 + n as i64))?;
        took.push(started.elapsed());
        offered += offers(&events);
    }
    let enqueue = percentiles(&mut took);
    // The backlog is long and every queue's top block holds conversations nobody can take: each agent accepts, and
    // every tenth ends one, whose freed unit goes to the next conversation waiting.
    let pending: Vec<(OfferId, OfferView)> = engine.offers().collect();
    let (mut took_end, mut offered_end) = (Vec::new(), 0);
    for (i, (offer, view)) in pending.into_iter().enumerate() {
        let now = t(30_000 + i as i64);
        engine.accept(offer, view.agent, now)?;
        if i % 10 == 0 {
            let started = Instant::now();
            let events = engine.end(view.conversation, now)?;
            took_end.push(started.elapsed());
            offered_end += offers(&events);
        }
    }
    Ok(json!({
        "arrivals": 20_000, "offers": offered, "enqueue_to_offer": enqueue,
        "ends": took_end.len(), "next_offers": offered_end, "end_to_next_offer": percentiles(&mut took_end),
    }))
}

pub fn run() -> anyhow::Result<Value> {
    let (assigned, took) = drain(10_000, 1_000, 50)?;
    Ok(json!({
        "scenario": "routing_engine",
        "drain": { "items": 10_000, "agents": 1_000, "queues": 50, "assigned": assigned,
                   "ms": (took.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
                   "assignments_per_s": (assigned as f64 / took.as_secs_f64()).round() },
        "arrivals": arrivals()?,
    }))
}
