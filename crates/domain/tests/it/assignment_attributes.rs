//! Custom assignment rules on agent attributes and working hours (reference §6.3): each condition and the
//! attribute order, compiled from the JSON an administrator writes and run by the engine on its own time.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use switchboard_domain::{
    Code, Timestamp,
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
    routing::{
        agent_attributes::{AgentAttribute, engine_form},
        assignment_rules::CustomAssignmentSpec,
        calendar::{Calendar, CalendarSpec},
        engine::*,
    },
    setup::ChannelType,
};
use uuid::Uuid;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn user(n: u128) -> UserId {
    UserId::from(Uuid::from_u128(0xA000 + n))
}

fn conv(n: u128) -> ConversationId {
    ConversationId::from(Uuid::from_u128(0xC000 + n))
}

fn queue() -> QueueId {
    QueueId::from(Uuid::from_u128(0xB001))
}

fn stream() -> WorkstreamId {
    WorkstreamId::from(Uuid::from_u128(0xD001))
}

/// A queue whose custom method is `assignment` (a JSON list of rules), with context variable `Region` declared.
fn compile(assignment: Value) -> Result<CustomAssignment, switchboard_domain::Error> {
    let spec: CustomAssignmentSpec = serde_json::from_value(json!({
        "context_variables": { "Region": "text" },
        "assignment": assignment,
    }))
    .unwrap();
    spec.compile(|_| SkillId(Uuid::nil()))
}

fn engine(assignment: Value, now: Timestamp) -> Engine {
    let mut engine = Engine::default();
    engine.upsert_workstream(stream(), WorkstreamRouting::default()).unwrap();
    let method = AssignmentMethod::Custom(compile(assignment).unwrap());
    engine.upsert_queue(queue(), QueueSettings { priority: 0, method }, now);
    engine
}

/// Agent `n`, Available with one unit, a member of the queue, with these attributes and calendar.
fn agent(engine: &mut Engine, n: u128, attributes: Value, calendar: Option<Value>, now: Timestamp) {
    let attributes: BTreeMap<String, AgentAttribute> = serde_json::from_value(attributes).unwrap();
    let calendar = calendar.map(|c| Calendar::new(&serde_json::from_value::<CalendarSpec>(c).unwrap()).unwrap());
    let settings = AgentSettings {
        presence: Presence::Available,
        units: 1,
        attributes: engine_form(&attributes),
        calendar,
        ..AgentSettings::default()
    };
    engine.add_agent(user(n), settings, now).unwrap();
    engine.join_queue(user(n), queue(), now).unwrap();
}

/// A conversation carrying these work-item attributes (`context.Region`, `language`, …).
fn item(n: u128, attributes: &[(&str, AttributeValue)], now: Timestamp) -> WorkItem {
    let mut w = WorkItem::new(conv(n), stream(), queue(), now);
    w.attributes = attributes.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    w
}

fn offered(events: &[RoutingEvent]) -> Vec<UserId> {
    events
        .iter()
        .filter_map(|e| match e {
            RoutingEvent::OfferIssued { agent, .. } => Some(*agent),
            _ => None,
        })
        .collect()
}

const NOON: &str = "2026-01-05T12:00:00Z";

/// Who of agents 1.. (with these attributes) one conversation with `item_attrs` is offered to under `rule`.
fn route(
    conditions: Value,
    order_by: Option<Value>,
    agents: &[Value],
    item_attrs: &[(&str, AttributeValue)],
) -> Vec<UserId> {
    let now = ts(NOON);
    let mut rule = json!({ "conditions": conditions });
    if let Some(o) = order_by {
        rule["order_by"] = o;
    }
    let mut e = engine(json!([rule]), now);
    for (i, attrs) in agents.iter().enumerate() {
        agent(&mut e, i as u128 + 1, attrs.clone(), None, now);
    }
    offered(&e.enqueue(item(1, item_attrs, now), now).unwrap())
}

fn text(s: &str) -> AttributeValue {
    AttributeValue::Text(s.to_string())
}

#[test]
fn equals_a_static_value_text_ignoring_case_numbers_and_booleans_by_type() {
    let agents = [json!({ "Region": "US" }), json!({ "Region": "eu", "Seniority": 3, "Certified": true }), json!({})];
    let region = |v: Value| route(json!([{ "attribute": { "name": "Region", "equals": v } }]), None, &agents, &[]);
    assert_eq!(region(json!("EU")), vec![user(2)]);
    assert_eq!(region(json!("APAC")), vec![], "nobody has it");
    let seniority =
        |v: Value| route(json!([{ "attribute": { "name": "Seniority", "equals": v } }]), None, &agents, &[]);
    assert_eq!(seniority(json!(3)), vec![user(2)]);
    assert_eq!(seniority(json!("3")), vec![], "text is not the number");
    let certified = route(json!([{ "attribute": { "name": "Certified", "equals": true } }]), None, &agents, &[]);
    assert_eq!(certified, vec![user(2)]);
}

#[test]
fn a_missing_attribute_never_matches() {
    let agents = [json!({}), json!({ "Other": "EU" })];
    for condition in [
        json!({ "attribute": { "name": "Region", "equals": "EU" } }),
        json!({ "attribute": { "name": "Region", "equals_context": "Region" } }),
        json!({ "attribute": { "name": "Seniority", "at_least": 0 } }),
        json!({ "attribute": { "name": "Seniority", "at_most": 100 } }),
    ] {
        let got = route(json!([condition.clone()]), None, &agents, &[("context.Region", text("EU"))]);
        assert_eq!(got, vec![], "{condition}");
    }
}

#[test]
fn at_least_and_at_most_compare_numbers_only() {
    let agents = [json!({ "Seniority": 2 }), json!({ "Seniority": 5 }), json!({ "Seniority": "9" })];
    let at = |c: Value| route(json!([{ "attribute": c }]), None, &agents, &[]);
    assert_eq!(at(json!({ "name": "Seniority", "at_least": 3 })), vec![user(2)]);
    assert_eq!(at(json!({ "name": "Seniority", "at_most": 3 })), vec![user(1)]);
    assert_eq!(at(json!({ "name": "Seniority", "at_least": 5, "at_most": 5 })), vec![user(2)], "bounds included");
    assert_eq!(at(json!({ "name": "Seniority", "at_least": 6 })), vec![], "text is not compared as a number");
}

#[test]
fn dynamic_equality_reads_the_conversation() {
    let agents = [json!({ "Region": "US", "Lang": "fr" }), json!({ "Region": "EU", "Channel": "sms" })];
    let by_region = json!([{ "attribute": { "name": "Region", "equals_context": "Region" } }]);
    assert_eq!(route(by_region.clone(), None, &agents, &[("context.Region", text("eu"))]), vec![user(2)]);
    assert_eq!(route(by_region.clone(), None, &agents, &[("context.Region", text("US"))]), vec![user(1)]);
    assert_eq!(route(by_region, None, &agents, &[]), vec![], "a conversation without the variable matches nobody");

    let by_language = json!([{ "attribute": { "name": "Lang", "equals_field": "language" } }]);
    assert_eq!(route(by_language, None, &agents, &[("language", text("FR"))]), vec![user(1)]);

    // Conversations here are Messaging API ones; only an agent whose Channel says so matches.
    let by_channel = json!([{ "attribute": { "name": "Channel", "equals_field": "channel" } }]);
    assert_eq!(route(by_channel.clone(), None, &agents, &[]), vec![]);
    let agents = [json!({ "Channel": ChannelType::MessagingApi.as_str() })];
    assert_eq!(route(by_channel, None, &agents, &[]), vec![user(1)]);
}

#[test]
fn order_by_an_attribute_puts_agents_without_it_last() {
    let agents = [json!({ "Seniority": 2 }), json!({}), json!({ "Seniority": 7 }), json!({ "Seniority": -1.5 })];
    let order = |direction: &str| json!({ "attribute": { "name": "Seniority", "direction": direction } });
    assert_eq!(route(json!([]), Some(order("descending")), &agents, &[]), vec![user(3)]);
    assert_eq!(route(json!([]), Some(order("ascending")), &agents, &[]), vec![user(4)]);

    // Successive conversations go down the order; the agent without the attribute comes last, not never.
    let now = ts(NOON);
    let mut e = engine(json!([{ "order_by": order("descending") }]), now);
    for (i, attrs) in agents.iter().enumerate() {
        agent(&mut e, i as u128 + 1, attrs.clone(), None, now);
    }
    let got: Vec<UserId> = (1..=4).flat_map(|n| offered(&e.enqueue(item(n, &[], now), now).unwrap())).collect();
    assert_eq!(got, vec![user(3), user(1), user(4), user(2)]);
}

#[test]
fn equal_attributes_tie_to_the_agent_assigned_least_recently() {
    let now = ts(NOON);
    let order = json!({ "attribute": { "name": "Tier", "direction": "ascending" } });
    let mut e = engine(json!([{ "order_by": order }]), now);
    agent(&mut e, 1, json!({ "Tier": 1 }), None, now);
    agent(&mut e, 2, json!({ "Tier": 1 }), None, now);
    e.set_unit_capacity(user(1), 5, now).unwrap();
    e.set_unit_capacity(user(2), 5, now).unwrap();
    let got: Vec<UserId> = (1..=4).flat_map(|n| offered(&e.enqueue(item(n, &[], now), now).unwrap())).collect();
    assert_eq!(got, vec![user(1), user(2), user(1), user(2)]);
}

fn weekdays_nine_to_five() -> Value {
    let day = json!([{ "start": "09:00", "end": "17:00" }]);
    json!({ "time_zone": "Europe/Berlin", "weekly": {
        "monday": day, "tuesday": day, "wednesday": day, "thursday": day, "friday": day } })
}

#[test]
fn is_working_follows_the_agents_calendar_and_no_calendar_is_always_working() {
    // Monday 5 January 2026, 07:00 in Berlin: before the nine-to-five agent's day.
    let early = ts("2026-01-05T06:00:00Z");
    let mut e = engine(json!([{ "conditions": [{ "is_working": false }] }]), early);
    agent(&mut e, 1, json!({}), Some(weekdays_nine_to_five()), early);
    agent(&mut e, 2, json!({}), None, early);
    assert_eq!(offered(&e.enqueue(item(1, &[], early), early).unwrap()), vec![user(1)], "off duty, so it matches");

    let mut e = engine(json!([{ "conditions": [{ "is_working": true }] }]), early);
    agent(&mut e, 1, json!({}), Some(weekdays_nine_to_five()), early);
    assert_eq!(offered(&e.enqueue(item(1, &[], early), early).unwrap()), vec![], "not at work yet");
    agent(&mut e, 2, json!({}), None, early);
    assert_eq!(e.conversation(conv(1)).unwrap().agent, Some(user(2)), "an agent without a calendar always works");
}

#[test]
fn the_queue_runs_again_when_a_calendar_opens() {
    let early = ts("2026-01-05T06:00:00Z");
    let mut e = engine(json!([{ "conditions": [{ "is_working": true }] }]), early);
    agent(&mut e, 1, json!({}), Some(weekdays_nine_to_five()), early);
    assert_eq!(offered(&e.enqueue(item(1, &[], early), early).unwrap()), vec![]);

    // 09:00 in Berlin is 08:00 UTC in winter: the engine asks to be ticked then, and the tick offers it.
    let opens = ts("2026-01-05T08:00:00Z");
    assert_eq!(e.next_deadline(), Some(opens));
    assert_eq!(offered(&e.tick(ts("2026-01-05T07:59:59Z"))), vec![], "not a moment early");
    assert_eq!(offered(&e.tick(opens)), vec![user(1)]);

    // After hours the agent stops matching; the next conversation waits for Tuesday morning.
    e.close(conv(1), opens).unwrap();
    let evening = ts("2026-01-05T17:30:00Z");
    assert_eq!(offered(&e.enqueue(item(2, &[], evening), evening).unwrap()), vec![]);
    let tuesday = ts("2026-01-06T08:00:00Z");
    assert_eq!(e.next_deadline(), Some(tuesday));
    assert_eq!(offered(&e.tick(tuesday)), vec![user(1)]);
}

#[test]
fn changing_a_calendar_applies_at_once() {
    let early = ts("2026-01-05T06:00:00Z");
    let mut e = engine(json!([{ "conditions": [{ "is_working": true }] }]), early);
    agent(&mut e, 1, json!({}), Some(weekdays_nine_to_five()), early);
    e.enqueue(item(1, &[], early), early).unwrap();
    let events = e.set_calendar(user(1), None, early).unwrap();
    assert_eq!(offered(&events), vec![user(1)]);
}

#[test]
fn bad_attribute_rules_are_refused_with_the_field() {
    let cases = [
        (json!({ "attribute": { "name": "two words", "equals": "x" } }), "assignment[0].conditions[0].attribute.name"),
        (json!({ "attribute": { "name": "Region" } }), "assignment[0].conditions[0].attribute"),
        (
            json!({ "attribute": { "name": "Region", "equals": "x", "equals_context": "Region" } }),
            "assignment[0].conditions[0].attribute",
        ),
        (
            json!({ "attribute": { "name": "Region", "equals_context": "Country" } }),
            "assignment[0].conditions[0].attribute.equals_context",
        ),
        (
            json!({ "attribute": { "name": "Region", "equals_field": "contact.email" } }),
            "assignment[0].conditions[0].attribute.equals_field",
        ),
        (
            json!({ "attribute": { "name": "Seniority", "at_least": 5, "at_most": 2 } }),
            "assignment[0].conditions[0].attribute.at_most",
        ),
        (
            json!({ "attribute": { "name": "Region", "equals": "x".repeat(257) } }),
            "assignment[0].conditions[0].attribute.equals",
        ),
    ];
    for (condition, field) in cases {
        let e = compile(json!([{ "conditions": [condition.clone()] }])).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (Code::InvalidRule, Some(field)), "{condition}");
    }
    for (order, field) in [
        (
            json!({ "attribute": { "name": "Seniority", "direction": "up" } }),
            "assignment[0].order_by.attribute.direction",
        ),
        (json!({ "attribute": { "name": "", "direction": "ascending" } }), "assignment[0].order_by.attribute.name"),
    ] {
        let e = compile(json!([{ "order_by": order.clone() }])).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (Code::InvalidRule, Some(field)), "{order}");
    }
    let unknown: Result<CustomAssignmentSpec, _> = serde_json::from_value(json!({
        "assignment": [{ "conditions": [{ "attribute": { "name": "Region", "is": "EU" } }] }]
    }));
    assert!(unknown.is_err(), "unknown fields are refused");
}
