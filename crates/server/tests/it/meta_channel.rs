//! A WhatsApp channel on Meta's Cloud API end to end, against a fake Graph API that checks every call: Meta's
//! webhook handshake, customers' messages signed with the app secret becoming a conversation routed to an agent,
//! their files fetched by media id, the agent's reply sent as the business number, and Meta's statuses put on the
//! reply.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::Timestamp;
use switchboard_server::{Config, clock::ManualClock};

use crate::{
    Options, TestApp, assert_problem,
    routing::{agent, pending_offers},
    support::fake_meta::FakeMeta,
    until,
};

const NUMBER: &str = "106540352242922";
const TOKEN: &str = "EAAG-fake-system-user-token";
const SECRET: &str = "meta-app-secret";
const VERIFY: &str = "contoso-verify-token";
const CUSTOMER: &str = "16505551234";

struct WhatsApp {
    app: TestApp,
    fake: FakeMeta,
    clock: ManualClock,
    queue: String,
    channel: String,
    webhook: String,
}

fn short_retries(config: &mut Config) {
    config.webhooks.retry_schedule_seconds = vec![1, 1];
}

async fn whatsapp(configure: Option<fn(&mut Config)>, max_media_bytes: Option<u64>) -> WhatsApp {
    let fake = FakeMeta::start().await;
    fake.register_number(NUMBER, TOKEN);
    let clock = ManualClock::new(Timestamp::now());
    let mut meta = fake.config();
    if let Some(max) = max_media_bytes {
        meta.max_media_bytes = max;
    }
    let app =
        TestApp::spawn_with(Options { clock: Some(clock.clone()), meta: Some(meta), configure, ..Options::default() })
            .await;
    let key = app.admin_key.clone();
    let queue = app.post_ok("/v1/queues", &key, json!({ "name": "WhatsApp" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            &key,
            json!({ "name": "Phones", "fallback_queue_id": queue["id"], "settings": { "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let account = app
        .post_ok(
            "/v1/messaging-accounts",
            &key,
            json!({ "name": "Contoso WhatsApp", "kind": "whatsapp", "method": "meta",
                "settings": { "phone_number_id": NUMBER },
                "credentials": { "access_token": TOKEN, "app_secret": SECRET, "verify_token": VERIFY } }),
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
            json!({ "name": "WhatsApp support", "workstream_id": ws["id"] }),
            StatusCode::CREATED,
        )
        .await;
    // The callback URL of the app's WhatsApp webhook configuration, as the channel shows it.
    let webhook = channel["messaging_endpoint_url"].as_str().expect("a WhatsApp channel's endpoint").to_string();
    let channel = channel["id"].as_str().unwrap().to_string();
    assert_eq!(webhook, format!("{}/channels/whatsapp/{channel}/webhook", app.base));
    WhatsApp { webhook, queue: queue["id"].as_str().unwrap().to_string(), channel, app, fake, clock }
}

fn text(id: &str, body: &str) -> Vec<u8> {
    FakeMeta::customer_message(
        NUMBER,
        "Sheena Nelson",
        json!({ "from": CUSTOMER, "id": id, "timestamp": "1765069323", "type": "text", "text": { "body": body } }),
    )
}

impl WhatsApp {
    async fn post_to(&self, url: &str, signature: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = self.app.http.post(url).header("content-type", "application/json").body(body);
        if let Some(s) = signature {
            request = request.header("x-hub-signature-256", s);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Posts `body` as Meta does: signed with the app secret.
    async fn notify(&self, body: Vec<u8>) -> StatusCode {
        let signature = FakeMeta::signature(SECRET, &body);
        self.post_to(&self.webhook, Some(&signature), body).await.0
    }

    async fn conversations(&self) -> Vec<Value> {
        let path = format!("/v1/conversations?channel_id={}&limit=100", self.channel);
        let (status, page) = self.app.get(&path, &self.app.admin_key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["data"].as_array().unwrap().clone()
    }

    async fn messages(&self, conversation: &str) -> Vec<Value> {
        let (_, page) = self.app.get(&format!("/v1/conversations/{conversation}/messages"), &self.app.admin_key).await;
        page["data"].as_array().unwrap().clone()
    }

    /// The customer writes, an agent takes the conversation: its id and the agent's key.
    async fn taken(&self) -> (String, String) {
        let (key, agent_id) = agent(&self.app, &[&self.queue], "available").await;
        assert_eq!(self.notify(text("wamid.IN1", "Where is my parcel?")).await, StatusCode::OK);
        let offers = pending_offers(&self.app, &agent_id, &key, 1).await;
        let offer = offers[0]["id"].as_str().unwrap();
        self.app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
        (offers[0]["conversation_id"].as_str().unwrap().to_string(), key)
    }

    async fn reply(&self, conversation: &str, key: &str, text: &str) {
        self.app
            .post_ok(
                &format!("/v1/conversations/{conversation}/messages"),
                key,
                json!({ "text": text }),
                StatusCode::CREATED,
            )
            .await;
    }

    /// The conversation's events of `kind`, once `n` are there.
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
async fn meta_checks_the_webhook_with_the_accounts_verify_token() {
    let w = whatsapp(None, None).await;
    let get = |query: String| {
        let url = format!("{}?{query}", w.webhook);
        let http = w.app.http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, body) = get(format!("hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "1158201444"), "the challenge, as given");
    let (status, body) = get("hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1".into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = get(format!("hub.mode=unsubscribe&hub.verify_token={VERIFY}&hub.challenge=1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(format!("hub.mode=subscribe&hub.verify_token={VERIFY}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no challenge to answer");
    let elsewhere = w.webhook.replace(&w.channel, "01900000-0000-7000-8000-0000000000ff");
    let response = w
        .app
        .http
        .get(format!("{elsewhere}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_whatsapp_customer_reaches_an_agent_and_the_reply_and_its_statuses_go_on_the_message() {
    let w = whatsapp(None, None).await;
    let (id, key) = w.taken().await;
    // Meta sends again what it did not hear back about: stored once.
    assert_eq!(w.notify(text("wamid.IN1", "Where is my parcel?")).await, StatusCode::OK);
    w.fake.add_media("1003383421387256", "image/jpeg", b"\xff\xd8\xff\xe0 a photo of the box");
    let image = FakeMeta::customer_message(
        NUMBER,
        "Sheena Nelson",
        json!({ "from": CUSTOMER, "id": "wamid.IN2", "timestamp": "1765069330", "type": "image",
            "image": { "id": "1003383421387256", "mime_type": "image/jpeg", "sha256": "fake", "caption": "the box" } }),
    );
    assert_eq!(w.notify(image).await, StatusCode::OK);
    let conversations = w.conversations().await;
    assert_eq!(conversations.len(), 1, "one conversation per customer number");
    let contact = conversations[0]["contact_id"].as_str().unwrap_or_else(|| panic!("{}", conversations[0]));
    let (_, contact) = w.app.get(&format!("/v1/contacts/{contact}"), &w.app.admin_key).await;
    assert_eq!(contact["phone"], "+16505551234", "the customer's number, E.164: {contact}");
    assert_eq!(contact["preferred_name"], "Sheena Nelson", "the WhatsApp profile name");
    let messages = w.messages(&id).await;
    let texts: Vec<&Value> = messages.iter().map(|m| &m["text"]).collect();
    assert_eq!(texts, [&json!("Where is my parcel?"), &json!("the box")]);
    let file = &messages[1]["attachments"][0];
    assert_eq!(file["content_type"], "image/jpeg", "{file}");
    assert_eq!(file["size"], 23, "the file Meta served, kept: {file}");
    assert_eq!(w.fake.media_calls(), 1);

    w.reply(&id, &key, "It leaves the warehouse today").await;
    let sent = until("the reply reaches the Graph API", || w.fake.sent().into_iter().next()).await;
    assert_eq!(sent.phone_number_id, NUMBER);
    assert_eq!(
        sent.body,
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER, "type": "text",
            "text": { "preview_url": false, "body": "It leaves the warehouse today" } })
    );
    let accepted = w.events(&id, "message.delivered", 1).await;
    assert_eq!(accepted[0]["data"]["provider_message_id"], sent.id.as_str());
    assert!(accepted[0]["data"].get("status").is_none(), "acceptance: {}", accepted[0]);

    // Each status once; a `delivered` crossing a `read` changes nothing.
    for status in ["sent", "delivered", "read", "read", "delivered"] {
        assert_eq!(w.notify(FakeMeta::status(NUMBER, &sent.id, status, CUSTOMER, Value::Null)).await, StatusCode::OK);
    }
    let receipts = w.events(&id, "message.status_changed", 3).await;
    let statuses: Vec<&Value> = receipts.iter().map(|e| &e["data"]["status"]).collect();
    assert_eq!(statuses, [&json!("sent"), &json!("delivered"), &json!("read")], "each status once");
    assert!(receipts.iter().all(|e| e["data"]["message_id"] == accepted[0]["data"]["message_id"]));
    assert!(receipts.iter().all(|e| e["data"]["provider_message_id"] == sent.id.as_str()));
    assert_eq!(w.events(&id, "message.delivered", 1).await.len(), 1, "acceptance is the only receipt");
}

#[tokio::test]
async fn a_failed_status_puts_metas_error_code_on_the_message() {
    let w = whatsapp(None, None).await;
    let (id, key) = w.taken().await;
    w.reply(&id, &key, "Are you there?").await;
    let sent = until("the reply reaches the Graph API", || w.fake.sent().into_iter().next()).await;
    w.events(&id, "message.delivered", 1).await;
    let errors = json!([{ "code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
        "error_data": { "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number." } }]);
    assert_eq!(w.notify(FakeMeta::status(NUMBER, &sent.id, "failed", CUSTOMER, errors)).await, StatusCode::OK);
    let failed = w.events(&id, "message.delivery_failed", 1).await;
    let error = failed[0]["data"]["error"].as_str().unwrap();
    assert!(error.starts_with("(#131047) Re-engagement message: Message failed"), "{error}");
    let status = &w.events(&id, "message.status_changed", 1).await[0];
    assert_eq!((&status["data"]["status"], &status["data"]["error_code"]), (&json!("failed"), &json!("131047")));
}

#[tokio::test]
async fn bad_signatures_bad_notifications_and_unknown_channels_change_nothing() {
    let w = whatsapp(None, None).await;
    let other_kind = w.app.channel().await;
    let before = w.app.event_count().await;
    let body = text("wamid.X", "hello");
    let (status, problem) = w.post_to(&w.webhook, None, body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let wrong_secret = FakeMeta::signature("another-app-secret", &body);
    let (status, problem) = w.post_to(&w.webhook, Some(&wrong_secret), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let other_body = FakeMeta::signature(SECRET, &text("wamid.Y", "other"));
    let (status, problem) = w.post_to(&w.webhook, Some(&other_body), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, problem) = w.post_to(&w.webhook, Some("sha256=not-hex"), body.clone()).await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthenticated");

    let garbled = b"{\"object\":".to_vec();
    let (status, problem) = w.post_to(&w.webhook, Some(&FakeMeta::signature(SECRET, &garbled)), garbled).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_json");
    let page = br#"{"object":"page","entry":[]}"#.to_vec();
    let (status, problem) = w.post_to(&w.webhook, Some(&FakeMeta::signature(SECRET, &page)), page).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");

    let signed = FakeMeta::signature(SECRET, &body);
    let elsewhere = w.webhook.replace(&w.channel, "01900000-0000-7000-8000-0000000000ff");
    let (status, problem) = w.post_to(&elsewhere, Some(&signed), body.clone()).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "channel_not_found");
    let (status, _) = w.post_to(&w.webhook.replace(&w.channel, &other_kind), Some(&signed), body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a Messaging API channel is not a WhatsApp one");

    assert!(w.conversations().await.is_empty(), "nothing stored");
    assert_eq!(w.app.event_count().await, before);
}

#[tokio::test]
async fn a_file_over_the_limit_is_named_in_the_message_not_kept() {
    let w = whatsapp(None, Some(8)).await;
    w.fake.add_media("big-1", "application/pdf", b"%PDF-1.7 more than eight bytes");
    let document = FakeMeta::customer_message(
        NUMBER,
        "Sheena Nelson",
        json!({ "from": CUSTOMER, "id": "wamid.DOC", "type": "document",
            "document": { "id": "big-1", "mime_type": "application/pdf", "filename": "invoice.pdf" } }),
    );
    assert_eq!(w.notify(document).await, StatusCode::OK);
    let id = w.conversations().await[0]["id"].as_str().unwrap().to_string();
    let messages = w.messages(&id).await;
    assert!(messages[0]["attachments"].as_array().is_none_or(Vec::is_empty), "{}", messages[0]);
    let text = messages[0]["text"].as_str().unwrap();
    assert!(text.contains("document") && text.contains("not kept"), "{text}");
}

#[tokio::test]
async fn a_send_meta_refuses_is_retried_after_its_wait_and_a_final_refusal_names_metas_code() {
    let w = whatsapp(Some(short_retries), None).await;
    let (id, key) = w.taken().await;
    w.fake.fail_next(1, 429, Some(2), 130_429);
    w.fake.fail_next(1, 503, None, 131_000);
    w.reply(&id, &key, "first").await;
    let sent = until("the reply is through after two refusals", || {
        w.clock.advance(std::time::Duration::from_secs(5));
        w.fake.sent().into_iter().next()
    })
    .await;
    assert_eq!(sent.body["text"]["body"], "first");

    // A refusal that does not change: retried on the schedule, then the message says why, in Meta's words.
    w.fake.fail_next(3, 400, None, 131_030);
    w.reply(&id, &key, "second").await;
    until("every attempt at the second reply is refused", || {
        w.clock.advance(std::time::Duration::from_secs(5));
        (w.fake.failures_left() == 0).then_some(())
    })
    .await;
    let failed = w.events(&id, "message.delivery_failed", 1).await;
    let error = failed[0]["data"]["error"].as_str().unwrap();
    assert!(error.contains("(#131030)"), "{error}");
    assert_eq!(failed[0]["data"]["status"], 400);
    assert_eq!(w.fake.sent().len(), 1, "the refused reply never went");
}

#[tokio::test]
async fn an_account_meta_does_not_know_is_invalid_with_metas_reason() {
    let w = whatsapp(None, None).await;
    let key = &w.app.admin_key;
    let account = w
        .app
        .post_ok(
            "/v1/messaging-accounts",
            key,
            json!({ "name": "Wrong token", "kind": "whatsapp", "method": "meta",
                "settings": { "phone_number_id": NUMBER },
                "credentials": { "access_token": "EAAG-expired", "app_secret": SECRET, "verify_token": VERIFY } }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/v1/messaging-accounts/{}/validate", account["id"].as_str().unwrap());
    let validated = w.app.post_ok(&path, key, json!({}), StatusCode::OK).await;
    assert_eq!(validated["validation"]["state"], "invalid", "{validated}");
    assert!(validated["validation"]["reason"].as_str().unwrap().contains("(#190)"), "{validated}");
    let (status, problem) = w
        .app
        .post(
            "/v1/messaging-accounts",
            key,
            json!({ "name": "No secret", "kind": "whatsapp", "method": "meta",
                "settings": { "phone_number_id": NUMBER }, "credentials": { "access_token": TOKEN, "verify_token": VERIFY } }),
        )
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "missing_field");
    assert_eq!(problem["field"], "credentials.app_secret");
}

#[tokio::test]
async fn stop_and_start_on_whatsapp_are_answered_and_keep_the_suppression_list() {
    let w = whatsapp(None, None).await;
    let (id, key) = w.taken().await;

    assert_eq!(w.notify(text("wamid.STOP", "Stop")).await, StatusCode::OK);
    let answer = until("the STOP is answered through the Graph API", || w.fake.sent().into_iter().next()).await;
    assert_eq!(answer.body["to"], CUSTOMER);
    assert!(answer.body["text"]["body"].as_str().unwrap().starts_with("You have been unsubscribed"), "{}", answer.body);
    let (_, list) = w.app.get("/v1/suppressions", &w.app.admin_key).await;
    assert_eq!(list["data"][0]["phone"], format!("+{CUSTOMER}"));
    assert_eq!(list["data"][0]["channel_id"], w.channel.as_str());
    // The agent hears why a reply cannot go, before it is sent.
    let path = format!("/v1/conversations/{id}/messages");
    let (status, problem) = w.app.post(&path, &key, json!({ "text": "Still there?" })).await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "recipient_opted_out");

    assert_eq!(w.notify(text("wamid.START", "start")).await, StatusCode::OK);
    until("the START is answered", || (w.fake.sent().len() == 2).then_some(())).await;
    let (_, list) = w.app.get("/v1/suppressions", &w.app.admin_key).await;
    assert_eq!(list["data"], json!([]));
    w.reply(&id, &key, "Welcome back").await;
    // The keywords are not messages for the agent.
    let texts: Vec<Value> = w.messages(&id).await.iter().map(|m| m["text"].clone()).collect();
    assert_eq!(texts, [json!("Where is my parcel?"), json!("Welcome back")]);
}

#[tokio::test]
async fn a_reply_after_the_24_hour_window_is_refused_until_the_customer_writes_again() {
    let w = whatsapp(None, None).await;
    let (id, key) = w.taken().await;
    let (_, phone) = w.app.get(&format!("/v1/conversations/{id}/phone"), &key).await;
    assert_eq!((phone["phone"].as_str(), phone["window_closed"].as_bool()), (Some("+16505551234"), Some(false)));

    w.clock.advance(std::time::Duration::from_secs(24 * 3_600));
    let path = format!("/v1/conversations/{id}/messages");
    let (status, problem) = w.app.post(&path, &key, json!({ "text": "Still there?" })).await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "whatsapp_window_closed");
    assert!(w.fake.sent().is_empty(), "nothing went to the Graph API");

    assert_eq!(w.notify(text("wamid.IN2", "Yes, here")).await, StatusCode::OK);
    w.reply(&id, &key, "Great").await;
    until("the reply in the new window reaches the Graph API", || w.fake.sent().into_iter().next()).await;
}

#[tokio::test]
async fn after_the_window_an_agent_sends_an_approved_template_and_nothing_else() {
    let w = whatsapp(None, None).await;
    let (id, key) = w.taken().await;
    w.clock.advance(std::time::Duration::from_secs(24 * 3_600));
    let path = format!("/v1/conversations/{id}/messages");

    // Named as Meta names templates, with the body's values: sent as a template message, the text kept for the
    // transcript only.
    let template = json!({ "name": "order_update", "language": "en_US", "parameters": ["Ada", "#1234"] });
    let message = w
        .app
        .post_ok(&path, &key, json!({ "text": "Your order #1234 shipped", "template": template }), StatusCode::CREATED)
        .await;
    assert_eq!(message["template"]["name"], "order_update");
    let sent = until("the template reaches the Graph API", || w.fake.sent().into_iter().next()).await;
    assert_eq!(sent.body["type"], "template", "{}", sent.body);
    assert_eq!(sent.body["to"], CUSTOMER);
    assert_eq!(
        sent.body["template"],
        json!({ "name": "order_update", "language": { "code": "en_US" }, "components": [
            { "type": "body", "parameters": [{ "type": "text", "text": "Ada" }, { "type": "text", "text": "#1234" }] }
        ] })
    );

    // Whole components in the Cloud API's shape, a header and a button among them.
    let components = json!([
        { "type": "header", "parameters": [{ "type": "text", "text": "Order" }] },
        { "type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{ "type": "payload", "payload": "TRACK" }] }
    ]);
    let template = json!({ "name": "order_update", "language": "en", "components": components });
    w.app.post_ok(&path, &key, json!({ "template": template }), StatusCode::CREATED).await;
    let sent = until("the second template", || w.fake.sent().get(1).cloned()).await;
    assert_eq!(sent.body["template"]["components"], components);

    // Each refused with the field named, and nothing more sent.
    for (template, code, field) in [
        (json!({ "content_sid": "HX0123456789abcdef0123456789abcdef" }), "invalid_field", "template"),
        (json!({ "name": "Order Update", "language": "en_US" }), "invalid_field", "template.name"),
        (json!({ "name": "order_update" }), "missing_field", "template.language"),
        (json!({ "name": "order_update", "language": "english" }), "invalid_field", "template.language"),
        (json!({ "language": "en" }), "missing_field", "template.name"),
        (
            json!({ "name": "order_update", "language": "en", "parameters": [" "] }),
            "invalid_field",
            "template.parameters[0]",
        ),
        (
            json!({ "name": "order_update", "language": "en", "components": [{ "type": "button", "parameters": [] }] }),
            "invalid_field",
            "template.components",
        ),
        (
            json!({ "name": "order_update", "language": "en", "components": [{ "type": "footer" }] }),
            "invalid_field",
            "template.components",
        ),
        (json!({ "name": "order_update", "language": "en", "extra": 1 }), "unknown_field", "template"),
    ] {
        let (status, problem) = w.app.post(&path, &key, json!({ "template": template })).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, code);
        if code != "unknown_field" {
            assert_eq!(problem["field"], field, "{template}: {problem}");
        }
    }
    // A customer's side does not send templates.
    let (status, problem) = w
        .app
        .post(
            &path,
            &w.app.admin_key,
            json!({ "sender": { "kind": "customer" }, "template": { "name": "order_update", "language": "en" } }),
        )
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(w.fake.sent().len(), 2, "only the two good templates went out");
}
