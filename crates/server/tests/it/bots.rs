//! Bots in front of agents (issue 17 item 5, reference §4.2): a channel's bot answers first; the customer's
//! messages reach it as Bot Framework activities with a token this server signs; it answers through Switchboard's
//! Connector API with a token from `/oauth2/token`; its `Escalate` routes the conversation to an agent, who sees
//! the bot's transcript.

use std::sync::{Arc, Mutex};

use axum::{Json, Router, extract::State, http::HeaderMap, routing::post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::role::Role;

use crate::{
    TestApp, assert_problem,
    routing::{agent, pending_offers, routed},
};

const APP_ID: &str = "helpdesk-bot-app";

/// What the fake bot knows and saw.
#[derive(Default)]
struct BotState {
    /// Switchboard's base URL and JWKS, and the bot's client credentials.
    issuer: String,
    jwks: Option<JwkSet>,
    client: Option<(String, String)>,
    /// Each activity received, with whether its token checked out.
    received: Vec<(Value, bool)>,
    /// What each Connector call answered.
    answers: Vec<(StatusCode, Value)>,
}

type Shared = Arc<Mutex<BotState>>;

/// A Bot Framework bot on this machine: it checks Switchboard's token against Switchboard's JWKS, answers
/// "Hi, I am the bot", escalates on "agent please" and ends the conversation on "bye".
async fn fake_bot() -> (String, Shared) {
    let state: Shared = Arc::default();
    let router = Router::new().route("/api/messages", post(receive)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/messages", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, state)
}

async fn receive(State(state): State<Shared>, headers: HeaderMap, Json(activity): Json<Value>) -> StatusCode {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (verified, issuer, client) = {
        let st = state.lock().unwrap();
        let verified = st.jwks.as_ref().is_some_and(|jwks| verify(jwks, &st.issuer, &authorization));
        (verified, st.issuer.clone(), st.client.clone())
    };
    state.lock().unwrap().received.push((activity.clone(), verified));
    if !verified {
        return StatusCode::UNAUTHORIZED;
    }
    let reply = match activity["text"].as_str() {
        Some("agent please") => json!({ "type": "message", "text": "Let me get someone for you.",
            "channelData": { "tags": "{\"type\":\"Escalate\",\"context\":{\"BotHandoffTopic\":\"CreditCard\"}}" } }),
        Some("bye") => {
            json!({ "type": "message", "channelData": { "tags": { "type": "EndConversation", "context": {} } } })
        }
        _ => json!({ "type": "message", "text": "Hi, I am the bot" }),
    };
    let (client_id, secret) = client.expect("the bot's client");
    // A bot answers after acknowledging, as Bot Framework bots do.
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!("{issuer}/oauth2/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", &secret)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut body = reply;
        body["from"] = json!({ "id": APP_ID, "name": "Helpdesk bot", "role": "bot" });
        body["recipient"] = activity["from"].clone();
        body["conversation"] = activity["conversation"].clone();
        body["serviceUrl"] = activity["serviceUrl"].clone();
        body["channelId"] = activity["channelId"].clone();
        body["replyToId"] = activity["id"].clone();
        let service = activity["serviceUrl"].as_str().unwrap();
        let url = format!(
            "{service}v3/conversations/{}/activities/{}",
            activity["conversation"]["id"].as_str().unwrap(),
            activity["id"].as_str().unwrap()
        );
        let response =
            http.post(url).bearer_auth(token["access_token"].as_str().unwrap()).json(&body).send().await.unwrap();
        let status = response.status();
        let answer = response.json().await.unwrap_or(Value::Null);
        state.lock().unwrap().answers.push((status, answer));
    });
    StatusCode::OK
}

/// The bot's check of the token on an activity: signed with a key of Switchboard's JWKS, for the bot's app id.
fn verify(jwks: &JwkSet, issuer: &str, authorization: &str) -> bool {
    let Some(token) = authorization.strip_prefix("Bearer ") else { return false };
    let Some(jwk) =
        jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid).and_then(|kid| jwks.find(&kid).cloned())
    else {
        return false;
    };
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[APP_ID]);
    validation.set_issuer(&[issuer]);
    DecodingKey::from_jwk(&jwk).is_ok_and(|key| jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok())
}

struct Setup {
    app: TestApp,
    channel: String,
    queue: String,
    bot: Value,
    state: Shared,
    integration: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let routed = routed(&app, json!({})).await;
    let (channel, queue) = (routed.channel, routed.queue);
    let (url, state) = fake_bot().await;
    let bot = app
        .post_ok(
            "/v1/bots",
            &app.admin_key,
            json!({ "name": "Helpdesk bot", "channel_id": channel, "messaging_endpoint": url, "app_id": APP_ID }),
            StatusCode::CREATED,
        )
        .await;
    {
        let jwks = crate::webhooks::jwks(&app).await;
        let mut st = state.lock().unwrap();
        st.issuer = app.base.clone();
        st.jwks = Some(jwks);
        st.client =
            Some((bot["client_id"].as_str().unwrap().to_string(), bot["client_secret"].as_str().unwrap().to_string()));
    }
    let (integration, _) = app.key(Role::Integration).await;
    Setup { app, channel, queue, bot, state, integration }
}

impl Setup {
    async fn say(&self, id: &str, text: &str) {
        let path = format!("/v1/conversations/{id}/messages");
        self.app.post_ok(&path, &self.integration, json!({ "text": text }), StatusCode::CREATED).await;
    }

    /// The conversation's messages once `n` are there, as (sender kind, text).
    async fn transcript(&self, id: &str, n: usize) -> Vec<(String, String)> {
        let path = format!("/v1/conversations/{id}/messages");
        let page = self.app.eventually(&path, &self.app.admin_key, |v| v["data"].as_array().unwrap().len() >= n).await;
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (m["sender"]["kind"].as_str().unwrap().to_string(), m["text"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    }

    async fn bot_token(&self) -> String {
        self.app
            .client_token(self.bot["client_id"].as_str().unwrap(), self.bot["client_secret"].as_str().unwrap())
            .await
    }

    async fn connector(&self, id: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let path = format!("/bot-connector/v3/conversations/{id}/activities");
        let mut request = self.app.http.post(format!("{}{path}", self.app.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Waits until the bot has had `n` answers from the Connector API, all successes.
async fn wait_answers(state: &Shared, n: usize) {
    let answers = crate::until("the bot's answers", || {
        let st = state.lock().unwrap();
        (st.answers.len() >= n).then(|| st.answers.clone())
    })
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
}

fn strings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// A bot's activity as the Bot Framework SDK sends it.
fn bot_activity(id: &str, extra: Value) -> Value {
    let mut a = json!({ "type": "message", "channelId": "switchboard", "serviceUrl": "http://127.0.0.1/bot-connector/",
        "conversation": { "id": id }, "from": { "id": APP_ID, "role": "bot" } });
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

#[tokio::test]
async fn the_bot_answers_first_then_escalates_to_an_agent_who_sees_its_transcript() {
    let s = setup().await;
    let (agent_key, agent_id) = agent(&s.app, &[&s.queue], "available").await;
    let id = s.app.conversation(&s.integration, &s.channel, "c-1").await;
    s.say(&id, "hello").await;
    assert_eq!(s.transcript(&id, 2).await, strings(&[("customer", "hello"), ("bot", "Hi, I am the bot")]));
    {
        let st = s.state.lock().unwrap();
        let (activity, verified) = &st.received[0];
        assert!(verified, "the bot checked the token against Switchboard's JWKS");
        assert_eq!(activity["conversation"]["id"], json!(id));
        assert_eq!(activity["recipient"]["id"], APP_ID);
        assert_eq!(activity["serviceUrl"], json!(format!("{}/bot-connector/", s.app.base)));
    }
    // While the bot holds it, no agent is offered the conversation.
    let (_, offers) = s.app.get(&format!("/v1/agents/{agent_id}/offers"), &agent_key).await;
    assert_eq!(offers["data"], json!([]));

    s.say(&id, "agent please").await;
    wait_answers(&s.state, 2).await;
    let offers = pending_offers(&s.app, &agent_id, &agent_key, 1).await;
    assert_eq!(offers[0]["conversation_id"], json!(id));
    let offer = offers[0]["id"].as_str().unwrap();
    s.app.post_ok(&format!("/v1/offers/{offer}/accept"), &agent_key, json!({}), StatusCode::OK).await;
    // The agent reads what the customer and the bot said, and the context the bot passed.
    let (_, messages) = s.app.get(&format!("/v1/conversations/{id}/messages"), &agent_key).await;
    let texts: Vec<(&str, &str)> = messages["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["sender"]["kind"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    // The escalation's own text is not a message to the customer (reference §4.2: a summary for the agent).
    assert_eq!(texts, [("customer", "hello"), ("bot", "Hi, I am the bot"), ("customer", "agent please")]);
    assert_eq!(messages["data"][1]["sender"]["name"], "Helpdesk bot");
    let (_, context) = s.app.get(&format!("/v1/conversations/{id}/context"), &agent_key).await;
    assert!(context.to_string().contains("CreditCard"), "{context}");
    // The escalation's text is the agent's summary (§4.2), kept where only agents read it.
    assert!(context.to_string().contains("\"EscalationSummary\""), "{context}");
    assert!(context.to_string().contains("Let me get someone for you."), "{context}");

    // After escalating, the bot's messages are refused, and a second escalation re-routes nothing.
    let token = s.bot_token().await;
    let (status, body) = s.connector(&id, Some(&token), bot_activity(&id, json!({ "text": "still here" }))).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "bot_not_in_conversation");
    let escalate = bot_activity(&id, json!({ "channelData": { "tags": { "type": "Escalate", "context": {} } } }));
    let (status, _) = s.connector(&id, Some(&token), escalate).await;
    assert_eq!(status, StatusCode::OK);
    let (_, conversation) = s.app.get(&format!("/v1/conversations/{id}"), &agent_key).await;
    assert_eq!((conversation["state"].as_str(), conversation["agent_id"].as_str()), (Some("active"), Some(&*agent_id)));
    // The customer's later messages go to the agent, not the bot.
    let heard = s.state.lock().unwrap().received.len();
    s.say(&id, "thanks").await;
    s.transcript(&id, 4).await;
    assert_eq!(s.state.lock().unwrap().received.len(), heard);
}

#[tokio::test]
async fn end_conversation_closes_it() {
    let s = setup().await;
    let id = s.app.conversation(&s.integration, &s.channel, "c-2").await;
    s.say(&id, "bye").await;
    s.app.eventually(&format!("/v1/conversations/{id}"), &s.app.admin_key, |c| c["state"] == "closed").await;
}

#[tokio::test]
async fn connector_calls_need_the_bots_own_token_and_conversation() {
    let s = setup().await;
    let id = s.app.conversation(&s.integration, &s.channel, "c-3").await;
    s.say(&id, "hello").await;
    s.transcript(&id, 2).await;
    let message = bot_activity(&id, json!({ "text": "sneaky" }));
    let (status, _) = s.connector(&id, None, message.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.connector(&id, Some("not-a-token"), message.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another client's token, and an admin's key, are not a bot's.
    let (status, body) = s.connector(&id, Some(&s.app.admin_key), message.clone()).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // A conversation the bot never held: its organization's on another channel, or another organization's.
    let token = s.bot_token().await;
    let other_channel = s.app.channel().await;
    let other = s.app.conversation(&s.integration, &other_channel, "c-4").await;
    let (status, body) = s.connector(&other, Some(&token), bot_activity(&other, json!({ "text": "hi" }))).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    let (_, org) =
        switchboard_server::admin::create_org(&s.app.state.store, "other", s.app.state.clock.now()).await.unwrap();
    let their_channel = {
        let queue = s.app.post_ok("/v1/queues", &org.api_key, json!({ "name": "Q" }), StatusCode::CREATED).await;
        let ws = s
            .app
            .post_ok(
                "/v1/workstreams",
                &org.api_key,
                json!({ "name": "W", "fallback_queue_id": queue["id"] }),
                StatusCode::CREATED,
            )
            .await;
        let body = json!({ "name": "C", "channel_type": "messaging_api", "workstream_id": ws["id"] });
        s.app.post_ok("/v1/channels", &org.api_key, body, StatusCode::CREATED).await["id"].as_str().unwrap().to_string()
    };
    let theirs = s.app.conversation(&org.api_key, &their_channel, "c-5").await;
    let (status, body) = s.connector(&theirs, Some(&token), bot_activity(&theirs, json!({ "text": "hi" }))).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    // The bot's token opens nothing under /v1.
    let (status, body) = s.app.call(Method::GET, "/v1/queues", Some(&token), None).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // Nothing of that was written: the transcript is the customer's message and the bot's answer.
    assert_eq!(s.transcript(&id, 2).await.len(), 2);
}

#[tokio::test]
async fn bots_are_added_by_admins_one_a_channel() {
    let s = setup().await;
    let body = |channel: &str| {
        json!({ "name": "Second", "channel_id": channel, "messaging_endpoint": "https://bot.example.com/api/messages",
            "app_id": "x" })
    };
    let (status, out) = s.app.post("/v1/bots", &s.app.admin_key, body(&s.channel)).await;
    assert_problem(status, &out, StatusCode::CONFLICT, "already_exists");
    let (status, out) = s.app.post("/v1/bots", &s.integration, body(&s.channel)).await;
    assert_problem(status, &out, StatusCode::FORBIDDEN, "forbidden");
    let unknown = "0190d2a6-0000-7000-8000-000000000000";
    let (status, out) = s.app.post("/v1/bots", &s.app.admin_key, body(unknown)).await;
    assert_problem(status, &out, StatusCode::NOT_FOUND, "channel_not_found");
    let mut bad = body(&s.channel);
    bad["messaging_endpoint"] = json!("ftp://bot.example.com");
    let (status, _) = s.app.post("/v1/bots", &s.app.admin_key, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A client of role bot is made only here.
    let (status, out) = s.app.post("/v1/clients", &s.app.admin_key, json!({ "name": "b", "role": "bot" })).await;
    assert_problem(status, &out, StatusCode::BAD_REQUEST, "invalid_field");
}

#[tokio::test]
async fn a_bots_files_are_kept_in_its_transcript_as_links() {
    let s = setup().await;
    let id = s.app.conversation(&s.integration, &s.channel, "c-files").await;
    s.say(&id, "my invoice please").await;
    s.transcript(&id, 2).await;
    let token = s.bot_token().await;
    let invoice = bot_activity(
        &id,
        json!({ "text": "Here it is", "attachments": [{ "contentType": "application/pdf",
            "contentUrl": "https://files.example.com/invoices/4411.pdf", "name": "invoice-4411.pdf" }] }),
    );
    let (status, body) = s.connector(&id, Some(&token), invoice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A file inside the activity is not how a bot shares one: refused, and nothing is written.
    let inline = bot_activity(
        &id,
        json!({ "text": "inline", "attachments": [{ "contentType": "text/plain", "contentUrl": "data:text/plain;base64,aGk=" }] }),
    );
    let (status, body) = s.connector(&id, Some(&token), inline).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (_, messages) = s.app.get(&format!("/v1/conversations/{id}/messages"), &s.app.admin_key).await;
    let messages = messages["data"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[2]["text"], "Here it is");
    assert_eq!(
        messages[2]["attachments"],
        json!([{ "content_type": "application/pdf", "url": "https://files.example.com/invoices/4411.pdf",
            "name": "invoice-4411.pdf" }])
    );
}
