//! The routing engine: one scenario per behaviour of reference §6, and property tests that drive random sequences
//! of operations and check the invariants after every step.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use proptest::prelude::*;
use switchboard_domain::{
    Code, Timestamp,
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
    routing::engine::*,
    setup::{ChannelType, Distribution},
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

fn stream(n: u128) -> WorkstreamId {
    WorkstreamId::from(Uuid::from_u128(0xD000 + n))
}

fn skill(n: u128) -> SkillId {
    SkillId(Uuid::from_u128(0xE000 + n))
}

fn profile(n: u128) -> CapacityProfileId {
    CapacityProfileId(Uuid::from_u128(0xF000 + n))
}

/// An engine with workstream 1 (push, one unit per conversation) and queue 1 using `method`.
fn engine_with(method: AssignmentMethod, routing: WorkstreamRouting) -> Engine {
    let mut engine = Engine::default();
    engine.upsert_workstream(stream(1), routing).unwrap();
    engine.upsert_queue(queue(1), QueueSettings { priority: 0, method }, t(0));
    engine
}

fn add_agent(engine: &mut Engine, n: u128, units: u32, presence: Presence, now: i64) {
    let settings = AgentSettings { presence, units, ..AgentSettings::default() };
    engine.add_agent(user(n), settings, t(now)).unwrap();
    engine.join_queue(user(n), queue(1), t(now)).unwrap();
}

fn item(n: u128, now: i64) -> WorkItem {
    WorkItem::new(conv(n), stream(1), queue(1), t(now))
}

/// The (conversation, agent) of every offer among the events.
fn offers(events: &[RoutingEvent]) -> Vec<(ConversationId, UserId)> {
    events
        .iter()
        .filter_map(|e| match e {
            RoutingEvent::OfferIssued { conversation, agent, .. } => Some((*conversation, *agent)),
            _ => None,
        })
        .collect()
}

fn offer_id(events: &[RoutingEvent], c: ConversationId) -> OfferId {
    events
        .iter()
        .find_map(|e| match e {
            RoutingEvent::OfferIssued { offer, conversation, .. } if *conversation == c => Some(*offer),
            _ => None,
        })
        .unwrap()
}

fn used(engine: &Engine, n: u128) -> u32 {
    engine.agent(user(n)).unwrap().used_units
}

/// Enqueues, accepts whatever is offered, and returns the agent who got it.
fn route_and_accept(engine: &mut Engine, n: u128, now: i64) -> UserId {
    let events = engine.enqueue(item(n, now), t(now)).unwrap();
    let (_, agent) = offers(&events)[0];
    engine.accept(offer_id(&events, conv(n)), agent, t(now)).unwrap();
    agent
}

#[test]
fn highest_capacity_takes_the_freest_agent_and_breaks_ties_by_earliest_assignment() {
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, WorkstreamRouting::default());
    add_agent(&mut engine, 1, 3, Presence::Available, 0);
    add_agent(&mut engine, 2, 3, Presence::Available, 0);
    add_agent(&mut engine, 3, 1, Presence::Available, 0);
    let mut got = Vec::new();
    for n in 1..=5 {
        got.push(offers(&engine.enqueue(item(n, n as i64), t(n as i64)).unwrap())[0].1);
    }
    // 3 free each: agent 1 (never assigned, first), then 2; at 2 free each agent 1 was assigned earlier; agent 3
    // with one free unit only ties once both others are down to one.
    assert_eq!(got, vec![user(1), user(2), user(1), user(2), user(3)]);
}

#[test]
fn round_robin_follows_join_order_then_rotates() {
    let mut engine = engine_with(AssignmentMethod::RoundRobin, WorkstreamRouting::default());
    add_agent(&mut engine, 3, 10, Presence::Available, 0);
    add_agent(&mut engine, 1, 10, Presence::Available, 1);
    add_agent(&mut engine, 2, 10, Presence::Available, 2);
    let got: Vec<UserId> = (1..=7).map(|n| offers(&engine.enqueue(item(n, 10), t(10)).unwrap())[0].1).collect();
    assert_eq!(got, vec![user(3), user(1), user(2), user(3), user(1), user(2), user(3)]);
}

#[test]
fn most_idle_takes_the_longest_released_agent_and_ignores_presence_but_not_offline() {
    let mut engine = engine_with(AssignmentMethod::MostIdle, WorkstreamRouting::default());
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    add_agent(&mut engine, 2, 1, Presence::Offline, 0);
    let a = route_and_accept(&mut engine, 1, 10);
    assert_eq!(a, user(1));
    engine.set_presence(user(2), Presence::Available, t(11)).unwrap();
    assert_eq!(route_and_accept(&mut engine, 2, 12), user(2));
    // Agent 2 frees up first, so agent 1 (released later) is less idle.
    engine.end(conv(2), t(100)).unwrap();
    engine.end(conv(1), t(200)).unwrap();
    engine.set_presence(user(2), Presence::Away, t(201)).unwrap();
    let events = engine.enqueue(item(3, 300), t(300)).unwrap();
    assert_eq!(offers(&events), vec![(conv(3), user(2))], "Away does not matter to most idle");
    engine.set_presence(user(1), Presence::Offline, t(301)).unwrap();
    let events = engine.enqueue(item(4, 302), t(302)).unwrap();
    assert!(offers(&events).is_empty(), "an Offline agent is never offered work");
}

#[test]
fn custom_method_buckets_conversations_and_relaxes_agent_rules() {
    let vip: ItemPredicate = Arc::new(|w: &WorkItem| w.attributes.get("vip") == Some(&AttributeValue::Bool(true)));
    let has_due: ItemPredicate = Arc::new(|w: &WorkItem| w.attributes.contains_key("due"));
    let spanish = skill(1);
    let online = PresenceSet::of(&[BasePresence::Available, BasePresence::Busy]);
    let custom = CustomAssignment {
        prioritization: vec![
            PriorityBucket { name: "vip".into(), matches: vip, order: ItemOrder::Fifo },
            PriorityBucket { name: "due".into(), matches: has_due, order: ItemOrder::Ascending("due".into()) },
        ],
        rules: vec![
            AssignmentRule {
                name: "fluent".into(),
                conditions: vec![
                    AgentCondition::PresenceIn(online),
                    AgentCondition::Skill { skill: spanish, min_proficiency: 8 },
                ],
                order: AgentOrder::AvailableUnits,
                min_wait_ms: 0,
            },
            AssignmentRule {
                name: "anyone online".into(),
                conditions: vec![AgentCondition::PresenceIn(online)],
                order: AgentOrder::MostIdle,
                min_wait_ms: 0,
            },
        ],
    };
    let mut engine = engine_with(AssignmentMethod::Custom(custom), WorkstreamRouting::default());
    let with = |n: u128, attrs: &[(&str, AttributeValue)]| {
        let mut w = item(n, n as i64);
        w.attributes = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        w
    };
    engine.enqueue(with(1, &[]), t(1)).unwrap();
    engine.enqueue(with(2, &[("due", AttributeValue::Number(50.0))]), t(2)).unwrap();
    engine.enqueue(with(3, &[("due", AttributeValue::Number(20.0))]), t(3)).unwrap();
    engine.enqueue(with(4, &[("vip", AttributeValue::Bool(true))]), t(4)).unwrap();
    engine.enqueue(with(5, &[("due", AttributeValue::Text("soon".into()))]), t(5)).unwrap();
    // vip first, then by due ascending (a non-number due goes last in its bucket), then the final FIFO bucket.
    assert_eq!(engine.waiting(queue(1)).unwrap(), vec![conv(4), conv(3), conv(2), conv(5), conv(1)]);
    assert_eq!(engine.position(conv(2)), Some((queue(1), 3)));

    let mut fluent = AgentSettings { presence: Presence::Available, units: 0, ..AgentSettings::default() };
    fluent.skills = vec![AgentSkill { skill: spanish, proficiency: 9 }];
    engine.add_agent(user(1), AgentSettings { presence: Presence::Available, ..Default::default() }, t(9)).unwrap();
    engine.add_agent(user(2), fluent, t(9)).unwrap();
    engine.join_queue(user(1), queue(1), t(10)).unwrap();
    engine.join_queue(user(2), queue(1), t(10)).unwrap();
    let events = engine.set_unit_capacity(user(2), 1, t(11)).unwrap();
    assert_eq!(offers(&events), vec![(conv(4), user(2))]);
    // With the fluent agent full, the first rule matches nobody and the relaxed rule gives the rest to agent 1.
    let events = engine.set_unit_capacity(user(1), 5, t(12)).unwrap();
    assert_eq!(offers(&events), vec![(conv(3), user(1)), (conv(2), user(1)), (conv(5), user(1)), (conv(1), user(1))]);
    // Both can take one more: the first rule still wins.
    engine.close(conv(4), t(13)).unwrap();
    let events = engine.enqueue(with(6, &[]), t(14)).unwrap();
    assert_eq!(offers(&events), vec![(conv(6), user(2))]);
}

#[test]
fn accept_checks_the_offer_and_its_agent() {
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, WorkstreamRouting::default());
    add_agent(&mut engine, 1, 2, Presence::Available, 0);
    add_agent(&mut engine, 2, 0, Presence::Available, 0);
    let events = engine.enqueue(item(1, 0), t(0)).unwrap();
    let offer = offer_id(&events, conv(1));
    assert_eq!(engine.accept(offer, user(2), t(1)).unwrap_err().code, Code::OfferNotFound);
    assert_eq!(engine.accept(OfferId(999_999), user(1), t(1)).unwrap_err().code, Code::OfferNotFound);
    assert_eq!(engine.accept(offer, user(1), t(60_000)).unwrap_err().code, Code::OfferExpired);
    let events = engine.accept(offer, user(1), t(59_999)).unwrap();
    assert!(matches!(events[0], RoutingEvent::Assigned { by: AssignedBy::Offer(o), .. } if o == offer));
    let view = engine.conversation(conv(1)).unwrap();
    assert_eq!((view.state, view.agent, view.holds_capacity), (RoutingState::Active, Some(user(1)), true));
    assert_eq!(engine.accept(offer, user(1), t(60_001)).unwrap_err().code, Code::OfferExpired);
}

#[test]
fn a_missed_offer_sets_the_agent_inactive_and_goes_to_someone_else() {
    let routing = WorkstreamRouting { missed_offer_sets_inactive: true, offer_timeout_ms: 1_000, ..Default::default() };
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, routing);
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    let events = engine.enqueue(item(1, 0), t(0)).unwrap();
    let offer = offer_id(&events, conv(1));
    add_agent(&mut engine, 2, 1, Presence::Available, 1);
    assert_eq!(engine.next_deadline(), Some(t(1_000)));
    assert!(engine.tick(t(999)).is_empty());
    let events = engine.tick(t(1_000));
    assert!(events.contains(&RoutingEvent::OfferExpired { offer, conversation: conv(1), agent: user(1) }));
    assert!(events.contains(&RoutingEvent::PresenceChanged {
        agent: user(1),
        presence: Presence::Inactive,
        reason: PresenceReason::MissedOffer
    }));
    assert_eq!(offers(&events), vec![(conv(1), user(2))]);
    assert_eq!(used(&engine, 1), 0);
    assert_eq!(engine.accept(offer, user(1), t(1_001)).unwrap_err().code, Code::OfferExpired);
    // Inactive counts as Away, which the default workstream does not allow.
    assert_eq!(engine.agent(user(1)).unwrap().base, BasePresence::Away);
    assert_eq!(engine.set_presence(user(1), Presence::Inactive, t(2)).unwrap_err().code, Code::InvalidPresence);
}

#[test]
fn a_rejected_conversation_goes_round_the_others_and_comes_back_after_the_cooldown() {
    let routing = WorkstreamRouting { reoffer_cooldown_ms: 10_000, ..Default::default() };
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, routing);
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    add_agent(&mut engine, 2, 1, Presence::Available, 0);
    let events = engine.enqueue(item(1, 0), t(0)).unwrap();
    assert_eq!(offers(&events), vec![(conv(1), user(1))]);
    let events = engine.reject(offer_id(&events, conv(1)), user(1), t(1)).unwrap();
    assert_eq!(offers(&events), vec![(conv(1), user(2))]);
    let events = engine.reject(offer_id(&events, conv(1)), user(2), t(2)).unwrap();
    assert!(offers(&events).is_empty(), "both declined within the cooldown");
    assert_eq!(engine.position(conv(1)), Some((queue(1), 1)));
    assert_eq!(engine.next_deadline(), Some(t(10_001)));
    let events = engine.tick(t(10_001));
    assert_eq!(offers(&events), vec![(conv(1), user(1))], "agent 1's cooldown ended first");
}

#[test]
fn rejecting_can_set_busy_dnd() {
    let routing = WorkstreamRouting { rejected_offer_sets_busy_dnd: true, ..Default::default() };
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, routing);
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    let events = engine.enqueue(item(1, 0), t(0)).unwrap();
    engine.reject(offer_id(&events, conv(1)), user(1), t(1)).unwrap();
    assert_eq!(engine.agent(user(1)).unwrap().presence, Presence::BusyDnd);
}

#[test]
fn a_revived_conversation_returns_to_its_agent_first_if_eligible() {
    let routing = WorkstreamRouting { affinity: true, ..Default::default() };
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, routing);
    add_agent(&mut engine, 1, 2, Presence::Available, 0);
    add_agent(&mut engine, 2, 5, Presence::Offline, 0);
    assert_eq!(route_and_accept(&mut engine, 1, 0), user(1));
    let events = engine.park(conv(1), t(10)).unwrap();
    assert!(events.contains(&RoutingEvent::CapacityReleased { conversation: conv(1), agent: user(1) }));
    engine.set_presence(user(2), Presence::Available, t(11)).unwrap();
    let events = engine.revive(conv(1), t(20)).unwrap();
    assert!(matches!(
        events.iter().find(|e| matches!(e, RoutingEvent::OfferIssued { .. })),
        Some(RoutingEvent::OfferIssued { agent, kind: OfferKind::Affinity, .. }) if *agent == user(1)
    ));
    engine.accept(offer_id(&events, conv(1)), user(1), t(21)).unwrap();
    engine.park(conv(1), t(30)).unwrap();
    engine.set_presence(user(1), Presence::Offline, t(31)).unwrap();
    let events = engine.revive(conv(1), t(40)).unwrap();
    assert_eq!(offers(&events), vec![(conv(1), user(2))], "the agent is offline, so anyone eligible gets it");
}

#[test]
fn the_agent_who_parked_a_conversation_can_resume_it_if_they_have_room() {
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, WorkstreamRouting::default());
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    route_and_accept(&mut engine, 1, 0);
    engine.park(conv(1), t(1)).unwrap();
    let events = engine.enqueue(item(2, 2), t(2)).unwrap();
    assert_eq!(offers(&events), vec![(conv(2), user(1))]);
    assert_eq!(engine.resume(conv(1), t(3)).unwrap_err().code, Code::AgentUnavailable);
    engine.reject(offer_id(&events, conv(2)), user(1), t(4)).unwrap();
    let events = engine.resume(conv(1), t(5)).unwrap();
    assert!(matches!(events[0], RoutingEvent::Assigned { by: AssignedBy::Resume, .. }));
    assert_eq!(engine.conversation(conv(1)).unwrap().state, RoutingState::Active);
    assert_eq!(used(&engine, 1), 1);
}

#[test]
fn affinity_skips_the_queue() {
    let routing = WorkstreamRouting { affinity: true, ..Default::default() };
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, routing);
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    route_and_accept(&mut engine, 1, 0);
    engine.enqueue(item(2, 1), t(1)).unwrap();
    engine.park(conv(1), t(2)).unwrap();
    // Parking freed agent 1, who got conversation 2; with them full, the revived one waits ahead of everyone.
    assert_eq!(engine.conversation(conv(2)).unwrap().state, RoutingState::Offered);
    let events = engine.revive(conv(1), t(3)).unwrap();
    assert!(offers(&events).is_empty());
    engine.enqueue(item(3, 4), t(4)).unwrap();
    // Agent 1 is full, so affinity was dropped: conversation 1 now waits by its revival time.
    assert_eq!(engine.waiting(queue(1)).unwrap(), vec![conv(1), conv(3)]);
}

#[test]
fn wrap_up_blocks_capacity_always_never_or_for_minutes() {
    for (blocking, held_after_end, held_after_4_min, held_after_5_min) in [
        (WrapUpBlocking::Never, false, false, false),
        (WrapUpBlocking::Always, true, true, true),
        (WrapUpBlocking::Minutes(5), true, true, false),
    ] {
        let routing = WorkstreamRouting { wrap_up: blocking, ..Default::default() };
        let mut engine = engine_with(AssignmentMethod::HighestCapacity, routing);
        add_agent(&mut engine, 1, 1, Presence::Available, 0);
        route_and_accept(&mut engine, 1, 0);
        engine.end(conv(1), t(1_000)).unwrap();
        assert_eq!(used(&engine, 1) == 1, held_after_end, "{blocking:?}");
        engine.tick(t(1_000 + 4 * 60_000));
        assert_eq!(used(&engine, 1) == 1, held_after_4_min, "{blocking:?}");
        let events = engine.tick(t(1_000 + 5 * 60_000));
        assert_eq!(used(&engine, 1) == 1, held_after_5_min, "{blocking:?}");
        assert_eq!(engine.conversation(conv(1)).unwrap().state, RoutingState::WrapUp);
        if blocking == WrapUpBlocking::Minutes(5) {
            assert!(events.contains(&RoutingEvent::CapacityReleased { conversation: conv(1), agent: user(1) }));
        }
        engine.close(conv(1), t(400_000)).unwrap();
        assert_eq!(used(&engine, 1), 0);
        assert!(engine.conversation(conv(1)).is_none());
    }
    let bad = WorkstreamRouting { wrap_up: WrapUpBlocking::Minutes(61), ..Default::default() };
    assert_eq!(Engine::default().upsert_workstream(stream(9), bad).unwrap_err().code, Code::InvalidField);
}

#[test]
fn a_full_agent_is_set_busy_and_back_to_available_only_if_routing_did_it() {
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, WorkstreamRouting::default());
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    let events = engine.enqueue(item(1, 0), t(0)).unwrap();
    let events = engine.accept(offer_id(&events, conv(1)), user(1), t(1)).unwrap();
    assert!(events.contains(&RoutingEvent::PresenceChanged {
        agent: user(1),
        presence: Presence::Busy,
        reason: PresenceReason::CapacityFull
    }));
    let events = engine.end(conv(1), t(2)).unwrap();
    assert!(events.contains(&RoutingEvent::PresenceChanged {
        agent: user(1),
        presence: Presence::Available,
        reason: PresenceReason::CapacityFreed
    }));
    route_and_accept(&mut engine, 2, 3);
    engine.set_presence(user(1), Presence::Busy, t(4)).unwrap();
    engine.end(conv(2), t(5)).unwrap();
    assert_eq!(engine.agent(user(1)).unwrap().presence, Presence::Busy, "a Busy the agent chose stays");
}

#[test]
fn transfer_to_a_queue_or_to_an_agent() {
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, WorkstreamRouting::default());
    engine.upsert_queue(queue(2), QueueSettings::default(), t(0));
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    engine
        .add_agent(user(2), AgentSettings { presence: Presence::Available, units: 1, ..Default::default() }, t(0))
        .unwrap();
    engine.join_queue(user(2), queue(2), t(0)).unwrap();
    route_and_accept(&mut engine, 1, 0);
    let events = engine.transfer(conv(1), TransferTarget::Queue(queue(2)), t(5)).unwrap();
    assert!(events.contains(&RoutingEvent::CapacityReleased { conversation: conv(1), agent: user(1) }));
    assert_eq!(offers(&events), vec![(conv(1), user(2))]);
    assert_eq!(engine.conversation(conv(1)).unwrap().queue, queue(2));
    engine.accept(offer_id(&events, conv(1)), user(2), t(6)).unwrap();

    let events = engine.transfer(conv(1), TransferTarget::Agent(user(1)), t(7)).unwrap();
    assert!(matches!(
        events.iter().find(|e| matches!(e, RoutingEvent::OfferIssued { .. })),
        Some(RoutingEvent::OfferIssued { agent, kind: OfferKind::Transfer, .. }) if *agent == user(1)
    ));
    // Agent 1 turns it down: it waits in queue 2, where agent 2 (just freed) gets it.
    let events = engine.reject(offer_id(&events, conv(1)), user(1), t(8)).unwrap();
    assert_eq!(offers(&events), vec![(conv(1), user(2))]);
    engine.accept(offer_id(&events, conv(1)), user(2), t(9)).unwrap();
    let err = engine.transfer(conv(1), TransferTarget::Agent(user(2)), t(10)).unwrap_err();
    assert_eq!(err.code, Code::InvalidStateTransition);
    engine.set_presence(user(1), Presence::Offline, t(10)).unwrap();
    let err = engine.transfer(conv(1), TransferTarget::Agent(user(1)), t(10)).unwrap_err();
    assert_eq!(err.code, Code::AgentUnavailable);
}

#[test]
fn queue_positions_change_as_conversations_arrive_and_leave() {
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, WorkstreamRouting::default());
    add_agent(&mut engine, 1, 1, Presence::Offline, 0);
    let positions = |events: &[RoutingEvent]| -> Vec<(ConversationId, usize)> {
        events
            .iter()
            .filter_map(|e| match e {
                RoutingEvent::PositionChanged { conversation, position, .. } => Some((*conversation, *position)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(positions(&engine.enqueue(item(1, 1), t(1)).unwrap()), vec![(conv(1), 1)]);
    assert_eq!(positions(&engine.enqueue(item(2, 2), t(2)).unwrap()), vec![(conv(2), 2)]);
    let mut urgent = item(3, 3);
    urgent.priority = 5;
    assert_eq!(positions(&engine.enqueue(urgent, t(3)).unwrap()), vec![(conv(3), 1), (conv(1), 2), (conv(2), 3)]);
    assert_eq!(engine.position(conv(2)), Some((queue(1), 3)));
    let events = engine.set_presence(user(1), Presence::Available, t(4)).unwrap();
    assert_eq!(offers(&events), vec![(conv(3), user(1))]);
    assert_eq!(positions(&events), vec![(conv(1), 1), (conv(2), 2)]);
    assert_eq!(engine.position(conv(3)), None);
    let events = engine.close(conv(2), t(5)).unwrap();
    assert!(positions(&events).is_empty(), "nobody behind it moved");
}

#[test]
fn pick_workstreams_wait_for_agents_and_push_ones_only_when_allowed() {
    let routing = WorkstreamRouting { distribution: Distribution::Pick, ..Default::default() };
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, routing);
    engine.upsert_workstream(stream(2), WorkstreamRouting::default()).unwrap();
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    engine
        .add_agent(user(2), AgentSettings { presence: Presence::Available, units: 1, ..Default::default() }, t(0))
        .unwrap();
    let events = engine.enqueue(item(1, 1), t(1)).unwrap();
    assert!(offers(&events).is_empty());
    assert_eq!(engine.pick(user(2), conv(1), t(2)).unwrap_err().code, Code::AgentUnavailable, "not a member");
    let events = engine.pick(user(1), conv(1), t(2)).unwrap();
    assert!(matches!(events[0], RoutingEvent::Assigned { by: AssignedBy::Pick, .. }));
    engine.enqueue(item(2, 3), t(3)).unwrap();
    assert_eq!(engine.pick(user(1), conv(2), t(4)).unwrap_err().code, Code::AgentUnavailable, "no room");
    assert_eq!(engine.pick(user(1), conv(1), t(4)).unwrap_err().code, Code::InvalidStateTransition);

    // A push conversation nobody can take: picking it is refused unless the workstream allows it regardless.
    let mut push = WorkItem::new(conv(3), stream(2), queue(1), t(5));
    push.channel = ChannelType::Sms;
    engine.enqueue(push, t(5)).unwrap();
    assert_eq!(engine.pick(user(1), conv(3), t(6)).unwrap_err().code, Code::AgentUnavailable);
    engine.upsert_workstream(stream(2), WorkstreamRouting { pick_regardless: true, ..Default::default() }).unwrap();
    engine.pick(user(1), conv(3), t(7)).unwrap();
    assert_eq!(used(&engine, 1), 2, "picking regardless of capacity may go over it");
}

#[test]
fn capacity_profiles_limit_items_and_can_block_other_profiles() {
    let chat = profile(1);
    let voice = profile(2);
    let mut engine = Engine::default();
    let demand =
        |p| WorkstreamRouting { capacity: CapacityDemand { units: 0, profile: Some(p) }, ..Default::default() };
    engine.upsert_workstream(stream(1), demand(chat)).unwrap();
    engine.upsert_workstream(stream(2), demand(voice)).unwrap();
    engine.upsert_queue(queue(1), QueueSettings::default(), t(0));
    let settings = AgentSettings {
        presence: Presence::Available,
        profiles: vec![
            AgentProfile { profile: chat, max_items: 2, block_others: false, reset: Default::default() },
            AgentProfile { profile: voice, max_items: 1, block_others: true, reset: Default::default() },
        ],
        ..Default::default()
    };
    engine.add_agent(user(1), settings, t(0)).unwrap();
    engine.join_queue(user(1), queue(1), t(0)).unwrap();
    let voice_call = WorkItem::new(conv(1), stream(2), queue(1), t(1));
    let events = engine.enqueue(voice_call, t(1)).unwrap();
    assert_eq!(offers(&events).len(), 1);
    let events = engine.enqueue(item(2, 2), t(2)).unwrap();
    assert!(offers(&events).is_empty(), "an active voice profile blocks chat");
    engine.close(conv(1), t(3)).unwrap();
    let events = engine.enqueue(item(3, 4), t(4)).unwrap();
    assert_eq!(offers(&events).len(), 1, "conversation 2 went when voice closed, then 3");
    let events = engine.enqueue(item(4, 5), t(5)).unwrap();
    assert!(offers(&events).is_empty(), "two chats is the chat profile's limit");
    let chat_use = engine.agent(user(1)).unwrap().profiles[0];
    assert_eq!((chat_use.profile, chat_use.used, chat_use.max_items, chat_use.resets_at), (chat, 2, 2, None));
}

#[test]
fn skill_matching_exact_and_closest() {
    let fr = skill(1);
    for (matching, expected) in [(SkillMatching::Exact, Some(user(2))), (SkillMatching::Closest, Some(user(1)))] {
        let routing = WorkstreamRouting { skill_matching: matching, ..Default::default() };
        let mut engine = engine_with(AssignmentMethod::HighestCapacity, routing);
        for (n, proficiency, units) in [(1, 5, 5), (2, 9, 0), (3, 0, 5)] {
            let settings = AgentSettings {
                presence: Presence::Available,
                units,
                skills: if n == 3 { vec![] } else { vec![AgentSkill { skill: fr, proficiency }] },
                ..Default::default()
            };
            engine.add_agent(user(n), settings, t(0)).unwrap();
            engine.join_queue(user(n), queue(1), t(0)).unwrap();
        }
        let mut w = item(1, 1);
        w.skills = vec![SkillRequirement { skill: fr, min_proficiency: Some(7) }];
        engine.enqueue(w, t(1)).unwrap();
        // Agent 2 has no free units yet: exact matching waits for them, closest takes the agent who falls short.
        let events = engine.set_unit_capacity(user(2), 1, t(2)).unwrap();
        let got = engine.conversation(conv(1)).unwrap().agent;
        assert_eq!(got, expected, "{matching:?} {events:?}");
    }
}

#[test]
fn bad_input_changes_nothing() {
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, WorkstreamRouting::default());
    add_agent(&mut engine, 1, 1, Presence::Offline, 0);
    let custom = Presence::Custom(CustomPresenceId(Uuid::from_u128(1)));
    assert_eq!(engine.set_presence(user(1), custom, t(1)).unwrap_err().code, Code::InvalidPresence);
    engine.define_presence(
        CustomPresenceId(Uuid::from_u128(1)),
        CustomPresence { name: "Training".into(), base: BasePresence::Away },
    );
    engine.set_presence(user(1), custom, t(1)).unwrap();
    assert_eq!(engine.agent(user(1)).unwrap().base, BasePresence::Away);
    assert_eq!(engine.set_unit_capacity(user(1), -1, t(1)).unwrap_err().code, Code::InvalidCapacity);
    assert_eq!(engine.set_presence(user(9), Presence::Available, t(1)).unwrap_err().code, Code::AgentNotFound);
    assert_eq!(engine.join_queue(user(1), queue(9), t(1)).unwrap_err().code, Code::QueueNotFound);
    assert_eq!(engine.close(conv(9), t(1)).unwrap_err().code, Code::ConversationNotFound);
    engine.enqueue(item(1, 1), t(1)).unwrap();
    assert_eq!(engine.enqueue(item(1, 1), t(1)).unwrap_err().code, Code::AlreadyExists);
    assert_eq!(engine.end(conv(1), t(1)).unwrap_err().code, Code::InvalidStateTransition);
    engine.close(conv(1), t(1)).unwrap();
    let mut live_chat = item(2, 2);
    live_chat.channel = ChannelType::LiveChat;
    engine.set_presence(user(1), Presence::Available, t(2)).unwrap();
    engine.enqueue(live_chat, t(2)).unwrap();
    let offer = engine.offers().next().unwrap().0;
    engine.accept(offer, user(1), t(3)).unwrap();
    assert_eq!(engine.park(conv(2), t(4)).unwrap_err().code, Code::InvalidStateTransition);
}

#[test]
fn only_the_top_block_is_considered_per_pass() {
    let mut engine = Engine::new(EngineSettings { block_size: 2, ..EngineSettings::default() });
    let routing = WorkstreamRouting { skill_matching: SkillMatching::Exact, ..Default::default() };
    engine.upsert_workstream(stream(1), routing).unwrap();
    engine.upsert_queue(queue(1), QueueSettings::default(), t(0));
    for n in 1..=3 {
        let mut w = item(n, n as i64);
        if n < 3 {
            w.skills = vec![SkillRequirement { skill: skill(1), min_proficiency: None }];
        }
        engine.enqueue(w, t(n as i64)).unwrap();
    }
    add_agent(&mut engine, 1, 3, Presence::Available, 10);
    // Nobody has the skill the top two need, so the third waits behind them (reference §6.3).
    assert_eq!(engine.waiting(queue(1)).unwrap().len(), 3);
    engine.set_skills(user(1), vec![AgentSkill { skill: skill(1), proficiency: 3 }], t(11)).unwrap();
    assert!(engine.waiting(queue(1)).unwrap().is_empty());
}

#[test]
fn draining_a_backlog_assigns_everything_in_order() {
    let assigned = drain(2_000, 100, 10);
    assert_eq!(assigned, 2_000);
}

/// Fills `queues` queues with `items` conversations, then brings `agents` agents (each in 5 queues, enough
/// capacity for everything) online one by one and accepts every offer. Returns the assignments.
fn drain(items: u128, agents: u128, queues: u128) -> usize {
    let mut engine = Engine::default();
    engine.upsert_workstream(stream(1), WorkstreamRouting::default()).unwrap();
    for q in 0..queues {
        engine.upsert_queue(queue(q), QueueSettings::default(), t(0));
    }
    // Twice what is needed, since each agent serves only 5 of the queues.
    let units = u32::try_from(2 * items.div_ceil(agents)).unwrap();
    for a in 0..agents {
        engine
            .add_agent(user(a), AgentSettings { presence: Presence::Offline, units, ..Default::default() }, t(0))
            .unwrap();
        for k in 0..5 {
            engine.join_queue(user(a), queue((a + k) % queues), t(0)).unwrap();
        }
    }
    for n in 0..items {
        let mut w = WorkItem::new(conv(n), stream(1), queue(n % queues), t(1));
        w.priority = (n % 3) as i32;
        engine.enqueue(w, t(1)).unwrap();
    }
    let mut assigned = 0;
    for a in 0..agents {
        let events = engine.set_presence(user(a), Presence::Available, t(2)).unwrap();
        for event in events {
            if let RoutingEvent::OfferIssued { offer, agent, .. } = event {
                engine.accept(offer, agent, t(3)).unwrap();
                assigned += 1;
            }
        }
    }
    assigned
}

/// Random sequences of everything agents, customers and the clock do, with the invariants checked after each step:
/// nobody holds a conversation another agent holds, capacity is never exceeded by an offer, offers respect
/// presence, and each queue is served in priority-then-arrival order among agents equally able to take it.
mod properties {
    use super::*;

    const AGENTS: usize = 5;
    const QUEUES: usize = 4;
    const COOLDOWN: i64 = 2_000;

    #[derive(Debug, Clone)]
    enum Op {
        Arrive { queue: usize, priority: i32 },
        Presence { agent: usize, presence: usize },
        Accept { k: usize },
        AcceptAsSomeoneElse { k: usize, agent: usize },
        Reject { k: usize },
        Tick,
        Release { k: usize },
        End { k: usize },
        Close { k: usize },
        Park { k: usize },
        Revive { k: usize },
        Resume { k: usize },
        Capacity { agent: usize, units: i64 },
        Join { agent: usize, queue: usize },
        Leave { agent: usize, queue: usize },
        TransferToQueue { k: usize, queue: usize },
        TransferToAgent { k: usize, agent: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        let k = 0..16usize;
        prop_oneof![
            6 => (0..QUEUES, 0..3i32).prop_map(|(queue, priority)| Op::Arrive { queue, priority }),
            3 => (0..AGENTS, 0..5usize).prop_map(|(agent, presence)| Op::Presence { agent, presence }),
            5 => k.clone().prop_map(|k| Op::Accept { k }),
            1 => (k.clone(), 0..AGENTS).prop_map(|(k, agent)| Op::AcceptAsSomeoneElse { k, agent }),
            2 => k.clone().prop_map(|k| Op::Reject { k }),
            3 => Just(Op::Tick),
            1 => k.clone().prop_map(|k| Op::Release { k }),
            2 => k.clone().prop_map(|k| Op::End { k }),
            2 => k.clone().prop_map(|k| Op::Close { k }),
            1 => k.clone().prop_map(|k| Op::Park { k }),
            1 => k.clone().prop_map(|k| Op::Revive { k }),
            1 => k.clone().prop_map(|k| Op::Resume { k }),
            2 => (0..AGENTS, -1..4i64).prop_map(|(agent, units)| Op::Capacity { agent, units }),
            2 => (0..AGENTS, 0..QUEUES).prop_map(|(agent, queue)| Op::Join { agent, queue }),
            1 => (0..AGENTS, 0..QUEUES).prop_map(|(agent, queue)| Op::Leave { agent, queue }),
            1 => (k.clone(), 0..QUEUES).prop_map(|(k, queue)| Op::TransferToQueue { k, queue }),
            1 => (k, 0..AGENTS).prop_map(|(k, agent)| Op::TransferToAgent { k, agent }),
        ]
    }

    const PRESENCES: [Presence; 5] =
        [Presence::Available, Presence::Busy, Presence::BusyDnd, Presence::Away, Presence::Offline];
    const ALLOWED: PresenceSet = PresenceSet::of(&[BasePresence::Available, BasePresence::Busy]);

    fn method(q: usize) -> AssignmentMethod {
        match q {
            0 => AssignmentMethod::HighestCapacity,
            1 => AssignmentMethod::RoundRobin,
            2 => AssignmentMethod::MostIdle,
            _ => AssignmentMethod::Custom(CustomAssignment {
                prioritization: Vec::new(),
                rules: vec![
                    AssignmentRule {
                        name: "available".into(),
                        conditions: vec![AgentCondition::PresenceIn(PresenceSet::of(&[BasePresence::Available]))],
                        order: AgentOrder::RoundRobin,
                        min_wait_ms: 0,
                    },
                    AssignmentRule {
                        name: "busy too".into(),
                        conditions: vec![AgentCondition::PresenceIn(ALLOWED)],
                        order: AgentOrder::AvailableUnits,
                        min_wait_ms: 0,
                    },
                ],
            }),
        }
    }

    fn units(ws: usize) -> u32 {
        1 + (ws % 2) as u32
    }

    fn routing(ws: usize) -> WorkstreamRouting {
        WorkstreamRouting {
            capacity: CapacityDemand { units: units(ws), profile: None },
            wrap_up: [WrapUpBlocking::Never, WrapUpBlocking::Always, WrapUpBlocking::Minutes(1), WrapUpBlocking::Never]
                [ws],
            affinity: ws.is_multiple_of(2),
            offer_timeout_ms: 1_000,
            missed_offer_sets_inactive: ws == 1,
            reoffer_cooldown_ms: COOLDOWN,
            ..WorkstreamRouting::default()
        }
    }

    #[derive(Default)]
    struct Model {
        now: i64,
        seq: u64,
        conversations: Vec<ConversationId>,
        workstream: BTreeMap<ConversationId, usize>,
        /// Priority, arrival and sequence: the routing order.
        order: BTreeMap<ConversationId, (i32, i64, u64)>,
        holder: BTreeMap<ConversationId, UserId>,
        declined_until: BTreeMap<(ConversationId, UserId), i64>,
    }

    fn setup() -> Engine {
        let mut engine = Engine::default();
        for q in 0..QUEUES {
            engine.upsert_workstream(stream(q as u128), routing(q)).unwrap();
            engine.upsert_queue(queue(q as u128), QueueSettings { priority: (q % 2) as i32, method: method(q) }, t(0));
        }
        for a in 0..AGENTS {
            let settings = AgentSettings { presence: Presence::Available, units: 2, ..AgentSettings::default() };
            engine.add_agent(user(a as u128), settings, t(0)).unwrap();
            engine.join_queue(user(a as u128), queue((a % QUEUES) as u128), t(0)).unwrap();
        }
        engine
    }

    fn in_state(engine: &Engine, model: &Model, state: RoutingState, k: usize) -> Option<ConversationId> {
        let found: Vec<ConversationId> = model
            .conversations
            .iter()
            .copied()
            .filter(|c| engine.conversation(*c).is_some_and(|v| v.state == state))
            .collect();
        (!found.is_empty()).then(|| found[k % found.len()])
    }

    fn nth_offer(engine: &Engine, k: usize) -> Option<(OfferId, OfferView)> {
        let all: Vec<_> = engine.offers().collect();
        (!all.is_empty()).then(|| all[k % all.len()])
    }

    fn apply(engine: &mut Engine, model: &mut Model, op: &Op) -> Vec<RoutingEvent> {
        let now = t(model.now);
        let result = match *op {
            Op::Arrive { queue: q, priority } => {
                let c = conv(model.conversations.len() as u128);
                model.conversations.push(c);
                model.workstream.insert(c, q);
                model.seq += 1;
                model.order.insert(c, (priority, model.now, model.seq));
                let mut w = WorkItem::new(c, stream(q as u128), queue(q as u128), now);
                w.priority = priority;
                engine.enqueue(w, now)
            }
            Op::Presence { agent, presence } => engine.set_presence(user(agent as u128), PRESENCES[presence], now),
            Op::Accept { k } => match nth_offer(engine, k) {
                Some((id, view)) => engine.accept(id, view.agent, now),
                None => Ok(Vec::new()),
            },
            Op::AcceptAsSomeoneElse { k, agent } => match nth_offer(engine, k) {
                Some((id, view)) if view.agent != user(agent as u128) => {
                    let err = engine.accept(id, user(agent as u128), now).unwrap_err();
                    assert_eq!(err.code, Code::OfferNotFound);
                    Ok(Vec::new())
                }
                _ => Ok(Vec::new()),
            },
            Op::Reject { k } => match nth_offer(engine, k) {
                Some((id, view)) => engine.reject(id, view.agent, now),
                None => Ok(Vec::new()),
            },
            Op::Tick => Ok(engine.tick(now)),
            Op::Release { k } => match in_state(engine, model, RoutingState::Active, k) {
                Some(c) => {
                    let agent = engine.conversation(c).unwrap().agent.unwrap();
                    model.declined_until.insert((c, agent), model.now + COOLDOWN);
                    engine.release(c, now)
                }
                None => Ok(Vec::new()),
            },
            Op::End { k } => match in_state(engine, model, RoutingState::Active, k) {
                Some(c) => engine.end(c, now),
                None => Ok(Vec::new()),
            },
            Op::Close { k } => match model.conversations.get(k % model.conversations.len().max(1)) {
                Some(&c) => engine.close(c, now),
                None => Ok(Vec::new()),
            },
            Op::Park { k } => match in_state(engine, model, RoutingState::Active, k) {
                Some(c) => engine.park(c, now),
                None => Ok(Vec::new()),
            },
            Op::Revive { k } => match in_state(engine, model, RoutingState::Waiting, k) {
                Some(c) => {
                    model.seq += 1;
                    let priority = model.order[&c].0;
                    model.order.insert(c, (priority, model.now, model.seq));
                    model.declined_until.retain(|(d, _), _| *d != c);
                    engine.revive(c, now)
                }
                None => Ok(Vec::new()),
            },
            Op::Resume { k } => match in_state(engine, model, RoutingState::Waiting, k) {
                Some(c) => engine.resume(c, now),
                None => Ok(Vec::new()),
            },
            Op::Capacity { agent, units } => engine.set_unit_capacity(user(agent as u128), units, now),
            Op::Join { agent, queue: q } => engine.join_queue(user(agent as u128), queue(q as u128), now),
            Op::Leave { agent, queue: q } => engine.leave_queue(user(agent as u128), queue(q as u128)).map(|()| vec![]),
            Op::TransferToQueue { k, queue: q } => match in_state(engine, model, RoutingState::Active, k) {
                Some(c) => {
                    model.declined_until.retain(|(d, _), _| *d != c);
                    engine.transfer(c, TransferTarget::Queue(queue(q as u128)), now)
                }
                None => Ok(Vec::new()),
            },
            Op::TransferToAgent { k, agent } => match in_state(engine, model, RoutingState::Open, k) {
                Some(c) => engine.transfer(c, TransferTarget::Agent(user(agent as u128)), now),
                None => Ok(Vec::new()),
            },
        };
        match result {
            Ok(events) => events,
            Err(err) => {
                assert!(
                    matches!(
                        err.code,
                        Code::InvalidCapacity
                            | Code::OfferExpired
                            | Code::AgentUnavailable
                            | Code::InvalidStateTransition
                            | Code::ConversationNotFound
                    ),
                    "{op:?}: {err}"
                );
                Vec::new()
            }
        }
    }

    fn check(engine: &Engine, model: &mut Model, op: &Op, events: &[RoutingEvent]) {
        let now = model.now;
        for event in events {
            match *event {
                RoutingEvent::OfferIssued { conversation, agent, .. } => {
                    assert_eq!(model.holder.insert(conversation, agent), None, "offered while held: {op:?}");
                }
                RoutingEvent::OfferRejected { conversation, agent, .. }
                | RoutingEvent::OfferExpired { conversation, agent, .. } => {
                    assert_eq!(model.holder.remove(&conversation), Some(agent));
                    model.declined_until.insert((conversation, agent), now + COOLDOWN);
                }
                RoutingEvent::OfferWithdrawn { conversation, agent, .. }
                | RoutingEvent::CapacityReleased { conversation, agent } => {
                    assert_eq!(model.holder.remove(&conversation), Some(agent));
                }
                RoutingEvent::Assigned { conversation, agent, by, .. } => {
                    match by {
                        AssignedBy::Offer(_) => assert_eq!(model.holder.get(&conversation), Some(&agent)),
                        AssignedBy::Pick | AssignedBy::Resume => {
                            assert_eq!(model.holder.insert(conversation, agent), None)
                        }
                    }
                    model.declined_until.retain(|(d, _), _| *d != conversation);
                }
                _ => {}
            }
        }
        // The engine agrees with the events on who holds what, and capacity is the sum of what is held.
        let mut used: BTreeMap<UserId, u32> = BTreeMap::new();
        for &c in &model.conversations {
            let view = engine.conversation(c);
            let holds = view.as_ref().is_some_and(|v| v.holds_capacity);
            assert_eq!(holds, model.holder.contains_key(&c), "{c} after {op:?}");
            if let Some(&agent) = model.holder.get(&c) {
                assert_eq!(view.unwrap().agent, Some(agent));
                *used.entry(agent).or_default() += units(model.workstream[&c]);
            }
        }
        let pending: BTreeSet<ConversationId> = engine.offers().map(|(_, o)| o.conversation).collect();
        assert_eq!(pending.len(), engine.offers().count(), "two offers for one conversation");
        for a in 0..AGENTS {
            let view = engine.agent(user(a as u128)).unwrap();
            assert_eq!(view.used_units, used.get(&user(a as u128)).copied().unwrap_or(0));
        }
        for event in events {
            let RoutingEvent::OfferIssued { conversation: x, agent, queue: q, kind, .. } = *event else { continue };
            let view = engine.agent(agent).unwrap();
            assert!(view.used_units <= view.total_units, "over capacity after {op:?}");
            let q = (0..QUEUES).find(|&i| queue(i as u128) == q).unwrap();
            match (q, kind) {
                (_, OfferKind::Transfer) => assert_ne!(view.base, BasePresence::Offline),
                (2, OfferKind::Queue) => assert_ne!(view.base, BasePresence::Offline),
                _ => assert!(ALLOWED.contains(view.base), "offered to {:?} after {op:?}", view.presence),
            }
            if kind != OfferKind::Queue {
                continue;
            }
            // Nothing still waiting in the queue was ahead of the offered conversation for this agent.
            let ahead = |y: ConversationId| {
                let (yp, ye, ys) = model.order[&y];
                let (xp, xe, xs) = model.order[&x];
                if q == 3 { (ye, ys) < (xe, xs) } else { (-yp, ye, ys) < (-xp, xe, xs) }
            };
            for y in engine.waiting(queue(q as u128)).unwrap() {
                let cooling = model.declined_until.get(&(y, agent)).is_some_and(|&until| now < until);
                let needs_more = units(model.workstream[&y]) > units(model.workstream[&x]);
                assert!(!ahead(y) || cooling || needs_more, "{y} waits ahead of {x} offered to {agent} ({op:?})");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        #[test]
        fn routing_invariants_hold_after_every_step(steps in prop::collection::vec((0..400i64, op()), 1..120)) {
            let mut engine = setup();
            let mut model = Model::default();
            for (dt, op) in &steps {
                model.now += dt;
                let events = apply(&mut engine, &mut model, op);
                check(&engine, &mut model, op, &events);
            }
        }

        #[test]
        fn the_same_calls_give_the_same_events(steps in prop::collection::vec((0..400i64, op()), 1..40)) {
            let run = || {
                let mut engine = setup();
                let mut model = Model::default();
                let mut all = Vec::new();
                for (dt, op) in &steps {
                    model.now += dt;
                    all.extend(apply(&mut engine, &mut model, op));
                }
                all
            };
            prop_assert_eq!(run(), run());
        }
    }
}

#[test]
fn availability_counts_members_who_could_take_one_now() {
    let mut engine = engine_with(AssignmentMethod::HighestCapacity, WorkstreamRouting::default());
    add_agent(&mut engine, 1, 1, Presence::Available, 0);
    add_agent(&mut engine, 2, 1, Presence::Away, 0);
    assert_eq!(engine.availability(queue(1), stream(1)).unwrap(), Availability { agents: 1, waiting: 0 });
    engine.enqueue(item(1, 1), t(1)).unwrap();
    engine.enqueue(item(2, 2), t(2)).unwrap();
    assert_eq!(engine.availability(queue(1), stream(1)).unwrap(), Availability { agents: 0, waiting: 1 });
    assert_eq!(engine.availability(queue(9), stream(1)).unwrap_err().code, Code::QueueNotFound);
}

#[test]
fn the_engine_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Engine>();
}
