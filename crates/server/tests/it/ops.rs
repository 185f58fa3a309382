use reqwest::{Method, StatusCode};

use crate::TestApp;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let health = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // Every response carries a request id, the one the client sent or a new one.
    assert!(health.headers().contains_key("x-request-id"));
    let traced = app.http.get(format!("{}/readyz", app.base)).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(traced.status(), StatusCode::OK);
    assert_eq!(traced.headers()["x-request-id"], "abc-123");
    app.get("/v1/org", &app.admin_key).await;
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/v1/org\""), "{metrics}");
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/conversations",
        "/v1/conversations/{id}/messages",
        "/v1/conversations/{id}/accept",
        "/v1/conversations/{id}/context",
        "/v1/conversations/{id}/timeline",
        "/v1/contacts",
        "/v1/queues",
        "/v1/workstreams",
        "/v1/channels",
        "/v1/users",
        "/v1/api-keys",
        "/v1/clients",
        "/v1/events",
        "/oauth2/token",
        "/.well-known/jwks.json",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
        }
    }
    assert!(doc["components"]["schemas"]["Conversation"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let page = app.http.get(format!("{}/docs", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("/openapi.json") && page.contains("swagger-ui-bundle.js"));
    let js = app.http.get(format!("{}/docs/assets/swagger-ui-bundle.js", app.base)).send().await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.bytes().await.unwrap().len() > 100_000, "the vendored bundle is served");
    let errors = app.http.get(format!("{}/docs/errors", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(errors.contains("idempotency_key_reused") && errors.contains("conversation_not_found"));
}
