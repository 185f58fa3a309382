//! Routing configuration through the HTTP API: each assignment method end to end, custom presences routed by
//! their base, capacity profiles with automatic Busy, custom rulesets with gradual relaxation on a manual clock,
//! rules on language and contact fields, and the bad cases of each.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::clock::ManualClock;

use crate::{Options, TestApp, assert_problem};

struct Setup {
    queue: String,
    channel: String,
}

async fn call(app: &TestApp, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    app.call(method, path, Some(&app.admin_key), Some(body)).await
}

async fn ok(app: &TestApp, method: Method, path: &str, key: &str, body: Value) -> Value {
    let (status, value) = app.call(method.clone(), path, Some(key), Some(body)).await;
    assert!(status.is_success(), "{method} {path}: {status} {value}");
    value
}

async fn new_profile(app: &TestApp, body: Value) -> Value {
    app.post_ok("/v1/capacity-profiles", &app.admin_key, body, StatusCode::CREATED).await
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// A queue with `queue_routing` (a PATCH body), a routed workstream with `routing` settings, and a channel.
async fn routed(app: &TestApp, routing: Value, queue_routing: Value) -> Setup {
    let key = &app.admin_key;
    let queue = app.post_ok("/v1/queues", key, json!({ "name": "General" }), StatusCode::CREATED).await;
    let queue = id(&queue);
    if queue_routing.as_object().is_some_and(|o| !o.is_empty()) {
        ok(app, Method::PATCH, &format!("/v1/queues/{queue}"), key, queue_routing).await;
    }
    let mut settings = json!({ "enabled": true });
    if let (Some(s), Some(extra)) = (settings.as_object_mut(), routing.as_object()) {
        s.extend(extra.clone());
    }
    let body = json!({ "name": "Chat", "fallback_queue_id": queue, "settings": { "routing": settings } });
    let ws = app.post_ok("/v1/workstreams", key, body, StatusCode::CREATED).await;
    let body = json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": ws["id"] });
    let channel = app.post_ok("/v1/channels", key, body, StatusCode::CREATED).await;
    Setup { queue, channel: id(&channel) }
}

/// A new agent with `routing` (a PUT /routing body), appended to the queue's members, in `presence`.
async fn agent(app: &TestApp, queue: &str, routing: Value, presence: &str) -> (String, String) {
    let (key, user) = app.key(Role::Agent).await;
    let user = user.expect("agent id");
    ok(app, Method::PUT, &format!("/v1/agents/{user}/routing"), &app.admin_key, routing).await;
    let (_, members) = app.get(&format!("/v1/queues/{queue}/members"), &app.admin_key).await;
    let mut ids: Vec<Value> =
        members["data"].as_array().expect("members").iter().map(|m| m["user_id"].clone()).collect();
    ids.push(json!(user));
    ok(app, Method::PUT, &format!("/v1/queues/{queue}/members"), &app.admin_key, json!({ "user_ids": ids })).await;
    ok(app, Method::PUT, &format!("/v1/agents/{user}/presence"), &key, json!({ "presence": presence })).await;
    (key, user)
}

async fn create(app: &TestApp, channel: &str, customer: Value, context: Value) -> String {
    let body = json!({ "channel_id": channel, "customer": customer, "context": context });
    let created = app.post_ok("/v1/conversations", &app.admin_key, body, StatusCode::CREATED).await;
    created["conversation"]["id"].as_str().expect("conversation id").to_string()
}

/// Waits (in real time, for the routing follower) until `check` passes on GET `path`.
async fn eventually(app: &TestApp, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    app.eventually(path, &app.admin_key, check).await
}

async fn offers(app: &TestApp, agent: &str, n: usize) -> Vec<Value> {
    let v =
        eventually(app, &format!("/v1/agents/{agent}/offers"), |v| v["data"].as_array().is_some_and(|d| d.len() == n))
            .await;
    v["data"].as_array().expect("offers").clone()
}

/// Waits until the conversation is offered to someone; returns the offer's agent.
async fn offered_to(app: &TestApp, conversation: &str) -> String {
    let path = format!("/v1/conversations/{conversation}/timeline?limit=200");
    let timeline = eventually(app, &path, |t| {
        t["data"].as_array().is_some_and(|d| d.iter().any(|e| e["type"] == "routing.offer_issued"))
    })
    .await;
    let data = timeline["data"].as_array().expect("timeline");
    let offer = data.iter().rev().find(|e| e["type"] == "routing.offer_issued").expect("offer");
    offer["data"]["agent_id"].as_str().expect("agent").to_string()
}

/// Waits until the conversation waits in its queue; returns its position.
async fn waiting(app: &TestApp, conversation: &str) -> Value {
    eventually(app, &format!("/v1/conversations/{conversation}/queue-position"), |p| p["routing_state"] == "open").await
}

async fn accept(app: &TestApp, key: &str, offer: &Value) {
    let offer = offer["id"].as_str().expect("offer id");
    app.post_ok(&format!("/v1/offers/{offer}/accept"), key, json!({}), StatusCode::OK).await;
}

#[tokio::test]
async fn highest_capacity_offers_to_the_agent_with_the_most_free_units() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({}), json!({ "assignment_method": "highest_capacity" })).await;
    let (_, small) = agent(&app, &setup.queue, json!({ "capacity_units": 1 }), "available").await;
    let (_, big) = agent(&app, &setup.queue, json!({ "capacity_units": 3 }), "available").await;
    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" }), json!({})).await;
    assert_eq!(offered_to(&app, &first).await, big);
    // Now 2 free against 1: still the bigger one, then a tie (1 and 1) goes to the one assigned least recently.
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" }), json!({})).await;
    assert_eq!(offered_to(&app, &second).await, big);
    let third = create(&app, &setup.channel, json!({ "customer_id": "c3" }), json!({})).await;
    assert_eq!(offered_to(&app, &third).await, small);
}

#[tokio::test]
async fn round_robin_takes_members_in_join_order_then_rotates() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({}), json!({ "assignment_method": "round_robin" })).await;
    let (_, a) = agent(&app, &setup.queue, json!({ "capacity_units": 5 }), "available").await;
    let (_, b) = agent(&app, &setup.queue, json!({ "capacity_units": 5 }), "available").await;
    let mut got = Vec::new();
    for n in 0..4 {
        let c = create(&app, &setup.channel, json!({ "customer_id": format!("c{n}") }), json!({})).await;
        got.push(offered_to(&app, &c).await);
    }
    assert_eq!(got, vec![a.clone(), b.clone(), a, b]);
}

#[tokio::test]
async fn most_idle_offers_to_the_agent_whose_capacity_was_released_longest_ago() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({}), json!({ "assignment_method": "most_idle" })).await;
    let (x_key, x) = agent(&app, &setup.queue, json!({ "capacity_units": 2 }), "available").await;
    // X handles a conversation and ends it: X's capacity was just released.
    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" }), json!({})).await;
    accept(&app, &x_key, &offers(&app, &x, 1).await[0]).await;
    app.post_ok(&format!("/v1/conversations/{first}/end"), &x_key, json!({}), StatusCode::OK).await;
    let (y_key, y) = agent(&app, &setup.queue, json!({ "capacity_units": 2 }), "available").await;
    eventually(&app, &format!("/v1/agents/{x}/routing"), |a| a["used_units"] == 0).await;
    // Y never released capacity, so Y is the most idle, and stays so with one conversation active, where highest
    // capacity would choose X (two free units against one).
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" }), json!({})).await;
    accept(&app, &y_key, &offers(&app, &y, 1).await[0]).await;
    assert_eq!(offered_to(&app, &second).await, y);
    let third = create(&app, &setup.channel, json!({ "customer_id": "c3" }), json!({})).await;
    assert_eq!(offered_to(&app, &third).await, y);
}

fn custom_queue(profile: Option<&str>) -> Value {
    let mut fallback = json!({ "conditions": [{ "presence": ["available", "busy"] }], "order_by": "most_idle",
                               "after_seconds": 60, "name": "anyone after a minute" });
    if let Some(p) = profile {
        fallback["conditions"].as_array_mut().expect("conditions").push(json!({
            "free_profile_items": { "profile_id": p, "at_least": 1 }
        }));
    }
    json!({
        "assignment_method": "custom",
        "custom": {
            "context_variables": { "Tier": "text" },
            "prioritization": [
                { "name": "Gold", "condition": "context.Tier == 'gold'" },
                { "name": "Severe", "condition": "conversation.severity >= 3",
                  "order_by": { "field": "conversation.severity", "direction": "descending" } }
            ],
            "assignment": [
                { "name": "fluent", "conditions": [{ "presence": ["available"] },
                                                   { "skill": { "name": "Spanish", "min_proficiency": 8 } }],
                  "order_by": "proficiency" },
                fallback
            ]
        }
    })
}

#[tokio::test]
async fn custom_rulesets_prioritize_by_context_and_relax_after_the_configured_wait() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let setup = routed(&app, json!({}), custom_queue(None)).await;

    // Nobody is on yet: a gold conversation goes ahead of an earlier silver one.
    let silver =
        create(&app, &setup.channel, json!({ "customer_id": "s" }), json!({ "Tier": { "value": "silver" } })).await;
    let gold =
        create(&app, &setup.channel, json!({ "customer_id": "g" }), json!({ "Tier": { "value": "gold" } })).await;
    waiting(&app, &silver).await;
    let position = waiting(&app, &gold).await;
    assert_eq!(position["position"], 1, "{position}");
    assert_eq!(waiting(&app, &silver).await["position"], 2);

    // An agent who speaks some Spanish, but not at 8: the first rule matches nobody, and the second is not open
    // to the conversations until they have waited a minute.
    let (key, learner) = agent(
        &app,
        &setup.queue,
        json!({ "capacity_units": 1, "skills": [{ "name": "Spanish", "proficiency": 5 }] }),
        "available",
    )
    .await;
    let (_, me) = app.get(&format!("/v1/agents/{learner}/routing"), &key).await;
    assert_eq!(me["presence"], "available", "{me}");
    waiting(&app, &gold).await;
    assert!(offers(&app, &learner, 0).await.is_empty());

    // A minute on the routing clock relaxes the rule: the gold conversation (first in the queue) is offered.
    clock.advance(Duration::from_secs(61));
    let offer = &offers(&app, &learner, 1).await[0];
    assert_eq!(offer["conversation_id"], gold.as_str());
    assert_eq!(waiting(&app, &silver).await["position"], 1);

    // A fluent agent joining takes the silver one at once, by the first rule.
    let (_, fluent) = agent(
        &app,
        &setup.queue,
        json!({ "capacity_units": 1, "skills": [{ "name": "spanish", "proficiency": 9 }] }),
        "available",
    )
    .await;
    assert_eq!(offers(&app, &fluent, 1).await[0]["conversation_id"], silver.as_str());
}

#[tokio::test]
async fn custom_presences_are_listed_and_routed_by_their_base() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({}), json!({})).await;
    let training = app
        .post_ok("/v1/presences", &app.admin_key, json!({ "name": "Training", "base": "away" }), StatusCode::CREATED)
        .await;
    let ready = app
        .post_ok(
            "/v1/presences",
            &app.admin_key,
            json!({ "name": "Ready for chats", "base": "available" }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!((training["base"].as_str(), ready["base"].as_str()), (Some("away"), Some("available")));

    let (status, list) = app.get("/v1/presences", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list["data"].as_array().expect("data").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(
        names,
        ["Available", "Busy", "Busy - DND", "Away", "Offline", "Inactive", "Ready for chats", "Training"]
    );
    let inactive = &list["data"][5];
    assert_eq!((inactive["selectable"].as_bool(), inactive["built_in"].as_bool()), (Some(false), Some(true)));

    // One agent in Training (Away: not allowed by the workstream), one in "Ready for chats" (Available), chosen
    // by id and by name.
    let (training_key, in_training) = agent(&app, &setup.queue, json!({ "capacity_units": 2 }), &id(&training)).await;
    let (ready_key, in_ready) = agent(&app, &setup.queue, json!({ "capacity_units": 1 }), "ready FOR chats").await;
    let (_, p) = app.get(&format!("/v1/agents/{in_training}/presence"), &training_key).await;
    assert_eq!(p["presence"], "away", "{p}");
    assert_eq!(p["custom_presence"]["name"], "Training", "{p}");
    let (_, p) = app.get(&format!("/v1/agents/{in_ready}/presence"), &ready_key).await;
    assert_eq!(
        (p["presence"].as_str(), p["custom_presence"]["id"].as_str()),
        (Some("available"), ready["id"].as_str())
    );

    // Highest capacity would pick the agent with two units; Training's base keeps them out.
    let c = create(&app, &setup.channel, json!({ "customer_id": "c1" }), json!({})).await;
    assert_eq!(offered_to(&app, &c).await, in_ready);

    // Deleting a presence someone is in is refused and changes nothing; once they leave it, it goes.
    let path = format!("/v1/presences/{}", id(&training));
    let (status, body) = app.call(Method::DELETE, &path, Some(&app.admin_key), None).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "in_use");
    // Mapping Training to Available routes its agent at once.
    let patched = ok(&app, Method::PATCH, &path, &app.admin_key, json!({ "base": "available" })).await;
    assert_eq!(patched["base"], "available");
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" }), json!({})).await;
    assert_eq!(offered_to(&app, &second).await, in_training);
    ok(&app, Method::PUT, &format!("/v1/agents/{in_training}/presence"), &training_key, json!({ "presence": "away" }))
        .await;
    let (status, _) = app.call(Method::DELETE, &path, Some(&app.admin_key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.get("/v1/presences", &app.admin_key).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(7));
}

#[tokio::test]
async fn profile_capacity_is_honoured_and_a_full_agent_is_busy_until_capacity_frees() {
    let app = TestApp::spawn().await;
    let chat = new_profile(&app, json!({ "name": "Chat", "max_items": 2 })).await;
    assert_eq!((chat["max_items"].as_i64(), chat["block_others"].as_bool()), (Some(2), Some(false)));
    let setup = routed(&app, json!({ "capacity_units": 0, "capacity_profile_id": chat["id"] }), json!({})).await;
    // The agent has no units at all: only the profile's slots count, here the agent's own limit of 1.
    let (key, user) = agent(&app, &setup.queue, json!({ "capacity_units": 0 }), "available").await;
    let path = format!("/v1/agents/{user}/capacity-profiles");
    let held = ok(
        &app,
        Method::PUT,
        &path,
        &app.admin_key,
        json!({ "profiles": [{ "profile_id": chat["id"], "max_items": 1 }] }),
    )
    .await;
    assert_eq!(held["data"][0]["max_items"], 1, "{held}");
    assert_eq!(held["data"][0]["overridden"], true, "{held}");

    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" }), json!({})).await;
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" }), json!({})).await;
    let offer = offers(&app, &user, 1).await;
    assert_eq!(offer[0]["conversation_id"], first.as_str());
    accept(&app, &key, &offer[0]).await;
    // Full: routing sets the agent Busy (and says why), and the second conversation waits.
    let presence = eventually(&app, &format!("/v1/agents/{user}/presence"), |p| p["presence"] == "busy").await;
    assert!(presence["custom_presence"].is_null());
    assert_eq!(waiting(&app, &second).await["position"], 1);
    let (_, events) = app.get("/v1/events?limit=250", &app.admin_key).await;
    let busy = events["data"].as_array().expect("events").iter().any(|e| {
        e["type"] == "agent.presence_changed"
            && e["data"]["reason"] == "capacity_full"
            && e["data"]["agent_id"] == user.as_str()
    });
    assert!(busy, "{events}");

    // Back to the profile's own limit (2): a slot frees, the agent is Available again and the second conversation
    // is offered; accepting it fills the agent again.
    let held =
        ok(&app, Method::PUT, &path, &app.admin_key, json!({ "profiles": [{ "profile_id": chat["id"] }] })).await;
    assert_eq!(
        (held["data"][0]["max_items"].as_i64(), held["data"][0]["overridden"].as_bool()),
        (Some(2), Some(false))
    );
    let offer = offers(&app, &user, 1).await;
    assert_eq!(offer[0]["conversation_id"], second.as_str());
    accept(&app, &key, &offer[0]).await;
    eventually(&app, &format!("/v1/agents/{user}/presence"), |p| p["presence"] == "busy").await;
    let (_, held) = app.get(&path, &key).await;
    assert_eq!(held["data"][0]["used"], 2, "{held}");

    // Ending one gives its slot back: routing makes the agent Available again.
    app.post_ok(&format!("/v1/conversations/{first}/end"), &key, json!({}), StatusCode::OK).await;
    eventually(&app, &format!("/v1/agents/{user}/presence"), |p| p["presence"] == "available").await;
    let (_, held) = app.get(&path, &key).await;
    assert_eq!(held["data"][0]["used"], 1, "{held}");

    // A profile in use cannot be deleted.
    let (status, body) =
        app.call(Method::DELETE, &format!("/v1/capacity-profiles/{}", id(&chat)), Some(&app.admin_key), None).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "in_use");
}

#[tokio::test]
async fn rules_route_on_the_conversations_language_and_the_contacts_email() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let queue = id(&app.post_ok("/v1/queues", key, json!({ "name": "General" }), StatusCode::CREATED).await);
    let spanish = id(&app.post_ok("/v1/queues", key, json!({ "name": "Spanish" }), StatusCode::CREATED).await);
    let vip = id(&app.post_ok("/v1/queues", key, json!({ "name": "VIP" }), StatusCode::CREATED).await);
    let body = json!({ "name": "Chat", "fallback_queue_id": queue, "settings": { "routing": { "enabled": true } } });
    let ws = id(&app.post_ok("/v1/workstreams", key, body, StatusCode::CREATED).await);
    let body = json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": ws });
    let channel = id(&app.post_ok("/v1/channels", key, body, StatusCode::CREATED).await);
    let rules = json!({ "route_to_queue": { "rules": [
        { "condition": "language starts_with 'es'", "queue": spanish },
        { "condition": "contact.email ends_with '@vip.example'", "queue": vip }
    ] } });
    ok(&app, Method::PUT, &format!("/v1/workstreams/{ws}/rules"), key, rules).await;

    let es = create(&app, &channel, json!({ "customer_id": "a" }), json!({ "language": { "value": "es-MX" } })).await;
    let mail =
        create(&app, &channel, json!({ "email": "pat@VIP.example" }), json!({ "language": { "value": "en-US" } }))
            .await;
    let other = create(&app, &channel, json!({ "email": "sam@example.com" }), json!({})).await;
    for (conversation, expected) in [(&es, &spanish), (&mail, &vip), (&other, &queue)] {
        let p = waiting(&app, conversation).await;
        assert_eq!(p["queue_id"], expected.as_str(), "{p}");
    }

    // A contact field that contacts do not have is refused when saved, with its place; nothing changes.
    let bad = json!({ "route_to_queue": { "rules": [{ "condition": "contact.loyalty == 'gold'", "queue": vip }] } });
    let (status, body) = call(&app, Method::PUT, &format!("/v1/workstreams/{ws}/rules"), bad).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_rule");
    assert_eq!(body["field"], "route_to_queue.rules[0].condition", "{body}");
    let (_, saved) = app.get(&format!("/v1/workstreams/{ws}/rules"), key).await;
    assert_eq!(saved["route_to_queue"]["rules"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn bad_presences_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({}), json!({})).await;
    let (key, user) = agent(&app, &setup.queue, json!({ "capacity_units": 1 }), "available").await;
    let training = app
        .post_ok("/v1/presences", &app.admin_key, json!({ "name": "Training", "base": "away" }), StatusCode::CREATED)
        .await;
    let (_, theirs) =
        switchboard_server::admin::create_org(&app.state.store, "globex", app.state.clock.now()).await.expect("org");
    let (status, their_presence) = app
        .call(Method::POST, "/v1/presences", Some(&theirs.api_key), Some(json!({ "name": "Lunch", "base": "away" })))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let presence_path = format!("/v1/agents/{user}/presence");
    for bad in
        ["meditating", "inactive", "00000000-0000-7000-8000-000000000000", their_presence["id"].as_str().expect("id")]
    {
        let (status, body) = app.call(Method::PUT, &presence_path, Some(&key), Some(json!({ "presence": bad }))).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_presence");
    }
    let (_, p) = app.get(&presence_path, &key).await;
    assert_eq!(p["presence"], "available");

    // Duplicates (ignoring case), built-in names, bad bases and blank names.
    for (body, status, code) in [
        (json!({ "name": "training", "base": "busy" }), StatusCode::CONFLICT, "already_exists"),
        (json!({ "name": "Available", "base": "away" }), StatusCode::CONFLICT, "already_exists"),
        (json!({ "name": "Nap", "base": "inactive" }), StatusCode::BAD_REQUEST, "invalid_presence"),
        (json!({ "name": "Nap", "base": "sleepy" }), StatusCode::BAD_REQUEST, "invalid_presence"),
        (json!({ "name": "  ", "base": "away" }), StatusCode::BAD_REQUEST, "invalid_field"),
    ] {
        let (s, b) = call(&app, Method::POST, "/v1/presences", body).await;
        assert_problem(s, &b, status, code);
    }
    let (s, b) =
        call(&app, Method::PATCH, &format!("/v1/presences/{}", id(&training)), json!({ "name": "AWAY" })).await;
    assert_problem(s, &b, StatusCode::CONFLICT, "already_exists");
    // Unknown ids and another organization's presence are not found.
    for path in ["/v1/presences/not-an-id".to_string(), format!("/v1/presences/{}", id(&their_presence))] {
        let (s, b) = call(&app, Method::PATCH, &path, json!({ "name": "x" })).await;
        assert_problem(s, &b, StatusCode::NOT_FOUND, "presence_not_found");
        let (s, b) = app.call(Method::DELETE, &path, Some(&app.admin_key), None).await;
        assert_problem(s, &b, StatusCode::NOT_FOUND, "presence_not_found");
    }
    // Agents may not define presences.
    let (s, b) =
        app.call(Method::POST, "/v1/presences", Some(&key), Some(json!({ "name": "Mine", "base": "away" }))).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN, "forbidden");
    let (_, list) = app.get("/v1/presences", &app.admin_key).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(7), "{list}");
}

#[tokio::test]
async fn bad_capacity_profiles_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({}), json!({})).await;
    let (_, user) = agent(&app, &setup.queue, json!({ "capacity_units": 1 }), "available").await;
    let chat = new_profile(&app, json!({ "name": "Chat", "max_items": 2 })).await;
    for (body, status, code) in [
        (json!({ "name": "Voice", "max_items": -1 }), StatusCode::BAD_REQUEST, "invalid_capacity"),
        (json!({ "name": "Voice", "max_items": 5000 }), StatusCode::BAD_REQUEST, "invalid_capacity"),
        (json!({ "name": "CHAT", "max_items": 1 }), StatusCode::CONFLICT, "already_exists"),
        (json!({ "name": "", "max_items": 1 }), StatusCode::BAD_REQUEST, "invalid_field"),
    ] {
        let (s, b) = call(&app, Method::POST, "/v1/capacity-profiles", body).await;
        assert_problem(s, &b, status, code);
    }
    let chat_path = format!("/v1/capacity-profiles/{}", id(&chat));
    let (s, b) = call(&app, Method::PATCH, &chat_path, json!({ "max_items": -3 })).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_capacity");
    let (_, again) = app.get(&chat_path, &app.admin_key).await;
    assert_eq!(again["max_items"], 2);

    let path = format!("/v1/agents/{user}/capacity-profiles");
    let unknown = "00000000-0000-7000-8000-000000000000";
    let (s, b) = call(&app, Method::PUT, &path, json!({ "profiles": [{ "profile_id": unknown }] })).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "capacity_profile_not_found");
    assert_eq!(b["field"], "profiles[0].profile_id", "{b}");
    let (s, b) =
        call(&app, Method::PUT, &path, json!({ "profiles": [{ "profile_id": chat["id"], "max_items": -1 }] })).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_capacity");
    let twice = json!({ "profiles": [{ "profile_id": chat["id"] }, { "profile_id": chat["id"] }] });
    let (s, b) = call(&app, Method::PUT, &path, twice).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_field");
    let (_, held) = app.get(&path, &app.admin_key).await;
    assert_eq!(held["data"].as_array().map(Vec::len), Some(0));

    // Another organization's profile is unknown here, for agents and workstreams alike.
    let (_, theirs) =
        switchboard_server::admin::create_org(&app.state.store, "globex", app.state.clock.now()).await.expect("org");
    let (_, their_profile) = app
        .call(
            Method::POST,
            "/v1/capacity-profiles",
            Some(&theirs.api_key),
            Some(json!({ "name": "Chat", "max_items": 1 })),
        )
        .await;
    let (s, b) = app.get(&format!("/v1/capacity-profiles/{}", id(&their_profile)), &app.admin_key).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "capacity_profile_not_found");
    let body = json!({ "name": "Voice", "fallback_queue_id": setup.queue,
                       "settings": { "routing": { "enabled": true, "capacity_profile_id": their_profile["id"] } } });
    let (s, b) = call(&app, Method::POST, "/v1/workstreams", body).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "capacity_profile_not_found");
    assert_eq!(b["field"], "settings.routing.capacity_profile_id", "{b}");
    let (s, b) = call(&app, Method::PUT, &path, json!({ "profiles": [{ "profile_id": their_profile["id"] }] })).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "capacity_profile_not_found");
    let (s, b) = app
        .call(Method::DELETE, &format!("/v1/capacity-profiles/{}", id(&their_profile)), Some(&app.admin_key), None)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND, "capacity_profile_not_found");
    let (_, list) = app.get("/v1/capacity-profiles", &app.admin_key).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test]
async fn bad_custom_rulesets_are_refused_with_the_field_path() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({}), json!({})).await;
    let path = format!("/v1/queues/{}", setup.queue);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = custom_queue(None);
        edit(&mut v);
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "assignment_method": "custom" }), "custom"),
        (with(&|v| v["assignment_method"] = json!("round_robin")), "custom"),
        (with(&|v| v["custom"]["assignment"] = json!([])), "custom.assignment"),
        (
            with(&|v| v["custom"]["prioritization"][0]["condition"] = json!("context.Tier = 'gold'")),
            "custom.prioritization[0].condition",
        ),
        (
            with(&|v| v["custom"]["prioritization"][0]["condition"] = json!("context.Region == 'eu'")),
            "custom.prioritization[0].condition",
        ),
        (
            with(&|v| v["custom"]["prioritization"][1]["order_by"]["field"] = json!("context.Tier")),
            "custom.prioritization[1].order_by.field",
        ),
        (
            with(&|v| v["custom"]["prioritization"][1]["order_by"]["direction"] = json!("upwards")),
            "custom.prioritization[1].order_by.direction",
        ),
        (with(&|v| v["custom"]["assignment"][1]["after_seconds"] = json!(-5)), "custom.assignment[1].after_seconds"),
        (
            with(&|v| v["custom"]["assignment"][0]["conditions"][0] = json!({ "presence": ["sleepy"] })),
            "custom.assignment[0].conditions[0].presence[0]",
        ),
        (
            with(&|v| v["custom"]["assignment"][0]["conditions"][1]["skill"]["min_proficiency"] = json!(11)),
            "custom.assignment[0].conditions[1].skill.min_proficiency",
        ),
        (
            with(&|v| v["custom"]["assignment"][0]["conditions"][0] = json!({ "free_units": -1 })),
            "custom.assignment[0].conditions[0].free_units",
        ),
        (
            custom_queue(Some("00000000-0000-7000-8000-000000000000")),
            "custom.assignment[1].conditions[1].free_profile_items.profile_id",
        ),
    ];
    for (body, field) in cases {
        let (s, b) = call(&app, Method::PATCH, &path, body.clone()).await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_rule");
        assert_eq!(b["field"], field, "{body} → {b}");
    }
    // Nothing was saved: the queue still uses highest capacity, and a valid ruleset saves and reads back.
    let saved = ok(&app, Method::PATCH, &path, &app.admin_key, custom_queue(None)).await;
    assert_eq!(saved["routing"]["assignment_method"], "custom");
    assert_eq!(saved["routing"]["custom"]["assignment"][1]["after_seconds"], 60);
}

#[tokio::test]
async fn profile_resets_are_saved_patched_read_back_and_bad_ones_change_nothing() {
    let app = TestApp::spawn().await;
    let paris = json!({ "every_minutes": 1440, "time_zone": "Europe/Paris" });
    let daily = new_profile(&app, json!({ "name": "Email", "max_items": 1, "reset": paris })).await;
    assert_eq!(daily["reset"], paris, "{daily}");
    let chat = new_profile(&app, json!({ "name": "Chat", "max_items": 2 })).await;
    assert_eq!(chat["reset"], "on_release", "{chat}");

    // PATCH changes the reset alone; the time zone defaults to UTC.
    let chat_path = format!("/v1/capacity-profiles/{}", id(&chat));
    let patched =
        ok(&app, Method::PATCH, &chat_path, &app.admin_key, json!({ "reset": { "every_minutes": 60 } })).await;
    assert_eq!(patched["reset"], json!({ "every_minutes": 60, "time_zone": "UTC" }), "{patched}");
    assert_eq!(patched["max_items"], 2);
    let (_, read) = app.get(&chat_path, &app.admin_key).await;
    assert_eq!(read["reset"], patched["reset"], "{read}");
    let back = ok(&app, Method::PATCH, &chat_path, &app.admin_key, json!({ "reset": "on_release" })).await;
    assert_eq!(back["reset"], "on_release");
    let daily_path = format!("/v1/capacity-profiles/{}", id(&daily));
    let (_, before) = app.get(&daily_path, &app.admin_key).await;

    for (reset, field) in [
        (json!({ "every_minutes": 7 }), "reset.every_minutes"),
        (json!({ "every_minutes": 0 }), "reset.every_minutes"),
        (json!({ "every_minutes": -60 }), "reset.every_minutes"),
        (json!({ "every_minutes": 2880 }), "reset.every_minutes"),
        (json!({ "every_minutes": "60" }), "reset.every_minutes"),
        (json!({ "time_zone": "UTC" }), "reset.every_minutes"),
        (json!({ "every_minutes": 60, "time_zone": "Europe/Atlantis" }), "reset.time_zone"),
        (json!({ "every_minutes": 60, "time_zone": 2 }), "reset.time_zone"),
        (json!({ "every_minutes": 60, "days": 1 }), "reset.days"),
        (json!("daily"), "reset"),
        (json!(1440), "reset"),
        (json!(["on_release"]), "reset"),
    ] {
        let body = json!({ "name": "Voice", "max_items": 1, "reset": reset });
        let (s, b) = call(&app, Method::POST, "/v1/capacity-profiles", body).await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_capacity");
        assert_eq!(b["field"], field, "{reset}: {b}");
        let (s, b) = call(&app, Method::PATCH, &daily_path, json!({ "max_items": 3, "reset": reset })).await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST, "invalid_capacity");
        assert_eq!(b["field"], field, "{reset}: {b}");
    }
    let (_, after) = app.get(&daily_path, &app.admin_key).await;
    assert_eq!(after, before, "a refused patch changes nothing");
    let (_, list) = app.get("/v1/capacity-profiles", &app.admin_key).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2), "{list}");
}

/// A daily profile (Paris midnight) of one conversation: ending it gives nothing back, a restart keeps the count,
/// and the second conversation is offered when the clock passes local midnight.
#[tokio::test]
async fn a_daily_profile_counts_the_days_conversations_across_a_restart_and_resets_at_local_midnight() {
    // 20:00 UTC is 22:00 in Paris (summer time); local midnight is 22:00 UTC.
    let clock = ManualClock::new(Timestamp::parse_rfc3339("2026-06-10T20:00:00Z").expect("time"));
    let midnight = Timestamp::parse_rfc3339("2026-06-10T22:00:00Z").expect("time");
    let mut app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let reset = json!({ "every_minutes": 1440, "time_zone": "Europe/Paris" });
    let email = new_profile(&app, json!({ "name": "Email", "max_items": 1, "reset": reset })).await;
    let setup = routed(&app, json!({ "capacity_units": 0, "capacity_profile_id": email["id"] }), json!({})).await;
    let (key, user) = agent(&app, &setup.queue, json!({ "capacity_units": 0 }), "available").await;
    let path = format!("/v1/agents/{user}/capacity-profiles");
    ok(&app, Method::PUT, &path, &app.admin_key, json!({ "profiles": [{ "profile_id": email["id"] }] })).await;

    let first = create(&app, &setup.channel, json!({ "customer_id": "c1" }), json!({})).await;
    let offer = offers(&app, &user, 1).await;
    assert_eq!(offer[0]["conversation_id"], first.as_str());
    accept(&app, &key, &offer[0]).await;
    eventually(&app, &format!("/v1/agents/{user}/presence"), |p| p["presence"] == "busy").await;
    app.post_ok(&format!("/v1/conversations/{first}/end"), &key, json!({}), StatusCode::OK).await;
    let second = create(&app, &setup.channel, json!({ "customer_id": "c2" }), json!({})).await;
    waiting(&app, &second).await;
    let (_, held) = app.get(&path, &key).await;
    assert_eq!(held["data"][0]["used"], 1, "ending the conversation gives nothing back: {held}");
    assert_eq!(held["data"][0]["resets_at"], midnight.to_string(), "{held}");
    assert_eq!(held["data"][0]["reset"], reset, "{held}");
    let (_, status) = app.get(&format!("/v1/agents/{user}/routing"), &key).await;
    assert_eq!(status["capacity_profiles"][0]["used"], 1, "{status}");
    assert_eq!(status["presence"], "busy", "{status}");

    // A restart mid-period rebuilds the count from the log: still full, the second conversation still waits.
    clock.advance(Duration::from_secs(3_600));
    app.restart().await;
    let held = eventually(&app, &path, |h| h["data"][0]["used"] == 1).await;
    assert_eq!(held["data"][0]["resets_at"], midnight.to_string(), "{held}");
    waiting(&app, &second).await;
    assert!(offers(&app, &user, 0).await.is_empty());

    // Just before local midnight nothing changes; once the clock passes it, the reset offers the second.
    clock.advance_to(midnight.plus_millis(-1_000));
    waiting(&app, &second).await;
    clock.advance(Duration::from_secs(2));
    let offer = offers(&app, &user, 1).await;
    assert_eq!(offer[0]["conversation_id"], second.as_str());
    let presence = eventually(&app, &format!("/v1/agents/{user}/presence"), |p| p["presence"] == "available").await;
    assert!(presence["custom_presence"].is_null());
    let (_, events) = app.get("/v1/events?limit=250", &app.admin_key).await;
    let freed = events["data"].as_array().expect("events").iter().any(|e| {
        e["type"] == "agent.presence_changed"
            && e["data"]["reason"] == "capacity_freed"
            && e["data"]["agent_id"] == user.as_str()
    });
    assert!(freed, "{events}");
    let held = eventually(&app, &path, |h| h["data"][0]["used"] == 1).await;
    let next = Timestamp::parse_rfc3339("2026-06-11T22:00:00Z").expect("time");
    assert_eq!(held["data"][0]["resets_at"], next.to_string(), "{held}");
}
