//! Every malformed request gets a 4xx with a stable code and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::role::Role;

use crate::{TestApp, assert_problem};

/// What is sent, where, and the status, code and field expected back.
type Case<'a> = (&'a str, String, Value, StatusCode, &'a str, Option<&'a str>);

fn many_variables(n: usize) -> Value {
    (0..n).map(|i| (format!("v{i}"), json!({ "value": "x" }))).collect::<serde_json::Map<_, _>>().into()
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_their_code_and_path() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    let messages = format!("/v1/conversations/{conversation}/messages");
    let events = app.event_count().await;

    let cases: Vec<Case<'_>> = vec![
        (
            "unknown field",
            messages.clone(),
            json!({ "text": "hi", "colour": "red" }),
            StatusCode::BAD_REQUEST,
            "unknown_field",
            Some("colour"),
        ),
        (
            "nested unknown field",
            "/v1/conversations".into(),
            json!({ "channel_id": channel, "customer": { "shoe_size": 9 } }),
            StatusCode::BAD_REQUEST,
            "unknown_field",
            Some("customer.shoe_size"),
        ),
        (
            "text over 6,000",
            messages.clone(),
            json!({ "text": "a".repeat(6_001) }),
            StatusCode::BAD_REQUEST,
            "message_too_long",
            Some("text"),
        ),
        ("no text, no attachments", messages.clone(), json!({}), StatusCode::BAD_REQUEST, "empty_message", None),
        ("wrong type", messages.clone(), json!({ "text": 42 }), StatusCode::BAD_REQUEST, "invalid_field", Some("text")),
        (
            "bad attachment url",
            messages.clone(),
            json!({ "attachments": [{ "content_type": "image/png", "url": "file:///etc/passwd" }] }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("attachments[0].url"),
        ),
        (
            "eleven attachments",
            messages.clone(),
            json!({ "attachments": vec![json!({ "content_type": "image/png", "url": "https://x.test/a.png" }); 11] }),
            StatusCode::BAD_REQUEST,
            "too_many_attachments",
            Some("attachments"),
        ),
        (
            "customer id over 200",
            "/v1/conversations".into(),
            json!({ "channel_id": channel, "customer": { "customer_id": "c".repeat(201) } }),
            StatusCode::BAD_REQUEST,
            "field_too_long",
            Some("customer.customer_id"),
        ),
        (
            "bad email",
            "/v1/conversations".into(),
            json!({ "channel_id": channel, "customer": { "email": "not-an-email" } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("customer.email"),
        ),
        (
            "bad phone",
            "/v1/conversations".into(),
            json!({ "channel_id": channel, "customer": { "phone": "call me maybe" } }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("customer.phone"),
        ),
        (
            "101 context variables",
            "/v1/conversations".into(),
            json!({ "channel_id": channel, "context": many_variables(101) }),
            StatusCode::BAD_REQUEST,
            "too_many_context_variables",
            Some("context"),
        ),
        (
            "missing channel",
            "/v1/conversations".into(),
            json!({ "customer": { "customer_id": "x" } }),
            StatusCode::BAD_REQUEST,
            "missing_field",
            Some("channel_id"),
        ),
        (
            "channel that is not an id",
            "/v1/conversations".into(),
            json!({ "channel_id": "web" }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("channel_id"),
        ),
        (
            "unknown channel",
            "/v1/conversations".into(),
            json!({ "channel_id": uuid::Uuid::now_v7() }),
            StatusCode::NOT_FOUND,
            "channel_not_found",
            Some("channel_id"),
        ),
        (
            "blank name",
            "/v1/contacts".into(),
            json!({ "first_name": " " }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            Some("first_name"),
        ),
        ("empty contact", "/v1/contacts".into(), json!({}), StatusCode::BAD_REQUEST, "missing_field", None),
        (
            "message to unknown conversation",
            format!("/v1/conversations/{}/messages", uuid::Uuid::now_v7()),
            json!({ "text": "hi" }),
            StatusCode::NOT_FOUND,
            "conversation_not_found",
            None,
        ),
        (
            "message to a non-id",
            "/v1/conversations/not-an-id/messages".into(),
            json!({ "text": "hi" }),
            StatusCode::NOT_FOUND,
            "conversation_not_found",
            None,
        ),
    ];
    for (what, path, body, status, code, field) in cases {
        let (got, problem) = app.post(&path, &integration, body).await;
        assert_eq!(got, status, "{what}: {problem}");
        assert_eq!(problem["code"], code, "{what}: {problem}");
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{what}: {problem}");
        }
    }
    let (status, problem) =
        app.post("/v1/queues", &app.admin_key, json!({ "name": "Q", "queue_type": "carrier_pigeon" })).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(problem["field"], "queue_type");
    assert_eq!(app.event_count().await, events, "no bad request changed anything");
}

#[tokio::test]
async fn bodies_that_are_not_objects_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let (channel_before, ws_before, queue_path) = app.channel_setup().await;
    let channel = channel_before["id"].as_str().unwrap();
    let channel_path = format!("/v1/channels/{channel}");
    let ws_path = format!("/v1/workstreams/{}", ws_before["id"].as_str().unwrap());
    let (_, queues_before) = app.get("/v1/queues", key).await;
    let (integration, _) = app.key(Role::Integration).await;
    let conversation = app.conversation(&integration, channel, "c1").await;
    let context_path = format!("/v1/conversations/{conversation}/context");
    let events = app.event_count().await;

    // An array would otherwise fill a struct member by member: `["Renamed"]` names a patch's first field.
    let bodies = [json!([]), json!(["Renamed"]), json!(null), json!(3), json!("x"), json!(true)];
    let targets = [
        (reqwest::Method::POST, "/v1/queues".to_string(), key.as_str()),
        (reqwest::Method::POST, "/v1/workstreams".to_string(), key),
        (reqwest::Method::POST, format!("/v1/conversations/{conversation}/messages"), &integration),
        (reqwest::Method::PATCH, ws_path.clone(), key),
        (reqwest::Method::PATCH, channel_path.clone(), key),
        (reqwest::Method::PATCH, queue_path, key),
        (reqwest::Method::PATCH, context_path.clone(), &integration),
    ];
    for (method, path, key) in &targets {
        for body in &bodies {
            let (status, problem) = app.call(method.clone(), path, Some(key), Some(body.clone())).await;
            assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_body");
            assert!(problem["detail"].as_str().unwrap().contains("object"), "{method} {path} {body}: {problem}");
        }
    }

    assert_eq!(app.get(&ws_path, key).await.1, ws_before);
    assert_eq!(app.get(&channel_path, key).await.1, channel_before);
    assert_eq!(app.get("/v1/queues", key).await.1, queues_before);
    assert_eq!(app.get(&context_path, &integration).await.1, json!([]));
    assert_eq!(app.event_count().await, events, "a body that is not an object changes nothing");
}

#[tokio::test]
async fn broken_json_wrong_media_type_and_oversized_bodies() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    let url = format!("{}/v1/conversations/{conversation}/messages", app.base);
    let events = app.event_count().await;
    let send = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut req = app.http.post(&url).bearer_auth(&integration).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let check = |response: reqwest::Response, status: StatusCode, code: &'static str| async move {
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let got = response.status();
        let body: Value = response.json().await.unwrap();
        assert_problem(got, &body, status, code);
    };
    check(
        send(b"{\"text\": \"hi\"".to_vec(), Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    check(
        send(b"not json at all".to_vec(), Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    // One object, then another: the whole body is not one JSON value.
    check(
        send(b"{\"text\": \"hi\"} {\"text\": \"again\"}".to_vec(), Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    check(send(b"[1, 2".to_vec(), Some("application/json")).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_json")
        .await;
    check(
        send(b"{\"text\": \"hi\"}".to_vec(), Some("text/plain")).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    check(
        send(b"{\"text\": \"hi\"}".to_vec(), None).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let huge = serde_json::to_vec(&json!({ "text": "a".repeat(2 << 20) })).unwrap();
    check(send(huge, Some("application/json")).await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn bad_queries_headers_and_routes() {
    let app = TestApp::spawn().await;
    let key = app.admin_key.clone();
    for (path, code) in [
        ("/v1/conversations?limit=0", "invalid_query"),
        ("/v1/conversations?limit=251", "invalid_query"),
        ("/v1/conversations?limit=ten", "invalid_query"),
        ("/v1/conversations?state=pending", "invalid_query"),
        ("/v1/conversations?cursor=not-a-cursor", "invalid_cursor"),
        ("/v1/events?cursor=-5", "invalid_cursor"),
        ("/v1/contacts?email=nope", "invalid_field"),
    ] {
        let (status, body) = app.get(path, &key).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, code);
    }
    let (status, body) = app.get("/v1/nowhere", &key).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "route_not_found");
    let (status, body) = app.call(reqwest::Method::PUT, "/v1/conversations", Some(&key), None).await;
    assert_problem(status, &body, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let long_key = "k".repeat(256);
    let response = app
        .http
        .post(format!("{}/v1/queues", app.base))
        .bearer_auth(&key)
        .header("idempotency-key", long_key)
        .json(&json!({ "name": "Q" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_problem(status, &response.json().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_idempotency_key");
}

#[tokio::test]
async fn context_updates_respect_the_limit_and_closed_conversations() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let id = app.conversation(&integration, &channel, "c1").await;
    let path = format!("/v1/conversations/{id}/context");
    let (status, vars) = app.call(reqwest::Method::PATCH, &path, Some(&integration), Some(many_variables(100))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(vars.as_array().unwrap().len(), 100);
    let (status, body) =
        app.call(reqwest::Method::PATCH, &path, Some(&integration), Some(json!({ "one_more": { "value": 1 } }))).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "too_many_context_variables");
    let (_, after) = app.get(&path, &integration).await;
    assert_eq!(after.as_array().unwrap().len(), 100);
    assert!(after.as_array().unwrap().iter().all(|v| v["name"] != "one_more"));
    let (status, body) = app
        .call(reqwest::Method::PATCH, &path, Some(&integration), Some(json!({ "v1": { "value": "x".repeat(4_001) } })))
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "field_too_long");
    app.post_ok(&format!("/v1/conversations/{id}/close"), &app.admin_key, json!({}), StatusCode::OK).await;
    let (status, body) = app.call(reqwest::Method::PATCH, &path, Some(&integration), Some(json!({ "v1": null }))).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "conversation_closed");
}
