//! The presence actions of reference §6.5 (`CCaaS_GetPresence`, `CCaaS_ModifyAgentPresence`): an agent on their
//! own, a supervisor for an agent through `MSCRMCallerID`, and the refusals.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::role::Role;
use switchboard_server::admin;

use crate::{
    TestApp, assert_problem,
    routing::{agent, create, pending_offers, routed},
};

const GET: &str = "/api/data/v9.2/CCaaS_GetPresence";
const MODIFY: &str = "/api/data/v9.2/CCaaS_ModifyAgentPresence";

/// Posts with an optional `MSCRMCallerID` header.
async fn post_as(app: &TestApp, path: &str, key: &str, caller: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = app.http.post(format!("{}{path}", app.base)).bearer_auth(key).json(&body);
    if let Some(caller) = caller {
        request = request.header("MSCRMCallerID", caller);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ok(app: &TestApp, path: &str, key: &str, caller: Option<&str>, body: Value) -> Value {
    let (status, answer) = post_as(app, path, key, caller, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    answer
}

/// A refused request: path, key, `MSCRMCallerID`, body, and the answer's status and code.
type Refused<'a> = (&'a str, &'a str, Option<&'a str>, Value, StatusCode, &'a str);

fn channel_ids(answer: &Value) -> Vec<&str> {
    answer["AllowedChannels"].as_array().unwrap().iter().map(|c| c["ChannelId"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn an_agent_and_a_supervisor_for_them_read_and_set_the_agents_presence() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (key, id) = agent(&app, &[&setup.queue], "available").await;

    let mine = ok(&app, GET, &key, None, json!({ "ApiVersion": "1.0" })).await;
    assert_eq!(mine["AgentId"], id.as_str());
    assert_eq!(
        (mine["PresenceId"].as_str(), mine["PresenceText"].as_str(), mine["BasePresence"].as_str()),
        (Some("available"), Some("Available"), Some("available"))
    );
    assert_eq!(channel_ids(&mine), [setup.channel.as_str()]);
    assert_eq!(mine["Session"]["CapacityUnits"], 2);
    assert_eq!(mine["Session"]["QueueIds"], json!([setup.queue]));

    // A conversation the agent takes shows in the session.
    let conversation = create(&app, &setup.channel, "c1", json!({})).await;
    let offer = pending_offers(&app, &id, &key, 1).await[0]["id"].as_str().unwrap().to_string();
    app.post_ok(&format!("/v1/offers/{offer}/accept"), &key, json!({}), StatusCode::OK).await;
    let busy = ok(&app, GET, &key, None, json!({ "AgentId": id })).await;
    assert_eq!(busy["Session"]["UsedUnits"], 1);
    assert_eq!(
        busy["Session"]["Conversations"],
        json!([{ "ConversationId": conversation, "State": "active", "ChannelId": setup.channel }])
    );

    // The agent goes away: no routed workstream allows it, so no channel offers them work.
    let away = ok(&app, MODIFY, &key, None, json!({ "ApiVersion": "1.0", "AgentId": id, "PresenceId": "away" })).await;
    assert_eq!((away["PresenceId"].as_str(), away["BasePresence"].as_str()), (Some("away"), Some("away")));
    assert!(channel_ids(&away).is_empty(), "{away}");
    let (_, presence) = app.get(&format!("/v1/agents/{id}/presence"), &key).await;
    assert_eq!(presence["presence"], "away");

    // A supervisor, acting for the agent, sets a custom presence.
    let training = json!({ "name": "Training", "base": "busy" });
    let custom = app.post_ok("/v1/presences", &app.admin_key, training, StatusCode::CREATED).await;
    let custom = custom["id"].as_str().unwrap().to_string();
    let (supervisor, _) = app.key(Role::Supervisor).await;
    let body = json!({ "ApiVersion": "1.0", "AgentId": id, "PresenceId": custom });
    let set = ok(&app, MODIFY, &supervisor, Some(&id), body).await;
    assert_eq!(
        (set["PresenceId"].as_str(), set["PresenceText"].as_str(), set["BasePresence"].as_str()),
        (Some(custom.as_str()), Some("Training"), Some("busy"))
    );
    assert_eq!(channel_ids(&set), [setup.channel.as_str()], "busy is allowed");
    let read = ok(&app, GET, &supervisor, Some(&id), json!({})).await;
    assert_eq!(read["PresenceId"], custom.as_str());
    // Without the header, a supervisor names the agent.
    let read = ok(&app, GET, &supervisor, None, json!({ "AgentId": id })).await;
    assert_eq!(read["PresenceText"], "Training");
}

#[tokio::test]
async fn presence_actions_refuse_bad_input_and_change_nothing() {
    let app = TestApp::spawn().await;
    let setup = routed(&app, json!({})).await;
    let (key, id) = agent(&app, &[&setup.queue], "available").await;
    let (_, other) = agent(&app, &[&setup.queue], "available").await;
    let (supervisor, _) = app.key(Role::Supervisor).await;
    let (integration, _) = app.key(Role::Integration).await;
    let (_, tenant) = admin::create_org(&app.state.store, "other", app.state.clock.now()).await.unwrap();
    let (_, foreign) =
        admin::create_user(&app.state.store, tenant.org_id, "Theirs", None, Role::Agent, None, app.state.clock.now())
            .await
            .unwrap();
    let theirs = app
        .post_ok("/v1/presences", &tenant.api_key, json!({ "name": "Theirs", "base": "busy" }), StatusCode::CREATED)
        .await;
    let set = |agent: &str, presence: &str| json!({ "ApiVersion": "1.0", "AgentId": agent, "PresenceId": presence });
    let unknown = uuid::Uuid::now_v7().to_string();
    let foreign_id = foreign.user_id.to_string();
    let before = app.event_count().await;

    let cases: Vec<Refused<'_>> = vec![
        (MODIFY, &app.admin_key, None, set(&unknown, "busy"), StatusCode::NOT_FOUND, "agent_not_found"),
        (MODIFY, &app.admin_key, None, set(&foreign_id, "busy"), StatusCode::NOT_FOUND, "agent_not_found"),
        (GET, &supervisor, None, json!({ "AgentId": foreign_id }), StatusCode::NOT_FOUND, "agent_not_found"),
        (MODIFY, &supervisor, Some(&unknown), set(&unknown, "busy"), StatusCode::NOT_FOUND, "agent_not_found"),
        // An agent acts on themselves only, with or without the header.
        (MODIFY, &key, None, set(&other, "busy"), StatusCode::FORBIDDEN, "forbidden"),
        (GET, &key, None, json!({ "AgentId": other }), StatusCode::FORBIDDEN, "forbidden"),
        (MODIFY, &key, Some(&other), set(&other, "busy"), StatusCode::FORBIDDEN, "forbidden"),
        // A supervisor acting for one agent is that agent.
        (MODIFY, &supervisor, Some(&id), set(&other, "busy"), StatusCode::FORBIDDEN, "forbidden"),
        (MODIFY, &integration, None, set(&id, "busy"), StatusCode::FORBIDDEN, "forbidden"),
        (MODIFY, &app.admin_key, None, json!({ "AgentId": id }), StatusCode::BAD_REQUEST, "missing_field"),
        (
            MODIFY,
            &app.admin_key,
            None,
            json!({ "AgentId": id, "PresenceId": "busy", "Extra": 1 }),
            StatusCode::BAD_REQUEST,
            "unknown_field",
        ),
        (MODIFY, &app.admin_key, None, set("not-an-id", "busy"), StatusCode::BAD_REQUEST, "invalid_field"),
        (MODIFY, &supervisor, Some("not-an-id"), set(&id, "busy"), StatusCode::BAD_REQUEST, "invalid_field"),
        (GET, &supervisor, None, json!({}), StatusCode::BAD_REQUEST, "missing_field"),
        (MODIFY, &app.admin_key, None, set(&id, "nope"), StatusCode::BAD_REQUEST, "invalid_presence"),
        (MODIFY, &app.admin_key, None, set(&id, "inactive"), StatusCode::BAD_REQUEST, "invalid_presence"),
        (
            MODIFY,
            &app.admin_key,
            None,
            set(&id, theirs["id"].as_str().unwrap()),
            StatusCode::BAD_REQUEST,
            "invalid_presence",
        ),
    ];
    for (path, who, caller, body, status, code) in cases {
        let (got, problem) = post_as(&app, path, who, caller, body.clone()).await;
        assert_problem(got, &problem, status, code);
        if code == "invalid_presence" {
            assert_eq!(problem["field"], "PresenceId", "{problem}");
        }
    }
    let response = app
        .http
        .post(format!("{}{MODIFY}", app.base))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let problem: Value = response.json().await.unwrap();
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_json");

    assert_eq!(app.event_count().await, before, "refused requests change nothing");
    for agent in [&id, &other] {
        let (_, presence) = app.get(&format!("/v1/agents/{agent}/presence"), &app.admin_key).await;
        assert_eq!(presence["presence"], "available", "{presence}");
    }
}
