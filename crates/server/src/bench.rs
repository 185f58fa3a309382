//! `switchboard bench`: the project's load generator. It starts its own server on a temporary database (unless
//! given `--target`), drives it over HTTP with N concurrent keep-alive clients, and prints one JSON line with
//! throughput and latency, beside the same client against a trivial handler in the same process (`baseline`,
//! this machine's HTTP ceiling).

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{Json, Router, body::Bytes, routing::post};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};

use crate::{Config, Server, admin};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Customers sending messages into open conversations (`POST /v1/conversations/{id}/messages`).
    Messages,
    /// The same through the compatible Messaging API (`POST /api/v1.0/consumer/conversation/{id}`).
    MessagingApi,
    /// Webhook delivery to a local receiver: sustained deliveries per second while messages pour in, then the
    /// time from an event's commit to its delivery at a steady 1,000 events per second.
    Webhooks,
    /// Routing: created → offer latency at 500 conversations/s with 1,000 agents in 50 queues, then a backlog of
    /// 10,000 draining when the agents come online (see `routing/bench.rs`).
    Routing,
    /// The routing engine alone, in memory: draining 10,000 waiting conversations, and each arrival's time to
    /// its offer with 1,000 agents in 50 queues.
    RoutingEngine,
    /// The same client against a handler that only parses and answers JSON.
    Baseline,
    /// Time from process start to `listening` on an existing data directory, and idle memory.
    Startup,
    /// The live stream: server memory per idle WebSocket (`--connections`), and event → frame latency while
    /// `--rate` events per second fan out to `--agents` connected agents, on one node or across two (`--nodes`;
    /// see `stream/bench.rs`).
    Stream,
    /// The channels: Bot Framework activities (token check, dedupe, store, route) from a fake Bot Framework service
    /// in this process; Direct Line conversations on WebSockets, both ways; the phone providers' and Google's
    /// signed webhooks; outbound SMS to a fake Twilio at each channel's rate (`--channel`; see `channels/bench.rs`,
    /// `channels/bench_phone.rs`, `channels/bench_outbound.rs`).
    Channels,
    /// `--slow-clients` connections that trickle header lines and reconnect when cut off (a slowloris attack):
    /// `/healthz` latency on new connections, and `messages` throughput beside a run without them.
    Slowloris,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    pub scenario: Scenario,
    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Open conversations the messages are spread over.
    #[arg(long, default_value_t = 1_000)]
    pub conversations: usize,
    /// A running server to measure instead of an in-process one (needs --api-key, an admin key).
    #[arg(long)]
    pub target: Option<String>,
    #[arg(long)]
    pub api_key: Option<String>,
    /// Run the in-process server on this PostgreSQL database instead of a temporary SQLite one.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Slow connections held open (`slowloris`).
    #[arg(long, default_value_t = 20_000)]
    pub slow_clients: usize,
    /// Idle WebSocket connections held open (`stream`).
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Connected agents, each with a conversation of their own (`stream`).
    #[arg(long, default_value_t = 1_000)]
    pub agents: usize,
    /// Events per second fanned out to the agents (`stream`).
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Nodes sharing the database (`stream`, PostgreSQL only): with 2, a second node runs in a child process,
    /// events are written through the first and the agents connect to the second.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// The channel `channels` measures.
    #[arg(long, value_enum, default_value = "bot-framework")]
    pub channel: crate::channels::bench::ChannelBench,
    /// Twilio SMS channels sending at once (`channels --channel sms-outbound`); `--conversations` are shared
    /// among them.
    #[arg(long, default_value_t = 10)]
    pub channels: usize,
    /// Each channel's `settings.sends_per_second` (`channels --channel sms-outbound`): the rate the fake Twilio
    /// must see from it, within 1%. The backlog is `--channels` × this × (`--warmup` + `--duration` + 3) messages.
    #[arg(long, default_value_t = 600)]
    pub sends_per_second: u32,
    /// Inside a child process of `stream`: open this many WebSockets to this URL with this key, and hold them.
    #[arg(long, hide = true, num_args = 3)]
    pub stream_child: Option<Vec<String>>,
    /// Inside a child process of `stream --nodes 2`: serve as another node on this database URL, schema and data
    /// directory until stdin closes.
    #[arg(long, hide = true, num_args = 3)]
    pub stream_node: Option<Vec<String>>,
    /// Inside a child process of `slowloris`: run the slow clients against this address, and which child this is.
    #[arg(long, hide = true, num_args = 2)]
    pub slow_child: Option<Vec<String>>,
}

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) fn client(connections: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(connections).build(connector)
}

async fn call(
    http: &HttpClient,
    method: Method,
    url: &str,
    key: Option<&str>,
    body: Option<&Value>,
    headers: &[(String, String)],
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut req = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let payload = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(b)?)
        }
        None => Bytes::new(),
    };
    let response = http.request(req.body(Full::new(payload))?).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

async fn post_json(http: &HttpClient, url: &str, key: &str, body: Value) -> anyhow::Result<Value> {
    let (status, bytes) = call(http, Method::POST, url, Some(key), Some(&body), &[]).await?;
    if !status.is_success() {
        bail!("POST {url}: {status} {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// What one measured run produced.
#[derive(Debug)]
struct Measured {
    requests: u64,
    errors: u64,
    seconds: f64,
    latency_us: Histogram<u64>,
}

impl Measured {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Runs `clients` loops, each sending `request(i, n)` back to back, for warm-up then the measured period.
async fn drive(
    args: &BenchArgs,
    make: Arc<dyn Fn(usize, u64) -> (String, Value) + Send + Sync>,
    key: Option<String>,
    headers: Vec<(String, String)>,
    expect: StatusCode,
) -> anyhow::Result<Measured> {
    let headers = Arc::new(headers);
    let http = client(args.clients);
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup);
    let until = measure_from + Duration::from_secs(args.duration);
    let mut tasks = Vec::with_capacity(args.clients);
    for worker in 0..args.clients {
        let (http, make, key, headers) = (http.clone(), make.clone(), key.clone(), headers.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut ok, mut errors, mut n) = (0u64, 0u64, 0u64);
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let (url, body) = make(worker, n);
                n += 1;
                let result = call(&http, Method::POST, &url, key.as_deref(), Some(&body), &headers).await;
                if sent < measure_from {
                    continue;
                }
                match result {
                    Ok((status, _)) if status == expect => {
                        ok += 1;
                        hist.saturating_record(sent.elapsed().as_micros() as u64);
                    }
                    _ => errors += 1,
                }
            }
            anyhow::Ok((ok, errors, hist))
        }));
    }
    let mut total = Measured {
        requests: 0,
        errors: 0,
        seconds: args.duration as f64,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for task in tasks {
        let (ok, errors, hist) = task.await??;
        total.requests += ok;
        total.errors += errors;
        total.latency_us.add(hist)?;
    }
    Ok(total)
}

/// The measured server runs on a runtime of its own (two worker threads, like `switchboard serve` on this
/// machine), as it would in its own process: the load generator's tasks then do not queue on the server's workers,
/// and the two compete for the cores only as a separate client would.
fn server_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().thread_name("bench-server").enable_all().build()?)
}

/// Shuts a server runtime down off the async context (dropping a runtime inside one panics).
async fn drop_runtime(runtime: tokio::runtime::Runtime) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || drop(runtime)).await?;
    Ok(())
}

async fn baseline(args: &BenchArgs) -> anyhow::Result<Measured> {
    let app = Router::new().route("/echo", post(|Json(v): Json<Value>| async move { (StatusCode::CREATED, Json(v)) }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}/echo", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runtime = server_runtime()?;
    let server = runtime.spawn(async move {
        axum::serve(tokio::net::TcpListener::from_std(listener)?, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let body = json!({ "text": "Hello, I need help with my order." });
    let measured =
        drive(args, Arc::new(move |_, _| (url.clone(), body.clone())), None, Vec::new(), StatusCode::CREATED).await;
    let _ = stop.send(());
    server.await??;
    drop_runtime(runtime).await?;
    measured
}

/// Creates a queue, workstream, channel and `n` open conversations over the API; returns the conversations' ids
/// and the channel's.
async fn seed(base: &str, key: &str, n: usize) -> anyhow::Result<(Vec<String>, String)> {
    let http = client(16);
    let queue = post_json(&http, &format!("{base}/v1/queues"), key, json!({ "name": "Bench" })).await?;
    let workstream = post_json(
        &http,
        &format!("{base}/v1/workstreams"),
        key,
        json!({ "name": "Bench", "fallback_queue_id": queue["id"] }),
    )
    .await?;
    let channel = post_json(
        &http,
        &format!("{base}/v1/channels"),
        key,
        json!({ "name": "Bench", "channel_type": "messaging_api", "workstream_id": workstream["id"] }),
    )
    .await?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let created = post_json(
            &http,
            &format!("{base}/v1/conversations"),
            key,
            json!({ "channel_id": channel["id"], "customer": { "customer_id": format!("bench-{}-{i}", uuid::Uuid::now_v7()) } }),
        )
        .await?;
        let id = created["conversation"]["id"].as_str().context("conversation id")?.to_string();
        ids.push(id);
    }
    Ok((ids, channel["id"].as_str().context("channel id")?.to_string()))
}

/// A server for a scenario: the `--target`, or one in this process on a temporary database.
struct Target {
    base: String,
    key: String,
    backend: String,
    running: Option<Running>,
    _dir: Option<tempfile::TempDir>,
}

/// An in-process server: its runtime, the signal that stops it, and its task.
struct Running {
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Target {
    async fn start(args: &BenchArgs, configure: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        if let Some(target) = &args.target {
            let key = args.api_key.clone().context("--target needs --api-key (an admin key of the target)")?;
            return Ok(Self {
                base: target.trim_end_matches('/').to_string(),
                key,
                backend: "target".into(),
                running: None,
                _dir: None,
            });
        }
        let dir = tempfile::tempdir()?;
        let mut config = Config::for_data_dir(dir.path().to_path_buf())?;
        config.database_url = args.database_url.clone();
        configure(&mut config);
        let backend = if config.database_url.is_some() { "postgres" } else { "sqlite" }.to_string();
        let runtime = server_runtime()?;
        let (ready, started) = tokio::sync::oneshot::channel::<(String, String)>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let server = Server::build(config).await?;
            let (_, created) = admin::create_org(&server.state().store, "bench", server.state().clock.now())
                .await
                .map_err(anyhow::Error::from)?;
            let _ = ready.send((format!("http://{}", server.local_addr()), created.api_key));
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        let Ok((base, key)) = started.await else {
            task.await??;
            bail!("the in-process server stopped before it was ready");
        };
        Ok(Self { base, key, backend, running: Some(Running { runtime, stop, task }), _dir: Some(dir) })
    }

    async fn stop(self) -> anyhow::Result<()> {
        if let Some(Running { runtime, stop, task }) = self.running {
            let _ = stop.send(());
            task.await??;
            drop_runtime(runtime).await?;
        }
        Ok(())
    }
}

/// Messages spread evenly over the conversations: each client walks its own stride.
fn spread(conversations: &[String], clients: usize, worker: usize, n: u64) -> &str {
    &conversations[(worker + (n as usize).wrapping_mul(clients)) % conversations.len()]
}

async fn messages(args: &BenchArgs, compatible: bool) -> anyhow::Result<(Measured, String)> {
    let target = Target::start(args, |_| {}).await?;
    let (conversations, channel) = seed(&target.base, &target.key, args.conversations.max(1)).await?;
    let conversations = Arc::new(conversations);
    let text = "Hello, I need help with my order.";
    let (clients, base) = (args.clients, target.base.clone());
    let measured = if compatible {
        let make = Arc::new(move |worker: usize, n: u64| {
            let id = spread(&conversations, clients, worker, n);
            (format!("{base}/api/v1.0/consumer/conversation/{id}"), json!({ "type": "message", "text": text }))
        });
        let headers = vec![("channel-id".to_string(), channel)];
        drive(args, make, Some(target.key.clone()), headers, StatusCode::OK).await?
    } else {
        let make = Arc::new(move |worker: usize, n: u64| {
            let id = spread(&conversations, clients, worker, n);
            (format!("{base}/v1/conversations/{id}/messages"), json!({ "text": text }))
        });
        drive(args, make, Some(target.key.clone()), Vec::new(), StatusCode::CREATED).await?
    };
    let backend = target.backend.clone();
    target.stop().await?;
    Ok((measured, backend))
}

/// What the bench's webhook receiver saw.
#[derive(Default)]
struct Received {
    /// Deliveries accepted (answered 2xx).
    count: u64,
    /// While set, the receiver answers 503, so that deliveries pile up behind their lanes' heads.
    failing: bool,
    /// When the last delivery was accepted.
    last: Option<Instant>,
    /// From the event's commit (its `timestamp`) to its arrival, in microseconds, for the steady phase's messages.
    lag_us: Option<Histogram<u64>>,
}

async fn webhook_receiver() -> anyhow::Result<(String, Arc<std::sync::Mutex<Received>>)> {
    let seen = Arc::new(std::sync::Mutex::new(Received::default()));
    let state = seen.clone();
    let app = Router::new().route(
        "/hooks",
        post(move |body: Bytes| {
            let seen = state.clone();
            async move {
                let now = switchboard_domain::Timestamp::now();
                let event = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
                let steady = event["data"]["text"] == STEADY_TEXT;
                let committed = event["timestamp"].as_str().and_then(switchboard_domain::Timestamp::parse_rfc3339);
                let Ok(mut seen) = seen.lock() else { return StatusCode::INTERNAL_SERVER_ERROR };
                if seen.failing {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                seen.count += 1;
                seen.last = Some(Instant::now());
                if let (Some(hist), Some(at), true) = (seen.lag_us.as_mut(), committed, steady) {
                    hist.saturating_record(((now.millis() - at.millis()).max(0) * 1000) as u64);
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, seen))
}

/// The text of the steady phase's messages, whose delivery lag is measured.
const STEADY_TEXT: &str = "steady";

/// Polls until no delivery has been accepted for a second; returns when the last one was.
async fn settled(seen: &std::sync::Mutex<Received>) -> Option<Instant> {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let last = seen.lock().ok().and_then(|s| s.last);
        if last.is_some_and(|l| l.elapsed() >= Duration::from_secs(1)) {
            return last;
        }
    }
}

/// A server subscribed to `message.created` at a receiver in this process, with open conversations.
struct Subscribed {
    target: Target,
    seen: Arc<std::sync::Mutex<Received>>,
    conversations: Arc<Vec<String>>,
}

impl Subscribed {
    async fn start(args: &BenchArgs) -> anyhow::Result<Self> {
        let target = Target::start(args, |c| {
            c.webhooks.allow_loopback = true;
            // The backlog phase fails every first attempt; the retry comes a second later.
            c.webhooks.retry_schedule_seconds = vec![1, 1, 1];
            c.webhooks.jitter_percent = 0;
        })
        .await?;
        let (url, seen) = webhook_receiver().await?;
        post_json(
            &client(1),
            &format!("{}/v1/webhook-subscriptions", target.base),
            &target.key,
            json!({ "url": url, "event_types": ["message.created"] }),
        )
        .await?;
        let (conversations, _) = seed(&target.base, &target.key, args.conversations.max(1)).await?;
        Ok(Self { target, seen, conversations: Arc::new(conversations) })
    }

    fn count(&self) -> u64 {
        self.seen.lock().map(|s| s.count).unwrap_or(0)
    }
}

/// Delivery throughput from a backlog, then event-to-delivery latency at a steady rate. Each phase has a server of
/// its own: after a backlog of hundreds of thousands of deliveries the server still records their attempts for a
/// while, and the steady phase measures the steady state, not that tail.
async fn webhooks(args: &BenchArgs) -> anyhow::Result<Value> {
    if args.target.is_some() {
        bail!("the webhooks scenario runs its own server and receiver; --target is not supported");
    }

    // 1. A backlog: messages as fast as the clients send them while the receiver is down, so every delivery
    //    waits. Then the receiver comes back and the backlog drains: deliveries per second, sustained.
    let backlog = Subscribed::start(args).await?;
    if let Ok(mut s) = backlog.seen.lock() {
        s.failing = true;
    }
    let (clients, base) = (args.clients, backlog.target.base.clone());
    let make = {
        let conversations = backlog.conversations.clone();
        Arc::new(move |worker: usize, n: u64| {
            let id = spread(&conversations, clients, worker, n);
            (format!("{base}/v1/conversations/{id}/messages"), json!({ "text": "Where is my parcel?" }))
        })
    };
    let sent = drive(args, make, Some(backlog.target.key.clone()), Vec::new(), StatusCode::CREATED).await?;
    let recovered = Instant::now();
    if let Ok(mut s) = backlog.seen.lock() {
        s.failing = false;
    }
    let last = settled(&backlog.seen).await.context("no delivery was accepted")?;
    let delivered = backlog.count();
    let drain_s = last.duration_since(recovered).as_secs_f64();
    let sustained = delivered as f64 / drain_s;
    let backend = backlog.target.backend.clone();
    backlog.target.stop().await?;

    // 2. A steady 1,000 events per second; each delivery's lag from its commit.
    let steady = Subscribed::start(args).await?;
    if let Ok(mut s) = steady.seen.lock() {
        s.lag_us = Some(Histogram::new_with_bounds(1, 60_000_000, 3)?);
    }
    let steady_http = client(64);
    let ticks = args.duration * 1000;
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut inflight = tokio::task::JoinSet::new();
    for n in 0..ticks {
        interval.tick().await;
        let id = steady.conversations[n as usize % steady.conversations.len()].clone();
        let (http, base, key) = (steady_http.clone(), steady.target.base.clone(), steady.target.key.clone());
        inflight.spawn(async move {
            let url = format!("{base}/v1/conversations/{id}/messages");
            call(&http, Method::POST, &url, Some(&key), Some(&json!({ "text": STEADY_TEXT })), &[]).await.map(|r| r.0)
        });
        while let Some(done) = inflight.try_join_next() {
            done??;
        }
    }
    while let Some(done) = inflight.join_next().await {
        done??;
    }
    for _ in 0..1_000 {
        if steady.count() >= ticks {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lag = steady.seen.lock().ok().and_then(|mut s| s.lag_us.take()).context("latency histogram")?;
    let ms = |q: f64| lag.value_at_quantile(q) as f64 / 1000.0;
    let out = json!({
        "scenario": "webhooks",
        "backend": backend,
        "clients": args.clients,
        "duration_s": args.duration,
        "backlog_messages_per_s": round(sent.throughput()),
        "backlog_delivered": delivered,
        "backlog_drain_s": round(drain_s),
        "sustained_deliveries_per_s": round(sustained),
        "steady_events": ticks,
        "steady_delivered": steady.count(),
        "event_to_delivery_p50_ms": ms(0.5),
        "event_to_delivery_p99_ms": ms(0.99),
        "event_to_delivery_max_ms": lag.max() as f64 / 1000.0,
    });
    steady.target.stop().await?;
    Ok(out)
}

/// Seconds between a slow client's header lines: well inside the header timeout, as an attacker would pace them.
const TRICKLE: Duration = Duration::from_secs(5);

/// Loopback source addresses each process's slow clients spread over: the server closes each one at its header
/// timeout, and every closed connection's address pair waits a minute in TIME_WAIT, more pairs than one source
/// address has ports at 20,000 clients.
const SOURCES: u8 = 64;

/// Slow clients per child process. Each holds a descriptor per connection, as the server does for its side, and a
/// process's open file limit (20,000 on the machine measured, which a container's root may not raise) must fit
/// them: the server keeps this process's limit, the clients run in children with limits of their own.
const SLOW_PER_PROCESS: usize = 10_000;

/// What the slow clients share.
#[derive(Default)]
struct SlowClients {
    connected: std::sync::atomic::AtomicI64,
    reconnects: std::sync::atomic::AtomicU64,
    failed_connects: std::sync::atomic::AtomicU64,
}

/// One slowloris client: connects, sends a request line and a header line every `TRICKLE`, never the blank line
/// that ends the headers; when the server answers or closes, connects again on the next round.
async fn slow_client(
    server: std::net::SocketAddr,
    source: std::net::SocketAddr,
    start: Duration,
    shared: Arc<SlowClients>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::time::sleep(start).await;
    loop {
        let connected = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(source)?;
            socket.connect(server).await
        };
        let Ok(mut stream) = connected.await else {
            shared.failed_connects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        shared.connected.fetch_add(1, Ordering::Relaxed);
        let mut open = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n").await.is_ok();
        let mut n = 0u64;
        let mut answer = [0u8; 1024];
        while open {
            tokio::select! {
                // The server's 408, its close, or a reset: this connection is over.
                _ = stream.read(&mut answer) => open = false,
                () = tokio::time::sleep(TRICKLE) => {
                    n += 1;
                    open = stream.write_all(format!("X-Trickle-{n}: {n}\r\n").as_bytes()).await.is_ok();
                }
            }
        }
        shared.connected.fetch_sub(1, Ordering::Relaxed);
        shared.reconnects.fetch_add(1, Ordering::Relaxed);
        // As slowloris.py does: a dropped socket is opened again on the next round, not at once (reconnecting at
        // once is a connection flood, another attack; see docs/benchmarks.md for what it does).
        tokio::time::sleep(TRICKLE).await;
    }
}

/// A child process's part: `n` slow clients against `server`, with counts on stdout every 100 ms until the
/// parent kills it (or stops reading).
async fn slow_child(args: &[String], n: usize) -> anyhow::Result<()> {
    use std::{io::Write, sync::atomic::Ordering};
    let [server, index] = args else { bail!("--slow-child needs an address and an index") };
    let server: std::net::SocketAddr = server.parse()?;
    let index: u8 = index.parse()?;
    crate::connections::raise_descriptor_limit();
    let shared = Arc::new(SlowClients::default());
    // The slow clients connect over five seconds (a burst of 20,000 would overflow the listen backlog).
    let ramp = Duration::from_secs(5);
    for i in 0..n {
        let source = std::net::SocketAddr::from(([127, 1 + index, 0, 2 + (i % usize::from(SOURCES)) as u8], 0));
        let start = ramp.mul_f64(i as f64 / n.max(1) as f64);
        tokio::spawn(slow_client(server, source, start, shared.clone()));
    }
    let mut out = std::io::stdout();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let line = format!(
            "{} {} {}\n",
            shared.connected.load(Ordering::Relaxed),
            shared.reconnects.load(Ordering::Relaxed),
            shared.failed_connects.load(Ordering::Relaxed)
        );
        if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}

/// The child processes running the slow clients, and their latest counts.
struct SlowProcesses {
    children: std::sync::Mutex<Vec<std::process::Child>>,
    counts: Vec<Arc<SlowClients>>,
}

impl SlowProcesses {
    fn spawn(server: std::net::SocketAddr, n: usize) -> anyhow::Result<Self> {
        use std::io::{BufRead, BufReader};
        use std::sync::atomic::Ordering;
        let exe = std::env::current_exe()?;
        let (mut children, mut counts) = (Vec::new(), Vec::new());
        for index in 0..n.div_ceil(SLOW_PER_PROCESS) {
            let clients = (n - index * SLOW_PER_PROCESS).min(SLOW_PER_PROCESS);
            let mut child = std::process::Command::new(&exe)
                .args(["bench", "slowloris", "--slow-clients", &clients.to_string(), "--slow-child"])
                .args([server.to_string(), index.to_string()])
                .env("SWITCHBOARD_LOG", "error")
                .stdout(std::process::Stdio::piped())
                .spawn()?;
            let stdout = child.stdout.take().context("child stdout")?;
            let shared = Arc::new(SlowClients::default());
            let seen = shared.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let numbers: Vec<i64> = line.split(' ').filter_map(|n| n.parse().ok()).collect();
                    if let [connected, reconnects, failed] = numbers[..] {
                        seen.connected.store(connected, Ordering::Relaxed);
                        seen.reconnects.store(reconnects as u64, Ordering::Relaxed);
                        seen.failed_connects.store(failed as u64, Ordering::Relaxed);
                    }
                }
            });
            children.push(child);
            counts.push(shared);
        }
        Ok(Self { children: std::sync::Mutex::new(children), counts })
    }

    fn connected(&self) -> i64 {
        self.counts.iter().map(|c| c.connected.load(std::sync::atomic::Ordering::Relaxed)).sum()
    }

    fn reconnects(&self) -> u64 {
        self.counts.iter().map(|c| c.reconnects.load(std::sync::atomic::Ordering::Relaxed)).sum()
    }

    fn failed_connects(&self) -> u64 {
        self.counts.iter().map(|c| c.failed_connects.load(std::sync::atomic::Ordering::Relaxed)).sum()
    }

    fn stop(&self) {
        let Ok(mut children) = self.children.lock() else { return };
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `/healthz` on a new connection every 10 ms until `until`; latencies from `measure_from` on.
async fn probe_health(url: String, measure_from: Instant, until: Instant) -> anyhow::Result<(Histogram<u64>, u64)> {
    // No pooled connections: each probe connects, as a load balancer's health check does.
    let http = client(0);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut failures = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while Instant::now() < until {
        tick.tick().await;
        let sent = Instant::now();
        let answered =
            tokio::time::timeout(Duration::from_secs(5), call(&http, Method::GET, &url, None, None, &[])).await;
        if sent < measure_from {
            continue;
        }
        match answered {
            Ok(Ok((StatusCode::OK, _))) => hist.saturating_record(sent.elapsed().as_micros() as u64),
            _ => failures += 1,
        }
    }
    Ok((hist, failures))
}

async fn slowloris(args: &BenchArgs) -> anyhow::Result<Value> {
    if let Some(child) = &args.slow_child {
        slow_child(child, args.slow_clients).await?;
        return Ok(Value::Null);
    }
    let open_files = crate::connections::raise_descriptor_limit();
    let target = Target::start(args, |_| {}).await?;
    let server: std::net::SocketAddr =
        target.base.trim_start_matches("http://").parse().context("--target must be http://address:port")?;
    let (conversations, _) = seed(&target.base, &target.key, args.conversations.max(1)).await?;
    let conversations = Arc::new(conversations);
    let (clients, base) = (args.clients, target.base.clone());
    let make = Arc::new(move |worker: usize, n: u64| {
        let id = spread(&conversations, clients, worker, n);
        (format!("{base}/v1/conversations/{id}/messages"), json!({ "text": "Hello, I need help with my order." }))
    });

    // 1. The messages load alone.
    let alone = drive(args, make.clone(), Some(target.key.clone()), Vec::new(), StatusCode::CREATED).await?;

    // 2. The slow clients connect, from processes of their own.
    let slow = Arc::new(SlowProcesses::spawn(server, args.slow_clients)?);
    let ramped = Instant::now();
    // Until nearly all are connected, or for their five-second ramp and two trickle rounds when the server holds
    // fewer than that (its connection limit evicts the rest).
    while slow.connected() < (args.slow_clients as i64) * 95 / 100 && ramped.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 3. The same load, and health checks, with the slow clients holding their connections.
    let measure_from = Instant::now() + Duration::from_secs(args.warmup);
    let until = measure_from + Duration::from_secs(args.duration);
    let probes = tokio::spawn(probe_health(format!("{}/healthz", target.base), measure_from, until));
    let held = {
        let slow = slow.clone();
        tokio::spawn(async move {
            let (mut min, mut sum, mut n) = (i64::MAX, 0i64, 0i64);
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if Instant::now() >= measure_from {
                    let now = slow.connected();
                    (min, sum, n) = (min.min(now), sum + now, n + 1);
                }
            }
            (min, sum / n.max(1))
        })
    };
    let reconnects_before = slow.reconnects();
    let loaded = drive(args, make, Some(target.key.clone()), Vec::new(), StatusCode::CREATED).await?;
    let (health, health_failures) = probes.await??;
    let (held_min, held_mean) = held.await?;
    // What the server says it holds, at the end of the measured period.
    let (_, metrics) = call(&client(0), Method::GET, &format!("{}/metrics", target.base), None, None, &[]).await?;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    let metric =
        |name: &str| metrics.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).unwrap_or_default();
    let server_open = metric("http_connections_open ");
    let header_timeouts = metric("http_connections_closed_total{reason=\"header_timeout\"} ");
    let evicted = metric("http_connections_closed_total{reason=\"evicted\"} ");
    let reconnects = slow.reconnects() - reconnects_before;
    let failed_connects = slow.failed_connects();
    slow.stop();
    let backend = target.backend.clone();
    target.stop().await?;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "scenario": "slowloris",
        "backend": backend,
        "open_files": open_files,
        "slow_clients": args.slow_clients,
        "slow_connections_held_min": held_min,
        "slow_connections_held_mean": held_mean,
        "slow_reconnects_per_s": round(reconnects as f64 / (args.warmup + args.duration) as f64),
        "slow_failed_connects": failed_connects,
        "server_open_connections": server_open,
        "server_header_timeouts": header_timeouts,
        "server_evictions": evicted,
        "clients": args.clients,
        "duration_s": args.duration,
        "healthz_probes": health.len(),
        "healthz_failures": health_failures,
        "healthz_p50_ms": ms(&health, 0.5),
        "healthz_p99_ms": ms(&health, 0.99),
        "healthz_max_ms": health.max() as f64 / 1000.0,
        "messages_alone_per_s": round(alone.throughput()),
        "messages_alone_p99_ms": alone.ms(0.99),
        "messages_with_slow_clients_per_s": round(loaded.throughput()),
        "messages_with_slow_clients_p99_ms": loaded.ms(0.99),
        "messages_errors": loaded.errors,
        "ratio": round(loaded.throughput() / alone.throughput()),
    }))
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Starts `switchboard serve` on `dir` and returns the process and the time until it printed `listening`.
fn start_server(dir: &std::path::Path) -> anyhow::Result<(std::process::Child, Duration)> {
    use std::io::{BufRead, BufReader};
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    for line in BufReader::new(stdout).lines() {
        if line?.starts_with("listening on ") {
            return Ok((child, started.elapsed()));
        }
    }
    let _ = child.kill();
    bail!("the server exited before listening")
}

fn startup() -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let data: PathBuf = dir.path().join("data");
    // The first start creates the database; the figure is for starts on an existing data directory.
    let (mut first, _) = start_server(&data)?;
    first.kill()?;
    first.wait()?;
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..5 {
        let (mut child, took) = start_server(&data)?;
        times.push(took.as_secs_f64() * 1000.0);
        // Idle memory: measured after the server has settled with no traffic.
        std::thread::sleep(Duration::from_millis(500));
        rss.extend(rss_mb(child.id()));
        child.kill()?;
        child.wait()?;
    }
    times.sort_by(f64::total_cmp);
    rss.sort_by(f64::total_cmp);
    Ok(json!({
        "scenario": "startup",
        "runs": times.len(),
        "start_to_listening_ms_median": round(times[times.len() / 2]),
        "start_to_listening_ms_max": round(times[times.len() - 1]),
        "idle_rss_mb_median": rss.get(rss.len() / 2).copied().map(round),
    }))
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn report(scenario: &str, backend: &str, args: &BenchArgs, m: &Measured, base: Option<&Measured>) -> Value {
    let mut out = json!({
        "scenario": scenario,
        "backend": backend,
        "clients": args.clients,
        "duration_s": args.duration,
        "requests": m.requests,
        "errors": m.errors,
        "throughput_per_s": round(m.throughput()),
        "p50_ms": m.ms(0.5),
        "p99_ms": m.ms(0.99),
        "p999_ms": m.ms(0.999),
        "max_ms": m.latency_us.max() as f64 / 1000.0,
    });
    if let Some(b) = base {
        out["baseline_per_s"] = round(b.throughput()).into();
        out["baseline_p99_ms"] = b.ms(0.99).into();
        out["ratio_to_baseline"] = round(m.throughput() / b.throughput()).into();
    }
    out
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let line = match args.scenario {
        Scenario::Baseline => report("baseline", "none", &args, &baseline(&args).await?, None),
        Scenario::Messages | Scenario::MessagingApi => {
            let base = baseline(&args).await?;
            let compatible = args.scenario == Scenario::MessagingApi;
            let (m, backend) = messages(&args, compatible).await?;
            report(if compatible { "messaging_api" } else { "messages" }, &backend, &args, &m, Some(&base))
        }
        Scenario::Webhooks => webhooks(&args).await?,
        Scenario::Startup => tokio::task::spawn_blocking(startup).await??,
        Scenario::Slowloris => slowloris(&args).await?,
        Scenario::Stream => crate::stream::bench::run(&args).await?,
        Scenario::Routing => crate::routing::bench::run(&args).await?,
        Scenario::Channels => crate::channels::bench::run(&args).await?,
        Scenario::RoutingEngine => tokio::task::spawn_blocking(crate::routing::engine_bench::run).await??,
    };
    println!("{line}");
    Ok(())
}
