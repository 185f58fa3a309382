//! `switchboard bench channels --channel whatsapp-meta | sms-telesign | sms-twilio | whatsapp-twilio`: the phone
//! providers' inbound paths under load, on an in-process server, as `bench.rs` measures the Bot Framework's.
//!
//! `--clients` keep-alive clients post what the provider posts, back to back: WhatsApp notifications signed with
//! the app secret (`X-Hub-Signature-256`), TeleSign's inbound-SMS callbacks signed `TSA` with the API key, or
//! Twilio's form-encoded message webhooks (SMS, or WhatsApp with `whatsapp:` addresses) signed with
//! `X-Twilio-Signature` as Twilio computes it (HMAC-SHA1 of the full URL, here the server's `public_url`, and the
//! sorted parameters, with the auth token). Each request's signature is checked, the message deduplicated by the provider's id, stored, and its conversation
//! (one per customer number, `--conversations` numbers) routed to `--agents` available agents. Clients sign each
//! body as the provider does, so their own cost is an HMAC a request. At the end every message answered 200 must
//! be stored exactly once: the messages are counted, a sample is posted again (the provider's retries) and counted
//! again. Sends (the outbound half) are not measured here.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, body::Bytes};
use serde_json::{Value, json};
use switchboard_domain::{event::EventType, ids::QueueId};

use crate::{
    bench::{BenchArgs, HttpClient, client},
    channels::bench::{available_agents, post},
    stream::bench::InProcess,
};

const AGENTS: usize = 100;
const REPEATS: u64 = 1_000;
const PHONE_NUMBER_ID: &str = "106540352242922";
const APP_SECRET: &str = "bench-app-secret";
const CUSTOMER_ID: &str = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890";
/// Base64, as TeleSign's portal shows keys.
const API_KEY: &str = "YmVuY2gtYXBpLWtleS1mb3ItdGVsZXNpZ24=";
/// Twilio's account, and the number customers write to.
pub(super) const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub(super) const AUTH_TOKEN: &str = "bench-twilio-auth-token";
const OUR_NUMBER: &str = "+14255550199";
/// Where Twilio reaches the server (a proxy in front of it, as in production): the URL Twilio signs.
pub(super) const PUBLIC_URL: &str = "https://switchboard.bench.test";

/// Which provider's inbound path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Meta,
    Telesign,
    /// Twilio's message webhook: SMS, or WhatsApp (`whatsapp:` addresses) through the same handler.
    Twilio {
        whatsapp: bool,
    },
}

/// A webhook as the provider posts it: the body, its content type, and the signature header.
pub(super) struct Posted {
    body: Bytes,
    content_type: &'static str,
    header: &'static str,
    signature: String,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::Meta => "whatsapp_meta",
            Provider::Telesign => "sms_telesign",
            Provider::Twilio { whatsapp: false } => "sms_twilio",
            Provider::Twilio { whatsapp: true } => "whatsapp_twilio",
        }
    }

    /// The `n`th message of a client, from the customer of `thread`, with the signature it carries for `signed_url`
    /// (the URL the provider was given; only Twilio signs it).
    fn message(self, signed_url: &str, worker: usize, n: u64, thread: usize) -> Posted {
        let from = format!("1650555{thread:04}");
        let json = |body: String, header, signature| Posted {
            body: Bytes::from(body),
            content_type: "application/json",
            header,
            signature,
        };
        match self {
            Provider::Meta => {
                let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                    "field": "messages",
                    "value": {"messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                        "contacts": [{"profile": {"name": "Customer"}, "wa_id": from}],
                        "messages": [{"from": from, "id": format!("wamid.bench-{worker}-{n}"),
                            "timestamp": "1765069323", "type": "text",
                            "text": {"body": "Hello, I need help with my order."}}]}}]}]})
                .to_string();
                let signature = switchboard_channels::meta::sign(APP_SECRET.as_bytes(), body.as_bytes());
                json(body, "x-hub-signature-256", signature)
            }
            Provider::Telesign => {
                let body = json!({"reference_id": format!("{worker:08X}{n:024X}"), "sub_resource": "mo_sms",
                    "errors": [], "user_response": {"phone_number": from, "sender_id": "12345",
                        "mo_message": "Hello, I need help with my order."}})
                .to_string();
                let authorization =
                    switchboard_channels::telesign::sign_callback(CUSTOMER_ID, API_KEY, body.as_bytes())
                        .unwrap_or_default();
                json(body, "authorization", authorization)
            }
            Provider::Twilio { whatsapp } => {
                let prefix = if whatsapp { switchboard_channels::twilio::WHATSAPP_PREFIX } else { "" };
                let sid = format!("SM{worker:08x}{n:024x}");
                twilio_message(signed_url, &sid, &format!("{prefix}+{from}"), &format!("{prefix}{OUR_NUMBER}"))
            }
        }
    }
}

/// Twilio's message webhook for a customer's text (no media) from `from` to `to` (`whatsapp:` addresses on
/// WhatsApp), with the parameters in the order Twilio posts them, signed for `signed_url` with the auth token.
pub(super) fn twilio_message(signed_url: &str, sid: &str, from: &str, to: &str) -> Posted {
    let whatsapp = from.starts_with(switchboard_channels::twilio::WHATSAPP_PREFIX);
    let mut params: Vec<(String, String)> = [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", "Hello, I need help with my order."),
        ("To", to),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if whatsapp {
        params.push(("ProfileName".into(), "Customer".into()));
        params.push(("WaId".into(), from.trim_start_matches("whatsapp:+").to_string()));
    }
    let signature = switchboard_channels::twilio::expected_signature(AUTH_TOKEN, signed_url, &params);
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    Posted {
        body: Bytes::from(body),
        content_type: "application/x-www-form-urlencoded",
        header: "x-twilio-signature",
        signature,
    }
}

/// A routed queue with `AGENTS` available agents and a channel of `provider` on it; returns its inbound URL.
async fn phone_channel(server: &InProcess, provider: Provider, threads: usize) -> anyhow::Result<String> {
    let (http, base, key) = (reqwest::Client::new(), &server.base, &server.key);
    let queue = post(&http, &format!("{base}/v1/queues"), key, json!({ "name": "Phones" })).await?;
    let ws = post(
        &http,
        &format!("{base}/v1/workstreams"),
        key,
        json!({ "name": "Phones", "fallback_queue_id": queue["id"], "settings": { "routing": { "enabled": true } } }),
    )
    .await?;
    let account = match provider {
        Provider::Meta => json!({ "name": "Bench WhatsApp", "kind": "whatsapp", "method": "meta",
            "settings": { "phone_number_id": PHONE_NUMBER_ID },
            "credentials": { "access_token": "bench-token", "app_secret": APP_SECRET, "verify_token": "bench" } }),
        Provider::Telesign => json!({ "name": "Bench SMS", "kind": "sms", "method": "telesign",
            "settings": { "customer_id": CUSTOMER_ID }, "credentials": { "api_key": API_KEY } }),
        Provider::Twilio { whatsapp } => {
            json!({ "name": "Bench Twilio", "kind": if whatsapp { "whatsapp" } else { "sms" },
            "method": "twilio", "settings": { "account_sid": ACCOUNT_SID, "from_number": OUR_NUMBER },
            "credentials": { "auth_token": AUTH_TOKEN } })
        }
    };
    let account = post(&http, &format!("{base}/v1/messaging-accounts"), key, account).await?;
    let account = account["id"].as_str().context("account id")?;
    let channel = post(
        &http,
        &format!("{base}/v1/messaging-accounts/{account}/channels"),
        key,
        json!({ "name": "Phones", "workstream_id": ws["id"] }),
    )
    .await?;
    let channel = channel["id"].as_str().context("channel id")?;
    let (app, org) = (&server.state, server.org);
    let capacity = i64::try_from(threads.div_ceil(AGENTS) + 1)?;
    let agents = available_agents(app, org, AGENTS, capacity).await?.into_iter().map(|u| u.user_id).collect();
    let queue: QueueId = queue["id"].as_str().context("queue id")?.parse()?;
    app.routing.set_members(&app.routing_deps, org, queue, agents).await.map_err(anyhow::Error::from)?;
    Ok(match provider {
        Provider::Meta => format!("{base}/channels/whatsapp/{channel}/webhook"),
        Provider::Telesign => format!("{base}/channels/telesign/{channel}/callbacks"),
        Provider::Twilio { .. } => format!("{base}/channels/twilio/{channel}/messages"),
    })
}

pub(super) async fn send(http: &HttpClient, url: &str, message: Posted) -> anyhow::Result<StatusCode> {
    let request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", message.content_type)
        .header(message.header, message.signature)
        .body(Full::new(message.body))?;
    let response = http.request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

pub async fn run(args: &BenchArgs, provider: Provider) -> anyhow::Result<Value> {
    let server = InProcess::start(args, None, |c| c.public_url = Some(PUBLIC_URL.into())).await?;
    let threads = args.conversations.max(1);
    let endpoint = phone_channel(&server, provider, threads).await?;
    // Twilio signs the URL it was given: the public URL's, with the path the in-process server listens on.
    let signed_url = endpoint.replacen(&server.base, PUBLIC_URL, 1);
    let http = client(args.clients);
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(args.warmup);
    let until = measure_from + Duration::from_secs(args.duration);
    let clients = args.clients.max(1);
    let thread_of = move |worker: usize, n: u64| (worker + n as usize * clients) % threads;
    let mut tasks = Vec::with_capacity(clients);
    for worker in 0..clients {
        let (http, endpoint, signed_url) = (http.clone(), endpoint.clone(), signed_url.clone());
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut ok, mut measured, mut errors, mut sent) = (0u64, 0u64, 0u64, 0u64);
            loop {
                let message = provider.message(&signed_url, worker, sent, thread_of(worker, sent));
                let at = Instant::now();
                if at >= until {
                    break;
                }
                sent += 1;
                match send(&http, &endpoint, message).await {
                    Ok(StatusCode::OK) => {
                        ok += 1;
                        if at >= measure_from {
                            measured += 1;
                            latency.saturating_record(at.elapsed().as_micros() as u64);
                        }
                    }
                    _ => errors += 1,
                }
            }
            anyhow::Ok((latency, ok, measured, errors, sent))
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut ok, mut measured, mut errors, mut sent) = (0u64, 0u64, 0u64, Vec::with_capacity(clients));
    for task in tasks {
        let (latency, o, m, e, s) = task.await??;
        hist.add(&latency)?;
        ok += o;
        measured += m;
        errors += e;
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
        if send(&http, &endpoint, provider.message(&signed_url, worker, n, thread_of(worker, n))).await?
            == StatusCode::OK
        {
            repeated += 1;
        }
    }
    let stored_after_repeats = count().await?;
    let backend = if args.database_url.is_some() { "postgres" } else { "sqlite" };
    server.stop().await?;
    let exactly_once = stored == ok && stored_after_repeats == stored;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let line = json!({
        "scenario": "channels",
        "channel": provider.name(),
        "backend": backend,
        "clients": clients,
        "threads": threads,
        "agents": AGENTS,
        "duration_s": args.duration,
        "messages": measured,
        "errors": errors,
        "messages_per_s": (measured as f64 / args.duration.max(1) as f64 * 100.0).round() / 100.0,
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "max_ms": hist.max() as f64 / 1000.0,
        "answered_200": ok,
        "messages_stored": stored,
        "repeats_posted": repeated,
        "messages_stored_after_repeats": stored_after_repeats,
        "stored_exactly_once": exactly_once,
    });
    if !exactly_once || errors > 0 {
        bail!("messages were not each stored exactly once, or some failed: {line}");
    }
    Ok(line)
}
