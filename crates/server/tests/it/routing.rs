//! Unified routing through the HTTP API: offers, accept and reject, expiry on a manual clock, presence, rules,
//! bad input, availability and queue positions.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::clock::ManualClock;

use crate::{Options, TestApp, assert_problem};

pub(crate) struct Setup {
    pub queue: String,
    pub workstream: String,
    pub channel: String,
}

async fn put(app: &TestApp, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, path, Some(key), Some(body)).await
}

async fn put_ok(app: &TestApp, path: &str, key: &str, body: Value) -> Value {
    let (status, value) = put(app, path, key, body).await;
    assert_eq!(status, StatusCode::OK, "PUT {path}: {value}");
    value
}

/// A queue, a workstream with routing on and the given routing settings, and a messaging channel.
pub(crate) async fn routed(app: &TestApp, routing: Value) -> Setup {
    let key = &app.admin_key;
    let queue = app.post_ok("/v1/queues", key, json!({ "name": "General" }), StatusCode::CREATED).await;
    let mut settings = json!({ "enabled": true });
    if let (Some(s), Some(extra)) = (settings.as_object_mut(), routing.as_object()) {
        s.extend(extra.clone());
    }
    let ws = app
        .post_ok(
            "/v1/workstreams",
            key,
            json!({ "name": "Chat", "fallback_queue_id": queue["id"], "settings": { "routing": settings } }),
            StatusCode::CREATED,
        )
        .await;
    let channel = app
        .post_ok(
            "/v1/channels",
            key,
            json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": ws["id"] }),
            StatusCode::CREATED,
        )
        .await;
    let s = |v: &Value| v["id"].as_str().unwrap().to_string();
    Setup { queue: s(&queue), workstream: s(&ws), channel: s(&channel) }
}

/// An agent with capacity in `queue`, with `presence`; returns (key, id).
pub(crate) async fn agent(app: &TestApp, queues: &[&str], presence: &str) -> (String, String) {
    let (key, id) = app.key(Role::Agent).await;
    let id = id.unwrap();
    put_ok(app, &format!("/v1/agents/{id}/routing"), &app.admin_key, json!({ "capacity_units": 2 })).await;
    for q in queues {
        let (_, members) = app.get(&format!("/v1/queues/{q}/members"), &app.admin_key).await;
        let mut ids: Vec<Value> = members["data"].as_array().unwrap().iter().map(|m| m["user_id"].clone()).collect();
        ids.push(json!(id));
        put_ok(app, &format!("/v1/queues/{q}/members"), &app.admin_key, json!({ "user_ids": ids })).await;
    }
    put_ok(app, &format!("/v1/agents/{id}/presence"), &key, json!({ "presence": presence })).await;
    (key, id)
}

pub(crate) async fn create(app: &TestApp, channel: &str, customer: &str, context: Value) -> String {
    let body = json!({ "channel_id": channel, "customer": { "customer_id": customer }, "context": context });
    let created = app.post_ok("/v1/conversations", &app.admin_key, body, StatusCode::CREATED).await;
    created["conversation"]["id"].as_str().unwrap().to_string()
}

/// Waits (in real time, for the routing follower) until `check` passes on the value `get` returns.
async fn eventually(app: &TestApp, path: &str, key: &str, check: impl Fn(&Value) -> bool) -> Value {
    app.eventually(path, key, check).await
}

pub(crate) async fn pending_offers(app: &TestApp, agent: &str, key: &str, n: usize) -> Vec<Value> {
    let offers = eventually(app, &format!("/v1/agents/{agent}/offers"), key, |v| {
        v["data"].as_array().is_some_and(|d| d.len() == n)
    })
    .await;
    offers["data"].as_array().unwrap().clone()
}

fn kinds(timeline: &Value) -> Vec<String> {
    timeline["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

async fn timeline_has(app: &TestApp, conversation: &str, kind: &str) -> Value {
    eventually(app, &format!("/v1/conversations/{conversation}/timeline?limit=200"), &app.admin_key, |t| {
        kinds(t).iter().any(|k| k == kind)
    })
    .await
}

#[tokio::test]
async fn a_new_conversation_is_offered_to_an_available_agent_who_accepts_it() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (key, id) = agent(&app, &[&setup.queue], "available").await;

    let conversation = create(&app, &setup.channel, "c1", json!({})).await;
    let offers = pending_offers(&app, &id, &key, 1).await;
    assert_eq!(offers[0]["conversation_id"], conversation.as_str());
    assert_eq!(offers[0]["queue_id"], setup.queue.as_str());
    assert_eq!(offers[0]["state"], "pending");

    let offer = offers[0]["id"].as_str().unwrap();
    let accepted = app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    assert_eq!((accepted["state"].as_str(), accepted["agent_id"].as_str()), (Some("active"), Some(id.as_str())));
    let (_, c) = app.get(&format!("/v1/conversations/{conversation}"), &app.admin_key).await;
    assert_eq!(c["state"], "active");

    let timeline = timeline_has(&app, &conversation, "routing.assigned").await;
    let kinds = kinds(&timeline);
    for kind in ["routing.queued", "routing.offer_issued", "conversation.state_changed", "routing.assigned"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    // Answered offers are no longer pending; accepting twice is refused.
    pending_offers(&app, &id, &key, 0).await;
    let (status, body) = app.post(&format!("/v1/offers/{offer}/accept"), &key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "offer_expired");
    let (_, me) = app.get(&format!("/v1/agents/{id}/routing"), &key).await;
    assert_eq!(me["used_units"], 1, "{me}");
}

#[tokio::test]
async fn a_rejected_offer_goes_to_the_next_agent_and_an_unanswered_one_expires() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let setup = routed(&app, json!({ "offer_timeout_seconds": 30 })).await;
    let (key_a, a) = agent(&app, &[&setup.queue], "available").await;
    let (key_b, b) = agent(&app, &[&setup.queue], "available").await;

    let conversation = create(&app, &setup.channel, "c1", json!({})).await;
    // Both agents have the same free capacity; whoever gets it first rejects it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (first_key, first, second_key, second) = loop {
        assert!(std::time::Instant::now() < deadline, "neither agent was offered the conversation");
        let (_, oa) = app.get(&format!("/v1/agents/{a}/offers"), &key_a).await;
        let (_, ob) = app.get(&format!("/v1/agents/{b}/offers"), &key_b).await;
        if oa["data"].as_array().unwrap().len() == 1 {
            break (&key_a, a.clone(), &key_b, b.clone());
        }
        if ob["data"].as_array().unwrap().len() == 1 {
            break (&key_b, b.clone(), &key_a, a.clone());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let offer = pending_offers(&app, &first, first_key, 1).await[0]["id"].as_str().unwrap().to_string();

    // The other agent cannot answer it: to them it does not exist.
    let (status, body) = app.post(&format!("/v1/offers/{offer}/accept"), second_key, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "offer_not_found");
    let (status, body) = app.post(&format!("/v1/offers/{offer}/reject"), second_key, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "offer_not_found");

    app.post_ok(&format!("/v1/offers/{offer}/reject"), first_key, json!({}), StatusCode::OK).await;
    let next = pending_offers(&app, &second, second_key, 1).await;
    assert_eq!(next[0]["conversation_id"], conversation.as_str());
    let next_offer = next[0]["id"].as_str().unwrap().to_string();

    // Nobody answers within the timeout: the offer expires on the routing clock.
    clock.advance(Duration::from_secs(31));
    pending_offers(&app, &second, second_key, 0).await;
    let (status, body) = app.post(&format!("/v1/offers/{next_offer}/accept"), second_key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "offer_expired");
    let (status, body) = app.post(&format!("/v1/offers/{offer}/accept"), first_key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "offer_expired");
    let timeline = timeline_has(&app, &conversation, "routing.offer_expired").await;
    assert!(kinds(&timeline).iter().any(|k| k == "routing.offer_rejected"));
    let (_, c) = app.get(&format!("/v1/conversations/{conversation}"), &app.admin_key).await;
    assert_eq!(c["state"], "open");

    // After the cooldown, the conversation is offered again.
    clock.advance(Duration::from_secs(301));
    let again =
        eventually(&app, &format!("/v1/conversations/{conversation}/timeline?limit=200"), &app.admin_key, |t| {
            kinds(t).iter().filter(|k| *k == "routing.offer_issued").count() == 3
        })
        .await;
    assert!(kinds(&again).len() > kinds(&timeline).len());
}

#[tokio::test]
async fn an_agent_going_offline_gives_back_their_offers_at_once_to_the_next_agent() {
    let app = TestApp::spawn().await;
    // Offers last long: what moves them on here is the agent leaving, not a timeout.
    let setup = routed(&app, json!({ "offer_timeout_seconds": 600 })).await;
    let (key_a, a) = agent(&app, &[&setup.queue], "available").await;
    let first = create(&app, &setup.channel, "c1", json!({})).await;
    let second = create(&app, &setup.channel, "c2", json!({})).await;
    let offers = pending_offers(&app, &a, &key_a, 2).await;
    let (_, b) = agent(&app, &[&setup.queue], "offline").await;

    put_ok(&app, &format!("/v1/agents/{a}/presence"), &key_a, json!({ "presence": "offline" })).await;
    pending_offers(&app, &a, &key_a, 0).await;
    for offer in &offers {
        let offer = offer["id"].as_str().unwrap();
        let (status, body) = app.post(&format!("/v1/offers/{offer}/accept"), &key_a, json!({})).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "offer_expired");
    }
    for conversation in [&first, &second] {
        let timeline = timeline_has(&app, conversation, "routing.offer_withdrawn").await;
        let (_, c) = app.get(&format!("/v1/conversations/{conversation}"), &app.admin_key).await;
        assert_eq!((c["state"].as_str(), c["agent_id"].as_str()), (Some("open"), None), "{timeline}");
    }
    // They wait at their places, first first, for the next agent.
    put_ok(&app, &format!("/v1/agents/{b}/presence"), &app.admin_key, json!({ "presence": "available" })).await;
    let next = pending_offers(&app, &b, &app.admin_key, 2).await;
    let mut offered: Vec<&str> = next.iter().map(|o| o["conversation_id"].as_str().unwrap()).collect();
    offered.sort_unstable();
    let mut expected = [first.as_str(), second.as_str()];
    expected.sort_unstable();
    assert_eq!(offered, expected);
}

#[tokio::test]
async fn an_offline_agent_gets_no_offers_until_available() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (key, id) = agent(&app, &[&setup.queue], "offline").await;

    let conversation = create(&app, &setup.channel, "c1", json!({})).await;
    timeline_has(&app, &conversation, "routing.queued").await;
    let (_, offers) = app.get(&format!("/v1/agents/{id}/offers"), &key).await;
    assert_eq!(offers["data"], json!([]));
    let (_, presence) = app.get(&format!("/v1/agents/{id}/presence"), &key).await;
    assert_eq!(presence["presence"], "offline");

    put_ok(&app, &format!("/v1/agents/{id}/presence"), &key, json!({ "presence": "available" })).await;
    let offers = pending_offers(&app, &id, &key, 1).await;
    assert_eq!(offers[0]["conversation_id"], conversation.as_str());
}

#[tokio::test]
async fn saving_a_workstreams_rules_changes_its_updated_at_and_bad_rules_do_not() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let setup = routed(&app, json!({})).await;
    let path = format!("/v1/workstreams/{}", setup.workstream);
    let (_, before) = app.get(&path, &app.admin_key).await;
    clock.advance(Duration::from_secs(60));
    let rules =
        json!({ "route_to_queue": { "rules": [{ "condition": "channel == 'messaging_api'", "queue": setup.queue }] } });
    put_ok(&app, &format!("{path}/rules"), &app.admin_key, rules).await;
    let (_, after) = app.get(&path, &app.admin_key).await;
    assert_eq!(after["updated_at"], json!(clock.now()), "{before} → {after}");
    assert_ne!(after["updated_at"], before["updated_at"]);

    clock.advance(Duration::from_secs(60));
    let bad = json!({ "route_to_queue": { "rules": [{ "condition": "channel ==", "queue": setup.queue }] } });
    let (status, _) = put(&app, &format!("{path}/rules"), &app.admin_key, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, unchanged) = app.get(&path, &app.admin_key).await;
    assert_eq!(unchanged["updated_at"], after["updated_at"]);
}

#[tokio::test]
async fn a_queues_updated_at_follows_its_changes_and_refused_or_empty_ones_leave_it() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let admin = app.admin_key.clone();
    let setup = routed(&app, json!({})).await;
    let path = format!("/v1/queues/{}", setup.queue);
    let members = format!("{path}/members");
    let (_, agent) = app.key(Role::Agent).await;
    let agent = agent.unwrap();
    let updated_at = async || app.get(&path, &admin).await.1["updated_at"].clone();

    let (_, created) = app.get(&path, &admin).await;
    assert_eq!(created["updated_at"], created["created_at"], "last changed when created: {created}");
    let (_, listed) = app.get("/v1/queues", &admin).await;
    assert_eq!(listed["data"][0]["updated_at"], created["updated_at"], "{listed}");

    // Each kind of change sets it to the time of the change.
    let wait = json!({ "type": "wait_in_queue_exceeds", "seconds": 600 });
    let overflow =
        json!({ "rules": [{ "condition": wait, "action": { "type": "end_conversation", "message": "Bye" } }] });
    for (method, at, body) in [
        (Method::PATCH, &path, json!({ "assignment_method": "round_robin" })),
        (Method::PATCH, &path, json!({ "calendar": { "time_zone": "UTC", "weekly": {} } })),
        (Method::PATCH, &path, json!({ "calendar": null })),
        (Method::PATCH, &path, json!({ "overflow": overflow })),
        (Method::PUT, &members, json!({ "user_ids": [agent] })),
        (Method::PUT, &members, json!({ "user_ids": [] })),
    ] {
        clock.advance(Duration::from_secs(60));
        let (status, answer) = app.call(method.clone(), at, Some(&admin), Some(body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{method} {at} {body}: {answer}");
        assert_eq!(updated_at().await, json!(clock.now()), "{method} {at} {body}");
    }
    let last = updated_at().await;
    assert_ne!(last, created["updated_at"]);

    // Refused changes and changes that change nothing leave it.
    clock.advance(Duration::from_secs(60));
    for (method, at, body, status) in [
        (Method::PATCH, &path, json!({ "calendar": { "time_zone": "Mars/Olympus_Mons" } }), StatusCode::BAD_REQUEST),
        (Method::PATCH, &path, json!({ "assignment_method": "custom" }), StatusCode::BAD_REQUEST),
        (Method::PATCH, &path, json!({ "overflow": { "rules": [{ "condition": wait }] } }), StatusCode::BAD_REQUEST),
        (Method::PUT, &members, json!({ "user_ids": [uuid::Uuid::now_v7()] }), StatusCode::NOT_FOUND),
        (Method::PATCH, &path, json!({}), StatusCode::OK),
        (Method::PATCH, &path, json!({ "assignment_method": "round_robin", "overflow": overflow }), StatusCode::OK),
        (Method::PUT, &members, json!({ "user_ids": [] }), StatusCode::OK),
    ] {
        let (got, answer) = app.call(method.clone(), at, Some(&admin), Some(body.clone())).await;
        assert_eq!(got, status, "{method} {at} {body}: {answer}");
        assert_eq!(updated_at().await, last, "{method} {at} {body}");
    }
}

#[tokio::test]
async fn queues_say_when_they_last_changed_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let schema = &doc["components"]["schemas"]["Queue"];
    assert!(schema["properties"]["updated_at"].is_object(), "{schema}");
    assert!(schema["required"].as_array().unwrap().contains(&json!("updated_at")), "{schema}");
}

#[tokio::test]
async fn rules_route_by_context_variable_to_a_queue() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let vip = app.post_ok("/v1/queues", &app.admin_key, json!({ "name": "VIP" }), StatusCode::CREATED).await;
    let vip = vip["id"].as_str().unwrap().to_string();
    let rules = json!({
        "context_variables": { "Tier": "text" },
        "classification": [{ "rules": [{ "condition": "context.Tier == 'gold'", "actions": { "priority": 5 } }] }],
        "route_to_queue": { "rules": [{ "condition": "context.Tier == 'gold'", "queue": vip }] }
    });
    put_ok(&app, &format!("/v1/workstreams/{}/rules", setup.workstream), &app.admin_key, rules.clone()).await;
    let (_, saved) = app.get(&format!("/v1/workstreams/{}/rules", setup.workstream), &app.admin_key).await;
    assert_eq!(saved["route_to_queue"], rules["route_to_queue"]);
    let (key, id) = agent(&app, &[&vip], "available").await;

    let gold = create(&app, &setup.channel, "gold", json!({ "Tier": { "value": "gold" } })).await;
    let plain = create(&app, &setup.channel, "plain", json!({ "Tier": { "value": "silver" } })).await;
    let offers = pending_offers(&app, &id, &key, 1).await;
    assert_eq!(offers[0]["conversation_id"], gold.as_str());
    assert_eq!(offers[0]["queue_id"], vip.as_str());
    let (_, c) = app.get(&format!("/v1/conversations/{gold}"), &app.admin_key).await;
    assert_eq!((c["queue_id"].as_str(), c["priority"].as_i64()), (Some(vip.as_str()), Some(5)));

    timeline_has(&app, &plain, "routing.queued").await;
    let (_, c) = app.get(&format!("/v1/conversations/{plain}"), &app.admin_key).await;
    assert_eq!(c["queue_id"].as_str(), Some(setup.queue.as_str()));
}

#[tokio::test]
async fn bad_routing_input_is_refused_with_stable_codes() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (key, id) = agent(&app, &[&setup.queue], "offline").await;
    let admin = &app.admin_key;

    let (status, body) = put(&app, &format!("/v1/agents/{id}/presence"), &key, json!({ "presence": "sleepy" })).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_presence");
    let (status, body) = put(&app, &format!("/v1/agents/{id}/presence"), &key, json!({ "presence": "inactive" })).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_presence");
    let (status, body) = put(&app, &format!("/v1/agents/{id}/routing"), admin, json!({ "capacity_units": -1 })).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_capacity");
    let (status, body) = put(
        &app,
        &format!("/v1/agents/{id}/routing"),
        admin,
        json!({ "skills": [{ "name": "Billing", "proficiency": 11 }] }),
    )
    .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    // An agent cannot change their own capacity, nor see another agent.
    let (status, _) = put(&app, &format!("/v1/agents/{id}/routing"), &key, json!({ "capacity_units": 9 })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (other_key, _) = app.key(Role::Agent).await;
    let (status, body) = app.get(&format!("/v1/agents/{id}/presence"), &other_key).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "agent_not_found");

    let rules_path = format!("/v1/workstreams/{}/rules", setup.workstream);
    let bad = json!({ "route_to_queue": { "rules": [{ "condition": "context.Tier = 'gold'", "queue": setup.queue }] },
        "context_variables": { "Tier": "text" } });
    let (status, body) = put(&app, &rules_path, admin, bad).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_rule");
    assert_eq!(body["field"], "route_to_queue.rules[0].condition");
    let undeclared =
        json!({ "route_to_queue": { "rules": [{ "condition": "context.Tier == 'gold'", "queue": setup.queue }] } });
    let (status, body) = put(&app, &rules_path, admin, undeclared).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_rule");
    let unknown_queue =
        json!({ "route_to_queue": { "rules": [{ "condition": "true", "queue": uuid::Uuid::now_v7() }] } });
    let (status, body) = put(&app, &rules_path, admin, unknown_queue).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_rule");

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/queues/{}", setup.queue),
            Some(admin),
            Some(json!({ "calendar": { "time_zone": "Mars/Olympus_Mons" } })),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_calendar");
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/queues/{}", setup.queue),
            Some(admin),
            Some(json!({ "assignment_method": "round_robin" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["routing"]["assignment_method"], "round_robin");

    let (status, body) = app.post(&format!("/v1/offers/{}/accept", uuid::Uuid::now_v7()), &key, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "offer_not_found");
    let (status, body) = app.post("/v1/offers/not-an-id/accept", &key, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "offer_not_found");

    let (status, body) = app
        .post(
            "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityBeforeConversation",
            admin,
            json!({ "ApiVersion": "1.0", "LiveWorkStreamId": setup.workstream, "CustomContextItems": "{not json" }),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
}

#[tokio::test]
async fn availability_before_and_during_a_conversation() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (integration, _) = app.key(Role::Integration).await;
    let before = "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityBeforeConversation";
    let request = json!({
        "ApiVersion": "1.0",
        "LiveWorkStreamId": setup.workstream,
        "CustomContextItems": "{\"Tier\":{\"value\":\"gold\",\"isDisplayable\":true,\"datatype\":\"192350000\"}}",
        "ChannelEngagementContext": "{\"msdyn_browser\":\"Edge\"}"
    });

    let nobody = app.post_ok(before, &integration, request.clone(), StatusCode::OK).await;
    assert_eq!(nobody["QueueId"], setup.queue.as_str());
    assert_eq!(nobody["IsQueueAvailable"], true);
    assert_eq!(nobody["IsAgentAvailable"], false);
    assert_eq!(nobody["NumberOfExpertsAvailableInQueue"], 0);
    assert_eq!(nobody["PositionInQueue"], 1);
    assert_eq!(nobody["StartTimeOfNextOperatingHour"], "0001-01-01T00:00:00Z");
    assert_eq!(nobody["NextTransitionTime"], "9999-12-31T23:59:59Z");
    assert!(nobody["AverageWaitTime"].is_null());
    assert_eq!(nobody["AverageWaitTimeInSeconds"], 0.0);

    // A conversation waits (its agent is offline); a new customer would be second.
    let (key, id) = agent(&app, &[&setup.queue], "offline").await;
    let waiting = create(&app, &setup.channel, "c1", json!({})).await;
    timeline_has(&app, &waiting, "routing.queued").await;
    let during = "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityForConversation";
    let mine = app.post_ok(during, &integration, json!({ "ConversationId": waiting }), StatusCode::OK).await;
    assert_eq!((mine["PositionInQueue"].clone(), mine["IsAgentAvailable"].clone()), (json!(1), json!(false)));
    let next = app.post_ok(before, &integration, request.clone(), StatusCode::OK).await;
    assert_eq!(next["PositionInQueue"], 2);

    // The agent comes online, takes it, and has room for one more.
    put_ok(&app, &format!("/v1/agents/{id}/presence"), &key, json!({ "presence": "available" })).await;
    let offer = pending_offers(&app, &id, &key, 1).await[0]["id"].as_str().unwrap().to_string();
    // Offered, then taken, it waits in no queue: place 0 and no wait left, as its queue position says (null).
    let no_longer_waiting = |answer: &Value| {
        (answer["PositionInQueue"].clone(), answer["EstimatedWaitTimeInSeconds"].clone()) == (json!(0), json!(0.0))
    };
    let offered = app.post_ok(during, &integration, json!({ "ConversationId": waiting }), StatusCode::OK).await;
    assert!(no_longer_waiting(&offered), "offered: {offered}");
    app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    let taken = app.post_ok(during, &integration, json!({ "ConversationId": waiting }), StatusCode::OK).await;
    assert!(no_longer_waiting(&taken), "active: {taken}");
    let (_, position) = app.get(&format!("/v1/conversations/{waiting}/queue-position"), &integration).await;
    assert!(position["position"].is_null(), "{position}");
    let staffed = app.post_ok(before, &integration, request, StatusCode::OK).await;
    assert_eq!((staffed["IsAgentAvailable"].clone(), staffed["PositionInQueue"].clone()), (json!(true), json!(1)));
    assert_eq!(staffed["NumberOfExpertsAvailableInQueue"], 1);
    assert!(staffed["AverageWaitTimeInSeconds"].as_f64().is_some(), "{staffed}");

    // A queue outside its hours says when it opens.
    let closed = json!({ "calendar": { "time_zone": "UTC", "weekly": {} } });
    let (status, body) =
        app.call(Method::PATCH, &format!("/v1/queues/{}", setup.queue), Some(&app.admin_key), Some(closed)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let shut = app.post_ok(before, &integration, json!({ "LiveWorkStreamId": setup.workstream }), StatusCode::OK).await;
    assert_eq!(shut["IsQueueAvailable"], false);
    let (status, body) = app.post(during, &integration, json!({ "ConversationId": uuid::Uuid::now_v7() })).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
}

#[tokio::test]
async fn queue_positions_reach_the_conversation_log() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let first = create(&app, &setup.channel, "c1", json!({})).await;
    let second = create(&app, &setup.channel, "c2", json!({})).await;

    let timeline = timeline_has(&app, &second, "routing.position_changed").await;
    let change = timeline["data"].as_array().unwrap().iter().find(|e| e["type"] == "routing.position_changed").unwrap();
    assert_eq!(
        (change["data"]["position"].clone(), change["data"]["queue_id"].as_str()),
        (json!(2), Some(setup.queue.as_str()))
    );
    let (_, pos) = app.get(&format!("/v1/conversations/{second}/queue-position"), &app.admin_key).await;
    assert_eq!((pos["position"].clone(), pos["routing_state"].clone()), (json!(2), json!("open")));

    // The first customer leaves: the second moves up, and its log says so.
    app.post_ok(&format!("/v1/conversations/{first}/close"), &app.admin_key, json!({}), StatusCode::OK).await;
    eventually(&app, &format!("/v1/conversations/{second}/timeline?limit=200"), &app.admin_key, |t| {
        t["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "routing.position_changed" && e["data"]["position"] == 1)
    })
    .await;
    let (_, pos) = app.get(&format!("/v1/conversations/{second}/queue-position"), &app.admin_key).await;
    assert_eq!(pos["position"], 1);
    let (_, pos) = app.get(&format!("/v1/conversations/{first}/queue-position"), &app.admin_key).await;
    assert_eq!((pos["position"].clone(), pos["routing_state"].clone()), (Value::Null, json!("none")));
}

fn positions_logged(timeline: &Value) -> Vec<i64> {
    timeline["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "routing.position_changed")
        .map(|e| e["data"]["position"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_conversations_log_records_its_position_at_most_once_a_second_and_then_the_latest() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let setup = routed(&app, json!({})).await;
    let ids: Vec<String> = queued_one_after_another(&app, &setup.channel, 4).await;
    let last = &ids[3];
    let timeline = format!("/v1/conversations/{last}/timeline?limit=200");
    eventually(&app, &timeline, &app.admin_key, |t| positions_logged(t) == vec![4]).await;

    // The three ahead of it leave within the second: the engine moves it up three times, the log holds it back.
    for id in &ids[..3] {
        app.post_ok(&format!("/v1/conversations/{id}/close"), &app.admin_key, json!({}), StatusCode::OK).await;
    }
    // The last one leaving is written with the position changes it caused.
    timeline_has(&app, &ids[2], "routing.dequeued").await;
    let (_, pos) = app.get(&format!("/v1/conversations/{last}/queue-position"), &app.admin_key).await;
    assert_eq!(pos["position"], 1, "the engine knows at once");
    let (_, now) = app.get(&timeline, &app.admin_key).await;
    assert_eq!(positions_logged(&now), vec![4], "held within the second: {now}");

    // When the second has passed on routing's clock, the latest place is written, once.
    clock.advance(Duration::from_secs(1));
    eventually(&app, &timeline, &app.admin_key, |t| positions_logged(t) == vec![4, 1]).await;
}

/// Creates `n` conversations one after another, each queued behind the ones before.
async fn queued_one_after_another(app: &TestApp, channel: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(create(app, channel, &format!("c{i}"), json!({})).await);
    }
    ids
}

#[tokio::test]
async fn a_workstream_without_routing_keeps_conversations_for_manual_accept() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let conversation = create(&app, &channel, "c1", json!({})).await;
    let (_, pos) = app.get(&format!("/v1/conversations/{conversation}/queue-position"), &app.admin_key).await;
    assert_eq!(pos["routing_state"], "none");
    let (_, timeline) = app.get(&format!("/v1/conversations/{conversation}/timeline"), &app.admin_key).await;
    assert!(kinds(&timeline).iter().all(|k| !k.starts_with("routing.")));
}

#[tokio::test]
async fn a_restart_rebuilds_routing_from_the_store() {
    let mut app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (key, id) = agent(&app, &[&setup.queue], "available").await;
    let first = create(&app, &setup.channel, "c1", json!({})).await;
    let offer = pending_offers(&app, &id, &key, 1).await[0]["id"].as_str().unwrap().to_string();
    app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    let second = create(&app, &setup.channel, "c2", json!({})).await;
    let pending = pending_offers(&app, &id, &key, 1).await[0]["id"].as_str().unwrap().to_string();
    assert_eq!(pending_offers(&app, &id, &key, 1).await[0]["conversation_id"], second.as_str());

    app.restart().await;

    // The accepted conversation still holds its capacity; the pending offer died with the old process and the
    // conversation is offered again.
    let fresh = eventually(&app, &format!("/v1/agents/{id}/offers"), &key, |v| {
        v["data"].as_array().is_some_and(|d| d.len() == 1 && d[0]["id"] != pending.as_str())
    })
    .await;
    assert_eq!(fresh["data"][0]["conversation_id"], second.as_str());
    let (status, body) = app.post(&format!("/v1/offers/{pending}/accept"), &key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "offer_expired");
    let (_, me) = app.get(&format!("/v1/agents/{id}/routing"), &key).await;
    assert_eq!((me["used_units"].clone(), me["presence"].clone()), (json!(2), json!("available")), "{me}");

    // Ending the first conversation frees its capacity in the rebuilt engine.
    app.post_ok(&format!("/v1/conversations/{first}/end"), &key, json!({}), StatusCode::OK).await;
    eventually(&app, &format!("/v1/agents/{id}/routing"), &key, |me| me["used_units"] == 1).await;
}

#[tokio::test]
async fn changes_to_one_agent_made_at_once_all_persist() {
    let mut app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (key, id) = agent(&app, &[&setup.queue], "available").await;
    let admin = app.admin_key.clone();
    let (presence, routing) = (format!("/v1/agents/{id}/presence"), format!("/v1/agents/{id}/routing"));
    // Each round changes presence, capacity and skills in three requests at once; each reads the agent's row as
    // the one before it left it, committed or not, so none writes another's field back to its old value.
    for round in 0..8_i64 {
        let (wanted, units) = if round % 2 == 0 { ("away", 5 + round) } else { ("available", 1 + round) };
        let skill = format!("skill-{round}");
        let (a, b, c) = tokio::join!(
            put(&app, &presence, &key, json!({ "presence": wanted })),
            put(&app, &routing, &admin, json!({ "capacity_units": units })),
            put(&app, &routing, &admin, json!({ "skills": [{ "name": skill, "proficiency": 7 }] })),
        );
        assert_eq!((a.0, b.0, c.0), (StatusCode::OK, StatusCode::OK, StatusCode::OK), "{a:?} {b:?} {c:?}");
    }
    let expect = |me: &Value| {
        assert_eq!(me["presence"], "available", "{me}");
        assert_eq!(me["capacity_units"], 8, "{me}");
        assert_eq!(me["skills"][0]["name"], "skill-7", "{me}");
    };
    expect(&app.get(&routing, &key).await.1);
    app.restart().await;
    expect(&app.get(&routing, &key).await.1);
}

#[tokio::test]
async fn a_queues_routing_reads_back_as_saved_for_admins_and_supervisors_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key.clone();
    let queue = app.post_ok("/v1/queues", &admin, json!({ "name": "Hours" }), StatusCode::CREATED).await;
    let path = format!("/v1/queues/{}/routing", queue["id"].as_str().unwrap());

    // A new queue: the defaults, always open.
    let (status, body) = app.get(&path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], queue["id"]);
    assert_eq!(body["routing"]["assignment_method"], "highest_capacity");
    assert!(body["routing"].get("calendar").is_none(), "{body}");

    // What a PATCH saved is what the GET reads: the same document.
    let calendar =
        json!({ "time_zone": "Europe/Berlin", "weekly": { "monday": [{ "start": "09:00", "end": "17:00" }] } });
    let (status, patched) = app
        .call(Method::PATCH, &path.replace("/routing", ""), Some(&admin), Some(json!({ "calendar": calendar })))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let (_, read) = app.get(&path, &admin).await;
    assert_eq!(read, patched);
    assert_eq!(read["routing"]["calendar"]["weekly"]["monday"][0]["start"], "09:00");

    let (supervisor, _) = app.key(Role::Supervisor).await;
    assert_eq!(app.get(&path, &supervisor).await.0, StatusCode::OK);
    for role in [Role::Agent, Role::Integration] {
        let (key, _) = app.key(role).await;
        let (status, body) = app.get(&path, &key).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    // Unknown, malformed and another organization's queues are all not found.
    let (_, tenant) =
        switchboard_server::admin::create_org(&app.state.store, "other", app.state.clock.now()).await.unwrap();
    let theirs = app.post_ok("/v1/queues", &tenant.api_key, json!({ "name": "Theirs" }), StatusCode::CREATED).await;
    for id in [uuid::Uuid::now_v7().to_string(), "not-an-id".into(), theirs["id"].as_str().unwrap().into()] {
        let (status, body) = app.get(&format!("/v1/queues/{id}/routing"), &admin).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "queue_not_found");
    }
}

/// Makes every offer written from now on fail to commit (a trigger on the offers table), or stops that.
async fn offers_fail(app: &TestApp, fail: bool) {
    app.state
        .store
        .write(move |tx| {
            let statements: &[&str] = match (tx.backend(), fail) {
                (switchboard_store::Backend::Sqlite, true) => {
                    &["CREATE TRIGGER offers_fail BEFORE INSERT ON offers BEGIN SELECT RAISE(ABORT, 'injected'); END"]
                }
                (switchboard_store::Backend::Sqlite, false) => &["DROP TRIGGER offers_fail"],
                (switchboard_store::Backend::Postgres, true) => &[
                    "CREATE FUNCTION offers_fail() RETURNS trigger LANGUAGE plpgsql AS \
                     'BEGIN RAISE EXCEPTION ''injected''; END'",
                    "CREATE TRIGGER offers_fail BEFORE INSERT ON offers FOR EACH ROW EXECUTE FUNCTION offers_fail()",
                ],
                (switchboard_store::Backend::Postgres, false) => &["DROP TRIGGER offers_fail ON offers"],
            };
            for sql in statements {
                tx.execute(sql, switchboard_store::params![])?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// Issue 18, finding 8: a routing write that fails outside the API (here the follower's: a new conversation's
/// classification and offer) has the organization's routing rebuilt from the store at once, so the conversation is
/// offered without a restart or another event. The clock stands still: no offer expiry routes it again.
#[tokio::test]
async fn a_failed_routing_write_rebuilds_routing_and_the_new_conversation_is_offered() {
    let options = Options { clock: Some(ManualClock::new(Timestamp::now())), ..Options::default() };
    let app = TestApp::spawn_with(options).await;
    let setup = routed(&app, json!({})).await;
    let (key, id) = agent(&app, &[&setup.queue], "available").await;
    let failed = app.state.routing.failed_writes();
    offers_fail(&app, true).await;
    let conversation = create(&app, &setup.channel, "c1", json!({})).await;
    crate::until("the routing write failed", || (app.state.routing.failed_writes() > failed).then_some(())).await;
    offers_fail(&app, false).await;

    let offers = pending_offers(&app, &id, &key, 1).await;
    assert_eq!(offers[0]["conversation_id"], conversation.as_str());
    let t = timeline_has(&app, &conversation, "routing.offer_issued").await;
    assert_eq!(kinds(&t).iter().filter(|k| *k == "routing.queued").count(), 1, "{t}");
}
