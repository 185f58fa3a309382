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
    /// Direct Line conversations on WebSockets, customers and agents writing both ways.
    DirectLine,
    /// WhatsApp notifications (Meta's Cloud API) posted to a WhatsApp channel's webhook.
    WhatsappMeta,
    /// TeleSign's inbound-SMS callbacks posted to a TeleSign channel.
    SmsTelesign,
    /// Google's Business Messages: signed user messages to the webhook, then agents' messages to a fake Google.
    GoogleBusinessMessages,
    /// Twilio's SMS webhooks (form-encoded, `X-Twilio-Signature`) posted to a Twilio SMS channel.
    SmsTwilio,
    /// Twilio's WhatsApp webhooks (`whatsapp:` addresses) posted to a Twilio WhatsApp channel.
    WhatsappTwilio,
    /// Outbound SMS: a backlog of messages on `--channels` Twilio channels, each held to its `sends_per_second`
    /// (`--sends-per-second`), sent to a fake Twilio Messages API on loopback that times what it receives.
    SmsOutbound,
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

pub(super) async fn post(http: &reqwest::Client, url: &str, key: &str, body: Value) -> anyhow::Result<Value> {
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
    let agents = available_agents(app, org, AGENTS, capacity).await?.into_iter().map(|u| u.user_id).collect();
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
        sends_per_second: 0,
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

/// Agents answering the Direct Line conversations; each has an equal share of them.
const DL_AGENTS: usize = 200;

/// A message's text: who wrote it (`c` the customer, `a` the agent), its conversation's index, and when it was
/// sent (microseconds since the run's epoch), so that whoever receives it knows its latency.
fn stamped(who: char, conversation: usize, epoch: Instant) -> String {
    format!("{who}{conversation}:{}", epoch.elapsed().as_micros())
}

/// The latency of a stamped text from `who`, if it is one.
fn latency_of(text: &str, who: char, epoch: Instant) -> Option<u64> {
    let sent: u64 = text.strip_prefix(who)?.split_once(':')?.1.parse().ok()?;
    Some(u64::try_from(epoch.elapsed().as_micros()).ok()?.saturating_sub(sent).max(1))
}

/// What the readers of one side received: each stamped message's latency.
struct Heard {
    latency_us: Histogram<u64>,
    /// The socket closed before the run ended.
    closed: bool,
}

/// Reads a WebSocket until `stop`, timing the texts stamped by `who`: on an agent's stream its `message.created`
/// frames, on a Direct Line stream the activities of its ActivitySets.
async fn hear(
    mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    who: char,
    epoch: Instant,
    measure_from: tokio::sync::watch::Receiver<Instant>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    heard: Arc<std::sync::atomic::AtomicU64>,
) -> anyhow::Result<Heard> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut out = Heard { latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?, closed: false };
    loop {
        let message = tokio::select! {
            message = ws.next() => message,
            _ = stop.changed() => break,
        };
        let Some(Ok(message)) = message else {
            out.closed = true;
            break;
        };
        let Message::Text(text) = message else { continue };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
        let texts: Vec<&str> = match frame["activities"].as_array() {
            Some(activities) => activities.iter().filter_map(|a| a["text"].as_str()).collect(),
            None if frame["type"] == "message.created" => frame["data"]["text"].as_str().into_iter().collect(),
            None => Vec::new(),
        };
        for text in texts {
            if let Some(us) = latency_of(text, who, epoch) {
                heard.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if Instant::now() >= *measure_from.borrow() {
                    out.latency_us.saturating_record(us);
                }
            }
        }
    }
    Ok(out)
}

/// One Direct Line conversation: its id, the customer's token, and the agent who has it.
struct DlConversation {
    id: String,
    token: String,
    agent_key: String,
}

async fn direct_line(args: &BenchArgs) -> anyhow::Result<Value> {
    let open_files = crate::connections::raise_descriptor_limit();
    let server = InProcess::start(args, None, |_| {}).await?;
    let (http, base, key) = (reqwest::Client::new(), server.base.clone(), server.key.clone());
    let ws_base = base.replacen("http://", "ws://", 1);
    // A workstream without routing: each conversation is given to its agent by the administrator, so that every
    // agent has its share at once and the figures are the messages', not routing's.
    let queue = post(&http, &format!("{base}/v1/queues"), &key, json!({ "name": "Web" })).await?;
    let ws = post(
        &http,
        &format!("{base}/v1/workstreams"),
        &key,
        json!({ "name": "Web", "fallback_queue_id": queue["id"] }),
    )
    .await?;
    let channel = post(
        &http,
        &format!("{base}/v1/channels"),
        &key,
        json!({ "name": "Direct Line", "channel_type": "direct_line", "workstream_id": ws["id"] }),
    )
    .await?;
    let secret = channel["direct_line_secrets"]["primary"].as_str().context("the channel's Direct Line secret")?;
    let (app, org) = (&server.state, server.org);
    let count = args.conversations.max(1);
    let capacity = i64::try_from(count.div_ceil(DL_AGENTS) + 1)?;
    let agents = available_agents(app, org, DL_AGENTS, capacity).await?;

    let epoch = Instant::now();
    let ready = epoch + Duration::from_secs(3_600);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let (to_agents, to_customers) =
        (Arc::new(std::sync::atomic::AtomicU64::new(0)), Arc::new(std::sync::atomic::AtomicU64::new(0)));
    // The agents' streams first, so that they see their conversations' first messages.
    let mut agent_readers = Vec::with_capacity(DL_AGENTS);
    let (measure_tx, measure_rx) = tokio::sync::watch::channel(ready);
    let stream_url = format!("{ws_base}/v1/stream");
    for agent in &agents {
        let ws = crate::stream::bench::open(&stream_url, Some(&agent.api_key)).await?;
        let (stopping, heard, measure) = (stopping.clone(), to_agents.clone(), measure_rx.clone());
        agent_readers.push(tokio::spawn(hear(ws, 'c', epoch, measure, stopping, heard)));
    }
    let mut conversations = Vec::with_capacity(count);
    let mut customer_readers = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 0..count {
        let user = json!({ "user": { "id": format!("dl_customer-{i}"), "name": format!("Customer {i}") } });
        let response =
            http.post(format!("{base}/v3/directline/conversations")).bearer_auth(secret).json(&user).send().await?;
        if !response.status().is_success() {
            bail!("starting Direct Line conversation {i}: {}", response.status());
        }
        let started: Value = response.json().await?;
        let id = started["conversationId"].as_str().context("conversationId")?.to_string();
        let token = started["token"].as_str().context("token")?.to_string();
        // The stream URL names the server's public URL; the in-process server listens elsewhere.
        let path = started["streamUrl"].as_str().and_then(|u| u.find("/v3/").map(|at| u[at..].to_string()));
        let url = format!("{ws_base}{}", path.context("streamUrl")?);
        let agent = &agents[i % DL_AGENTS];
        post(&http, &format!("{base}/v1/conversations/{id}/accept"), &key, json!({ "agent_id": agent.user_id }))
            .await?;
        let socket = crate::stream::bench::open(&url, None).await?;
        let (stopping, heard, measure) = (stopping.clone(), to_customers.clone(), measure_rx.clone());
        customer_readers.push(tokio::spawn(hear(socket, 'a', epoch, measure, stopping, heard)));
        conversations.push(DlConversation { id, token, agent_key: agent.api_key.clone() });
    }
    let connect_s = started.elapsed().as_secs_f64();

    // Customers and agents write at `--rate` messages per second in all, half each way, from `--clients` senders
    // on each side, each on its own schedule over its share of the conversations.
    let conversations = Arc::new(conversations);
    let measure_from = Instant::now() + Duration::from_secs(args.warmup);
    measure_tx.send_replace(measure_from);
    let until = measure_from + Duration::from_secs(args.duration);
    let senders = args.clients.clamp(1, count);
    let per_sender = Duration::from_secs_f64(senders as f64 * 2.0 / args.rate.max(2) as f64);
    let hyper = client(senders * 2);
    let mut tasks = Vec::with_capacity(senders * 2);
    // Each sender starts at its own point of the period, so that the messages arrive spread over it, as people
    // write, rather than all senders' at the same instant (which measured each burst's queue instead).
    let first_tick = tokio::time::Instant::now();
    for (s, side) in ['c', 'a'].into_iter().enumerate() {
        for worker in 0..senders {
            let (http, base, conversations) = (hyper.clone(), base.clone(), conversations.clone());
            let phase = per_sender.mul_f64((worker * 2 + s) as f64 / (senders * 2) as f64);
            tasks.push(tokio::spawn(async move {
                let mine: Vec<usize> = (worker..conversations.len()).step_by(senders).collect();
                let (mut sent, mut failed) = (0u64, 0u64);
                let mut write_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let mut tick = tokio::time::interval_at(first_tick + phase, per_sender);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut n = 0usize;
                while Instant::now() < until {
                    tick.tick().await;
                    let index = mine[n % mine.len()];
                    n += 1;
                    let c = &conversations[index];
                    let text = stamped(side, index, epoch);
                    let (url, authorization, body) = if side == 'c' {
                        let activity = json!({ "type": "message", "from": { "id": format!("dl_customer-{index}") }, "text": text });
                        (format!("{base}/v3/directline/conversations/{}/activities", c.id), &c.token, activity)
                    } else {
                        (format!("{base}/v1/conversations/{}/messages", c.id), &c.agent_key, json!({ "text": text }))
                    };
                    let began = Instant::now();
                    let status = send(&http, &url, &format!("Bearer {authorization}"), Bytes::from(body.to_string())).await;
                    if status.is_ok_and(|s| s.is_success()) {
                        sent += 1;
                        if began >= measure_from {
                            write_us.saturating_record(began.elapsed().as_micros() as u64);
                        }
                    } else {
                        failed += 1;
                    }
                }
                anyhow::Ok((side, sent, failed, write_us))
            }));
        }
    }
    let (mut sent_c, mut sent_a, mut failed) = (0u64, 0u64, 0u64);
    let mut write_c = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut write_a = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for task in tasks {
        let (side, sent, fails, write_us) = task.await??;
        failed += fails;
        if side == 'c' {
            sent_c += sent;
            write_c.add(&write_us)?;
        } else {
            sent_a += sent;
            write_a.add(&write_us)?;
        }
    }
    // The last frames arrive.
    let drained = Instant::now() + Duration::from_secs(10);
    while (to_agents.load(std::sync::atomic::Ordering::Relaxed) < sent_c
        || to_customers.load(std::sync::atomic::Ordering::Relaxed) < sent_a)
        && Instant::now() < drained
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send_replace(true);
    let mut c_to_a = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut closed = 0u64;
    for reader in agent_readers {
        let heard = reader.await??;
        c_to_a.add(&heard.latency_us)?;
        closed += u64::from(heard.closed);
    }
    let mut a_to_c = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut dl_closed = 0u64;
    for reader in customer_readers {
        let heard = reader.await??;
        a_to_c.add(&heard.latency_us)?;
        dl_closed += u64::from(heard.closed);
    }
    server.stop().await?;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let heard_c = to_agents.load(std::sync::atomic::Ordering::Relaxed);
    let heard_a = to_customers.load(std::sync::atomic::Ordering::Relaxed);
    Ok(json!({
        "scenario": "channels",
        "channel": "direct_line",
        "backend": if args.database_url.is_some() { "postgres" } else { "sqlite" },
        "open_files": open_files,
        "conversations": count,
        "direct_line_sockets_closed_early": dl_closed,
        "agent_sockets_closed_early": closed,
        "agents": DL_AGENTS,
        "connect_s": round(connect_s),
        "target_messages_per_s": args.rate,
        "duration_s": args.duration,
        "customer_sent": sent_c,
        "agent_sent": sent_a,
        "send_failures": failed,
        "customer_to_agent_received": heard_c,
        "agent_to_customer_received": heard_a,
        "customer_to_agent_lost": sent_c.saturating_sub(heard_c),
        "agent_to_customer_lost": sent_a.saturating_sub(heard_a),
        "customer_to_agent_per_s": round(c_to_a.len() as f64 / args.duration.max(1) as f64),
        "customer_to_agent_p50_ms": ms(&c_to_a, 0.5),
        "customer_to_agent_p99_ms": ms(&c_to_a, 0.99),
        "customer_to_agent_max_ms": c_to_a.max() as f64 / 1000.0,
        "agent_to_customer_per_s": round(a_to_c.len() as f64 / args.duration.max(1) as f64),
        "agent_to_customer_p50_ms": ms(&a_to_c, 0.5),
        "agent_to_customer_p99_ms": ms(&a_to_c, 0.99),
        "agent_to_customer_max_ms": a_to_c.max() as f64 / 1000.0,
        "customer_post_p50_ms": ms(&write_c, 0.5),
        "customer_post_p99_ms": ms(&write_c, 0.99),
        "agent_post_p50_ms": ms(&write_a, 0.5),
        "agent_post_p99_ms": ms(&write_a, 0.99),
    }))
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
        ChannelBench::DirectLine => direct_line(args).await,
        ChannelBench::WhatsappMeta => super::bench_phone::run(args, super::bench_phone::Provider::Meta).await,
        ChannelBench::SmsTelesign => super::bench_phone::run(args, super::bench_phone::Provider::Telesign).await,
        ChannelBench::GoogleBusinessMessages => super::google_bm_bench::run(args).await,
        ChannelBench::SmsTwilio => {
            super::bench_phone::run(args, super::bench_phone::Provider::Twilio { whatsapp: false }).await
        }
        ChannelBench::WhatsappTwilio => {
            super::bench_phone::run(args, super::bench_phone::Provider::Twilio { whatsapp: true }).await
        }
        ChannelBench::SmsOutbound => super::bench_outbound::run(args).await,
    }
}

/// `n` agents of `org`, each available with `capacity` units, made directly (not over the API, which is not what
/// these scenarios measure).
pub(crate) async fn available_agents(
    app: &crate::AppState,
    org: switchboard_domain::ids::OrgId,
    n: usize,
    capacity: i64,
) -> anyhow::Result<Vec<admin::CreatedUser>> {
    let mut agents = Vec::with_capacity(n);
    for i in 0..n {
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
        agents.push(user);
    }
    Ok(agents)
}
