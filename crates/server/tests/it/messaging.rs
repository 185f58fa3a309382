//! The compatible Messaging API (`/api/v1.0/consumer`): create, send, read, and every documented limit.

use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::role::Role;

use crate::{TestApp, assert_problem, webhooks::consumer, webhooks::messaging_channel};

struct Setup {
    app: TestApp,
    channel: String,
    key: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let channel = messaging_channel(&app, None, "app").await;
    let (key, _) = app.key(Role::Integration).await;
    Setup { app, channel, key }
}

impl Setup {
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        consumer(&self.app, Method::POST, path, &self.key, &self.channel, Some(body)).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        consumer(&self.app, Method::GET, path, &self.key, &self.channel, None).await
    }

    async fn create(&self, customer: &str) -> String {
        let (status, out) =
            self.post("/conversation/create", json!({ "customercontext": { "customerid": customer } })).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        out["conversationId"].as_str().unwrap().to_string()
    }

    async fn say(&self, id: &str, text: &str) -> i64 {
        let (status, out) = self.post(&format!("/conversation/{id}"), json!({ "type": "message", "text": text })).await;
        assert_eq!(status, StatusCode::OK, "{out}");
        out["messageId"].as_str().unwrap().parse().unwrap()
    }
}

#[tokio::test]
async fn create_honours_the_persistent_key_the_request_id_and_both_paths() {
    let s = setup().await;
    let body = json!({
        "customercontext": { "customerid": "jdoe123", "firstname": "John", "email": "john@example.com" },
        "conversationcontext": { "product": { "isDisplayable": true, "value": "XBox" } },
        "conversationrequestid": "r-1",
        "startmessage": { "message": "Hello", "displayname": "John" },
        "skipdeflectionbot": true
    });
    let (status, first) = s.post("/conversation/create", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["isNew"], true);
    let message_id = first["messageId"].as_str().unwrap();
    assert_eq!(message_id.len(), 13, "epoch milliseconds");
    // The same request id: the first answer, nothing new.
    let events = s.app.event_count().await;
    let (_, again) = s.post("/conversation/create", body.clone()).await;
    assert_eq!(again, first);
    assert_eq!(s.app.event_count().await, events);
    // Another request of the same customer on the other spelling of the path: the active conversation, no message.
    let mut other = body.clone();
    other["conversationrequestid"] = json!("r-2");
    let (status, resumed) = s.post("/conversations/create", other).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((resumed["isNew"].clone(), &resumed["conversationId"]), (json!(false), &first["conversationId"]));
    assert!(resumed.get("messageId").is_none(), "{resumed}");
    let id = first["conversationId"].as_str().unwrap();
    let (_, messages) = s.get(&format!("/conversation/{id}/messages")).await;
    assert_eq!(messages["messages"].as_array().unwrap().len(), 1);
    let (_, context) = s.get(&format!("/conversation/{id}/context")).await;
    assert_eq!(context, json!([{ "name": "product", "value": "XBox", "isDisplayable": true }]));
    // One contact holds the customer, found by the email given.
    let (_, contacts) = s.app.get("/v1/contacts?email=john@example.com", &s.app.admin_key).await;
    assert_eq!(contacts["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn activities_send_messages_update_context_and_end_the_conversation() {
    let s = setup().await;
    let id = s.create("c-1").await;
    let mut last = 0;
    for text in ["one", "two", "three"] {
        let message_id = s.say(&id, text).await;
        assert!(message_id > last, "message ids strictly increase");
        last = message_id;
    }
    // An automated message, an embedded file and a linked one.
    let png = STANDARD.encode([0x89, b'P', b'N', b'G', 1, 2, 3, 4]);
    let (status, out) = s
        .post(
            &format!("/conversation/{id}"),
            json!({
                "type": "message", "id": "act-1", "channelId": s.channel, "conversation": { "id": id },
                "from": { "id": "jdoe", "name": "John" }, "text": "see attached",
                "attachments": [
                    { "contentType": "image/png", "contentUrl": png, "name": "photo.png" },
                    { "contentType": "application/pdf", "contentUrl": "https://files.example.com/a.pdf", "name": "a.pdf" }
                ],
                "channelData": { "messagingapi-oc": { "type": "AutomatedMessage" } },
                "timestamp": "2026-11-21T10:00:00Z", "locale": "en-US"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    // The same activity id again: the first answer, no second message.
    let (_, replay) =
        s.post(&format!("/conversation/{id}"), json!({ "type": "message", "id": "act-1", "text": "changed" })).await;
    assert_eq!(replay, out);
    let (_, page) = s.get(&format!("/conversation/{id}/messages")).await;
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{page}");
    let last = &messages[3];
    assert_eq!(last["channelData"]["messagingapi-oc"]["type"], "AutomatedMessage");
    assert_eq!(last["from"]["name"], "John");
    let kept = last["attachments"][0]["contentUrl"].as_str().unwrap();
    assert!(kept.contains("/v1/attachments/") && kept.contains("signature="), "{kept}");
    assert_eq!(last["attachments"][1]["contentUrl"], "https://files.example.com/a.pdf");
    // The signed link works without credentials, and not once tampered with.
    let file = reqwest::get(kept).await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()["content-type"], "image/png");
    assert_eq!(file.bytes().await.unwrap().as_ref(), STANDARD.decode(&png).unwrap());
    let tampered = kept.replace("signature=", "signature=0");
    assert_eq!(reqwest::get(tampered).await.unwrap().status(), StatusCode::NOT_FOUND);

    // Typing is accepted and stores nothing.
    let events = s.app.event_count().await;
    let (status, typing) =
        s.post(&format!("/conversation/{id}"), json!({ "type": "typing", "from": { "name": "J" } })).await;
    assert_eq!((status, typing), (StatusCode::OK, json!({})));
    assert_eq!(s.app.event_count().await, events);

    // A custom event updates context variables; it is not a message.
    let value = json!({ "stringVar": "Hello", "numberVar": -10.5, "boolVar": true,
        "displayableVar": { "isDisplayable": true, "value": "x" } })
    .to_string();
    let (status, _) = s
        .post(
            &format!("/conversation/{id}"),
            json!({ "type": "event", "name": "TestEvent", "conversation": { "id": id },
                "channelData": { "customEvent": true, "customEventName": "TestEvent", "customEventValue": value } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, context) = s.get(&format!("/conversation/{id}/context")).await;
    let by_name = |n: &str| context.as_array().unwrap().iter().find(|v| v["name"] == n).cloned().unwrap();
    assert_eq!(by_name("numberVar")["value"], -10.5);
    assert_eq!(by_name("boolVar")["value"], "true");
    assert_eq!(by_name("displayableVar")["isDisplayable"], true);
    let (_, page) = s.get(&format!("/conversation/{id}/messages")).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 4);

    // The customer ends it (Open → Closed); ending it again is refused.
    let (status, _) = s.post(&format!("/conversation/{id}"), json!({ "type": "endOfConversation" })).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.post(&format!("/conversation/{id}"), json!({ "type": "endOfConversation" })).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "conversation_closed");
    let (_, list) = s.get("/conversations").await;
    assert!(list["conversations"].as_array().unwrap().is_empty(), "closed conversations are not active: {list}");
}

#[tokio::test]
async fn reads_page_by_size_and_continuation_token() {
    let s = setup().await;
    let id = s.create("c-1").await;
    for i in 0..5 {
        s.say(&id, &format!("m{i}")).await;
    }
    let (_, first) = s.get(&format!("/conversation/{id}/messages?PageSize=2")).await;
    let texts = |p: &Value| {
        p["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(texts(&first), ["m0", "m1"]);
    let token = first["continuationToken"].as_str().unwrap();
    let (_, second) =
        s.get(&format!("/conversation/{id}/messages?pagesize=2&ContinuationToken={}", urlencode(token))).await;
    assert_eq!(texts(&second), ["m2", "m3"]);
    let start = second["messages"][1]["timestamp"].as_str().unwrap();
    let (_, from) = s.get(&format!("/conversation/{id}/messages?StartTimeStamp={}", urlencode(start))).await;
    assert_eq!(texts(&from), ["m3", "m4"]);
    assert!(from["continuationToken"].is_null());

    for c in ["c-2", "c-3"] {
        s.create(c).await;
    }
    let (_, page) = s.get("/conversations?PageSize=2").await;
    assert_eq!(page["conversations"].as_array().unwrap().len(), 2);
    let token = page["continuationtoken"].as_str().unwrap();
    let (_, rest) = s.get(&format!("/conversations?PageSize=2&ContinuationToken={token}")).await;
    assert_eq!(rest["conversations"].as_array().unwrap().len(), 1);
    assert!(rest["continuationtoken"].is_null());
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn bad_requests_get_a_stable_code_and_change_nothing() {
    let s = setup().await;
    let id = s.create("c-1").await;
    let other_channel = messaging_channel(&s.app, None, "other").await;
    let other_conversation = {
        let (_, out) = consumer(
            &s.app,
            Method::POST,
            "/conversation/create",
            &s.key,
            &other_channel,
            Some(json!({ "customercontext": { "customerid": "x" } })),
        )
        .await;
        out["conversationId"].as_str().unwrap().to_string()
    };
    let too_many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("v{i}"), json!({ "isDisplayable": false, "value": "x" }))).collect();
    let path = format!("/conversation/{id}");
    let cases: Vec<(&str, String, Value, StatusCode, &str)> = vec![
        ("unknown type", path.clone(), json!({ "type": "poke" }), StatusCode::BAD_REQUEST, "unsupported_activity"),
        (
            "event that is not custom",
            path.clone(),
            json!({ "type": "event", "name": "Whatever" }),
            StatusCode::BAD_REQUEST,
            "unsupported_activity",
        ),
        (
            "customEventValue not a string",
            path.clone(),
            json!({ "type": "event", "channelData": { "customEvent": true, "customEventName": "E", "customEventValue": {} } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "channelId not the header's",
            path.clone(),
            json!({ "type": "message", "text": "x", "channelId": other_channel }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        ("empty message", path.clone(), json!({ "type": "message" }), StatusCode::BAD_REQUEST, "empty_message"),
        (
            "text over 6,000",
            path.clone(),
            json!({ "type": "message", "text": "x".repeat(6_001) }),
            StatusCode::BAD_REQUEST,
            "message_too_long",
        ),
        (
            "from.name over 256",
            path.clone(),
            json!({ "type": "message", "text": "x", "from": { "name": "n".repeat(257) } }),
            StatusCode::BAD_REQUEST,
            "field_too_long",
        ),
        (
            "malformed base64",
            path.clone(),
            json!({ "type": "message", "attachments": [{ "contentType": "image/png", "contentUrl": "%%%not base64" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "a type the workstream refuses",
            path.clone(),
            json!({ "type": "message", "attachments": [{ "contentType": "application/x-msdownload", "contentUrl": "TVqQAAMAAAAEAAAA" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
        (
            "101 context variables",
            "/conversation/create".into(),
            json!({ "customercontext": { "customerid": "c-9" }, "conversationcontext": too_many }),
            StatusCode::BAD_REQUEST,
            "too_many_context_variables",
        ),
        (
            "customer id over 200",
            "/conversation/create".into(),
            json!({ "customercontext": { "customerid": "c".repeat(201) } }),
            StatusCode::BAD_REQUEST,
            "field_too_long",
        ),
        (
            "another channel's conversation",
            format!("/conversation/{other_conversation}"),
            json!({ "type": "message", "text": "x" }),
            StatusCode::NOT_FOUND,
            "conversation_not_found",
        ),
        (
            "no such conversation",
            "/conversation/not-a-guid".into(),
            json!({ "type": "message", "text": "x" }),
            StatusCode::NOT_FOUND,
            "conversation_not_found",
        ),
    ];
    let events = s.app.event_count().await;
    for (what, path, body, status, code) in cases {
        let (got, out) = s.post(&path, body).await;
        assert_eq!((got, out["code"].as_str()), (status, Some(code)), "{what}: {out}");
    }
    for (what, path, code) in [
        ("page size over 100", format!("/conversation/{id}/messages?PageSize=101"), "invalid_query"),
        ("bad start time", format!("/conversation/{id}/messages?StartTimeStamp=yesterday"), "invalid_query"),
        ("page size over 250", "/conversations?PageSize=251".to_string(), "invalid_query"),
        ("bad token", "/conversations?ContinuationToken=zzz".to_string(), "invalid_cursor"),
    ] {
        let (got, out) = s.get(&path).await;
        assert_eq!((got, out["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{what}: {out}");
    }
    assert_eq!(s.app.event_count().await, events, "nothing changed");

    // Headers: a missing channel, another tenant's channel, another organization.
    let url = format!("{}/api/v1.0/consumer/conversation/create", s.app.base);
    let body = json!({ "customercontext": { "customerid": "h" } });
    let (status, out) = send(s.app.http.post(&url).bearer_auth(&s.key).json(&body)).await;
    assert_problem(status, &out, StatusCode::BAD_REQUEST, "missing_field");
    let other = TestApp::spawn().await;
    let foreign = messaging_channel(&other, None, "x").await;
    let (status, out) =
        send(s.app.http.post(&url).bearer_auth(&s.key).header("channel-id", &foreign).json(&body)).await;
    assert_problem(status, &out, StatusCode::NOT_FOUND, "channel_not_found");
    let (status, out) = send(
        s.app
            .http
            .post(&url)
            .bearer_auth(&s.key)
            .header("channel-id", &s.channel)
            .header("organization-id", &other.org_id)
            .json(&body),
    )
    .await;
    assert_problem(status, &out, StatusCode::NOT_FOUND, "organization_not_found");
    // An agent's key may not act as the integration.
    let (agent, _) = s.app.key(Role::Agent).await;
    let (status, out) =
        send(s.app.http.post(&url).bearer_auth(&agent).header("channel-id", &s.channel).json(&body)).await;
    assert_problem(status, &out, StatusCode::FORBIDDEN, "forbidden");
    // A body over the limit.
    let huge = json!({ "type": "message", "text": "x", "pad": "y".repeat(25 << 20) });
    let (status, out) = s.post(&path_of(&id), huge).await;
    assert_problem(status, &out, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

fn path_of(id: &str) -> String {
    format!("/conversation/{id}")
}

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = req.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_authenticated_customer_is_who_their_token_says() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let app = TestApp::spawn().await;
    let key = p256::ecdsa::SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let public = key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
    let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let queue = app.post_ok("/v1/queues", &app.admin_key, json!({ "name": "Q" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            &app.admin_key,
            json!({ "name": "W", "fallback_queue_id": queue["id"] }),
            StatusCode::CREATED,
        )
        .await;
    let channel = app
        .post_ok(
            "/v1/channels",
            &app.admin_key,
            json!({ "name": "C", "channel_type": "messaging_api", "workstream_id": ws["id"],
                "settings": { "customer_token": { "public_key_pem": public, "issuer": "https://shop.example" } } }),
            StatusCode::CREATED,
        )
        .await;
    let channel = channel["id"].as_str().unwrap().to_string();
    let (integration, _) = app.key(Role::Integration).await;
    let now = chrono::Utc::now().timestamp();
    let token = |iss: &str, exp: i64| {
        let claims = json!({ "sub": "customer-42", "iss": iss, "exp": exp, "iat": now });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_pem(private.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let url = format!("{}/api/v1.0/consumer/conversation/create", app.base);
    let body = json!({ "customercontext": { "customerid": "someone-else" } });
    let create = |token: String| {
        app.http
            .post(&url)
            .bearer_auth(&integration)
            .header("channel-id", &channel)
            .header("authenticatedusertoken", token)
            .json(&body)
    };
    let (status, out) = send(create(token("https://shop.example", now + 600))).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let (_, contacts) = app.get("/v1/contacts?customer_id=customer-42", &app.admin_key).await;
    assert_eq!(contacts["data"].as_array().unwrap().len(), 1, "the token's subject is the customer");
    for bad in [token("https://evil.example", now + 600), token("https://shop.example", now - 600), "not.a.jwt".into()]
    {
        let (status, out) = send(create(bad)).await;
        assert_problem(status, &out, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}

impl Setup {
    /// A POST with an `Idempotency-Key`: the status, whether it was a replay, and the body.
    async fn post_keyed(&self, path: &str, key: &str, body: Value) -> (StatusCode, bool, Value) {
        let response = self
            .app
            .http
            .post(format!("{}/api/v1.0/consumer{path}", self.app.base))
            .bearer_auth(&self.key)
            .header("channel-id", &self.channel)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, replayed) = (response.status(), response.headers().contains_key("idempotent-replayed"));
        (status, replayed, response.json().await.unwrap_or(Value::Null))
    }

    async fn transcript_len(&self, id: &str) -> usize {
        let (_, page) = self.get(&format!("/conversation/{id}/messages")).await;
        page["messages"].as_array().unwrap().len()
    }
}

#[tokio::test]
async fn idempotency_keys_on_create_replay_the_first_answer_and_refuse_another_body() {
    let s = setup().await;
    let body = json!({ "customercontext": { "customerid": "k-1" }, "startmessage": { "message": "Hi" } });
    let (status, replayed, first) = s.post_keyed("/conversation/create", "create-1", body.clone()).await;
    assert_eq!((status, replayed, &first["isNew"]), (StatusCode::OK, false, &json!(true)), "{first}");
    let events = s.app.event_count().await;
    // A retry, on either spelling of the path: the first answer, marked as a replay, nothing new.
    for path in ["/conversation/create", "/conversations/create"] {
        let (status, replayed, again) = s.post_keyed(path, "create-1", body.clone()).await;
        assert_eq!((status, replayed, &again), (StatusCode::OK, true, &first));
    }
    // The same key with another body (another customer) is refused, as on /v1, and creates nothing.
    let other = json!({ "customercontext": { "customerid": "k-2" }, "startmessage": { "message": "Hi" } });
    let (status, _, out) = s.post_keyed("/conversation/create", "create-1", other.clone()).await;
    assert_problem(status, &out, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(s.app.event_count().await, events);
    // A new key whose body repeats a request id seen before gets that request's answer, and keeps it.
    let with_id = json!({ "customercontext": { "customerid": "k-3" }, "conversationrequestid": "r-9" });
    let (_, _, by_id) = s.post_keyed("/conversation/create", "create-2", with_id.clone()).await;
    let events = s.app.event_count().await;
    let (status, replayed, again) = s.post_keyed("/conversation/create", "create-3", with_id.clone()).await;
    assert_eq!((status, replayed, &again), (StatusCode::OK, true, &by_id));
    let mut changed = with_id.clone();
    changed["customercontext"]["firstname"] = json!("Kim");
    let (status, _, out) = s.post_keyed("/conversation/create", "create-3", changed).await;
    assert_problem(status, &out, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(s.app.event_count().await, events);
}

#[tokio::test]
async fn idempotency_keys_on_activities_store_one_message_and_refuse_another_body() {
    let s = setup().await;
    let id = s.create("k-1").await;
    let path = path_of(&id);
    let (status, replayed, first) = s.post_keyed(&path, "send-1", json!({ "type": "message", "text": "one" })).await;
    assert_eq!((status, replayed), (StatusCode::OK, false), "{first}");
    let (status, replayed, again) = s.post_keyed(&path, "send-1", json!({ "type": "message", "text": "one" })).await;
    assert_eq!((status, replayed, &again), (StatusCode::OK, true, &first));
    // Two bodies, one key: the second is refused and stores nothing.
    let (status, _, out) = s.post_keyed(&path, "send-1", json!({ "type": "message", "text": "two" })).await;
    assert_problem(status, &out, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(s.transcript_len(&id).await, 1);
    // The same key on another conversation is another request.
    let other = s.create("k-2").await;
    let (status, _, out) = s.post_keyed(&path_of(&other), "send-1", json!({ "type": "message", "text": "one" })).await;
    assert_problem(status, &out, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(s.transcript_len(&other).await, 0);

    // Custom events and the end take keys too.
    let value = json!({ "v": "1" }).to_string();
    let event = json!({ "type": "event", "channelData": { "customEvent": true, "customEventName": "E", "customEventValue": value } });
    let (status, _, first) = s.post_keyed(&path, "event-1", event.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let events = s.app.event_count().await;
    let (_, replayed, again) = s.post_keyed(&path, "event-1", event).await;
    assert_eq!((replayed, &again), (true, &first));
    assert_eq!(s.app.event_count().await, events);
    let end = json!({ "type": "endOfConversation" });
    let (status, _, first) = s.post_keyed(&path, "end-1", end.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, replayed, again) = s.post_keyed(&path, "end-1", end).await;
    assert_eq!((status, replayed, &again), (StatusCode::OK, true, &first), "a retried end is not a 409");
}

#[tokio::test]
async fn a_bad_idempotency_key_is_refused_and_changes_nothing() {
    let s = setup().await;
    let id = s.create("k-1").await;
    let events = s.app.event_count().await;
    let long = "k".repeat(256);
    for key in ["", "with space", "naïve", long.as_str()] {
        let (status, _, out) = s.post_keyed("/conversation/create", key, json!({})).await;
        assert_problem(status, &out, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
        let (status, _, out) = s.post_keyed(&path_of(&id), key, json!({ "type": "message", "text": "x" })).await;
        assert_problem(status, &out, StatusCode::BAD_REQUEST, "invalid_idempotency_key");
    }
    assert_eq!(s.app.event_count().await, events);
}

/// The README's walk-through: a customer's conversation started with the native API is the one the Messaging API
/// resumes for that customer; as documented, its start message is not stored there, and an activity is.
#[tokio::test]
async fn a_conversation_started_natively_is_resumed_by_the_messaging_api_as_documented() {
    let s = setup().await;
    let native = s
        .app
        .post_ok(
            "/v1/conversations",
            &s.key,
            json!({ "channel_id": s.channel, "customer": { "customer_id": "jdoe", "first_name": "John" },
                    "start_message": { "text": "My order is late" } }),
            StatusCode::CREATED,
        )
        .await;
    let id = native["conversation"]["id"].as_str().unwrap();
    let body = json!({ "customercontext": { "customerid": "jdoe" }, "startmessage": { "message": "Hello" } });
    let (status, resumed) = s.post("/conversation/create", body).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed, json!({ "conversationId": id, "isNew": false }));
    s.say(id, "Any news?").await;
    let (_, page) = s.get(&format!("/conversation/{id}/messages")).await;
    let said: Vec<(&str, &str)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["from"]["name"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    assert_eq!(said, [("John", "My order is late"), ("John", "Any news?")]);
}
