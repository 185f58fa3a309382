//! Time comes from the app's clock: what the API creates and changes carries the clock's time, not the wall
//! clock's, so that a test (or a replay) on a manual clock sees the times it set.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::clock::ManualClock;

use crate::{Options, TestApp};

fn at(v: &Value) -> Timestamp {
    v.as_str().and_then(Timestamp::parse_rfc3339).unwrap_or_else(|| panic!("not a time: {v}"))
}

#[tokio::test]
async fn what_the_api_creates_and_changes_carries_the_app_clock_time() {
    // Years from the wall clock, so that a time read from the wall clock cannot pass for it.
    let start = Timestamp::parse_rfc3339("2031-02-03T04:05:06.789Z").expect("time");
    let clock = ManualClock::new(start);
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let (channel, workstream, queue) = app.channel_setup().await;
    let (_, queue) = app.get(&queue, &app.admin_key).await;
    for (what, v) in [("channel", &channel), ("workstream", &workstream), ("queue", &queue)] {
        assert_eq!((at(&v["created_at"]), at(&v["updated_at"])), (start, start), "{what}: {v}");
    }

    let (integration, _) = app.key(Role::Integration).await;
    let contact =
        app.post_ok("/v1/contacts", &integration, json!({ "email": "ada@example.test" }), StatusCode::CREATED).await;
    assert_eq!(at(&contact["created_at"]), start, "{contact}");
    let body = json!({ "channel_id": channel["id"], "customer": { "customer_id": "c-1" } });
    let created = app.post_ok("/v1/conversations", &integration, body, StatusCode::CREATED).await;
    let conversation = &created["conversation"];
    assert_eq!(at(&conversation["created_at"]), start, "{created}");
    let subscription = app
        .post_ok(
            "/v1/webhook-subscriptions",
            &app.admin_key,
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["conversation.*"] }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(at(&subscription["created_at"]), start, "{subscription}");

    // Changes later on the clock carry the later time.
    clock.advance(Duration::from_secs(90));
    let later = start.plus_millis(90_000);
    let id = conversation["id"].as_str().expect("conversation id");
    let message = app
        .post_ok(
            &format!("/v1/conversations/{id}/messages"),
            &integration,
            json!({ "text": "hi" }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(at(&message["created_at"]), later, "{message}");
    let contact_id = contact["id"].as_str().expect("contact id");
    let (status, changed) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/contacts/{contact_id}"),
            Some(&integration),
            Some(json!({ "first_name": "Ada" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((at(&changed["created_at"]), at(&changed["updated_at"])), (start, later), "{changed}");
    let closed = app.post_ok(&format!("/v1/conversations/{id}/close"), &app.admin_key, json!({}), StatusCode::OK).await;
    assert_eq!(at(&closed["closed_at"]), later, "{closed}");
    let (_, events) = app.get("/v1/events?limit=250", &app.admin_key).await;
    let events = events["data"].as_array().expect("events");
    assert!(!events.is_empty());
    for e in events {
        let t = at(&e["created_at"]);
        assert!(t == start || t == later || t == later.plus_millis(1), "an event off the app's clock: {e}");
    }
}
