//! Estimated waits, the updates waiting customers get, and queue overflow, through the HTTP API on a manual clock.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::clock::ManualClock;

use crate::{Options, TestApp, assert_problem};

const BEFORE: &str = "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityBeforeConversation";
const DURING: &str = "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityForConversation";

struct Setup {
    queue: String,
    workstream: String,
    channel: String,
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn queue(app: &TestApp, name: &str) -> String {
    id(&app.post_ok("/v1/queues", &app.admin_key, json!({ "name": name }), StatusCode::CREATED).await)
}

/// A queue, a routed workstream with these workstream settings besides routing, and a messaging channel.
async fn routed(app: &TestApp, settings: Value) -> Setup {
    let key = &app.admin_key;
    let queue = queue(app, "General").await;
    let mut all = json!({ "routing": { "enabled": true } });
    if let (Some(s), Some(extra)) = (all.as_object_mut(), settings.as_object()) {
        s.extend(extra.clone());
    }
    let body = json!({ "name": "Chat", "fallback_queue_id": queue, "settings": all });
    let ws = id(&app.post_ok("/v1/workstreams", key, body, StatusCode::CREATED).await);
    let body = json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": ws });
    let channel = id(&app.post_ok("/v1/channels", key, body, StatusCode::CREATED).await);
    Setup { queue, workstream: ws, channel }
}

/// An agent of `queue` with `units` of capacity and `presence`; returns (key, id).
async fn agent(app: &TestApp, queue: &str, units: i64, presence: &str) -> (String, String) {
    let (key, agent) = app.key(Role::Agent).await;
    let agent = agent.unwrap();
    let put = |path: String, key: String, body: Value| async move {
        let (status, v) = app.call(Method::PUT, &path, Some(&key), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "PUT {path}: {v}");
    };
    put(format!("/v1/agents/{agent}/routing"), app.admin_key.clone(), json!({ "capacity_units": units })).await;
    put(format!("/v1/queues/{queue}/members"), app.admin_key.clone(), json!({ "user_ids": [agent] })).await;
    put(format!("/v1/agents/{agent}/presence"), key.clone(), json!({ "presence": presence })).await;
    (key, agent)
}

async fn create(app: &TestApp, channel: &str, customer: Value) -> String {
    let body = json!({ "channel_id": channel, "customer": customer });
    let created = app.post_ok("/v1/conversations", &app.admin_key, body, StatusCode::CREATED).await;
    created["conversation"]["id"].as_str().unwrap().to_string()
}

async fn create_with_context(app: &TestApp, channel: &str, customer: &str, context: Value) -> String {
    let body = json!({ "channel_id": channel, "customer": { "customer_id": customer }, "context": context });
    let created = app.post_ok("/v1/conversations", &app.admin_key, body, StatusCode::CREATED).await;
    created["conversation"]["id"].as_str().unwrap().to_string()
}

/// Polls (in real time, for the routing follower and timer) until `check` passes.
async fn eventually(app: &TestApp, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    app.eventually(path, &app.admin_key, check).await
}

fn events_of<'a>(timeline: &'a Value, kind: &str) -> Vec<&'a Value> {
    timeline["data"].as_array().unwrap().iter().filter(|e| e["type"] == kind).collect()
}

async fn timeline_with(app: &TestApp, conversation: &str, kind: &str, n: usize) -> Value {
    eventually(app, &format!("/v1/conversations/{conversation}/timeline?limit=200"), |t| events_of(t, kind).len() >= n)
        .await
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

/// Takes the agent's one pending offer.
async fn accept_offer(app: &TestApp, agent: &str, key: &str) {
    let path = format!("/v1/agents/{agent}/offers");
    let offers = eventually(app, &path, |v| v["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let offer = offers["data"][0]["id"].as_str().unwrap();
    app.post_ok(&format!("/v1/offers/{offer}/accept"), key, json!({}), StatusCode::OK).await;
}

async fn patch_queue(app: &TestApp, queue: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, &format!("/v1/queues/{queue}"), Some(&app.admin_key), Some(body)).await
}

fn manual() -> (ManualClock, Options) {
    let clock = ManualClock::new(Timestamp::now());
    (clock.clone(), Options { clock: Some(clock), ..Options::default() })
}

#[tokio::test]
async fn availability_reports_the_estimate_before_and_during_a_conversation() {
    let (_clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({})).await;
    let (integration, _) = app.key(Role::Integration).await;
    let request = json!({ "ApiVersion": "1.0", "LiveWorkStreamId": setup.workstream });

    // Nobody staffs the queue: no estimate, and no average (fewer than 50 conversations).
    let empty = app.post_ok(BEFORE, &integration, request.clone(), StatusCode::OK).await;
    assert!(empty["EstimatedWaitTimeInSeconds"].is_null(), "{empty}");
    assert!(empty["AverageWaitTime"].is_null(), "{empty}");

    // A free agent: a customer arriving now is answered at once.
    let (key, agent) = agent(&app, &setup.queue, 1, "available").await;
    let free = app.post_ok(BEFORE, &integration, request.clone(), StatusCode::OK).await;
    assert_eq!(
        (free["EstimatedWaitTimeInSeconds"].clone(), free["IsAgentAvailable"].clone()),
        (json!(0.0), json!(true))
    );

    // The agent takes one conversation and is full; the next customer waits first in line.
    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    accept_offer(&app, &agent, &key).await;
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" })).await;
    timeline_with(&app, &second, "routing.queued", 1).await;

    let pos = eventually(&app, &format!("/v1/conversations/{second}/queue-position"), |p| p["position"] == 1).await;
    let waiting = pos["estimated_wait_seconds"].as_f64().unwrap();
    // One agent, a five-minute handle time by default: the median of one service completion, a few minutes.
    assert!((60.0..=600.0).contains(&waiting), "{pos}");
    assert!(pos["average_wait_seconds"].is_null(), "{pos}");

    let during = app.post_ok(DURING, &integration, json!({ "ConversationId": second }), StatusCode::OK).await;
    assert_eq!(during["PositionInQueue"], 1);
    assert_eq!(during["EstimatedWaitTimeInSeconds"].as_f64(), Some(waiting), "{during}");
    assert!(during["AverageWaitTime"].is_null());

    // A customer arriving now would be second: a longer wait.
    let next = app.post_ok(BEFORE, &integration, request, StatusCode::OK).await;
    assert_eq!(next["PositionInQueue"], 2);
    assert!(next["EstimatedWaitTimeInSeconds"].as_f64().unwrap() > waiting, "{next}");

    // The conversation being served has no wait of its own.
    let served = app.get(&format!("/v1/conversations/{first}/queue-position"), &app.admin_key).await.1;
    assert_eq!(
        (served["routing_state"].clone(), served["estimated_wait_seconds"].clone()),
        (json!("active"), Value::Null)
    );
}

#[tokio::test]
async fn waiting_customers_hear_their_position_and_wait_only_when_it_changes() {
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({ "wait_notifications": { "min_interval_seconds": 30 } })).await;
    let (key, agent) = agent(&app, &setup.queue, 1, "available").await;
    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    accept_offer(&app, &agent, &key).await;

    // Each new waiting customer is told their place and wait once.
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" })).await;
    let t = timeline_with(&app, &second, "routing.wait_estimate_changed", 1).await;
    let update = events_of(&t, "routing.wait_estimate_changed")[0]["data"].clone();
    assert_eq!((update["position"].clone(), update["queue_id"].as_str()), (json!(1), Some(setup.queue.as_str())));
    assert!(update["estimated_wait_seconds"].as_u64().is_some_and(|s| s > 0), "{update}");
    let said = system_messages(&app, &second).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("You are number 1 in the queue. Estimated wait: about "), "{said:?}");

    let third = create(&app, &setup.channel, json!({ "customer_id": "c3" })).await;
    timeline_with(&app, &third, "routing.wait_estimate_changed", 1).await;
    assert!(system_messages(&app, &third).await[0].starts_with("You are number 2 in the queue."));
    // The second customer's place did not change when the third arrived: nothing more for them.
    assert_eq!(system_messages(&app, &second).await.len(), 1);

    // The agent ends the first conversation and is offered the second; the third moves up, but heard from us
    // less than 30 seconds ago, so the update waits.
    clock.advance(Duration::from_secs(5));
    app.post_ok(&format!("/v1/conversations/{first}/end"), &key, json!({}), StatusCode::OK).await;
    timeline_with(&app, &second, "routing.offer_issued", 1).await;
    assert_eq!(system_messages(&app, &third).await.len(), 1);

    // Once the interval has passed, the sweep sends it; the second customer, no longer waiting, hears nothing.
    clock.advance(Duration::from_secs(30));
    let t = timeline_with(&app, &third, "routing.wait_estimate_changed", 2).await;
    let moved = events_of(&t, "routing.wait_estimate_changed")[1]["data"].clone();
    assert_eq!((moved["previous_position"].clone(), moved["position"].clone()), (json!(2), json!(1)), "{moved}");
    let said = system_messages(&app, &third).await;
    assert!(said[1].starts_with("You are number 1 in the queue."), "{said:?}");
    assert_eq!(system_messages(&app, &second).await.len(), 1);
}

#[tokio::test]
async fn wait_updates_can_be_turned_off_per_workstream() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({ "wait_notifications": { "enabled": false } })).await;
    let conversation = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    let t = timeline_with(&app, &conversation, "routing.queued", 1).await;
    assert!(events_of(&t, "routing.wait_estimate_changed").is_empty());
    assert!(system_messages(&app, &conversation).await.is_empty());
    let (_, ws) = app.get(&format!("/v1/workstreams/{}", setup.workstream), &app.admin_key).await;
    assert_eq!(ws["settings"]["wait_notifications"], json!({ "enabled": false, "min_interval_seconds": 60 }));

    let body = json!({ "name": "Bad", "settings": { "wait_notifications": { "min_interval_seconds": 1 } } });
    let (status, body) = app.post("/v1/workstreams", &app.admin_key, body).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(body["field"], "settings.wait_notifications.min_interval_seconds");
}

#[tokio::test]
async fn a_channel_whose_customers_are_not_told_their_wait_tells_them_nothing() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let body = json!({ "name": "Quiet", "channel_type": "messaging_api", "workstream_id": setup.workstream,
                       "behaviours": { "wait_time_message": false } });
    let quiet = id(&app.post_ok("/v1/channels", &app.admin_key, body, StatusCode::CREATED).await);
    let (key, agent) = agent(&app, &setup.queue, 1, "available").await;
    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    accept_offer(&app, &agent, &key).await;
    timeline_with(&app, &first, "routing.assigned", 1).await;

    // Both wait behind the first; only the customer of the channel that tells waits hears of it.
    let hushed = create(&app, &quiet, json!({ "customer_id": "c2" })).await;
    let told = create(&app, &setup.channel, json!({ "customer_id": "c3" })).await;
    timeline_with(&app, &told, "routing.wait_estimate_changed", 1).await;
    assert!(system_messages(&app, &told).await[0].starts_with("You are number 2 in the queue."));
    let t = timeline_with(&app, &hushed, "routing.queued", 1).await;
    assert!(events_of(&t, "routing.wait_estimate_changed").is_empty(), "{t}");
    assert!(system_messages(&app, &hushed).await.is_empty());
}

#[tokio::test]
async fn out_of_hours_transfers_to_another_queue_or_assigns_anyway() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let night = queue(&app, "Night").await;
    let closed = json!({ "time_zone": "UTC", "weekly": {} });
    let rules = json!({ "rules": [{ "condition": { "type": "out_of_operating_hours" },
                                     "action": { "type": "transfer_to_queue", "queue_id": night } }] });
    let (status, body) = patch_queue(&app, &setup.queue, json!({ "calendar": closed, "overflow": rules })).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let moved = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    let t = timeline_with(&app, &moved, "routing.queued", 1).await;
    let step = events_of(&t, "routing.overflowed")[0]["data"].clone();
    assert_eq!(step["condition"], "out_of_operating_hours");
    assert_eq!(
        (step["action"].as_str(), step["to_queue_id"].as_str()),
        (Some("transfer_to_queue"), Some(night.as_str()))
    );
    let (_, c) = app.get(&format!("/v1/conversations/{moved}"), &app.admin_key).await;
    assert_eq!(c["queue_id"], night.as_str());

    let anyway = json!({ "rules": [{ "condition": { "type": "out_of_operating_hours" },
                                      "action": { "type": "assign_anyway" } }] });
    assert_eq!(patch_queue(&app, &setup.queue, json!({ "overflow": anyway })).await.0, StatusCode::OK);
    let stays = create(&app, &setup.channel, json!({ "customer_id": "c2" })).await;
    let t = timeline_with(&app, &stays, "routing.queued", 1).await;
    assert_eq!(events_of(&t, "routing.overflowed")[0]["data"]["action"], "assign_anyway");
    let (_, c) = app.get(&format!("/v1/conversations/{stays}"), &app.admin_key).await;
    assert_eq!(c["queue_id"], setup.queue.as_str());

    // The fields used before rules existed still work, and read back as rules.
    let legacy = json!({ "overflow": { "when_closed_queue_id": night } });
    let (status, body) = patch_queue(&app, &setup.queue, legacy).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["routing"]["overflow"], rules);
}

/// Issue 18, finding 5: the availability answer before a conversation describes the queue the rules pick, closed
/// or not, and names the overflow target only in fields of its own.
#[tokio::test]
async fn availability_before_a_conversation_says_the_queue_is_closed_and_where_overflow_goes() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (integration, _) = app.key(Role::Integration).await;
    let request = json!({ "ApiVersion": "1.0", "LiveWorkStreamId": setup.workstream });
    let open = app.post_ok(BEFORE, &integration, request.clone(), StatusCode::OK).await;
    assert_eq!((open["OverflowAction"].clone(), open["OverflowQueueId"].clone()), (Value::Null, Value::Null));

    let night = queue(&app, "Night").await;
    agent(&app, &night, 1, "available").await;
    let closed = json!({ "time_zone": "UTC", "weekly": {} });
    let rules = json!({ "rules": [{ "condition": { "type": "out_of_operating_hours" },
                                     "action": { "type": "transfer_to_queue", "queue_id": night } }] });
    let (status, body) = patch_queue(&app, &setup.queue, json!({ "calendar": closed, "overflow": rules })).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let shut = app.post_ok(BEFORE, &integration, request.clone(), StatusCode::OK).await;
    assert_eq!(shut["QueueId"], setup.queue.as_str(), "{shut}");
    assert_eq!(shut["IsQueueAvailable"], false, "{shut}");
    // A calendar with no hours never opens.
    assert_eq!(shut["StartTimeOfNextOperatingHour"], "9999-12-31T23:59:59Z", "{shut}");
    // The night queue's free agent is not this queue's.
    assert_eq!(
        (shut["IsAgentAvailable"].clone(), shut["NumberOfExpertsAvailableInQueue"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(
        (shut["OverflowAction"].as_str(), shut["OverflowQueueId"].as_str()),
        (Some("transfer_to_queue"), Some(night.as_str()))
    );

    let ends = json!({ "rules": [{ "condition": { "type": "out_of_operating_hours" },
                                    "action": { "type": "end_conversation" } }] });
    assert_eq!(patch_queue(&app, &setup.queue, json!({ "overflow": ends })).await.0, StatusCode::OK);
    let shut = app.post_ok(BEFORE, &integration, request, StatusCode::OK).await;
    assert_eq!(
        (shut["QueueId"].as_str(), shut["IsQueueAvailable"].clone()),
        (Some(setup.queue.as_str()), json!(false))
    );
    assert_eq!(
        (shut["OverflowAction"].as_str(), shut["OverflowQueueId"].clone()),
        (Some("end_conversation"), Value::Null)
    );
}

/// Issue 18, finding 6: a customer about to overflow is not told their place in the queue they are leaving, and
/// hears their place in the new queue at once, not after the interval.
#[tokio::test]
async fn a_customer_moved_by_overflow_hears_the_new_queue_at_once_and_not_the_old_place_first() {
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({ "wait_notifications": { "min_interval_seconds": 30 } })).await;
    let backup = queue(&app, "Backup").await;
    let rules = json!({ "rules": [{ "condition": { "type": "wait_in_queue_exceeds", "seconds": 60 },
                                     "action": { "type": "transfer_to_queue", "queue_id": backup } }] });
    assert_eq!(patch_queue(&app, &setup.queue, json!({ "overflow": rules })).await.0, StatusCode::OK);
    let start = clock.now();
    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    timeline_with(&app, &first, "routing.wait_estimate_changed", 1).await;
    clock.advance(Duration::from_millis(1));
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" })).await;
    timeline_with(&app, &second, "routing.wait_estimate_changed", 1).await;
    assert_eq!(system_messages(&app, &second).await, ["You are number 2 in the queue."]);

    // The first overflows; the second is first in line for a millisecond before it overflows too.
    clock.advance_to(start.plus_millis(60_000));
    timeline_with(&app, &first, "conversation.transferred", 1).await;
    clock.advance_to(start.plus_millis(60_001));
    let t = timeline_with(&app, &second, "routing.wait_estimate_changed", 2).await;
    let told = events_of(&t, "routing.wait_estimate_changed");
    assert_eq!(told.len(), 2, "{t}");
    assert_eq!(
        (told[1]["data"]["queue_id"].as_str(), told[1]["data"]["position"].clone()),
        (Some(backup.as_str()), json!(2))
    );
    assert_eq!(
        system_messages(&app, &second).await,
        ["You are number 2 in the queue.", "You are number 2 in the queue."]
    );
    let moved = events_of(&t, "conversation.transferred");
    assert_eq!(moved[0]["data"]["queue_id"], backup.as_str());
}

#[tokio::test]
async fn a_full_queue_ends_the_conversation_with_a_message() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let full = json!({ "rules": [{ "condition": { "type": "work_item_limit_exceeded", "limit": 1 },
        "action": { "type": "end_conversation", "message": "We are very busy. Please write again later." } }] });
    assert_eq!(patch_queue(&app, &setup.queue, json!({ "overflow": full })).await.0, StatusCode::OK);

    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    timeline_with(&app, &first, "routing.queued", 1).await;
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" })).await;
    let c = eventually(&app, &format!("/v1/conversations/{second}"), |c| c["state"] == "closed").await;
    assert_eq!(c["closure_reason"], "queue_overflow");
    assert_eq!(system_messages(&app, &second).await, ["We are very busy. Please write again later."]);
    let (_, t) = app.get(&format!("/v1/conversations/{second}/timeline?limit=200"), &app.admin_key).await;
    assert_eq!(events_of(&t, "routing.overflowed")[0]["data"]["condition"], "work_item_limit_exceeded");
    assert!(events_of(&t, "routing.queued").is_empty());
    let (_, c) = app.get(&format!("/v1/conversations/{first}"), &app.admin_key).await;
    assert_eq!(c["state"], "open");
}

#[tokio::test]
async fn a_long_estimated_wait_offers_a_callback() {
    let (_clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({})).await;
    let callback = json!({ "rules": [{ "condition": { "type": "estimated_wait_exceeds", "seconds": 60 },
                                        "action": { "type": "offer_callback" } }] });
    assert_eq!(patch_queue(&app, &setup.queue, json!({ "overflow": callback })).await.0, StatusCode::OK);
    let (key, agent) = agent(&app, &setup.queue, 1, "available").await;

    // A free agent: no wait, so the first customer is routed as usual.
    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    accept_offer(&app, &agent, &key).await;

    // The agent is busy for minutes: the next customer is offered a callback instead of the wait.
    let customer = json!({ "customer_id": "c2", "first_name": "Ada", "last_name": "Lovelace",
                           "phone": "+14155550123", "email": "ada@example.com" });
    let second = create(&app, &setup.channel, customer).await;
    let c = eventually(&app, &format!("/v1/conversations/{second}"), |c| c["state"] == "closed").await;
    assert_eq!(c["closure_reason"], "callback_requested");
    let said = system_messages(&app, &second).await;
    assert!(said.len() == 1 && said[0].contains("call you back"), "{said:?}");

    let (_, list) = app.get("/v1/callback-requests", &app.admin_key).await;
    let requests = list["data"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{list}");
    let r = &requests[0];
    assert_eq!(
        (r["conversation_id"].as_str(), r["queue_id"].as_str()),
        (Some(second.as_str()), Some(setup.queue.as_str()))
    );
    assert_eq!((r["phone"].as_str(), r["email"].as_str()), (Some("+14155550123"), Some("ada@example.com")));
    assert_eq!((r["name"].as_str(), r["reason"].as_str()), (Some("Ada Lovelace"), Some("estimated_wait_exceeds")));
    assert_eq!((r["customer_key"].as_str(), r["state"].as_str()), (Some("c2"), Some("requested")));
    let t = timeline_with(&app, &second, "routing.callback_requested", 1).await;
    assert_eq!(events_of(&t, "routing.callback_requested")[0]["data"]["phone"], "+14155550123");
    let (_, mine) = app.get(&format!("/v1/callback-requests?queue_id={}", uuid::Uuid::now_v7()), &app.admin_key).await;
    assert_eq!(mine["data"], json!([]));
    let (status, body) = app.get("/v1/callback-requests?limit=0", &app.admin_key).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_query");
    let (agent_key, _) = app.key(Role::Agent).await;
    assert_eq!(app.get("/v1/callback-requests", &agent_key).await.0, StatusCode::FORBIDDEN);

    let (_, c) = app.get(&format!("/v1/conversations/{first}"), &app.admin_key).await;
    assert_eq!(c["state"], "active");
}

#[tokio::test]
async fn bad_overflow_settings_are_refused_with_the_field() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let other = queue(&app, "Other").await;
    let to = |q: &str| json!({ "type": "transfer_to_queue", "queue_id": q });
    let one = |condition: Value, action: Value| json!({ "overflow": { "rules": [{ "condition": condition, "action": action }] } });
    let hours = json!({ "type": "out_of_operating_hours" });
    let refused = |field: &'static str| {
        move |(status, body): (StatusCode, Value)| {
            assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_overflow");
            assert_eq!(body["field"], field, "{body}");
        }
    };

    let unknown = uuid::Uuid::now_v7().to_string();
    refused("overflow.rules[0].action.queue_id")(
        patch_queue(&app, &setup.queue, one(hours.clone(), to(&unknown))).await,
    );
    // Another organization's queue is as unknown as one that does not exist.
    let (_, other_org) =
        switchboard_server::admin::create_org(&app.state.store, "globex", app.state.clock.now()).await.unwrap();
    let theirs = app.post_ok("/v1/queues", &other_org.api_key, json!({ "name": "Theirs" }), StatusCode::CREATED).await;
    refused("overflow.rules[0].action.queue_id")(
        patch_queue(&app, &setup.queue, one(hours.clone(), to(&id(&theirs)))).await,
    );
    refused("overflow.rules[0].action.queue_id")(
        patch_queue(&app, &setup.queue, one(hours.clone(), to(&setup.queue))).await,
    );
    refused("overflow.rules[0].condition.limit")(
        patch_queue(
            &app,
            &setup.queue,
            one(json!({ "type": "work_item_limit_exceeded", "limit": -1 }), json!({ "type": "assign_anyway" })),
        )
        .await,
    );
    refused("overflow.rules[0].condition.seconds")(
        patch_queue(
            &app,
            &setup.queue,
            one(json!({ "type": "estimated_wait_exceeds", "seconds": 0 }), json!({ "type": "assign_anyway" })),
        )
        .await,
    );
    let twice = json!({ "overflow": { "rules": [
        { "condition": hours, "action": { "type": "assign_anyway" } },
        { "condition": hours, "action": { "type": "end_conversation" } } ] } });
    refused("overflow.rules[1].condition")(patch_queue(&app, &setup.queue, twice).await);

    // A loop through two queues: General → Other is fine until Other → General would close it.
    assert_eq!(patch_queue(&app, &setup.queue, one(hours.clone(), to(&other))).await.0, StatusCode::OK);
    let full = json!({ "type": "work_item_limit_exceeded", "limit": 5 });
    refused("overflow.rules[0].action.queue_id")(patch_queue(&app, &other, one(full, to(&setup.queue))).await);

    // A shape that does not parse is refused before anything is checked; nothing changed.
    let (status, _) = patch_queue(&app, &setup.queue, one(json!({ "type": "sometimes" }), to(&other))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, other_now) = patch_queue(&app, &other, json!({})).await;
    assert_eq!(other_now["routing"]["overflow"], json!({ "rules": [] }));
}

#[tokio::test]
async fn a_restart_keeps_estimates_and_does_not_repeat_updates() {
    let (_clock, options) = manual();
    let mut app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({})).await;
    let (key, agent) = agent(&app, &setup.queue, 1, "available").await;
    create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    accept_offer(&app, &agent, &key).await;
    let waiting = create(&app, &setup.channel, json!({ "customer_id": "c2" })).await;
    timeline_with(&app, &waiting, "routing.wait_estimate_changed", 1).await;

    app.restart().await;

    // Reading the position loads routing again (the waiting conversation is queued anew); the customer heard their
    // place before the restart and is not told it twice.
    let path = format!("/v1/conversations/{waiting}/queue-position");
    let pos = eventually(&app, &path, |p| p["position"] == 1).await;
    assert!(pos["estimated_wait_seconds"].as_f64().is_some_and(|s| s > 0.0), "{pos}");
    assert_eq!(system_messages(&app, &waiting).await.len(), 1);
}

/// Waits for the conversation's `n`th offer; returns it and the key of its agent, found in `keys` (key, id).
async fn nth_offer(app: &TestApp, conversation: &str, n: usize, keys: &[(String, String)]) -> (String, String) {
    let t = timeline_with(app, conversation, "routing.offer_issued", n).await;
    let issued = events_of(&t, "routing.offer_issued")[n - 1]["data"].clone();
    let agent = issued["agent_id"].as_str().unwrap();
    let key = keys.iter().find(|(_, id)| id == agent).unwrap().0.clone();
    (issued["offer_id"].as_str().unwrap().to_string(), key)
}

/// The conversation's first offer, answered `verb` (accept or reject) 5 s after it was made; returns the agent's key.
async fn answer_after_5s(
    app: &TestApp,
    clock: &ManualClock,
    conversation: &str,
    keys: &[(String, String)],
    verb: &str,
) -> String {
    let (offer, key) = nth_offer(app, conversation, 1, keys).await;
    clock.advance(Duration::from_secs(5));
    app.post_ok(&format!("/v1/offers/{offer}/{verb}"), &key, json!({}), StatusCode::OK).await;
    key
}

#[tokio::test]
async fn the_seconds_before_an_agent_accepts_are_not_taken_for_service() {
    // Issue 18, finding 3: offers accepted a few seconds after they were made counted as completed service, so a
    // fresh queue with two busy agents promised position 1 about 20 s where staffing alone gives about 105 s.
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({})).await;
    let keys = [agent(&app, &setup.queue, 1, "available").await, agent(&app, &setup.queue, 1, "available").await];
    // The queue's members are set as a whole: both of them.
    let members = json!({ "user_ids": [keys[0].1, keys[1].1] });
    let (status, v) = app
        .call(Method::PUT, &format!("/v1/queues/{}/members", setup.queue), Some(&app.admin_key), Some(members))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // Eight conversations, each offered to a free agent at once and accepted 5 s later, then handled for the
    // default five minutes, so that the handle time learned stays what the staffing model assumes.
    for i in 0..8 {
        let conversation = create(&app, &setup.channel, json!({ "customer_id": format!("early{i}") })).await;
        let key = answer_after_5s(&app, &clock, &conversation, &keys, "accept").await;
        clock.advance(Duration::from_secs(300));
        app.post_ok(&format!("/v1/conversations/{conversation}/end"), &key, json!({}), StatusCode::OK).await;
        app.post_ok(&format!("/v1/conversations/{conversation}/close"), &key, json!({}), StatusCode::OK).await;
    }
    // Both agents busy, one customer first in line.
    for i in 0..2 {
        let conversation = create(&app, &setup.channel, json!({ "customer_id": format!("busy{i}") })).await;
        answer_after_5s(&app, &clock, &conversation, &keys, "accept").await;
    }
    let waiting = create(&app, &setup.channel, json!({ "customer_id": "waiting" })).await;
    let pos = eventually(&app, &format!("/v1/conversations/{waiting}/queue-position"), |p| p["position"] == 1).await;
    let estimate = pos["estimated_wait_seconds"].as_f64().unwrap();
    // One of two agents finishing a five-minute conversation: an exponential wait of mean 150 s, median 104 s,
    // plus the 5 s they take to accept.
    assert!((95.0..=125.0).contains(&estimate), "{pos}");
}

#[tokio::test]
async fn an_agent_cooling_down_after_declining_is_not_free_for_that_customer() {
    // Issue 18, finding 2: a customer whose every agent with room was in cooldown for them was told "less than a
    // minute" for as long as the cooldown lasted.
    let (clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({})).await;
    let keys = [agent(&app, &setup.queue, 1, "available").await];
    let conversation = create(&app, &setup.channel, json!({ "customer_id": "c1" })).await;
    answer_after_5s(&app, &clock, &conversation, &keys, "reject").await;
    let path = format!("/v1/conversations/{conversation}/queue-position");
    let pos = eventually(&app, &path, |p| p["routing_state"] == "open").await;
    // The agent has room but may not be offered it for the five-minute cooldown; their only way to this
    // customer is the cooldown's end (or finishing a conversation they do not have): minutes, not zero.
    let estimate = pos["estimated_wait_seconds"].as_f64().unwrap();
    assert!((150.0..=310.0).contains(&estimate), "{pos}");
    let (integration, _) = app.key(Role::Integration).await;
    let during = app.post_ok(DURING, &integration, json!({ "ConversationId": conversation }), StatusCode::OK).await;
    assert_eq!(during["EstimatedWaitTimeInSeconds"].as_f64(), Some(estimate), "{during}");

    // Four minutes on, a minute of cooldown is left, and the estimate says so.
    clock.advance(Duration::from_secs(240));
    let later = app.get(&path, &app.admin_key).await.1;
    let estimate = later["estimated_wait_seconds"].as_f64().unwrap();
    assert!((55.0..=70.0).contains(&estimate), "{later}");
}

#[tokio::test]
async fn a_customer_needing_a_skill_waits_for_the_agents_who_have_it_not_for_anyone_free() {
    // Issue 18, the `skills` row of docs/simulator.md: the estimate counted every free agent, so a customer only a
    // busy specialist could serve was told "less than a minute" while a generalist sat idle.
    let (_clock, options) = manual();
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({ "routing": { "enabled": true, "skill_matching": "exact" } })).await;
    let rules = json!({
        "context_variables": { "Need": "text" },
        "classification": [{ "name": "Skills", "rules": [
            { "condition": "context.Need == 'billing'", "actions": { "skills": [{ "name": "Billing" }] } }
        ] }]
    });
    let path = format!("/v1/workstreams/{}/rules", setup.workstream);
    let (status, body) = app.call(Method::PUT, &path, Some(&app.admin_key), Some(rules)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let billing = json!({ "Need": { "value": "billing" } });

    // The only billing specialist takes a first conversation and is full; then a generalist signs in, free.
    let (specialist_key, specialist) = agent(&app, &setup.queue, 1, "available").await;
    let skills = json!({ "skills": [{ "name": "Billing", "proficiency": 5 }] });
    let (status, body) =
        app.call(Method::PUT, &format!("/v1/agents/{specialist}/routing"), Some(&app.admin_key), Some(skills)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    create_with_context(&app, &setup.channel, "first", billing.clone()).await;
    accept_offer(&app, &specialist, &specialist_key).await;
    let (_, generalist) = agent(&app, &setup.queue, 1, "available").await;
    // The queue's members are set as a whole: both of them.
    let members = json!({ "user_ids": [specialist, generalist] });
    let path = format!("/v1/queues/{}/members", setup.queue);
    let (status, body) = app.call(Method::PUT, &path, Some(&app.admin_key), Some(members)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A billing customer waits first in line, with an agent free who may not take them: they wait for the
    // specialist to finish (one five-minute conversation: minutes), not "less than a minute".
    let needs = create_with_context(&app, &setup.channel, "needs-billing", billing).await;
    let pos = eventually(&app, &format!("/v1/conversations/{needs}/queue-position"), |p| p["position"] == 1).await;
    let estimate = pos["estimated_wait_seconds"].as_f64().unwrap();
    assert!((60.0..=600.0).contains(&estimate), "{pos}");
    let (integration, _) = app.key(Role::Integration).await;
    let during = app.post_ok(DURING, &integration, json!({ "ConversationId": needs }), StatusCode::OK).await;
    assert_eq!(
        (during["PositionInQueue"].clone(), during["EstimatedWaitTimeInSeconds"].as_f64()),
        (json!(1), Some(estimate)),
        "{during}"
    );

    // Asked before a conversation: another billing customer would wait behind them for the same specialist;
    // anyone else would be second in the queue, yet served at once by the free generalist.
    let ws = &setup.workstream;
    let request = |items: &str| json!({ "ApiVersion": "1.0", "LiveWorkStreamId": ws, "CustomContextItems": items });
    let billing_item = "{\"Need\":{\"value\":\"billing\"}}";
    let next_billing = app.post_ok(BEFORE, &integration, request(billing_item), StatusCode::OK).await;
    assert_eq!(next_billing["PositionInQueue"], 2, "{next_billing}");
    assert!(next_billing["EstimatedWaitTimeInSeconds"].as_f64().unwrap() > estimate, "{next_billing}");
    let anyone = app.post_ok(BEFORE, &integration, request(""), StatusCode::OK).await;
    assert_eq!(
        (anyone["PositionInQueue"].clone(), anyone["EstimatedWaitTimeInSeconds"].clone()),
        (json!(2), json!(0.0)),
        "{anyone}"
    );
}
