//! Overflow after queueing ("wait time in queue exceeds", reference §6.3) through the HTTP API on a manual clock:
//! transfer and end after the wait, nothing a moment before it, a transfer restarting it, an outstanding offer left
//! to finish, a restart keeping it, and the rules refused on save.
//!
//! Whether something did not happen is read after something that proves routing has seen the clock's new time: a
//! conversation whose own wait ran out at that time, handled in the same pass of the routing timer.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::clock::ManualClock;

use crate::{Options, TestApp, assert_problem};

const SECOND: Duration = Duration::from_secs(1);

struct Setup {
    queue: String,
    channel: String,
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn queue(app: &TestApp, name: &str, queue_type: &str) -> String {
    let body = json!({ "name": name, "queue_type": queue_type });
    id(&app.post_ok("/v1/queues", &app.admin_key, body, StatusCode::CREATED).await)
}

/// A messaging queue, a routed workstream with these routing settings, and a messaging channel.
async fn routed(app: &TestApp, queue_type: &str, routing: Value) -> Setup {
    let key = &app.admin_key;
    let queue = queue(app, "General", queue_type).await;
    let mut settings = json!({ "enabled": true });
    if let (Some(s), Some(extra)) = (settings.as_object_mut(), routing.as_object()) {
        s.extend(extra.clone());
    }
    let body = json!({ "name": "Chat", "fallback_queue_id": queue, "settings": { "routing": settings } });
    let ws = id(&app.post_ok("/v1/workstreams", key, body, StatusCode::CREATED).await);
    let body = json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": ws });
    let channel = id(&app.post_ok("/v1/channels", key, body, StatusCode::CREATED).await);
    Setup { queue, channel }
}

/// An available agent of `queue` with one unit of capacity; returns (key, id).
async fn agent(app: &TestApp, queue: &str) -> (String, String) {
    let (key, agent) = app.key(Role::Agent).await;
    let agent = agent.unwrap();
    let put = |path: String, key: String, body: Value| async move {
        let (status, v) = app.call(Method::PUT, &path, Some(&key), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "PUT {path}: {v}");
    };
    put(format!("/v1/agents/{agent}/routing"), app.admin_key.clone(), json!({ "capacity_units": 1 })).await;
    put(format!("/v1/queues/{queue}/members"), app.admin_key.clone(), json!({ "user_ids": [agent] })).await;
    put(format!("/v1/agents/{agent}/presence"), key.clone(), json!({ "presence": "available" })).await;
    (key, agent)
}

async fn patch_queue(app: &TestApp, queue: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, &format!("/v1/queues/{queue}"), Some(&app.admin_key), Some(body)).await
}

/// Saves `queue`'s one overflow rule: a wait in queue of `seconds`, then `action`.
async fn wait_rule(app: &TestApp, queue: &str, seconds: i64, action: Value) {
    let rules = json!({ "rules": [{ "condition": { "type": "wait_in_queue_exceeds", "seconds": seconds },
                                    "action": action }] });
    let (status, body) = patch_queue(app, queue, json!({ "overflow": rules })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn end(message: &str) -> Value {
    json!({ "type": "end_conversation", "message": message })
}

/// A queue change with one overflow rule.
fn one(condition: Value, action: Value) -> Value {
    json!({ "overflow": { "rules": [{ "condition": condition, "action": action }] } })
}

fn events_of<'a>(timeline: &'a Value, kind: &str) -> Vec<&'a Value> {
    timeline["data"].as_array().unwrap().iter().filter(|e| e["type"] == kind).collect()
}

async fn timeline(app: &TestApp, conversation: &str) -> Value {
    app.get(&format!("/v1/conversations/{conversation}/timeline?limit=200"), &app.admin_key).await.1
}

async fn timeline_with(app: &TestApp, conversation: &str, kind: &str, n: usize) -> Value {
    let path = format!("/v1/conversations/{conversation}/timeline?limit=200");
    app.eventually(&path, &app.admin_key, |t| events_of(t, kind).len() >= n).await
}

/// Starts a conversation and waits until routing has queued it, so that its wait starts at the clock's time now.
async fn queued(app: &TestApp, channel: &str, customer: &str) -> String {
    let body = json!({ "channel_id": channel, "customer": { "customer_id": customer } });
    let created = app.post_ok("/v1/conversations", &app.admin_key, body, StatusCode::CREATED).await;
    let conversation = created["conversation"]["id"].as_str().unwrap().to_string();
    timeline_with(app, &conversation, "routing.queued", 1).await;
    conversation
}

async fn closed(app: &TestApp, conversation: &str) -> Value {
    app.eventually(&format!("/v1/conversations/{conversation}"), &app.admin_key, |c| c["state"] == "closed").await
}

/// The conversation, which must still be waiting (open, and open in routing) in `queue`.
async fn still_waiting(app: &TestApp, conversation: &str, queue: &str) {
    let (_, c) = app.get(&format!("/v1/conversations/{conversation}"), &app.admin_key).await;
    assert_eq!((c["state"].as_str(), c["queue_id"].as_str()), (Some("open"), Some(queue)), "{c}");
    let (_, p) = app.get(&format!("/v1/conversations/{conversation}/queue-position"), &app.admin_key).await;
    assert_eq!(p["routing_state"], "open", "{p}");
    assert!(events_of(&timeline(app, conversation).await, "routing.overflowed").is_empty());
}

async fn system_messages(app: &TestApp, conversation: &str) -> Vec<String> {
    let (_, page) = app.get(&format!("/v1/conversations/{conversation}/messages"), &app.admin_key).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender"]["kind"] == "system")
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect()
}

fn manual() -> (ManualClock, Options) {
    let clock = ManualClock::new(Timestamp::now());
    (clock.clone(), Options { clock: Some(clock), ..Options::default() })
}

fn at(start: Timestamp, seconds: i64) -> Timestamp {
    start.plus_millis(seconds * 1000)
}

#[tokio::test]
async fn a_conversation_waiting_too_long_moves_to_the_other_queue_and_is_offered_there() {
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, "messaging", json!({})).await;
    let backup = queue(&app, "Backup", "messaging").await;
    wait_rule(&app, &setup.queue, 60, json!({ "type": "transfer_to_queue", "queue_id": backup })).await;
    // Only the other queue is staffed: the conversation waits in its own until the rule moves it.
    let (key, agent) = agent(&app, &backup).await;
    let conversation = queued(&app, &setup.channel, "c1").await;

    clock.advance(60 * SECOND);
    let offers = app
        .eventually(&format!("/v1/agents/{agent}/offers"), &key, |v| v["data"].as_array().is_some_and(|d| d.len() == 1))
        .await;
    let offer = &offers["data"][0];
    assert_eq!(
        (offer["conversation_id"].as_str(), offer["queue_id"].as_str()),
        (Some(conversation.as_str()), Some(backup.as_str()))
    );

    let t = timeline(&app, &conversation).await;
    let steps = events_of(&t, "routing.overflowed");
    assert_eq!(steps.len(), 1, "{t}");
    assert_eq!(
        steps[0]["data"],
        json!({ "queue_id": setup.queue, "condition": "wait_in_queue_exceeds", "action": "transfer_to_queue",
                "to_queue_id": backup })
    );
    let moved = events_of(&t, "conversation.transferred");
    assert_eq!((moved.len(), moved[0]["data"]["by"].as_str()), (1, Some("routing")), "{t}");
    assert_eq!(moved[0]["data"]["queue_id"], backup.as_str());
    let (_, c) = app.get(&format!("/v1/conversations/{conversation}"), &app.admin_key).await;
    assert_eq!((c["state"].as_str(), c["queue_id"].as_str()), (Some("open"), Some(backup.as_str())));

    // Its wait is counted in the queue that serves it, from when it moved there.
    clock.advance(5 * SECOND);
    let offer = offer["id"].as_str().unwrap();
    let accepted = app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    assert_eq!(accepted["state"], "active");
    let t = app
        .eventually(&format!("/v1/conversations/{conversation}/timeline?limit=200"), &app.admin_key, |t| {
            !events_of(t, "routing.assigned").is_empty()
        })
        .await;
    let assigned = &events_of(&t, "routing.assigned")[0]["data"];
    assert_eq!((assigned["queue_id"].as_str(), assigned["waited_ms"].as_i64()), (Some(backup.as_str()), Some(5_000)));
}

#[tokio::test]
async fn a_conversation_waiting_too_long_is_ended_with_the_message_and_not_a_second_before() {
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, "messaging", json!({})).await;
    wait_rule(&app, &setup.queue, 60, end("Nobody could answer. Please write again tomorrow.")).await;
    let start = clock.now();
    let first = queued(&app, &setup.channel, "c1").await;
    clock.advance(SECOND);
    let second = queued(&app, &setup.channel, "c2").await;

    // The first has waited its 60 seconds; the second, in the same pass of the timer, only 59.
    clock.advance_to(at(start, 60));
    let c = closed(&app, &first).await;
    assert_eq!(c["closure_reason"], "queue_overflow");
    still_waiting(&app, &second, &setup.queue).await;

    clock.advance_to(at(start, 61));
    let c = closed(&app, &second).await;
    assert_eq!(c["closure_reason"], "queue_overflow");
    let said = system_messages(&app, &second).await;
    assert_eq!(said.last().map(String::as_str), Some("Nobody could answer. Please write again tomorrow."), "{said:?}");
    let t = timeline(&app, &second).await;
    let steps = events_of(&t, "routing.overflowed");
    assert_eq!(steps.len(), 1, "{t}");
    assert_eq!(
        steps[0]["data"],
        json!({ "queue_id": setup.queue, "condition": "wait_in_queue_exceeds", "action": "end_conversation",
                "to_queue_id": null })
    );
    let (_, p) = app.get(&format!("/v1/conversations/{second}/queue-position"), &app.admin_key).await;
    assert_eq!(p["routing_state"], "none", "{p}");
}

#[tokio::test]
async fn a_transfer_to_another_queue_restarts_the_wait() {
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, "messaging", json!({})).await;
    let backup = queue(&app, "Backup", "messaging").await;
    wait_rule(&app, &setup.queue, 60, end("General gave up.")).await;
    wait_rule(&app, &backup, 60, end("Backup gave up.")).await;
    let start = clock.now();
    let moved = queued(&app, &setup.channel, "moved").await;
    let marker = queued(&app, &setup.channel, "marker").await;
    clock.advance_to(at(start, 49));
    let later_marker = queued(&app, &setup.channel, "later-marker").await;
    clock.advance_to(at(start, 50));
    let body = json!({ "queue_id": backup });
    app.post_ok(&format!("/v1/conversations/{moved}/transfer"), &app.admin_key, body, StatusCode::OK).await;
    timeline_with(&app, &moved, "routing.queued", 2).await;

    // Counted from its arrival it would be due now, with the marker; counted from the transfer, not until 110.
    clock.advance_to(at(start, 60));
    closed(&app, &marker).await;
    still_waiting(&app, &moved, &backup).await;
    clock.advance_to(at(start, 109));
    closed(&app, &later_marker).await;
    still_waiting(&app, &moved, &backup).await;

    clock.advance_to(at(start, 110));
    closed(&app, &moved).await;
    assert_eq!(system_messages(&app, &moved).await.last().map(String::as_str), Some("Backup gave up."));
    let t = timeline(&app, &moved).await;
    assert_eq!(events_of(&t, "routing.overflowed")[0]["data"]["queue_id"], backup.as_str());
}

#[tokio::test]
async fn an_outstanding_offer_is_left_to_finish_and_the_wait_is_checked_when_it_comes_back() {
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, "messaging", json!({ "offer_timeout_seconds": 120 })).await;
    wait_rule(&app, &setup.queue, 60, end("Sorry.")).await;
    let (_key, agent) = agent(&app, &setup.queue).await;
    let start = clock.now();
    let offered = queued(&app, &setup.channel, "offered").await;
    timeline_with(&app, &offered, "routing.offer_issued", 1).await;
    // The agent has room for one: the marker waits, and its wait runs out with the offered one's.
    let marker = queued(&app, &setup.channel, "marker").await;

    clock.advance_to(at(start, 60));
    closed(&app, &marker).await;
    let (_, p) = app.get(&format!("/v1/conversations/{offered}/queue-position"), &app.admin_key).await;
    assert_eq!(p["routing_state"], "offered", "{p}");
    assert!(events_of(&timeline(&app, &offered).await, "routing.overflowed").is_empty());

    // The agent misses the offer: back in the queue (the agent is not offered it again within the reoffer
    // cooldown), overdue, it overflows at once.
    clock.advance_to(at(start, 120));
    let c = closed(&app, &offered).await;
    assert_eq!(c["closure_reason"], "queue_overflow");
    let t = timeline(&app, &offered).await;
    let kinds: Vec<&str> = t["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    let expired = kinds.iter().position(|k| *k == "routing.offer_expired");
    let overflowed = kinds.iter().position(|k| *k == "routing.overflowed");
    assert!(expired.is_some() && overflowed.is_some() && expired < overflowed, "{kinds:?}");
    assert!(!kinds.contains(&"routing.offer_withdrawn"), "{kinds:?}");
    let (_, offers) = app.get(&format!("/v1/agents/{agent}/offers"), &app.admin_key).await;
    assert_eq!(offers["data"], json!([]));
}

#[tokio::test]
async fn the_wait_survives_a_restart() {
    let (clock, options) = manual();
    let mut app = TestApp::spawn_with(options).await;
    let setup = routed(&app, "messaging", json!({})).await;
    wait_rule(&app, &setup.queue, 60, end("Still nobody, sorry.")).await;
    let start = clock.now();
    let conversation = queued(&app, &setup.channel, "c1").await;
    clock.advance(30 * SECOND);

    app.restart().await;
    // The new server knows when the wait started only from the store: the other 30 seconds are enough.
    let path = format!("/v1/conversations/{conversation}/queue-position");
    app.eventually(&path, &app.admin_key, |p| p["routing_state"] == "open").await;
    clock.advance_to(at(start, 60));
    let c = closed(&app, &conversation).await;
    assert_eq!(c["closure_reason"], "queue_overflow");
    assert_eq!(system_messages(&app, &conversation).await.last().map(String::as_str), Some("Still nobody, sorry."));
    let t = timeline(&app, &conversation).await;
    assert_eq!(events_of(&t, "routing.overflowed")[0]["data"]["condition"], "wait_in_queue_exceeds");
}

#[tokio::test]
async fn a_voice_queue_offers_a_callback_after_the_wait() {
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, "voice", json!({})).await;
    wait_rule(&app, &setup.queue, 120, json!({ "type": "offer_callback" })).await;
    let conversation = queued(&app, &setup.channel, "c1").await;

    clock.advance(120 * SECOND);
    let c = closed(&app, &conversation).await;
    assert_eq!(c["closure_reason"], "callback_requested");
    let (_, list) = app.get("/v1/callback-requests", &app.admin_key).await;
    let requests = list["data"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{list}");
    assert_eq!(
        (requests[0]["conversation_id"].as_str(), requests[0]["reason"].as_str()),
        (Some(conversation.as_str()), Some("wait_in_queue_exceeds"))
    );
    assert!(system_messages(&app, &conversation).await.last().is_some_and(|m| m.contains("call you back")));
    let t = timeline_with(&app, &conversation, "routing.callback_requested", 1).await;
    assert_eq!(events_of(&t, "routing.overflowed")[0]["data"]["action"], "offer_callback");
}

#[tokio::test]
async fn bad_wait_in_queue_rules_are_refused_with_the_field() {
    let app = TestApp::spawn().await;
    let messaging = queue(&app, "Chat", "messaging").await;
    let voice = queue(&app, "Calls", "voice").await;
    let record = queue(&app, "Cases", "record").await;
    let wait = |seconds: i64| json!({ "type": "wait_in_queue_exceeds", "seconds": seconds });
    let refused = |field: &'static str| {
        move |(status, body): (StatusCode, Value)| {
            assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_overflow");
            assert_eq!(body["field"], field, "{body}");
        }
    };
    let seconds = "overflow.rules[0].condition.seconds";
    let sorry = end("Sorry.");

    // Messaging 1 minute to 2 days, voice 1 to 60 minutes, records 3 minutes to 2 days: by the queue's type.
    for (queue, low, high) in [(&messaging, 60, 172_800), (&voice, 60, 3_600), (&record, 180, 172_800)] {
        refused(seconds)(patch_queue(&app, queue, one(wait(low - 1), sorry.clone())).await);
        refused(seconds)(patch_queue(&app, queue, one(wait(high + 1), sorry.clone())).await);
        assert_eq!(patch_queue(&app, queue, one(wait(low), sorry.clone())).await.0, StatusCode::OK);
        assert_eq!(patch_queue(&app, queue, one(wait(high), sorry.clone())).await.0, StatusCode::OK);
    }

    // Once queued, "assign anyway" means nothing; only a call can be called back.
    let anyway = json!({ "type": "assign_anyway" });
    refused("overflow.rules[0].action")(patch_queue(&app, &messaging, one(wait(120), anyway)).await);
    let callback = json!({ "type": "offer_callback" });
    refused("overflow.rules[0].action")(patch_queue(&app, &messaging, one(wait(120), callback.clone())).await);
    assert_eq!(patch_queue(&app, &voice, one(wait(120), callback)).await.0, StatusCode::OK);
    let itself = json!({ "type": "transfer_to_queue", "queue_id": messaging });
    refused("overflow.rules[0].action.queue_id")(patch_queue(&app, &messaging, one(wait(120), itself)).await);

    // One rule per condition, as before queueing.
    let twice = json!({ "overflow": { "rules": [
        { "condition": { "type": "out_of_operating_hours" }, "action": { "type": "assign_anyway" } },
        { "condition": wait(120), "action": sorry },
        { "condition": wait(300), "action": { "type": "transfer_to_queue", "queue_id": record } } ] } });
    refused("overflow.rules[2].condition")(patch_queue(&app, &messaging, twice).await);

    // Nothing refused was saved: the messaging queue still has the last rule it accepted.
    let (_, now) = patch_queue(&app, &messaging, json!({})).await;
    assert_eq!(now["routing"]["overflow"]["rules"], json!([{ "condition": wait(172_800), "action": end("Sorry.") }]));
}
