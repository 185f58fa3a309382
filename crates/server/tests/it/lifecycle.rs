//! The conversation lifecycle around routing: auto-close timers on a manual clock (including across a restart),
//! activity restarting them, wrap-up capacity blocking, transfers to queues and agents, and pick distribution.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::{admin, clock::ManualClock};

use crate::{Options, TestApp, assert_problem};

const MINUTE: Duration = Duration::from_secs(60);

async fn manual() -> (TestApp, ManualClock) {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    (app, clock)
}

struct Setup {
    queue: String,
    channel: String,
}

/// A queue, a workstream with `settings` (and `distribution`), and a channel of `channel_type`.
async fn setup(app: &TestApp, channel_type: &str, distribution: &str, settings: Value) -> Setup {
    let key = &app.admin_key;
    let queue = app.post_ok("/v1/queues", key, json!({ "name": "General" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            key,
            json!({ "name": "Chat", "fallback_queue_id": queue["id"], "distribution": distribution,
                    "settings": settings }),
            StatusCode::CREATED,
        )
        .await;
    let channel = app
        .post_ok(
            "/v1/channels",
            key,
            json!({ "name": "Web", "channel_type": channel_type, "workstream_id": ws["id"] }),
            StatusCode::CREATED,
        )
        .await;
    let s = |v: &Value| v["id"].as_str().unwrap().to_string();
    Setup { queue: s(&queue), channel: s(&channel) }
}

async fn queue(app: &TestApp, name: &str) -> String {
    let q = app.post_ok("/v1/queues", &app.admin_key, json!({ "name": name }), StatusCode::CREATED).await;
    q["id"].as_str().unwrap().to_string()
}

async fn put_ok(app: &TestApp, path: &str, key: &str, body: Value) -> Value {
    let (status, value) = app.call(Method::PUT, path, Some(key), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "PUT {path}: {value}");
    value
}

/// An agent with `units` of capacity, a member of `queues`, in `presence`; returns (key, id).
async fn agent(app: &TestApp, queues: &[&str], presence: &str, units: u32) -> (String, String) {
    let (key, id) = app.key(Role::Agent).await;
    let id = id.unwrap();
    put_ok(app, &format!("/v1/agents/{id}/routing"), &app.admin_key, json!({ "capacity_units": units })).await;
    for q in queues {
        let (_, members) = app.get(&format!("/v1/queues/{q}/members"), &app.admin_key).await;
        let mut ids: Vec<Value> = members["data"].as_array().unwrap().iter().map(|m| m["user_id"].clone()).collect();
        ids.push(json!(id));
        put_ok(app, &format!("/v1/queues/{q}/members"), &app.admin_key, json!({ "user_ids": ids })).await;
    }
    put_ok(app, &format!("/v1/agents/{id}/presence"), &key, json!({ "presence": presence })).await;
    (key, id)
}

async fn create(app: &TestApp, channel: &str, customer: &str) -> String {
    app.conversation(&app.admin_key, channel, customer).await
}

/// Waits (in real time, for the server's background work) until `check` passes on `GET path`.
async fn eventually(app: &TestApp, path: &str, key: &str, check: impl Fn(&Value) -> bool) -> Value {
    app.eventually(path, key, check).await
}

async fn state_is(app: &TestApp, id: &str, state: &str) -> Value {
    eventually(app, &format!("/v1/conversations/{id}"), &app.admin_key, |c| c["state"] == state).await
}

/// The conversation's auto-close timer once it belongs to `state`.
async fn timer(app: &TestApp, id: &str, state: &str) -> Value {
    eventually(app, &format!("/v1/conversations/{id}/auto-close"), &app.admin_key, |t| {
        t["state"] == state && !t["restarted_at"].is_null()
    })
    .await
}

fn ms(v: &Value) -> i64 {
    Timestamp::parse_rfc3339(v.as_str().unwrap()).unwrap().millis()
}

async fn timeline(app: &TestApp, id: &str) -> Vec<Value> {
    let (_, t) = app.get(&format!("/v1/conversations/{id}/timeline?limit=200"), &app.admin_key).await;
    t["data"].as_array().unwrap().clone()
}

async fn offers(app: &TestApp, agent: &str, key: &str, n: usize) -> Vec<Value> {
    let v = eventually(app, &format!("/v1/agents/{agent}/offers"), key, |v| {
        v["data"].as_array().is_some_and(|d| d.len() == n)
    })
    .await;
    v["data"].as_array().unwrap().clone()
}

async fn used_units(app: &TestApp, agent: &str, units: u64) {
    eventually(app, &format!("/v1/agents/{agent}/routing"), &app.admin_key, |a| a["used_units"] == units).await;
}

async fn accept_offer(app: &TestApp, agent: &str, key: &str) -> Value {
    let offer = offers(app, agent, key, 1).await;
    let id = offer[0]["id"].as_str().unwrap();
    app.post_ok(&format!("/v1/offers/{id}/accept"), key, json!({}), StatusCode::OK).await
}

#[tokio::test]
async fn a_live_chat_waiting_for_an_agent_closes_after_20_minutes_and_a_customer_message_restarts_the_timer() {
    let (app, clock) = manual().await;
    let s = setup(&app, "live_chat", "push", json!({})).await;
    let id = create(&app, &s.channel, "c1").await;

    let t = timer(&app, &id, "open").await;
    assert_eq!(ms(&t["closes_at"]) - ms(&t["restarted_at"]), 20 * 60_000, "{t}");

    clock.advance(19 * MINUTE);
    let body = json!({ "sender": { "kind": "customer" }, "text": "still there?" });
    app.post_ok(&format!("/v1/conversations/{id}/messages"), &app.admin_key, body, StatusCode::CREATED).await;
    let restarted = eventually(&app, &format!("/v1/conversations/{id}/auto-close"), &app.admin_key, |v| {
        v["restarted_at"] != t["restarted_at"]
    })
    .await;
    assert_eq!(ms(&restarted["restarted_at"]), ms(&t["restarted_at"]) + 19 * 60_000);
    assert_eq!(ms(&restarted["closes_at"]), ms(&restarted["restarted_at"]) + 20 * 60_000);

    // Past the first deadline but not the restarted one: still open.
    clock.advance(2 * MINUTE);
    let (_, c) = app.get(&format!("/v1/conversations/{id}"), &app.admin_key).await;
    assert_eq!(c["state"], "open");

    clock.advance(18 * MINUTE);
    let closed = state_is(&app, &id, "closed").await;
    assert_eq!(closed["closure_reason"], "auto_close");
    let events = timeline(&app, &id).await;
    let close = events.iter().find(|e| e["type"] == "conversation.state_changed" && e["data"]["to"] == "closed");
    assert_eq!(close.unwrap()["data"]["by"], "system:auto_close");
    let (_, after) = app.get(&format!("/v1/conversations/{id}/auto-close"), &app.admin_key).await;
    assert_eq!((after["state"].as_str(), after["closes_at"].is_null()), (Some("closed"), true), "{after}");
}

#[tokio::test]
async fn active_and_wrap_up_timers_follow_the_workstream_settings() {
    let (app, clock) = manual().await;
    let auto_close = json!({ "auto_close": { "active_seconds": 600, "wrap_up_seconds": 120, "open_seconds": 0 } });
    let s = setup(&app, "messaging_api", "push", auto_close).await;
    let (agent_key, _) = agent(&app, &[], "available", 3).await;

    // Open with `open_seconds: 0` never closes by itself.
    let idle = create(&app, &s.channel, "idle").await;
    let t = timer(&app, &idle, "open").await;
    assert!(t["closes_at"].is_null(), "{t}");

    // Active for 10 minutes without activity: ended and closed, through wrap-up.
    let active = create(&app, &s.channel, "active").await;
    timer(&app, &active, "open").await;
    app.post_ok(&format!("/v1/conversations/{active}/accept"), &agent_key, json!({}), StatusCode::OK).await;
    let t = timer(&app, &active, "active").await;
    assert_eq!(ms(&t["closes_at"]) - ms(&t["restarted_at"]), 600_000);

    // An agent's message restarts the Active timer.
    clock.advance(9 * MINUTE);
    let body = json!({ "text": "looking into it" });
    app.post_ok(&format!("/v1/conversations/{active}/messages"), &agent_key, body, StatusCode::CREATED).await;
    eventually(&app, &format!("/v1/conversations/{active}/auto-close"), &app.admin_key, |v| {
        v["restarted_at"] != t["restarted_at"]
    })
    .await;
    clock.advance(2 * MINUTE);
    let (_, c) = app.get(&format!("/v1/conversations/{active}"), &app.admin_key).await;
    assert_eq!(c["state"], "active");
    clock.advance(8 * MINUTE);
    state_is(&app, &active, "closed").await;
    let tos: Vec<Value> = timeline(&app, &active)
        .await
        .into_iter()
        .filter(|e| e["type"] == "conversation.state_changed")
        .map(|e| e["data"]["to"].clone())
        .collect();
    assert_eq!(tos, [json!("active"), json!("wrap_up"), json!("closed")]);

    // Wrap-up closes after its own two minutes.
    let ended = create(&app, &s.channel, "ended").await;
    timer(&app, &ended, "open").await;
    app.post_ok(&format!("/v1/conversations/{ended}/accept"), &agent_key, json!({}), StatusCode::OK).await;
    app.post_ok(&format!("/v1/conversations/{ended}/end"), &agent_key, json!({}), StatusCode::OK).await;
    timer(&app, &ended, "wrap_up").await;
    clock.advance(2 * MINUTE);
    state_is(&app, &ended, "closed").await;
    let (_, still) = app.get(&format!("/v1/conversations/{idle}"), &app.admin_key).await;
    assert_eq!(still["state"], "open");
}

#[tokio::test]
async fn a_waiting_conversation_closes_after_the_workstreams_inactivity_period() {
    let (app, clock) = manual().await;
    let s = setup(&app, "sms", "push", json!({ "auto_close": { "waiting_seconds": 3600 } })).await;
    let (agent_key, _) = agent(&app, &[], "available", 1).await;
    let id = create(&app, &s.channel, "c1").await;
    timer(&app, &id, "open").await;
    app.post_ok(&format!("/v1/conversations/{id}/accept"), &agent_key, json!({}), StatusCode::OK).await;
    // SMS keeps the channel's defaults elsewhere: 30 days Active.
    let t = timer(&app, &id, "active").await;
    assert_eq!(ms(&t["closes_at"]) - ms(&t["restarted_at"]), 30 * 86_400_000);
    app.post_ok(&format!("/v1/conversations/{id}/park"), &agent_key, json!({}), StatusCode::OK).await;
    let t = timer(&app, &id, "waiting").await;
    assert_eq!(ms(&t["closes_at"]) - ms(&t["restarted_at"]), 3_600_000);
    clock.advance(60 * MINUTE);
    let closed = state_is(&app, &id, "closed").await;
    assert_eq!(closed["closure_reason"], "auto_close");
}

#[tokio::test]
async fn a_timer_survives_a_restart_and_fires_on_the_new_server() {
    let (mut app, clock) = manual().await;
    let s = setup(&app, "messaging_api", "push", json!({ "auto_close": { "open_seconds": 300 } })).await;
    let id = create(&app, &s.channel, "c1").await;
    let before = timer(&app, &id, "open").await;

    app.restart().await;
    // The new server knows the timer only from the store.
    let after = timer(&app, &id, "open").await;
    assert_eq!(after["closes_at"], before["closes_at"]);
    clock.advance(5 * MINUTE);
    let closed = state_is(&app, &id, "closed").await;
    assert_eq!(closed["closure_reason"], "auto_close");
}

#[tokio::test]
async fn auto_close_and_wrap_up_settings_are_checked_when_saved() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let q = queue(&app, "Q").await;
    let cases = [
        (json!({ "auto_close": { "open_seconds": 400_000_000 } }), "invalid_field", "settings.auto_close.open_seconds"),
        (json!({ "auto_close": { "open_seconds": -1 } }), "invalid_field", "settings.auto_close.open_seconds"),
        (json!({ "auto_close": { "opened_seconds": 10 } }), "unknown_field", ""),
        (
            json!({ "routing": { "enabled": true, "wrap_up_blocking": "timed" } }),
            "invalid_field",
            "settings.routing.wrap_up_blocking_minutes",
        ),
        (
            json!({ "routing": { "enabled": true, "wrap_up_blocking": "timed", "wrap_up_blocking_minutes": 61 } }),
            "invalid_field",
            "settings.routing.wrap_up_blocking_minutes",
        ),
        (
            json!({ "routing": { "wrap_up_blocking": "never", "wrap_up_blocking_minutes": 5 } }),
            "invalid_field",
            "settings.routing.wrap_up_blocking_minutes",
        ),
        (
            json!({ "routing": { "wrap_up_blocking": "sometimes" } }),
            "invalid_field",
            "settings.routing.wrap_up_blocking",
        ),
    ];
    let before = app.event_count().await;
    for (settings, code, field) in cases {
        let body = json!({ "name": "W", "fallback_queue_id": q, "settings": settings });
        let (status, problem) = app.post("/v1/workstreams", key, body).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, code);
        if !field.is_empty() {
            assert_eq!(problem["field"], field, "{problem}");
        }
    }
    assert_eq!(app.event_count().await, before, "refused settings change nothing");
    let ok = json!({ "name": "W", "fallback_queue_id": q, "settings": {
        "auto_close": { "open_seconds": 0, "waiting_seconds": 86_400 },
        "routing": { "wrap_up_blocking": "timed", "wrap_up_blocking_minutes": 15 } } });
    let ws = app.post_ok("/v1/workstreams", key, ok, StatusCode::CREATED).await;
    assert_eq!(ws["settings"]["routing"]["wrap_up_blocking_minutes"], 15);
    assert_eq!(ws["settings"]["auto_close"]["waiting_seconds"], 86_400);
}

#[tokio::test]
async fn wrap_up_holds_capacity_for_its_minutes_then_releases_it_on_the_clock() {
    let (app, clock) = manual().await;
    let routing = json!({ "routing": { "enabled": true, "wrap_up_blocking": "timed", "wrap_up_blocking_minutes": 5 } });
    let s = setup(&app, "messaging_api", "push", routing).await;
    let (key, id) = agent(&app, &[&s.queue], "available", 1).await;

    let first = create(&app, &s.channel, "c1").await;
    accept_offer(&app, &id, &key).await;
    app.post_ok(&format!("/v1/conversations/{first}/end"), &key, json!({}), StatusCode::OK).await;
    state_is(&app, &first, "wrap_up").await;

    let second = create(&app, &s.channel, "c2").await;
    eventually(&app, &format!("/v1/conversations/{second}/queue-position"), &app.admin_key, |p| p["position"] == 1)
        .await;
    used_units(&app, &id, 1).await;
    offers(&app, &id, &key, 0).await;

    clock.advance(4 * MINUTE);
    used_units(&app, &id, 1).await;
    clock.advance(MINUTE);
    let offered = offers(&app, &id, &key, 1).await;
    assert_eq!(offered[0]["conversation_id"], second.as_str());
}

#[tokio::test]
async fn wrap_up_always_holds_capacity_until_close_and_never_releases_it_at_end() {
    let (app, clock) = manual().await;
    let always =
        setup(&app, "messaging_api", "push", json!({ "routing": { "enabled": true, "wrap_up_blocking": "always" } }))
            .await;
    let (key, id) = agent(&app, &[&always.queue], "available", 1).await;
    let first = create(&app, &always.channel, "c1").await;
    accept_offer(&app, &id, &key).await;
    app.post_ok(&format!("/v1/conversations/{first}/end"), &key, json!({}), StatusCode::OK).await;
    state_is(&app, &first, "wrap_up").await;
    clock.advance(61 * MINUTE);
    used_units(&app, &id, 1).await;
    app.post_ok(&format!("/v1/conversations/{first}/close"), &key, json!({}), StatusCode::OK).await;
    used_units(&app, &id, 0).await;

    let never = setup(&app, "messaging_api", "push", json!({ "routing": { "enabled": true } })).await;
    let (key, id) = agent(&app, &[&never.queue], "available", 1).await;
    let c = create(&app, &never.channel, "c2").await;
    accept_offer(&app, &id, &key).await;
    used_units(&app, &id, 1).await;
    app.post_ok(&format!("/v1/conversations/{c}/end"), &key, json!({}), StatusCode::OK).await;
    used_units(&app, &id, 0).await;
}

#[tokio::test]
async fn a_restart_keeps_wrap_up_capacity_blocked_for_what_is_left_of_its_minutes() {
    let (mut app, clock) = manual().await;
    let routing =
        json!({ "routing": { "enabled": true, "wrap_up_blocking": "timed", "wrap_up_blocking_minutes": 10 } });
    let s = setup(&app, "messaging_api", "push", routing).await;
    let (key, id) = agent(&app, &[&s.queue], "available", 1).await;
    let first = create(&app, &s.channel, "c1").await;
    accept_offer(&app, &id, &key).await;
    app.post_ok(&format!("/v1/conversations/{first}/end"), &key, json!({}), StatusCode::OK).await;
    timer(&app, &first, "wrap_up").await;
    clock.advance(4 * MINUTE);

    app.restart().await;
    used_units(&app, &id, 1).await;
    let second = create(&app, &s.channel, "c2").await;
    eventually(&app, &format!("/v1/conversations/{second}/queue-position"), &app.admin_key, |p| p["position"] == 1)
        .await;
    offers(&app, &id, &key, 0).await;
    // Ten minutes after the end, not after the restart.
    clock.advance(6 * MINUTE);
    let offered = offers(&app, &id, &key, 1).await;
    assert_eq!(offered[0]["conversation_id"], second.as_str());
}

#[tokio::test]
async fn an_agent_transfers_an_active_conversation_to_another_queue() {
    let (app, _clock) = manual().await;
    let s = setup(&app, "messaging_api", "push", json!({ "routing": { "enabled": true } })).await;
    let billing = queue(&app, "Billing").await;
    let (key1, id1) = agent(&app, &[&s.queue], "available", 1).await;
    let (key2, id2) = agent(&app, &[&billing], "available", 1).await;

    let c = create(&app, &s.channel, "c1").await;
    accept_offer(&app, &id1, &key1).await;
    used_units(&app, &id1, 1).await;

    let moved = app
        .post_ok(&format!("/v1/conversations/{c}/transfer"), &key1, json!({ "queue_id": billing }), StatusCode::OK)
        .await;
    assert_eq!((moved["state"].as_str(), moved["queue_id"].as_str()), (Some("open"), Some(billing.as_str())));
    assert!(moved["agent_id"].is_null(), "{moved}");
    used_units(&app, &id1, 0).await;
    let offered = offers(&app, &id2, &key2, 1).await;
    assert_eq!(
        (offered[0]["conversation_id"].as_str(), offered[0]["queue_id"].as_str()),
        (Some(c.as_str()), Some(billing.as_str()))
    );

    let events = timeline(&app, &c).await;
    let transferred = events.iter().find(|e| e["type"] == "conversation.transferred").expect("transferred event");
    assert_eq!(transferred["data"]["from_queue_id"], s.queue.as_str());
    assert_eq!(transferred["data"]["from_agent_id"], id1.as_str());
    assert_eq!(transferred["data"]["queue_id"], billing.as_str());
    let change = events.iter().find(|e| e["type"] == "conversation.state_changed" && e["data"]["action"] == "transfer");
    assert_eq!(change.unwrap()["data"]["to"], "open");

    // A supervisor moves it back while it waits; moving it to the queue it is in is refused.
    let (sup, _) = app.key(Role::Supervisor).await;
    let (status, body) =
        app.post(&format!("/v1/conversations/{c}/transfer"), &sup, json!({ "queue_id": billing })).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "already_in_queue");
    app.post_ok(&format!("/v1/conversations/{c}/transfer"), &sup, json!({ "queue_id": s.queue }), StatusCode::OK).await;
    offers(&app, &id2, &key2, 0).await;
    offers(&app, &id1, &key1, 1).await;
}

#[tokio::test]
async fn an_agent_transfers_to_another_agent_who_gets_a_transfer_offer() {
    let (app, _clock) = manual().await;
    let s = setup(&app, "messaging_api", "push", json!({ "routing": { "enabled": true } })).await;
    let (key1, id1) = agent(&app, &[&s.queue], "available", 1).await;
    // Not a member of the queue: a transfer reaches an agent directly.
    let (key2, id2) = agent(&app, &[], "available", 1).await;

    let c = create(&app, &s.channel, "c1").await;
    accept_offer(&app, &id1, &key1).await;
    app.post_ok(&format!("/v1/conversations/{c}/transfer"), &key1, json!({ "agent_id": id2 }), StatusCode::OK).await;
    used_units(&app, &id1, 0).await;
    let accepted = accept_offer(&app, &id2, &key2).await;
    assert_eq!((accepted["state"].as_str(), accepted["agent_id"].as_str()), (Some("active"), Some(id2.as_str())));
    let events = timeline(&app, &c).await;
    let kinds: Vec<&Value> =
        events.iter().filter(|e| e["type"] == "routing.offer_issued").map(|e| &e["data"]["kind"]).collect();
    assert_eq!(kinds, [&json!("queue"), &json!("transfer")]);
}

#[tokio::test]
async fn transfers_that_cannot_happen_are_refused_and_change_nothing() {
    let (app, _clock) = manual().await;
    let s = setup(&app, "messaging_api", "push", json!({ "routing": { "enabled": true } })).await;
    let other_queue = queue(&app, "Other").await;
    let (key1, id1) = agent(&app, &[&s.queue], "available", 1).await;
    let (key2, id2) = agent(&app, &[], "available", 1).await;
    let (_, offline) = agent(&app, &[], "offline", 1).await;
    let (_, sup_id) = app.key(Role::Supervisor).await;
    let (integration, _) = app.key(Role::Integration).await;
    let (_, tenant) = admin::create_org(&app.state.store, "other", app.state.clock.now()).await.unwrap();
    let foreign_queue =
        app.post_ok("/v1/queues", &tenant.api_key, json!({ "name": "Theirs" }), StatusCode::CREATED).await;
    let (_, foreign_agent) =
        admin::create_user(&app.state.store, tenant.org_id, "Theirs", None, Role::Agent, None, app.state.clock.now())
            .await
            .unwrap();

    let c = create(&app, &s.channel, "c1").await;
    accept_offer(&app, &id1, &key1).await;
    let path = format!("/v1/conversations/{c}/transfer");
    let before = app.event_count().await;
    let cases = [
        (&key1, json!({}), StatusCode::BAD_REQUEST, "missing_field"),
        (&key1, json!({ "queue_id": other_queue, "agent_id": id2 }), StatusCode::BAD_REQUEST, "invalid_field"),
        (&key1, json!({ "queue_id": "not-a-queue" }), StatusCode::BAD_REQUEST, "invalid_field"),
        (&key1, json!({ "queue_id": uuid::Uuid::now_v7() }), StatusCode::NOT_FOUND, "queue_not_found"),
        (&key1, json!({ "queue_id": foreign_queue["id"] }), StatusCode::NOT_FOUND, "queue_not_found"),
        (&key1, json!({ "agent_id": uuid::Uuid::now_v7() }), StatusCode::NOT_FOUND, "agent_not_found"),
        (&key1, json!({ "agent_id": foreign_agent.user_id }), StatusCode::NOT_FOUND, "agent_not_found"),
        (&key1, json!({ "agent_id": sup_id }), StatusCode::NOT_FOUND, "agent_not_found"),
        (&key1, json!({ "queue_id": s.queue }), StatusCode::CONFLICT, "already_in_queue"),
        (&key1, json!({ "agent_id": offline }), StatusCode::CONFLICT, "agent_unavailable"),
        (&key1, json!({ "agent_id": id1 }), StatusCode::CONFLICT, "invalid_state_transition"),
        // An agent who neither holds it nor waits for it in a queue does not see it.
        (&key2, json!({ "queue_id": other_queue }), StatusCode::NOT_FOUND, "conversation_not_found"),
        (&integration, json!({ "queue_id": other_queue }), StatusCode::FORBIDDEN, "forbidden"),
    ];
    for (key, body, status, code) in cases {
        let (got, problem) = app.post(&path, key, body.clone()).await;
        assert_problem(got, &problem, status, code);
    }
    let (got, problem) = app
        .post(
            &format!("/v1/conversations/{}/transfer", uuid::Uuid::now_v7()),
            &key1,
            json!({ "queue_id": other_queue }),
        )
        .await;
    assert_problem(got, &problem, StatusCode::NOT_FOUND, "conversation_not_found");
    let (got, problem) = app.post(&path, &tenant.api_key, json!({ "queue_id": foreign_queue["id"] })).await;
    assert_problem(got, &problem, StatusCode::NOT_FOUND, "conversation_not_found");
    assert_eq!(app.event_count().await, before, "refused transfers change nothing");
    let (_, still) = app.get(&format!("/v1/conversations/{c}"), &app.admin_key).await;
    assert_eq!((still["state"].as_str(), still["agent_id"].as_str()), (Some("active"), Some(id1.as_str())));

    // In wrap-up or closed, there is nothing to transfer.
    app.post_ok(&format!("/v1/conversations/{c}/end"), &key1, json!({}), StatusCode::OK).await;
    let (got, problem) = app.post(&path, &app.admin_key, json!({ "queue_id": other_queue })).await;
    assert_problem(got, &problem, StatusCode::CONFLICT, "invalid_state_transition");
    app.post_ok(&format!("/v1/conversations/{c}/close"), &key1, json!({}), StatusCode::OK).await;
    let (got, problem) = app.post(&path, &app.admin_key, json!({ "queue_id": other_queue })).await;
    assert_problem(got, &problem, StatusCode::CONFLICT, "conversation_closed");

    // A workstream routing does not run has no routing to transfer through.
    let unrouted = setup(&app, "messaging_api", "push", json!({})).await;
    let u = create(&app, &unrouted.channel, "c2").await;
    let (got, problem) =
        app.post(&format!("/v1/conversations/{u}/transfer"), &app.admin_key, json!({ "queue_id": other_queue })).await;
    assert_problem(got, &problem, StatusCode::CONFLICT, "not_routed");
}

#[tokio::test]
async fn pick_mode_lists_work_items_to_members_and_lets_them_pick() {
    let (app, _clock) = manual().await;
    let s = setup(&app, "messaging_api", "pick", json!({ "routing": { "enabled": true } })).await;
    let (key, id) = agent(&app, &[&s.queue], "available", 1).await;
    let (outsider_key, outsider) = agent(&app, &[], "available", 1).await;
    let (away_key, _) = agent(&app, &[&s.queue], "away", 1).await;

    let first = create(&app, &s.channel, "c1").await;
    let second = create(&app, &s.channel, "c2").await;
    let items_path = format!("/v1/queues/{}/work-items", s.queue);
    let items = eventually(&app, &items_path, &key, |v| v["data"].as_array().is_some_and(|d| d.len() == 2)).await;
    let ids: Vec<&Value> = items["data"].as_array().unwrap().iter().map(|i| &i["conversation"]["id"]).collect();
    assert_eq!(ids, [&json!(first), &json!(second)]);
    assert_eq!(items["data"][0]["position"], 1);
    // Pick workstreams offer nothing.
    offers(&app, &id, &key, 0).await;

    let (status, body) = app.get(&items_path, &outsider_key).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app.get(&format!("/v1/queues/{}/work-items", uuid::Uuid::now_v7()), &key).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "queue_not_found");
    let (status, body) = app.get(&format!("{items_path}?limit=0"), &key).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_query");

    let pick = |c: &str| format!("/v1/conversations/{c}/pick");
    let (status, body) = app.post(&pick(&first), &outsider_key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "agent_unavailable");
    let (status, body) = app.post(&pick(&first), &away_key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "agent_unavailable");
    let (status, body) = app.post(&pick(&first), &app.admin_key, json!({})).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let picked = app.post_ok(&pick(&first), &key, json!({}), StatusCode::OK).await;
    assert_eq!((picked["state"].as_str(), picked["agent_id"].as_str()), (Some("active"), Some(id.as_str())));
    used_units(&app, &id, 1).await;
    let assigned = eventually(&app, &format!("/v1/conversations/{first}/timeline?limit=200"), &app.admin_key, |t| {
        t["data"].as_array().unwrap().iter().any(|e| e["type"] == "routing.assigned")
    })
    .await;
    let by = assigned["data"].as_array().unwrap().iter().find(|e| e["type"] == "routing.assigned").unwrap();
    assert_eq!(by["data"]["by"], "pick");
    let items = app.get(&items_path, &key).await.1;
    assert_eq!(items["data"].as_array().unwrap().len(), 1);

    // Full now: the second cannot be picked, by `pick` or by `accept`, until capacity frees.
    let (status, body) = app.post(&pick(&second), &key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "agent_unavailable");
    let (status, body) = app.post(&format!("/v1/conversations/{second}/accept"), &key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "agent_unavailable");
    let (status, body) = app.post(&pick(&first), &key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "invalid_state_transition");
    app.post_ok(&format!("/v1/conversations/{first}/end"), &key, json!({}), StatusCode::OK).await;
    used_units(&app, &id, 0).await;
    app.post_ok(&format!("/v1/conversations/{second}/accept"), &key, json!({}), StatusCode::OK).await;
    let _ = outsider;
}

#[tokio::test]
async fn a_push_workstream_cannot_be_picked() {
    let (app, _clock) = manual().await;
    let s = setup(&app, "messaging_api", "push", json!({ "routing": { "enabled": true } })).await;
    // Busy-DND is not allowed, so the conversation waits in the queue instead of being offered.
    let (key, _) = agent(&app, &[&s.queue], "busy_dnd", 1).await;
    let c = create(&app, &s.channel, "c1").await;
    eventually(&app, &format!("/v1/conversations/{c}/queue-position"), &app.admin_key, |p| p["position"] == 1).await;
    let (status, body) = app.post(&format!("/v1/conversations/{c}/pick"), &key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "agent_unavailable");
    let items = app.get(&format!("/v1/queues/{}/work-items", s.queue), &key).await.1;
    assert_eq!(items["data"], json!([]));
}

/// Issue 18, finding 7: a push workstream that allows picking (`allow_pick_from_push`) lists its waiting
/// conversations and lets a member pick one whatever their presence and capacity; a pick workstream refuses the
/// setting.
#[tokio::test]
async fn a_push_workstream_that_allows_picking_can_be_picked_regardless_of_presence_and_capacity() {
    let (app, _clock) = manual().await;
    let settings = json!({ "routing": { "enabled": true, "allow_pick_from_push": true } });
    let s = setup(&app, "messaging_api", "push", settings.clone()).await;
    // Busy-DND is not allowed and there is no capacity: nothing is offered, yet the member may pick.
    let (key, id) = agent(&app, &[&s.queue], "busy_dnd", 0).await;
    let (outsider_key, _) = agent(&app, &[], "available", 1).await;
    let c = create(&app, &s.channel, "c1").await;
    eventually(&app, &format!("/v1/conversations/{c}/queue-position"), &app.admin_key, |p| p["position"] == 1).await;
    let items = app.get(&format!("/v1/queues/{}/work-items", s.queue), &key).await.1;
    assert_eq!(items["data"][0]["conversation"]["id"], c.as_str(), "{items}");

    let (status, body) = app.post(&format!("/v1/conversations/{c}/pick"), &outsider_key, json!({})).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "agent_unavailable");
    let picked = app.post_ok(&format!("/v1/conversations/{c}/pick"), &key, json!({}), StatusCode::OK).await;
    assert_eq!((picked["state"].as_str(), picked["agent_id"].as_str()), (Some("active"), Some(id.as_str())));

    let (_, ws) = app.get("/v1/workstreams", &app.admin_key).await;
    assert_eq!(ws["data"][0]["settings"]["routing"]["allow_pick_from_push"], true, "{ws}");
    let body = json!({ "name": "Picked", "distribution": "pick", "settings": settings });
    let (status, body) = app.post("/v1/workstreams", &app.admin_key, body).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(body["field"], "settings.routing.allow_pick_from_push");
}

/// Reference §6.5: a workstream with an after conversation work presence puts its agent in it during wrap-up, and
/// gives back the presence before when the conversation closes; a presence that is not one is refused.
#[tokio::test]
async fn wrap_up_puts_the_agent_in_the_after_conversation_work_presence_until_close() {
    let (app, _clock) = manual().await;
    let after = json!({ "name": "Busy - After conversation work", "base": "busy_dnd" });
    let after = app.post_ok("/v1/presences", &app.admin_key, after, StatusCode::CREATED).await;
    let after = after["id"].as_str().unwrap().to_string();
    let routing = json!({ "routing": { "enabled": true, "after_conversation_work_presence": after } });
    let s = setup(&app, "messaging_api", "push", routing).await;
    let (key, id) = agent(&app, &[&s.queue], "available", 2).await;
    let c = create(&app, &s.channel, "c1").await;
    accept_offer(&app, &id, &key).await;
    let presence = format!("/v1/agents/{id}/presence");

    app.post_ok(&format!("/v1/conversations/{c}/end"), &key, json!({}), StatusCode::OK).await;
    // The presence routing sees and the custom one saved with it (committed just after) both follow.
    let during = eventually(&app, &presence, &key, |p| p["custom_presence"]["id"] == after.as_str()).await;
    assert_eq!(during["presence"], "busy_dnd", "{during}");
    app.post_ok(&format!("/v1/conversations/{c}/close"), &key, json!({}), StatusCode::OK).await;
    let back = eventually(&app, &presence, &key, |p| p["presence"] == "available").await;
    assert!(back["custom_presence"].is_null(), "{back}");

    let (_, log) = app.get("/v1/events?limit=200", &app.admin_key).await;
    let reasons: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "agent.presence_changed" && e["data"]["agent_id"] == id.as_str())
        .filter_map(|e| e["data"]["reason"].as_str())
        .collect();
    assert_eq!(reasons.iter().filter(|r| **r == "after_conversation_work").count(), 2, "{reasons:?}");

    for bad in ["inactive", "nope"] {
        let body = json!({ "name": "Bad", "fallback_queue_id": s.queue,
                           "settings": { "routing": { "enabled": true, "after_conversation_work_presence": bad } } });
        let (status, problem) = app.post("/v1/workstreams", &app.admin_key, body).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_presence");
        assert_eq!(problem["field"], "settings.routing.after_conversation_work_presence", "{problem}");
    }
}

#[tokio::test]
async fn concurrent_picks_of_one_item_give_it_to_exactly_one_agent() {
    let (app, _clock) = manual().await;
    let s = setup(&app, "messaging_api", "pick", json!({ "routing": { "enabled": true } })).await;
    let mut agents = Vec::new();
    for _ in 0..6 {
        agents.push(agent(&app, &[&s.queue], "available", 1).await);
    }
    for round in 0..3 {
        let c = create(&app, &s.channel, &format!("c{round}")).await;
        let items_path = format!("/v1/queues/{}/work-items", s.queue);
        eventually(&app, &items_path, &agents[0].0, |v| {
            v["data"].as_array().is_some_and(|d| d.iter().any(|i| i["conversation"]["id"] == c.as_str()))
        })
        .await;
        // Half pick, half accept, all at once: both paths go through the same check.
        let mut attempts = tokio::task::JoinSet::new();
        for (i, (key, _)) in agents.iter().enumerate() {
            let action = if i % 2 == 0 { "pick" } else { "accept" };
            let url = format!("{}/v1/conversations/{c}/{action}", app.base);
            let (http, key) = (app.http.clone(), key.clone());
            attempts.spawn(async move {
                let response = http.post(url).bearer_auth(key).json(&json!({})).send().await.unwrap();
                let status = response.status();
                (i, status, response.json::<Value>().await.unwrap_or(Value::Null))
            });
        }
        let results = attempts.join_all().await;
        let winners: Vec<usize> = results.iter().filter(|r| r.1 == StatusCode::OK).map(|r| r.0).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (_, status, body) in results.iter().filter(|r| r.1 != StatusCode::OK) {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert!(
                ["invalid_state_transition", "agent_unavailable"].contains(&body["code"].as_str().unwrap()),
                "{body}"
            );
        }
        let winner = agents[winners[0]].1.clone();
        let (_, conversation) = app.get(&format!("/v1/conversations/{c}"), &app.admin_key).await;
        assert_eq!(conversation["agent_id"], winner.as_str());
        used_units(&app, &winner, 1).await;
        // The winner is full; the next round goes to someone else.
        agents.retain(|a| a.1 != winner);
    }
}
