//! Capacity profile reset (reference §6.4): a periodic profile counts assignments per period of local time and
//! gives nothing back on release; on-release profiles are unchanged.

use serde_json::json;
use switchboard_domain::{
    Code, Timestamp,
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
    routing::{
        capacity_reset::{ProfileReset, ResetPeriod},
        engine::*,
    },
    setup::ChannelType,
};
use uuid::Uuid;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap_or_else(|| panic!("bad test timestamp {s}"))
}

fn period(every: i64, tz: &str, at: &str) -> (String, String) {
    let (start, end) = ResetPeriod::new(every, tz).unwrap().period(ts(at));
    (start.to_string(), end.to_string())
}

const CHAT: CapacityProfileId = CapacityProfileId(Uuid::from_u128(0xF001));

fn agent() -> UserId {
    UserId::from(Uuid::from_u128(0xA001))
}

fn queue() -> QueueId {
    QueueId::from(Uuid::from_u128(0xB001))
}

fn stream() -> WorkstreamId {
    WorkstreamId::from(Uuid::from_u128(0xD001))
}

fn conv(n: u128) -> ConversationId {
    ConversationId::from(Uuid::from_u128(0xC000 + n))
}

/// One agent, Available, holding the chat profile (max 1) with `reset`; one queue; a workstream that consumes
/// only the profile.
fn engine(reset: ProfileReset, now: Timestamp) -> Engine {
    let mut engine = Engine::default();
    let routing = WorkstreamRouting {
        capacity: CapacityDemand { units: 0, profile: Some(CHAT) },
        affinity: true,
        ..Default::default()
    };
    engine.upsert_workstream(stream(), routing).unwrap();
    engine.upsert_queue(queue(), QueueSettings::default(), now);
    let settings = AgentSettings {
        presence: Presence::Available,
        profiles: vec![AgentProfile { profile: CHAT, max_items: 1, block_others: false, reset }],
        ..Default::default()
    };
    engine.add_agent(agent(), settings, now).unwrap();
    engine.join_queue(agent(), queue(), now).unwrap();
    engine
}

fn daily_paris() -> ProfileReset {
    ProfileReset::Every(ResetPeriod::new(1440, "Europe/Paris").unwrap())
}

fn enqueue(engine: &mut Engine, n: u128, now: Timestamp) -> Vec<RoutingEvent> {
    let mut item = WorkItem::new(conv(n), stream(), queue(), now);
    item.channel = ChannelType::MessagingApi;
    engine.enqueue(item, now).unwrap()
}

fn offered(events: &[RoutingEvent]) -> Vec<(OfferId, ConversationId)> {
    events
        .iter()
        .filter_map(|e| match e {
            RoutingEvent::OfferIssued { offer, conversation, .. } => Some((*offer, *conversation)),
            _ => None,
        })
        .collect()
}

fn presence_reasons(events: &[RoutingEvent]) -> Vec<PresenceReason> {
    events
        .iter()
        .filter_map(|e| match e {
            RoutingEvent::PresenceChanged { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

fn chat_use(engine: &Engine) -> ProfileUse {
    engine.agent(agent()).unwrap().profiles[0]
}

/// Offers conversation `n`, accepts it and ends it, returning the events of the accept.
fn serve(engine: &mut Engine, n: u128, now: Timestamp) -> Vec<RoutingEvent> {
    let events = enqueue(engine, n, now);
    let [(offer, c)] = offered(&events)[..] else { panic!("conversation {n} not offered: {events:?}") };
    assert_eq!(c, conv(n));
    let accepted = engine.accept(offer, agent(), now).unwrap();
    engine.end(conv(n), now).unwrap();
    accepted
}

#[test]
fn a_periodic_profile_gives_nothing_back_on_release() {
    let now = ts("2026-06-10T09:00:00Z");
    let mut engine = engine(daily_paris(), now);
    let accepted = serve(&mut engine, 1, now);
    assert_eq!(presence_reasons(&accepted), vec![PresenceReason::CapacityFull]);
    assert_eq!(chat_use(&engine).used, 1, "the ended conversation still counts today");
    engine.close(conv(1), now).unwrap();
    let events = enqueue(&mut engine, 2, now.plus_millis(1));
    assert!(offered(&events).is_empty(), "the day's one conversation is used: {events:?}");
    assert_eq!(engine.agent(agent()).unwrap().presence, Presence::Busy);
    // A conversation released back to the queue is not an assignment taken back either.
    assert_eq!(chat_use(&engine).used, 1);
}

#[test]
fn the_reset_frees_the_agent_and_serves_the_queue_at_local_midnight() {
    let now = ts("2026-06-10T09:00:00Z");
    let midnight = ts("2026-06-10T22:00:00Z"); // 00:00 in Paris (UTC+2)
    let mut engine = engine(daily_paris(), now);
    serve(&mut engine, 1, now);
    enqueue(&mut engine, 2, now.plus_millis(1));
    assert_eq!(chat_use(&engine).resets_at, Some(midnight));
    assert_eq!(engine.next_deadline(), Some(midnight));

    let before = engine.tick(midnight.plus_millis(-1));
    assert!(offered(&before).is_empty(), "nothing resets before midnight: {before:?}");
    let events = engine.tick(midnight);
    assert_eq!(presence_reasons(&events), vec![PresenceReason::CapacityFreed]);
    let [(offer, c)] = offered(&events)[..] else { panic!("the waiting conversation was not offered: {events:?}") };
    assert_eq!(c, conv(2));
    assert_eq!(engine.offer(offer).unwrap().agent, agent());
    let next = ts("2026-06-11T22:00:00Z");
    assert_eq!(chat_use(&engine), ProfileUse { profile: CHAT, used: 1, max_items: 1, resets_at: Some(next) });
}

#[test]
fn an_on_release_profile_frees_on_end_as_before() {
    let now = ts("2026-06-10T09:00:00Z");
    let mut engine = engine(ProfileReset::OnRelease, now);
    let [(offer, _)] = offered(&enqueue(&mut engine, 1, now))[..] else { panic!("not offered") };
    engine.accept(offer, agent(), now).unwrap();
    let events = enqueue(&mut engine, 2, now);
    assert!(offered(&events).is_empty());
    let events = engine.end(conv(1), now.plus_millis(5)).unwrap();
    assert_eq!(presence_reasons(&events), vec![PresenceReason::CapacityFreed]);
    assert_eq!(offered(&events).iter().map(|o| o.1).collect::<Vec<_>>(), vec![conv(2)]);
    assert_eq!(chat_use(&engine).resets_at, None);
    assert_eq!(engine.next_deadline(), engine.offers().map(|o| o.1.expires_at).min());
}

#[test]
fn an_offer_pending_at_the_reset_counts_in_the_period_it_is_accepted_in() {
    let before = ts("2026-06-10T21:59:30Z");
    let midnight = ts("2026-06-10T22:00:00Z");
    let mut engine = engine(daily_paris(), before);
    let [(offer, _)] = offered(&enqueue(&mut engine, 1, before))[..] else { panic!("not offered") };
    engine.tick(midnight);
    assert_eq!(chat_use(&engine).used, 1, "the pending offer still reserves its place");
    engine.accept(offer, agent(), midnight.plus_millis(1)).unwrap();
    engine.end(conv(1), midnight.plus_millis(2)).unwrap();
    assert_eq!(chat_use(&engine).used, 1, "accepted after midnight, it is the new day's conversation");
    let events = enqueue(&mut engine, 2, midnight.plus_millis(3));
    assert!(offered(&events).is_empty());
}

#[test]
fn a_rejected_offer_gives_its_place_back() {
    let now = ts("2026-06-10T09:00:00Z");
    let mut engine = engine(daily_paris(), now);
    let [(offer, _)] = offered(&enqueue(&mut engine, 1, now))[..] else { panic!("not offered") };
    engine.reject(offer, agent(), now).unwrap();
    assert_eq!(chat_use(&engine).used, 0, "an offer turned down is not an assignment");
}

#[test]
fn a_conversation_parked_and_resumed_in_one_period_counts_once() {
    let now = ts("2026-06-10T09:00:00Z");
    let mut engine = engine(daily_paris(), now);
    let [(offer, _)] = offered(&enqueue(&mut engine, 1, now))[..] else { panic!("not offered") };
    engine.accept(offer, agent(), now).unwrap();
    engine.park(conv(1), now).unwrap();
    engine.resume(conv(1), now.plus_millis(1)).unwrap();
    assert_eq!(chat_use(&engine).used, 1);
}

#[test]
fn restored_assignments_count_only_within_the_current_period() {
    let now = ts("2026-06-10T09:00:00Z");
    let mut engine = engine(daily_paris(), now);
    let start = ts("2026-06-09T22:00:00Z");
    assert_eq!(engine.period_start(agent()), Some(start));
    engine.restore_assignment(agent(), conv(1), stream(), start.plus_millis(-1), now).unwrap();
    assert_eq!(chat_use(&engine).used, 0, "yesterday's assignment is not today's");
    let events = engine.restore_assignment(agent(), conv(2), stream(), start, now).unwrap();
    engine.restore_assignment(agent(), conv(2), stream(), start.plus_millis(5), now).unwrap();
    assert_eq!(chat_use(&engine).used, 1, "one conversation, however often it was assigned");
    assert_eq!(presence_reasons(&events), vec![PresenceReason::CapacityFull]);
}

#[test]
fn daily_periods_follow_local_midnight_across_dst() {
    // Paris springs forward on 2026-03-29 (a 23-hour day) and falls back on 2026-10-25 (25 hours).
    assert_eq!(
        period(1440, "Europe/Paris", "2026-03-29T12:00:00Z"),
        ("2026-03-28T23:00:00.000Z".into(), "2026-03-29T22:00:00.000Z".into())
    );
    assert_eq!(
        period(1440, "Europe/Paris", "2026-10-25T12:00:00Z"),
        ("2026-10-24T22:00:00.000Z".into(), "2026-10-25T23:00:00.000Z".into())
    );
    // The boundary itself starts the next period.
    assert_eq!(period(1440, "Europe/Paris", "2026-03-29T22:00:00Z").0, "2026-03-29T22:00:00.000Z");
    // Santiago skips midnight itself (00:00 → 01:00 on 2026-09-06): the day starts when the clocks jump.
    assert_eq!(
        period(1440, "America/Santiago", "2026-09-06T12:00:00Z"),
        ("2026-09-06T04:00:00.000Z".into(), "2026-09-07T03:00:00.000Z".into())
    );
    assert_eq!(
        period(1440, "UTC", "2026-09-06T12:00:00Z"),
        ("2026-09-06T00:00:00.000Z".into(), "2026-09-07T00:00:00.000Z".into())
    );
}

#[test]
fn hourly_periods_across_dst() {
    // Spring forward at 01:00Z: local 02:00 does not exist, so the hour starting at local 01:00 ends when the
    // clocks jump to 03:00.
    assert_eq!(
        period(60, "Europe/Paris", "2026-03-29T00:30:00Z"),
        ("2026-03-29T00:00:00.000Z".into(), "2026-03-29T01:00:00.000Z".into())
    );
    assert_eq!(
        period(60, "Europe/Paris", "2026-03-29T01:30:00Z"),
        ("2026-03-29T01:00:00.000Z".into(), "2026-03-29T02:00:00.000Z".into())
    );
    // Fall back at 01:00Z: local 02:00-03:00 happens twice and the hour from its first occurrence runs to 03:00.
    assert_eq!(
        period(60, "Europe/Paris", "2026-10-25T01:30:00Z"),
        ("2026-10-25T00:00:00.000Z".into(), "2026-10-25T02:00:00.000Z".into())
    );
    // Twelve hours: local midnight and noon.
    assert_eq!(
        period(720, "Asia/Kolkata", "2026-06-10T08:00:00Z"),
        ("2026-06-10T06:30:00.000Z".into(), "2026-06-10T18:30:00.000Z".into())
    );
}

#[test]
fn the_engine_resets_at_local_midnight_on_a_dst_day() {
    let now = ts("2026-03-28T12:00:00Z");
    let mut engine = engine(daily_paris(), now);
    serve(&mut engine, 1, now);
    enqueue(&mut engine, 2, now);
    assert_eq!(engine.next_deadline(), Some(ts("2026-03-28T23:00:00Z")));
    engine.tick(ts("2026-03-28T23:00:00Z"));
    // The 23-hour day ends at the next local midnight, in summer time.
    assert_eq!(chat_use(&engine).resets_at, Some(ts("2026-03-29T22:00:00Z")));
}

#[test]
fn changing_the_reset_keeps_what_is_held_and_starts_a_new_period() {
    let now = ts("2026-06-10T09:00:00Z");
    let mut engine = engine(daily_paris(), now);
    serve(&mut engine, 1, now);
    let on_release = AgentProfile { profile: CHAT, max_items: 1, block_others: false, reset: ProfileReset::OnRelease };
    let events = engine.set_profile(agent(), on_release, now).unwrap();
    assert_eq!(presence_reasons(&events), vec![PresenceReason::CapacityFreed], "the ended conversation holds nothing");
    assert_eq!(chat_use(&engine), ProfileUse { profile: CHAT, used: 0, max_items: 1, resets_at: None });
}

#[test]
fn reset_json_is_checked_with_a_field_path() {
    let ok = |v: serde_json::Value| ProfileReset::from_json(&v).unwrap();
    assert_eq!(ok(json!("on_release")), ProfileReset::OnRelease);
    assert_eq!(ok(json!({"every_minutes": 60})), ProfileReset::Every(ResetPeriod::new(60, "UTC").unwrap()));
    assert_eq!(
        serde_json::to_value(daily_paris()).unwrap(),
        json!({"every_minutes": 1440, "time_zone": "Europe/Paris"})
    );
    assert_eq!(serde_json::to_value(ProfileReset::OnRelease).unwrap(), json!("on_release"));
    for (bad, field) in [
        (json!({"every_minutes": 7}), "reset.every_minutes"),
        (json!({"every_minutes": 0}), "reset.every_minutes"),
        (json!({"every_minutes": -60}), "reset.every_minutes"),
        (json!({"every_minutes": 2880}), "reset.every_minutes"),
        (json!({"every_minutes": "60"}), "reset.every_minutes"),
        (json!({"every_minutes": 1.5}), "reset.every_minutes"),
        (json!({"time_zone": "UTC"}), "reset.every_minutes"),
        (json!({"every_minutes": 60, "time_zone": "Mars/Olympus"}), "reset.time_zone"),
        (json!({"every_minutes": 60, "time_zone": 1}), "reset.time_zone"),
        (json!({"every_minutes": 60, "hours": 1}), "reset.hours"),
        (json!("daily"), "reset"),
        (json!(60), "reset"),
        (json!(null), "reset"),
    ] {
        let e = ProfileReset::from_json(&bad).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (Code::InvalidCapacity, Some(field)), "{bad}");
    }
}
