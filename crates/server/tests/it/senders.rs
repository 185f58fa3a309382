//! Every message names its sender, on every surface: the channel's webhook (Bot Framework activities), native
//! subscriptions, the Messaging API transcript, the native message list and the event log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::{
    Timestamp,
    ids::{ConversationId, OrgId},
    role::Role,
};
use switchboard_store::{events, params};

use crate::{
    TestApp,
    receiver::Receiver,
    webhooks::{consumer, messaging_channel},
};

/// Starts a Messaging API conversation for customer `jdoe` (contact John Doe); returns its id.
async fn start(app: &TestApp, key: &str, channel: &str) -> String {
    let (status, created) = consumer(
        app,
        Method::POST,
        "/conversation/create",
        key,
        channel,
        Some(json!({ "customercontext": { "customerid": "jdoe", "firstname": "John", "lastname": "Doe" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["conversationId"].as_str().unwrap().to_string()
}

/// The `message.created` events of the organization's log, oldest first.
async fn logged_senders(app: &TestApp) -> Vec<Value> {
    let (_, page) = app.get("/v1/events?limit=250", &app.admin_key).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "message.created")
        .map(|e| e["data"]["sender"].clone())
        .collect()
}

#[tokio::test]
async fn an_agents_reply_names_the_agent_on_every_surface() {
    let app = TestApp::spawn().await;
    let hook = Receiver::start().await;
    let subscriber = Receiver::start().await;
    app.post_ok(
        "/v1/webhook-subscriptions",
        &app.admin_key,
        json!({ "url": subscriber.base, "event_types": ["message.created"] }),
        StatusCode::CREATED,
    )
    .await;
    let channel = messaging_channel(&app, Some(&hook.base), "app").await;
    let (integration, _) = app.key(Role::Integration).await;
    let (agent, agent_id) = app.key(Role::Agent).await;
    let agent_id = agent_id.unwrap();
    let id = start(&app, &integration, &channel).await;
    app.post_ok(&format!("/v1/conversations/{id}/accept"), &agent, json!({}), StatusCode::OK).await;
    let sent = app
        .post_ok(&format!("/v1/conversations/{id}/messages"), &agent, json!({ "text": "Hi" }), StatusCode::CREATED)
        .await;

    // The conversation's own events name the agent; the message says the same.
    let got = hook.until("the agent joining and replying", |r| r.len() >= 2).await;
    let name = got[0].body["value"]["agent"]["name"].as_str().expect("the join names the agent").to_string();
    let expected = json!({ "kind": "agent", "id": agent_id, "name": name });
    assert_eq!(sent["sender"], expected);
    assert_eq!(got[1].body["type"], "message");
    assert_eq!(got[1].body["from"], json!({ "id": agent_id, "name": name }));
    let native = subscriber.until("the native message event", |r| !r.is_empty()).await;
    assert_eq!(native[0].body["data"]["sender"], expected);
    assert_eq!(logged_senders(&app).await, std::slice::from_ref(&expected));
    let (_, list) = app.get(&format!("/v1/conversations/{id}/messages"), &agent).await;
    assert_eq!(list["data"][0]["sender"], expected);
    let (_, transcript) =
        consumer(&app, Method::GET, &format!("/conversation/{id}/messages"), &integration, &channel, None).await;
    assert_eq!(transcript["messages"][0]["from"], json!({ "id": agent_id, "name": name, "role": "agent" }));
}

#[tokio::test]
async fn a_message_sent_with_an_admin_key_or_a_client_is_signed_by_it() {
    let app = TestApp::spawn().await;
    let hook = Receiver::start().await;
    let channel = messaging_channel(&app, Some(&hook.base), "app").await;
    let (integration, _) = app.key(Role::Integration).await;
    let id = start(&app, &integration, &channel).await;
    let admin = app
        .post_ok("/v1/api-keys", &app.admin_key, json!({ "name": "Ops console", "role": "admin" }), StatusCode::CREATED)
        .await;
    let (admin_key, admin_id) = (admin["key"].as_str().unwrap(), admin["id"].as_str().unwrap());
    let sent = app
        .post_ok(
            &format!("/v1/conversations/{id}/messages"),
            admin_key,
            json!({ "text": "We are closed on Sunday." }),
            StatusCode::CREATED,
        )
        .await;
    let by_key = json!({ "kind": "system", "id": format!("api_key:{admin_id}"), "name": "Ops console" });
    assert_eq!(sent["sender"], by_key);

    // An OAuth2 client sending as a bot is named the same way.
    let client = app
        .post_ok(
            "/v1/clients",
            &app.admin_key,
            json!({ "name": "Order bot", "role": "integration" }),
            StatusCode::CREATED,
        )
        .await;
    let client_id = client["client_id"].as_str().unwrap();
    let token = app.client_token(client_id, client["client_secret"].as_str().unwrap()).await;
    let bot = app
        .post_ok(
            &format!("/v1/conversations/{id}/messages"),
            &token,
            json!({ "sender": { "kind": "bot" }, "text": "Your order ships today." }),
            StatusCode::CREATED,
        )
        .await;
    let by_client = json!({ "kind": "bot", "id": format!("client:{client_id}"), "name": "Order bot" });
    assert_eq!(bot["sender"], by_client);

    let got = hook.until("both messages", |r| r.iter().filter(|r| r.body["type"] == "message").count() >= 2).await;
    let froms: Vec<&Value> = got.iter().filter(|r| r.body["type"] == "message").map(|r| &r.body["from"]).collect();
    assert_eq!(
        froms,
        [&json!({ "id": by_key["id"], "name": "Ops console" }), &json!({ "id": by_client["id"], "name": "Order bot" })]
    );
    assert_eq!(logged_senders(&app).await, [by_key, by_client]);
}

#[tokio::test]
async fn a_customer_without_from_id_is_the_conversations_customer_and_files_alone_have_empty_text() {
    let app = TestApp::spawn().await;
    let hook = Receiver::start().await;
    let channel = messaging_channel(&app, Some(&hook.base), "app").await;
    let (integration, _) = app.key(Role::Integration).await;
    let (agent, _) = app.key(Role::Agent).await;
    let id = start(&app, &integration, &channel).await;
    let file =
        json!([{ "contentType": "application/pdf", "contentUrl": "https://files.example.com/a.pdf", "name": "a.pdf" }]);
    for body in [json!({ "type": "message", "text": "Hello" }), json!({ "type": "message", "attachments": file })] {
        let (status, out) =
            consumer(&app, Method::POST, &format!("/conversation/{id}"), &integration, &channel, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    let (_, transcript) =
        consumer(&app, Method::GET, &format!("/conversation/{id}/messages"), &integration, &channel, None).await;
    let messages = transcript["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{transcript}");
    for m in messages {
        assert_eq!(m["from"], json!({ "id": "jdoe", "name": "John Doe", "role": "customer" }));
    }
    assert_eq!(messages[1]["text"], "", "a message of attachments only has empty text, as the documented shape");
    let customer = json!({ "kind": "customer", "id": "jdoe", "name": "John Doe" });
    assert_eq!(logged_senders(&app).await, [customer.clone(), customer]);

    // An agent's file reaches the webhook with empty text too.
    app.post_ok(&format!("/v1/conversations/{id}/accept"), &agent, json!({}), StatusCode::OK).await;
    let link = json!([{ "content_type": "application/pdf", "url": "https://files.example.com/b.pdf" }]);
    app.post_ok(
        &format!("/v1/conversations/{id}/messages"),
        &agent,
        json!({ "attachments": link }),
        StatusCode::CREATED,
    )
    .await;
    let got = hook.until("the agent's file", |r| r.iter().any(|r| r.body["type"] == "message")).await;
    let message = got.iter().find(|r| r.body["type"] == "message").unwrap();
    assert_eq!(message.body["text"], "");
    assert_eq!(message.body["attachments"][0]["contentUrl"], "https://files.example.com/b.pdf");
}

#[tokio::test]
async fn messages_stored_without_a_whole_sender_read_with_their_kinds_name() {
    let app = TestApp::spawn().await;
    let channel = messaging_channel(&app, None, "app").await;
    let (integration, _) = app.key(Role::Integration).await;
    let id = start(&app, &integration, &channel).await;
    // What earlier versions wrote: a system message with neither id nor name, a customer's with no id.
    let (org, conversation): (OrgId, ConversationId) = (app.org_id.parse().unwrap(), id.parse().unwrap());
    app.state
        .store
        .write(move |tx| {
            for (kind, name) in [("system", None), ("customer", Some("J."))] {
                let message = json!({
                    "id": uuid::Uuid::now_v7(), "conversation_id": conversation, "sequence": 0,
                    "sender": { "kind": kind, "id": null, "name": name },
                    "text": "old", "attachments": [], "automated": false, "created_at": Timestamp::now(),
                });
                // Written as it was then, not as a message of today's catalogue would be.
                let at = events::next_position(tx, conversation, Timestamp::now())?;
                tx.execute(
                    "INSERT INTO events (org_id, event_type, conversation_id, seq, payload, created_at)
                     VALUES ($1, 'message.created', $2, $3, $4, $5)",
                    params![org, conversation, at.seq, message.to_string(), at.at],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let expected = [
        json!({ "kind": "system", "id": "system", "name": "System" }),
        json!({ "kind": "customer", "id": "customer", "name": "J." }),
    ];
    assert_eq!(logged_senders(&app).await, expected);
    let (_, list) = app.get(&format!("/v1/conversations/{id}/messages"), &integration).await;
    let listed: Vec<&Value> = list["data"].as_array().unwrap().iter().map(|m| &m["sender"]).collect();
    assert_eq!(listed, [&expected[0], &expected[1]]);
    let (_, transcript) =
        consumer(&app, Method::GET, &format!("/conversation/{id}/messages"), &integration, &channel, None).await;
    assert_eq!(transcript["messages"][0]["from"], json!({ "id": "system", "name": "System", "role": "system" }));
}
