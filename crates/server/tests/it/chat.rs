//! The customer chat of live_chat channels (`/v1/chat/…`, the page `/chat/{channel}`): a customer with no account
//! starts a chat with the pre-chat answers and gets a chat token for that one conversation, writes, reads, uploads,
//! waits in the queue, ends it and downloads its transcript; the token opens nothing else, expires, and works only
//! from the origins the channel allows.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_server::clock::ManualClock;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::{Options, TestApp, assert_problem};

const SHOP: &str = "https://shop.example";
const WAIT: Duration = Duration::from_secs(30);

/// A routed workstream whose fallback queue is `queue`, and a live_chat channel on it that `shop.example` may
/// embed, asking a name (required), an email, a subject and an order number; returns (channel id, workstream id).
async fn chat_channel(app: &TestApp) -> (String, String) {
    let queue = app.post_ok("/v1/queues", &app.admin_key, json!({ "name": "Chat" }), StatusCode::CREATED).await;
    let workstream = app
        .post_ok(
            "/v1/workstreams",
            &app.admin_key,
            json!({ "name": "Chat", "fallback_queue_id": queue["id"], "settings": { "routing": { "enabled": true } } }),
            StatusCode::CREATED,
        )
        .await;
    let channel = app
        .post_ok(
            "/v1/channels",
            &app.admin_key,
            json!({
                "name": "Website chat", "channel_type": "live_chat", "workstream_id": workstream["id"],
                "settings": {
                    "allowed_origins": [SHOP],
                    "pre_chat_fields": [
                        { "key": "name", "label": "Your name", "required": true },
                        { "key": "email", "label": "Email" },
                        { "key": "subject", "label": "Topic" },
                        { "key": "order", "label": "Order number" },
                    ],
                },
            }),
            StatusCode::CREATED,
        )
        .await;
    (channel["id"].as_str().unwrap().to_string(), workstream["id"].as_str().unwrap().to_string())
}

/// A request with a chat token (if any) and an `Origin` (if any); returns status, headers and body text.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    origin: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = app.http.request(method, format!("{}{path}", app.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

async fn json_of(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, _, text) = send(app, method, path, token, Some(SHOP), body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A new agent, given the chat by an admin; returns the agent's key and id.
async fn agent_accepts(app: &TestApp, id: &str) -> (String, Option<String>) {
    let (agent_key, agent_id) = app.key(Role::Agent).await;
    let body = json!({ "agent_id": agent_id });
    app.post_ok(&format!("/v1/conversations/{id}/accept"), &app.admin_key, body, StatusCode::OK).await;
    (agent_key, agent_id)
}

/// Starts a chat from the shop's page; returns (conversation id, token).
async fn start(app: &TestApp, channel: &str, answers: Value) -> (String, String) {
    let path = format!("/v1/chat/{channel}/conversations");
    let (status, body) = json_of(app, Method::POST, &path, None, Some(json!({ "answers": answers }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["conversation_id"].as_str().unwrap().to_string(), body["token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_customer_starts_a_chat_writes_reads_and_downloads_the_transcript_as_written() {
    let app = TestApp::spawn().await;
    let (channel, _) = chat_channel(&app).await;
    let (status, form) = json_of(&app, Method::GET, &format!("/v1/chat/{channel}"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert_eq!(form["pre_chat_fields"][0]["key"], "name");
    assert_eq!(form["pre_chat_fields"][0]["required"], true);

    let name = "<b>Grace</b><script>alert(1)</script>";
    let answers =
        json!({ "name": name, "email": "grace@example.com", "subject": "Late <i>order</i>", "order": "42 & <7>" });
    let (id, token) = start(&app, &channel, answers).await;

    // The conversation is an ordinary one: agents and integrations see it, its customer and context as given.
    let (_, conversation) = app.get(&format!("/v1/conversations/{id}"), &app.admin_key).await;
    assert_eq!(conversation["state"], "open");
    assert_eq!(conversation["subject"], "Late <i>order</i>");
    let (_, contact) =
        app.get(&format!("/v1/contacts/{}", conversation["contact_id"].as_str().unwrap()), &app.admin_key).await;
    assert_eq!(contact["preferred_name"], name);
    assert_eq!(contact["email"], "grace@example.com");
    let (_, context) = app.get(&format!("/v1/conversations/{id}/context"), &app.admin_key).await;
    assert_eq!(context[0]["name"], "order");
    assert_eq!(context[0]["value"], "42 & <7>");
    assert_eq!(context[0]["displayable"], true);

    // Markup a customer writes is kept and given back as the text it is.
    let text = "<img src=x onerror=alert(1)> & <script>steal()</script>";
    let messages = format!("/v1/chat/conversations/{id}/messages");
    let (status, sent) = json_of(&app, Method::POST, &messages, Some(&token), Some(json!({ "text": text }))).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["text"], text);
    assert_eq!(sent["sender"]["kind"], "customer");

    // An agent's reply reaches the customer's list, without the agent's id.
    let (agent_key, _) = agent_accepts(&app, &id).await;
    app.post_ok(
        &format!("/v1/conversations/{id}/messages"),
        &agent_key,
        json!({ "text": "Hello <Grace>" }),
        StatusCode::CREATED,
    )
    .await;
    let (status, page) = json_of(&app, Method::GET, &messages, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Routing's own word to a waiting customer (their place in the queue) is among them.
    let people: Vec<&Value> =
        page["data"].as_array().unwrap().iter().filter(|m| m["sender"]["kind"] != "system").collect();
    let texts: Vec<&str> = people.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, [text, "Hello <Grace>"]);
    let reply = people[1];
    assert_eq!(reply["sender"]["kind"], "agent");
    assert!(reply["sender"].get("id").is_none(), "{reply}");
    let (_, agents_view) = app.get(&format!("/v1/conversations/{id}/messages"), &agent_key).await;
    assert!(agents_view["data"].as_array().unwrap().iter().any(|m| m["text"] == text), "{agents_view}");

    // Paged: one at a time, by the cursor.
    let mut paged = Vec::new();
    let mut query = "?limit=1".to_string();
    loop {
        let (_, one) = json_of(&app, Method::GET, &format!("{messages}{query}"), Some(&token), None).await;
        assert_eq!(one["data"].as_array().unwrap().len(), 1, "{one}");
        paged.push(one["data"][0]["sequence"].clone());
        match one["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    let all: Vec<Value> = page["data"].as_array().unwrap().iter().map(|m| m["sequence"].clone()).collect();
    assert_eq!(paged, all);

    let (status, headers, transcript) =
        send(&app, Method::GET, &format!("/v1/chat/conversations/{id}/transcript"), Some(&token), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert!(transcript.contains(&format!("{name}: {text}")), "{transcript}");
    assert!(transcript.contains("Hello <Grace>"), "{transcript}");

    // The customer ends it: with an agent, it goes to wrap-up, and nothing more can be sent.
    let (status, ended) =
        json_of(&app, Method::POST, &format!("/v1/chat/conversations/{id}/end"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["state"], "wrap_up");
    let (status, state) = json_of(&app, Method::GET, &format!("/v1/chat/conversations/{id}"), Some(&token), None).await;
    assert_eq!((status, &state["state"]), (StatusCode::OK, &json!("wrap_up")));
}

#[tokio::test]
async fn the_token_opens_its_own_chat_only_and_nothing_of_the_api() {
    let app = TestApp::spawn().await;
    let (channel, _) = chat_channel(&app).await;
    let (mine, token) = start(&app, &channel, json!({ "name": "Ada" })).await;
    let (theirs, _) = start(&app, &channel, json!({ "name": "Bo" })).await;
    assert_ne!(mine, theirs);

    for path in [
        format!("/v1/chat/conversations/{theirs}/messages"),
        format!("/v1/chat/conversations/{theirs}"),
        format!("/v1/chat/conversations/{theirs}/transcript"),
        format!("/v1/chat/conversations/{theirs}/queue-position"),
        "/v1/chat/conversations/not-an-id/messages".to_string(),
    ] {
        let (status, body) = json_of(&app, Method::GET, &path, Some(&token), None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    }
    let (status, body) = json_of(
        &app,
        Method::POST,
        &format!("/v1/chat/conversations/{theirs}/messages"),
        Some(&token),
        Some(json!({ "text": "hi" })),
    )
    .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    let (_, theirs_now) = app.get(&format!("/v1/conversations/{theirs}/messages"), &app.admin_key).await;
    let customers = theirs_now["data"].as_array().unwrap().iter().filter(|m| m["sender"]["kind"] == "customer").count();
    assert_eq!(customers, 0, "nothing was written to the other chat");

    // The chat token is not an API credential, and an API key is not a chat token.
    let (status, body) = app.get(&format!("/v1/conversations/{mine}"), &token).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (status, body) =
        json_of(&app, Method::GET, &format!("/v1/chat/conversations/{mine}"), Some(&app.admin_key), None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");

    // A token whose claims were changed (another conversation) fails its signature; so does garbage, and none.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap().replace(&mine, &theirs);
    parts[1] = URL_SAFE_NO_PAD.encode(claims);
    let forged = parts.join(".");
    for bad in [Some(forged.as_str()), Some("not.a.token"), None] {
        let (status, body) = json_of(&app, Method::GET, &format!("/v1/chat/conversations/{theirs}"), bad, None).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}

#[tokio::test]
async fn a_chat_token_expires_after_a_day_on_the_server_clock() {
    let clock = ManualClock::new(Timestamp::parse_rfc3339("2031-02-03T04:05:06Z").unwrap());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Options::default() }).await;
    let (channel, _) = chat_channel(&app).await;
    let (id, token) = start(&app, &channel, json!({ "name": "Ada" })).await;
    let path = format!("/v1/chat/conversations/{id}");
    clock.advance(Duration::from_secs(23 * 3600));
    let (status, _) = json_of(&app, Method::GET, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    clock.advance(Duration::from_secs(3600));
    let (status, body) = json_of(&app, Method::GET, &path, Some(&token), None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "token_expired");
}

#[tokio::test]
async fn only_this_site_and_the_channels_allowed_origins_may_call() {
    let app = TestApp::spawn().await;
    let (channel, _) = chat_channel(&app).await;
    let start_path = format!("/v1/chat/{channel}/conversations");
    let body = json!({ "answers": { "name": "Ada" } });
    let (status, _, text) =
        send(&app, Method::POST, &start_path, None, Some("https://evil.example"), Some(body.clone())).await;
    assert_problem(status, &serde_json::from_str(&text).unwrap(), StatusCode::FORBIDDEN, "origin_not_allowed");
    let (status, _, _) = send(&app, Method::POST, &start_path, None, Some(&app.base), Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "the chat page itself is served from this site");
    let (id, token) = start(&app, &channel, json!({ "name": "Ada" })).await;
    let messages = format!("/v1/chat/conversations/{id}/messages");
    let (status, _, text) = send(
        &app,
        Method::POST,
        &messages,
        Some(&token),
        Some("https://shop.example.evil.example"),
        Some(json!({ "text": "x" })),
    )
    .await;
    assert_problem(status, &serde_json::from_str(&text).unwrap(), StatusCode::FORBIDDEN, "origin_not_allowed");
    let (status, _) = app.get(&format!("/v1/conversations/{id}/messages"), &app.admin_key).await;
    assert_eq!(status, StatusCode::OK);

    // The page: framed only by this site and the allowed origins; no page for any other channel.
    let (status, headers, html) = send(&app, Method::GET, &format!("/chat/{channel}"), None, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("/assets/workspace/chat.js"), "{html}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains(&format!("frame-ancestors 'self' {SHOP};")), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    let messaging = app.channel().await;
    for other in [messaging.as_str(), "0190d9a4-0000-7000-8000-000000000000", "nonsense"] {
        let (status, headers, _) = send(&app, Method::GET, &format!("/chat/{other}"), None, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{other}");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        let (status, body) = json_of(&app, Method::GET, &format!("/v1/chat/{other}"), None, None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "channel_not_found");
    }
    let (status, headers, script) = send(&app, Method::GET, "/chat/embed.js", None, None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/javascript");
    assert!(script.contains("data-channel"));
}

#[tokio::test]
async fn pre_chat_answers_are_checked_and_a_refused_start_creates_nothing() {
    let app = TestApp::spawn().await;
    let (channel, _) = chat_channel(&app).await;
    let path = format!("/v1/chat/{channel}/conversations");
    let before = app.event_count().await;
    for (answers, code, field) in [
        (json!({}), "missing_field", "answers.name"),
        (json!({ "name": "   " }), "missing_field", "answers.name"),
        (json!({ "name": "Ada", "email": "not an email" }), "invalid_field", "answers.email"),
        (json!({ "name": "Ada", "shoe_size": "42" }), "unknown_field", "answers.shoe_size"),
        (json!({ "name": "x".repeat(201) }), "field_too_long", "answers.name"),
    ] {
        let (status, body) = json_of(&app, Method::POST, &path, None, Some(json!({ "answers": answers }))).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, code);
        assert_eq!(body["field"], field, "{body}");
    }
    assert_eq!(app.event_count().await, before, "no conversation or contact was made");
}

#[tokio::test]
async fn a_customer_sends_files_the_workstream_accepts_only() {
    let app = TestApp::spawn().await;
    let (channel, workstream) = chat_channel(&app).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/workstreams/{workstream}"),
            Some(&app.admin_key),
            Some(json!({ "settings": { "attachments": { "max_bytes": 16, "allowed_types": ["image/png"] } } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (id, token) = start(&app, &channel, json!({ "name": "Ada" })).await;
    let upload = |content_type: &'static str, bytes: Vec<u8>| {
        let req = app
            .http
            .post(format!("{}/v1/chat/conversations/{id}/attachments?name=photo%20%3Cb%3E.png", app.base))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(bytes);
        async move {
            let response = req.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = upload("image/png", vec![7; 17]).await;
    assert_problem(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (status, body) = upload("text/html", b"<b>x</b>".to_vec()).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, body) = upload("image/png", Vec::new()).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
    let (_, listed) =
        json_of(&app, Method::GET, &format!("/v1/chat/conversations/{id}/messages"), Some(&token), None).await;
    let sent = listed["data"].as_array().unwrap().iter().filter(|m| m["sender"]["kind"] == "customer").count();
    assert_eq!(sent, 0, "a refused file sends nothing");

    let (status, message) = upload("image/png", vec![1, 2, 3, 4]).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["name"], "photo <b>.png");
    assert_eq!(attachment["content_type"], "image/png");
    let link = attachment["url"].as_str().unwrap();
    assert!(link.contains("signature="), "{link}");
    let file = app.http.get(link).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.bytes().await.unwrap().as_ref(), [1, 2, 3, 4]);
}

#[tokio::test]
async fn the_customer_waits_in_the_queue_and_hears_the_agent_live() {
    let app = TestApp::spawn().await;
    let (channel, _) = chat_channel(&app).await;
    let (id, token) = start(&app, &channel, json!({ "name": "Ada" })).await;
    let position =
        app.eventually(&format!("/v1/conversations/{id}/queue-position"), &app.admin_key, |p| p["position"] == 1).await;
    assert_eq!(position["position"], 1);
    let (status, mine) =
        json_of(&app, Method::GET, &format!("/v1/chat/conversations/{id}/queue-position"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["position"], 1);
    assert!(mine.get("queue_id").is_none(), "{mine}");

    // The stream: the token as the subprotocol after `switchboard.chat`, as a browser sends it.
    let url = format!("{}/v1/chat/conversations/{id}/stream", app.base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    let protocols = HeaderValue::from_str(&format!("switchboard.chat, {token}")).unwrap();
    request.headers_mut().insert("sec-websocket-protocol", protocols);
    request.headers_mut().insert("origin", HeaderValue::from_static(SHOP));
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.expect("websocket");
    assert_eq!(response.headers()["sec-websocket-protocol"], "switchboard.chat");

    let (agent_key, agent_id) = agent_accepts(&app, &id).await;
    let typing = app
        .http
        .post(format!("{}/v1/conversations/{id}/typing", app.base))
        .bearer_auth(&agent_key)
        .send()
        .await
        .unwrap();
    assert_eq!(typing.status(), StatusCode::NO_CONTENT);
    app.post_ok(
        &format!("/v1/conversations/{id}/messages"),
        &agent_key,
        json!({ "text": "How can I help?" }),
        StatusCode::CREATED,
    )
    .await;
    let mut seen = Vec::new();
    loop {
        let message = tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time").unwrap().unwrap();
        let Message::Text(text) = message else { continue };
        seen.push(serde_json::from_str::<Value>(&text).unwrap());
        // The signal travels apart from the log (on PostgreSQL by NOTIFY), so it may come after the message.
        let has = |t: &str| seen.iter().any(|f| f["type"] == t);
        if has("message.created") && has("conversation.typing") {
            break;
        }
    }
    let types: Vec<&str> = seen.iter().filter_map(|f| f["type"].as_str()).collect();
    assert!(types.contains(&"conversation.state_changed"), "{types:?}");
    assert!(types.contains(&"conversation.typing"), "{types:?}");
    let accepted = seen.iter().find(|f| f["type"] == "conversation.state_changed").unwrap();
    assert_eq!(accepted["data"]["to"], "active");
    assert!(accepted["data"].get("conversation").is_none(), "only what a customer is shown: {accepted}");
    let message = seen.iter().find(|f| f["type"] == "message.created").unwrap();
    assert_eq!(message["data"]["text"], "How can I help?");
    assert!(message["data"]["sender"].get("id").is_none(), "{message}");
    let raw = serde_json::to_string(&seen).unwrap();
    assert!(!raw.contains(&agent_id.unwrap()), "no agent id reaches the customer: {raw}");

    // The customer's typing, sent on the WebSocket, reaches the agent's stream.
    let mut agent_ws = {
        let url = format!("{}/v1/stream?types=conversation.typing", app.base.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {agent_key}")).unwrap());
        tokio_tungstenite::connect_async(request).await.unwrap().0
    };
    ws.send(Message::Text(json!({ "type": "typing", "conversation_id": id }).to_string().into())).await.unwrap();
    let frame = loop {
        let message = tokio::time::timeout(WAIT, agent_ws.next()).await.expect("a frame in time").unwrap().unwrap();
        if let Message::Text(text) = message {
            break serde_json::from_str::<Value>(&text).unwrap();
        }
    };
    assert_eq!(frame["type"], "conversation.typing");
    assert_eq!(frame["data"]["by"], "customer");
}

#[tokio::test]
async fn a_stream_with_a_bad_token_or_origin_is_refused() {
    let app = TestApp::spawn().await;
    let (channel, _) = chat_channel(&app).await;
    let (id, token) = start(&app, &channel, json!({ "name": "Ada" })).await;
    let url = format!("{}/v1/chat/conversations/{id}/stream", app.base.replacen("http://", "ws://", 1));
    for (protocols, origin, status) in [
        (format!("switchboard.chat, {token}"), "https://evil.example", StatusCode::FORBIDDEN),
        ("switchboard.chat, forged".to_string(), SHOP, StatusCode::UNAUTHORIZED),
    ] {
        let mut request = url.clone().into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_str(&protocols).unwrap());
        request.headers_mut().insert("origin", HeaderValue::from_str(origin).unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), status),
            other => panic!("expected {status}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn one_address_may_start_only_so_many_chats() {
    let app = TestApp::spawn().await;
    let (channel, _) = chat_channel(&app).await;
    for _ in 0..20 {
        start(&app, &channel, json!({ "name": "Ada" })).await;
    }
    let path = format!("/v1/chat/{channel}/conversations");
    let (status, headers, text) =
        send(&app, Method::POST, &path, None, None, Some(json!({ "answers": { "name": "Ada" } }))).await;
    assert_problem(status, &serde_json::from_str(&text).unwrap(), StatusCode::TOO_MANY_REQUESTS, "too_many_chats");
    assert!(headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn chat_settings_belong_to_live_chat_channels_and_origins_are_origins() {
    let app = TestApp::spawn().await;
    let (channel, workstream) = chat_channel(&app).await;
    let (_, read) = app.get(&format!("/v1/channels/{channel}"), &app.admin_key).await;
    assert_eq!(read["settings"]["allowed_origins"], json!([SHOP]));
    assert_eq!(read["settings"]["pre_chat_fields"][3]["key"], "order");

    let messaging = app.channel().await;
    for settings in [json!({ "allowed_origins": [SHOP] }), json!({ "pre_chat_fields": [{ "key": "x", "label": "X" }] })]
    {
        let field = format!("settings.{}", settings.as_object().unwrap().keys().next().unwrap());
        let (status, body) = app
            .call(
                Method::PATCH,
                &format!("/v1/channels/{messaging}"),
                Some(&app.admin_key),
                Some(json!({ "settings": settings })),
            )
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(body["field"], field, "{body}");
    }
    for bad in ["https://*.shop.example", "https://shop.example/chat", "shop.example", "https://shop.example:99999"] {
        let (status, body) = app
            .post(
                "/v1/channels",
                &app.admin_key,
                json!({ "name": "C", "channel_type": "live_chat", "workstream_id": workstream,
                    "settings": { "allowed_origins": [bad] } }),
            )
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(body["field"], "settings.allowed_origins[0]", "{bad}: {body}");
    }
    let twice = json!([{ "key": "order", "label": "A" }, { "key": "order", "label": "B" }]);
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/channels/{channel}"),
            Some(&app.admin_key),
            Some(json!({ "settings": { "pre_chat_fields": twice } })),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (_, unchanged) = app.get(&format!("/v1/channels/{channel}"), &app.admin_key).await;
    assert_eq!(unchanged["settings"], read["settings"]);
}
