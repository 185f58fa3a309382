//! Changing workstreams and channels after creation: `PATCH /v1/workstreams/{id}` and `PATCH /v1/channels/{id}`
//! as JSON merge patches, checked as on create; routing and webhook delivery use the new values at once; a
//! refused patch changes nothing, and a patch that changes nothing records nothing. Also `PATCH /v1/queues/{id}`
//! under concurrent changes.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};

use crate::{
    TestApp, assert_problem,
    receiver::Receiver,
    webhooks::{jwks, messaging_channel, verify_token},
};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

async fn patch(app: &TestApp, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, Some(key), Some(body)).await
}

/// Patches as the admin and insists on 200; returns the changed object.
async fn patch_ok(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, value) = patch(app, path, &app.admin_key, body).await;
    assert_eq!(status, StatusCode::OK, "PATCH {path}: {value}");
    value
}

async fn queue(app: &TestApp, name: &str) -> String {
    id(&app.post_ok("/v1/queues", &app.admin_key, json!({ "name": name }), StatusCode::CREATED).await)
}

/// The events of the organization of `type`, oldest first.
async fn events_of(app: &TestApp, kind: &str) -> Vec<Value> {
    let (status, page) = app.get("/v1/events?limit=250", &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);
    page["data"].as_array().unwrap().iter().filter(|e| e["type"] == kind).cloned().collect()
}

/// A PATCH with a body that is not JSON at all.
async fn patch_raw(app: &TestApp, path: &str, body: &'static str) -> (StatusCode, Value) {
    let response = app
        .http
        .patch(format!("{}{path}", app.base))
        .bearer_auth(&app.admin_key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const MISSING: StatusCode = StatusCode::NOT_FOUND;

/// What is sent, and the status, code and field expected back.
type Case = (&'static str, Value, StatusCode, &'static str, Option<&'static str>);

/// Sends a body that is not JSON, then each case, to `path` as the admin and checks the problem each answers.
async fn refused(app: &TestApp, path: &str, cases: Vec<Case>) {
    let (status, problem) = patch_raw(app, path, r#"{"name": "#).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_json");
    for (what, body, status, code, field) in cases {
        let (got, problem) = patch(app, path, &app.admin_key, body).await;
        assert_problem(got, &problem, status, code);
        assert_eq!(problem["field"].as_str(), field, "{what}: {problem}");
    }
}

/// An agent with capacity, member of `queue`, available; returns (key, id).
async fn available_agent(app: &TestApp, queue: &str) -> (String, String) {
    let (key, agent) = app.key(Role::Agent).await;
    let agent = agent.unwrap();
    let put = |path: String, key: String, body: Value| async move {
        let (status, value) = app.call(Method::PUT, &path, Some(&key), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "PUT {path}: {value}");
    };
    let admin = app.admin_key.clone();
    put(format!("/v1/agents/{agent}/routing"), admin.clone(), json!({ "capacity_units": 2 })).await;
    put(format!("/v1/queues/{queue}/members"), admin, json!({ "user_ids": [agent] })).await;
    put(format!("/v1/agents/{agent}/presence"), key.clone(), json!({ "presence": "available" })).await;
    (key, agent)
}

fn time(v: &Value) -> Timestamp {
    v.as_str().and_then(Timestamp::parse_rfc3339).unwrap_or_else(|| panic!("not a time: {v}"))
}

/// Returns once the clock has moved past `created`'s creation, so that a change made after it gets a later
/// `updated_at` (times have millisecond resolution and a change can follow within the same one).
async fn after_creation(created: &Value) {
    let at = time(&created["created_at"]);
    assert_eq!(created["updated_at"], created["created_at"], "a new object was last changed when created: {created}");
    while Timestamp::now() <= at {
        tokio::task::yield_now().await;
    }
}

/// A patch of `mine` in `collection` by another role is 403; of another organization's object, an unknown id or
/// one that cannot be an id, 404 `not_found`, as for a missing one; without credentials, 401.
async fn only_admins_of_the_org(
    app: &TestApp,
    collection: &str,
    mine: &str,
    theirs: &str,
    not_found: &str,
    roles: &[String],
) {
    let body = json!({ "name": "Renamed" });
    for other in [theirs.to_string(), uuid::Uuid::now_v7().to_string(), "not-an-id".to_string()] {
        let (status, problem) = patch(app, &format!("{collection}/{other}"), &app.admin_key, body.clone()).await;
        assert_problem(status, &problem, StatusCode::NOT_FOUND, not_found);
    }
    let path = format!("{collection}/{mine}");
    for key in roles {
        let (status, problem) = patch(app, &path, key, body.clone()).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(app.call(Method::PATCH, &path, None, Some(body)).await.0, StatusCode::UNAUTHORIZED);
}

/// A messaging channel of `workstream`, created with `key`.
async fn channel_on(app: &TestApp, key: &str, workstream: &Value) -> Value {
    let body = json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": workstream["id"] });
    app.post_ok("/v1/channels", key, body, StatusCode::CREATED).await
}

/// Another organization's admin key and a workstream of theirs.
async fn other_org(app: &TestApp) -> (String, Value) {
    let (_, other) =
        switchboard_server::admin::create_org(&app.state.store, "other", app.state.clock.now()).await.unwrap();
    let ws = app.post_ok("/v1/workstreams", &other.api_key, json!({ "name": "Theirs" }), StatusCode::CREATED).await;
    (other.api_key, ws)
}

/// Keys of every role but admin, which may not change configuration.
async fn role_keys(app: &TestApp) -> Vec<String> {
    let mut keys = Vec::new();
    for role in [Role::Supervisor, Role::Agent, Role::Integration] {
        keys.push(app.key(role).await.0);
    }
    keys
}

async fn conversation(app: &TestApp, channel: &str, customer: &str) -> Value {
    let body = json!({ "channel_id": channel, "customer": { "customer_id": customer } });
    app.post_ok("/v1/conversations", &app.admin_key, body, StatusCode::CREATED).await["conversation"].clone()
}

#[tokio::test]
async fn a_workstream_changes_field_by_field_and_reads_back() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let (general, billing) = (queue(&app, "General").await, queue(&app, "Billing").await);
    let profile =
        app.post_ok("/v1/capacity-profiles", key, json!({ "name": "Chat", "max_items": 3 }), StatusCode::CREATED).await;
    let created = app
        .post_ok(
            "/v1/workstreams",
            key,
            json!({ "name": "Chat", "fallback_queue_id": general,
                    "settings": { "attachments": { "max_bytes": 1024 }, "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/v1/workstreams/{}", id(&created));

    // A patch of one field changes that field only.
    after_creation(&created).await;
    let renamed = patch_ok(&app, &path, json!({ "name": "Sales chat" })).await;
    let mut expect = created.clone();
    expect["name"] = json!("Sales chat");
    expect["updated_at"] = renamed["updated_at"].clone();
    assert_eq!(renamed, expect);
    assert!(time(&renamed["updated_at"]) > time(&created["created_at"]), "{renamed}");
    assert_eq!(app.get(&path, key).await.1, expect);

    // Everything that may change, at once; settings merge member by member.
    let changed = patch_ok(
        &app,
        &path,
        json!({
            "distribution": "pick",
            "fallback_queue_id": billing,
            "settings": {
                "auto_close": { "open_seconds": 600 },
                "wait_notifications": { "enabled": false, "min_interval_seconds": 120 },
                "routing": {
                    "capacity_units": 0, "capacity_profile_id": profile["id"], "allowed_presences": ["available"],
                    "skill_matching": "exact", "affinity": true, "wrap_up_blocking": "timed",
                    "wrap_up_blocking_minutes": 5, "offer_timeout_seconds": 30
                }
            }
        }),
    )
    .await;
    assert_eq!(app.get(&path, key).await.1, changed);
    assert_eq!(
        (changed["distribution"].as_str(), changed["fallback_queue_id"].as_str()),
        (Some("pick"), Some(&*billing))
    );
    let settings = &changed["settings"];
    assert_eq!(settings["auto_close"], json!({ "open_seconds": 600 }));
    assert_eq!(settings["wait_notifications"], json!({ "enabled": false, "min_interval_seconds": 120 }));
    let routing = &settings["routing"];
    assert_eq!(
        (&routing["capacity_units"], &routing["capacity_profile_id"], &routing["allowed_presences"]),
        (&json!(0), &profile["id"], &json!(["available"]))
    );
    assert_eq!((&routing["skill_matching"], &routing["affinity"]), (&json!("exact"), &json!(true)));
    assert_eq!((&routing["wrap_up_blocking"], &routing["wrap_up_blocking_minutes"]), (&json!("timed"), &json!(5)));
    assert_eq!(routing["offer_timeout_seconds"], 30);
    // What the patch left out is as it was.
    assert_eq!(settings["attachments"], created["settings"]["attachments"]);
    assert_eq!(routing["enabled"], true);
    assert_eq!(routing["reoffer_cooldown_seconds"], created["settings"]["routing"]["reoffer_cooldown_seconds"]);
    for field in ["id", "org_id", "name", "workstream_type", "created_at"] {
        assert_eq!(changed[field], expect[field], "{field}");
    }

    // `null` removes: no fallback queue, wrap-up blocking and auto-close back to their defaults.
    let cleared = patch_ok(
        &app,
        &path,
        json!({ "fallback_queue_id": null,
                "settings": { "auto_close": null, "routing": { "wrap_up_blocking": null, "wrap_up_blocking_minutes": null } } }),
    )
    .await;
    assert_eq!(cleared["fallback_queue_id"], Value::Null);
    assert_eq!(cleared["settings"]["auto_close"], json!({}));
    assert_eq!(cleared["settings"]["routing"]["wrap_up_blocking"], "never");
    assert!(cleared["settings"]["routing"].get("wrap_up_blocking_minutes").is_none(), "{cleared}");
    assert_eq!(cleared["settings"]["routing"]["affinity"], true);
    assert_eq!(app.get(&path, key).await.1, cleared);

    // Each change is an event carrying the workstream as it became.
    let updates = events_of(&app, "workstream.updated").await;
    let data: Vec<&Value> = updates.iter().map(|e| &e["data"]).collect();
    assert_eq!(data, [&renamed, &changed, &cleared]);
}

#[tokio::test]
async fn routing_takes_a_patched_fallback_queue_and_distribution_for_new_conversations() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let (general, billing) = (queue(&app, "General").await, queue(&app, "Billing").await);
    let ws = app
        .post_ok(
            "/v1/workstreams",
            key,
            json!({ "name": "Chat", "distribution": "pick", "fallback_queue_id": general,
                    "settings": { "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let channel = id(&channel_on(&app, key, &ws).await);
    let (agent_key, agent) = available_agent(&app, &billing).await;

    // Before the change, routing queues new conversations in General, where the agent is not.
    let first = id(&conversation(&app, &channel, "c1").await);
    app.eventually(&format!("/v1/conversations/{first}/timeline"), key, |t| {
        t["data"].as_array().unwrap().iter().any(|e| e["type"] == "routing.queued" && e["data"]["queue_id"] == *general)
    })
    .await;

    // Billing is the fallback now, offered by push: the next conversation is offered to Billing's agent.
    patch_ok(
        &app,
        &format!("/v1/workstreams/{}", id(&ws)),
        json!({ "fallback_queue_id": billing, "distribution": "push" }),
    )
    .await;
    let second = conversation(&app, &channel, "c2").await;
    assert_eq!(second["queue_id"].as_str(), Some(&*billing), "{second}");
    let second = id(&second);
    let offers = app
        .eventually(&format!("/v1/agents/{agent}/offers"), &agent_key, |o| {
            o["data"].as_array().unwrap().iter().any(|o| o["conversation_id"] == *second)
        })
        .await;
    let offer = offers["data"].as_array().unwrap().iter().find(|o| o["conversation_id"] == *second).unwrap();
    assert_eq!(offer["queue_id"].as_str(), Some(&*billing));
    let (_, c) = app.get(&format!("/v1/conversations/{second}"), key).await;
    assert_eq!(c["queue_id"].as_str(), Some(&*billing));
}

#[tokio::test]
async fn a_refused_workstream_patch_says_why_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let general = queue(&app, "General").await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            key,
            json!({ "name": "Chat", "fallback_queue_id": general, "settings": { "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/v1/workstreams/{}", id(&ws));
    let (other, their_ws) = other_org(&app).await;
    let theirs = app.post_ok("/v1/queues", &other, json!({ "name": "Theirs" }), StatusCode::CREATED).await;
    let roles = role_keys(&app).await;
    let events = app.event_count().await;

    refused(
        &app,
        &path,
        vec![
            ("unknown field", json!({ "colour": "red" }), BAD, "unknown_field", Some("colour")),
            (
                "unknown setting",
                json!({ "settings": { "routing": { "colour": "red" } } }),
                BAD,
                "unknown_field",
                Some("settings.routing.colour"),
            ),
            ("type", json!({ "workstream_type": "voice" }), BAD, "unknown_field", Some("workstream_type")),
            ("type, even null", json!({ "workstream_type": null }), BAD, "unknown_field", Some("workstream_type")),
            ("id", json!({ "id": ws["id"] }), BAD, "unknown_field", Some("id")),
            ("no name", json!({ "name": null }), BAD, "missing_field", Some("name")),
            ("empty name", json!({ "name": " " }), BAD, "invalid_field", Some("name")),
            ("long name", json!({ "name": "n".repeat(201) }), BAD, "field_too_long", Some("name")),
            ("bad distribution", json!({ "distribution": "shove" }), BAD, "invalid_field", Some("distribution")),
            ("settings not an object", json!({ "settings": 5 }), BAD, "invalid_field", Some("settings")),
            (
                "wrong type in settings",
                json!({ "settings": { "routing": { "capacity_units": "two" } } }),
                BAD,
                "invalid_field",
                Some("settings.routing.capacity_units"),
            ),
            (
                "timed wrap-up without minutes",
                json!({ "settings": { "routing": { "wrap_up_blocking": "timed" } } }),
                BAD,
                "invalid_field",
                Some("settings.routing.wrap_up_blocking_minutes"),
            ),
            (
                "updates too often",
                json!({ "settings": { "wait_notifications": { "min_interval_seconds": 5 } } }),
                BAD,
                "invalid_field",
                Some("settings.wait_notifications.min_interval_seconds"),
            ),
            (
                "no attachment size",
                json!({ "settings": { "attachments": { "max_bytes": 0 } } }),
                BAD,
                "invalid_field",
                Some("settings.attachments.max_bytes"),
            ),
            (
                "auto-close past a year",
                json!({ "settings": { "auto_close": { "waiting_seconds": 400 * 86_400 } } }),
                BAD,
                "invalid_field",
                Some("settings.auto_close.waiting_seconds"),
            ),
            (
                "unknown fallback queue",
                json!({ "fallback_queue_id": uuid::Uuid::now_v7() }),
                MISSING,
                "queue_not_found",
                Some("fallback_queue_id"),
            ),
            (
                "another organization's queue",
                json!({ "fallback_queue_id": theirs["id"], "name": "Renamed" }),
                MISSING,
                "queue_not_found",
                Some("fallback_queue_id"),
            ),
            (
                "unknown capacity profile",
                json!({ "settings": { "routing": { "capacity_profile_id": uuid::Uuid::now_v7() } } }),
                MISSING,
                "capacity_profile_not_found",
                Some("settings.routing.capacity_profile_id"),
            ),
        ],
    )
    .await;

    only_admins_of_the_org(&app, "/v1/workstreams", &id(&ws), &id(&their_ws), "workstream_not_found", &roles).await;

    assert_eq!(app.get(&path, key).await.1, ws, "a refused patch changes nothing");
    let (_, theirs_now) = app.get(&format!("/v1/workstreams/{}", id(&their_ws)), &other).await;
    assert_eq!(theirs_now, their_ws);
    assert_eq!(app.event_count().await, events, "a refused patch records nothing");
}

#[tokio::test]
async fn a_channel_changes_field_by_field_and_new_conversations_follow_it() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let channel = app.channel().await;
    let path = format!("/v1/channels/{channel}");
    let (_, created) = app.get(&path, key).await;
    let support = queue(&app, "Support").await;
    let other_ws = app
        .post_ok(
            "/v1/workstreams",
            key,
            json!({ "name": "Support", "fallback_queue_id": support }),
            StatusCode::CREATED,
        )
        .await;
    let before = conversation(&app, &channel, "c1").await;

    after_creation(&created).await;
    let renamed = patch_ok(&app, &path, json!({ "name": "Website" })).await;
    let mut expect = created.clone();
    expect["name"] = json!("Website");
    expect["updated_at"] = renamed["updated_at"].clone();
    assert_eq!(renamed, expect);
    assert!(time(&renamed["updated_at"]) > time(&created["created_at"]), "{renamed}");

    let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----";
    let set = patch_ok(
        &app,
        &path,
        json!({ "settings": { "webhook_url": "https://hooks.example.com/a", "app_id": "app-1",
                              "customer_token": { "jwks_url": "https://login.example.com/jwks", "issuer": "login" } } }),
    )
    .await;
    assert_eq!(set["name"], "Website");
    // Settings merge: a new app id keeps the webhook URL. Customer-token keys are write-only: given, they replace
    // the keys whole (the JWKS URL goes, though not named), and a read says only that they are set.
    let merged = patch_ok(
        &app,
        &path,
        json!({ "settings": { "app_id": "app-2", "customer_token": { "public_key_pem": pem, "issuer": "login" } } }),
    )
    .await;
    assert_eq!(
        merged["settings"],
        json!({ "webhook_url": "https://hooks.example.com/a", "app_id": "app-2", "customer_token_set": true })
    );
    assert_eq!(app.get(&path, key).await.1, merged);
    let stored = stored_customer_token(&app, &channel).await;
    assert_eq!(stored, json!({ "public_key_pem": pem, "issuer": "login" }), "replaced, not merged");

    // Another workstream takes the channel's new conversations; the one already started keeps its own. Keys left
    // out of a patch stay.
    let moved =
        patch_ok(&app, &path, json!({ "workstream_id": other_ws["id"], "settings": { "webhook_url": null } })).await;
    assert_eq!(moved["workstream_id"], other_ws["id"]);
    assert_eq!(moved["settings"], json!({ "app_id": "app-2", "customer_token_set": true }));
    assert_eq!(stored_customer_token(&app, &channel).await, stored);
    for field in ["id", "org_id", "channel_type", "created_at"] {
        assert_eq!(moved[field], created[field], "{field}");
    }
    let after = conversation(&app, &channel, "c2").await;
    assert_eq!((after["workstream_id"].clone(), after["queue_id"].as_str()), (other_ws["id"].clone(), Some(&*support)));
    let (_, before_now) = app.get(&format!("/v1/conversations/{}", id(&before)), key).await;
    assert_eq!(before_now["workstream_id"], created["workstream_id"]);

    // `null` removes the keys.
    let removed = patch_ok(&app, &path, json!({ "settings": { "customer_token": null } })).await;
    assert_eq!(removed["settings"], json!({ "app_id": "app-2", "customer_token_set": false }));
    assert_eq!(stored_customer_token(&app, &channel).await, Value::Null);

    let updates = events_of(&app, "channel.updated").await;
    let data: Vec<&Value> = updates.iter().map(|e| &e["data"]).collect();
    // Events leave out the messaging endpoint URL, which follows the server's `public_url`, not the channel.
    let answers: Vec<Value> = [&renamed, &set, &merged, &moved, &removed]
        .into_iter()
        .map(|a| {
            let mut a = a.clone();
            a.as_object_mut().unwrap().remove("messaging_endpoint_url");
            a
        })
        .collect();
    assert_eq!(data, answers.iter().collect::<Vec<_>>());
}

/// The channel's customer-token keys as stored, which the API never reads back.
async fn stored_customer_token(app: &TestApp, channel: &str) -> Value {
    let (org, id) = (app.org_id.parse().unwrap(), channel.parse().unwrap());
    let stored = app.state.store.read(move |tx| switchboard_store::setup::get_channel(tx, org, id)).await.unwrap();
    serde_json::to_value(stored.settings.customer_token).unwrap()
}

#[tokio::test]
async fn a_refused_channel_patch_says_why_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let channel = app.channel().await;
    let path = format!("/v1/channels/{channel}");
    let (_, created) = app.get(&path, key).await;
    let chat = app
        .post_ok(
            "/v1/channels",
            key,
            json!({ "name": "Chat", "channel_type": "live_chat", "workstream_id": created["workstream_id"] }),
            StatusCode::CREATED,
        )
        .await;
    let (other, their_ws) = other_org(&app).await;
    let their_channel = channel_on(&app, &other, &their_ws).await;
    let roles = role_keys(&app).await;
    let events = app.event_count().await;

    refused(
        &app,
        &path,
        vec![
            ("unknown field", json!({ "colour": "red" }), BAD, "unknown_field", Some("colour")),
            (
                "webhook URL at the top",
                json!({ "webhook_url": "https://hooks.example.com" }),
                BAD,
                "unknown_field",
                Some("webhook_url"),
            ),
            (
                "unknown setting",
                json!({ "settings": { "colour": "red" } }),
                BAD,
                "unknown_field",
                Some("settings.colour"),
            ),
            ("type", json!({ "channel_type": "sms" }), BAD, "unknown_field", Some("channel_type")),
            ("no name", json!({ "name": null }), BAD, "missing_field", Some("name")),
            ("no workstream", json!({ "workstream_id": null }), BAD, "missing_field", Some("workstream_id")),
            (
                "not a URL",
                json!({ "settings": { "webhook_url": "ftp://hooks.example.com" } }),
                BAD,
                "invalid_field",
                Some("settings.webhook_url"),
            ),
            (
                "a URL too long",
                json!({ "settings": { "webhook_url": format!("https://hooks.example.com/{}", "a".repeat(2_100)) } }),
                BAD,
                "field_too_long",
                Some("settings.webhook_url"),
            ),
            (
                "two customer keys",
                json!({ "settings": { "customer_token": { "jwks_url": "https://login.example.com/jwks",
                                                          "public_key_pem": "-----BEGIN PUBLIC KEY-----" } } }),
                BAD,
                "invalid_field",
                Some("settings.customer_token"),
            ),
            (
                "unknown workstream",
                json!({ "workstream_id": uuid::Uuid::now_v7() }),
                MISSING,
                "workstream_not_found",
                Some("workstream_id"),
            ),
            (
                "another organization's workstream",
                json!({ "workstream_id": their_ws["id"], "name": "Renamed" }),
                MISSING,
                "workstream_not_found",
                Some("workstream_id"),
            ),
        ],
    )
    .await;
    // Settings a channel's type does not use are refused as on create.
    refused(
        &app,
        &format!("/v1/channels/{}", id(&chat)),
        vec![(
            "a webhook on live chat",
            json!({ "settings": { "webhook_url": "https://hooks.example.com" } }),
            BAD,
            "invalid_field",
            Some("settings.webhook_url"),
        )],
    )
    .await;

    only_admins_of_the_org(&app, "/v1/channels", &channel, &id(&their_channel), "channel_not_found", &roles).await;

    assert_eq!(app.get(&path, key).await.1, created, "a refused patch changes nothing");
    assert_eq!(app.get(&format!("/v1/channels/{}", id(&chat)), key).await.1, chat);
    let (_, theirs_now) = app.get(&format!("/v1/channels/{}", id(&their_channel)), &other).await;
    assert_eq!(theirs_now, their_channel);
    assert_eq!(app.event_count().await, events, "a refused patch records nothing");
}

#[tokio::test]
async fn a_new_webhook_url_and_app_id_take_the_events_committed_after_the_patch() {
    let app = TestApp::spawn().await;
    let (first, second) = (Receiver::start().await, Receiver::start().await);
    let channel = messaging_channel(&app, Some(&first.base), "app-one").await;
    let conversation = id(&conversation(&app, &channel, "c1").await);
    let messages = format!("/v1/conversations/{conversation}/messages");
    let said = |text: &'static str| move |got: &[crate::receiver::Received]| got.iter().any(|r| r.body["text"] == text);

    app.post_ok(&messages, &app.admin_key, json!({ "text": "before" }), StatusCode::CREATED).await;
    first.until("the message before the change", said("before")).await;

    patch_ok(
        &app,
        &format!("/v1/channels/{channel}"),
        json!({ "settings": { "webhook_url": second.base, "app_id": "app-two" } }),
    )
    .await;
    app.post_ok(&messages, &app.admin_key, json!({ "text": "after" }), StatusCode::CREATED).await;
    let got = second.until("the message after the change", said("after")).await;

    assert!(!said("after")(&first.received()), "the old URL gets nothing after the change: {:#?}", first.received());
    assert!(!said("before")(&got), "the new URL gets only what came after: {got:#?}");
    let after = got.iter().find(|r| r.body["text"] == "after").unwrap();
    assert_eq!(after.path, format!("/v3/conversations/{conversation}/activities"));
    // The token on the call is minted for the new app id.
    let claims = verify_token(&jwks(&app).await, &app.base, "app-two", &after.headers["authorization"]);
    assert_eq!(claims["channel_id"], channel.as_str());
}

#[tokio::test]
async fn both_patches_are_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for (path, schema, fields, fixed) in [
        (
            "/v1/workstreams/{id}",
            "WorkstreamPatch",
            &["name", "distribution", "fallback_queue_id", "settings"][..],
            "workstream_type",
        ),
        (
            "/v1/channels/{id}",
            "ChannelPatch",
            &["name", "workstream_id", "settings", "language", "behaviours", "attachments"][..],
            "channel_type",
        ),
    ] {
        let op = &doc["paths"][path]["patch"];
        assert!(op["responses"]["200"].is_object(), "PATCH {path}: {op}");
        let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str();
        assert_eq!(body, Some(&*format!("#/components/schemas/{schema}")), "PATCH {path}: {op}");
        let properties = doc["components"]["schemas"][schema]["properties"].as_object().unwrap();
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut expect = fields.to_vec();
        expect.sort_unstable();
        assert_eq!(names, expect, "{schema} lists what may change, not `{fixed}`");
    }
    // What they answer with says when it last changed.
    for object in ["Workstream", "Channel"] {
        let schema = &doc["components"]["schemas"][object];
        assert!(schema["properties"]["updated_at"].is_object(), "{object}: {schema}");
        let required = schema["required"].as_array().unwrap();
        assert!(required.contains(&json!("updated_at")), "{object}: {schema}");
    }
}

#[tokio::test]
async fn a_patch_that_changes_nothing_answers_the_object_and_records_nothing() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let (channel_now, ws_now, queue_path) = app.channel_setup().await;
    let (channel_path, ws_path) =
        (format!("/v1/channels/{}", id(&channel_now)), format!("/v1/workstreams/{}", id(&ws_now)));
    let queue_now = patch_ok(&app, &queue_path, json!({ "assignment_method": "round_robin" })).await;
    after_creation(&ws_now).await;
    after_creation(&channel_now).await;
    let events = app.event_count().await;

    for (path, current, same) in [
        // Values as they are, a setting at its default, a member removed that was never set.
        (
            &ws_path,
            &ws_now,
            json!({ "name": ws_now["name"], "distribution": "push", "fallback_queue_id": ws_now["fallback_queue_id"],
                    "settings": { "routing": { "affinity": false }, "auto_close": null } }),
        ),
        (
            &channel_path,
            &channel_now,
            json!({ "name": channel_now["name"], "workstream_id": channel_now["workstream_id"],
                    "settings": { "webhook_url": null } }),
        ),
        (&queue_path, &queue_now, json!({ "assignment_method": "round_robin", "custom": null })),
    ] {
        for body in [json!({}), same] {
            assert_eq!(&patch_ok(&app, path, body.clone()).await, current, "PATCH {path} {body}");
        }
    }
    assert_eq!(app.get(&ws_path, key).await.1, ws_now, "updated_at stays");
    assert_eq!(app.get(&channel_path, key).await.1, channel_now, "updated_at stays");
    assert_eq!(app.event_count().await, events, "no change, no workstream.updated, channel.updated or queue event");

    // A change after them is recorded as usual.
    patch_ok(&app, &ws_path, json!({ "distribution": "pick" })).await;
    assert_eq!(events_of(&app, "workstream.updated").await.len(), 1);
    assert_eq!(app.event_count().await, events + 1);
}

#[tokio::test]
async fn a_nested_array_in_a_patch_replaces_the_array_whole() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            key,
            json!({ "name": "Chat", "settings": { "routing": { "allowed_presences": ["available", "busy", "away"] },
                    "attachments": { "allowed_types": ["image/*", "text/plain", "application/pdf"] } } }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/v1/workstreams/{}", id(&ws));
    // RFC 7396: an array is a value, not an object to merge into: never merged by index, never padded with what
    // was there, the members around it kept.
    for (presences, types) in [
        (json!(["available"]), json!(["text/plain"])),
        (json!(["busy_dnd", "offline"]), json!(["audio/*", "video/*"])),
        (json!([]), json!([])),
        (json!(["away", "available", "busy"]), json!(["application/pdf", "image/png", "text/csv", "text/plain"])),
    ] {
        let body = json!({ "settings": { "routing": { "allowed_presences": presences },
                                         "attachments": { "allowed_types": types } } });
        let patched = patch_ok(&app, &path, body.clone()).await;
        let mut expect = ws["settings"].clone();
        expect["routing"]["allowed_presences"] = presences.clone();
        expect["attachments"]["allowed_types"] = types.clone();
        assert_eq!(patched["settings"], expect, "PATCH {body}");
        assert_eq!(app.get(&path, key).await.1["settings"], expect, "read back after {body}");
    }
}

/// Saves `settings` on a row of `table` as they are, unchecked: what a row saved before a check existed holds.
async fn store_settings(app: &TestApp, table: &'static str, id: String, settings: Value) {
    let sql = format!("UPDATE {table} SET settings = $2 WHERE id = $1");
    let settings = settings.to_string();
    app.state.store.write(move |tx| tx.execute(&sql, switchboard_store::params![id, settings])).await.unwrap();
}

#[tokio::test]
async fn a_bad_value_is_refused_whether_or_not_it_is_the_stored_one() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let created = |name: &str| json!({ "name": name });
    let (held, other) = (
        app.post_ok("/v1/workstreams", key, created("Held"), StatusCode::CREATED).await,
        app.post_ok("/v1/workstreams", key, created("Other"), StatusCode::CREATED).await,
    );
    let live_chat = |name: &str| json!({ "name": name, "channel_type": "live_chat", "workstream_id": other["id"] });
    let (held_channel, other_channel) = (
        app.post_ok("/v1/channels", key, live_chat("Held"), StatusCode::CREATED).await,
        app.post_ok("/v1/channels", key, live_chat("Other"), StatusCode::CREATED).await,
    );
    // Values today's checks refuse, held by one workstream and one channel as if saved before those checks.
    let no_size = json!({ "attachments": { "max_bytes": 0 } });
    let mut settings = held["settings"].clone();
    settings["attachments"]["max_bytes"] = json!(0);
    store_settings(&app, "workstreams", id(&held), settings).await;
    let webhook = json!({ "webhook_url": "https://example.com/hook" });
    store_settings(&app, "channels", id(&held_channel), webhook.clone()).await;
    let events = app.event_count().await;

    // The same body gets the same answer from the object that holds the value (nothing to change) and from the
    // one that does not; so does a body that changes nothing at all, on the object that holds it.
    for (objects, body, field) in [
        ((&held, &other), json!({ "settings": no_size }), "settings.attachments.max_bytes"),
        ((&held, &other), json!({ "name": "Held", "settings": no_size }), "settings.attachments.max_bytes"),
        ((&held_channel, &other_channel), json!({ "settings": webhook }), "settings.webhook_url"),
    ] {
        let collection = if objects.0.get("channel_type").is_some() { "channels" } else { "workstreams" };
        for object in [objects.0, objects.1] {
            let path = format!("/v1/{collection}/{}", id(object));
            let (status, problem) = patch(&app, &path, key, body.clone()).await;
            assert_problem(status, &problem, BAD, "invalid_field");
            assert_eq!(problem["field"], field, "PATCH {path} {body}: {problem}");
        }
        let path = format!("/v1/{collection}/{}", id(objects.0));
        let (status, problem) = patch(&app, &path, key, json!({})).await;
        assert_problem(status, &problem, BAD, "invalid_field");
        assert_eq!(problem["field"], field, "PATCH {path} {{}}: {problem}");
    }
    assert_eq!(app.event_count().await, events, "a refused patch records nothing");

    // Once the value is put right, the object takes patches again.
    let fixed =
        patch_ok(&app, &format!("/v1/workstreams/{}", id(&held)), json!({ "settings": { "attachments": null } })).await;
    assert_eq!(fixed["settings"]["attachments"], other["settings"]["attachments"]);
}

#[tokio::test]
async fn concurrent_queue_patches_of_different_fields_all_take() {
    let app = TestApp::spawn().await;
    let path = format!("/v1/queues/{}", queue(&app, "General").await);
    let methods = ["round_robin", "most_idle", "highest_capacity"];
    let zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"];
    let limits = [5, 6, 7];
    // Each round changes every field to a value it did not have, each in its own request, all at once: a patch
    // that wrote back what it had read before another committed would undo that one.
    for round in 0..12 {
        let (method, zone, limit) = (methods[round % 3], zones[round % 4], limits[round % 3]);
        let overflow = json!({ "rules": [{ "condition": { "type": "work_item_limit_exceeded", "limit": limit },
                                           "action": { "type": "end_conversation" } }] });
        let (a, b, c) = tokio::join!(
            patch_ok(&app, &path, json!({ "assignment_method": method })),
            patch_ok(&app, &path, json!({ "calendar": { "time_zone": zone } })),
            patch_ok(&app, &path, json!({ "overflow": overflow })),
        );
        assert_eq!(
            (&a["routing"]["assignment_method"], &b["routing"]["calendar"]["time_zone"]),
            (&json!(method), &json!(zone))
        );
        assert_eq!(c["routing"]["overflow"]["rules"][0]["condition"]["limit"], limit);
        let now = patch_ok(&app, &path, json!({})).await;
        let routing = &now["routing"];
        assert_eq!(
            (&routing["assignment_method"], &routing["calendar"]["time_zone"]),
            (&json!(method), &json!(zone)),
            "round {round}: {now}"
        );
        assert_eq!(routing["overflow"]["rules"][0]["condition"]["limit"], limit, "round {round}: {now}");
    }
}
