//! `switchboard bench channels --channel google-business-messages`: Google's Business Messages both ways, on an
//! in-process server, against a fake Google in this process.
//!
//! **Inbound**: `--clients` keep-alive clients post user messages to the channel's webhook as Google does, each
//! signed with `X-Goog-Signature` (HMAC-SHA512 of the body with the client token, computed before the run so the
//! clients' own cost is small), spread over `--conversations` Business Messages conversations, with agents
//! available so each new conversation is routed. At the end every message answered 200 must be stored exactly once
//! (counted, then a sample posted again, as Google retries, and counted again).
//!
//! **Outbound**: then `--clients` senders post messages on those conversations through the API for `--duration`
//! seconds; each goes to the fake's `conversations.messages.create` with the service account's token (the JWT
//! bearer grant, one token for the run), through the delivery engine, at most the channel's `sends_per_second`
//! (`--rate`; 0: no limit). The fake times what it receives: the rate it saw once the first second's burst was
//! spent, against the configured one.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{Json, Router, body::Bytes, extract::State, routing::post};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use switchboard_channels::google_bm;
use switchboard_domain::{event::EventType, ids::QueueId};

use crate::{
    bench::{BenchArgs, HttpClient, client},
    config::GoogleBusinessMessagesConfig,
    stream::bench::InProcess,
};

const KEY: &str = include_str!("../../../channels/testdata/google_bm/service_account_key.pem");
const CLIENT_TOKEN: &str = "bench-client-token";
const AGENTS: usize = 100;
const REPEATS: u64 = 1_000;

/// What the fake received: each message's arrival.
#[derive(Default)]
struct Received {
    messages: Vec<Instant>,
    tokens: u64,
}

type Shared = Arc<Mutex<Received>>;

async fn fake_google() -> anyhow::Result<(String, Shared, tokio::task::JoinHandle<()>)> {
    async fn token(State(r): State<Shared>) -> Json<Value> {
        r.lock().unwrap_or_else(std::sync::PoisonError::into_inner).tokens += 1;
        Json(json!({ "access_token": "ya29.bench", "expires_in": 3599, "token_type": "Bearer" }))
    }
    async fn message(State(r): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
        r.lock().unwrap_or_else(std::sync::PoisonError::into_inner).messages.push(Instant::now());
        Json(body)
    }
    async fn event(Json(body): Json<Value>) -> Json<Value> {
        Json(body)
    }
    let received: Shared = Arc::default();
    let app = Router::new()
        .route("/token", post(token))
        .route("/v1/conversations/{conversation}/messages", post(message))
        .route("/v1/conversations/{conversation}/events", post(event))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, received, task))
}

async fn post_json(http: &reqwest::Client, url: &str, key: &str, body: Value) -> anyhow::Result<Value> {
    let response = http.post(url).bearer_auth(key).json(&body).send().await?;
    let status = response.status();
    let value: Value = response.json().await?;
    if !status.is_success() {
        bail!("POST {url}: {status} {value}");
    }
    Ok(value)
}

/// A routed queue with available agents and a Business Messages channel on it; returns its webhook URL.
async fn channel(server: &InProcess, threads: usize) -> anyhow::Result<String> {
    let (http, base, key) = (reqwest::Client::new(), &server.base, &server.key);
    let queue = post_json(&http, &format!("{base}/v1/queues"), key, json!({ "name": "Google" })).await?;
    let ws = post_json(
        &http,
        &format!("{base}/v1/workstreams"),
        key,
        json!({ "name": "Google", "fallback_queue_id": queue["id"], "settings": { "routing": { "enabled": true } } }),
    )
    .await?;
    let account = post_json(
        &http,
        &format!("{base}/v1/messaging-accounts"),
        key,
        json!({ "name": "Bench on Google", "kind": "google_business_messages", "method": "google",
            "settings": { "partner_id": "bench", "brand_id": "bench-brand", "agent_id": "bench-agent" },
            "credentials": { "client_token": CLIENT_TOKEN, "service_account": {
                "type": "service_account", "private_key_id": "bench", "private_key": KEY,
                "client_email": "bench@bench.iam.gserviceaccount.com" } } }),
    )
    .await?;
    let account = account["id"].as_str().context("account id")?;
    let channel = post_json(
        &http,
        &format!("{base}/v1/messaging-accounts/{account}/channels"),
        key,
        json!({ "name": "Maps", "workstream_id": ws["id"] }),
    )
    .await?;
    let channel = channel["id"].as_str().context("channel id")?;
    let (app, org) = (&server.state, server.org);
    let capacity = i64::try_from(threads.div_ceil(AGENTS) + 1)?;
    let agents =
        super::bench::available_agents(app, org, AGENTS, capacity).await?.into_iter().map(|u| u.user_id).collect();
    let queue: QueueId = queue["id"].as_str().context("queue id")?.parse()?;
    app.routing.set_members(&app.routing_deps, org, queue, agents).await.map_err(anyhow::Error::from)?;
    Ok(format!("{base}/channels/google-business-messages/{channel}/webhook"))
}

/// The `n`th message of a client, on conversation `thread`, and its signature.
fn user_message(worker: usize, n: u64, thread: usize) -> (String, Bytes) {
    let body = json!({
        "agent": "brands/bench-brand/agents/bench-agent",
        "conversationId": format!("bench-conversation-{thread}"),
        "requestId": format!("bench-req-{worker}-{n}"),
        "message": { "messageId": format!("bench-{worker}-{n}"), "text": "Hello, I need help with my order.",
                     "createTime": "2026-12-07T10:00:00.045123456Z" },
        "context": { "userInfo": { "displayName": "Customer" } },
        "sendTime": "2026-12-07T10:00:01.045123456Z",
    })
    .to_string();
    (google_bm::sign(CLIENT_TOKEN, body.as_bytes()), Bytes::from(body))
}

async fn send(http: &HttpClient, url: &str, header: (&str, &str), body: Bytes) -> anyhow::Result<StatusCode> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json")
        .header(header.0, header.1)
        .body(Full::new(body))?;
    let response = http.request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

pub(crate) async fn run(args: &BenchArgs) -> anyhow::Result<Value> {
    let (fake, received, fake_task) = fake_google().await?;
    let rate = u32::try_from(args.rate).unwrap_or(u32::MAX);
    let config = GoogleBusinessMessagesConfig {
        api_url: fake.clone(),
        token_url: format!("{fake}/token"),
        sends_per_second: rate,
    };
    let server = InProcess::start(args, None, move |c| {
        c.channels.google_business_messages = config;
        c.webhooks.allow_loopback = true;
    })
    .await?;
    let threads = args.conversations.max(1);
    let endpoint = channel(&server, threads).await?;
    let clients = args.clients.max(1);
    let http = client(clients);

    // Inbound.
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup);
    let until = measure_from + Duration::from_secs(args.duration);
    let mut tasks = Vec::with_capacity(clients);
    for worker in 0..clients {
        let (http, endpoint) = (http.clone(), endpoint.clone());
        tasks.push(tokio::spawn(async move {
            let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut ok, mut measured, mut errors, mut sent) = (0u64, 0u64, 0u64, 0u64);
            loop {
                let (signature, body) = user_message(worker, sent, (worker + sent as usize * clients) % threads);
                let at = Instant::now();
                if at >= until {
                    break;
                }
                sent += 1;
                match send(&http, &endpoint, (google_bm::SIGNATURE_HEADER, &signature), body).await {
                    Ok(StatusCode::OK) => {
                        ok += 1;
                        if at >= measure_from {
                            measured += 1;
                            latency_us.saturating_record(at.elapsed().as_micros() as u64);
                        }
                    }
                    _ => errors += 1,
                }
            }
            anyhow::Ok((ok, measured, errors, sent, latency_us))
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok, mut measured, mut errors, mut sent) = (0u64, 0u64, 0u64, Vec::with_capacity(clients));
    for task in tasks {
        let (o, m, e, s, h) = task.await??;
        hist.add(&h)?;
        (ok, measured, errors) = (ok + o, measured + m, errors + e);
        sent.push(s);
    }
    let (store, org) = (server.state.store.clone(), server.org);
    let count = || {
        let store = store.clone();
        async move {
            store
                .read(move |tx| switchboard_store::events::count_of_type(tx, org, EventType::MessageCreated))
                .await
                .map_err(anyhow::Error::from)
        }
    };
    let stored = count().await?;
    let mut repeated = 0u64;
    for i in 0..REPEATS {
        let worker = (i as usize) % clients;
        let n = (i / clients as u64) % sent[worker].max(1);
        let (signature, body) = user_message(worker, n, (worker + n as usize * clients) % threads);
        if send(&http, &endpoint, (google_bm::SIGNATURE_HEADER, &signature), body).await? == StatusCode::OK {
            repeated += 1;
        }
    }
    let stored_after_repeats = count().await?;
    let exactly_once = stored == ok && stored_after_repeats == stored;

    // Outbound: messages on the conversations the inbound run started.
    let base = server.base.clone();
    // A page of them (250 at most) is enough to spread the messages over.
    let page = {
        let response = reqwest::Client::new()
            .get(format!("{base}/v1/conversations?limit=250"))
            .bearer_auth(&server.key)
            .send()
            .await?;
        let status = response.status();
        let page = response.json::<Value>().await?;
        if !status.is_success() {
            bail!("listing the conversations: {status} {page}");
        }
        page
    };
    let conversations: Vec<String> = page["data"]
        .as_array()
        .context("conversations")?
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    if conversations.is_empty() {
        bail!("the inbound run started no conversation");
    }
    let conversations = Arc::new(conversations);
    let out_started = Instant::now();
    let out_until = out_started + Duration::from_secs(args.duration);
    let mut tasks = Vec::with_capacity(clients);
    for worker in 0..clients {
        let (http, base, key, conversations) = (http.clone(), base.clone(), server.key.clone(), conversations.clone());
        tasks.push(tokio::spawn(async move {
            let (mut posted, mut failed, mut n) = (0u64, 0u64, worker);
            let authorization = format!("Bearer {key}");
            while Instant::now() < out_until {
                let id = &conversations[n % conversations.len()];
                n += clients;
                let url = format!("{base}/v1/conversations/{id}/messages");
                let body = Bytes::from(json!({ "text": "We are on it." }).to_string());
                match send(&http, &url, ("authorization", &authorization), body).await {
                    Ok(s) if s.is_success() => posted += 1,
                    _ => failed += 1,
                }
            }
            anyhow::Ok((posted, failed))
        }));
    }
    let (mut posted, mut post_failures) = (0u64, 0u64);
    for task in tasks {
        let (p, f) = task.await??;
        (posted, post_failures) = (posted + p, post_failures + f);
    }
    // The delivery engine catches up (at the configured rate, the backlog takes a while).
    let catch_up = Duration::from_secs(if rate > 0 { posted / u64::from(rate) + 30 } else { 60 });
    let deadline = Instant::now() + catch_up;
    while (received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).messages.len() as u64) < posted
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (arrivals, token_fetches) = {
        let r = received.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (r.messages.clone(), r.tokens)
    };
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    server.stop().await?;
    fake_task.abort();
    // The rate held: from the end of the first second (the bucket's burst) to the last arrival.
    let (first, last) = (arrivals.first().copied(), arrivals.last().copied());
    let steady = match (first, last) {
        (Some(first), Some(last)) => {
            let from = first + Duration::from_secs(1);
            let n = arrivals.iter().filter(|a| **a >= from).count();
            let span = last.saturating_duration_since(from).as_secs_f64();
            (span > 0.0).then(|| n.saturating_sub(1) as f64 / span)
        }
        _ => None,
    };
    let delivered_per_s = match (first, last) {
        (Some(f), Some(l)) if l > f => arrivals.len() as f64 / l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    let rate_error = steady.filter(|_| rate > 0).map(|s| round((s - f64::from(rate)).abs() / f64::from(rate) * 100.0));
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let line = json!({
        "scenario": "channels",
        "channel": "google_business_messages",
        "backend": backend,
        "clients": clients,
        "threads": threads,
        "duration_s": args.duration,
        "inbound_messages": measured,
        "inbound_errors": errors,
        "inbound_per_s": round(measured as f64 / args.duration.max(1) as f64),
        "inbound_p50_ms": ms(0.5),
        "inbound_p99_ms": ms(0.99),
        "inbound_max_ms": hist.max() as f64 / 1000.0,
        "answered_200": ok,
        "messages_stored": stored,
        "repeats_posted": repeated,
        "messages_stored_after_repeats": stored_after_repeats,
        "stored_exactly_once": exactly_once,
        "outbound_posted": posted,
        "outbound_post_failures": post_failures,
        "outbound_delivered": arrivals.len(),
        "outbound_delivered_per_s": round(delivered_per_s),
        "configured_sends_per_second": rate,
        "steady_sends_per_second": steady.map(round),
        "rate_error_percent": rate_error,
        "token_fetches": token_fetches,
    });
    if !exactly_once || errors > 0 || (arrivals.len() as u64) < posted {
        bail!("messages were not each stored once, some failed, or some were not delivered: {line}");
    }
    Ok(line)
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
