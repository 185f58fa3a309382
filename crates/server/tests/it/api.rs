use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::role::Role;

use crate::{TestApp, assert_problem};

#[tokio::test]
async fn a_conversation_runs_from_first_message_to_close() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let (agent, agent_id) = app.key(Role::Agent).await;

    let body = json!({
        "channel_id": channel,
        "customer": { "customer_id": "jdoe123", "first_name": "John", "email": "john.doe@example.com" },
        "context": { "product": { "value": "XBox", "displayable": true }, "tier": { "value": 3 } },
        "start_message": { "text": "My console will not start", "sender_name": "John" }
    });
    let created = app.post_ok("/v1/conversations", &integration, body.clone(), StatusCode::CREATED).await;
    assert_eq!(created["is_new"], true);
    assert_eq!(created["conversation"]["state"], "open");
    assert_eq!(created["start_message"]["sequence"], 2, "after the conversation's creation in its log");
    assert_eq!(created["start_message"]["sender"]["kind"], "customer");
    let id = created["conversation"]["id"].as_str().unwrap().to_string();

    // The same customer on the same channel gets the live conversation back, and the start message is not repeated.
    let again = app.post_ok("/v1/conversations", &integration, body, StatusCode::OK).await;
    assert_eq!((again["is_new"].clone(), again["conversation"]["id"].as_str()), (json!(false), Some(id.as_str())));
    assert!(again["start_message"].is_null());

    let accepted = app.post_ok(&format!("/v1/conversations/{id}/accept"), &agent, json!({}), StatusCode::OK).await;
    assert_eq!(accepted["state"], "active");
    assert_eq!(accepted["agent_id"].as_str(), agent_id.as_deref());

    let reply = app
        .post_ok(
            &format!("/v1/conversations/{id}/messages"),
            &agent,
            json!({ "text": "Let me help." }),
            StatusCode::CREATED,
        )
        .await;
    // Created (1), start message (2), accepted (3), this reply (4).
    assert_eq!((reply["sequence"].clone(), reply["sender"]["kind"].clone()), (json!(4), json!("agent")));
    app.post_ok(
        &format!("/v1/conversations/{id}/messages"),
        &integration,
        json!({ "text": "Thanks" }),
        StatusCode::CREATED,
    )
    .await;

    let (_, messages) = app.get(&format!("/v1/conversations/{id}/messages"), &agent).await;
    let texts: Vec<&str> = messages["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["My console will not start", "Let me help.", "Thanks"]);

    // Agents see only displayable context; the integration sees all of it.
    let (_, seen_by_agent) = app.get(&format!("/v1/conversations/{id}/context"), &agent).await;
    assert_eq!(seen_by_agent.as_array().unwrap().len(), 1);
    assert_eq!(seen_by_agent[0]["name"], "product");
    let (_, all) = app.get(&format!("/v1/conversations/{id}/context"), &integration).await;
    assert_eq!(all.as_array().unwrap().len(), 2);

    assert_eq!(
        app.post_ok(&format!("/v1/conversations/{id}/end"), &agent, json!({}), StatusCode::OK).await["state"],
        "wrap_up"
    );
    let closed = app
        .post_ok(&format!("/v1/conversations/{id}/close"), &agent, json!({ "reason": "resolved" }), StatusCode::OK)
        .await;
    assert_eq!((closed["state"].clone(), closed["closure_reason"].clone()), (json!("closed"), json!("resolved")));

    let (status, body) =
        app.post(&format!("/v1/conversations/{id}/messages"), &integration, json!({ "text": "hello?" })).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "conversation_closed");

    let (_, timeline) = app.get(&format!("/v1/conversations/{id}/timeline"), &integration).await;
    let kinds: Vec<&str> = timeline["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"conversation.created"));
    assert_eq!(kinds.iter().filter(|k| **k == "message.created").count(), 3);
    assert_eq!(kinds.last(), Some(&"conversation.state_changed"));
    assert_eq!(timeline["data"].as_array().unwrap().last().unwrap()["data"]["to"], "closed");
}

#[tokio::test]
async fn whole_numbers_in_context_read_back_without_a_fraction() {
    let app = TestApp::spawn().await;
    let channel = crate::webhooks::messaging_channel(&app, None, "app").await;
    let (integration, _) = app.key(Role::Integration).await;
    let body = json!({
        "channel_id": channel,
        "customer": { "customer_id": "c1" },
        "context": { "tier": { "value": 3 }, "score": { "value": 3.5 }, "debt": { "value": -2 } }
    });
    let created = app.post_ok("/v1/conversations", &integration, body, StatusCode::CREATED).await;
    let id = created["conversation"]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/conversations/{id}/context");
    // `json!(3)` is the integer 3: a value read back as `3.0` is a float and compares unequal.
    let values = |context: &Value| -> Vec<(String, Value)> {
        context.as_array().unwrap().iter().map(|v| (v["name"].as_str().unwrap().into(), v["value"].clone())).collect()
    };
    let expect = |pairs: &[(&str, Value)]| -> Vec<(String, Value)> {
        pairs.iter().map(|(n, v)| ((*n).to_string(), v.clone())).collect()
    };
    let (_, context) = app.get(&path, &integration).await;
    assert_eq!(values(&context), expect(&[("debt", json!(-2)), ("score", json!(3.5)), ("tier", json!(3))]));

    // A change answers with, and reads back, the same forms.
    let (status, patched) =
        app.call(Method::PATCH, &path, Some(&integration), Some(json!({ "tier": { "value": 4 } }))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let now = expect(&[("debt", json!(-2)), ("score", json!(3.5)), ("tier", json!(4))]);
    assert_eq!(values(&patched), now);
    assert_eq!(values(&app.get(&path, &integration).await.1), now);

    // The Messaging API reads the same values.
    let compat = format!("/conversation/{id}/context");
    let (status, context) = crate::webhooks::consumer(&app, Method::GET, &compat, &integration, &channel, None).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert_eq!(values(&context), now);
}

#[tokio::test]
async fn only_the_assigned_agent_writes_and_acts() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let (ada, _) = app.key(Role::Agent).await;
    let (bo, bo_id) = app.key(Role::Agent).await;
    let id = app.conversation(&integration, &channel, "c1").await;

    // An agent accepts only for themselves.
    let (status, body) = app.post(&format!("/v1/conversations/{id}/accept"), &ada, json!({ "agent_id": bo_id })).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    app.post_ok(&format!("/v1/conversations/{id}/accept"), &ada, json!({}), StatusCode::OK).await;

    // Bo is in none of its queues and does not hold it: for him it does not exist (see visibility.rs for the
    // agent who may see it but not write in it).
    let (status, body) = app.post(&format!("/v1/conversations/{id}/messages"), &bo, json!({ "text": "hi" })).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    let (status, body) = app.post(&format!("/v1/conversations/{id}/end"), &bo, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    // An integration cannot write as an agent.
    let (status, body) = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &integration,
            json!({ "sender": { "kind": "agent" }, "text": "x" }),
        )
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    // A supervisor can reassign after release.
    let (supervisor, _) = app.key(Role::Supervisor).await;
    app.post_ok(&format!("/v1/conversations/{id}/release"), &supervisor, json!({}), StatusCode::OK).await;
    let reassigned = app
        .post_ok(&format!("/v1/conversations/{id}/accept"), &supervisor, json!({ "agent_id": bo_id }), StatusCode::OK)
        .await;
    assert_eq!(reassigned["agent_id"].as_str(), bo_id.as_deref());
    // Accepting an active conversation is refused: the supervisor gets 409; Ada, in none of its queues, does not
    // see that Bo holds it at all.
    let (status, body) =
        app.post(&format!("/v1/conversations/{id}/accept"), &supervisor, json!({ "agent_id": bo_id })).await;
    assert_problem(status, &body, StatusCode::CONFLICT, "invalid_state_transition");
    let (status, body) = app.post(&format!("/v1/conversations/{id}/accept"), &ada, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
}

#[tokio::test]
async fn idempotency_keys_return_the_first_result_and_refuse_another_body() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let id = app.conversation(&integration, &channel, "c1").await;
    let send = |text: &'static str| {
        app.http
            .post(format!("{}/v1/conversations/{id}/messages", app.base))
            .bearer_auth(&integration)
            .header("idempotency-key", "retry-me-1")
            .json(&json!({ "text": text }))
            .send()
    };
    let first = send("once").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();
    let retry = send("once").await.unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<serde_json::Value>().await.unwrap(), first);

    let events = app.event_count().await;
    let other = send("something else").await.unwrap();
    let status = other.status();
    let body: serde_json::Value = other.json().await.unwrap();
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(app.event_count().await, events, "nothing changed");
    let (_, messages) = app.get(&format!("/v1/conversations/{id}/messages"), &integration).await;
    assert_eq!(messages["data"].as_array().unwrap().len(), 1);

    // Creates take keys too: the same conversation request twice makes one conversation.
    let create = |key: &'static str| {
        app.http
            .post(format!("{}/v1/conversations", app.base))
            .bearer_auth(&integration)
            .header("idempotency-key", key)
            .json(&json!({ "channel_id": channel }))
            .send()
    };
    let a: serde_json::Value = create("conv-1").await.unwrap().json().await.unwrap();
    let b: serde_json::Value = create("conv-1").await.unwrap().json().await.unwrap();
    assert_eq!(a["conversation"]["id"], b["conversation"]["id"]);
    // An API key's secret is never kept for replays.
    let key_req = |name: &'static str| {
        app.http
            .post(format!("{}/v1/api-keys", app.base))
            .bearer_auth(&app.admin_key)
            .header("idempotency-key", "key-1")
            .json(&json!({ "name": name, "role": "integration" }))
            .send()
    };
    let fresh: serde_json::Value = key_req("k").await.unwrap().json().await.unwrap();
    let replay: serde_json::Value = key_req("k").await.unwrap().json().await.unwrap();
    assert!(fresh["key"].as_str().is_some_and(|k| k.starts_with("sbk_")));
    assert!(replay["key"].is_null());
    assert_eq!(fresh["id"], replay["id"]);
}

#[tokio::test]
async fn lists_page_with_cursors() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let id = app.conversation(&integration, &channel, "c1").await;
    for i in 0..5 {
        app.post_ok(
            &format!("/v1/conversations/{id}/messages"),
            &integration,
            json!({ "text": format!("m{i}") }),
            StatusCode::CREATED,
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut path = format!("/v1/conversations/{id}/messages?limit=2");
    loop {
        let (status, page) = app.get(&path, &integration).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(page["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/conversations/{id}/messages?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["m0", "m1", "m2", "m3", "m4"]);

    for i in 0..3 {
        app.conversation(&integration, &channel, &format!("other-{i}")).await;
    }
    let (_, first) = app.get("/v1/conversations?limit=3&state=open", &integration).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app.get(&format!("/v1/conversations?limit=3&state=open&cursor={cursor}"), &integration).await;
    assert_eq!(first["data"].as_array().unwrap().len() + second["data"].as_array().unwrap().len(), 4);
    assert!(second["next_cursor"].is_null());
    let (_, active) = app.get("/v1/conversations?state=active", &integration).await;
    assert!(active["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn contacts_are_matched_and_found() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let first = app
        .post_ok(
            "/v1/conversations",
            &integration,
            json!({ "channel_id": channel, "customer": { "email": "Ann@Example.com", "phone": "+1 425 555 0100" } }),
            StatusCode::CREATED,
        )
        .await;
    let second = app
        .post_ok(
            "/v1/conversations",
            &integration,
            json!({ "channel_id": channel, "customer": { "phone": "+14255550100" } }),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(first["conversation"]["contact_id"], second["conversation"]["contact_id"]);
    let (_, found) = app.get("/v1/contacts?email=ann%40example.com", &integration).await;
    assert_eq!(found["data"][0]["id"], first["conversation"]["contact_id"]);
    let contact = found["data"][0]["id"].as_str().unwrap();
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/v1/contacts/{contact}"),
            Some(&integration),
            Some(json!({ "preferred_name": "Ann" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((patched["preferred_name"].clone(), patched["email"].clone()), (json!("Ann"), json!("ann@example.com")));
}
