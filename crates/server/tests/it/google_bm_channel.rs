//! A Google's Business Messages channel end to end, against a fake Google speaking the documented wire format: the
//! console verifies the webhook; Google posts a user's signed events; they become a conversation routed to an
//! agent; the agent's joining, typing, messages and leaving go back through the Business Messages API with the
//! service account's token, obtained by the JWT bearer grant.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::Timestamp;
use switchboard_server::clock::ManualClock;

use crate::{
    Options, TestApp, assert_problem,
    routing::{agent, pending_offers},
    support::fake_google_bm::{AGENT, BRAND, FakeGoogle},
    until,
};

const CLIENT_TOKEN: &str = "ct-5b7e0c1d2f3a4b5c";
const SERVICE_ACCOUNT: &str = "switchboard@switchboard-test.iam.gserviceaccount.com";

struct Channel {
    app: TestApp,
    fake: FakeGoogle,
    clock: ManualClock,
    queue: String,
    account: String,
    channel: String,
    /// The webhook URL, as the channel shows it, on the test server's address.
    endpoint: String,
}

async fn google_channel(configure: Option<fn(&mut switchboard_server::config::Config)>) -> Channel {
    let fake = FakeGoogle::start().await;
    let clock = ManualClock::new(Timestamp::now());
    let app = TestApp::spawn_with(Options {
        clock: Some(clock.clone()),
        google_business_messages: Some(fake.config()),
        configure,
        ..Options::default()
    })
    .await;
    let key = app.admin_key.clone();
    let queue = app.post_ok("/v1/queues", &key, json!({ "name": "Google" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            &key,
            json!({ "name": "Business Messages", "fallback_queue_id": queue["id"],
                    "settings": { "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let account = app
        .post_ok(
            "/v1/messaging-accounts",
            &key,
            json!({ "name": "Contoso on Google", "kind": "google_business_messages", "method": "google",
                "settings": { "partner_id": "contoso-partner", "brand_id": BRAND, "agent_id": AGENT },
                "credentials": { "client_token": CLIENT_TOKEN, "service_account": fake.service_account(SERVICE_ACCOUNT) } }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(account["credentials_set"], true);
    assert!(account.get("credentials").is_none() && !account.to_string().contains(CLIENT_TOKEN), "{account}");
    let account_id = account["id"].as_str().unwrap().to_string();
    let channel = app
        .post_ok(
            &format!("/v1/messaging-accounts/{account_id}/channels"),
            &key,
            json!({ "name": "Maps and Search", "workstream_id": ws["id"] }),
            StatusCode::CREATED,
        )
        .await;
    let endpoint = channel["messaging_endpoint_url"].as_str().unwrap().to_string();
    let id = channel["id"].as_str().unwrap().to_string();
    assert!(endpoint.ends_with(&format!("/channels/google-business-messages/{id}/webhook")), "{endpoint}");
    Channel {
        queue: queue["id"].as_str().unwrap().to_string(),
        account: account_id,
        endpoint: endpoint.replacen(&endpoint[..endpoint.find("/channels/").unwrap()], &app.base, 1),
        channel: id,
        app,
        fake,
        clock,
    }
}

impl Channel {
    async fn post(&self, signature: Option<&str>, body: Vec<u8>) -> (StatusCode, String) {
        let mut request = self.app.http.post(&self.endpoint).header("content-type", "application/json").body(body);
        if let Some(s) = signature {
            request = request.header("x-goog-signature", s);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn send(&self, (signature, body): (String, Vec<u8>)) -> StatusCode {
        self.post(Some(&signature), body).await.0
    }

    async fn conversations(&self) -> Vec<Value> {
        let (status, page) = self
            .app
            .get(&format!("/v1/conversations?channel_id={}&limit=100", self.channel), &self.app.admin_key)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["data"].as_array().unwrap().clone()
    }

    async fn messages(&self, conversation: &str) -> Vec<Value> {
        let (_, page) = self.app.get(&format!("/v1/conversations/{conversation}/messages"), &self.app.admin_key).await;
        page["data"].as_array().unwrap().clone()
    }

    /// A user's first message, routed and accepted by an available agent: the agent's key and the conversation.
    async fn accepted(&self, conversation: &str) -> (String, String) {
        let (key, agent_id) = agent(&self.app, &[&self.queue], "available").await;
        assert_eq!(self.send(self.fake.message(CLIENT_TOKEN, conversation, "m-1", "Hello")).await, StatusCode::OK);
        let offers = pending_offers(&self.app, &agent_id, &key, 1).await;
        let id = offers[0]["conversation_id"].as_str().unwrap().to_string();
        let offer = offers[0]["id"].as_str().unwrap();
        self.app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
        (key, id)
    }

    async fn reply(&self, key: &str, conversation: &str, text: &str) {
        self.app
            .post_ok(
                &format!("/v1/conversations/{conversation}/messages"),
                key,
                json!({ "text": text }),
                StatusCode::CREATED,
            )
            .await;
    }
}

fn event_types(calls: &[crate::support::fake_google_bm::Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| match c.kind {
            "events" => c.body["eventType"].as_str().unwrap().to_string(),
            _ => format!("message:{}", c.body["text"].as_str().unwrap_or("<image>")),
        })
        .collect()
}

#[tokio::test]
async fn the_console_verifies_the_webhook_with_the_client_token() {
    let c = google_channel(None).await;
    let (status, body) = c.post(None, FakeGoogle::verification(CLIENT_TOKEN, "s3cr3t-9f8e")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "s3cr3t-9f8e"), "the secret, as plain text");
    let (status, body) = c.post(None, FakeGoogle::verification("someone-elses-token", "s3cr3t")).await;
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(c.conversations().await.is_empty());
    // Validating the account asks Google's token endpoint for a token with the service account: it is good.
    let account = c
        .app
        .post_ok(&format!("/v1/messaging-accounts/{}/validate", c.account), &c.app.admin_key, json!({}), StatusCode::OK)
        .await;
    assert_eq!(account["validation"]["state"], "valid", "{account}");
    assert_eq!(c.fake.token_calls(), 1);
}

#[tokio::test]
async fn a_google_user_reaches_an_agent_who_joins_types_answers_and_leaves() {
    let c = google_channel(None).await;
    let (key, agent_id) = agent(&c.app, &[&c.queue], "available").await;

    assert_eq!(
        c.send(c.fake.message(CLIENT_TOKEN, "conv-ada", "m-1", "My order has not arrived")).await,
        StatusCode::OK
    );
    // Google retries a message it did not hear back about: stored once.
    assert_eq!(
        c.send(c.fake.message(CLIENT_TOKEN, "conv-ada", "m-1", "My order has not arrived")).await,
        StatusCode::OK
    );
    let tapped = json!({ "suggestionResponse": { "message": "conversations/conv-ada/messages/m-2",
        "postbackData": "order-status", "text": "Where is my order?", "suggestionType": "REPLY",
        "createTime": "2026-12-07T10:00:05Z" } });
    assert_eq!(c.send(c.fake.signed(CLIENT_TOKEN, "conv-ada", "req-2", tapped)).await, StatusCode::OK);
    let typing = json!({ "userStatus": { "isTyping": true, "createTime": "2026-12-07T10:00:06Z" } });
    assert_eq!(c.send(c.fake.signed(CLIENT_TOKEN, "conv-ada", "req-3", typing)).await, StatusCode::OK);
    let read = json!({ "receipts": { "receipts": [{ "message": "conversations/conv-ada/messages/x", "receiptType": "READ" }],
        "createTime": "2026-12-07T10:00:07Z" } });
    assert_eq!(c.send(c.fake.signed(CLIENT_TOKEN, "conv-ada", "req-4", read)).await, StatusCode::OK);

    let conversations = c.conversations().await;
    assert_eq!(conversations.len(), 1, "one conversation per Business Messages conversation");
    let id = conversations[0]["id"].as_str().unwrap().to_string();
    let messages = c.messages(&id).await;
    let texts: Vec<&Value> = messages.iter().map(|m| &m["text"]).collect();
    assert_eq!(texts, [&json!("My order has not arrived"), &json!("Where is my order?")]);
    assert_eq!(messages[0]["sender"]["name"], "Ada Lovelace", "the user's display name from the context");

    let offers = pending_offers(&c.app, &agent_id, &key, 1).await;
    assert_eq!(offers[0]["conversation_id"], id.as_str());
    let offer = offers[0]["id"].as_str().unwrap();
    c.app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    until("the agent's joining reaches Google", || (c.fake.calls().len() == 1).then_some(())).await;

    let response =
        c.app.http.post(format!("{}/v1/conversations/{id}/typing", c.app.base)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    until("the agent's typing reaches Google", || (c.fake.calls().len() == 2).then_some(())).await;
    c.reply(&key, &id, "I am looking into it").await;
    let calls = until("the reply reaches Google", || {
        let calls = c.fake.calls();
        (calls.len() == 3).then_some(calls)
    })
    .await;
    assert_eq!(
        event_types(&calls),
        ["REPRESENTATIVE_JOINED", "TYPING_STARTED", "message:I am looking into it"],
        "{:?}",
        c.fake.refusals()
    );
    assert!(calls.iter().all(|call| call.conversation_id == "conv-ada" && call.client_email == SERVICE_ACCOUNT));
    let sent = &calls[2].body;
    let agent_message = c.messages(&id).await.into_iter().find(|m| m["text"] == "I am looking into it").unwrap();
    assert_eq!(sent["messageId"], agent_message["id"], "the message's own id: a retry is never shown twice");
    assert_eq!(sent["representative"]["representativeType"], "HUMAN");
    assert_eq!(sent["representative"]["displayName"], agent_message["sender"]["name"]);
    assert_eq!(calls[0].body["representative"]["representativeType"], "HUMAN");
    assert!(calls[0].event_id.as_deref().is_some_and(|id| !id.is_empty()), "every event names itself");
    // The conversation hears that Google took the message, under Google's id for it.
    let timeline = c
        .app
        .eventually(&format!("/v1/conversations/{id}/timeline?limit=200"), &c.app.admin_key, |t| {
            t["data"].as_array().unwrap().iter().any(|e| e["type"] == "message.delivered")
        })
        .await;
    let receipt = timeline["data"].as_array().unwrap().iter().find(|e| e["type"] == "message.delivered").unwrap();
    assert_eq!(receipt["data"]["provider_message_id"], agent_message["id"]);

    c.app.post_ok(&format!("/v1/conversations/{id}/end"), &key, json!({}), StatusCode::OK).await;
    let calls = until("the agent's leaving reaches Google", || {
        let calls = c.fake.calls();
        (calls.len() == 4).then_some(calls)
    })
    .await;
    assert_eq!(calls[3].body["eventType"], "REPRESENTATIVE_LEFT");
    assert_eq!(c.fake.token_calls(), 1, "one token, cached, for every call");
    assert!(c.fake.refusals().is_empty(), "{:?}", c.fake.refusals());
}

#[tokio::test]
async fn unsigned_forged_and_malformed_webhooks_store_nothing() {
    let c = google_channel(None).await;
    let (signature, body) = c.fake.message(CLIENT_TOKEN, "conv-x", "m-1", "hi");
    let refused = |(status, body): (StatusCode, String), expect: StatusCode, code: &str| {
        let problem: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_problem(status, &problem, expect, code);
    };
    refused(c.post(None, body.clone()).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (forged, _) = c.fake.message("not-the-client-token", "conv-x", "m-1", "hi");
    refused(c.post(Some(&forged), body.clone()).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    let mut altered = body.clone();
    let at = altered.len() - 3;
    altered[at] = b'X';
    refused(c.post(Some(&signature), altered).await, StatusCode::UNAUTHORIZED, "unauthenticated");
    refused(c.post(Some("not base64 at all!"), body.clone()).await, StatusCode::UNAUTHORIZED, "unauthenticated");

    // Signed, but not an event: refused with the field, stored nothing.
    let not_json = b"{\"message\":".to_vec();
    let signature = switchboard_channels::google_bm::sign(CLIENT_TOKEN, &not_json);
    refused(c.post(Some(&signature), not_json).await, StatusCode::BAD_REQUEST, "invalid_json");
    let no_conversation =
        serde_json::to_vec(&json!({ "requestId": "r-9", "message": { "messageId": "m", "text": "x" } })).unwrap();
    let signature = switchboard_channels::google_bm::sign(CLIENT_TOKEN, &no_conversation);
    let (status, body_text) = c.post(Some(&signature), no_conversation).await;
    refused((status, body_text.clone()), StatusCode::BAD_REQUEST, "missing_field");
    assert!(body_text.contains("conversationId"), "{body_text}");
    let long = json!({ "message": { "messageId": "m-2", "text": "x".repeat(6_001) } });
    let (signature, body) = c.fake.signed(CLIENT_TOKEN, "conv-x", "r-10", long);
    refused(c.post(Some(&signature), body).await, StatusCode::BAD_REQUEST, "message_too_long");

    // Another channel id, or not a Business Messages channel: not found.
    let (signature, body) = c.fake.message(CLIENT_TOKEN, "conv-x", "m-1", "hi");
    let elsewhere = c.endpoint.replace(&c.channel, "01900000-0000-7000-8000-0000000000ff");
    let response =
        c.app.http.post(elsewhere).header("x-goog-signature", &signature).body(body.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (_, channels) = c.app.get("/v1/channels?limit=100", &c.app.admin_key).await;
    let other = channels["data"].as_array().unwrap().iter().find(|ch| ch["id"] != c.channel.as_str());
    if let Some(other) = other {
        let url = c.endpoint.replace(&c.channel, other["id"].as_str().unwrap());
        let response = c.app.http.post(url).header("x-goog-signature", &signature).body(body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert!(c.conversations().await.is_empty(), "nothing stored");
}

fn one_quick_retry(config: &mut switchboard_server::config::Config) {
    config.webhooks.retry_schedule_seconds = vec![5, 5];
    config.webhooks.jitter_percent = 0;
}

#[tokio::test]
async fn sends_google_refuses_are_retried_in_order_and_a_final_refusal_shows_googles_code() {
    let c = google_channel(Some(one_quick_retry)).await;
    let (key, id) = c.accepted("conv-bo").await;
    until("the joining", || (c.fake.calls().len() == 1).then_some(())).await;

    c.fake.fail_next(1, 429, "RESOURCE_EXHAUSTED", Some(3));
    c.fake.fail_next(1, 503, "UNAVAILABLE", None);
    for text in ["first", "second"] {
        c.reply(&key, &id, text).await;
    }
    let calls = until("both messages reach Google", || {
        c.clock.advance(std::time::Duration::from_secs(5));
        let calls = c.fake.calls();
        (calls.len() == 3).then_some(calls)
    })
    .await;
    assert_eq!(event_types(&calls)[1..], ["message:first", "message:second"], "in order, none lost");

    // Refused every time: after the last attempt the message says why, in Google's words.
    c.fake.fail_next(3, 400, "INVALID_ARGUMENT", None);
    c.reply(&key, &id, "never shown").await;
    let timeline = c
        .app
        .eventually(&format!("/v1/conversations/{id}/timeline?limit=200"), &c.app.admin_key, |t| {
            c.clock.advance(std::time::Duration::from_secs(5));
            t["data"].as_array().unwrap().iter().any(|e| e["type"] == "message.delivery_failed")
        })
        .await;
    let failed = timeline["data"].as_array().unwrap().iter().find(|e| e["type"] == "message.delivery_failed").unwrap();
    assert_eq!(failed["data"]["status"], 400);
    let error = failed["data"]["error"].as_str().unwrap();
    assert!(error.contains("INVALID_ARGUMENT"), "{error}");
    assert_eq!(c.fake.calls().len(), 3, "the refused message was never accepted");
}

#[tokio::test]
async fn accounts_need_their_ids_token_and_a_service_account_google_accepts() {
    let c = google_channel(None).await;
    let key = c.app.admin_key.clone();
    let account = |settings: Value, credentials: Value| json!({ "name": "G", "kind": "google_business_messages", "settings": settings, "credentials": credentials });
    let ids = json!({ "partner_id": "p", "brand_id": BRAND, "agent_id": AGENT });
    let file = c.fake.service_account(SERVICE_ACCOUNT);
    for (body, code, field) in [
        (
            account(
                json!({ "partner_id": "p", "brand_id": BRAND }),
                json!({ "client_token": "t", "service_account": file }),
            ),
            "missing_field",
            "settings.agent_id",
        ),
        (account(ids.clone(), json!({ "service_account": file })), "missing_field", "credentials.client_token"),
        (account(ids.clone(), json!({ "client_token": "t" })), "missing_field", "credentials.service_account"),
        (
            account(ids.clone(), json!({ "client_token": "t", "service_account": { "type": "authorized_user" } })),
            "invalid_field",
            "credentials.service_account",
        ),
        (
            account(ids.clone(), json!({ "client_token": "t", "client_secret": "s", "service_account": file })),
            "invalid_field",
            "credentials.client_secret",
        ),
    ] {
        let response = c
            .app
            .http
            .post(format!("{}/v1/messaging-accounts", c.app.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let problem: Value = response.json().await.unwrap();
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, code);
        assert_eq!(problem["field"], field, "{problem}");
    }
    // A key file Google does not know: the account is invalid, and says why.
    let mut unknown = file.clone();
    unknown["client_email"] = json!("stranger@elsewhere.iam.gserviceaccount.com");
    let created = c
        .app
        .post_ok(
            "/v1/messaging-accounts",
            &key,
            account(ids, json!({ "client_token": "t", "service_account": unknown })),
            StatusCode::CREATED,
        )
        .await;
    let checked = c
        .app
        .post_ok(
            &format!("/v1/messaging-accounts/{}/validate", created["id"].as_str().unwrap()),
            &key,
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(checked["validation"]["state"], "invalid");
    assert!(checked["validation"]["reason"].as_str().unwrap().contains("Invalid JWT Signature"), "{checked}");
}
