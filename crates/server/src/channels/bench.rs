//! `switchboard bench channels`: the custom channels' inbound paths under load, on an in-process server.
//!
//! **Bot Framework** (`--channel bot-framework`): `--clients` keep-alive clients post activities to a Bot Framework
//! channel's messaging endpoint as the Bot Framework service does, back to back: each request's token is checked
//! (RS256, against keys fetched from a fake service in this process that publishes them with endorsements, as the
//! real one does), the activity deduplicated by its id, stored and routed. Each client has a token of its own,
//! signed before the run and reused (the service reuses a token for its hour); the bodies differ only in their ids,
//! so the clients' own cost is small. The activities are spread over `--conversations` threads (each the service's
//! conversation with one customer), so conversations are started, then joined; `--agents` agents are available in
//! the queue so each new conversation is routed. At the end every activity answered 200 must be stored exactly
//! once: the messages are counted, then a sample is posted again (the service's retries) and counted again.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{Json, Router, body::Bytes, extract::State, http::HeaderMap, routing::get};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use switchboard_channels::bot_framework::auth;
use switchboard_domain::{Timestamp, event::EventType, ids::QueueId, role::Role, setup::PresenceName};

use crate::{
    admin,
    bench::{BenchArgs, HttpClient, client},
    config::BotFrameworkConfig,
    stream::bench::InProcess,
};

/// The fake service's issuer, as the public cloud's.
const ISSUER: &str = "https://api.botframework.com";
/// The test key the fake signs with (crates/channels' test data), and its kid.
const KEY: &[u8] = include_bytes!("../../../channels/testdata/bot_framework/test_key_a.pem");
const KID: &str = "bench-key";
const APP_ID: &str = "6fcd0c7e-0000-4000-8000-00000000be7c";
/// Agents in the queue, each with capacity enough that every thread's conversation can be offered.
const AGENTS: usize = 100;
/// Activities posted a second time at the end, to check they are not stored again.
const REPEATS: u64 = 1_000;

/// Which channel `bench channels` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChannelBench {
    /// Activities posted to a Bot Framework channel's messaging endpoint.
    BotFramework,
}

/// The fake Bot Framework service's key endpoints: the OpenID metadata, and the JWKS it names, with the key
/// endorsed for the channels the activities come from.
async fn fake_service() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    async fn metadata(headers: HeaderMap) -> Json<Value> {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
        Json(json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": format!("http://{host}/v1/.well-known/keys"),
            "id_token_signing_alg_values_supported": ["RS256"],
        }))
    }
    async fn keys(State(jwk): State<Arc<Value>>) -> Json<Value> {
        Json(json!({ "keys": [jwk.as_ref()] }))
    }
    let jwk = Arc::new(auth::jwk_for_tests(KEY, KID, &["webchat", "msteams"])?);
    let app = Router::new()
        .route("/v1/.well-known/openidconfiguration", get(metadata))
        .route("/v1/.well-known/keys", get(keys))
        .with_state(jwk);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, task))
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: Value) -> anyhow::Result<Value> {
    let response = http.post(url).bearer_auth(key).json(&body).send().await?;
    let status = response.status();
    let value: Value = response.json().await?;
    if !status.is_success() {
        bail!("POST {url}: {status} {value}");
    }
    Ok(value)
}

/// A routed queue with `AGENTS` available agents and a Bot Framework channel on it; returns its messaging endpoint.
async fn bot_channel(server: &InProcess, threads: usize) -> anyhow::Result<String> {
    let (http, base, key) = (reqwest::Client::new(), &server.base, &server.key);
    let queue = post(&http, &format!("{base}/v1/queues"), key, json!({ "name": "Bots" })).await?;
    let ws = post(
        &http,
        &format!("{base}/v1/workstreams"),
        key,
        json!({ "name": "Bots", "fallback_queue_id": queue["id"], "settings": { "routing": { "enabled": true } } }),
    )
    .await?;
    let account = post(
        &http,
        &format!("{base}/v1/messaging-accounts"),
        key,
        json!({ "name": "Bench bot", "kind": "bot_framework", "method": "azure_bot_framework",
            "settings": { "app_id": APP_ID }, "credentials": { "client_secret": "bench-secret" } }),
    )
    .await?;
    let account = account["id"].as_str().context("account id")?;
    let channel = post(
        &http,
        &format!("{base}/v1/messaging-accounts/{account}/channels"),
        key,
        json!({ "name": "Web Chat", "workstream_id": ws["id"] }),
    )
    .await?;
    let channel = channel["id"].as_str().context("channel id")?;
    let (app, org) = (&server.state, server.org);
    let capacity = i64::try_from(threads.div_ceil(AGENTS) + 1)?;
    let mut agents = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        let (_, user) =
            admin::create_user(&app.store, org, &format!("Agent {i}"), None, Role::Agent, None, app.clock.now())
                .await
                .map_err(anyhow::Error::from)?;
        app.routing
            .update_agent(&app.routing_deps, org, user.user_id, move |a| {
                a.capacity_units = capacity;
                a.presence = PresenceName::Available;
            })
            .await
            .map_err(anyhow::Error::from)?;
        agents.push(user.user_id);
    }
    let queue: QueueId = queue["id"].as_str().context("queue id")?.parse()?;
    app.routing.set_members(&app.routing_deps, org, queue, agents).await.map_err(anyhow::Error::from)?;
    Ok(format!("{base}/channels/bot-framework/{channel}/messages"))
}

/// What the service posts for the `n`th activity of a client: a customer's message in one of the threads.
fn activity(service_url: &str, worker: usize, n: u64, thread: usize) -> Bytes {
    let body = json!({
        "type": "message",
        "id": format!("bench-{worker}-{n}"),
        "timestamp": "2026-12-07T10:00:00.000Z",
        "channelId": "webchat",
        "serviceUrl": service_url,
        "from": { "id": format!("29:customer-{thread}"), "name": "Customer" },
        "recipient": { "id": "28:bench-bot", "name": "Bench" },
        "conversation": { "id": format!("bench-thread-{thread}") },
        "text": "Hello, I need help with my order.",
    });
    Bytes::from(body.to_string())
}

async fn send(http: &HttpClient, url: &str, authorization: &str, body: Bytes) -> anyhow::Result<StatusCode> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(Full::new(body))?;
    let response = http.request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

/// One client's run: activities back to back until `until`, timed from `measure_from`.
struct ClientRun {
    ok: u64,
    measured: u64,
    errors: u64,
    sent: u64,
    latency_us: Histogram<u64>,
}

async fn bot_framework(args: &BenchArgs) -> anyhow::Result<Value> {
    let (service, fake) = fake_service().await?;
    let config = BotFrameworkConfig {
        openid_metadata_url: format!("{service}/v1/.well-known/openidconfiguration"),
        issuer: ISSUER.into(),
        // Replies are not measured; the Connector's token endpoint is never called.
        token_url: format!("{service}/oauth2/v2.0/token"),
        token_scope: "https://api.botframework.com/.default".into(),
    };
    let server = InProcess::start(args, None, move |c| c.channels.bot_framework = config).await?;
    let threads = args.conversations.max(1);
    let endpoint = bot_channel(&server, threads).await?;
    let service_url = format!("{service}/");
    let now = Timestamp::now().millis() / 1_000;
    let claims = json!({ "serviceurl": service_url, "nbf": now - 5, "exp": now + 3_600, "iss": ISSUER, "aud": APP_ID });
    // One token per client, each distinct (as each of the service's instances has its own).
    let tokens: Vec<String> = (0..args.clients)
        .map(|i| {
            let mut claims = claims.clone();
            claims["jti"] = json!(format!("bench-{i}"));
            auth::sign_for_tests(KEY, KID, &claims).map(|t| format!("Bearer {t}"))
        })
        .collect::<Result<_, _>>()?;

    let http = client(args.clients);
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup);
    let until = measure_from + Duration::from_secs(args.duration);
    let clients = args.clients;
    let mut tasks = Vec::with_capacity(clients);
    for (worker, token) in tokens.iter().cloned().enumerate() {
        let (http, endpoint, service_url) = (http.clone(), endpoint.clone(), service_url.clone());
        tasks.push(tokio::spawn(async move {
            let mut run = ClientRun {
                ok: 0,
                measured: 0,
                errors: 0,
                sent: 0,
                latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            };
            loop {
                let n = run.sent;
                let body = activity(&service_url, worker, n, (worker + n as usize * clients) % threads);
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                run.sent += 1;
                let status = send(&http, &endpoint, &token, body).await;
                match status {
                    Ok(StatusCode::OK) => {
                        run.ok += 1;
                        if sent >= measure_from {
                            run.measured += 1;
                            run.latency_us.saturating_record(sent.elapsed().as_micros() as u64);
                        }
                    }
                    _ => run.errors += 1,
                }
            }
            anyhow::Ok(run)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok, mut measured, mut errors, mut sent) = (0u64, 0u64, 0u64, Vec::with_capacity(clients));
    for task in tasks {
        let run = task.await??;
        hist.add(&run.latency_us)?;
        ok += run.ok;
        measured += run.measured;
        errors += run.errors;
        sent.push(run.sent);
    }

    // Every activity answered 200 is stored once; posting some again (as the service retries) stores nothing.
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
        let body = activity(&service_url, worker, n, (worker + n as usize * clients) % threads);
        if send(&http, &endpoint, &tokens[worker], body).await? == StatusCode::OK {
            repeated += 1;
        }
    }
    let stored_after_repeats = count().await?;
    let conversations = server
        .state
        .store
        .read(move |tx| switchboard_store::routing::classified_count(tx, org))
        .await
        .map_err(anyhow::Error::from)?;
    let fetches = server.state.bot_framework.keys.fetches();
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    server.stop().await?;
    fake.abort();
    let exactly_once = stored == ok && stored_after_repeats == stored;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let line = json!({
        "scenario": "channels",
        "channel": "bot_framework",
        "backend": backend,
        "clients": clients,
        "threads": threads,
        "agents": AGENTS,
        "duration_s": args.duration,
        "activities": measured,
        "errors": errors,
        "activities_per_s": round(measured as f64 / args.duration.max(1) as f64),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": hist.max() as f64 / 1000.0,
        "answered_200": ok,
        "messages_stored": stored,
        "repeats_posted": repeated,
        "messages_stored_after_repeats": stored_after_repeats,
        "stored_exactly_once": exactly_once,
        "conversations_routed": conversations,
        "key_fetches": fetches,
    });
    if !exactly_once || errors > 0 {
        bail!("activities were not each stored exactly once, or some failed: {line}");
    }
    Ok(line)
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<Value> {
    if args.target.is_some() {
        bail!("the channels scenario runs its own server and fake Bot Framework service; drop --target");
    }
    match args.channel {
        ChannelBench::BotFramework => bot_framework(args).await,
    }
}
