//! The live stream, `GET /v1/stream`: WebSocket and SSE clients see the log's events as they happen, resume without
//! loss or duplicates, are closed when they stop reading without holding the others back, and see only what their
//! role may see.

use std::{collections::BTreeSet, time::Duration};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_domain::role::Role;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode},
};

use crate::{Options, TestApp, assert_problem};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Long enough for the PostgreSQL run, where every test of the suite shares two cores.
const WAIT: Duration = Duration::from_secs(30);

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("{}/v1/stream{query}", app.base.replacen("http://", "ws://", 1))
}

async fn connect(app: &TestApp, key: &str, query: &str) -> Ws {
    let mut request = ws_url(app, query).into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {key}")).unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.expect("websocket");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// The next JSON frame (pings are answered by the client and skipped).
async fn next_frame(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time").expect("open").unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Frames until one passes `stop`, that one included.
async fn frames_until(ws: &mut Ws, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next_frame(ws).await;
        let done = stop(&frame);
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

/// The ids of the organization's events after `after`, as `GET /v1/events` lists them.
async fn log_ids(app: &TestApp, after: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = app.get(&format!("/v1/events?limit=250{cursor}"), &app.admin_key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        ids.extend(page["data"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).filter(|id| *id > after));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return ids,
        }
    }
}

/// Sends a customer message.
async fn say(app: &TestApp, key: &str, conversation: &str, text: &str) {
    app.post_ok(
        &format!("/v1/conversations/{conversation}/messages"),
        key,
        json!({ "text": text }),
        StatusCode::CREATED,
    )
    .await;
}

fn is_message(frame: &Value, text: &str) -> bool {
    frame["type"] == "message.created" && frame["data"]["text"] == text
}

async fn setup(app: &TestApp) -> (String, String) {
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    (channel, integration)
}

/// What a resumed stream gave, checked against the log: every event after the resume point up to the last one
/// received, once each and in order.
async fn assert_exactly_the_log(app: &TestApp, after: i64, received: &[i64]) {
    let last = *received.last().unwrap();
    let expected: Vec<i64> = log_ids(app, after).await.into_iter().filter(|id| *id <= last).collect();
    assert_eq!(received, expected, "the resumed stream gives exactly the events missed, in order");
}

#[tokio::test]
async fn a_websocket_client_that_resumes_gets_exactly_the_events_it_missed() {
    let app = TestApp::spawn().await;
    let (channel, integration) = setup(&app).await;
    let mut ws = connect(&app, &app.admin_key, "").await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    say(&app, &integration, &conversation, "first").await;
    let seen = frames_until(&mut ws, |f| is_message(f, "first")).await;
    let last = seen.last().unwrap()["id"].as_i64().unwrap();
    drop(ws);
    for i in 0..5 {
        say(&app, &integration, &conversation, &format!("missed {i}")).await;
    }
    let mut ws = connect(&app, &app.admin_key, &format!("?after={last}")).await;
    say(&app, &integration, &conversation, "live").await;
    let resumed = frames_until(&mut ws, |f| is_message(f, "live")).await;
    let ids: Vec<i64> = resumed.iter().map(|f| f["id"].as_i64().expect("events carry their id")).collect();
    assert_exactly_the_log(&app, last, &ids).await;
    assert!(resumed.iter().any(|f| is_message(f, "missed 4")));
}

/// Writes an event of the test's organization with a chosen id, as a transaction that commits out of id order
/// leaves it (PostgreSQL hands out ids before commit).
async fn insert_event(app: &TestApp, id: i64) {
    use switchboard_store::{Backend, params};
    let org = app.org_id.clone();
    let overriding = match app.state.store.backend() {
        Backend::Postgres => "OVERRIDING SYSTEM VALUE",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "INSERT INTO events (id, org_id, event_type, payload, created_at) {overriding} \
         VALUES ($1, $2, 'test.late', '{{}}', 0)"
    );
    app.state.store.write(move |tx| tx.execute(&sql, params![id, org.as_str()]).map(drop)).await.unwrap();
}

fn ids(frames: &[Value]) -> Vec<i64> {
    frames.iter().map(|f| f["id"].as_i64().expect("events carry their id")).collect()
}

#[tokio::test]
async fn a_resume_never_gives_again_an_event_at_or_before_its_id() {
    let app = TestApp::spawn().await;
    let mut watching = connect(&app, &app.admin_key, "").await;
    let last = app.state.store.read(switchboard_store::routing::last_event_id).await.unwrap();
    // last+2 commits before last+1: the hub reads last+2 and awaits last+1.
    insert_event(&app, last + 2).await;
    insert_event(&app, last + 3).await;
    assert_eq!(ids(&frames_until(&mut watching, |f| f["id"] == last + 3).await), [last + 2, last + 3]);
    // Meanwhile last+1 committed, and a client got it with last+2 from another node; it resumes here after last+2.
    let mut resumed = connect(&app, &app.admin_key, &format!("?after={}", last + 2)).await;
    insert_event(&app, last + 1).await;
    insert_event(&app, last + 4).await;
    // The watching client was never given last+1: it comes to it live, late.
    assert_eq!(ids(&frames_until(&mut watching, |f| f["id"] == last + 4).await), [last + 1, last + 4]);
    // The resumed one gets what follows its resume id, once: never last+1 again.
    assert_eq!(ids(&frames_until(&mut resumed, |f| f["id"] == last + 4).await), [last + 3, last + 4]);
}

/// Reads SSE frames from a response: (id, event name, data) per frame; comments come as ("", "comment", "").
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(app: &TestApp, key: &str, last_event_id: Option<i64>) -> Self {
        let mut request =
            app.http.get(format!("{}/v1/stream", app.base)).bearer_auth(key).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Self { response, buffer: String::new() }
    }

    async fn next(&mut self) -> (String, String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), "message".to_string(), String::new());
                for line in block.lines() {
                    if line.starts_with(':') {
                        return (String::new(), "comment".into(), String::new());
                    }
                    if let Some(v) = line.strip_prefix("id: ").or_else(|| line.strip_prefix("id:")) {
                        id = v.to_string();
                    } else if let Some(v) = line.strip_prefix("event: ").or_else(|| line.strip_prefix("event:")) {
                        event = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:")) {
                        data.push_str(v);
                    }
                }
                return (id, event, data);
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk()).await.expect("data in time").unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk.expect("the stream is open")).unwrap());
        }
    }

    async fn events_until(&mut self, stop: impl Fn(&Value) -> bool) -> Vec<(i64, Value)> {
        let mut out = Vec::new();
        loop {
            let (id, event, data) = self.next().await;
            if event != "message" {
                continue;
            }
            let frame: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(frame["id"].as_i64().unwrap().to_string(), id, "the SSE id is the event's");
            let done = stop(&frame);
            out.push((id.parse().unwrap(), frame));
            if done {
                return out;
            }
        }
    }
}

#[tokio::test]
async fn an_sse_client_that_resumes_with_last_event_id_gets_exactly_the_events_it_missed() {
    let app = TestApp::spawn().await;
    let (channel, integration) = setup(&app).await;
    let mut sse = SseReader::open(&app, &app.admin_key, None).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    say(&app, &integration, &conversation, "first").await;
    let seen = sse.events_until(|f| is_message(f, "first")).await;
    let last = seen.last().unwrap().0;
    drop(sse);
    for i in 0..5 {
        say(&app, &integration, &conversation, &format!("missed {i}")).await;
    }
    let mut sse = SseReader::open(&app, &app.admin_key, Some(last)).await;
    say(&app, &integration, &conversation, "live").await;
    let resumed = sse.events_until(|f| is_message(f, "live")).await;
    let ids: Vec<i64> = resumed.iter().map(|(id, _)| *id).collect();
    assert_exactly_the_log(&app, last, &ids).await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_while_another_receives_every_event() {
    let app =
        TestApp::spawn_with(Options { configure: Some(|c| c.stream.send_buffer = 64), ..Default::default() }).await;
    let (channel, integration) = setup(&app).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    let mut reader = connect(&app, &app.admin_key, "").await;
    let reading = tokio::spawn(async move { frames_until(&mut reader, |f| is_message(f, "last")).await });
    // A client with a small receive window that completes the handshake, then never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let tcp = socket.connect(app.base.trim_start_matches("http://").parse().unwrap()).await.unwrap();
    let mut request = ws_url(&app, "").into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {}", app.admin_key)).unwrap());
    let (mut stalled, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await.unwrap();
    let text = "x".repeat(5_000);
    let mut sent = 0;
    while app.state.stream.connections().await == 2 {
        assert!(sent < 5_000, "the stalled client was never closed");
        for _ in 0..20 {
            say(&app, &integration, &conversation, &text).await;
        }
        sent += 20;
    }
    say(&app, &integration, &conversation, "last").await;
    let received: Vec<i64> =
        reading.await.unwrap().iter().map(|f| f["id"].as_i64().expect("events carry their id")).collect();
    assert!(received.len() > sent, "the reader got every message and more: {} of {sent}", received.len());
    // Nothing missing between the reader's first event and its last, none twice.
    assert_exactly_the_log(&app, received[0] - 1, &received).await;
    // The stalled client, reading at last, finds the close with the documented code after what was in flight.
    let close = tokio::time::timeout(WAIT, async {
        loop {
            match stalled.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("the connection ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(close.unwrap().code, CloseCode::Library(4008));
}

/// Waits until the hub serves `n` connections (those that ended no longer count), producing events with `produce`
/// meanwhile; fails after `WAIT`.
async fn until_connections(app: &TestApp, n: usize, what: &str, mut produce: impl AsyncFnMut()) {
    let deadline = std::time::Instant::now() + WAIT;
    while app.state.stream.connections().await != n {
        assert!(std::time::Instant::now() < deadline, "{what}");
        produce().await;
    }
}

#[tokio::test]
async fn an_sse_client_that_stops_reading_is_closed_by_the_write_timeout() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn_with(Options {
        configure: Some(|c| {
            c.stream.write_timeout_seconds = 1;
            // Far more frames than the test produces: only the write timeout can close the stream.
            c.stream.send_buffer = 1_000_000;
        }),
        ..Default::default()
    })
    .await;
    let (channel, integration) = setup(&app).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    // An SSE client with a small receive window that sends its request, then never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let mut stalled = socket.connect(app.base.trim_start_matches("http://").parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /v1/stream HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        app.admin_key
    );
    stalled.write_all(request.as_bytes()).await.unwrap();
    until_connections(&app, 1, "the stream never opened", async || {
        tokio::time::sleep(Duration::from_millis(10)).await;
    })
    .await;
    let text = "x".repeat(5_000);
    until_connections(&app, 0, "the client that never reads was never closed", async || {
        for _ in 0..20 {
            say(&app, &integration, &conversation, &text).await;
        }
    })
    .await;
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_connections_closed_total{reason=\"write_timeout\"}"), "{metrics}");
    drop(stalled);
}

#[tokio::test]
async fn a_resume_id_from_the_future_is_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(format!("{}/v1/stream", app.base))
        .bearer_auth(&app.admin_key)
        .header("accept", "text/event-stream")
        .header("last-event-id", "999999999999")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "resume_id_ahead");
    let mut request = ws_url(&app, "?after=999999999999").into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {}", app.admin_key)).unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], "resume_id_ahead");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_resume_id_older_than_the_replay_gets_a_resync_frame() {
    let app =
        TestApp::spawn_with(Options { configure: Some(|c| c.stream.replay_events = 2), ..Default::default() }).await;
    let (channel, integration) = setup(&app).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    for i in 0..4 {
        say(&app, &integration, &conversation, &format!("m{i}")).await;
    }
    app.eventually("/v1/events?limit=250", &app.admin_key, |p| p["data"].as_array().is_some_and(|d| d.len() > 4)).await;
    // Resumed on the first event: what followed is more than the two positions the stream replays.
    let first = log_ids(&app, 0).await[0];
    let mut ws = connect(&app, &app.admin_key, &format!("?after={first}")).await;
    let frame = next_frame(&mut ws).await;
    assert_eq!(frame, json!({ "type": "stream.resync", "reason": "replay_limit" }));
    say(&app, &integration, &conversation, "after").await;
    frames_until(&mut ws, |f| is_message(f, "after")).await;
}

/// A channel and an integration key of another organization, made with its admin key.
async fn other_tenant_setup(app: &TestApp, admin: &str) -> (String, String) {
    let queue = app.post_ok("/v1/queues", admin, json!({ "name": "Q" }), StatusCode::CREATED).await;
    let ws = app
        .post_ok(
            "/v1/workstreams",
            admin,
            json!({ "name": "W", "fallback_queue_id": queue["id"] }),
            StatusCode::CREATED,
        )
        .await;
    let body = json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": ws["id"] });
    let channel = app.post_ok("/v1/channels", admin, body, StatusCode::CREATED).await;
    let key =
        app.post_ok("/v1/api-keys", admin, json!({ "name": "k", "role": "integration" }), StatusCode::CREATED).await;
    (channel["id"].as_str().unwrap().to_string(), key["key"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn filters_are_checked_and_another_tenants_conversation_is_never_sent() {
    let app = TestApp::spawn().await;
    let (channel, integration) = setup(&app).await;
    let ours = app.conversation(&integration, &channel, "ours").await;
    // Another organization, with a conversation of its own.
    let (_, other) =
        switchboard_server::admin::create_org(&app.state.store, "globex", app.state.clock.now()).await.unwrap();
    let (their_channel, their_integration) = other_tenant_setup(&app, &other.api_key).await;
    let theirs = app.conversation(&their_integration, &their_channel, "theirs").await;
    let mut ws = connect(&app, &app.admin_key, &format!("?conversation_id={theirs},{ours}")).await;
    say(&app, &their_integration, &theirs, "secret").await;
    say(&app, &integration, &ours, "ours").await;
    let frames = frames_until(&mut ws, |f| is_message(f, "ours")).await;
    assert!(frames.iter().all(|f| f["conversation_id"] == ours.as_str()), "{frames:?}");

    // 10,000 unknown event types, a bad id, an unknown parameter: 400 with a stable code, no stream.
    let many = vec!["no.x"; 10_000];
    for query in [format!("?types={}", many.join(",")), "?conversation_id=nope".into(), "?later=1".into()] {
        let response = app
            .http
            .get(format!("{}/v1/stream{query}", app.base))
            .bearer_auth(&app.admin_key)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(status.is_client_error(), "{status}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_query", "{body}");
    }
    // Neither a WebSocket nor SSE.
    let (status, body) = app.get("/v1/stream", &app.admin_key).await;
    assert_problem(status, &body, StatusCode::NOT_ACCEPTABLE, "not_acceptable");
}

#[tokio::test]
async fn a_browser_upgrade_from_another_origin_is_refused() {
    let app = TestApp::spawn().await;
    let refused = |origin: &'static str, key: Option<String>, cookie: Option<&'static str>| {
        let mut request = ws_url(&app, "").into_client_request().unwrap();
        request.headers_mut().insert("origin", HeaderValue::from_static(origin));
        if let Some(key) = key {
            request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {key}")).unwrap());
        }
        if let Some(cookie) = cookie {
            request.headers_mut().insert("cookie", HeaderValue::from_static(cookie));
        }
        async move {
            match tokio_tungstenite::connect_async(request).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                    Some((response.status(), body["code"].as_str().unwrap().to_string()))
                }
                Ok(_) => None,
                Err(e) => panic!("{e}"),
            }
        }
    };
    // Whether the cookie is good is not even looked at: the page learns nothing.
    let cookie = Some("switchboard_session=not-a-session");
    assert_eq!(
        refused("https://evil.example", None, cookie).await,
        Some((StatusCode::FORBIDDEN, "origin_not_allowed".into())),
        "a cross-site page cannot ride a user's cookie onto the stream"
    );
    // Without any credentials the origin gains nothing: the request needs credentials, wherever it comes from.
    assert_eq!(
        refused("https://evil.example", None, None).await,
        Some((StatusCode::UNAUTHORIZED, "unauthenticated".into()))
    );
    // The server's own origin passes the check (and then needs a good cookie).
    let own: &'static str = Box::leak(app.base.clone().into_boxed_str());
    assert_eq!(refused(own, None, cookie).await, Some((StatusCode::UNAUTHORIZED, "unauthenticated".into())));
    // A program with its key is not a browser riding a cookie: its Origin is not checked, cookie or not.
    assert_eq!(refused("https://evil.example", Some(app.admin_key.clone()), cookie).await, None);
}

#[tokio::test]
async fn heartbeats_follow_the_clock() {
    let clock = switchboard_server::clock::ManualClock::new(switchboard_domain::Timestamp::now());
    let app = TestApp::spawn_with(Options { clock: Some(clock.clone()), ..Default::default() }).await;
    let mut ws = connect(&app, &app.admin_key, "").await;
    let mut sse = SseReader::open(&app, &app.admin_key, None).await;
    clock.advance(Duration::from_secs(31));
    let ping = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(ping, Message::Ping(_)), "{ping:?}");
    assert_eq!(sse.next().await.1, "comment");
}

#[tokio::test]
async fn typing_reaches_those_who_see_the_conversation_and_is_not_stored() {
    let app = TestApp::spawn().await;
    let (channel, integration) = setup(&app).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    let (supervisor, _) = app.key(Role::Supervisor).await;
    let mut watching = connect(&app, &supervisor, "").await;
    let mut typist = connect(&app, &app.admin_key, "").await;
    let before = app.event_count().await;
    app.post_ok(&format!("/v1/conversations/{conversation}/typing"), &integration, json!(null), StatusCode::NO_CONTENT)
        .await;
    let frame = frames_until(&mut watching, |f| f["type"] == "conversation.typing").await.pop().unwrap();
    assert_eq!(frame["conversation_id"], conversation.as_str());
    assert!(frame.get("id").is_none(), "a signal is not an event of the log");
    // From a WebSocket client frame too; a conversation the caller cannot see answers an error frame.
    typist
        .send(Message::Text(json!({ "type": "viewing", "conversation_id": conversation }).to_string().into()))
        .await
        .unwrap();
    frames_until(&mut watching, |f| f["type"] == "conversation.viewing").await;
    let unknown = uuid::Uuid::now_v7();
    typist
        .send(Message::Text(json!({ "type": "typing", "conversation_id": unknown }).to_string().into()))
        .await
        .unwrap();
    let error = frames_until(&mut typist, |f| f["type"] == "stream.error").await.pop().unwrap();
    assert_eq!(error["code"], "conversation_not_found");
    let (status, body) = app.post(&format!("/v1/conversations/{unknown}/typing"), &integration, json!(null)).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "conversation_not_found");
    assert_eq!(app.event_count().await, before, "signals are not stored");
}

/// `types` names signals as it names events: a stream of typing alone gets neither viewing nor the log's events.
#[tokio::test]
async fn a_stream_of_typing_signals_alone() {
    let app = TestApp::spawn().await;
    let (channel, integration) = setup(&app).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    let (supervisor, _) = app.key(Role::Supervisor).await;
    let mut typing_only = connect(&app, &supervisor, "?types=conversation.typing").await;
    let mut typist = connect(&app, &app.admin_key, "").await;
    typist
        .send(Message::Text(json!({ "type": "viewing", "conversation_id": conversation }).to_string().into()))
        .await
        .unwrap();
    app.post_ok(
        &format!("/v1/conversations/{conversation}/messages"),
        &integration,
        json!({ "text": "hi" }),
        StatusCode::CREATED,
    )
    .await;
    app.post_ok(&format!("/v1/conversations/{conversation}/typing"), &integration, json!(null), StatusCode::NO_CONTENT)
        .await;
    let frames = frames_until(&mut typing_only, |f| f["type"] == "conversation.typing").await;
    assert_eq!(frames.len(), 1, "nothing before the typing signal: {frames:?}");

    let response = app
        .http
        .get(format!("{}/v1/stream?types=conversation.typng", app.base))
        .bearer_auth(&supervisor)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_problem(status, &response.json().await.unwrap(), StatusCode::BAD_REQUEST, "unknown_event_type");
}

/// A routed workstream in `distribution` mode (`push` or `pick`) with a queue of its own; returns (channel, queue).
async fn routed(app: &TestApp, distribution: &str) -> (String, String) {
    let queue = app.post_ok("/v1/queues", &app.admin_key, json!({ "name": distribution }), StatusCode::CREATED).await;
    let body = json!({ "name": distribution, "fallback_queue_id": queue["id"], "distribution": distribution,
                       "settings": { "routing": { "enabled": true } } });
    let workstream = app.post_ok("/v1/workstreams", &app.admin_key, body, StatusCode::CREATED).await;
    let body = json!({ "name": "Web", "channel_type": "messaging_api", "workstream_id": workstream["id"] });
    let channel = app.post_ok("/v1/channels", &app.admin_key, body, StatusCode::CREATED).await;
    (channel["id"].as_str().unwrap().to_string(), queue["id"].as_str().unwrap().to_string())
}

async fn set_members(app: &TestApp, queue: &str, agents: &[&str]) {
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/queues/{queue}/members"),
            Some(&app.admin_key),
            Some(json!({ "user_ids": agents })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn queued(frame: &Value, conversation: &str) -> bool {
    frame["type"] == "routing.queued" && frame["conversation_id"] == conversation
}

#[tokio::test]
async fn an_agent_sees_what_waits_in_their_queues_only_where_it_is_picked() {
    let app = TestApp::spawn().await;
    let (integration, _) = app.key(Role::Integration).await;
    let (push_channel, push_queue) = routed(&app, "push").await;
    let (pick_channel, pick_queue) = routed(&app, "pick").await;
    let (agent_key, agent) = app.key(Role::Agent).await;
    let agent = agent.unwrap();
    set_members(&app, &push_queue, &[&agent]).await;
    set_members(&app, &pick_queue, &[&agent]).await;
    let mut everything = connect(&app, &app.admin_key, "").await;
    let mut ws = connect(&app, &agent_key, "").await;
    // Waiting in a push workstream: routing offers it (to no one here: the agent is offline); not the agent's to see.
    let pushed = app.conversation(&integration, &push_channel, "pushed").await;
    frames_until(&mut everything, |f| queued(f, &pushed)).await;
    say(&app, &integration, &pushed, "pushed").await;
    // Waiting in a pick workstream: the agent may pick it, so sees it.
    let picked = app.conversation(&integration, &pick_channel, "picked").await;
    frames_until(&mut everything, |f| queued(f, &picked)).await;
    say(&app, &integration, &picked, "picked").await;
    let frames = frames_until(&mut ws, |f| is_message(f, "picked")).await;
    assert!(frames.iter().all(|f| f["conversation_id"] == picked.as_str()), "{frames:#?}");
    assert!(frames.iter().any(|f| queued(f, &picked)), "{frames:#?}");
}

#[tokio::test]
async fn an_agent_who_joins_or_leaves_a_queue_is_told_at_once() {
    let app = TestApp::spawn().await;
    let (integration, _) = app.key(Role::Integration).await;
    let (channel, queue) = routed(&app, "pick").await;
    let (agent_key, agent) = app.key(Role::Agent).await;
    let agent = agent.unwrap();
    let mut everything = connect(&app, &app.admin_key, "").await;
    let mut ws = connect(&app, &agent_key, "").await;
    let waiting = app.conversation(&integration, &channel, "c1").await;
    frames_until(&mut everything, |f| queued(f, &waiting)).await;
    // The agent joins the queue with their stream open: the stream says so before anything of the queue.
    set_members(&app, &queue, &[&agent]).await;
    let resync = json!({ "type": "stream.resync", "reason": "queues_changed" });
    assert_eq!(next_frame(&mut ws).await, resync);
    say(&app, &integration, &waiting, "now theirs").await;
    frames_until(&mut ws, |f| is_message(f, "now theirs")).await;
    // And leaves it.
    set_members(&app, &queue, &[]).await;
    assert_eq!(frames_until(&mut ws, |f| f["type"] == "stream.resync").await.pop().unwrap(), resync);
}

/// One step of the property test's random history.
#[derive(Debug, Clone)]
enum Step {
    /// An admin assigns conversation `c` to agent `a`.
    Assign {
        c: usize,
        a: usize,
    },
    /// Back to the queue (Active → Open).
    TransferToQueue {
        c: usize,
    },
    Close {
        c: usize,
    },
    /// The customer writes.
    Say {
        c: usize,
    },
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        (0..3usize, 0..3usize).prop_map(|(c, a)| Step::Assign { c, a }),
        (0..3usize).prop_map(|c| Step::TransferToQueue { c }),
        (0..3usize).prop_map(|c| Step::Close { c }),
        (0..3usize).prop_map(|c| Step::Say { c }),
        (0..3usize).prop_map(|c| Step::Say { c }),
    ]
}

/// Runs one random history; each agent's stream must hold exactly the messages written while the conversation
/// was theirs.
async fn agents_see_only_their_messages(app: &TestApp, steps: Vec<Step>) {
    let channel = app.channel().await;
    let (integration, _) = app.key(Role::Integration).await;
    let mut agents = Vec::new();
    for _ in 0..3 {
        let (key, id) = app.key(Role::Agent).await;
        let ws = connect(app, &key, "").await;
        agents.push((key, id.unwrap(), ws));
    }
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut conversations = Vec::new();
    for i in 0..3 {
        conversations.push((app.conversation(&integration, &channel, &format!("{run}-{i}")).await, None::<usize>));
    }
    let mut expected: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 3];
    let mut ever_theirs: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 3];
    for (n, step) in steps.into_iter().enumerate() {
        match step {
            Step::Assign { c, a } => {
                let (id, owner) = &mut conversations[c];
                let (status, _) = app
                    .post(&format!("/v1/conversations/{id}/accept"), &app.admin_key, json!({ "agent_id": agents[a].1 }))
                    .await;
                if status == StatusCode::OK {
                    *owner = Some(a);
                    ever_theirs[a].insert(id.clone());
                }
            }
            Step::TransferToQueue { c } => {
                let (id, owner) = &mut conversations[c];
                let (status, _) = app.post(&format!("/v1/conversations/{id}/release"), &app.admin_key, json!({})).await;
                if status == StatusCode::OK {
                    *owner = None;
                }
            }
            Step::Close { c } => {
                let (id, owner) = &mut conversations[c];
                let (status, _) = app.post(&format!("/v1/conversations/{id}/close"), &app.admin_key, json!({})).await;
                if status == StatusCode::OK {
                    // A closed conversation takes no more messages: start another in its place.
                    *owner = None;
                    *id = app.conversation(&integration, &channel, &format!("{run}-{c}-{n}")).await;
                }
            }
            Step::Say { c } => {
                let (id, owner) = &conversations[c];
                let text = format!("{run} {n}");
                say(app, &integration, id, &text).await;
                if let Some(a) = owner {
                    expected[*a].insert(text);
                }
            }
        }
    }
    // A last conversation of each agent's own, with a message: once it arrives, everything before it has.
    for (a, (key, agent, ws)) in agents.iter_mut().enumerate() {
        let id = app.conversation(&integration, &channel, &format!("{run}-end-{a}")).await;
        app.post_ok(
            &format!("/v1/conversations/{id}/accept"),
            &app.admin_key,
            json!({ "agent_id": agent }),
            StatusCode::OK,
        )
        .await;
        let end = format!("{run} end {a}");
        say(app, &integration, &id, &end).await;
        let frames = frames_until(ws, |f| is_message(f, &end)).await;
        ever_theirs[a].insert(id.clone());
        for frame in &frames {
            let conversation = frame["conversation_id"].as_str().expect("an agent's events are of conversations");
            assert!(ever_theirs[a].contains(conversation), "agent {a} got an event of another's conversation: {frame}");
        }
        let got: BTreeSet<String> = frames
            .iter()
            .filter(|f| f["type"] == "message.created")
            .filter_map(|f| f["data"]["text"].as_str())
            .map(str::to_string)
            .filter(|t| *t != end)
            .collect();
        assert_eq!(got, expected[a], "agent {a} ({key}) saw exactly the messages of their conversations");
    }
}

#[test]
fn an_agent_never_receives_an_event_of_a_conversation_not_theirs() {
    use proptest::{collection::vec, test_runner::TestRunner};
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let mut runner = TestRunner::new(proptest::test_runner::Config { cases: 16, ..Default::default() });
    runner
        .run(&vec(step(), 1..30), |steps| {
            runtime.block_on(agents_see_only_their_messages(&app, steps));
            Ok(())
        })
        .unwrap();
    runtime.block_on(async move { drop(app) });
}

#[tokio::test]
async fn an_agent_on_another_node_receives_in_order_what_one_node_commits() {
    if std::env::var("SWITCHBOARD_TEST_BACKEND").as_deref() != Ok("postgres") {
        return;
    }
    let app = TestApp::spawn().await;
    let node_b = app.peer().await;
    let (channel, integration) = setup(&app).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    let (agent_key, agent) = app.key(Role::Agent).await;
    app.post_ok(
        &format!("/v1/conversations/{conversation}/accept"),
        &app.admin_key,
        json!({ "agent_id": agent }),
        StatusCode::OK,
    )
    .await;
    let mut ws = connect(&node_b, &agent_key, "").await;
    for i in 0..5 {
        say(&app, &integration, &conversation, &format!("m{i}")).await;
    }
    let frames = frames_until(&mut ws, |f| is_message(f, "m4")).await;
    let texts: Vec<&str> =
        frames.iter().filter(|f| f["type"] == "message.created").filter_map(|f| f["data"]["text"].as_str()).collect();
    assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
}

#[tokio::test]
async fn a_stream_outlives_the_header_and_idle_timeouts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(Options {
        configure: Some(|c| {
            c.http.keep_alive_idle_seconds = 1;
            c.http.header_read_timeout_seconds = 1;
        }),
        ..Options::default()
    })
    .await;
    let (channel, integration) = setup(&app).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    let mut ws = connect(&app, &app.admin_key, "").await;
    // A kept-alive connection opened after the stream: once the idle timeout has closed it, the stream, older and
    // as quiet, has lived through both timeouts.
    let mut idle = TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, idle.read_to_end(&mut answer)).await.expect("closed by the idle timeout").unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    say(&app, &integration, &conversation, "still here").await;
    frames_until(&mut ws, |f| is_message(f, "still here")).await;
}

#[tokio::test]
async fn a_file_in_a_message_comes_live_and_replayed_as_a_link_that_opens_without_credentials() {
    let app = TestApp::spawn().await;
    let (channel, integration) = setup(&app).await;
    let conversation = app.conversation(&integration, &channel, "c1").await;
    let mut ws = connect(&app, &app.admin_key, "?types=message.created").await;
    let sent = app
        .http
        .post(format!("{}/v1/conversations/{conversation}/attachments?name=note.txt", app.base))
        .bearer_auth(&app.admin_key)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    let opens = |frame: &Value| {
        let url = frame["data"]["attachments"][0]["url"].as_str().expect("a link").to_string();
        async move {
            let file = reqwest::get(&url).await.unwrap();
            (file.status(), file.text().await.unwrap())
        }
    };
    let live = frames_until(&mut ws, |f| f["data"]["attachments"][0]["name"] == "note.txt").await;
    let live = live.last().unwrap().clone();
    assert_eq!(opens(&live).await, (StatusCode::OK, "hello".to_string()), "live: {live}");
    let before = live["id"].as_i64().unwrap() - 1;
    let mut replay = connect(&app, &app.admin_key, &format!("?types=message.created&after={before}")).await;
    let replayed = next_frame(&mut replay).await;
    assert_eq!(replayed["id"], live["id"]);
    assert_eq!(opens(&replayed).await, (StatusCode::OK, "hello".to_string()), "replayed: {replayed}");
}
