//! Webhook delivery: the Messaging API's Bot Framework activities and native Standard Webhooks subscriptions, in
//! order, with retries on a manual clock, signatures checked by independent verifiers, 410, Retry-After, the SSRF
//! guard and replay.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::clock::ManualClock;

use crate::{Options, TestApp, receiver::Receiver};

/// A Messaging API channel whose webhook goes to `webhook_url`; returns the channel id.
pub async fn messaging_channel(app: &TestApp, webhook_url: Option<&str>, app_id: &str) -> String {
    let queue = app.post_ok("/v1/queues", &app.admin_key, json!({ "name": "Support" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            &app.admin_key,
            json!({ "name": "Messaging", "fallback_queue_id": queue["id"] }),
            StatusCode::CREATED,
        )
        .await;
    let mut settings = json!({ "app_id": app_id });
    if let Some(url) = webhook_url {
        settings["webhook_url"] = json!(url);
    }
    let channel = app
        .post_ok(
            "/v1/channels",
            &app.admin_key,
            json!({ "name": "Custom", "channel_type": "messaging_api", "workstream_id": ws["id"], "settings": settings }),
            StatusCode::CREATED,
        )
        .await;
    channel["id"].as_str().unwrap().to_string()
}

/// A call to the compatible Messaging API with its headers.
pub async fn consumer(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    channel: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .http
        .request(method, format!("{}/api/v1.0/consumer{path}", app.base))
        .bearer_auth(key)
        .header("channel-id", channel)
        .header("organization-id", &app.org_id);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub async fn jwks(app: &TestApp) -> JwkSet {
    let (_, discovery) = app.call(Method::GET, "/.well-known/openid-configuration", None, None).await;
    let url = discovery["jwks_uri"].as_str().unwrap();
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Verifies a webhook call's bearer token the way a receiver would: against the published JWKS, for its app id.
pub fn verify_token(jwks: &JwkSet, issuer: &str, app_id: &str, authorization: &str) -> Value {
    let token = authorization.strip_prefix("Bearer ").expect("a bearer token");
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the token's key is published");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[app_id]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims
}

/// Waits until the engine has recorded the `attempts`-th failed attempt of a pending delivery listed at `path`
/// and scheduled the next one; returns when that one is due.
async fn next_retry(app: &TestApp, path: &str, attempts: usize) -> Timestamp {
    let scheduled = |page: &Value| {
        page["data"].as_array()?.iter().find_map(|d| {
            (d["state"] == "pending" && d["attempts"] == attempts)
                .then(|| d["next_attempt_at"].as_str().and_then(Timestamp::parse_rfc3339))
                .flatten()
        })
    };
    let page = app.eventually(path, &app.admin_key, |p| scheduled(p).is_some()).await;
    scheduled(&page).unwrap()
}

#[tokio::test]
async fn an_integration_talks_to_an_agent_and_gets_every_reply_in_order_after_an_outage() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let receiver = Receiver::start().await;
    let channel = messaging_channel(&app, Some(&receiver.base), "contoso-bot").await;
    let (integration, _) = app.key(Role::Integration).await;
    let (agent, agent_id) = app.key(Role::Agent).await;

    // The integration starts a conversation, writes, and updates a context variable.
    let (status, created) = consumer(
        &app,
        Method::POST,
        "/conversation/create",
        &integration,
        &channel,
        Some(json!({
            "customercontext": { "customerid": "jdoe123", "firstname": "John", "email": "john@example.com" },
            "conversationcontext": { "product": { "isDisplayable": true, "value": "XBox" } },
            "conversationrequestid": "req-1",
            "startmessage": { "message": "My console will not start", "displayname": "John" }
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["isNew"], true);
    let id = created["conversationId"].as_str().unwrap().to_string();
    let (status, sent) = consumer(
        &app,
        Method::POST,
        &format!("/conversation/{id}"),
        &integration,
        &channel,
        Some(json!({ "type": "message", "channelId": channel, "from": { "name": "John" }, "text": "Hello?" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert!(
        sent["messageId"].as_str().unwrap().parse::<i64>().unwrap()
            > created["messageId"].as_str().unwrap().parse().unwrap()
    );
    let value = json!({ "orderNumber": "A-17", "amount": 250 }).to_string();
    let (status, _) = consumer(
        &app,
        Method::POST,
        &format!("/conversation/{id}"),
        &integration,
        &channel,
        Some(json!({ "type": "event", "name": "orderInfo",
            "channelData": { "customEvent": true, "customEventName": "orderInfo", "customEventValue": value } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, context) =
        consumer(&app, Method::GET, &format!("/conversation/{id}/context"), &integration, &channel, None).await;
    let names: Vec<&str> = context.as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["amount", "orderNumber", "product"]);

    // An agent accepts and replies through the native API; the customer's side gets both, signed for its app.
    app.post_ok(&format!("/v1/conversations/{id}/accept"), &agent, json!({}), StatusCode::OK).await;
    app.post_ok(
        &format!("/v1/conversations/{id}/messages"),
        &agent,
        json!({ "text": "Hi John, I am here." }),
        StatusCode::CREATED,
    )
    .await;
    let got = receiver.until("the agent joining and replying", |r| r.len() >= 2).await;
    let path = format!("/v3/conversations/{id}/activities");
    assert!(got.iter().all(|r| r.path == path), "{got:#?}");
    assert_eq!((got[0].body["type"].as_str(), got[0].body["name"].as_str()), (Some("event"), Some("agentAccepted")));
    assert_eq!(got[1].body["type"], "message");
    assert_eq!(got[1].body["text"], "Hi John, I am here.");
    assert_eq!(got[1].body["from"]["id"].as_str(), agent_id.as_deref());
    assert_eq!(got[1].body["conversation"]["id"], id.as_str());
    let keys = jwks(&app).await;
    let claims = verify_token(&keys, &app.base, "contoso-bot", &got[1].headers["authorization"]);
    assert_eq!(claims["channel_id"], channel.as_str());

    // The receiver is down for 30 minutes while the agent keeps writing and then ends the conversation.
    receiver.fail_with(Some((503, None)));
    for text in ["One", "Two", "Three"] {
        app.post_ok(&format!("/v1/conversations/{id}/messages"), &agent, json!({ "text": text }), StatusCode::CREATED)
            .await;
    }
    app.post_ok(&format!("/v1/conversations/{id}/end"), &agent, json!({}), StatusCode::OK).await;
    app.post_ok(&format!("/v1/conversations/{id}/close"), &agent, json!({}), StatusCode::OK).await;
    receiver.until("a failed attempt", |r| r.iter().any(|x| x.status == 503)).await;
    // The engine retries on its schedule (5 s, 5 min, 30 min, ..., each ±20%) through a 30-minute outage: each
    // failure is recorded with when the next attempt is due, and the clock moves straight there.
    let pending = format!("/v1/webhook-deliveries?channel_id={channel}&state=pending&limit=50");
    let outage_ends = clock.now().plus_millis(30 * 60_000);
    let mut failed = 1;
    loop {
        let due = next_retry(&app, &pending, failed).await;
        if due > outage_ends {
            break;
        }
        clock.advance_to(due);
        failed += 1;
        receiver.until("the retry", |r| r.iter().filter(|x| x.status == 503).count() == failed).await;
    }
    assert!(failed >= 3, "retried during the outage (now, +5 s, +5 min): {failed}");
    assert_eq!(receiver.accepted().len(), 2, "nothing is accepted while the receiver is down");
    receiver.fail_with(None);
    clock.advance_to(next_retry(&app, &pending, failed).await);
    receiver.until("every event after the outage", |r| r.iter().filter(|x| x.status == 200).count() == 7).await;

    // Every event exactly once per webhook-id, in the conversation's order.
    let accepted = receiver.accepted();
    let ids: Vec<&str> = accepted.iter().map(|r| r.headers["webhook-id"].as_str()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "each webhook-id is accepted once");
    let kinds: Vec<String> = accepted
        .iter()
        .map(|r| {
            r.body["text"].as_str().filter(|_| r.body["type"] == "message").map_or_else(
                || format!("{}:{}", r.body["type"].as_str().unwrap(), r.body["name"].as_str().unwrap_or_default()),
                str::to_string,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        ["event:agentAccepted", "Hi John, I am here.", "One", "Two", "Three", "event:agentEnded", "endOfConversation:"]
    );
    let sequences: Vec<i64> = accepted.iter().map(|r| r.body["channelData"]["sequence"].as_i64().unwrap()).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    // The failed attempts are in the delivery log, where each success is recorded just after the receiver answers.
    let deliveries = app
        .eventually(&format!("/v1/webhook-deliveries?channel_id={channel}&limit=50"), &app.admin_key, |d| {
            d["data"].as_array().is_some_and(|d| d.len() >= 7 && d.iter().all(|d| d["state"] == "delivered"))
        })
        .await;
    let first_retried =
        deliveries["data"].as_array().unwrap().iter().find(|d| d["attempts"].as_i64().unwrap() > 1).unwrap();
    assert_eq!(first_retried["state"], "delivered");
    let (_, attempts) = app
        .get(&format!("/v1/webhook-deliveries/{}/attempts", first_retried["id"].as_str().unwrap()), &app.admin_key)
        .await;
    let attempts = attempts.as_array().unwrap();
    assert!(attempts.iter().rev().skip(1).all(|a| a["status"] == 503), "{attempts:?}");
    assert_eq!(attempts.last().unwrap()["status"], 200);
}

/// Where the reference `standardwebhooks` Python package is installed for the verifier test (from PyPI).
fn python_verifier_path() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pydeps");
    let importable = |dir: &std::path::Path| {
        std::process::Command::new("python3")
            .env("PYTHONPATH", dir)
            .args(["-c", "import standardwebhooks"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !importable(&dir) {
        let status = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(&dir)
            .arg("standardwebhooks")
            .status()
            .expect("python3 runs");
        assert!(status.success() && importable(&dir), "installing the standardwebhooks package from PyPI failed");
    }
    dir
}

/// Asks the reference implementation whether each delivery verifies with `secret`.
fn reference_verifies(secret: &str, deliveries: &[crate::receiver::Received]) -> Vec<bool> {
    let input: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            json!({ "body": d.raw, "headers": {
                "webhook-id": d.headers["webhook-id"],
                "webhook-timestamp": d.headers["webhook-timestamp"],
                "webhook-signature": d.headers["webhook-signature"],
            }})
        })
        .collect();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, items = json.load(sys.stdin)
wh = Webhook(secret)
out = []
for item in items:
    try:
        wh.verify(item["body"], item["headers"])
        out.append(True)
    except Exception:
        out.append(False)
print(json.dumps(out))
"#;
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .env("PYTHONPATH", python_verifier_path())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(json!([secret, input]).to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn subscriptions_are_signed_per_standard_webhooks_and_verify_with_the_reference_library() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let sub = app
        .post_ok(
            "/v1/webhook-subscriptions",
            &app.admin_key,
            json!({ "url": format!("{}/hooks", receiver.base), "event_types": ["message.created", "conversation.*"] }),
            StatusCode::CREATED,
        )
        .await;
    let secret = sub["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let (_, listed) =
        app.get(&format!("/v1/webhook-subscriptions/{}", sub["id"].as_str().unwrap()), &app.admin_key).await;
    assert!(listed.get("secret").is_none(), "the secret is shown once: {listed}");

    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let id = app.conversation(&integration, &channel, "c-1").await;
    app.post_ok(
        &format!("/v1/conversations/{id}/messages"),
        &integration,
        json!({ "text": "hi" }),
        StatusCode::CREATED,
    )
    .await;
    let got = receiver.until("the creation and the message", |r| r.len() >= 2).await;
    let types: Vec<&str> = got.iter().map(|r| r.body["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["conversation.created", "message.created"], "contacts and other types are filtered out");
    assert_eq!(got[1].body["data"]["text"], "hi");
    assert_eq!(reference_verifies(&secret, &got), [true, true]);
    assert_eq!(reference_verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &got), [false, false]);

    // After a rotation both secrets verify while the old one lives: each delivery carries two signatures.
    let (status, rotated) = app
        .post(
            &format!("/v1/webhook-subscriptions/{}/rotate-secret", sub["id"].as_str().unwrap()),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    app.post_ok(
        &format!("/v1/conversations/{id}/messages"),
        &integration,
        json!({ "text": "again" }),
        StatusCode::CREATED,
    )
    .await;
    let got = receiver.until("the message after the rotation", |r| r.len() >= 3).await;
    let last = &got[2..];
    assert_eq!(last[0].headers["webhook-signature"].split(' ').count(), 2);
    assert_eq!(reference_verifies(&new_secret, last), [true]);
    assert_eq!(reference_verifies(&secret, last), [true]);
}

/// Subscribes `url` to conversation creations and starts one conversation; returns the subscription.
async fn subscribe_and_start(app: &TestApp, url: &str) -> Value {
    let sub = app
        .post_ok(
            "/v1/webhook-subscriptions",
            &app.admin_key,
            json!({ "url": url, "event_types": ["conversation.created"] }),
            StatusCode::CREATED,
        )
        .await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    app.conversation(&integration, &channel, "c-1").await;
    sub
}

#[tokio::test]
async fn a_receiver_that_answers_410_disables_its_subscription() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.fail_with(Some((410, None)));
    let sub = subscribe_and_start(&app, &receiver.base).await;
    receiver.until("one attempt", |r| !r.is_empty()).await;
    let id = sub["id"].as_str().unwrap();
    let path = format!("/v1/webhook-subscriptions/{id}");
    let disabled = app.eventually(&path, &app.admin_key, |s| !s["disabled_at"].is_null()).await;
    assert!(disabled["disabled_reason"].as_str().unwrap().contains("410"), "{disabled}");
    // The subscription's deliveries by id: the attempt's record may still be on its way to the delivery's row.
    let deliveries = format!("/v1/webhook-deliveries?subscription_id={id}");
    let ids = |page: &Value| page["data"].as_array().unwrap().iter().map(|d| d["id"].clone()).collect::<Vec<_>>();
    let (_, before) = app.get(&deliveries, &app.admin_key).await;
    assert_eq!(ids(&before).len(), 1, "{before}");
    assert_eq!(before["data"][0]["state"], "failed", "the delivery is a dead letter: {before}");

    // Nothing more is sent to it. A receiver subscribed to the same events shows when the engine has handled the
    // ones that come after: from then on, a delivery to the disabled subscription would be on record.
    let witness = Receiver::start().await;
    let body = json!({ "url": witness.base, "event_types": ["conversation.created"] });
    app.post_ok("/v1/webhook-subscriptions", &app.admin_key, body, StatusCode::CREATED).await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let later = app.conversation(&integration, &channel, "c-2").await;
    witness.until("the creation after the 410", |r| r.iter().any(|r| r.body["data"]["id"] == *later)).await;
    let (_, after) = app.get(&deliveries, &app.admin_key).await;
    assert_eq!(ids(&after), ids(&before), "no delivery for the disabled subscription: {after}");
    assert_eq!(receiver.received().len(), 1, "{:#?}", receiver.received());
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_dead_letter_can_be_replayed() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options {
        clock: Some(clock.clone()),
        configure: Some(|c| {
            c.webhooks.retry_schedule_seconds = vec![5, 5];
            c.webhooks.jitter_percent = 0;
        }),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.fail_with(Some((429, Some("3600"))));
    subscribe_and_start(&app, &receiver.base).await;
    receiver.until("the first attempt", |r| r.len() == 1).await;
    // The schedule says 5 s, but the receiver asked for an hour: each retry is due an hour after the attempt
    // before it, and the clock moves to when the engine says it is due.
    for attempts in 1..3 {
        clock.advance_to(next_retry(&app, "/v1/webhook-deliveries?state=pending", attempts).await);
        receiver.until("the retry", |r| r.len() == attempts + 1).await;
    }
    let gaps: Vec<i64> = receiver
        .received()
        .windows(2)
        .map(|w| {
            w[1].headers["webhook-timestamp"].parse::<i64>().unwrap()
                - w[0].headers["webhook-timestamp"].parse::<i64>().unwrap()
        })
        .collect();
    assert!(gaps.iter().all(|g| *g >= 3600), "every retry waited for Retry-After: {gaps:?}");
    // Three attempts (the first and two retries) exhaust the schedule: a dead letter.
    let page = app
        .eventually("/v1/webhook-deliveries?state=failed", &app.admin_key, |p| {
            !p["data"].as_array().unwrap().is_empty()
        })
        .await;
    let dead = page["data"][0].clone();
    assert_eq!(dead["attempts"], 3, "{dead}");
    receiver.fail_with(None);
    let replay = format!("/v1/webhook-deliveries/{}/replay", dead["id"].as_str().unwrap());
    let replayed = app.post_ok(&replay, &app.admin_key, json!({}), StatusCode::ACCEPTED).await;
    assert_eq!(replayed["state"], "pending");
    let got = receiver.until("the replay", |r| r.len() == 4).await;
    assert_eq!(got[3].status, 200);
    assert_eq!(got[3].headers["webhook-id"], got[0].headers["webhook-id"], "a replay keeps its webhook-id");
}

#[tokio::test]
async fn webhooks_never_reach_internal_addresses_unless_allowed() {
    let app =
        TestApp::spawn_with(Options { configure: Some(|c| c.webhooks.allow_loopback = false), ..Options::default() })
            .await;
    let receiver = Receiver::start().await;
    subscribe_by_ip_and_by_name_then_start_a_conversation(&app, &receiver).await;
    let page = app
        .eventually("/v1/webhook-deliveries", &app.admin_key, |p| {
            p["data"].as_array().unwrap().iter().filter(|d| !d["last_error"].is_null()).count() == 2
        })
        .await;
    let errors: Vec<&str> = page["data"].as_array().unwrap().iter().filter_map(|d| d["last_error"].as_str()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e.contains("may not reach")), "{errors:?}");
    assert!(receiver.received().is_empty(), "the guard refused before connecting");
}

#[tokio::test]
async fn a_replay_of_a_delivery_waiting_for_its_retry_is_attempted_at_once_and_its_lane_follows() {
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options {
        clock: Some(clock.clone()),
        configure: Some(|c| {
            c.webhooks.retry_schedule_seconds = vec![86_400, 86_400];
            c.webhooks.jitter_percent = 0;
        }),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.fail_with(Some((500, None)));
    let body = json!({ "url": receiver.base, "event_types": ["conversation.created", "message.created"] });
    app.post_ok("/v1/webhook-subscriptions", &app.admin_key, body, StatusCode::CREATED).await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let conversation = app.conversation(&integration, &channel, "c-1").await;
    receiver.until("the first attempt", |r| r.len() == 1).await;
    let pending = format!("/v1/webhook-deliveries?state=pending&conversation_id={conversation}");
    let backoff = next_retry(&app, &pending, 1).await;
    assert!(backoff.millis() - clock.now().millis() >= 86_400_000, "the retry waits a day");
    // Later events of the conversation wait behind the failed one, in its lane.
    for text in ["one", "two"] {
        let path = format!("/v1/conversations/{conversation}/messages");
        app.post_ok(&path, &integration, json!({ "text": text }), StatusCode::CREATED).await;
    }
    let waiting =
        app.eventually(&pending, &app.admin_key, |p| p["data"].as_array().is_some_and(|d| d.len() == 3)).await;
    let head = waiting["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["attempts"] == 1)
        .unwrap_or_else(|| panic!("the failed delivery is pending: {waiting}"))
        .clone();
    assert_eq!(receiver.received().len(), 1, "nothing passes the waiting head");

    receiver.fail_with(None);
    let replay = format!("/v1/webhook-deliveries/{}/replay", head["id"].as_str().unwrap());
    let started = clock.now();
    let replayed = app.post_ok(&replay, &app.admin_key, json!({}), StatusCode::ACCEPTED).await;
    assert_eq!(replayed["state"], "pending");
    let next = Timestamp::parse_rfc3339(replayed["next_attempt_at"].as_str().unwrap()).unwrap();
    assert!(next < backoff, "the answer says it is due now, not at the backoff: {replayed}");
    // The clock does not move: the replayed delivery goes at once, and the lane's later events right after it.
    let got = receiver.until("the replay and the events behind it", |r| r.len() == 4).await;
    assert_eq!(clock.now(), started);
    let kinds: Vec<(u16, &str, &str)> = got
        .iter()
        .map(|r| (r.status, r.body["type"].as_str().unwrap(), r.body["data"]["text"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        kinds,
        [
            (500, "conversation.created", ""),
            (200, "conversation.created", ""),
            (200, "message.created", "one"),
            (200, "message.created", "two")
        ]
    );
    assert_eq!(got[1].headers["webhook-id"], got[0].headers["webhook-id"], "a replay keeps its webhook-id");
    let sequences: Vec<i64> = got[1..].iter().map(|r| r.body["sequence"].as_i64().unwrap()).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "in the conversation's order: {sequences:?}");
    app.eventually("/v1/webhook-deliveries?state=delivered", &app.admin_key, |p| {
        p["data"].as_array().is_some_and(|d| d.len() == 3)
    })
    .await;
}

#[tokio::test]
async fn webhooks_go_only_to_allowed_hosts_when_they_are_listed() {
    // The schemathesis run lists 127.0.0.1 alone, so that the URLs it makes up never leave the machine.
    let app = TestApp::spawn_with(Options {
        configure: Some(|c| c.webhooks.allowed_hosts = vec!["localhost".into()]),
        ..Options::default()
    })
    .await;
    let receiver = Receiver::start().await;
    subscribe_by_ip_and_by_name_then_start_a_conversation(&app, &receiver).await;
    let got = receiver.until("the listed host's delivery", |r| !r.is_empty()).await;
    assert_eq!(got.len(), 1, "only the listed host is reached");
    let page = app
        .eventually("/v1/webhook-deliveries", &app.admin_key, |p| {
            p["data"].as_array().unwrap().iter().any(|d| !d["last_error"].is_null())
        })
        .await;
    let errors: Vec<&str> = page["data"].as_array().unwrap().iter().filter_map(|d| d["last_error"].as_str()).collect();
    assert_eq!(errors, ["127.0.0.1 is not in webhooks.allowed_hosts"], "{page}");
}

/// Subscribes the receiver twice to `conversation.created`, once by its IP address and once as `localhost`, then
/// starts a conversation: two deliveries whose destinations differ only in how the host is named.
async fn subscribe_by_ip_and_by_name_then_start_a_conversation(app: &TestApp, receiver: &Receiver) {
    let localhost = receiver.base.replace("127.0.0.1", "localhost");
    for url in [receiver.base.clone(), localhost] {
        app.post_ok(
            "/v1/webhook-subscriptions",
            &app.admin_key,
            json!({ "url": url, "event_types": ["conversation.created"] }),
            StatusCode::CREATED,
        )
        .await;
    }
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    app.conversation(&integration, &channel, "c-1").await;
}

/// Issue 18, finding 8: a node that stops leading (here, stops) lets webhook delivery finish the send it has in
/// flight and record it, instead of aborting it, so the next leader does not send it again.
#[tokio::test]
async fn a_stopping_node_finishes_the_webhook_in_flight_and_the_next_one_does_not_send_it_again() {
    let mut app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let body = json!({ "url": format!("{}/hooks", receiver.base), "event_types": ["conversation.created"] });
    app.post_ok("/v1/webhook-subscriptions", &app.admin_key, body, StatusCode::CREATED).await;
    let channel = app.channel().await;
    receiver.hold();
    app.conversation(&app.admin_key, &channel, "c1").await;
    crate::until("the webhook in flight", || (receiver.held() == 1).then_some(())).await;

    // The server stops listening first and then asks its workers to stop; the receiver answers only after that,
    // while the send is still in flight.
    let address = app.base.trim_start_matches("http://").to_string();
    let answer_once_stopping = async {
        crate::until("the server stopped listening", || std::net::TcpStream::connect(&address).is_err().then_some(()))
            .await;
        receiver.open();
    };
    tokio::join!(app.restart(), answer_once_stopping);

    // The restarted node delivers what was pending first; a new event after it shows it has run.
    app.conversation(&app.admin_key, &channel, "c2").await;
    let received = receiver.until("both conversations", |r| r.len() >= 2).await;
    let ids: Vec<&str> = received.iter().map(|r| r.headers["webhook-id"].as_str()).collect();
    let distinct: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len(), "a webhook was sent twice: {ids:?}");
}
