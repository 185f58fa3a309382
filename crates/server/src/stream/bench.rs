//! `switchboard bench stream`: what the live stream costs and how fast it is.
//!
//! 1. **Idle connections**: `--connections` WebSockets (default 10,000) opened by a child process and held idle;
//!    the server's memory per connection is this process's RSS growth divided by their number (the server runs in
//!    this process, the clients in the child, so that their buffers are not counted).
//! 2. **Fan-out latency**: `--agents` agents (default 1,000), each connected and assigned a conversation, while
//!    customers' messages arrive at `--rate` per second (default 2,000) spread over those conversations: the time
//!    from each event's timestamp (taken when its write began, so the group commit is included) to its frame at
//!    the agent's client.

use std::{
    io::{BufRead, BufReader},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, protocol::WebSocketConfig};

use crate::{AppState, Config, Server, admin, bench::BenchArgs};

/// Connections opened at once by the child.
const CONNECT_CONCURRENCY: usize = 256;

/// An in-process server on a runtime of its own, with what the benchmark needs of it.
struct InProcess {
    base: String,
    key: String,
    state: AppState,
    org: switchboard_domain::ids::OrgId,
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl InProcess {
    async fn start(args: &BenchArgs) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::for_data_dir(dir.path().to_path_buf())?;
        config.database_url = args.database_url.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        type Ready = (String, String, AppState, switchboard_domain::ids::OrgId);
        let (ready, started) = tokio::sync::oneshot::channel::<Ready>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let server = Server::build(config).await?;
            let state = server.state().clone();
            let (_, created) =
                admin::create_org(&state.store, "bench", state.clock.now()).await.map_err(anyhow::Error::from)?;
            let base = format!("http://{}", server.local_addr());
            let _ = ready.send((base, created.api_key, state, created.org_id));
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        let Ok((base, key, state, org)) = started.await else {
            task.await??;
            bail!("the in-process server stopped before it was ready");
        };
        Ok(Self { base, key, state, org, runtime, stop, task, _dir: dir })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        tokio::task::spawn_blocking(move || drop(self.runtime)).await?;
        Ok(())
    }
}

fn rss_kb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A WebSocket client with small buffers: 10,000 of them with tungstenite's defaults would take gigabytes.
async fn open(url: &str, key: &str) -> anyhow::Result<tokio_tungstenite::WebSocketStream<TcpStream>> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {key}").parse()?);
    let host = request.uri().authority().context("the URL has no host")?.as_str().to_string();
    let tcp = TcpStream::connect(host).await?;
    let config = WebSocketConfig::default().read_buffer_size(4_096).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config)).await?;
    Ok(ws)
}

/// The child: opens `n` connections to `url`, says `ready`, and holds them (answering pings) until killed.
async fn child(args: &[String]) -> anyhow::Result<()> {
    let [url, key, n] = args else { bail!("--stream-child needs a URL, a key and a count") };
    let n: usize = n.parse()?;
    crate::connections::raise_descriptor_limit();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    let mut opening = Vec::with_capacity(n);
    for _ in 0..n {
        let (url, key, semaphore) = (url.clone(), key.clone(), semaphore.clone());
        opening.push(tokio::spawn(async move {
            let permit = semaphore.acquire_owned().await?;
            let mut ws = open(&url, &key).await?;
            drop(permit);
            anyhow::Ok(tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} }))
        }));
    }
    let mut held = Vec::with_capacity(n);
    for task in opening {
        held.push(task.await??);
    }
    println!("ready {}", held.len());
    std::future::pending::<()>().await;
    Ok(())
}

async fn idle(args: &BenchArgs, server: &InProcess) -> anyhow::Result<Value> {
    let url = format!("{}/v1/stream", server.base.replacen("http://", "ws://", 1));
    let hub = server.state.stream.clone();
    // Settled first: the server's own start-up allocations are not the connections'.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kb().context("reading VmRSS")?;
    let started = Instant::now();
    let mut process = std::process::Command::new(std::env::current_exe()?)
        .args(["bench", "stream", "--stream-child", &url, &server.key, &args.connections.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = process.stdout.take().context("the child's stdout")?;
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line.starts_with("ready"))
    })
    .await?;
    if !ready {
        let _ = process.kill();
        bail!("the child could not open its connections");
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kb().context("reading VmRSS")?;
    let held = hub.connections().await;
    process.kill()?;
    process.wait()?;
    Ok(json!({
        "connections": args.connections,
        "held_by_server": held,
        "connect_s": round(connect_s),
        "rss_before_mb": round(before / 1024.0),
        "rss_after_mb": round(after / 1024.0),
        "kb_per_idle_connection": round((after - before) / args.connections as f64),
    }))
}

async fn latency(args: &BenchArgs, server: &InProcess) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let post = |path: String, key: String, body: Value| {
        let (http, base) = (http.clone(), server.base.clone());
        async move {
            let response = http.post(format!("{base}{path}")).bearer_auth(key).json(&body).send().await?;
            if !response.status().is_success() {
                bail!("POST {path}: {} {}", response.status(), response.text().await.unwrap_or_default());
            }
            anyhow::Ok(response.json::<Value>().await?)
        }
    };
    let admin_key = server.key.clone();
    let queue = post("/v1/queues".into(), admin_key.clone(), json!({ "name": "Bench" })).await?;
    let ws =
        post("/v1/workstreams".into(), admin_key.clone(), json!({ "name": "Bench", "fallback_queue_id": queue["id"] }))
            .await?;
    let channel = post(
        "/v1/channels".into(),
        admin_key.clone(),
        json!({ "name": "Bench", "channel_type": "messaging_api", "workstream_id": ws["id"] }),
    )
    .await?;
    let integration =
        post("/v1/api-keys".into(), admin_key.clone(), json!({ "name": "bench", "role": "integration" })).await?;
    let integration = integration["key"].as_str().context("integration key")?.to_string();
    let url = format!("{}/v1/stream", server.base.replacen("http://", "ws://", 1));
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut conversations = Vec::with_capacity(args.agents);
    let mut readers = Vec::with_capacity(args.agents);
    for i in 0..args.agents {
        let store = &server.state.store;
        let (_, user) =
            admin::create_user(store, server.org, &format!("agent {i}"), None, Role::Agent, None, Timestamp::now())
                .await
                .map_err(anyhow::Error::from)?;
        let body = json!({ "channel_id": channel["id"], "customer": { "customer_id": format!("bench-{i}") } });
        let created = post("/v1/conversations".into(), integration.clone(), body).await?;
        let id = created["conversation"]["id"].as_str().context("conversation id")?.to_string();
        post(format!("/v1/conversations/{id}/accept"), admin_key.clone(), json!({ "agent_id": user.user_id })).await?;
        let mut ws = open(&url, &user.api_key).await?;
        let (hist, measuring) = (hist.clone(), measuring.clone());
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                let tungstenite::Message::Text(text) = message else { continue };
                let now = Timestamp::now().millis();
                if !measuring.load(std::sync::atomic::Ordering::Relaxed) {
                    continue;
                }
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                if frame["type"] != "message.created" {
                    continue;
                }
                let Ok(at) = serde_json::from_value::<Timestamp>(frame["created_at"].clone()) else { continue };
                let us = u64::try_from((now - at.millis()).max(0) * 1_000).unwrap_or(0);
                if let Ok(mut h) = hist.lock() {
                    h.saturating_record(us.max(1));
                }
            }
        }));
        conversations.push(id);
    }
    // Customers write at `rate` per second in all, from `clients` senders, each on its own schedule.
    let conversations = Arc::new(conversations);
    let senders = args.clients.max(1);
    let per_sender = Duration::from_secs_f64(senders as f64 / args.rate.max(1) as f64);
    let until = Instant::now() + Duration::from_secs(args.warmup + args.duration);
    let measure_from = Instant::now() + Duration::from_secs(args.warmup);
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(senders);
    for worker in 0..senders {
        let (http, base, key, conversations, sent) =
            (http.clone(), server.base.clone(), integration.clone(), conversations.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(per_sender);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = worker;
            while Instant::now() < until {
                tick.tick().await;
                let id = &conversations[n % conversations.len()];
                n += senders;
                let url = format!("{base}/v1/conversations/{id}/messages");
                let ok = http.post(url).bearer_auth(&key).json(&json!({ "text": "Hello" })).send().await;
                if ok.is_ok_and(|r| r.status().is_success()) && Instant::now() >= measure_from {
                    sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    measuring.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        task.await?;
    }
    // The last frames arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.abort();
    }
    let hist = hist.lock().map_err(|_| anyhow::anyhow!("histogram lock"))?.clone();
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    Ok(json!({
        "agents": args.agents,
        "target_events_per_s": args.rate,
        "sent_per_s": round(sent as f64 / args.duration as f64),
        "frames": hist.len(),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "max_ms": hist.max() as f64 / 1000.0,
    }))
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<Value> {
    if let Some(child_args) = &args.stream_child {
        child(child_args).await?;
        return Ok(Value::Null);
    }
    let open_files = crate::connections::raise_descriptor_limit();
    let server = InProcess::start(args).await?;
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    let idle = idle(args, &server).await?;
    let latency = latency(args, &server).await?;
    server.stop().await?;
    Ok(json!({
        "scenario": "stream",
        "backend": backend,
        "open_files": open_files,
        "idle": idle,
        "fan_out": latency,
    }))
}
