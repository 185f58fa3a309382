//! Agent attributes and working hours through the HTTP API: saved and read back across a restart, refused when
//! bad without changing anything, and read by custom assignment rules (`attribute`, `is_working`), the latter on
//! a manual clock.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::clock::ManualClock;

use crate::{
    Options, TestApp, assert_problem,
    routing::{agent, create, pending_offers, routed},
};

async fn put_routing(app: &TestApp, agent: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, &format!("/v1/agents/{agent}/routing"), Some(&app.admin_key), Some(body)).await
}

async fn put_routing_ok(app: &TestApp, agent: &str, body: Value) -> Value {
    let (status, value) = put_routing(app, agent, body).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    value
}

async fn patch_queue(app: &TestApp, queue: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, &format!("/v1/queues/{queue}"), Some(&app.admin_key), Some(body)).await
}

/// A custom method whose one rule has these conditions and order, with `Region` declared.
fn custom(conditions: Value, order_by: Value) -> Value {
    json!({ "assignment_method": "custom", "custom": {
        "context_variables": { "Region": "text" },
        "assignment": [{ "conditions": conditions, "order_by": order_by }]
    } })
}

/// Waits until the conversation waits in its queue, offered to nobody.
async fn waiting(app: &TestApp, conversation: &str) {
    let path = format!("/v1/conversations/{conversation}/queue-position");
    app.eventually(&path, &app.admin_key, |p| p["routing_state"] == "open").await;
}

fn berlin_nine_to_five() -> Value {
    json!({ "time_zone": "Europe/Berlin", "weekly": { "monday": [{ "start": "09:00", "end": "17:00" }] },
            "holidays": [{ "date": "2026-12-25", "name": "Christmas Day" }] })
}

#[tokio::test]
async fn attributes_and_calendar_are_saved_read_back_and_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    let (_, id) = app.key(Role::Agent).await;
    let id = id.unwrap();
    let (_, fresh) = app.get(&format!("/v1/agents/{id}/routing"), &app.admin_key).await;
    assert_eq!((&fresh["attributes"], &fresh["calendar"]), (&json!({}), &Value::Null), "{fresh}");

    let attributes = json!({ "Region": "EU", "Seniority": 3, "Certified": true, "Score": -1.5 });
    let saved = put_routing_ok(&app, &id, json!({ "attributes": attributes, "calendar": berlin_nine_to_five() })).await;
    assert_eq!(saved["attributes"], attributes);
    assert_eq!(saved["calendar"], berlin_nine_to_five());

    // Fields left out keep their value.
    let saved = put_routing_ok(&app, &id, json!({ "capacity_units": 4 })).await;
    assert_eq!((saved["attributes"].clone(), saved["calendar"].clone()), (attributes.clone(), berlin_nine_to_five()));

    app.restart().await;
    let (_, read) = app.get(&format!("/v1/agents/{id}/routing"), &app.admin_key).await;
    assert_eq!(read["attributes"], attributes, "{read}");
    assert_eq!(read["calendar"], berlin_nine_to_five());
    assert_eq!(read["capacity_units"], 4);

    // The whole map is replaced, and `null` makes the agent always working.
    let saved = put_routing_ok(&app, &id, json!({ "attributes": { "Region": "US" }, "calendar": null })).await;
    assert_eq!((saved["attributes"].clone(), saved["calendar"].clone()), (json!({ "Region": "US" }), Value::Null));
    app.restart().await;
    let (_, read) = app.get(&format!("/v1/agents/{id}/routing"), &app.admin_key).await;
    assert_eq!((read["attributes"].clone(), read["calendar"].clone()), (json!({ "Region": "US" }), Value::Null));
}

#[tokio::test]
async fn bad_attributes_and_calendars_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (_, id) = app.key(Role::Agent).await;
    let id = id.unwrap();
    let attributes = json!({ "Region": "EU" });
    put_routing_ok(
        &app,
        &id,
        json!({ "capacity_units": 2, "attributes": attributes, "calendar": berlin_nine_to_five() }),
    )
    .await;
    let (_, before) = app.get(&format!("/v1/agents/{id}/routing"), &app.admin_key).await;
    let events = app.event_count().await;

    let many: serde_json::Map<String, Value> = (0..51).map(|i| (format!("A{i}"), json!(i))).collect();
    let cases = [
        (json!({ "attributes": { "two words": "x" } }), "invalid_field", "attributes.two words"),
        (json!({ "attributes": { "a-b": "x" } }), "invalid_field", "attributes.a-b"),
        (json!({ "attributes": { "": "x" } }), "invalid_field", "attributes."),
        (
            json!({ "attributes": { "X".repeat(101): "x" } }),
            "invalid_field",
            &*format!("attributes.{}", "X".repeat(101)),
        ),
        (json!({ "attributes": many }), "invalid_field", "attributes"),
        (json!({ "attributes": { "Region": "x".repeat(257) } }), "invalid_field", "attributes.Region"),
        (json!({ "attributes": { "Region": { "code": "EU" } } }), "invalid_field", "attributes.Region"),
        (json!({ "attributes": { "Region": ["EU"] } }), "invalid_field", "attributes.Region"),
        (json!({ "attributes": { "Region": null } }), "invalid_field", "attributes.Region"),
        (json!({ "attributes": ["Region"] }), "invalid_field", "attributes"),
        // A good change beside a bad one does not take either.
        (json!({ "capacity_units": 9, "attributes": { "Ok": 1, "Bad!": 2 } }), "invalid_field", "attributes.Bad!"),
        (json!({ "calendar": { "time_zone": "Mars/Olympus_Mons" } }), "invalid_calendar", "calendar.time_zone"),
        (
            json!({ "attributes": { "Region": "US" },
                    "calendar": { "time_zone": "UTC", "weekly": { "monday": [{ "start": "17:00", "end": "09:00" }] } } }),
            "invalid_calendar",
            "calendar.weekly.monday[0]",
        ),
    ];
    for (body, code, field) in cases {
        let (status, problem) = put_routing(&app, &id, body.clone()).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, code);
        assert_eq!(problem["field"], field, "{body} → {problem}");
    }
    let (_, after) = app.get(&format!("/v1/agents/{id}/routing"), &app.admin_key).await;
    assert_eq!(after, before);
    assert_eq!(app.event_count().await, events, "a refused change records nothing");
}

#[tokio::test]
async fn bad_attribute_rules_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let condition = |c: Value| custom(json!([c]), json!("most_idle"));
    let by_attribute = |o: Value| custom(json!([]), json!({ "attribute": o }));
    let cases = [
        (
            condition(json!({ "attribute": { "name": "Region", "equals_context": "Country" } })),
            "custom.assignment[0].conditions[0].attribute.equals_context",
        ),
        (
            condition(json!({ "attribute": { "name": "Region!", "equals": "EU" } })),
            "custom.assignment[0].conditions[0].attribute.name",
        ),
        (
            condition(json!({ "attribute": { "name": "Region", "equals": "EU", "at_least": 1 } })),
            "custom.assignment[0].conditions[0].attribute",
        ),
        (
            condition(json!({ "attribute": { "name": "Region", "equals_field": "workstream" } })),
            "custom.assignment[0].conditions[0].attribute.equals_field",
        ),
        (
            by_attribute(json!({ "name": "Seniority", "direction": "upwards" })),
            "custom.assignment[0].order_by.attribute.direction",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = patch_queue(&app, &setup.queue, body.clone()).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_rule");
        assert_eq!(problem["field"], field, "{body} → {problem}");
    }
    let (_, queue) = app.get(&format!("/v1/queues/{}", setup.queue), &app.admin_key).await;
    assert_ne!(queue["routing"]["assignment_method"], "custom", "{queue}");

    // The good forms save and read back.
    let good = custom(
        json!([{ "attribute": { "name": "Region", "equals_context": "Region" } },
               { "attribute": { "name": "Seniority", "at_least": 2, "at_most": 9 } },
               { "attribute": { "name": "Lang", "equals_field": "language" } },
               { "is_working": true }]),
        json!({ "attribute": { "name": "Seniority", "direction": "descending" } }),
    );
    let (status, saved) = patch_queue(&app, &setup.queue, good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let rule = &saved["routing"]["custom"]["assignment"][0];
    assert_eq!(rule["conditions"], good["custom"]["assignment"][0]["conditions"]);
    assert_eq!(rule["order_by"], good["custom"]["assignment"][0]["order_by"]);
}

#[tokio::test]
async fn a_conversation_goes_to_the_agent_of_its_region_before_and_after_a_restart() {
    let mut app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let rule = custom(json!([{ "attribute": { "name": "Region", "equals_context": "Region" } }]), json!("most_idle"));
    let (status, body) = patch_queue(&app, &setup.queue, rule).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (us_key, us) = agent(&app, &[&setup.queue], "available").await;
    let (eu_key, eu) = agent(&app, &[&setup.queue], "available").await;
    put_routing_ok(&app, &us, json!({ "attributes": { "Region": "US" } })).await;
    put_routing_ok(&app, &eu, json!({ "attributes": { "Region": "EU" } })).await;

    let first = create(&app, &setup.channel, "c1", json!({ "Region": { "value": "EU" } })).await;
    let offers = pending_offers(&app, &eu, &eu_key, 1).await;
    assert_eq!(offers[0]["conversation_id"], first.as_str());
    assert!(pending_offers(&app, &us, &us_key, 0).await.is_empty());

    // A conversation from nowhere either agent covers waits.
    let nowhere = create(&app, &setup.channel, "c2", json!({ "Region": { "value": "APAC" } })).await;
    waiting(&app, &nowhere).await;

    // After a restart the saved attributes route the same way.
    app.restart().await;
    let second = create(&app, &setup.channel, "c3", json!({ "Region": { "value": "us" } })).await;
    let offers = pending_offers(&app, &us, &us_key, 1).await;
    assert_eq!(offers[0]["conversation_id"], second.as_str());
    // The EU agent's pending offer was withdrawn by the restart and made again, to them only.
    let offers = pending_offers(&app, &eu, &eu_key, 1).await;
    assert_eq!(offers[0]["conversation_id"], first.as_str());
    waiting(&app, &nowhere).await;
}

#[tokio::test]
async fn a_waiting_conversation_is_offered_when_the_agents_working_hours_begin() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let setup = routed(&app, json!({})).await;
    let rule = custom(json!([{ "is_working": true }]), json!("most_idle"));
    let (status, body) = patch_queue(&app, &setup.queue, rule).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The agent's day starts at the first whole minute an hour from now (UTC), on that date only.
    let start = clock_minute(clock.now().millis() + 3_600_000);
    let at = Timestamp::from_millis(start).to_datetime();
    let hours = json!({ "time_zone": "UTC", "holidays": [{ "date": at.format("%Y-%m-%d").to_string(),
                                                         "hours": [{ "start": at.format("%H:%M").to_string(), "end": "24:00" }] }] });
    let (key, id) = agent(&app, &[&setup.queue], "available").await;
    put_routing_ok(&app, &id, json!({ "calendar": hours })).await;

    let conversation = create(&app, &setup.channel, "c1", json!({})).await;
    waiting(&app, &conversation).await;
    assert!(pending_offers(&app, &id, &key, 0).await.is_empty());

    // Nothing else happens: the clock reaching the start is what runs the queue again.
    clock.advance(Duration::from_millis(u64::try_from(start - clock.now().millis()).unwrap() - 1_000));
    waiting(&app, &conversation).await;
    clock.advance(Duration::from_secs(2));
    let offers = pending_offers(&app, &id, &key, 1).await;
    assert_eq!(offers[0]["conversation_id"], conversation.as_str());
}

/// The first whole minute at or after `ms`.
fn clock_minute(ms: i64) -> i64 {
    (ms + 59_999) / 60_000 * 60_000
}
