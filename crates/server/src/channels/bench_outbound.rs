//! `switchboard bench channels --channel sms-outbound`: SMS sent through Twilio at each channel's configured rate,
//! on an in-process server, to a fake Twilio Messages API on loopback in this process.
//!
//! `--channels` Twilio SMS channels on one account, each with a number of its own, share `--conversations`
//! conversations, started the way customers start them: a signed inbound webhook from each customer's number to
//! the channel's. Each channel is created with `settings.sends_per_second` = 1 so that a backlog can be queued
//! without being sent: `--clients` clients post `--channels` × `--sends-per-second` × (`--warmup` + `--duration` +
//! 3) messages through the API (system messages, each with a unique text; the delivery engine sends every
//! non-customer message of an SMS conversation), spread evenly over the channels and their conversations. Then each
//! channel's rate is raised to `--sends-per-second` (`PATCH /v1/channels/{id}`), as an administrator would, and the
//! backlog drains through the engine to the fake.
//!
//! The fake checks each call as Twilio would (Basic auth with the account SID and auth token, a form body with
//! `To`, `From` and `Body`, the channel's `StatusCallback`), answers 201 with the message resource, and notes
//! when each message arrived, from which channel (by its `From`) and which message it was (by its text). The rate
//! of each channel is what arrived over `--duration` seconds once `--warmup` seconds after the raise have passed
//! (the lanes the slow rate held wake within the first second, and a bucket may hold up to a second's worth);
//! the figure is each channel's deviation from its configured rate. At the end every message posted must have
//! arrived exactly once, from the channel of its conversation.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use serde_json::{Value, json};
use switchboard_domain::event::EventType;

use super::bench_phone::{ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, send, twilio_message};
use crate::{
    bench::{BenchArgs, HttpClient, client},
    channels::bench::post as post_json,
    stream::bench::InProcess,
};

/// The texts of the benchmark's messages: this, then the message's number.
const TEXT: &str = "Bench message ";
/// Seconds of backlog beyond the measured window, so that every channel is still busy when it ends.
const MARGIN_S: u64 = 3;

/// The number channel `c` sends from (555-01XX numbers are reserved for fiction).
fn our_number(c: usize) -> String {
    format!("+1425555{:04}", 100 + c)
}

/// The number of customer `j` of channel `c`.
fn customer_number(c: usize, j: usize) -> String {
    format!("+1650{}{j:04}", 200 + c)
}

/// A message that reached the fake: when (microseconds since the run's epoch), from which channel, which message
/// (`None`: not one of the benchmark's, such as a notice of the server's own).
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at_us: u64,
    channel: usize,
    message: Option<u64>,
}

struct Fake {
    epoch: Instant,
    /// `Authorization` as Twilio's API takes it: Basic with the account SID and the auth token.
    authorization: String,
    channel_of_number: HashMap<String, usize>,
    /// Each channel's `StatusCallback`, known once the channels exist.
    callbacks: OnceLock<Vec<String>>,
    arrivals: Mutex<Vec<Arrival>>,
    /// Calls Twilio would have refused, or that named another channel's callback: a correct sender makes none.
    refused: Mutex<Vec<String>>,
}

type Shared = Arc<Fake>;

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({ "code": code, "message": message, "status": status.as_u16(),
        "more_info": format!("https://www.twilio.com/docs/errors/{code}") });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// `POST /2010-04-01/Accounts/{sid}/Messages.json`, as Twilio's Messages API answers it.
async fn create_message(
    State(fake): State<Shared>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at_us = u64::try_from(fake.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
    let refuse = |why: String, status: StatusCode, code: u32| {
        fake.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(why.clone());
        twilio_error(status, code, &why)
    };
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(fake.authorization.as_str()) {
        return refuse("authenticate: bad Basic credentials".into(), StatusCode::UNAUTHORIZED, 20003);
    }
    if sid != ACCOUNT_SID {
        return refuse(format!("the URL names account {sid}"), StatusCode::NOT_FOUND, 20404);
    }
    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/x-www-form-urlencoded") {
        return refuse("the body is not form-encoded".into(), StatusCode::BAD_REQUEST, 20001);
    }
    let (mut to, mut from, mut text, mut callback) = (None, None, None, None);
    for (name, value) in form_urlencoded::parse(&body) {
        match &*name {
            "To" => to = Some(value.into_owned()),
            "From" => from = Some(value.into_owned()),
            "Body" => text = Some(value.into_owned()),
            "StatusCallback" => callback = Some(value.into_owned()),
            _ => {}
        }
    }
    let phone = |n: &str| n.len() > 4 && n.starts_with('+') && n[1..].bytes().all(|b| b.is_ascii_digit());
    let Some(to) = to.filter(|t| phone(t)) else {
        return refuse("a valid 'To' phone number is required".into(), StatusCode::BAD_REQUEST, 21211);
    };
    let Some(channel) = from.as_ref().and_then(|f| fake.channel_of_number.get(f)).copied() else {
        return refuse(format!("'From' {from:?} is not a number of this account"), StatusCode::BAD_REQUEST, 21606);
    };
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return refuse("a message body is required".into(), StatusCode::BAD_REQUEST, 21602);
    };
    if callback.as_deref() != fake.callbacks.get().and_then(|c| c.get(channel)).map(String::as_str) {
        fake.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(format!("StatusCallback {callback:?} is not the callback of the channel of {from:?}"));
    }
    let message = text.strip_prefix(TEXT).and_then(|n| n.parse().ok());
    let sid = {
        let mut arrivals = fake.arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        arrivals.push(Arrival { at_us, channel, message });
        format!("SM{:032x}", arrivals.len())
    };
    let answer = json!({ "sid": sid, "account_sid": ACCOUNT_SID, "status": "queued", "to": to, "from": from,
        "body": text, "num_segments": "1", "num_media": "0", "error_code": null, "error_message": null,
        "api_version": "2010-04-01", "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json") });
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
}

async fn fake_twilio(channels: usize, epoch: Instant) -> anyhow::Result<(String, Shared, tokio::task::JoinHandle<()>)> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    let fake = Arc::new(Fake {
        epoch,
        authorization: format!("Basic {basic}"),
        channel_of_number: (0..channels).map(|c| (our_number(c), c)).collect(),
        callbacks: OnceLock::new(),
        arrivals: Mutex::new(Vec::with_capacity(1 << 20)),
        refused: Mutex::default(),
    });
    let app =
        Router::new().route("/2010-04-01/Accounts/{sid}/Messages.json", post(create_message)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, fake, task))
}

/// One channel's rate over the measured window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChannelRate {
    /// Messages a second over the window.
    pub rate: f64,
    /// How far `rate` is from the configured rate, in percent of it.
    pub deviation_percent: f64,
    /// The fewest and most messages in one whole second of the window.
    pub min_second: u64,
    pub max_second: u64,
    /// Seconds measured: the window, or less if the channel's backlog ran out before it ended.
    pub window_s: f64,
}

/// The rate of a channel whose messages arrived at `arrivals_us` (sorted, microseconds), over `window_s` seconds
/// from `from_us`, against `target` a second. A backlog that ran out early shortens the window to its last message.
pub(crate) fn steady_rate(arrivals_us: &[u64], from_us: u64, window_s: u64, target: u32) -> ChannelRate {
    let until_us = from_us + window_s * 1_000_000;
    let last = arrivals_us.last().copied().unwrap_or(0);
    let until_us = until_us.min(last.saturating_add(1)).max(from_us);
    let start = arrivals_us.partition_point(|&t| t < from_us);
    let end = arrivals_us.partition_point(|&t| t < until_us);
    let measured_s = (until_us - from_us) as f64 / 1e6;
    let rate = if measured_s > 0.0 { (end - start) as f64 / measured_s } else { 0.0 };
    let seconds = (until_us - from_us) / 1_000_000;
    let mut per_second = vec![0u64; usize::try_from(seconds).unwrap_or(0)];
    for &t in &arrivals_us[start..end] {
        if let Some(n) = per_second.get_mut(usize::try_from((t - from_us) / 1_000_000).unwrap_or(usize::MAX)) {
            *n += 1;
        }
    }
    let target = f64::from(target.max(1));
    ChannelRate {
        rate,
        deviation_percent: (rate - target).abs() / target * 100.0,
        min_second: per_second.iter().copied().min().unwrap_or(0),
        max_second: per_second.iter().copied().max().unwrap_or(0),
        window_s: measured_s,
    }
}

async fn call(http: &HttpClient, method: Method, url: &str, key: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {key}"))
        .body(Full::new(Bytes::from(body.to_string())))?;
    let response = http.request(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// The ids of a channel's conversations, page by page.
async fn conversations_of(http: &reqwest::Client, base: &str, key: &str, channel: &str) -> anyhow::Result<Vec<String>> {
    let (mut ids, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut url = format!("{base}/v1/conversations?channel_id={channel}&limit=250");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let response = http.get(&url).bearer_auth(key).send().await?;
        let status = response.status();
        let page: Value = response.json().await?;
        if !status.is_success() {
            bail!("GET {url}: {status} {page}");
        }
        ids.extend(
            page["data"]
                .as_array()
                .context("conversations")?
                .iter()
                .filter_map(|c| c["id"].as_str())
                .map(str::to_string),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok(ids),
        }
    }
}

/// The arrivals so far: the benchmark's messages, and the others.
fn arrived(fake: &Fake) -> (usize, usize) {
    let arrivals = fake.arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ours = arrivals.iter().filter(|a| a.message.is_some()).count();
    (ours, arrivals.len() - ours)
}

pub(crate) async fn run(args: &BenchArgs) -> anyhow::Result<Value> {
    let n = args.channels.clamp(1, 100);
    let rate = args.sends_per_second.clamp(1, switchboard_domain::setup::MAX_SENDS_PER_SECOND);
    let per_channel = (args.conversations / n).clamp(1, 10_000);
    let epoch = Instant::now();
    let (fake_base, fake, fake_task) = fake_twilio(n, epoch).await?;
    let server = InProcess::start(args, None, |c| {
        c.public_url = Some(PUBLIC_URL.into());
        c.channels.twilio.api_base_url = fake_base;
        c.webhooks.allow_loopback = true;
    })
    .await?;
    let (http, base, key) = (reqwest::Client::new(), server.base.clone(), server.key.clone());

    // The set-up, over the API: a workstream, a Twilio account, its channels each with a number, at one send a
    // second while the backlog is queued.
    let queue = post_json(&http, &format!("{base}/v1/queues"), &key, json!({ "name": "Texts" })).await?;
    let ws = post_json(
        &http,
        &format!("{base}/v1/workstreams"),
        &key,
        json!({ "name": "Texts", "fallback_queue_id": queue["id"] }),
    )
    .await?;
    let account = post_json(
        &http,
        &format!("{base}/v1/messaging-accounts"),
        &key,
        json!({ "name": "Bench Twilio", "kind": "sms", "method": "twilio",
            "settings": { "account_sid": ACCOUNT_SID, "from_number": our_number(0) },
            "credentials": { "auth_token": AUTH_TOKEN } }),
    )
    .await?;
    let account = account["id"].as_str().context("account id")?;
    let mut channels = Vec::with_capacity(n);
    for c in 0..n {
        let channel = post_json(
            &http,
            &format!("{base}/v1/messaging-accounts/{account}/channels"),
            &key,
            json!({ "name": format!("SMS {c}"), "workstream_id": ws["id"], "settings": { "sends_per_second": 1 } }),
        )
        .await?;
        channels.push(channel["id"].as_str().context("channel id")?.to_string());
    }
    let callbacks = channels.iter().map(|id| format!("{PUBLIC_URL}/channels/twilio/{id}/status")).collect();
    let _ = fake.callbacks.set(callbacks);

    // Each customer writes first, from their number to the channel's: that starts their conversation.
    let hyper = client(args.clients.max(16));
    let mut tasks = Vec::new();
    for (c, channel) in channels.iter().enumerate() {
        let path = format!("/channels/twilio/{channel}/messages");
        let (url, signed_url) = (format!("{base}{path}"), format!("{PUBLIC_URL}{path}"));
        for lane in 0..4 {
            let (hyper, url, signed_url) = (hyper.clone(), url.clone(), signed_url.clone());
            tasks.push(tokio::spawn(async move {
                for j in (lane..per_channel).step_by(4) {
                    let sid = format!("SM{c:08x}{j:024x}");
                    let message = twilio_message(&signed_url, &sid, &customer_number(c, j), &our_number(c));
                    let status = send(&hyper, &url, message).await?;
                    if status != hyper::StatusCode::OK {
                        bail!("customer {j} of channel {c}: the webhook answered {status}");
                    }
                }
                anyhow::Ok(())
            }));
        }
    }
    for task in tasks {
        task.await??;
    }
    let mut conversations = Vec::with_capacity(n);
    for channel in &channels {
        let ids = conversations_of(&http, &base, &key, channel).await?;
        if ids.len() != per_channel {
            bail!("channel {channel} has {} conversations, not {per_channel}", ids.len());
        }
        conversations.push(ids);
    }
    let conversations = Arc::new(conversations);

    // The backlog: message `k` goes to channel `k % n`, on its conversations in turn.
    let backlog = n as u64 * u64::from(rate) * (args.warmup + args.duration + MARGIN_S);
    let clients = args.clients.max(1);
    let posting = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for worker in 0..clients {
        let (hyper, base, key, conversations) = (hyper.clone(), base.clone(), key.clone(), conversations.clone());
        tasks.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for k in (worker as u64..backlog).step_by(clients) {
                let c = (k % n as u64) as usize;
                let mine = &conversations[c];
                let id = &mine[((k / n as u64) % mine.len() as u64) as usize];
                let url = format!("{base}/v1/conversations/{id}/messages");
                let (status, body) =
                    call(&hyper, Method::POST, &url, &key, json!({ "text": format!("{TEXT}{k}") })).await?;
                if status != 201 {
                    failed.push(format!("{status} {body}"));
                }
            }
            anyhow::Ok(failed)
        }));
    }
    let mut post_failures = Vec::new();
    for task in tasks {
        post_failures.extend(task.await??);
    }
    let posted_s = posting.elapsed().as_secs_f64();
    let (sent_while_held, _) = arrived(&fake);

    // The raise: each channel at its rate.
    let mut raised_us = Vec::with_capacity(n);
    for channel in &channels {
        let (status, body) = call(
            &hyper,
            Method::PATCH,
            &format!("{base}/v1/channels/{channel}"),
            &key,
            json!({ "settings": { "sends_per_second": rate } }),
        )
        .await?;
        if status != 200 {
            bail!("PATCH /v1/channels/{channel}: {status} {body}");
        }
        raised_us.push(u64::try_from(epoch.elapsed().as_micros())?);
    }

    // The backlog drains; then every receipt (`message.delivered`) is written.
    let expected = backlog as usize - post_failures.len();
    let drain = Duration::from_secs(backlog / (n as u64 * u64::from(rate)) + 60);
    let deadline = Instant::now() + drain;
    while arrived(&fake).0 < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained_at = Instant::now();
    let (store, org) = (server.state.store.clone(), server.org);
    let receipts = || {
        let store = store.clone();
        async move {
            store
                .read(move |tx| switchboard_store::events::count_of_type(tx, org, EventType::MessageDelivered))
                .await
                .map_err(anyhow::Error::from)
        }
    };
    let receipts_at_drain = receipts().await?;
    let (ours, others) = arrived(&fake);
    // The receipts are written one transaction each: they may trail the sends by minutes.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut receipts_now = receipts_at_drain;
    while receipts_now < (ours + others) as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        receipts_now = receipts().await?;
    }
    let receipts_caught_up_s = drained_at.elapsed().as_secs_f64();
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    server.stop().await?;
    fake_task.abort();

    // What arrived: each message once, from its conversation's channel; each channel's rate in the window.
    let arrivals = fake.arrivals.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let refused = fake.refused.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let mut seen = vec![0u8; usize::try_from(backlog)?];
    let (mut duplicates, mut misrouted, mut unknown) = (0u64, 0u64, 0u64);
    let mut by_channel: Vec<Vec<u64>> = vec![Vec::new(); n];
    for a in &arrivals {
        by_channel[a.channel].push(a.at_us);
        let Some(k) = a.message else { continue };
        match seen.get_mut(usize::try_from(k)?) {
            Some(count) => {
                *count = count.saturating_add(1);
                duplicates += u64::from(*count > 1);
                misrouted += u64::from(k % n as u64 != a.channel as u64);
            }
            None => unknown += 1,
        }
    }
    let lost = seen.iter().filter(|&&c| c == 0).count().saturating_sub(post_failures.len());
    let skip_us = args.warmup * 1_000_000;
    let rates: Vec<ChannelRate> = by_channel
        .iter_mut()
        .zip(&raised_us)
        .map(|(times, raised)| {
            times.sort_unstable();
            steady_rate(times, raised + skip_us, args.duration, rate)
        })
        .collect();
    let total: f64 = rates.iter().map(|r| r.rate).sum();
    let worst = rates.iter().map(|r| r.deviation_percent).fold(0.0, f64::max);
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
    let line = json!({
        "scenario": "channels",
        "channel": "sms_outbound",
        "backend": backend,
        "channels": n,
        "conversations": n * per_channel,
        "sends_per_second_each": rate,
        "target_total_per_s": n as u64 * u64::from(rate),
        "clients": clients,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "backlog": backlog,
        "post_failures": post_failures.len(),
        "posted_per_s": round(backlog as f64 / posted_s),
        "sent_while_held": sent_while_held,
        "delivered": ours,
        "other_messages_sent": others,
        "lost": lost,
        "duplicates": duplicates,
        "misrouted": misrouted,
        "refused_by_fake": refused.len(),
        "total_per_s": round(total),
        "max_rate_deviation_percent": round3(worst),
        "every_channel_within_1_percent": worst <= 1.0 && rates.iter().all(|r| r.window_s >= args.duration as f64),
        "per_channel": rates.iter().map(|r| json!({
            "per_s": round(r.rate),
            "deviation_percent": round3(r.deviation_percent),
            "min_second": r.min_second,
            "max_second": r.max_second,
            "window_s": round(r.window_s),
        })).collect::<Vec<_>>(),
        "receipts_at_drain": receipts_at_drain,
        "receipts_recorded": receipts_now,
        "receipts_caught_up_s": round(receipts_caught_up_s),
    });
    if !post_failures.is_empty() || lost > 0 || duplicates > 0 || misrouted > 0 || unknown > 0 || !refused.is_empty() {
        let first = post_failures.first().or(refused.first()).cloned().unwrap_or_default();
        bail!("messages were not each sent exactly once from their channel ({first}): {line}");
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` arrivals a second, evenly spaced, from `from_s` for `seconds`.
    fn even(n: u64, from_s: u64, seconds: u64) -> Vec<u64> {
        (0..n * seconds).map(|i| from_s * 1_000_000 + i * 1_000_000 / n).collect()
    }

    #[test]
    fn the_rate_is_measured_after_the_first_burst_and_its_deviation_is_against_the_configured_rate() {
        // A full bucket's burst in the first second, then 600 a second: skipping the burst, 600 exactly.
        let mut held = vec![0u64; 600];
        held.extend(even(600, 1, 12));
        let r = steady_rate(&held, 2_000_000, 10, 600);
        assert_eq!(r.rate, 600.0);
        assert_eq!(r.deviation_percent, 0.0);
        assert_eq!((r.min_second, r.max_second, r.window_s), (600, 600, 10.0));

        // A channel that only managed 588 a second is 2% off.
        let slow = steady_rate(&even(588, 0, 12), 1_000_000, 10, 600);
        assert!((slow.deviation_percent - 2.0).abs() < 1e-9, "{slow:?}");

        // A backlog that ran out after 5 of the 10 seconds is measured over those 5, not diluted over 10.
        let short = steady_rate(&even(600, 0, 6), 1_000_000, 10, 600);
        assert!((short.rate - 600.0).abs() < 0.2 && (short.window_s - 5.0).abs() < 0.01, "{short:?}");
    }
}
