//! An SMS channel through TeleSign end to end, against a fake TeleSign that checks every call: customers' messages
//! arrive as callbacks signed with the account's API key and become a conversation routed to an agent; the agent's
//! reply goes out through `POST /v1/messaging` with Basic auth; the delivery report TeleSign sends back goes on the
//! reply.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::Timestamp;
use switchboard_server::{Config, clock::ManualClock};

use crate::{
    Options, TestApp, assert_problem,
    routing::{agent, pending_offers},
    support::fake_telesign::FakeTelesign,
    until,
};

/// TeleSign's documented example customer id, and an API key in the Base64 form the portal shows.
const CUSTOMER_ID: &str = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890";
const API_KEY: &str = "ABC12345yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw==";
const FROM: &str = "15555551212";
const SHORT_CODE: &str = "12345";

struct Sms {
    app: TestApp,
    fake: FakeTelesign,
    clock: ManualClock,
    queue: String,
    channel: String,
    callbacks: String,
}

fn short_retries(config: &mut Config) {
    config.webhooks.retry_schedule_seconds = vec![1, 1];
}

async fn sms(configure: Option<fn(&mut Config)>) -> Sms {
    let fake = FakeTelesign::start().await;
    fake.register_customer(CUSTOMER_ID, API_KEY);
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options {
        clock: Some(clock.clone()),
        telesign: Some(fake.config()),
        configure,
        ..Options::default()
    })
    .await;
    let key = app.admin_key.clone();
    let queue = app.post_ok("/v1/queues", &key, json!({ "name": "SMS" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            &key,
            json!({ "name": "Texts", "fallback_queue_id": queue["id"], "settings": { "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let account = app
        .post_ok(
            "/v1/messaging-accounts",
            &key,
            json!({ "name": "Contoso SMS", "kind": "sms", "method": "telesign",
                "settings": { "customer_id": CUSTOMER_ID, "sender_id": SHORT_CODE },
                "credentials": { "api_key": API_KEY } }),
            StatusCode::CREATED,
        )
        .await;
    let account_id = account["id"].as_str().unwrap();
    let validated =
        app.post_ok(&format!("/v1/messaging-accounts/{account_id}/validate"), &key, json!({}), StatusCode::OK).await;
    assert_eq!(validated["validation"]["state"], "valid", "{validated}");
    let channel = app
        .post_ok(
            &format!("/v1/messaging-accounts/{account_id}/channels"),
            &key,
            json!({ "name": "Text us", "workstream_id": ws["id"] }),
            StatusCode::CREATED,
        )
        .await;
    // Where TeleSign posts inbound messages (set on the account at TeleSign), as the channel shows it.
    let callbacks = channel["messaging_endpoint_url"].as_str().expect("an SMS channel's endpoint").to_string();
    let channel = channel["id"].as_str().unwrap().to_string();
    assert_eq!(callbacks, format!("{}/channels/telesign/{channel}/callbacks", app.base));
    Sms { callbacks, queue: queue["id"].as_str().unwrap().to_string(), channel, app, fake, clock }
}

impl Sms {
    async fn post_to(&self, url: &str, authorization: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = self.app.http.post(url).header("content-type", "application/json").body(body);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A customer's text, posted as TeleSign posts it.
    async fn text(&self, reference_id: &str, text: &str) -> StatusCode {
        let body = FakeTelesign::mo_sms(reference_id, FROM, SHORT_CODE, text);
        let authorization = FakeTelesign::authorization(CUSTOMER_ID, API_KEY, &body);
        self.post_to(&self.callbacks, Some(&authorization), body).await.0
    }

    async fn conversations(&self) -> Vec<Value> {
        let path = format!("/v1/conversations?channel_id={}&limit=100", self.channel);
        let (status, page) = self.app.get(&path, &self.app.admin_key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["data"].as_array().unwrap().clone()
    }

    async fn taken(&self) -> (String, String) {
        let (key, agent_id) = agent(&self.app, &[&self.queue], "available").await;
        assert_eq!(self.text("A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6", "Where is my order?").await, StatusCode::OK);
        let offers = pending_offers(&self.app, &agent_id, &key, 1).await;
        let offer = offers[0]["id"].as_str().unwrap();
        self.app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
        (offers[0]["conversation_id"].as_str().unwrap().to_string(), key)
    }

    async fn reply(&self, conversation: &str, key: &str, text: &str) {
        let path = format!("/v1/conversations/{conversation}/messages");
        self.app.post_ok(&path, key, json!({ "text": text }), StatusCode::CREATED).await;
    }

    async fn events(&self, conversation: &str, kind: &str, n: usize) -> Vec<Value> {
        let path = format!("/v1/conversations/{conversation}/timeline?limit=200");
        let timeline = self
            .app
            .eventually(&path, &self.app.admin_key, |t| {
                t["data"].as_array().unwrap().iter().filter(|e| e["type"] == kind).count() >= n
            })
            .await;
        timeline["data"].as_array().unwrap().iter().filter(|e| e["type"] == kind).cloned().collect()
    }
}

#[tokio::test]
async fn a_texting_customer_reaches_an_agent_and_telesigns_delivery_report_goes_on_the_reply() {
    let s = sms(None).await;
    let (id, key) = s.taken().await;
    // TeleSign retries a callback it did not hear back about: stored once.
    assert_eq!(s.text("A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6", "Where is my order?").await, StatusCode::OK);
    assert_eq!(s.text("0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F", "Order 4411").await, StatusCode::OK);
    let conversations = s.conversations().await;
    assert_eq!(conversations.len(), 1, "one conversation per customer number");
    let contact = conversations[0]["contact_id"].as_str().unwrap_or_else(|| panic!("{}", conversations[0]));
    let (_, contact) = s.app.get(&format!("/v1/contacts/{contact}"), &s.app.admin_key).await;
    assert_eq!(contact["phone"], "+15555551212", "the customer's number, E.164: {contact}");
    let (_, page) = s.app.get(&format!("/v1/conversations/{id}/messages"), &s.app.admin_key).await;
    let texts: Vec<&Value> = page["data"].as_array().unwrap().iter().map(|m| &m["text"]).collect();
    assert_eq!(texts, [&json!("Where is my order?"), &json!("Order 4411")]);

    s.reply(&id, &key, "It ships today & arrives Friday").await;
    let sent = until("the reply reaches TeleSign", || s.fake.sent().into_iter().next()).await;
    assert_eq!(sent.customer_id, CUSTOMER_ID, "Basic auth with the account's customer id and key");
    assert_eq!(sent.form["phone_number"], FROM);
    assert_eq!(sent.form["message"], "It ships today & arrives Friday");
    assert_eq!(sent.form["message_type"], "ARN");
    assert_eq!(sent.form["sender_id"], SHORT_CODE);
    assert!(sent.form["callback_url"].ends_with(&format!("/channels/telesign/{}/callbacks", s.channel)));
    let accepted = s.events(&id, "message.delivered", 1).await;
    assert_eq!(accepted[0]["data"]["provider_message_id"], sent.reference_id.as_str());

    // Delivered to the gateway (intermediate), then to the handset (final), then the same report again, then the
    // intermediate one late: each status once, and none goes back.
    for (code, words) in [
        (203, "Delivered to gateway"),
        (200, "Delivered to handset"),
        (200, "Delivered to handset"),
        (203, "Delivered to gateway"),
    ] {
        assert_eq!(s.fake.report(&sent, code, words, &s.app.base).await, 200);
    }
    let statuses = s.events(&id, "message.status_changed", 2).await;
    let seen: Vec<&Value> = statuses.iter().map(|e| &e["data"]["status"]).collect();
    assert_eq!(seen, [&json!("sent"), &json!("delivered")]);
    assert!(statuses.iter().all(|e| e["data"]["provider_message_id"] == sent.reference_id.as_str()));
    assert_eq!(s.events(&id, "message.delivered", 1).await.len(), 1, "acceptance is the only receipt");

    s.reply(&id, &key, "Hello?").await;
    let second = until("the second reply", || s.fake.sent().get(1).cloned()).await;
    s.events(&id, "message.delivered", 2).await;
    assert_eq!(s.fake.report(&second, 238, "Destination blocked by end user", &s.app.base).await, 200);
    let failed = s.events(&id, "message.delivery_failed", 1).await;
    assert_eq!(failed[0]["data"]["error"], "TeleSign 238: Destination blocked by end user");
    let status = s.events(&id, "message.status_changed", 3).await.pop().unwrap();
    assert_eq!((&status["data"]["status"], &status["data"]["error_code"]), (&json!("failed"), &json!("238")));
}

#[tokio::test]
async fn callbacks_not_signed_with_the_accounts_key_and_bad_callbacks_change_nothing() {
    let s = sms(None).await;
    let before = s.app.event_count().await;
    let body = FakeTelesign::mo_sms("AAAA0000AAAA0000AAAA0000AAAA0000", FROM, SHORT_CODE, "hi");
    let (status, problem) = s.post_to(&s.callbacks, None, body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let other_key = FakeTelesign::authorization(CUSTOMER_ID, "b3RoZXIga2V5", &body);
    let (status, problem) = s.post_to(&s.callbacks, Some(&other_key), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let other_customer = FakeTelesign::authorization("00000000-1111-2222-3333-444444444444", API_KEY, &body);
    let (status, problem) = s.post_to(&s.callbacks, Some(&other_customer), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let tampered = FakeTelesign::mo_sms("AAAA0000AAAA0000AAAA0000AAAA0000", FROM, SHORT_CODE, "hi!");
    let signed_other = FakeTelesign::authorization(CUSTOMER_ID, API_KEY, &tampered);
    let (status, problem) = s.post_to(&s.callbacks, Some(&signed_other), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");

    let garbled = b"{\"reference_id\":".to_vec();
    let signed = FakeTelesign::authorization(CUSTOMER_ID, API_KEY, &garbled);
    let (status, problem) = s.post_to(&s.callbacks, Some(&signed), garbled).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_json");
    let no_number = br#"{"reference_id":"AB","sub_resource":"mo_sms","user_response":{"mo_message":"x"}}"#.to_vec();
    let signed = FakeTelesign::authorization(CUSTOMER_ID, API_KEY, &no_number);
    let (status, problem) = s.post_to(&s.callbacks, Some(&signed), no_number).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "missing_field");
    assert_eq!(problem["field"], "user_response.phone_number");

    let signed = FakeTelesign::authorization(CUSTOMER_ID, API_KEY, &body);
    let elsewhere = s.callbacks.replace(&s.channel, "01900000-0000-7000-8000-0000000000ff");
    let (status, problem) = s.post_to(&elsewhere, Some(&signed), body).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "channel_not_found");

    assert!(s.conversations().await.is_empty(), "nothing stored");
    assert_eq!(s.app.event_count().await, before);
}

#[tokio::test]
async fn a_send_telesign_refuses_is_retried_and_a_final_refusal_names_telesigns_code() {
    let s = sms(Some(short_retries)).await;
    let (id, key) = s.taken().await;
    s.fake.fail_next(1, 429, Some(2), -40_001);
    s.fake.fail_next(1, 500, None, -90_001);
    s.reply(&id, &key, "first").await;
    let sent = until("the reply is through after two refusals", || {
        s.clock.advance(std::time::Duration::from_secs(5));
        s.fake.sent().into_iter().next()
    })
    .await;
    assert_eq!(sent.form["message"], "first");

    s.fake.fail_next(3, 400, None, -10_001);
    s.reply(&id, &key, "second").await;
    until("every attempt at the second reply is refused", || {
        s.clock.advance(std::time::Duration::from_secs(5));
        (s.fake.failures_left() == 0).then_some(())
    })
    .await;
    let failed = s.events(&id, "message.delivery_failed", 1).await;
    let error = failed[0]["data"]["error"].as_str().unwrap();
    assert!(error.starts_with("TeleSign answered 400: -10001"), "{error}");
    assert_eq!(s.fake.sent().len(), 1);
}

#[tokio::test]
async fn an_api_key_telesign_does_not_know_makes_the_account_invalid() {
    let s = sms(None).await;
    let key = &s.app.admin_key;
    let account = s
        .app
        .post_ok(
            "/v1/messaging-accounts",
            key,
            json!({ "name": "Old key", "kind": "sms", "method": "telesign",
                "settings": { "customer_id": CUSTOMER_ID }, "credentials": { "api_key": "b2xkIGtleQ==" } }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/v1/messaging-accounts/{}/validate", account["id"].as_str().unwrap());
    let validated = s.app.post_ok(&path, key, json!({}), StatusCode::OK).await;
    assert_eq!(validated["validation"]["state"], "invalid", "{validated}");
    assert!(validated["validation"]["reason"].as_str().unwrap().contains("401"), "{validated}");
    let (status, problem) = s
        .app
        .post(
            "/v1/messaging-accounts",
            key,
            json!({ "name": "Not Base64", "kind": "sms", "method": "telesign",
                "settings": { "customer_id": CUSTOMER_ID }, "credentials": { "api_key": "not base64!" } }),
        )
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(problem["field"], "credentials.api_key");
}

#[tokio::test]
async fn stop_is_answered_through_telesign_and_suppresses_the_number() {
    let s = sms(None).await;
    let (id, key) = s.taken().await;

    assert_eq!(s.text("B1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6", "STOP").await, StatusCode::OK);
    let answer = until("the STOP is answered through TeleSign", || s.fake.sent().into_iter().next()).await;
    assert_eq!(answer.form["phone_number"], FROM);
    assert_eq!(answer.form["sender_id"], SHORT_CODE, "from the number the customer wrote to");
    assert!(answer.form["message"].starts_with("You have been unsubscribed"), "{:?}", answer.form);
    let (_, list) = s.app.get("/v1/suppressions", &s.app.admin_key).await;
    assert_eq!(list["data"][0]["phone"], format!("+{FROM}"));
    let path = format!("/v1/conversations/{id}/messages");
    let (status, problem) = s.app.post(&path, &key, json!({ "text": "Hello?" })).await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "recipient_opted_out");
    let texts: Vec<Value> = {
        let (_, page) = s.app.get(&path, &s.app.admin_key).await;
        page["data"].as_array().unwrap().iter().map(|m| m["text"].clone()).collect()
    };
    assert_eq!(texts, [json!("Where is my order?")], "the keyword is not a message for the agent");
}
