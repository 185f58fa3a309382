//! `switchboard bench routing`: how fast routing offers new conversations, on an in-process server.
//!
//! - **Steady arrivals**: 1,000 agents (capacity 10, Available) over 50 queues (20 members each, one workstream
//!   and channel per queue); conversations are created over HTTP at a fixed rate (500/s by default) for the
//!   measured period, and the time from each conversation's commit to its offer's commit is read back from the
//!   store (p50/p99), so it includes the log follower, classification and the offer's write.
//! - **Backlog**: in a second organization of the same shape with every agent Offline, 10,000 conversations are
//!   created first; then every agent goes Available, and the time from the first presence change to the last
//!   offer is the drain time.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use switchboard_domain::{ids::*, role::Role, setup::PresenceName};
use switchboard_store::{Store, StoreConfig, routing as store};

use crate::{AppState, Config, Server, admin, bench::BenchArgs};

const AGENTS: usize = 1_000;
const QUEUES: usize = 50;
const CAPACITY: i64 = 10;
const BACKLOG: usize = 10_000;
const RATE_PER_S: u64 = 500;

struct Org {
    id: OrgId,
    key: String,
    channels: Vec<String>,
    agents: Vec<UserId>,
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

/// An organization with `QUEUES` routed queues and `AGENTS` agents spread over them.
async fn organization(
    app: &AppState,
    http: &reqwest::Client,
    base: &str,
    name: &str,
    presence: PresenceName,
) -> anyhow::Result<Org> {
    let (_, created) = admin::create_org(&app.store, name, app.clock.now()).await.map_err(anyhow::Error::from)?;
    let (org, key) = (created.org_id, created.api_key);
    let mut channels = Vec::with_capacity(QUEUES);
    let mut queues = Vec::with_capacity(QUEUES);
    for q in 0..QUEUES {
        let queue = post(http, &format!("{base}/v1/queues"), &key, json!({ "name": format!("Queue {q}") })).await?;
        let settings = json!({ "routing": { "enabled": true } });
        let ws = post(
            http,
            &format!("{base}/v1/workstreams"),
            &key,
            json!({ "name": format!("Chat {q}"), "fallback_queue_id": queue["id"], "settings": settings }),
        )
        .await?;
        let channel = post(
            http,
            &format!("{base}/v1/channels"),
            &key,
            json!({ "name": format!("Web {q}"), "channel_type": "messaging_api", "workstream_id": ws["id"] }),
        )
        .await?;
        channels.push(channel["id"].as_str().context("channel id")?.to_string());
        queues.push(queue["id"].as_str().context("queue id")?.parse::<QueueId>()?);
    }
    let mut agents = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        let (_, user) =
            admin::create_user(&app.store, org, &format!("Agent {i}"), None, Role::Agent, None, app.clock.now())
                .await
                .map_err(anyhow::Error::from)?;
        app.routing
            .update_agent(&app.routing_deps, org, user.user_id, move |a| {
                a.capacity_units = CAPACITY;
                a.presence = presence;
            })
            .await
            .map_err(anyhow::Error::from)?;
        agents.push(user.user_id);
    }
    for (q, queue) in queues.iter().enumerate() {
        let members: Vec<UserId> = agents.iter().skip(q).step_by(QUEUES).copied().collect();
        app.routing.set_members(&app.routing_deps, org, *queue, members).await.map_err(anyhow::Error::from)?;
    }
    Ok(Org { id: org, key, channels, agents })
}

/// Creates `count` conversations at `rate` per second (as fast as possible when `None`), at most `clients` at once.
async fn arrivals(
    http: &reqwest::Client,
    base: &str,
    org: &Org,
    count: usize,
    rate: Option<u64>,
    clients: usize,
) -> anyhow::Result<usize> {
    let limit = Arc::new(tokio::sync::Semaphore::new(clients.max(1)));
    let mut ticker = rate.map(|r| tokio::time::interval(Duration::from_micros(1_000_000 / r.max(1))));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        if let Some(t) = &mut ticker {
            t.tick().await;
        }
        let permit = limit.clone().acquire_owned().await?;
        let (http, key) = (http.clone(), org.key.clone());
        let url = format!("{base}/v1/conversations");
        let body = json!({ "channel_id": org.channels[i % org.channels.len()] });
        tasks.push(tokio::spawn(async move {
            let ok = post(&http, &url, &key, body).await.is_ok();
            drop(permit);
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap_or(false));
    }
    Ok(ok)
}

/// Waits until `expected` conversations of the organization have an offer, or `timeout` passes.
async fn offered(app: &AppState, org: OrgId, expected: usize, timeout: Duration) -> anyhow::Result<Vec<i64>> {
    let until = Instant::now() + timeout;
    loop {
        let latencies = app.store.read(move |tx| store::offer_latencies(tx, org)).await.map_err(anyhow::Error::from)?;
        if latencies.len() >= expected || Instant::now() >= until {
            return Ok(latencies);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn quantile(sorted: &[i64], q: f64) -> Value {
    if sorted.is_empty() {
        return Value::Null;
    }
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    json!(sorted[at.min(sorted.len() - 1)])
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<Value> {
    if args.target.is_some() {
        bail!("the routing scenario measures an in-process server; drop --target");
    }
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_data_dir(dir.path().to_path_buf())?;
    config.database_url = args.database_url.clone();
    let backend = if config.database_url.is_some() { "postgres" } else { "sqlite" };
    // On PostgreSQL each run gets a schema of its own, dropped at the end: what earlier runs left (or a run
    // that failed) would otherwise be loaded by this run's routing and weigh on its figures.
    let mut store_config = config.store();
    let schema = match &mut store_config {
        StoreConfig::Postgres { schema, .. } => {
            *schema = Some(format!("bench_{}", uuid::Uuid::now_v7().simple()));
            schema.clone()
        }
        StoreConfig::Sqlite { .. } => None,
    };
    let store = Arc::new(Store::open(&store_config).await.map_err(anyhow::Error::from)?);
    let result = measure(args, config, store.clone(), backend).await;
    if let Some(schema) = schema {
        let dropped = store.drop_schema(&schema).await;
        if let Err(e) = dropped {
            tracing::warn!(error = %e, "the benchmark's schema was not dropped");
        }
    }
    result
}

async fn measure(args: &BenchArgs, config: Config, store: Arc<Store>, backend: &str) -> anyhow::Result<Value> {
    let server = Server::with_store(config, store).await?;
    let app = server.state().clone();
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;

    // Steady arrivals.
    let steady = organization(&app, &http, &base, "bench steady", PresenceName::Available).await?;
    let count = usize::try_from(RATE_PER_S * args.duration)?;
    let started = Instant::now();
    let created = arrivals(&http, &base, &steady, count, Some(RATE_PER_S), args.clients).await?;
    let achieved = created as f64 / started.elapsed().as_secs_f64();
    let mut latencies = offered(&app, steady.id, created, Duration::from_secs(30)).await?;
    latencies.sort_unstable();

    // Backlog draining.
    let backlog = organization(&app, &http, &base, "bench backlog", PresenceName::Offline).await?;
    let queued = arrivals(&http, &base, &backlog, BACKLOG, None, args.clients).await?;
    // Every conversation is queued before the agents come.
    let until = Instant::now() + Duration::from_secs(120);
    let org = backlog.id;
    loop {
        let routed = app.store.read(move |tx| store::classified_count(tx, org)).await.map_err(anyhow::Error::from)?;
        if routed >= queued || Instant::now() >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain_started = Instant::now();
    // Agents come online as they would: many at once (`--clients` at a time), not one after another.
    let mut online = tokio::task::JoinSet::new();
    for chunk in backlog.agents.chunks(backlog.agents.len().div_ceil(args.clients.max(1))) {
        let (app, chunk) = (app.clone(), chunk.to_vec());
        online.spawn(async move {
            for agent in chunk {
                app.routing
                    .update_agent(&app.routing_deps, org, agent, |a| a.presence = PresenceName::Available)
                    .await
                    .map_err(anyhow::Error::from)?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = online.join_next().await {
        done??;
    }
    let presence_s = drain_started.elapsed().as_secs_f64();
    // Polled often and cheaply: the drain's end is read to within a few milliseconds, and the poll takes little
    // of the CPU the drain runs on.
    let until = Instant::now() + Duration::from_secs(120);
    let drained = loop {
        let n = app.store.read(move |tx| store::offered_count(tx, org)).await.map_err(anyhow::Error::from)?;
        if n >= queued || Instant::now() >= until {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let drain_s = drain_started.elapsed().as_secs_f64();

    let _ = stop.send(());
    serving.await??;
    Ok(json!({
        "scenario": "routing",
        "backend": backend,
        "agents": AGENTS,
        "queues": QUEUES,
        "target_rate_per_s": RATE_PER_S,
        "achieved_rate_per_s": (achieved * 10.0).round() / 10.0,
        "created": created,
        "offered": latencies.len(),
        "created_to_offer_p50_ms": quantile(&latencies, 0.5),
        "created_to_offer_p99_ms": quantile(&latencies, 0.99),
        "created_to_offer_max_ms": quantile(&latencies, 1.0),
        "backlog": queued,
        "backlog_offered": drained,
        "backlog_presence_changes_s": (presence_s * 100.0).round() / 100.0,
        "backlog_drain_s": (drain_s * 1000.0).round() / 1000.0,
        "backlog_assignments_per_s": (drained as f64 / drain_s).round(),
    }))
}
