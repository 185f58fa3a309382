//! Slow and idle clients, the connection limit and timeouts, spoken as raw TCP so that the test controls exactly
//! which bytes arrive and when. Each wait for the server's answer is bounded by a generous guard: a server without
//! the limit never answers, and the test fails instead of hanging. No test asserts how long anything took.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{Options, TestApp, assert_problem};

const GUARD: Duration = Duration::from_secs(30);

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap()
}

/// Everything the server sends until it closes the connection.
async fn until_closed(stream: &mut TcpStream, what: &str) -> String {
    let mut bytes = Vec::new();
    match tokio::time::timeout(GUARD, stream.read_to_end(&mut bytes)).await {
        Ok(Ok(_)) => {}
        // A reset (the server closed with bytes unread) is a close too.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => panic!("{what}: the server never closed the connection"),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One response: its status and its JSON body (`Null` when it has none).
async fn response(stream: &mut TcpStream) -> (StatusCode, Value) {
    let mut bytes = Vec::new();
    let read = async {
        loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before a whole response: {}", String::from_utf8_lossy(&bytes));
            bytes.extend_from_slice(&chunk[..n]);
            if let Some(parsed) = parse(&bytes) {
                return parsed;
            }
        }
    };
    tokio::time::timeout(GUARD, read).await.expect("no response")
}

fn parse(bytes: &[u8]) -> Option<(StatusCode, Value)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse::<u16>().ok()?;
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
        .and_then(|l| l.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (body.len() >= length)
        .then(|| (StatusCode::from_u16(status).unwrap(), serde_json::from_str(&body[..length]).unwrap_or(Value::Null)))
}

fn problem_of(answer: &str) -> (StatusCode, Value) {
    parse(answer.as_bytes()).unwrap_or_else(|| panic!("not an HTTP response: {answer:?}"))
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_answered_408_and_disconnected() {
    let app = TestApp::spawn_with(Options {
        configure: Some(|c| c.http.header_read_timeout_seconds = 1),
        ..Options::default()
    })
    .await;
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.unwrap();
    let answer = until_closed(&mut slow, "half the headers").await;
    let (status, body) = problem_of(&answer);
    assert_problem(status, &body, StatusCode::REQUEST_TIMEOUT, "header_timeout");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // On a kept-alive connection the next request's headers are timed too.
    let mut kept = connect(&app).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert_eq!(response(&mut kept).await.0, StatusCode::OK);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: lo").await.unwrap();
    let (status, body) = problem_of(&until_closed(&mut kept, "the second request's headers").await);
    assert_problem(status, &body, StatusCode::REQUEST_TIMEOUT, "header_timeout");

    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_connections_closed_total{reason=\"header_timeout\"}"), "{metrics}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_with(Options {
        // The header timeout is longer than the guard: only the idle timeout can close the connection.
        configure: Some(|c| {
            c.http.keep_alive_idle_seconds = 1;
            c.http.header_read_timeout_seconds = 600;
        }),
        ..Options::default()
    })
    .await;
    let mut kept = connect(&app).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let answer = until_closed(&mut kept, "an idle connection").await;
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "one response, then a silent close: {answer}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn at_the_connection_limit_a_new_connection_evicts_the_oldest_slow_client() {
    let app =
        TestApp::spawn_with(Options { configure: Some(|c| c.http.max_connections = 3), ..Options::default() }).await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut s = connect(&app).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
        slow.push(s);
    }
    // The server accepts in arrival order: the health check finds three slow clients and takes the oldest's place.
    let health = reqwest::Client::new().get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(until_closed(&mut slow[0], "the oldest slow client").await, "", "evicted without an answer");

    let metrics = reqwest::Client::new().get(format!("{}/metrics", app.base)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("http_connections_closed_total{reason=\"evicted\"}"), "{metrics}");
    assert!(metrics.contains("http_connections_open"), "{metrics}");
}

/// Starts a send whose body is still on its way, and waits until the handler is reading it (the server's
/// `100 Continue` says so): the connection is then inside a request until the body arrives.
async fn unfinished_send(app: &TestApp) -> TcpStream {
    let mut stream = connect(app).await;
    let head = format!(
        "POST /v1/queues HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 17\r\nExpect: 100-continue\r\n\r\n",
        app.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let read = async {
        while !seen.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed before 100 Continue");
            seen.push(byte[0]);
        }
    };
    tokio::time::timeout(GUARD, read).await.expect("no 100 Continue");
    assert!(seen.starts_with(b"HTTP/1.1 100"), "{}", String::from_utf8_lossy(&seen));
    stream.write_all(b"{").await.unwrap();
    stream
}

#[tokio::test]
async fn when_every_connection_is_inside_a_request_a_new_one_is_refused_until_one_is_free() {
    let app =
        TestApp::spawn_with(Options { configure: Some(|c| c.http.max_connections = 2), ..Options::default() }).await;
    // Both held open, inside their requests.
    let (mut first, _second) = (unfinished_send(&app).await, unfinished_send(&app).await);
    let mut refused = connect(&app).await;
    refused.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert_eq!(until_closed(&mut refused, "a connection over the limit").await, "", "refused, not answered");

    // One request finishes: its connection is idle, and the next connection takes its place.
    first.write_all(b"\"name\": \"Sales\"}").await.unwrap();
    assert_eq!(response(&mut first).await.0, StatusCode::CREATED);
    let mut next = connect(&app).await;
    next.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert_eq!(response(&mut next).await.0, StatusCode::OK);
    let closed = until_closed(&mut first, "the idle connection").await;
    assert_eq!(closed, "", "the idle connection was evicted: {closed}");

    let mut metrics = connect(&app).await;
    metrics.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let metrics = until_closed(&mut metrics, "metrics").await;
    assert!(metrics.contains("http_connections_closed_total{reason=\"refused\"}"), "{metrics}");
}

#[tokio::test]
async fn a_request_that_outlives_the_request_timeout_is_answered_problem_json() {
    let app =
        TestApp::spawn_with(Options { configure: Some(|c| c.request_timeout_seconds = 1), ..Options::default() }).await;
    let mut slow = unfinished_send(&app).await;
    let (status, body) = response(&mut slow).await;
    assert_problem(status, &body, StatusCode::SERVICE_UNAVAILABLE, "request_timeout");
    let (_, queues) = app.get("/v1/queues", &app.admin_key).await;
    assert_eq!(queues["data"], serde_json::json!([]), "the timed-out send changed nothing");
}
