//! Tests of the `switchboard` binary as an operator runs it: real processes, real signals.

#![allow(clippy::unwrap_used)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// reqwest is built without a default TLS provider (no C crypto to compile); tests pick ring, as the server does.
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn run_json(args: &[&str], data_dir: &Path) -> Value {
    let out = bin().args(args).arg("--data-dir").arg(data_dir).output().expect("run switchboard");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Starts `serve` and waits for its `listening on` line; returns the process and the base URL.
fn serve(data_dir: &Path, extra: &[&str]) -> (Child, String, Vec<String>) {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        // Test webhook receivers listen on this machine.
        .env("SWITCHBOARD_WEBHOOKS__ALLOW_LOOPBACK", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut before = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if let Some(url) = line.strip_prefix("listening on ") {
            let url = url.to_string();
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, url, before);
        }
        before.push(line);
    }
    let status = child.wait().expect("wait for serve");
    panic!("serve exited ({status}) before listening: {before:?}");
}

#[test]
fn admin_commands_create_what_they_print() {
    let dir = tempfile::tempdir().unwrap();
    let org = run_json(&["admin", "org", "create", "--name", "Acme"], dir.path());
    let org_id = org["org_id"].as_str().expect("org_id");
    assert!(org["api_key"].as_str().is_some_and(|k| k.starts_with("sbk_")));
    let client = run_json(&["admin", "client", "create", "--org", org_id, "--role", "integration"], dir.path());
    assert!(client["client_id"].is_string() && client["client_secret"].as_str().is_some_and(|s| s.starts_with("sbs_")));
    let agent = run_json(&["admin", "user", "create", "--org", org_id, "--name", "Ada", "--role", "agent"], dir.path());
    assert_eq!(agent["role"], "agent");
    assert!(agent["user_id"].is_string() && agent["api_key"].is_string());

    let bad = bin()
        .args(["admin", "user", "create", "--org", "nope", "--name", "X"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let bad_role = bin()
        .args(["admin", "client", "create", "--org", org_id, "--role", "wizard"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
}

#[tokio::test]
async fn serve_with_demo_seeds_once_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, printed) = serve(dir.path(), &["--demo"]);
    assert!(printed.iter().any(|l| l.contains("demo.json")), "{printed:?}");
    let demo: Value = serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).unwrap()).unwrap();
    for key in
        ["org_id", "admin_api_key", "client_id", "client_secret", "workstream_id", "queue_id", "channel_id", "agents"]
            .into_iter()
            .chain(["messaging_channel_id"])
    {
        assert!(!demo[key].is_null(), "demo.json lacks {key}");
    }
    assert_eq!(demo["agents"].as_array().unwrap().len(), 2);
    let http = http();
    // Everyone the demo names signs in to the web pages with the email and password it gives.
    let people = demo["agents"].as_array().unwrap().iter().chain([&demo["admin"], &demo["supervisor"]]);
    for (person, role) in people.zip(["agent", "agent", "admin", "supervisor"]) {
        let signed_in = http
            .post(format!("{base}/v1/sessions"))
            .json(&json!({ "email": person["email"], "password": person["password"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 201, "{person}");
        let session: Value = signed_in.json().await.unwrap();
        assert_eq!(session["role"], role, "{session}");
    }
    let agent_key = demo["agents"][0]["api_key"].as_str().unwrap();
    let org = http.get(format!("{base}/v1/org")).bearer_auth(agent_key).send().await.unwrap();
    assert_eq!(org.status(), 200);
    // The demo routes: Ada is available in the queue, so a customer's first message becomes her offer.
    let mut offers = http
        .get(format!("{base}/v1/stream?types=routing.offer_issued"))
        .bearer_auth(agent_key)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(offers.status(), 200);
    let token: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(demo["client_id"].as_str().unwrap(), demo["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = http
        .post(format!("{base}/v1/conversations"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&json!({ "channel_id": demo["channel_id"], "start_message": { "text": "hello" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let conversation = created["conversation"]["id"].as_str().unwrap();
    let offer = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut seen = String::new();
        while let Some(chunk) = offers.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = seen.lines().find(|l| l.starts_with("data:") && l.contains("routing.offer_issued")) {
                return serde_json::from_str::<Value>(line.trim_start_matches("data:").trim()).unwrap();
            }
        }
        panic!("the stream ended without an offer: {seen}");
    })
    .await
    .expect("no offer within a minute");
    assert_eq!(offer["conversation_id"], conversation, "{offer}");
    assert_eq!(offer["data"]["agent_id"], demo["agents"][0]["id"], "{offer}");
    drop(offers);

    // SIGTERM: the server stops accepting, finishes, and exits cleanly.
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // A second start keeps the same demo organization.
    let (mut again, base, _) = serve(dir.path(), &["--demo"]);
    let demo_again: Value = serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).unwrap()).unwrap();
    assert_eq!(demo_again["org_id"], demo["org_id"]);
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    again.kill().unwrap();
    again.wait().unwrap();
}

/// Every item of a paginated list.
async fn all_pages(http: &reqwest::Client, key: &str, url: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value =
            http.get(format!("{url}?limit=250{cursor}")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return items,
        }
    }
}

/// What the test's webhook receiver got: each request's `webhook-id` and body.
type Deliveries = Arc<Mutex<Vec<(String, Value)>>>;

/// A webhook receiver in the test process.
async fn receiver() -> (String, Deliveries) {
    use axum::{body::Bytes, extract::State, http::HeaderMap};
    let seen: Deliveries = Arc::default();
    let record = |State(seen): State<Deliveries>, headers: HeaderMap, body: Bytes| async move {
        let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        seen.lock().unwrap().push((id, serde_json::from_slice(&body).unwrap_or(Value::Null)));
        "ok"
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(record).with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn acknowledged_messages_and_their_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, _) = serve(dir.path(), &["--demo"]);
    let demo: Value = serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).unwrap()).unwrap();
    let key = demo["admin_api_key"].as_str().unwrap().to_string();
    let channel = demo["messaging_channel_id"].as_str().unwrap().to_string();
    let http = http();
    let (hook_url, delivered) = receiver().await;
    let subscribed = http
        .post(format!("{base}/v1/webhook-subscriptions"))
        .bearer_auth(&key)
        .json(&json!({ "url": hook_url, "event_types": ["message.created"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(subscribed.status(), 201);
    let mut conversations = Vec::new();
    for i in 0..16 {
        let created: Value = http
            .post(format!("{base}/v1/conversations"))
            .bearer_auth(&key)
            .json(&json!({ "channel_id": demo["channel_id"], "customer": { "customer_id": format!("c{i}") } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        conversations.push(created["conversation"]["id"].as_str().unwrap().to_string());
    }
    let conversations = Arc::new(conversations);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let (enough_tx, enough_rx) = tokio::sync::watch::channel(false);
    let mut senders = Vec::new();
    for worker in 0..32 {
        let (http, base, key, channel, conversations, acked, count, enough_tx) = (
            http.clone(),
            base.clone(),
            key.clone(),
            channel.clone(),
            conversations.clone(),
            acked.clone(),
            count.clone(),
            enough_tx.clone(),
        );
        senders.push(tokio::spawn(async move {
            for n in 0.. {
                let conv = &conversations[(worker + n) % conversations.len()];
                let text = format!("w{worker} n{n}");
                // Half the senders use the native API, half the compatible Messaging API.
                let request = if worker % 2 == 0 {
                    http.post(format!("{base}/v1/conversations/{conv}/messages")).json(&json!({ "text": text }))
                } else {
                    http.post(format!("{base}/api/v1.0/consumer/conversation/{conv}"))
                        .header("channel-id", &channel)
                        .json(&json!({ "type": "message", "id": text, "text": text }))
                };
                let Ok(response) = request.bearer_auth(&key).send().await else { return };
                if !response.status().is_success() {
                    return;
                }
                if response.json::<Value>().await.is_err() {
                    return;
                }
                acked.lock().unwrap().push(text);
                if count.fetch_add(1, Ordering::SeqCst) + 1 == 2_000 {
                    let _ = enough_tx.send(true);
                }
            }
        }));
    }
    drop(enough_tx);
    let mut enough_rx = enough_rx;
    enough_rx.wait_for(|v| *v).await.expect("the senders reached 2,000 acknowledged messages");
    child.kill().unwrap(); // SIGKILL, mid-load.
    child.wait().unwrap();
    futures::future::join_all(senders).await;
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 2_000);

    let (mut restarted, base, _) = serve(dir.path(), &[]);
    let mut stored_texts = std::collections::HashMap::new();
    let mut stored_ids = std::collections::HashSet::new();
    for conv in conversations.iter() {
        let mut previous = 0;
        for m in all_pages(&http, &key, &format!("{base}/v1/conversations/{conv}/messages")).await {
            let seq = m["sequence"].as_i64().unwrap();
            assert!(seq > previous, "messages keep their order after a crash");
            previous = seq;
            *stored_texts.entry(m["text"].as_str().unwrap().to_string()).or_insert(0) += 1;
            stored_ids.insert(m["id"].as_str().unwrap().to_string());
        }
    }
    for text in &acked {
        assert_eq!(stored_texts.get(text), Some(&1), "acknowledged message {text:?} is stored exactly once");
    }
    // The event log, which the outbox delivers from, carries each stored message once.
    let events = all_pages(&http, &key, &format!("{base}/v1/events"))
        .await
        .iter()
        .filter(|e| e["type"] == "message.created")
        .count();
    assert_eq!(events, stored_ids.len());
    // After the restart the webhook receiver gets every stored message, each under one webhook-id (a delivery
    // cut short by the crash may come twice, with the same id).
    let mut complete = false;
    for _ in 0..3_000 {
        let seen = delivered.lock().unwrap().clone();
        let mut by_message: std::collections::HashMap<String, std::collections::HashSet<String>> = Default::default();
        for (webhook_id, body) in &seen {
            by_message.entry(body["data"]["id"].as_str().unwrap().to_string()).or_default().insert(webhook_id.clone());
        }
        if stored_ids.iter().all(|id| by_message.contains_key(id)) {
            assert!(by_message.values().all(|ids| ids.len() == 1), "one webhook-id per message");
            assert!(by_message.keys().all(|id| stored_ids.contains(id)), "nothing delivered that is not stored");
            complete = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(complete, "every stored message reached the webhook receiver");
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}
