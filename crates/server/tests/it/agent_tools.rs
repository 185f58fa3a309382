//! What the agent desktop stands on beyond routing: sending files, quick replies, the colleagues an agent may
//! transfer to, and a message its channel never got, told in the conversation.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::role::Role;

use crate::{Options, TestApp, assert_problem, receiver::Receiver, webhooks::messaging_channel};

/// An agent holding a new conversation of a Messaging API channel; returns (conversation, agent key).
async fn held_conversation(app: &TestApp, channel: &str) -> (String, String) {
    let (integration, _) = app.key(Role::Integration).await;
    let id = app.conversation(&integration, channel, "c-1").await;
    let (agent, _) = app.key(Role::Agent).await;
    app.post_ok(&format!("/v1/conversations/{id}/accept"), &agent, json!({}), StatusCode::OK).await;
    (id, agent)
}

async fn send_file(
    app: &TestApp,
    key: &str,
    path: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = app.http.post(format!("{}{path}", app.base)).bearer_auth(key).body(bytes);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_agent_sends_a_file_and_the_customer_gets_it_by_a_signed_link() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (id, agent) = held_conversation(&app, &channel).await;
    let png = b"\x89PNG\r\n\x1a\n fake image bytes".to_vec();
    let path = format!("/v1/conversations/{id}/attachments?name=screenshot.png");
    let (status, message) = send_file(&app, &agent, &path, Some("image/png"), png.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["sender"]["kind"], "agent");
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["content_type"], "image/png");
    assert_eq!(attachment["name"], "screenshot.png");
    assert_eq!(attachment["size"], png.len());

    // In the transcript, the file is a signed link that opens without credentials, byte for byte.
    let (_, list) = app.get(&format!("/v1/conversations/{id}/messages"), &agent).await;
    let link = list["data"][0]["attachments"][0]["url"].as_str().unwrap().to_string();
    assert!(link.contains("signature="), "{link}");
    let fetched = reqwest::get(&link).await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), png);
    // And the timeline, which the agent's page reads, gives the same signed kind of link.
    let (_, timeline) = app.get(&format!("/v1/conversations/{id}/timeline"), &agent).await;
    let logged = timeline["data"].as_array().unwrap().iter().find(|e| e["type"] == "message.created").unwrap();
    assert!(logged["data"]["attachments"][0]["url"].as_str().unwrap().contains("signature="), "{logged}");
}

#[tokio::test]
async fn files_the_workstream_refuses_are_refused_and_nothing_is_sent() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (id, agent) = held_conversation(&app, &channel).await;
    let path = format!("/v1/conversations/{id}/attachments?name=x");
    let (status, body) = send_file(&app, &agent, &path, None, b"abc".to_vec()).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "missing_field");
    let (status, body) = send_file(&app, &agent, &path, Some("application/x-msdownload"), b"MZ".to_vec()).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
    let (status, body) = send_file(&app, &agent, &path, Some("text/plain"), Vec::new()).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
    // The default policy takes files up to 5 MiB.
    let (status, body) = send_file(&app, &agent, &path, Some("text/plain"), vec![b'a'; (5 << 20) + 1]).await;
    assert_problem(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Over the largest any workstream may allow, the body is not even read.
    let (status, body) = send_file(&app, &agent, &path, Some("text/plain"), vec![b'a'; (16 << 20) + 1]).await;
    assert_problem(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (_, list) = app.get(&format!("/v1/conversations/{id}/messages"), &agent).await;
    assert_eq!(list["data"], json!([]), "nothing was sent");

    // Another agent's conversation, and another organization's, do not exist for this agent.
    let (other, _) = app.key(Role::Agent).await;
    let (status, body) = send_file(&app, &other, &path, Some("text/plain"), b"hi".to_vec()).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    let elsewhere = TestApp::spawn().await;
    let (status, body) = send_file(&elsewhere, &elsewhere.admin_key, &path, Some("text/plain"), b"hi".to_vec()).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
}

#[tokio::test]
async fn agents_list_their_colleagues_and_nobody_else() {
    let app = TestApp::spawn().await;
    let (agent, agent_id) = app.key(Role::Agent).await;
    let (_, colleague) = app.key(Role::Agent).await;
    let (_, supervisor) = app.key(Role::Supervisor).await;
    let list = app.eventually("/v1/users?role=agent", &agent, |_| true).await;
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&agent_id.as_deref().unwrap()) && ids.contains(&colleague.as_deref().unwrap()), "{list}");
    assert!(!ids.contains(&supervisor.as_deref().unwrap()), "{list}");
    for path in ["/v1/users", "/v1/users?role=supervisor", "/v1/users?role=admin"] {
        let (status, body) = app.get(path, &agent).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
}

#[tokio::test]
async fn administrators_keep_quick_replies_and_agents_find_them() {
    let app = TestApp::spawn().await;
    let (agent, _) = app.key(Role::Agent).await;
    let hours = json!({ "title": "Opening hours", "text": "We are open 8:00 to 18:00, <b>Monday</b> to Friday." });
    let created = app.post_ok("/v1/quick-replies", &app.admin_key, hours, StatusCode::CREATED).await;
    let id = created["id"].as_str().unwrap().to_string();
    let body = json!({ "title": "Refund_policy", "text": "Refunds take 5 working days (100% of the price)." });
    app.post_ok("/v1/quick-replies", &app.admin_key, body, StatusCode::CREATED).await;

    let (status, list) = app.get("/v1/quick-replies", &agent).await;
    assert_eq!(status, StatusCode::OK);
    let titles = |list: &Value| list["data"].as_array().unwrap().iter().map(|q| q["title"].clone()).collect::<Vec<_>>();
    assert_eq!(titles(&list), [json!("Opening hours"), json!("Refund_policy")]);
    // Text is kept as written, markup included: the page shows it as text.
    assert_eq!(list["data"][0]["text"], "We are open 8:00 to 18:00, <b>Monday</b> to Friday.");
    // Search finds by title or text, ignoring case; `%` and `_` are themselves, not wildcards.
    let (_, found) = app.get("/v1/quick-replies?search=MONDAY", &agent).await;
    assert_eq!(titles(&found), [json!("Opening hours")]);
    let (_, found) = app.get("/v1/quick-replies?search=100%25", &agent).await;
    assert_eq!(titles(&found), [json!("Refund_policy")]);
    let (_, found) = app.get("/v1/quick-replies?search=d_p", &agent).await;
    assert_eq!(titles(&found), [json!("Refund_policy")], "`_` matched only itself");
    let (_, found) = app.get("/v1/quick-replies?search=n%25h", &agent).await;
    assert_eq!(titles(&found), Vec::<Value>::new(), "`%` matched only itself");

    let path = format!("/v1/quick-replies/{id}");
    let (status, changed) =
        app.call(reqwest::Method::PATCH, &path, Some(&app.admin_key), Some(json!({ "text": "Open 24/7." }))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["text"], "Open 24/7.");
    assert_eq!(changed["title"], "Opening hours");
    let (status, _) = app.call(reqwest::Method::DELETE, &path, Some(&app.admin_key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.get("/v1/quick-replies", &agent).await;
    assert_eq!(titles(&list), [json!("Refund_policy")]);
    let logged: Vec<Value> = app.get("/v1/events?limit=250", &app.admin_key).await.1["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("quick_reply."))
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(logged, ["quick_reply.created", "quick_reply.created", "quick_reply.updated", "quick_reply.deleted"]);
}

#[tokio::test]
async fn quick_replies_refuse_bad_input_and_other_roles_and_organizations() {
    let app = TestApp::spawn().await;
    let (agent, _) = app.key(Role::Agent).await;
    let (integration, _) = app.key(Role::Integration).await;
    let good = json!({ "title": "Greeting", "text": "Hello!" });
    app.post_ok("/v1/quick-replies", &app.admin_key, good.clone(), StatusCode::CREATED).await;
    let id = app.get("/v1/quick-replies", &agent).await.1["data"][0]["id"].as_str().unwrap().to_string();
    let events_before = app.event_count().await;

    let (status, body) = app.post("/v1/quick-replies", &agent, good.clone()).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = app.get("/v1/quick-replies", &integration).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) =
        app.post("/v1/quick-replies", &app.admin_key, json!({ "title": "GREETING", "text": "x" })).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "already_exists");
    assert_eq!(body["field"], "title");
    for (bad, field) in [
        (json!({ "title": " ", "text": "x" }), "title"),
        (json!({ "title": "t".repeat(101), "text": "x" }), "title"),
        (json!({ "title": "Blank", "text": "  " }), "text"),
    ] {
        let (status, body) = app.post("/v1/quick-replies", &app.admin_key, bad.clone()).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(body["field"], field, "{bad}");
    }
    let (status, body) =
        app.post("/v1/quick-replies", &app.admin_key, json!({ "title": "Long", "text": "x".repeat(6_001) })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app.post("/v1/quick-replies", &app.admin_key, json!({ "title": "X", "txt": "x" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let elsewhere = TestApp::spawn().await;
    let path = format!("/v1/quick-replies/{id}");
    let (status, body) =
        elsewhere.call(reqwest::Method::PATCH, &path, Some(&elsewhere.admin_key), Some(json!({ "text": "y" }))).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "quick_reply_not_found");
    let (status, body) = elsewhere.call(reqwest::Method::DELETE, &path, Some(&elsewhere.admin_key), None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "quick_reply_not_found");
    let (status, body) = app.call(reqwest::Method::DELETE, "/v1/quick-replies/nope", Some(&app.admin_key), None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "quick_reply_not_found");
    assert_eq!(app.event_count().await, events_before, "nothing changed");
}

#[tokio::test]
async fn a_message_its_channel_never_got_is_told_in_the_conversation() {
    let app = TestApp::spawn_with(Options {
        configure: Some(|config| config.webhooks.retry_schedule_seconds = vec![]),
        ..Options::default()
    })
    .await;
    let hook = Receiver::start().await;
    hook.fail_with(Some((503, None)));
    let channel = messaging_channel(&app, Some(&hook.base), "app").await;
    let (id, agent) = held_conversation(&app, &channel).await;
    let sent = app
        .post_ok(&format!("/v1/conversations/{id}/messages"), &agent, json!({ "text": "Hi" }), StatusCode::CREATED)
        .await;
    let timeline = format!("/v1/conversations/{id}/timeline");
    let failed = |page: &Value| {
        page["data"].as_array().unwrap().iter().find(|e| e["type"] == "message.delivery_failed").cloned()
    };
    let page = app.eventually(&timeline, &agent, |page| failed(page).is_some()).await;
    let event = failed(&page).unwrap();
    assert_eq!(event["data"]["message_id"], sent["id"]);
    assert_eq!(event["data"]["channel_id"], channel.as_str());
    assert_eq!(event["data"]["status"], 503);
    assert_eq!(event["data"]["attempts"], 1);
    // Only the agent's message failed: the join that went before it failed too, and is not a message.
    let failures = page["data"].as_array().unwrap().iter().filter(|e| e["type"] == "message.delivery_failed").count();
    assert_eq!(failures, 1, "{page}");
}
