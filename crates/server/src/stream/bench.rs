//! `switchboard bench stream`: what the live stream costs and how fast it is.
//!
//! 1. **Idle connections**: `--connections` WebSockets (default 10,000) opened by a child process and held idle;
//!    the server's memory per connection is this process's RSS growth divided by their number (the server runs in
//!    this process, the clients in the child, so that their buffers are not counted).
//! 2. **Fan-out latency**: `--agents` agents (default 1,000), each connected and assigned a conversation, while
//!    customers' messages arrive at `--rate` per second (default 2,000) spread over those conversations: the time
//!    from each event's timestamp (taken when its write began, so the group commit is included) to its frame at
//!    the agent's client. Every message is checked: each agent must receive its conversation's messages, each
//!    once, in the order they were written; a message lost, extra or out of order, or a write that failed, fails
//!    the run.
//!
//! With `--nodes 2` (PostgreSQL) a second node runs in a child process on the same database: the messages are
//! written through this process's node and the agents connect to the other, so each frame crosses from one node
//! to the other through the database (commit, the writing node's announcement, the other node's read). The idle
//! connections are not measured then. On PostgreSQL every run has a schema of its own, dropped at the end.

use std::{
    io::{BufRead, BufReader},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use switchboard_domain::{Timestamp, role::Role};
use switchboard_store::{Store, StoreConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, protocol::WebSocketConfig};

use crate::{AppState, Config, Server, admin, bench::BenchArgs};

/// Connections opened at once by the child.
const CONNECT_CONCURRENCY: usize = 256;

/// How long the last frames may take to arrive once the writes have ended.
const DRAIN: Duration = Duration::from_secs(10);

/// Where the benchmark's servers keep their data: on PostgreSQL, a schema of the run's own.
fn store_config(config: &Config, schema: Option<&str>) -> StoreConfig {
    let mut store = config.store();
    if let StoreConfig::Postgres { schema: s, .. } = &mut store {
        *s = schema.map(str::to_string);
    }
    store
}

/// An in-process server on a runtime of its own, with what the benchmark needs of it (also the channels
/// benchmark's).
pub(crate) struct InProcess {
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) state: AppState,
    pub(crate) org: switchboard_domain::ids::OrgId,
    /// `None` once stopped.
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    dir: tempfile::TempDir,
}

/// A scenario that fails before it stops its server drops it inside the load generator's runtime, where a runtime
/// cannot be dropped (tokio panics, and the panic hides the scenario's error): it is shut down in the background.
impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl InProcess {
    pub(crate) async fn start(
        args: &BenchArgs,
        schema: Option<&str>,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::for_data_dir(dir.path().to_path_buf())?;
        config.database_url = args.database_url.clone();
        configure(&mut config);
        let store_config = store_config(&config, schema);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        type Ready = (String, String, AppState, switchboard_domain::ids::OrgId);
        let (ready, started) = tokio::sync::oneshot::channel::<Ready>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let store = Store::open(&store_config).await.map_err(|e| anyhow::anyhow!("{e} ({:?})", e.source))?;
            let server = Server::with_store(config, Arc::new(store)).await?;
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
            // Its error, once its runtime is let go (dropping it here, in the caller's runtime, would panic).
            let failed = task.await;
            runtime.shutdown_background();
            failed??;
            bail!("the in-process server stopped before it was ready");
        };
        Ok(Self { base, key, state, org, runtime: Some(runtime), stop: Some(stop), task, dir })
    }

    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await??;
        if let Some(runtime) = self.runtime.take() {
            tokio::task::spawn_blocking(move || drop(runtime)).await?;
        }
        Ok(())
    }
}

fn rss_kb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A WebSocket client with small buffers: 10,000 of them with tungstenite's defaults would take gigabytes.
/// (`key` is the bearer key; a Direct Line stream URL carries its own, and has none.)
pub(crate) async fn open(
    url: &str,
    key: Option<&str>,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<TcpStream>> {
    let mut request = url.into_client_request()?;
    if let Some(key) = key {
        request.headers_mut().insert("authorization", format!("Bearer {key}").parse()?);
    }
    let host = request.uri().authority().context("the URL has no host")?.as_str().to_string();
    let tcp = TcpStream::connect(host).await?;
    // As browsers open WebSockets.
    tcp.set_nodelay(true)?;
    let config = WebSocketConfig::default().read_buffer_size(4_096).write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config)).await?;
    Ok(ws)
}

/// The other node (`--nodes 2`): a server on the same database and schema, in a process of its own, as another
/// machine would run it, with the first node's data directory (where the key that opens the stored secrets is).
/// It prints `listening <address>` and serves until its stdin closes (the benchmark ended or died).
async fn node(args: &[String]) -> anyhow::Result<()> {
    let [url, schema, data_dir] = args else { bail!("--stream-node needs a database URL, a schema and a directory") };
    crate::connections::raise_descriptor_limit();
    let mut config = Config::for_data_dir(data_dir.into())?;
    config.database_url = Some(url.clone());
    let store = Store::open(&store_config(&config, Some(schema))).await.map_err(anyhow::Error::from)?;
    let server = Server::with_store(config, Arc::new(store)).await?;
    println!("listening {}", server.local_addr());
    let stdin_closed = async {
        let _ = tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink())).await;
    };
    server.run(stdin_closed).await
}

/// The other node's process; it stops when this is dropped (its stdin closes).
struct OtherNode {
    process: std::process::Child,
    base: String,
}

impl OtherNode {
    async fn start(url: &str, schema: &str, data_dir: &std::path::Path) -> anyhow::Result<Self> {
        let mut process = std::process::Command::new(std::env::current_exe()?)
            .args(["bench", "stream", "--stream-node", url, schema])
            .arg(data_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = process.stdout.take().context("the other node's stdout")?;
        let (listening, address) = tokio::sync::oneshot::channel();
        // Read to the end, so that the node's last words do not meet a closed pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let _ = listening.send(lines.find_map(|line| line.strip_prefix("listening ").map(str::to_string)));
            lines.for_each(drop);
        });
        let Ok(Some(address)) = address.await else {
            let _ = process.kill();
            let _ = process.wait();
            bail!("the other node stopped before it listened");
        };
        Ok(Self { process, base: format!("http://{address}") })
    }

    /// Closes its stdin and waits for it to finish its requests and exit.
    async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.process.stdin.take());
        let mut process = self.process;
        let status = tokio::task::spawn_blocking(move || process.wait()).await??;
        if !status.success() {
            bail!("the other node exited with {status}");
        }
        Ok(())
    }
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
            let mut ws = open(&url, Some(&key)).await?;
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

/// What one agent's client received: its conversation's message numbers in the order they came, and the latency
/// of those written while measuring.
struct Received {
    numbers: Vec<u64>,
    latency_us: Histogram<u64>,
}

/// A message's text: its number in its conversation, marked when it was written while measuring.
fn message_text(number: u64, measured: bool) -> String {
    format!("{}{number}", if measured { 'm' } else { 'w' })
}

fn parse_message_text(text: &str) -> Option<(u64, bool)> {
    let measured = text.starts_with('m');
    Some((text.get(1..)?.parse().ok()?, measured))
}

/// Reads an agent's stream until `stop`: the numbers of its conversation's messages, and each measured one's
/// time from its event's timestamp to its frame.
async fn receive(
    mut ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    arrived: Arc<AtomicU64>,
) -> anyhow::Result<Received> {
    let mut received = Received { numbers: Vec::new(), latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)? };
    loop {
        let message = tokio::select! {
            message = ws.next() => message,
            _ = stop.changed() => break,
        };
        let Some(Ok(message)) = message else { break };
        let tungstenite::Message::Text(text) = message else { continue };
        let now = Timestamp::now().millis();
        let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
        if frame["type"] != "message.created" {
            continue;
        }
        let Some((number, measured)) = frame["data"]["text"].as_str().and_then(parse_message_text) else {
            continue;
        };
        received.numbers.push(number);
        arrived.fetch_add(1, Ordering::Relaxed);
        if measured && let Ok(at) = serde_json::from_value::<Timestamp>(frame["created_at"].clone()) {
            let us = u64::try_from((now - at.millis()).max(0) * 1_000).unwrap_or(0);
            received.latency_us.saturating_record(us.max(1));
        }
    }
    Ok(received)
}

/// What the senders wrote: per conversation, the numbers of the messages written (in the order written), how
/// many of them were written while measuring, and the writes that failed.
struct Sent {
    numbers: Vec<Vec<u64>>,
    measured: u64,
    failed: u64,
    /// From each measured write's request to its answer (the commit): the part of the latency that is the write.
    write_us: Histogram<u64>,
}

/// How the messages received compare with those written.
#[derive(Default, Debug)]
struct Delivery {
    delivered: u64,
    lost: u64,
    extra: u64,
    out_of_order: u64,
}

fn check(sent: &[u64], received: &[u64]) -> Delivery {
    let written: std::collections::HashSet<u64> = sent.iter().copied().collect();
    let mut seen = std::collections::HashSet::with_capacity(received.len());
    let mut outcome = Delivery::default();
    let mut newest = None;
    for &n in received {
        if !written.contains(&n) || !seen.insert(n) {
            outcome.extra += 1;
            continue;
        }
        outcome.delivered += 1;
        // A sender writes each conversation's messages one after another, so they must arrive in that order.
        if newest.is_some_and(|newest| n < newest) {
            outcome.out_of_order += 1;
        }
        newest = newest.max(Some(n));
    }
    outcome.lost = written.len() as u64 - outcome.delivered;
    outcome
}

/// Fan-out: messages written through `server` at `--rate`, each to the agent connected to `stream_base` who has
/// its conversation.
async fn latency(args: &BenchArgs, server: &InProcess, stream_base: &str) -> anyhow::Result<Value> {
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
    let url = format!("{}/v1/stream", stream_base.replacen("http://", "ws://", 1));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let arrived = Arc::new(AtomicU64::new(0));
    let agents = args.agents.max(1);
    let mut conversations = Vec::with_capacity(agents);
    let mut readers = Vec::with_capacity(agents);
    for i in 0..agents {
        let store = &server.state.store;
        let (_, user) =
            admin::create_user(store, server.org, &format!("agent {i}"), None, Role::Agent, None, Timestamp::now())
                .await
                .map_err(anyhow::Error::from)?;
        let body = json!({ "channel_id": channel["id"], "customer": { "customer_id": format!("bench-{i}") } });
        let created = post("/v1/conversations".into(), integration.clone(), body).await?;
        let id = created["conversation"]["id"].as_str().context("conversation id")?.to_string();
        post(format!("/v1/conversations/{id}/accept"), admin_key.clone(), json!({ "agent_id": user.user_id })).await?;
        let ws = open(&url, Some(&user.api_key)).await?;
        readers.push(tokio::spawn(receive(ws, stopping.clone(), arrived.clone())));
        conversations.push(id);
    }
    // Customers write at `rate` per second in all, from `clients` senders, each on its own schedule. Each
    // conversation has one sender, which waits for each write before the next, so its messages have an order.
    let conversations = Arc::new(conversations);
    let senders = args.clients.clamp(1, agents);
    let per_sender = Duration::from_secs_f64(senders as f64 / args.rate.max(1) as f64);
    let until = Instant::now() + Duration::from_secs(args.warmup + args.duration);
    let measure_from = Instant::now() + Duration::from_secs(args.warmup);
    let mut tasks = Vec::with_capacity(senders);
    // Each sender's ticks are offset by its share of the period, so that the writes are spread evenly over it
    // rather than all sent at each period's start (a burst every period, whose queueing the latencies would show).
    let first_tick = tokio::time::Instant::now();
    for worker in 0..senders {
        let (http, base, key, conversations) =
            (http.clone(), server.base.clone(), integration.clone(), conversations.clone());
        let phase = per_sender.mul_f64(worker as f64 / senders as f64);
        tasks.push(tokio::spawn(async move {
            let mine: Vec<usize> = (worker..conversations.len()).step_by(senders).collect();
            let mut written: Vec<Vec<u64>> = vec![Vec::new(); mine.len()];
            let (mut measured, mut failed) = (0u64, 0u64);
            let mut write_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut tick = tokio::time::interval_at(first_tick + phase, per_sender);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0u64;
            while Instant::now() < until {
                tick.tick().await;
                let slot = (n as usize) % mine.len();
                let number = n / mine.len() as u64;
                n += 1;
                let measuring = Instant::now() >= measure_from;
                let url = format!("{base}/v1/conversations/{}/messages", conversations[mine[slot]]);
                let text = message_text(number, measuring);
                let began = Instant::now();
                let ok = http.post(url).bearer_auth(&key).json(&json!({ "text": text })).send().await;
                if ok.is_ok_and(|r| r.status().is_success()) {
                    written[slot].push(number);
                    measured += u64::from(measuring);
                    if measuring {
                        write_us.saturating_record(began.elapsed().as_micros() as u64);
                    }
                } else {
                    failed += 1;
                }
            }
            anyhow::Ok((mine, written, measured, failed, write_us))
        }));
    }
    let mut sent = Sent {
        numbers: vec![Vec::new(); conversations.len()],
        measured: 0,
        failed: 0,
        write_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for task in tasks {
        let (mine, written, measured, failed, write_us) = task.await??;
        sent.write_us.add(&write_us)?;
        for (conversation, numbers) in mine.into_iter().zip(written) {
            sent.numbers[conversation] = numbers;
        }
        sent.measured += measured;
        sent.failed += failed;
    }
    // The last frames arrive: the readers stop once as many came as were written, or after `DRAIN`.
    let written: usize = sent.numbers.iter().map(Vec::len).sum();
    let drained = Instant::now() + DRAIN;
    while arrived.load(Ordering::Relaxed) < written as u64 && Instant::now() < drained {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send_replace(true);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut delivery = Delivery::default();
    for (reader, numbers) in readers.into_iter().zip(&sent.numbers) {
        let received = reader.await??;
        hist.add(&received.latency_us)?;
        let checked = check(numbers, &received.numbers);
        delivery.delivered += checked.delivered;
        delivery.lost += checked.lost;
        delivery.extra += checked.extra;
        delivery.out_of_order += checked.out_of_order;
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "agents": agents,
        "target_events_per_s": args.rate,
        "sent_per_s": round(sent.measured as f64 / args.duration.max(1) as f64),
        "delivered_per_s": round(hist.len() as f64 / args.duration.max(1) as f64),
        "frames": hist.len(),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "max_ms": hist.max() as f64 / 1000.0,
        "write_p50_ms": sent.write_us.value_at_quantile(0.5) as f64 / 1000.0,
        "write_p99_ms": sent.write_us.value_at_quantile(0.99) as f64 / 1000.0,
        "written": written,
        "write_failures": sent.failed,
        "delivered": delivery.delivered,
        "lost": delivery.lost,
        "extra": delivery.extra,
        "out_of_order": delivery.out_of_order,
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
    if let Some(node_args) = &args.stream_node {
        node(node_args).await?;
        return Ok(Value::Null);
    }
    if args.target.is_some() {
        bail!("the stream scenario measures servers it runs itself; drop --target");
    }
    let url = match (args.nodes, &args.database_url) {
        (1, url) => url.clone(),
        (2, Some(url)) => Some(url.clone()),
        (2, None) => bail!("--nodes 2 needs --database-url: nodes share only a PostgreSQL database"),
        (n, _) => bail!("--nodes is 1 or 2, not {n}"),
    };
    let open_files = crate::connections::raise_descriptor_limit();
    // On PostgreSQL each run has a schema of its own: what earlier runs left would weigh on the hubs' reads.
    let schema = url.as_ref().map(|_| format!("bench_{}", uuid::Uuid::now_v7().simple()));
    let measured = measure(args, schema.as_deref(), open_files).await;
    if let (Some(url), Some(schema)) = (&url, &schema) {
        drop_schema(url, schema).await;
    }
    let out = measured?;
    let fan_out = &out["fan_out"];
    let failed = ["write_failures", "lost", "extra", "out_of_order"].iter().any(|k| fan_out[*k].as_u64() != Some(0));
    if failed {
        bail!("not every message reached its agent once and in order: {out}");
    }
    Ok(out)
}

async fn measure(args: &BenchArgs, schema: Option<&str>, open_files: Option<u64>) -> anyhow::Result<Value> {
    let server = InProcess::start(args, schema, |_| {}).await?;
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    let measured = async {
        match (args.nodes, &args.database_url, schema) {
            (2, Some(url), Some(schema)) => {
                let other = OtherNode::start(url, schema, server.dir.path()).await?;
                let latency = latency(args, &server, &other.base).await;
                other.stop().await?;
                anyhow::Ok((Value::Null, latency?))
            }
            _ => {
                let idle = idle(args, &server).await?;
                let base = server.base.clone();
                Ok((idle, latency(args, &server, &base).await?))
            }
        }
    }
    .await;
    // Stopped whatever happened: its runtime cannot be dropped inside this one.
    server.stop().await?;
    let (idle, latency) = measured?;
    Ok(json!({
        "scenario": "stream",
        "backend": backend,
        "nodes": args.nodes,
        "open_files": open_files,
        "idle": idle,
        "fan_out": latency,
    }))
}

/// Drops the run's schema; a failure is only logged, the figures stand.
async fn drop_schema(url: &str, schema: &str) {
    let config = StoreConfig::Postgres { url: url.to_string(), schema: Some(schema.to_string()), pool_size: 1 };
    let dropped = match Store::connect(&config).await {
        Ok(store) => store.drop_schema(schema).await,
        Err(e) => Err(e),
    };
    if let Err(e) = dropped {
        tracing::warn!(error = %e, schema, "the benchmark's schema was not dropped");
    }
}
