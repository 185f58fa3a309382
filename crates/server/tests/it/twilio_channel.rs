//! SMS and WhatsApp through Twilio, end to end, against a fake Twilio that speaks the real wire format: Twilio posts
//! a customer's message to the channel's webhook, signed by twilio-node's RequestValidator for the server's public
//! URL; it becomes a conversation routed to an agent; the agent's reply goes out through the Messages API with the
//! account's credentials and comes back through the status callbacks. Also the shared phone pieces: contacts by
//! number, STOP/START/HELP and the suppression list, and WhatsApp's 24-hour window.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::Timestamp;
use switchboard_server::{clock::ManualClock, config::TwilioConfig};

use crate::{
    Options, TestApp, assert_problem,
    routing::{agent, pending_offers},
    support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, twilio_signature},
    until,
};

/// Where Twilio reaches the server: a proxy in front of it, whose URL Twilio signs.
const PUBLIC_URL: &str = "https://switchboard.example.test";
const OUR_NUMBER: &str = "+14255550199";
const ADA: &str = "+14255550100";
const MAX_MEDIA: u64 = 1_000;

struct Twilio {
    app: TestApp,
    fake: FakeTwilio,
    clock: ManualClock,
    queue: String,
    channel: String,
    counter: std::cell::Cell<u32>,
}

async fn twilio_channel(kind: &str) -> Twilio {
    twilio_channel_with(kind, json!({})).await
}

async fn twilio_channel_with(kind: &str, settings: Value) -> Twilio {
    let fake = FakeTwilio::start().await;
    let clock = ManualClock::new(Timestamp::now());
    let config = TwilioConfig { api_base_url: fake.base.clone(), max_media_bytes: MAX_MEDIA, sends_per_second: 0 };
    let app = TestApp::spawn_with(Options {
        clock: Some(clock.clone()),
        twilio: Some((config, PUBLIC_URL.into())),
        ..Options::default()
    })
    .await;
    let key = app.admin_key.clone();
    let queue = app.post_ok("/v1/queues", &key, json!({ "name": "Texts" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            &key,
            json!({ "name": "Texts", "fallback_queue_id": queue["id"], "settings": { "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let mut account_settings = json!({ "account_sid": ACCOUNT_SID, "from_number": OUR_NUMBER });
    for (k, v) in settings.as_object().unwrap() {
        account_settings[k] = v.clone();
    }
    let account = app
        .post_ok(
            "/v1/messaging-accounts",
            &key,
            json!({ "name": "Twilio", "kind": kind, "method": "twilio", "settings": account_settings,
                "credentials": { "auth_token": AUTH_TOKEN } }),
            StatusCode::CREATED,
        )
        .await;
    // Validation asks Twilio for the account with its credentials, as sends will.
    let validated = app
        .post_ok(
            &format!("/v1/messaging-accounts/{}/validate", account["id"].as_str().unwrap()),
            &key,
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(validated["validation"]["state"], "valid", "{validated}");
    let channel = app
        .post_ok(
            &format!("/v1/messaging-accounts/{}/channels", account["id"].as_str().unwrap()),
            &key,
            json!({ "name": "Texts", "workstream_id": ws["id"] }),
            StatusCode::CREATED,
        )
        .await;
    // What the administrator pastes into the number's or messaging service's "A message comes in" webhook.
    let endpoint = format!("{PUBLIC_URL}/channels/twilio/{}/messages", channel["id"].as_str().unwrap());
    assert_eq!(channel["messaging_endpoint_url"], endpoint.as_str(), "{channel}");
    Twilio {
        queue: queue["id"].as_str().unwrap().to_string(),
        channel: channel["id"].as_str().unwrap().to_string(),
        app,
        fake,
        clock,
        counter: std::cell::Cell::new(0),
    }
}

impl Twilio {
    /// A new MessageSid.
    fn sid(&self) -> String {
        self.counter.set(self.counter.get() + 1);
        format!("SM{:032x}", 0xabc000 + self.counter.get())
    }

    fn path(&self, hook: &str) -> String {
        format!("/channels/twilio/{}/{hook}", self.channel)
    }

    /// Posts `params` to the webhook with `signature` (none: no header).
    async fn post(&self, hook: &str, params: &[(&str, &str)], signature: Option<&str>) -> (StatusCode, String) {
        let mut request = self.app.http.post(format!("{}{}", self.app.base, self.path(hook))).form(params);
        if let Some(s) = signature {
            request = request.header("x-twilio-signature", s);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Posts `params` as Twilio does: signed by twilio-node for the public URL.
    async fn signed(&self, hook: &str, params: &[(&str, &str)]) -> (StatusCode, String) {
        let signature = twilio_signature(AUTH_TOKEN, &format!("{PUBLIC_URL}{}", self.path(hook)), params);
        self.post(hook, params, Some(&signature)).await
    }

    /// A customer's SMS (or WhatsApp message) from `from`.
    async fn text(&self, sid: &str, from: &str, body: &str) -> (StatusCode, String) {
        let whatsapp = from.starts_with("whatsapp:");
        let to = if whatsapp { format!("whatsapp:{OUR_NUMBER}") } else { OUR_NUMBER.to_string() };
        self.signed(
            "messages",
            &[
                ("MessageSid", sid),
                ("SmsSid", sid),
                ("AccountSid", ACCOUNT_SID),
                ("From", from),
                ("To", &to),
                ("Body", body),
                ("NumMedia", "0"),
                ("ProfileName", if whatsapp { "Ada" } else { "" }),
            ],
        )
        .await
    }

    async fn conversations(&self) -> Vec<Value> {
        let (status, page) = self
            .app
            .get(&format!("/v1/conversations?channel_id={}&limit=100", self.channel), &self.app.admin_key)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["data"].as_array().unwrap().clone()
    }

    /// The conversation's messages but the server's own (queue notices).
    async fn messages(&self, conversation: &str) -> Vec<Value> {
        let (_, page) = self.app.get(&format!("/v1/conversations/{conversation}/messages"), &self.app.admin_key).await;
        page["data"].as_array().unwrap().iter().filter(|m| m["sender"]["kind"] != "system").cloned().collect()
    }

    /// The conversation's events of `kind`, once there are `n`.
    async fn events(&self, conversation: &str, kind: &str, n: usize) -> Vec<Value> {
        let page = self
            .app
            .eventually(&format!("/v1/conversations/{conversation}/timeline?limit=200"), &self.app.admin_key, |t| {
                t["data"].as_array().unwrap().iter().filter(|e| e["type"] == kind).count() >= n
            })
            .await;
        page["data"].as_array().unwrap().iter().filter(|e| e["type"] == kind).cloned().collect()
    }

    /// A customer writes, an agent takes the conversation; returns (conversation, agent's key).
    async fn accepted(&self, from: &str) -> (String, String) {
        let (key, agent_id) = agent(&self.app, &[&self.queue], "available").await;
        assert_eq!(self.text(&self.sid(), from, "Hello").await.0, StatusCode::OK);
        let offers = pending_offers(&self.app, &agent_id, &key, 1).await;
        let offer = offers[0]["id"].as_str().unwrap();
        self.app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
        (offers[0]["conversation_id"].as_str().unwrap().to_string(), key)
    }

    async fn reply(&self, conversation: &str, key: &str, text: &str) -> (StatusCode, Value) {
        self.app.post(&format!("/v1/conversations/{conversation}/messages"), key, json!({ "text": text })).await
    }
}

#[tokio::test]
async fn an_sms_reaches_an_agent_and_the_reply_goes_out_through_the_messages_api() {
    let t = twilio_channel("sms").await;
    let (id, key) = t.accepted("+1 (425) 555-0100").await;
    let conversation = &t.conversations().await[0];
    // The customer is the contact with that number, in E.164.
    let contact = conversation["contact_id"].as_str().unwrap();
    let (_, contact) = t.app.get(&format!("/v1/contacts/{contact}"), &t.app.admin_key).await;
    assert_eq!(contact["phone"], ADA);

    let (status, message) = t.reply(&id, &key, "Hi Ada, how can I help?").await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let sent = until("the reply reaches Twilio", || t.fake.sent().pop()).await;
    assert_eq!(sent.get("To"), Some(ADA));
    assert_eq!(sent.get("From"), Some(OUR_NUMBER), "from the number the customer wrote to");
    assert_eq!(sent.get("Body"), Some("Hi Ada, how can I help?"));
    let callback = format!("{PUBLIC_URL}{}", t.path("status"));
    assert_eq!(sent.get("StatusCallback"), Some(callback.as_str()));
    let delivered = &t.events(&id, "message.delivered", 1).await[0];
    assert_eq!(delivered["data"]["provider_message_id"], sent.sid.as_str());
    assert_eq!(delivered["data"]["segments"], 1);

    // Twilio reports what became of it; a status already passed, or reported twice, changes nothing.
    for status in ["sent", "delivered", "sent", "delivered"] {
        let params = [("MessageSid", sent.sid.as_str()), ("AccountSid", ACCOUNT_SID), ("MessageStatus", status)];
        assert_eq!(t.signed("status", &params).await.0, StatusCode::NO_CONTENT);
    }
    let statuses = t.events(&id, "message.status_changed", 2).await;
    let seen: Vec<&Value> = statuses.iter().map(|e| &e["data"]["status"]).collect();
    assert_eq!(seen, [&json!("sent"), &json!("delivered")]);
    assert_eq!(statuses[0]["data"]["message_id"], message["id"]);
    assert!(t.fake.refused().is_empty(), "{:?}", t.fake.refused());
}

#[tokio::test]
async fn a_numbers_open_conversation_is_resumed_and_a_closed_one_starts_anew() {
    let t = twilio_channel("sms").await;
    let first = t.sid();
    assert_eq!(t.text(&first, ADA, "one").await.0, StatusCode::OK);
    // Twilio retries a webhook it did not hear back from: the same MessageSid is stored once.
    assert_eq!(t.text(&first, ADA, "one").await.0, StatusCode::OK);
    assert_eq!(t.text(&t.sid(), "+14255550100", "two").await.0, StatusCode::OK);
    assert_eq!(t.text(&t.sid(), "+14255550111", "someone else").await.0, StatusCode::OK);
    let conversations = t.conversations().await;
    assert_eq!(conversations.len(), 2, "one conversation per number");
    let ada = conversations.iter().find(|c| c["customer_key"] == ADA).unwrap()["id"].as_str().unwrap().to_string();
    let texts: Vec<Value> = t.messages(&ada).await.iter().map(|m| m["text"].clone()).collect();
    assert_eq!(texts, [json!("one"), json!("two")]);

    t.app.post_ok(&format!("/v1/conversations/{ada}/close"), &t.app.admin_key, json!({}), StatusCode::OK).await;
    assert_eq!(t.text(&t.sid(), ADA, "three").await.0, StatusCode::OK);
    let conversations = t.conversations().await;
    assert_eq!(conversations.len(), 3);
    let adas: Vec<&Value> = conversations.iter().filter(|c| c["customer_key"] == ADA).collect();
    assert_eq!(adas.len(), 2);
    assert_eq!(adas[0]["contact_id"], adas[1]["contact_id"], "the same contact");
}

#[tokio::test]
async fn webhooks_not_signed_by_the_accounts_token_for_the_public_url_store_nothing() {
    let t = twilio_channel("sms").await;
    let sid = t.sid();
    let params =
        [("MessageSid", sid.as_str()), ("AccountSid", ACCOUNT_SID), ("From", ADA), ("To", OUR_NUMBER), ("Body", "hi")];
    let (status, body) = t.post("messages", &params, None).await;
    assert_problem(status, &serde_json::from_str(&body).unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated");
    let public = format!("{PUBLIC_URL}{}", t.path("messages"));
    let other_token = twilio_signature("another-token", &public, &params);
    assert_eq!(t.post("messages", &params, Some(&other_token)).await.0, StatusCode::UNAUTHORIZED);
    // Signed for the address the server listens on rather than the URL Twilio was given: not Twilio's request.
    let local = twilio_signature(AUTH_TOKEN, &format!("{}{}", t.app.base, t.path("messages")), &params);
    assert_eq!(t.post("messages", &params, Some(&local)).await.0, StatusCode::UNAUTHORIZED);
    // Twilio's signature over other parameters than those posted.
    let tampered = twilio_signature(AUTH_TOKEN, &public, &[("Body", "hi"), ("From", ADA)]);
    assert_eq!(t.post("messages", &params, Some(&tampered)).await.0, StatusCode::UNAUTHORIZED);
    let status_params = [("MessageSid", sid.as_str()), ("AccountSid", ACCOUNT_SID), ("MessageStatus", "failed")];
    assert_eq!(t.post("status", &status_params, Some("bm90IGl0")).await.0, StatusCode::UNAUTHORIZED);
    assert!(t.conversations().await.is_empty(), "nothing stored");

    // The real signature is accepted, with the query string Twilio was given.
    assert_eq!(t.signed("messages", &params).await.0, StatusCode::OK);
    assert_eq!(t.conversations().await.len(), 1);
}

#[tokio::test]
async fn bad_webhooks_and_unknown_channels_are_refused() {
    let t = twilio_channel("sms").await;
    let sid = t.sid();
    // Signed, but not a message Twilio would send: no sender, a number no country has, media it does not list.
    for (params, field) in [
        (vec![("MessageSid", sid.as_str()), ("AccountSid", ACCOUNT_SID), ("To", OUR_NUMBER), ("Body", "x")], "From"),
        (
            vec![("MessageSid", "SM1"), ("AccountSid", ACCOUNT_SID), ("From", ADA), ("To", OUR_NUMBER), ("Body", "x")],
            "MessageSid",
        ),
        (
            vec![
                ("MessageSid", sid.as_str()),
                ("AccountSid", ACCOUNT_SID),
                ("From", "+1 000"),
                ("To", OUR_NUMBER),
                ("Body", "x"),
            ],
            "From",
        ),
        (
            vec![
                ("MessageSid", sid.as_str()),
                ("AccountSid", ACCOUNT_SID),
                ("From", ADA),
                ("To", OUR_NUMBER),
                ("NumMedia", "1"),
            ],
            "MediaUrl0",
        ),
        (
            vec![
                ("MessageSid", sid.as_str()),
                ("AccountSid", "AC0123456789abcdef0123456789abcdee"),
                ("From", ADA),
                ("To", OUR_NUMBER),
                ("Body", "x"),
            ],
            "AccountSid",
        ),
        // A WhatsApp message on an SMS channel.
        (
            vec![
                ("MessageSid", sid.as_str()),
                ("AccountSid", ACCOUNT_SID),
                ("From", "whatsapp:+14255550100"),
                ("To", "whatsapp:+14255550199"),
                ("Body", "x"),
            ],
            "From",
        ),
    ] {
        let (status, body) = t.signed("messages", &params).await;
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_body");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, _) = t
        .signed("status", &[("MessageSid", sid.as_str()), ("AccountSid", ACCOUNT_SID), ("MessageStatus", "exploded")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(t.conversations().await.is_empty());

    // Another channel id, a channel that is not a Twilio one, a malformed id: not found.
    let web = t.app.channel().await;
    for channel in ["01900000-0000-7000-8000-0000000000ff", web.as_str(), "nope"] {
        let url = format!("{}/channels/twilio/{channel}/messages", t.app.base);
        let response = t.app.http.post(url).form(&[("Body", "x")]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{channel}");
    }
}

#[tokio::test]
async fn media_are_fetched_with_the_accounts_credentials_and_kept_and_oversized_ones_refused() {
    let t = twilio_channel("sms").await;
    let sid = t.sid();
    let url = t.fake.add_media(&sid, "image/png", vec![7; 600]);
    let (status, body) = t
        .signed(
            "messages",
            &[
                ("MessageSid", &sid),
                ("AccountSid", ACCOUNT_SID),
                ("From", ADA),
                ("To", OUR_NUMBER),
                ("NumMedia", "1"),
                ("MediaUrl0", &url),
                ("MediaContentType0", "image/png"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("<Response"), "TwiML: {body}");
    let id = t.conversations().await[0]["id"].as_str().unwrap().to_string();
    let messages = t.messages(&id).await;
    let file = &messages[0]["attachments"][0];
    assert_eq!((file["content_type"].as_str(), file["size"].as_u64()), (Some("image/png"), Some(600)));
    let bytes = t
        .app
        .http
        .get(file["url"].as_str().unwrap().replace(PUBLIC_URL, &t.app.base))
        .bearer_auth(&t.app.admin_key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.to_vec(), vec![7; 600]);
    assert_eq!(t.fake.media_fetches(), 1);

    // Over `max_media_bytes`: refused, nothing stored.
    let big_sid = t.sid();
    let big = t.fake.add_media(&big_sid, "image/png", vec![1; MAX_MEDIA as usize + 1]);
    let (status, body) = t
        .signed(
            "messages",
            &[
                ("MessageSid", &big_sid),
                ("AccountSid", ACCOUNT_SID),
                ("From", ADA),
                ("To", OUR_NUMBER),
                ("NumMedia", "1"),
                ("MediaUrl0", &big),
            ],
        )
        .await;
    assert_problem(status, &serde_json::from_str(&body).unwrap(), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // A media URL elsewhere than Twilio's API is never fetched.
    let (status, _) = t
        .signed(
            "messages",
            &[
                ("MessageSid", &t.sid()),
                ("AccountSid", ACCOUNT_SID),
                ("From", ADA),
                ("To", OUR_NUMBER),
                ("NumMedia", "1"),
                ("MediaUrl0", "http://169.254.169.254/latest/meta-data"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(t.messages(&id).await.len(), 1);
    assert!(t.fake.refused().is_empty(), "{:?}", t.fake.refused());
}

#[tokio::test]
async fn stop_start_and_help_are_answered_and_keep_the_suppression_list() {
    let t =
        twilio_channel_with("sms", json!({ "keyword_replies": { "help": "Contoso support: call 555-0100." } })).await;
    let (id, key) = t.accepted(ADA).await;

    let (status, twiml) = t.text(&t.sid(), ADA, "Stop").await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.contains("<Message>You have been unsubscribed"), "{twiml}");
    let (_, list) = t.app.get("/v1/suppressions", &t.app.admin_key).await;
    assert_eq!(list["data"][0]["phone"], ADA);
    assert_eq!(list["data"][0]["source"], "keyword");
    assert_eq!(list["data"][0]["channel_id"], t.channel.as_str());
    // The agent hears why a reply cannot go, before it is sent.
    let (status, problem) = t.reply(&id, &key, "Are you still there?").await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "recipient_opted_out");
    let (_, phone) = t.app.get(&format!("/v1/conversations/{id}/phone"), &key).await;
    assert_eq!((phone["opted_out"].as_bool(), phone["phone"].as_str()), (Some(true), Some(ADA)));

    let (_, twiml) = t.text(&t.sid(), ADA, "help").await;
    assert!(twiml.contains("<Message>Contoso support: call 555-0100.</Message>"), "{twiml}");
    let (_, twiml) = t.text(&t.sid(), ADA, "START").await;
    assert!(twiml.contains("<Message>You have been resubscribed"), "{twiml}");
    let (_, list) = t.app.get("/v1/suppressions", &t.app.admin_key).await;
    assert_eq!(list["data"], json!([]));
    assert_eq!(t.reply(&id, &key, "Welcome back").await.0, StatusCode::CREATED);
    // The keywords are not messages for the agent: only the first "Hello" is in the conversation.
    let texts: Vec<Value> = t.messages(&id).await.iter().map(|m| m["text"].clone()).collect();
    assert_eq!(texts, [json!("Hello"), json!("Welcome back")]);
}

#[tokio::test]
async fn administrators_keep_the_suppression_list() {
    let t = twilio_channel("sms").await;
    let key = &t.app.admin_key;
    let added = t
        .app
        .post_ok(
            "/v1/suppressions",
            key,
            json!({ "phone": "+44 7400 123456", "reason": "asked by mail" }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!((added["phone"].as_str(), added["source"].as_str()), (Some("+447400123456"), Some("api")));
    // Again: the number is on the list already, as it was.
    let again = t.app.post_ok("/v1/suppressions", key, json!({ "phone": "+447400123456" }), StatusCode::OK).await;
    assert_eq!(again["reason"], "asked by mail");
    t.app.post_ok("/v1/suppressions", key, json!({ "phone": ADA }), StatusCode::CREATED).await;
    let (_, page) = t.app.get("/v1/suppressions?limit=1", key).await;
    assert_eq!(page["data"][0]["phone"], ADA);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = t.app.get(&format!("/v1/suppressions?limit=1&cursor={}", cursor.replace('+', "%2B")), key).await;
    assert_eq!(page["data"][0]["phone"], "+447400123456");
    let (status, _) = t.app.get("/v1/suppressions/%2B447400123456", key).await;
    assert_eq!(status, StatusCode::OK);

    let (status, problem) = t.app.post("/v1/suppressions", key, json!({ "phone": "call me" })).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, problem) = t.app.post("/v1/suppressions", key, json!({ "phone": ADA, "extra": 1 })).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "unknown_field");
    let (agent_key, _) = agent(&t.app, &[&t.queue], "available").await;
    let (status, _) = t.app.post("/v1/suppressions", &agent_key, json!({ "phone": ADA })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let delete = |path: &'static str| t.app.call(reqwest::Method::DELETE, path, Some(key), None);
    assert_eq!(delete("/v1/suppressions/%2B447400123456").await.0, StatusCode::NO_CONTENT);
    let (status, problem) = delete("/v1/suppressions/%2B447400123456").await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "suppression_not_found");
    assert_eq!(delete("/v1/suppressions/garbage").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn whatsapp_replies_go_to_whatsapp_addresses_until_the_window_closes() {
    let t = twilio_channel("whatsapp").await;
    let (id, key) = t.accepted("whatsapp:+14255550100").await;
    let conversation = &t.conversations().await[0];
    let (_, contact) =
        t.app.get(&format!("/v1/contacts/{}", conversation["contact_id"].as_str().unwrap()), &t.app.admin_key).await;
    assert_eq!((contact["phone"].as_str(), contact["preferred_name"].as_str()), (Some(ADA), Some("Ada")));

    assert_eq!(t.reply(&id, &key, "Hello from WhatsApp").await.0, StatusCode::CREATED);
    let sent = until("the reply reaches Twilio", || t.fake.sent().pop()).await;
    assert_eq!(sent.get("To"), Some("whatsapp:+14255550100"));
    assert_eq!(sent.get("From"), Some("whatsapp:+14255550199"));

    let (_, phone) = t.app.get(&format!("/v1/conversations/{id}/phone"), &key).await;
    let ends = Timestamp::parse_rfc3339(phone["window_ends_at"].as_str().unwrap()).unwrap();
    let last = Timestamp::parse_rfc3339(phone["last_inbound_at"].as_str().unwrap()).unwrap();
    assert_eq!(ends.millis() - last.millis(), 24 * 3_600_000);
    assert_eq!(phone["window_closed"], false);

    // A day after the customer last wrote, free-form replies are refused before they leave.
    t.clock.advance(std::time::Duration::from_secs(24 * 3_600));
    let (status, problem) = t.reply(&id, &key, "Still there?").await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "whatsapp_window_closed");
    let (_, phone) = t.app.get(&format!("/v1/conversations/{id}/phone"), &key).await;
    assert_eq!(phone["window_closed"], true);
    // The customer writes again: the window opens anew.
    assert_eq!(t.text(&t.sid(), "whatsapp:+14255550100", "I am here").await.0, StatusCode::OK);
    assert_eq!(t.reply(&id, &key, "Great").await.0, StatusCode::CREATED);
    until("the second reply", || (t.fake.sent().len() == 2).then_some(())).await;
}

#[tokio::test]
async fn twilio_refusals_fail_at_once_with_its_error_code_and_throttling_is_retried() {
    let t = twilio_channel("sms").await;
    let (id, key) = t.accepted(ADA).await;

    // 400 with Twilio's error 21610 (the number unsubscribed at Twilio): final, shown with the code.
    t.fake.fail_next(1, 400, None, Some(21610));
    assert_eq!(t.reply(&id, &key, "first").await.0, StatusCode::CREATED);
    let failed = &t.events(&id, "message.delivery_failed", 1).await[0];
    assert_eq!(failed["data"]["attempts"], 1, "{failed}");
    assert_eq!(failed["data"]["status"], 400);
    assert!(failed["data"]["error"].as_str().unwrap().contains("21610"), "{failed}");

    // 429 with Retry-After, then 503: retried on the clock, then delivered.
    t.fake.fail_next(1, 429, Some(5), Some(20429));
    t.fake.fail_next(1, 503, None, None);
    assert_eq!(t.reply(&id, &key, "second").await.0, StatusCode::CREATED);
    let sent = until("the retried reply reaches Twilio", || {
        t.clock.advance(std::time::Duration::from_secs(30));
        t.fake.sent().pop()
    })
    .await;
    assert_eq!(sent.get("Body"), Some("second"));
    t.events(&id, "message.delivered", 1).await;
    assert_eq!(t.events(&id, "message.delivery_failed", 1).await.len(), 1);
    // Twilio's failure reports reach the message too, with its code.
    let params = [
        ("MessageSid", sent.sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
    ];
    assert_eq!(t.signed("status", &params).await.0, StatusCode::NO_CONTENT);
    let status = &t.events(&id, "message.status_changed", 1).await[0];
    assert_eq!(
        (status["data"]["status"].as_str(), status["data"]["error_code"].as_str()),
        (Some("undelivered"), Some("30003"))
    );
    // As Meta's and TeleSign's failures, the agent sees it under the message.
    let failed = t.events(&id, "message.delivery_failed", 2).await;
    assert_eq!(failed[1]["data"]["message_id"], status["data"]["message_id"]);
    assert_eq!(failed[1]["data"]["error"], "Twilio reported the message undelivered: error 30003");
    assert!(t.fake.refused().is_empty(), "{:?}", t.fake.refused());
}

#[tokio::test]
async fn twilio_accounts_are_checked_when_created() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    for (body, code, field) in [
        (
            json!({ "name": "t", "kind": "sms", "method": "twilio", "settings": {}, "credentials": { "auth_token": "x" } }),
            "missing_field",
            "settings.account_sid",
        ),
        (
            json!({ "name": "t", "kind": "sms", "method": "twilio", "settings": { "account_sid": "AC12" },
            "credentials": { "auth_token": "x" } }),
            "invalid_field",
            "settings.account_sid",
        ),
        (
            json!({ "name": "t", "kind": "whatsapp", "method": "twilio", "settings": { "account_sid": ACCOUNT_SID } }),
            "missing_field",
            "credentials.auth_token",
        ),
        // Without a method an SMS account has no provider: Twilio's settings are not for it.
        (
            json!({ "name": "t", "kind": "sms", "settings": { "account_sid": ACCOUNT_SID },
            "credentials": { "auth_token": "x" } }),
            "invalid_field",
            "settings.account_sid",
        ),
        (json!({ "name": "t", "kind": "sms", "method": "azure_bot_framework" }), "invalid_field", "method"),
        (
            json!({ "name": "t", "kind": "live_chat", "settings": { "account_sid": ACCOUNT_SID } }),
            "invalid_field",
            "settings.account_sid",
        ),
    ] {
        let (status, problem) = app.post("/v1/messaging-accounts", key, body).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, code);
        assert_eq!(problem["field"], field, "{problem}");
    }
    let created = app
        .post_ok(
            "/v1/messaging-accounts",
            key,
            json!({ "name": "t", "kind": "sms", "method": "twilio", "settings": { "account_sid": ACCOUNT_SID },
                "credentials": { "auth_token": AUTH_TOKEN } }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["credentials_set"], true);
    assert!(!created.to_string().contains(AUTH_TOKEN), "the auth token is never read back");
}

#[tokio::test]
async fn after_the_window_a_content_template_goes_with_its_variables() {
    let t = twilio_channel("whatsapp").await;
    let (id, key) = t.accepted("whatsapp:+14255550100").await;
    t.clock.advance(std::time::Duration::from_secs(24 * 3_600));
    let path = format!("/v1/conversations/{id}/messages");
    let sid = "HX0123456789abcdef0123456789abcdef";
    let template = json!({ "content_sid": sid, "parameters": ["Ada", "12/1"] });
    let message = t
        .app
        .post_ok(&path, &key, json!({ "text": "Your appointment is 12/1", "template": template }), StatusCode::CREATED)
        .await;
    assert_eq!(message["template"]["content_sid"], sid);
    let sent = until("the template reaches Twilio", || t.fake.sent().pop()).await;
    assert_eq!(sent.get("To"), Some("whatsapp:+14255550100"));
    assert_eq!(sent.get("ContentSid"), Some(sid));
    assert_eq!(sent.get("ContentVariables"), Some(r#"{"1":"Ada","2":"12/1"}"#));
    assert_eq!(sent.get("Body"), None, "a template goes as the template alone");
    assert!(t.fake.refused().is_empty(), "{:?}", t.fake.refused());

    // Meta's naming on a Twilio channel, a malformed SID: refused before anything leaves.
    for (template, field) in [
        (json!({ "name": "order_update", "language": "en_US" }), "template"),
        (json!({ "content_sid": "HX123" }), "template.content_sid"),
        (json!({ "content_sid": sid, "language": "en" }), "template.language"),
        (json!({ "content_sid": sid, "name": "x", "language": "en" }), "template.content_sid"),
    ] {
        let (status, problem) = t.app.post(&path, &key, json!({ "template": template })).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(problem["field"], field, "{template}: {problem}");
    }
    assert_eq!(t.fake.sent().len(), 1);
}

#[tokio::test]
async fn templates_are_for_whatsapp_and_a_channel_sets_its_own_rate() {
    let t = twilio_channel("sms").await;
    let (id, key) = t.accepted(ADA).await;
    let template = json!({ "content_sid": "HX0123456789abcdef0123456789abcdef" });
    let (status, problem) =
        t.app.post(&format!("/v1/conversations/{id}/messages"), &key, json!({ "template": template })).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(problem["field"], "template");
    assert!(problem["detail"].as_str().unwrap().contains("WhatsApp"), "{problem}");

    // A long code sends about one message a second: the channel says so, and the server holds it to that.
    let admin = &t.app.admin_key;
    let path = format!("/v1/channels/{}", t.channel);
    let (status, channel) = t
        .app
        .call(reqwest::Method::PATCH, &path, Some(admin), Some(json!({ "settings": { "sends_per_second": 1 } })))
        .await;
    assert_eq!(status, StatusCode::OK, "{channel}");
    assert_eq!(channel["settings"]["sends_per_second"], 1);
    for bad in [json!(0), json!(10_001), json!("fast")] {
        let (status, problem) = t
            .app
            .call(reqwest::Method::PATCH, &path, Some(admin), Some(json!({ "settings": { "sends_per_second": bad } })))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
    }
    for text in ["one", "two", "three"] {
        assert_eq!(t.reply(&id, &key, text).await.0, StatusCode::CREATED);
    }
    until("the first reply", || (t.fake.sent().len() == 1).then_some(())).await;
    // The next waits for its second: nothing more until the clock moves.
    assert_eq!(t.fake.sent().len(), 1);
    t.clock.advance(std::time::Duration::from_secs(1));
    until("the second reply, a second later", || (t.fake.sent().len() == 2).then_some(())).await;
    t.clock.advance(std::time::Duration::from_secs(1));
    until("the third", || (t.fake.sent().len() == 3).then_some(())).await;
    let bodies: Vec<_> = t.fake.sent().iter().map(|s| s.get("Body").unwrap_or_default().to_string()).collect();
    assert_eq!(bodies, ["one", "two", "three"]);

    // A live chat channel has no provider to hold a rate for.
    let (_, channel) = t.app.get(&path, admin).await;
    let (status, problem) = t
        .app
        .post(
            "/v1/channels",
            admin,
            json!({ "name": "Chat", "channel_type": "live_chat", "workstream_id": channel["workstream_id"],
                    "settings": { "sends_per_second": 5 } }),
        )
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(problem["field"], "settings.sends_per_second");
}

#[tokio::test]
async fn statuses_that_overtake_the_sends_answer_wait_for_it() {
    let t = twilio_channel("sms").await;
    let (id, key) = t.accepted(ADA).await;
    // Twilio calls back within milliseconds of accepting a message, which can be before the send's answer is
    // recorded: here the callbacks for the first message the fake will accept come before it is even written.
    let first = format!("SM{:032x}", 1);
    for status in ["delivered", "sent"] {
        let params = [("MessageSid", first.as_str()), ("AccountSid", ACCOUNT_SID), ("MessageStatus", status)];
        assert_eq!(t.signed("status", &params).await.0, StatusCode::NO_CONTENT);
    }
    assert!(t.events(&id, "message.status_changed", 0).await.is_empty());

    assert_eq!(t.reply(&id, &key, "Your parcel is on its way").await.0, StatusCode::CREATED);
    let sent = until("the reply reaches Twilio", || t.fake.sent().pop()).await;
    assert_eq!(sent.sid, first);
    let delivered = &t.events(&id, "message.delivered", 1).await[0];
    let changes = t.events(&id, "message.status_changed", 2).await;
    let statuses: Vec<_> = changes.iter().map(|e| e["data"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["sent", "delivered"], "in the message's order, whatever the callbacks' order");
    assert_eq!(changes[1]["data"]["message_id"], delivered["data"]["message_id"]);

    // Applied once: the same callback again changes nothing.
    let params = [("MessageSid", first.as_str()), ("AccountSid", ACCOUNT_SID), ("MessageStatus", "delivered")];
    assert_eq!(t.signed("status", &params).await.0, StatusCode::NO_CONTENT);
    assert_eq!(t.events(&id, "message.status_changed", 2).await.len(), 2);
}
