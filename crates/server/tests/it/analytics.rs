//! The supervisor dashboard's API: each queue now (`/v1/analytics/queues`, from routing's state) and the 15-minute
//! intervals the analytics worker counts from the log (`/v1/analytics/intervals`), on a manual clock.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::{admin, clock::ManualClock};
use switchboard_store::analytics::{INTERVAL_MS, interval_start};

use crate::{Options, TestApp, assert_problem};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// A routed queue and its messaging channel: (queue, channel).
async fn routed(app: &TestApp) -> (String, String) {
    let key = &app.admin_key;
    let queue = id(&app.post_ok("/v1/queues", key, json!({ "name": "General" }), StatusCode::CREATED).await);
    let body = json!({ "name": "Chat", "fallback_queue_id": queue, "settings": { "routing": { "enabled": true } } });
    let ws = id(&app.post_ok("/v1/workstreams", key, body, StatusCode::CREATED).await);
    let body = json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": ws });
    let channel = id(&app.post_ok("/v1/channels", key, body, StatusCode::CREATED).await);
    (queue, channel)
}

/// An available agent of `queue` with one unit of capacity: (key, id).
async fn agent(app: &TestApp, queue: &str) -> (String, String) {
    let (key, agent) = app.key(Role::Agent).await;
    let agent = agent.unwrap();
    for (path, key, body) in [
        (format!("/v1/agents/{agent}/routing"), &app.admin_key, json!({ "capacity_units": 1 })),
        (format!("/v1/queues/{queue}/members"), &app.admin_key, json!({ "user_ids": [agent] })),
        (format!("/v1/agents/{agent}/presence"), &key, json!({ "presence": "available" })),
    ] {
        let (status, v) = app.call(Method::PUT, &path, Some(key), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "PUT {path}: {v}");
    }
    (key, agent)
}

async fn create(app: &TestApp, channel: &str, customer: &str) -> String {
    let body = json!({ "channel_id": channel, "customer": { "customer_id": customer } });
    id(&app.post_ok("/v1/conversations", &app.admin_key, body, StatusCode::CREATED).await["conversation"])
}

async fn accept_offer(app: &TestApp, agent: &str, key: &str) {
    let path = format!("/v1/agents/{agent}/offers");
    let offers = app.eventually(&path, &app.admin_key, |v| v["data"].as_array().is_some_and(|d| d.len() == 1)).await;
    let offer = offers["data"][0]["id"].as_str().unwrap();
    app.post_ok(&format!("/v1/offers/{offer}/accept"), key, json!({}), StatusCode::OK).await;
}

fn queue_of<'a>(overview: &'a Value, queue: &str) -> &'a Value {
    overview["queues"].as_array().unwrap().iter().find(|q| q["queue_id"] == queue).unwrap_or(&Value::Null)
}

/// Waits until the queue's live numbers pass `check`.
async fn live(app: &TestApp, key: &str, queue: &str, check: impl Fn(&Value) -> bool) -> Value {
    let overview = app.eventually("/v1/analytics/queues", key, |o| check(queue_of(o, queue))).await;
    queue_of(&overview, queue).clone()
}

/// Waits until the queue's interval holding `at` passes `check`.
async fn interval(app: &TestApp, key: &str, queue: &str, at: Timestamp, check: impl Fn(&Value) -> bool) -> Value {
    let start = interval_start(at);
    let path = format!("/v1/analytics/intervals?queue_id={queue}&from={start}&to={}", start.plus_millis(INTERVAL_MS));
    let page = app.eventually(&path, key, |p| p["data"].as_array().is_some_and(|d| d.len() == 1 && check(&d[0]))).await;
    page["data"][0].clone()
}

/// A manual clock one minute into an interval, so that what a test does in its first minutes falls in one.
fn manual() -> (ManualClock, Options) {
    let start = interval_start(Timestamp::now()).plus_millis(60_000);
    let clock = ManualClock::new(start);
    (clock.clone(), Options { clock: Some(clock), ..Options::default() })
}

#[tokio::test]
async fn the_dashboard_follows_queues_and_counts_intervals_once_across_a_restart() {
    let (clock, options) = manual();
    let mut app = TestApp::spawn_with(options).await;
    let (queue, channel) = routed(&app).await;
    let (supervisor, _) = app.key(Role::Supervisor).await;
    let (agent_key, agent) = agent(&app, &queue).await;
    let started = clock.now();

    let empty = live(&app, &supervisor, &queue, |q| q["agents"]["available"] == 1).await;
    assert_eq!((empty["waiting"].clone(), empty["longest_wait_seconds"].clone()), (json!(0), Value::Null));
    assert_eq!((empty["used_units"].clone(), empty["total_units"].clone()), (json!(0), json!(1)));

    // Two customers: the agent is offered the first, the second waits behind it.
    let first = create(&app, &channel, "c1").await;
    let second = create(&app, &channel, "c2").await;
    // Routed (stamped on the clock) before the clock moves on.
    live(&app, &supervisor, &queue, |q| q["waiting"] == 2 && q["offered"] == 1).await;
    clock.advance(Duration::from_secs(5));
    let q = live(&app, &supervisor, &queue, |q| q["longest_wait_seconds"] == 5.0).await;
    assert_eq!(q["used_units"], 1, "the offer holds the agent's unit: {q}");
    let (_, overview) = app.get("/v1/analytics/queues", &supervisor).await;
    let me = overview["agents"].as_array().unwrap().iter().find(|a| a["user_id"] == agent.as_str()).unwrap();
    assert_eq!((me["used_units"].clone(), me["queue_ids"].clone()), (json!(1), json!([queue])), "{me}");

    // The agent accepts after 5 s: one fewer waits, and the interval has it answered within the threshold.
    accept_offer(&app, &agent, &agent_key).await;
    live(&app, &supervisor, &queue, |q| q["waiting"] == 1 && q["offered"] == 0).await;
    let counted = interval(&app, &supervisor, &queue, started, |i| i["answered"] == 1).await;
    assert_eq!((counted["arrivals"].clone(), counted["abandoned"].clone()), (json!(2), json!(0)), "{counted}");
    assert_eq!((counted["average_wait_seconds"].clone(), counted["service_level"].clone()), (json!(5.0), json!(1.0)));

    // The second customer leaves before anyone answered: abandoned.
    app.post_ok(&format!("/v1/conversations/{second}/close"), &app.admin_key, json!({}), StatusCode::OK).await;
    live(&app, &supervisor, &queue, |q| q["waiting"] == 0).await;
    interval(&app, &supervisor, &queue, started, |i| i["abandoned"] == 1).await;
    let today = live(&app, &supervisor, &queue, |q| q["today"]["abandoned"] == 1).await["today"].clone();
    assert_eq!((today["service_level"].clone(), today["abandonment_rate"].clone()), (json!(1.0), json!(0.5)));

    // After a restart nothing is counted twice, and counting goes on: a third customer waits 40 s for the agent,
    // past the 20 s threshold.
    app.restart().await;
    let third = create(&app, &channel, "c3").await;
    live(&app, &supervisor, &queue, |q| q["waiting"] == 1).await;
    clock.advance(Duration::from_secs(40));
    for step in ["end", "close"] {
        app.post_ok(&format!("/v1/conversations/{first}/{step}"), &agent_key, json!({}), StatusCode::OK).await;
    }
    accept_offer(&app, &agent, &agent_key).await;
    let after = interval(&app, &supervisor, &queue, started, |i| i["answered"] == 2).await;
    assert_eq!(
        (after["arrivals"].clone(), after["abandoned"].clone(), after["service_level"].clone()),
        (json!(3), json!(1), json!(0.5)),
        "{after}"
    );
    assert_eq!(after["average_wait_seconds"], 22.5, "(5 s + 40 s) / 2: {after}");
    let (_, c3) = app.get(&format!("/v1/conversations/{third}"), &app.admin_key).await;
    assert_eq!(c3["state"], "active");

    // The default range is the last 24 hours: 96 intervals, the counted one among them.
    let (status, day) = app.get("/v1/analytics/intervals", &supervisor).await;
    assert_eq!(status, StatusCode::OK, "{day}");
    let data = day["data"].as_array().unwrap();
    assert!((96..=97).contains(&data.len()), "{}", data.len());
    assert_eq!(data.iter().map(|i| i["arrivals"].as_i64().unwrap()).sum::<i64>(), 3);
    assert!(data.iter().filter(|i| i["answered"] == 0).all(|i| i["service_level"].is_null()));
}

#[tokio::test]
async fn only_supervisors_and_admins_read_analytics_and_only_their_own_organization() {
    let app = TestApp::spawn().await;
    let (queue, _) = routed(&app).await;
    for role in [Role::Agent, Role::Integration] {
        let (key, _) = app.key(role).await;
        for path in ["/v1/analytics/queues", "/v1/analytics/intervals"] {
            let (status, body) = app.get(path, &key).await;
            assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        }
    }
    let (status, _) = app.call(Method::GET, "/v1/analytics/queues", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Another organization's admin: our queue is unknown to them, and their overview does not show it.
    let (_, other) = admin::create_org(&app.state.store, "other", app.state.clock.now()).await.unwrap();
    let (status, body) = app.get(&format!("/v1/analytics/intervals?queue_id={queue}"), &other.api_key).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "queue_not_found");
    let (status, body) = app.get("/v1/analytics/queues", &other.api_key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["queues"], json!([]), "{body}");
    let (_, mine) = app.get("/v1/analytics/queues", &app.admin_key).await;
    assert_eq!(mine["queues"][0]["queue_id"], queue.as_str(), "{mine}");
}

#[tokio::test]
async fn bad_ranges_are_refused() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let now = Timestamp::now();
    let cases = [
        (format!("from={now}&to={now}"), StatusCode::BAD_REQUEST, "invalid_field"),
        (format!("from={}&to={now}", now.plus_millis(3_600_000)), StatusCode::BAD_REQUEST, "invalid_field"),
        (format!("from={}&to={now}", now.plus_millis(-32 * 24 * 3_600_000)), StatusCode::BAD_REQUEST, "invalid_field"),
        ("from=yesterday".to_string(), StatusCode::BAD_REQUEST, "invalid_query"),
        ("queue_id=nope".to_string(), StatusCode::BAD_REQUEST, "invalid_query"),
        ("hours=24".to_string(), StatusCode::BAD_REQUEST, "invalid_query"),
        (format!("queue_id={}", uuid::Uuid::now_v7()), StatusCode::NOT_FOUND, "queue_not_found"),
    ];
    for (query, status, code) in cases {
        let (got, body) = app.get(&format!("/v1/analytics/intervals?{}", query.replace('+', "%2B")), key).await;
        assert_problem(got, &body, status, code);
    }
    // 31 days is the most one request reads.
    let month = format!("from={}&to={now}", now.plus_millis(-31 * 24 * 3_600_000));
    let (status, body) = app.get(&format!("/v1/analytics/intervals?{month}"), key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!((31 * 96..=31 * 96 + 1).contains(&body["data"].as_array().unwrap().len()));
}
