//! Outbound messages: an administrator keeps SMS and WhatsApp templates in several locales with `{Placeholder}`s,
//! and outbound configurations that name a channel and a template; integrations preview what a send renders.
//! Templates and configurations that could never be sent are refused when saved, with the field that is wrong.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_domain::role::Role;
use switchboard_server::admin;

use crate::{TestApp, assert_problem};

fn case_resolved() -> Value {
    json!({
        "name": "Case resolved",
        "channel_type": "sms",
        "default_locale": "en-US",
        "versions": [
            { "locale": "en-US", "text": "Hi {CustomerName}, your case {CaseName} is resolved." },
            { "locale": "1036", "text": "Bonjour {CustomerName}, votre dossier {CaseName} est clos." }
        ]
    })
}

#[tokio::test]
async fn a_template_in_two_locales_renders_each_and_falls_back_to_its_default() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let created = app.post_ok("/v1/message-templates", key, case_resolved(), StatusCode::CREATED).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["versions"][1]["locale"], "fr-FR", "an LCID is kept as its tag");
    assert_eq!(created["placeholders"], json!(["CaseName", "CustomerName"]));

    let (integration, _) = app.key(Role::Integration).await;
    let preview = format!("/v1/message-templates/{id}/preview");
    let values = json!({ "customername": "Grace", "CaseName": "CAS-01042" });
    for (locale, text) in [
        (json!("fr-CA"), "Bonjour Grace, votre dossier CAS-01042 est clos."),
        (json!("1036"), "Bonjour Grace, votre dossier CAS-01042 est clos."),
        (json!("ja-JP"), "Hi Grace, your case CAS-01042 is resolved."),
        (Value::Null, "Hi Grace, your case CAS-01042 is resolved."),
    ] {
        let rendered =
            app.post_ok(&preview, &integration, json!({ "locale": locale, "values": values }), StatusCode::OK).await;
        assert_eq!(rendered["text"], text, "{locale}");
    }

    // Every placeholder needs its value, once.
    let (status, problem) = app.post(&preview, &integration, json!({ "values": { "CustomerName": "Grace" } })).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "missing_placeholder");
    assert!(problem["detail"].as_str().unwrap().contains("{CaseName}"), "{problem}");
    let twice = json!({ "values": { "CustomerName": "Grace", "customerName": "Ada", "CaseName": "1" } });
    let (status, problem) = app.post(&preview, &integration, twice).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "conflicting_placeholder");

    // Renamed, then a version changed: checked whole again.
    let path = format!("/v1/message-templates/{id}");
    let (status, renamed) = app.call(Method::PATCH, &path, Some(key), Some(json!({ "name": "Case closed" }))).await;
    assert_eq!((status, renamed["name"].as_str()), (StatusCode::OK, Some("Case closed")), "{renamed}");
    let versions =
        json!({ "versions": [{ "locale": "en-US", "text": "{CustomerName}: {CaseName} closed, ref {Ref}." }] });
    let (status, changed) = app.call(Method::PATCH, &path, Some(key), Some(versions)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["placeholders"], json!(["CaseName", "CustomerName", "Ref"]));
    let (_, page) = app.get("/v1/message-templates", &integration).await;
    assert_eq!(page["data"][0]["name"], "Case closed");

    assert_eq!(app.call(Method::DELETE, &path, Some(key), None).await.0, StatusCode::NO_CONTENT);
    let (status, problem) = app.get(&path, key).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "message_template_not_found");
}

#[tokio::test]
async fn whatsapp_templates_fill_the_providers_parameters() {
    let app = TestApp::spawn().await;
    let body = json!({
        "name": "Appointment", "channel_type": "whatsapp", "default_locale": "en-US",
        "versions": [{ "locale": "en-US", "text": "Your appointment is on {Date}.",
            "whatsapp": { "content_sid": "HX0123456789abcdef0123456789abcdef", "parameters": ["{CustomerName}", "{Date}"] } }]
    });
    let created = app.post_ok("/v1/message-templates", &app.admin_key, body, StatusCode::CREATED).await;
    let preview = format!("/v1/message-templates/{}/preview", created["id"].as_str().unwrap());
    let rendered = app
        .post_ok(
            &preview,
            &app.admin_key,
            json!({ "values": { "CustomerName": "Ana", "Date": "12/9" } }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(rendered["whatsapp"]["parameters"], json!(["Ana", "12/9"]));
    assert_eq!(rendered["text"], "Your appointment is on 12/9.");
}

#[tokio::test]
async fn templates_that_could_never_be_sent_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let with = |patch: Value| {
        let mut body = case_resolved();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let text = |t: &str| with(json!({ "versions": [{ "locale": "en-US", "text": t }] }));
    let endless = "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}";
    for (body, code, field) in [
        (text(endless), "invalid_field", "versions[0].text"),
        (text("{% include '/etc/passwd' %}"), "invalid_field", "versions[0].text"),
        (text("Hi {CustomerName"), "invalid_field", "versions[0].text"),
        (text("{% for i in range(300) %}0123456789{% endfor %}"), "invalid_field", "versions[0].text"),
        (text(""), "invalid_field", "versions[0].text"),
        (with(json!({ "default_locale": "de-DE" })), "invalid_field", "default_locale"),
        (with(json!({ "default_locale": "99999" })), "invalid_field", "default_locale"),
        (with(json!({ "channel_type": "live_chat" })), "invalid_field", "channel_type"),
        (with(json!({ "versions": [] })), "invalid_field", "versions"),
        (
            with(json!({ "versions": [{ "locale": "en-US", "text": "a" }, { "locale": "1033", "text": "b" }] })),
            "invalid_field",
            "versions[1].locale",
        ),
        (with(json!({ "versions": [{ "locale": "en-US" }] })), "missing_field", "versions[0].text"),
        (
            with(json!({ "versions": [{ "locale": "en-US", "text": "a",
                "whatsapp": { "content_sid": "HX0123456789abcdef0123456789abcdef" } }] })),
            "invalid_field",
            "versions[0].whatsapp",
        ),
        (with(json!({ "name": " " })), "invalid_field", "name"),
    ] {
        let (status, problem) = app.post("/v1/message-templates", key, body.clone()).await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST, code);
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let (status, problem) = app.post("/v1/message-templates", key, with(json!({ "extra": 1 }))).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "unknown_field");
    let (_, page) = app.get("/v1/message-templates", key).await;
    assert_eq!(page["data"], json!([]), "nothing was kept");

    // The name is the organization's; only administrators write; another organization sees none of them.
    let created = app.post_ok("/v1/message-templates", key, case_resolved(), StatusCode::CREATED).await;
    let (status, problem) = app.post("/v1/message-templates", key, with(json!({ "name": "CASE RESOLVED" }))).await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "already_exists");
    let (agent, _) = app.key(Role::Agent).await;
    assert_eq!(app.post("/v1/message-templates", &agent, case_resolved()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/message-templates", &agent).await.0, StatusCode::FORBIDDEN);
    let path = format!("/v1/message-templates/{}", created["id"].as_str().unwrap());
    let (_, other) = admin::create_org(&app.state.store, "other", app.state.clock.now()).await.unwrap();
    let (status, problem) = app.get(&path, &other.api_key).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "message_template_not_found");
    let (status, _) = app.call(Method::DELETE, &path, Some(&other.api_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A change that would break it is refused, and it stays as it was.
    let (status, problem) = app.call(Method::PATCH, &path, Some(key), Some(json!({ "default_locale": "ja-JP" }))).await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST, "invalid_field");
    let (_, kept) = app.get(&path, key).await;
    assert_eq!(kept["default_locale"], "en-US");
    assert_eq!(app.get("/v1/message-templates/not-an-id", key).await.0, StatusCode::NOT_FOUND);
}

/// An SMS channel of a TeleSign account, in a workstream of its own; returns its id.
async fn sms_channel(app: &TestApp, key: &str, name: &str) -> String {
    let queue = app.post_ok("/v1/queues", key, json!({ "name": name }), StatusCode::CREATED).await;
    let ws = app
        .post_ok("/v1/workstreams", key, json!({ "name": name, "fallback_queue_id": queue["id"] }), StatusCode::CREATED)
        .await;
    let account = app
        .post_ok(
            "/v1/messaging-accounts",
            key,
            json!({ "name": name, "kind": "sms", "method": "telesign",
                "settings": { "customer_id": "FFFFFFFF-EEEE-DDDD-1234-AB1234567890" },
                "credentials": { "api_key": "YmVuY2gtYXBpLWtleQ==" } }),
            StatusCode::CREATED,
        )
        .await;
    let channel = app
        .post_ok(
            &format!("/v1/messaging-accounts/{}/channels", account["id"].as_str().unwrap()),
            key,
            json!({ "name": name, "workstream_id": ws["id"] }),
            StatusCode::CREATED,
        )
        .await;
    channel["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_configuration_names_a_channel_and_a_template_of_its_type() {
    let app = TestApp::spawn().await;
    let key = &app.admin_key;
    let channel = sms_channel(&app, key, "Texts").await;
    let template = app.post_ok("/v1/message-templates", key, case_resolved(), StatusCode::CREATED).await;
    let body = json!({ "name": "Case resolved SMS", "show_in_timeline": true, "channel_type": "sms",
        "channel_id": channel, "template_id": template["id"] });
    let config = app.post_ok("/v1/outbound-configs", key, body.clone(), StatusCode::CREATED).await;
    assert_eq!(
        (config["show_in_timeline"].as_bool(), config["channel_id"].as_str()),
        (Some(true), Some(channel.as_str()))
    );
    let path = format!("/v1/outbound-configs/{}", config["id"].as_str().unwrap());
    let (integration, _) = app.key(Role::Integration).await;
    let (status, read) = app.get(&path, &integration).await;
    assert_eq!((status, &read), (StatusCode::OK, &config));

    // A WhatsApp template, another organization's channel, an unknown template: each refused with its field.
    let whatsapp = json!({ "name": "Appointment", "channel_type": "whatsapp", "default_locale": "en-US",
        "versions": [{ "locale": "en-US", "text": "See you on {Date}." }] });
    let whatsapp = app.post_ok("/v1/message-templates", key, whatsapp, StatusCode::CREATED).await;
    let (_, other) = admin::create_org(&app.state.store, "other", app.state.clock.now()).await.unwrap();
    let other_channel = sms_channel(&app, &other.api_key, "Theirs").await;
    let with = |k: &str, v: Value| {
        let mut b = body.clone();
        b["name"] = json!("Another");
        b[k] = v;
        b
    };
    for (bad, status, code, field) in [
        (with("template_id", whatsapp["id"].clone()), StatusCode::BAD_REQUEST, "invalid_field", "template_id"),
        (with("channel_type", json!("whatsapp")), StatusCode::BAD_REQUEST, "invalid_field", "channel_id"),
        (with("channel_type", json!("voice")), StatusCode::BAD_REQUEST, "invalid_field", "channel_type"),
        (with("channel_id", json!(other_channel)), StatusCode::NOT_FOUND, "channel_not_found", "channel_id"),
        (
            with("template_id", json!("01900000-0000-7000-8000-0000000000ff")),
            StatusCode::NOT_FOUND,
            "message_template_not_found",
            "template_id",
        ),
        (with("name", json!("CASE RESOLVED sms")), StatusCode::CONFLICT, "already_exists", "name"),
    ] {
        let (got, problem) = app.post("/v1/outbound-configs", key, bad.clone()).await;
        assert_problem(got, &problem, status, code);
        assert_eq!(problem["field"], field, "{bad}: {problem}");
    }

    // The template cannot go from under it; once the configuration is gone, it can.
    let template_path = format!("/v1/message-templates/{}", template["id"].as_str().unwrap());
    let (status, problem) = app.call(Method::DELETE, &template_path, Some(key), None).await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "in_use");
    let (status, changed) = app.call(Method::PATCH, &path, Some(key), Some(json!({ "show_in_timeline": false }))).await;
    assert_eq!((status, changed["show_in_timeline"].as_bool()), (StatusCode::OK, Some(false)), "{changed}");
    assert_eq!(app.post("/v1/outbound-configs", &integration, body.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&path, &other.api_key).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::DELETE, &path, Some(key), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::DELETE, &template_path, Some(key), None).await.0, StatusCode::NO_CONTENT);
}
