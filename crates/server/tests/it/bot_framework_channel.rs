//! A Bot Framework channel end to end, against a fake Bot Framework service speaking the real wire format: the
//! service posts a customer's activities to the channel's messaging endpoint with its signed token; they become a
//! conversation routed to an agent; the agent's reply goes back through the Connector API with the app's token.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::Timestamp;
use switchboard_server::clock::ManualClock;

use crate::{
    Options, TestApp, assert_problem,
    routing::{agent, pending_offers},
    support::fake_bot_framework::FakeBotFramework,
    until,
};

const APP: &str = "6fcd0c7e-0000-4000-8000-00000000b07a";
const SECRET: &str = "bot-secret~1";

struct Channel {
    app: TestApp,
    fake: FakeBotFramework,
    clock: ManualClock,
    queue: String,
    /// The messaging endpoint's URL, as the channel shows it.
    endpoint: String,
    channel: String,
}

async fn bot_channel() -> Channel {
    let fake = FakeBotFramework::start().await;
    fake.register_app(APP, SECRET);
    let config = fake.config();
    bot_channel_with(fake, ManualClock::new(Timestamp::now()), config).await
}

async fn bot_channel_with(
    fake: FakeBotFramework,
    clock: ManualClock,
    config: switchboard_server::config::BotFrameworkConfig,
) -> Channel {
    let app =
        TestApp::spawn_with(Options { clock: Some(clock.clone()), bot_framework: Some(config), ..Options::default() })
            .await;
    let key = app.admin_key.clone();
    let queue = app.post_ok("/v1/queues", &key, json!({ "name": "Bots" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            &key,
            json!({ "name": "Custom", "fallback_queue_id": queue["id"], "settings": { "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let account = app
        .post_ok(
            "/v1/messaging-accounts",
            &key,
            json!({ "name": "Contoso bot", "kind": "bot_framework", "method": "azure_bot_framework",
                "settings": { "app_id": APP }, "credentials": { "client_secret": SECRET } }),
            StatusCode::CREATED,
        )
        .await;
    let channel = app
        .post_ok(
            &format!("/v1/messaging-accounts/{}/channels", account["id"].as_str().unwrap()),
            &key,
            json!({ "name": "Teams", "workstream_id": ws["id"] }),
            StatusCode::CREATED,
        )
        .await;
    let endpoint = channel["messaging_endpoint_url"].as_str().unwrap().to_string();
    assert!(endpoint.ends_with("/messages"), "{endpoint}");
    Channel {
        queue: queue["id"].as_str().unwrap().to_string(),
        channel: channel["id"].as_str().unwrap().to_string(),
        endpoint: endpoint.replacen(&endpoint[..endpoint.find("/channels/").unwrap()], &app.base, 1),
        app,
        fake,
        clock,
    }
}

fn activity(id: &str, conversation: &str, text: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "timestamp": "2026-12-07T10:00:00.000Z",
        "from": { "id": "29:user-ada", "name": "Ada Lovelace" },
        "recipient": { "id": "28:contoso-bot", "name": "Contoso" },
        "conversation": { "id": conversation },
        "text": text,
    })
}

impl Channel {
    async fn post(&self, authorization: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = self.app.http.post(&self.endpoint).header("content-type", "application/json").body(body);
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn send(&self, activity: Value) -> StatusCode {
        let (header, body) = self.fake.signed_activity(APP, activity);
        self.post(Some(&header), body).await.0
    }

    /// The channel's conversations, newest first.
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
}

#[tokio::test]
async fn a_customer_on_a_bot_framework_channel_reaches_an_agent_and_hears_the_reply() {
    let c = bot_channel().await;
    let (key, agent_id) = agent(&c.app, &[&c.queue], "available").await;

    assert_eq!(c.send(activity("act-1", "conv-ada", "My order has not arrived")).await, StatusCode::OK);
    // The same activity again (the service retries when it does not hear back): stored once.
    assert_eq!(c.send(activity("act-1", "conv-ada", "My order has not arrived")).await, StatusCode::OK);
    assert_eq!(c.send(activity("act-2", "conv-ada", "Order 4411")).await, StatusCode::OK);
    let conversations = c.conversations().await;
    assert_eq!(conversations.len(), 1, "one conversation per Bot Framework thread");
    let id = conversations[0]["id"].as_str().unwrap().to_string();
    let texts: Vec<Value> = c.messages(&id).await.iter().map(|m| m["text"].clone()).collect();
    assert_eq!(texts, [json!("My order has not arrived"), json!("Order 4411")]);

    let offers = pending_offers(&c.app, &agent_id, &key, 1).await;
    assert_eq!(offers[0]["conversation_id"], id.as_str());
    let offer = offers[0]["id"].as_str().unwrap();
    c.app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    c.app
        .post_ok(
            &format!("/v1/conversations/{id}/messages"),
            &key,
            json!({ "text": "I am looking into it" }),
            StatusCode::CREATED,
        )
        .await;

    let posted = until("the reply reaches the Connector", || {
        let posted = c.fake.posted();
        (!posted.is_empty()).then_some(posted)
    })
    .await;
    assert_eq!(posted[0].conversation_id, "conv-ada");
    assert_eq!(posted[0].app_id, APP, "posted with a token the service issued to the channel's app");
    let sent = &posted[0].activity;
    assert_eq!(sent["type"], "message");
    assert_eq!(sent["text"], "I am looking into it");
    assert_eq!(sent["recipient"]["id"], "29:user-ada");
    assert_eq!(sent["from"]["id"], "28:contoso-bot");
    // The conversation hears that the channel took it, under the Connector's id.
    let receipt = c
        .app
        .eventually(&format!("/v1/conversations/{id}/timeline?limit=200"), &c.app.admin_key, |t| {
            t["data"].as_array().unwrap().iter().any(|e| e["type"] == "message.delivered")
        })
        .await;
    let receipt = receipt["data"].as_array().unwrap().iter().find(|e| e["type"] == "message.delivered").unwrap();
    assert_eq!(receipt["data"]["provider_message_id"], posted[0].id.as_str());
    assert_eq!(c.fake.token_calls(), 1);
}

#[tokio::test]
async fn a_token_that_is_not_the_services_for_this_app_stores_nothing() {
    let c = bot_channel().await;
    let body = serde_json::to_vec(&{
        let mut a = activity("act-1", "conv-x", "hi");
        a["serviceUrl"] = json!(c.fake.service_url());
        a["channelId"] = json!("webchat");
        a
    })
    .unwrap();
    let now = Timestamp::now().millis() / 1000;

    let (status, problem) = c.post(None, body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let forged = format!("Bearer {}", c.fake.forge(&c.fake.claims(APP, &c.fake.service_url(), now)));
    let (status, problem) = c.post(Some(&forged), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let other_app = format!("Bearer {}", c.fake.sign(&c.fake.claims("another-app", &c.fake.service_url(), now)));
    let (status, problem) = c.post(Some(&other_app), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let expired = {
        let mut claims = c.fake.claims(APP, &c.fake.service_url(), now - 7_200);
        claims["exp"] = json!(now - 3_600);
        format!("Bearer {}", c.fake.sign(&claims))
    };
    let (status, problem) = c.post(Some(&expired), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    // A token for another service URL than the activity names: someone replaying a token elsewhere.
    let elsewhere = format!("Bearer {}", c.fake.sign(&c.fake.claims(APP, "https://attacker.example/", now)));
    let (status, problem) = c.post(Some(&elsewhere), body).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");

    assert!(c.conversations().await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn bad_activities_and_unknown_channels_are_refused_and_updates_ignored() {
    let c = bot_channel().await;
    let (header, _) = c.fake.signed_activity(APP, activity("a", "conv-1", "x"));
    let (status, problem) = c.post(Some(&header), b"{not json".to_vec()).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_json");

    // Another channel id, or a channel that is not Bot Framework's: not found.
    let (header, body) = c.fake.signed_activity(APP, activity("a", "conv-1", "x"));
    let elsewhere = c.endpoint.replace(&c.channel, "01900000-0000-7000-8000-0000000000ff");
    let response = c.app.http.post(elsewhere).header("authorization", header).body(body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // A conversation update (members added) is acknowledged and keeps nothing.
    let update = json!({ "type": "conversationUpdate", "id": "u1", "conversation": { "id": "conv-1" },
        "from": { "id": "29:user-ada" }, "recipient": { "id": "28:contoso-bot" },
        "membersAdded": [{ "id": "28:contoso-bot" }] });
    assert_eq!(c.send(update).await, StatusCode::OK);
    assert!(c.conversations().await.is_empty());
}

#[tokio::test]
async fn a_reply_the_connector_refuses_for_a_while_is_retried_and_delivered_in_order() {
    let c = bot_channel().await;
    let (key, agent_id) = agent(&c.app, &[&c.queue], "available").await;
    assert_eq!(c.send(activity("act-1", "conv-bo", "hello")).await, StatusCode::OK);
    let offers = pending_offers(&c.app, &agent_id, &key, 1).await;
    let id = offers[0]["conversation_id"].as_str().unwrap().to_string();
    c.app
        .post_ok(&format!("/v1/offers/{}/accept", offers[0]["id"].as_str().unwrap()), &key, json!({}), StatusCode::OK)
        .await;

    c.fake.fail_next(1, 429, Some(2));
    c.fake.fail_next(1, 503, None);
    for text in ["first", "second"] {
        c.app
            .post_ok(&format!("/v1/conversations/{id}/messages"), &key, json!({ "text": text }), StatusCode::CREATED)
            .await;
    }
    // The retries wait on the paused clock: move it past each wait until both are through.
    let posted = until("both replies reach the Connector", || {
        c.clock.advance(std::time::Duration::from_secs(30));
        let posted = c.fake.posted();
        (posted.len() == 2).then_some(posted)
    })
    .await;
    let texts: Vec<&str> = posted.iter().map(|p| p.activity["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["first", "second"], "in order, none lost");
}

#[tokio::test]
async fn replies_over_the_channels_send_rate_wait_their_turn_in_order() {
    let fake = FakeBotFramework::start().await;
    fake.register_app(APP, SECRET);
    let clock = ManualClock::new(Timestamp::now());
    let mut config = fake.config();
    config.sends_per_second = 2;
    let c = bot_channel_with(fake, clock, config).await;
    let (key, agent_id) = agent(&c.app, &[&c.queue], "available").await;
    assert_eq!(c.send(activity("act-1", "conv-rate", "hello")).await, StatusCode::OK);
    let offers = pending_offers(&c.app, &agent_id, &key, 1).await;
    let id = offers[0]["conversation_id"].as_str().unwrap().to_string();
    let offer = offers[0]["id"].as_str().unwrap();
    c.app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    let started = c.clock.now();

    let texts = ["one", "two", "three", "four"];
    for text in texts {
        c.app
            .post_ok(&format!("/v1/conversations/{id}/messages"), &key, json!({ "text": text }), StatusCode::CREATED)
            .await;
    }
    // A second's burst goes at once; the rest wait for the clock, which moves only when told.
    until("the burst", || (c.fake.posted().len() == 2).then_some(())).await;
    c.clock.advance(std::time::Duration::from_secs(1));
    let posted = until("the rest", || {
        let posted = c.fake.posted();
        (posted.len() == 4).then_some(posted)
    })
    .await;
    let sent: Vec<&str> = posted.iter().map(|p| p.activity["text"].as_str().unwrap()).collect();
    assert_eq!(sent, texts);
    // The delivery log says when each went: the last two no sooner than half a second after the first two.
    let delivered = |d: &&Value| d["event_type"] == "message.created" && d["state"] == "delivered";
    let deliveries = c
        .app
        .eventually(&format!("/v1/webhook-deliveries?channel_id={}&limit=100", c.channel), &c.app.admin_key, |page| {
            page["data"].as_array().unwrap().iter().filter(delivered).count() == 4
        })
        .await;
    let mut times = Vec::new();
    for d in deliveries["data"].as_array().unwrap().iter().filter(delivered) {
        let (_, attempts) = c
            .app
            .get(&format!("/v1/webhook-deliveries/{}/attempts", d["id"].as_str().unwrap()), &c.app.admin_key)
            .await;
        let at = attempts[0]["at"].as_str().unwrap_or_else(|| panic!("{attempts}")).to_string();
        times.push(Timestamp::parse_rfc3339(&at).unwrap().millis() - started.millis());
    }
    times.sort_unstable();
    assert_eq!(times.len(), 4, "{deliveries}");
    assert!(times[1] < 500 && times[2] >= 500, "attempts at {times:?} ms");
}

#[tokio::test]
async fn an_agents_typing_reaches_the_customer_once_in_a_typing_indicators_time() {
    let c = bot_channel().await;
    let (key, agent_id) = agent(&c.app, &[&c.queue], "available").await;
    assert_eq!(c.send(activity("act-1", "conv-typing", "hello")).await, StatusCode::OK);
    let offers = pending_offers(&c.app, &agent_id, &key, 1).await;
    let id = offers[0]["conversation_id"].as_str().unwrap().to_string();
    let offer = offers[0]["id"].as_str().unwrap();
    c.app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    // The customer's own typing is shown to the agent, never echoed back to the channel.
    let mut typing = activity("act-2", "conv-typing", "");
    typing["type"] = json!("typing");
    assert_eq!(c.send(typing).await, StatusCode::OK);

    let typed = |app: &TestApp| {
        let (app, url, key) = (app.http.clone(), format!("{}/v1/conversations/{id}/typing", app.base), key.clone());
        async move {
            let response = app.post(url).bearer_auth(key).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        }
    };
    // Keystrokes a second apart send one typing activity; Web Chat shows it for three seconds.
    typed(&c.app).await;
    c.clock.advance(std::time::Duration::from_secs(1));
    typed(&c.app).await;
    typed(&c.app).await;
    until("the typing reaches the Connector", || (c.fake.posted().len() == 1).then_some(())).await;
    c.clock.advance(std::time::Duration::from_secs(2));
    typed(&c.app).await;
    until("the next typing", || (c.fake.posted().len() == 2).then_some(())).await;
    c.app
        .post_ok(&format!("/v1/conversations/{id}/messages"), &key, json!({ "text": "Found it" }), StatusCode::CREATED)
        .await;
    let posted = until("the reply", || {
        let posted = c.fake.posted();
        (posted.len() == 3).then_some(posted)
    })
    .await;
    let kinds: Vec<&str> = posted.iter().map(|p| p.activity["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["typing", "typing", "message"]);
    let typing = &posted[0];
    assert_eq!(typing.conversation_id, "conv-typing");
    assert_eq!(typing.app_id, APP, "sent with the channel's app token");
    assert_eq!(typing.activity["recipient"]["id"], "29:user-ada");
    assert_eq!(typing.activity["from"]["id"], "28:contoso-bot");
}
