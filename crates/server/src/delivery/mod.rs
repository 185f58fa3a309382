//! The delivery engine: takes events from the transactional outbox (the event log) and delivers them to webhook
//! endpoints, at least once and in order per conversation.
//!
//! - **Fan-out.** The engine reads the log past its cursor, up to the durable watermark (on SQLite an event is
//!   acted on only once it is on disk), records one delivery per matching endpoint and moves the cursor in the
//!   same transaction. On PostgreSQL, ids can commit out of order, so ids skipped in a read are looked for again
//!   for a while before they are taken for rolled back.
//! - **Lanes.** Deliveries wait in a lane per endpoint and conversation; only a lane's head is ever in flight,
//!   so one conversation's events reach an endpoint in order, while different conversations and endpoints go in
//!   parallel. A failing head holds its lane back until it succeeds or becomes a dead letter.
//! - **Retries** follow the configured schedule (data, not code) with jitter; `Retry-After` is honoured; 410
//!   disables a subscription. Every attempt is logged.
//! - **Restarts** resume from the stored pending deliveries. An attempt whose outcome was not yet recorded when
//!   the process died is made again: receivers deduplicate by `webhook-id`.

mod channel;
pub use channel::PhoneApis;
pub mod guard;
mod payload;
pub mod sign;
pub mod typing;

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use rand::Rng;
use serde::Serialize;
use switchboard_domain::{
    Error, Timestamp,
    event::{EventType, matches_filter},
    ids::*,
};
use switchboard_store::{
    Store, conversations,
    model::Event,
    webhooks::{self, Attempt, DeliveryState, Endpoint, NewDelivery, Target},
};
use tokio::sync::{Notify, mpsc};

use crate::{
    AppState,
    attachments::Links,
    auth::{secrets::SecretBox, tokens::Signer},
    channels::{bot_framework::token::BotTokens, google_bm::GoogleTokens},
    clock::Clock,
    config::WebhookConfig,
    leadership::Stop,
    outbox::{Batch, EventLog, Filter, Follower, Start},
};

const CURSOR: &str = "webhooks";
/// Events read from the log at once.
const FAN_OUT_BATCH: usize = 2_000;
/// Attempts recorded in one transaction at most.
const RECORD_BATCH: usize = 2_000;
/// How often the cursor is saved when the events read had nothing to deliver.
const CURSOR_SAVE_EVERY: Duration = Duration::from_secs(1);
/// Event types a Messaging API channel's webhook may carry.
const ACTIVITY_TYPES: [EventType; 3] =
    [EventType::MessageCreated, EventType::ConversationStateChanged, EventType::RoutingWaitEstimateChanged];
/// The start of a receiver's answer kept in the delivery log.
const RESPONSE_EXCERPT: usize = 1_024;

/// The handle the API uses to nudge the engine.
#[derive(Default)]
pub struct Handle {
    wake: Notify,
    /// Endpoints were added, changed or removed.
    targets_changed: std::sync::atomic::AtomicBool,
    /// Deliveries were made due again (replay).
    rescan: std::sync::atomic::AtomicBool,
    /// Deliveries replayed one by one: each goes to the front of its lane and is attempted at once, even one the
    /// engine holds waiting for a retry (its stored due time changed, the one in the lane had not).
    hasten: std::sync::Mutex<Vec<DeliveryId>>,
}

impl Handle {
    pub fn targets_changed(&self) {
        self.targets_changed.store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_one();
    }

    pub fn replayed(&self) {
        self.rescan.store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_one();
    }

    /// `delivery` was replayed: it is to be attempted now, before the rest of its lane.
    pub fn replayed_now(&self, delivery: DeliveryId) {
        self.hasten.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(delivery);
        self.replayed();
    }

    fn take_hastened(&self) -> HashSet<DeliveryId> {
        std::mem::take(&mut *self.hasten.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
            .into_iter()
            .collect()
    }
}

type LaneKey = (Endpoint, Option<ConversationId>);

struct Job {
    id: DeliveryId,
    endpoint: Endpoint,
    event: Arc<Event>,
    attempts: i64,
    due: i64,
}

#[derive(Default)]
struct Lane {
    queue: VecDeque<Job>,
    busy: bool,
}

/// An endpoint ready to be called: the stored target with its secrets opened.
struct Ready {
    target: Target,
    keys: Vec<Vec<u8>>,
    /// Where its deliveries go; `None` for a channel that answers at each conversation's own address.
    url: Option<reqwest::Url>,
    /// A channel's adapter, which renders and addresses its deliveries.
    adapter: Option<channel::Adapter>,
    /// Requests a second at most; 0: no limit.
    rate: u32,
}

/// A token bucket: `rate` requests a second, in bursts of at most a second's worth.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens held, in thousandths (one request costs 1,000).
    milli_tokens: i64,
    at: i64,
}

impl Bucket {
    /// Takes a token at `now` (milliseconds) if there is one; else says when there will be.
    fn take(&mut self, rate: u32, now: i64) -> Result<(), i64> {
        let rate = i64::from(rate);
        let full = rate * 1_000;
        self.milli_tokens = (self.milli_tokens + (now - self.at).max(0) * rate).min(full);
        self.at = now;
        if self.milli_tokens >= 1_000 {
            self.milli_tokens -= 1_000;
            Ok(())
        } else {
            // Milliseconds until the missing thousandths have refilled, rounded up.
            Err(now + (1_000 - self.milli_tokens + rate - 1) / rate)
        }
    }
}

struct Finished {
    lane: LaneKey,
    attempt: Attempt,
    /// The receiver answered 410: stop delivering to this endpoint.
    gone: bool,
}

/// What the delivery engine uses, handed out by [`start`].
#[derive(Clone)]
pub struct Delivery {
    pub store: Arc<Store>,
    pub clock: Clock,
    pub log: EventLog,
    /// How the API nudges the engine.
    pub handle: Arc<Handle>,
    /// Opens the endpoints' signing secrets.
    pub secrets: SecretBox,
    /// Signs the tokens of Messaging API webhook calls.
    pub signer: Signer,
    /// Signs the attachment links in payloads.
    pub links: Links,
    pub config: WebhookConfig,
    /// Bot Framework channels' Connector tokens.
    pub bot_tokens: Arc<BotTokens>,
    /// Replies a second one Bot Framework channel sends at most; 0: no limit.
    pub bot_sends_per_second: u32,
    /// Where SMS and WhatsApp sends go (Twilio, Meta, TeleSign), and their rates.
    pub phone: channel::PhoneApis,
    /// Google's Business Messages: service accounts' tokens, the API, and sends a second per channel.
    pub google_tokens: Arc<GoogleTokens>,
    pub google: crate::config::GoogleBusinessMessagesConfig,
}

struct Engine {
    store: Arc<Store>,
    connector: channel::Connector,
    bot_sends_per_second: u32,
    google_sends_per_second: u32,
    /// Each rate-limited endpoint's bucket.
    buckets: HashMap<Endpoint, Bucket>,
    handle: Arc<Handle>,
    clock: Clock,
    config: WebhookConfig,
    secrets: SecretBox,
    signer: Signer,
    links: Links,
    http: reqwest::Client,
    targets: HashMap<Endpoint, Arc<Ready>>,
    subscriptions_by_org: HashMap<OrgId, Vec<Endpoint>>,
    channel_of: quick_cache::unsync::Cache<ConversationId, ChannelId>,
    /// Organizations with a bot, and the bot holding each conversation of the batch being fanned out (not kept
    /// across batches: a bot lets go when it escalates).
    bot_orgs: HashSet<OrgId>,
    bot_of: HashMap<ConversationId, ClientId>,
    lanes: HashMap<LaneKey, Lane>,
    heads: BinaryHeap<Reverse<(i64, u64, LaneKey)>>,
    tiebreak: u64,
    queued: HashSet<DeliveryId>,
    in_flight: usize,
    finished_tx: mpsc::UnboundedSender<Finished>,
    record_tx: mpsc::UnboundedSender<Attempt>,
    tokens: HashMap<ChannelId, (String, i64)>,
    /// What each organization's endpoints want, so that the log is read in full only for those events.
    interest: Arc<HashMap<OrgId, Interest>>,
    cursor_saved: std::time::Instant,
}

/// The event types an organization's endpoints take.
#[derive(Default)]
struct Interest {
    /// Each subscription's filter (empty: everything).
    filters: Vec<Vec<String>>,
    /// Some Messaging API channel of the organization has a webhook.
    channels: bool,
}

impl Interest {
    fn wants(&self, event_type: &str) -> bool {
        let activity = || EventType::parse(event_type).is_some_and(|t| ACTIVITY_TYPES.contains(&t));
        (self.channels && activity()) || self.filters.iter().any(|f| wants(f, event_type))
    }
}

/// Starts the engine; it runs until `stop` is requested (then it finishes the sends in flight and records them),
/// the returned task is aborted, or the process ends.
pub fn start(app: &AppState, stop: Stop) -> tokio::task::JoinHandle<()> {
    Delivery {
        store: app.store.clone(),
        clock: app.clock.clone(),
        log: app.log.clone(),
        handle: app.deliveries.clone(),
        secrets: app.auth.secrets.clone(),
        signer: app.auth.signer.clone(),
        links: app.links.clone(),
        config: app.config.webhooks.clone(),
        bot_tokens: app.bot_framework.tokens.clone(),
        bot_sends_per_second: app.config.channels.bot_framework.sends_per_second,
        phone: channel::PhoneApis::of(&app.config, app.auth.signer.issuer()),
        google_tokens: app.google_bm.tokens.clone(),
        google: app.config.channels.google_business_messages.clone(),
    }
    .start(stop)
}

impl Delivery {
    pub fn start(self, mut stop: Stop) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                let mut run = tokio::spawn(run(self.clone(), stop.clone()));
                // Aborting this task (the node stopped leading) must stop the engine too, not leave it running
                // detached.
                let _stop_with_this = crate::leadership::AbortOnDrop(run.abort_handle());
                match (&mut run).await {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, source = ?e.source, "webhook delivery stopped; restarting")
                    }
                    Err(e) => tracing::error!(error = %e, "webhook delivery panicked; restarting"),
                }
                tokio::select! {
                    () = stop.requested() => return,
                    () = self.clock.sleep_until(self.clock.now().plus_millis(1_000)) => {}
                }
            }
        })
    }
}

fn http_client(config: &WebhookConfig) -> Result<reqwest::Client, Error> {
    let allow = guard::Allow { loopback: config.allow_loopback, private: config.allow_private };
    reqwest::Client::builder()
        .timeout(Duration::from_secs(config.timeout_seconds))
        .connect_timeout(Duration::from_secs(config.timeout_seconds.min(5)))
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(guard::GuardedResolver::shared(allow))
        .pool_max_idle_per_host(config.concurrency)
        .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(Error::internal)
}

async fn run(parts: Delivery, mut stop: Stop) -> Result<(), Error> {
    let Delivery {
        store,
        clock,
        log,
        handle,
        secrets,
        signer,
        links,
        config,
        bot_tokens,
        bot_sends_per_second,
        phone,
        google_tokens,
        google,
    } = parts;
    let (finished_tx, mut finished_rx) = mpsc::unbounded_channel();
    let (record_tx, record_rx) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record(store.clone(), clock.clone(), record_rx));
    let mut log = log.follow(Start::Kept(CURSOR), Filter::everything(), FAN_OUT_BATCH).await?;
    let mut engine = Engine {
        connector: channel::Connector {
            store: store.clone(),
            clock: clock.clone(),
            tokens: bot_tokens,
            phone,
            google_tokens,
            google_api: google.api_url.clone(),
        },
        bot_sends_per_second,
        google_sends_per_second: google.sends_per_second,
        buckets: HashMap::new(),
        store,
        handle,
        clock,
        http: http_client(&config)?,
        config,
        secrets,
        signer,
        links,
        targets: HashMap::new(),
        subscriptions_by_org: HashMap::new(),
        channel_of: quick_cache::unsync::Cache::new(100_000),
        bot_orgs: HashSet::new(),
        bot_of: HashMap::new(),
        lanes: HashMap::new(),
        heads: BinaryHeap::new(),
        tiebreak: 0,
        queued: HashSet::new(),
        in_flight: 0,
        finished_tx,
        record_tx,
        tokens: HashMap::new(),
        interest: Arc::default(),
        cursor_saved: std::time::Instant::now(),
    };
    engine.load_targets(&mut log).await?;
    engine.resume_pending().await?;
    let result = loop {
        // Asked to stop: no new sends; those in flight are finished and recorded, so that the next leader does not
        // send them again.
        if stop.is_requested() {
            if engine.in_flight == 0 {
                break Ok(());
            }
        } else if let Err(e) = engine.step(&mut log).await {
            break Err(e);
        }
        let stopping = stop.is_requested();
        let next_due = engine.next_due().filter(|_| !stopping);
        let handle = engine.handle.clone();
        let clock = engine.clock.clone();
        tokio::select! {
            () = stop.requested(), if !stopping => {}
            open = log.wait(), if !stopping => if !open { break Ok(()) },
            Some(done) = finished_rx.recv() => {
                engine.finish(done);
                while let Ok(done) = finished_rx.try_recv() {
                    engine.finish(done);
                }
            }
            () = async { match next_due { Some(at) => clock.sleep_until(at).await, None => std::future::pending().await } } => {}
            () = handle.wake.notified() => {}
        }
    };
    drop(engine);
    let _ = recorder.await;
    result
}

/// Writes attempt outcomes in batches, so the log costs one transaction per batch rather than per attempt.
async fn record(store: Arc<Store>, clock: Clock, mut rx: mpsc::UnboundedReceiver<Attempt>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let attempts = std::mem::replace(&mut batch, Vec::with_capacity(RECORD_BATCH));
        let (count, now) = (attempts.len(), clock.now());
        // What a conversation is told of: its messages' receipts, and their failures. Only a channel delivery of a
        // message tells anything, which the store finds out; the rest of the batch is skipped without a read.
        let told: Vec<Attempt> = attempts
            .iter()
            .filter(|a| a.channel_message && matches!(a.state, DeliveryState::Failed | DeliveryState::Delivered))
            .cloned()
            .collect();
        if let Err(e) = store.write(move |tx| webhooks::record_attempts(tx, &attempts, now)).await {
            // Not recorded means still pending in the store: after a restart these are attempted again.
            tracing::error!(error = %e, count, "recording webhook attempts failed");
            continue;
        }
        // Each receipt is a write of its own (one that fails changes nothing of the others), queued for the group
        // commit all together and awaited after: one after another, each waiting for its commit, they held a
        // sender above about 2,000 messages a second to receipts trailing further and further behind.
        let mut commits = Vec::with_capacity(told.len());
        for attempt in told {
            let delivery = attempt.delivery_id;
            let queued = store
                .submit(move |tx| match attempt.state {
                    DeliveryState::Delivered => webhooks::tell_delivered_message(tx, &attempt, now),
                    _ => webhooks::tell_undelivered_message(tx, &attempt, now),
                })
                .await;
            match queued {
                Ok(commit) => commits.push((delivery, commit)),
                Err(e) => {
                    tracing::error!(error = %e, %delivery, "telling a conversation how its message's delivery ended failed")
                }
            }
        }
        for (delivery, commit) in commits {
            if let Err(e) = commit.await {
                // The delivery log has the outcome; only the conversation's notice of it is missing.
                tracing::error!(error = %e, %delivery, "telling a conversation how its message's delivery ended failed");
            }
        }
    }
}

impl Engine {
    /// One round: pick up replays, fan out new events (and endpoint changes), start what is due.
    async fn step(&mut self, log: &mut Follower) -> Result<(), Error> {
        // Endpoint changes are picked up inside `fan_out`, after its read, where they must apply.
        if self.handle.rescan.swap(false, std::sync::atomic::Ordering::AcqRel) {
            let hastened = self.handle.take_hastened();
            self.resume_pending().await?;
            self.hasten(&hastened);
        }
        self.fan_out(log).await?;
        self.start_due();
        Ok(())
    }

    /// Loads the endpoints, and has `log` read in full only the events some endpoint takes.
    async fn load_targets(&mut self, log: &mut Follower) -> Result<(), Error> {
        let now = self.clock.now();
        let targets = self.store.read(move |tx| webhooks::targets(tx, now)).await?;
        self.targets.clear();
        // A channel's token is minted for its app id: after a change of app id, the next call needs a new one.
        self.tokens.clear();
        self.subscriptions_by_org.clear();
        self.bot_orgs.clear();
        let mut interest: HashMap<OrgId, Interest> = HashMap::new();
        for target in targets {
            let adapter = match channel::Adapter::of(&target, &self.secrets) {
                Ok(adapter) => adapter,
                Err(e) => {
                    tracing::warn!(endpoint = %target.endpoint.key(), error = %e, "skipping a channel it cannot answer");
                    continue;
                }
            };
            let url = match reqwest::Url::parse(&target.url) {
                Ok(u) => Some(u),
                Err(_) if adapter.as_ref().is_some_and(channel::Adapter::addresses_itself) => None,
                Err(e) => {
                    tracing::warn!(endpoint = %target.endpoint.key(), error = %e, "skipping a webhook with a bad URL");
                    continue;
                }
            };
            let mut keys = Vec::new();
            for sealed in &target.sealed_secrets {
                let secret = self.secrets.open(sealed)?;
                if let Some(key) = sign::secret_key(&String::from_utf8_lossy(&secret)) {
                    keys.push(key);
                }
            }
            let org = interest.entry(target.org_id).or_default();
            match target.endpoint {
                Endpoint::Subscription(_) => {
                    org.filters.push(target.event_types.clone());
                    self.subscriptions_by_org.entry(target.org_id).or_default().push(target.endpoint);
                }
                Endpoint::Channel(_) => org.channels = true,
                Endpoint::Bot(_) => {
                    org.channels = true;
                    self.bot_orgs.insert(target.org_id);
                }
            }
            let default_rate = match &adapter {
                Some(channel::Adapter::BotFramework { .. }) => self.bot_sends_per_second,
                Some(channel::Adapter::Phone(provider)) => self.connector.phone.sends_per_second(provider),
                Some(channel::Adapter::Google { .. }) => self.google_sends_per_second,
                _ => self.config.sends_per_endpoint_per_second,
            };
            // A channel's own rate is its sender's (a long code's, a short code's), over the provider's default.
            let rate = target.sends_per_second.unwrap_or(default_rate);
            self.targets.insert(target.endpoint, Arc::new(Ready { target, keys, url, adapter, rate }));
        }
        let interest = Arc::new(interest);
        self.interest = interest.clone();
        log.set_filter(
            Filter::everything()
                .wanted_by(Arc::new(move |org, event_type| interest.get(&org).is_some_and(|i| i.wants(event_type)))),
        );
        Ok(())
    }

    /// Queues the pending deliveries of the store that are not queued yet (at start, and after a replay).
    async fn resume_pending(&mut self) -> Result<(), Error> {
        let mut after = None;
        loop {
            let rows = self.store.read(move |tx| webhooks::pending(tx, after, 5_000)).await?;
            let Some(last) = rows.last() else { break };
            // By event and delivery id: one event's deliveries to several endpoints may straddle two pages.
            after = Some((last.delivery.event_id, last.delivery.id));
            let more = rows.len() == 5_000;
            for p in rows {
                let Some(endpoint) = p.delivery.endpoint() else { continue };
                if self.queued.contains(&p.delivery.id) {
                    continue;
                }
                let due = p.delivery.next_attempt_at.map_or(0, Timestamp::millis);
                self.enqueue(Job {
                    id: p.delivery.id,
                    endpoint,
                    event: Arc::new(p.event),
                    attempts: p.delivery.attempts,
                    due,
                });
            }
            if !more {
                break;
            }
        }
        Ok(())
    }

    /// Moves each replayed delivery to the front of its lane, due now. The one a lane has in flight keeps its place
    /// (its outcome is on the way); a replayed delivery that is that one is attempted again after it.
    fn hasten(&mut self, ids: &HashSet<DeliveryId>) {
        if ids.is_empty() {
            return;
        }
        let now = self.clock.now().millis();
        // Replays are rare and few: a pass over the lanes finds them without an index kept for every delivery.
        let found: Vec<(LaneKey, DeliveryId)> = self
            .lanes
            .iter()
            .flat_map(|(key, lane)| lane.queue.iter().filter(|j| ids.contains(&j.id)).map(|j| (*key, j.id)))
            .collect();
        // Backwards, so that several replayed in one lane end up at its front in their order.
        for (key, id) in found.into_iter().rev() {
            let Some(lane) = self.lanes.get_mut(&key) else { continue };
            let Some(at) = lane.queue.iter().position(|j| j.id == id) else { continue };
            let front = usize::from(lane.busy);
            if at < front {
                continue;
            }
            let Some(mut job) = lane.queue.remove(at) else { continue };
            job.due = now;
            lane.queue.insert(front, job);
            if !lane.busy {
                // The heap entry of the head it replaces is stale now, and skipped.
                self.push_head(key, now);
            }
        }
    }

    /// Reads new durable events and records their deliveries.
    async fn fan_out(&mut self, log: &mut Follower) -> Result<(), Error> {
        loop {
            let before = log.place();
            let Batch { events, full, moved } = log.read().await?;
            // A change of endpoints acknowledged before these events committed must apply to them (a new
            // subscription hears them, a new secret signs them). The read filtered them with the endpoints known
            // when it began, so after a change they are read again with the new ones.
            if self.handle.targets_changed.swap(false, std::sync::atomic::Ordering::AcqRel) {
                self.load_targets(log).await?;
                log.rewind(before);
                continue;
            }
            let now = self.clock.now().millis();
            tracing::debug!(
                cursor = log.cursor(),
                read = events.len(),
                moved,
                orgs = self.interest.len(),
                "fan-out read"
            );
            if !moved {
                return Ok(());
            }
            let stored_cursor = log.safe_cursor();
            self.learn_channels(&events).await?;
            self.learn_bots(&events).await?;
            let mut deliveries = Vec::new();
            let mut jobs = HashMap::new();
            for event in events {
                let event = Arc::new(event);
                for endpoint in self.endpoints_for(&event) {
                    let d = NewDelivery {
                        id: DeliveryId::new(),
                        org_id: event.org_id,
                        endpoint,
                        event_id: event.id,
                        event_type: event.event_type.clone(),
                        conversation_id: event.conversation_id,
                    };
                    jobs.insert(d.id, event.clone());
                    deliveries.push(d);
                }
            }
            // With nothing to deliver, the cursor is saved now and then rather than on every read: a restart
            // reads those events again and finds nothing to deliver again.
            if deliveries.is_empty() && self.cursor_saved.elapsed() < CURSOR_SAVE_EVERY {
                if !full {
                    return Ok(());
                }
                continue;
            }
            let fresh = self
                .store
                .write(move |tx| webhooks::enqueue(tx, CURSOR, stored_cursor, deliveries, Timestamp::from_millis(now)))
                .await?;
            self.cursor_saved = std::time::Instant::now();
            for d in fresh {
                if let Some(event) = jobs.remove(&d.id) {
                    self.enqueue(Job { id: d.id, endpoint: d.endpoint, event, attempts: 0, due: now });
                }
            }
            self.start_due();
            if !full {
                return Ok(());
            }
        }
    }

    /// Finds the channels of conversations whose events may go to a channel's webhook.
    async fn learn_channels(&mut self, events: &[Event]) -> Result<(), Error> {
        let unknown: Vec<(OrgId, ConversationId)> = events
            .iter()
            .filter(|e| payload::is_activity(e))
            .filter_map(|e| Some((e.org_id, e.conversation_id?)))
            .filter(|(_, c)| self.channel_of.get(c).is_none())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let found = self.store.read(move |tx| conversations::channels_of(tx, &unknown)).await?;
        for (conversation, channel) in found {
            self.channel_of.insert(conversation, channel);
        }
        Ok(())
    }

    /// Finds the bots holding the conversations of the customers' messages read.
    async fn learn_bots(&mut self, events: &[Event]) -> Result<(), Error> {
        self.bot_of.clear();
        let asked: Vec<ConversationId> = events
            .iter()
            .filter(|e| self.bot_orgs.contains(&e.org_id) && channel::customer_message(e))
            .filter_map(|e| e.conversation_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if asked.is_empty() {
            return Ok(());
        }
        let found = self.store.read(move |tx| switchboard_store::bots::holders(tx, &asked)).await?;
        self.bot_of.extend(found);
        Ok(())
    }

    fn endpoints_for(&self, event: &Event) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if let Some(subs) = self.subscriptions_by_org.get(&event.org_id) {
            for endpoint in subs {
                if let Some(t) = self.targets.get(endpoint)
                    && wants(&t.target.event_types, &event.event_type)
                {
                    out.push(*endpoint);
                }
            }
        }
        if payload::is_activity(event)
            && let Some(channel) = event.conversation_id.and_then(|c| self.channel_of.get(&c))
        {
            let endpoint = Endpoint::Channel(*channel);
            if self.targets.get(&endpoint).and_then(|t| t.adapter.as_ref()).is_some_and(|a| a.wants(event)) {
                out.push(endpoint);
            }
        }
        if let Some(bot) = event.conversation_id.and_then(|c| self.bot_of.get(&c)) {
            let endpoint = Endpoint::Bot(*bot);
            if self.targets.get(&endpoint).and_then(|t| t.adapter.as_ref()).is_some_and(|a| a.wants(event)) {
                out.push(endpoint);
            }
        }
        out
    }

    fn enqueue(&mut self, job: Job) {
        let key = (job.endpoint, job.event.conversation_id);
        self.queued.insert(job.id);
        let lane = self.lanes.entry(key).or_default();
        let first = lane.queue.is_empty();
        let due = job.due;
        lane.queue.push_back(job);
        if first {
            self.push_head(key, due);
        }
    }

    fn push_head(&mut self, key: LaneKey, due: i64) {
        self.tiebreak += 1;
        self.heads.push(Reverse((due, self.tiebreak, key)));
    }

    fn next_due(&self) -> Option<Timestamp> {
        if self.in_flight >= self.config.concurrency {
            return None;
        }
        self.heads.peek().map(|Reverse((due, ..))| Timestamp::from_millis(*due))
    }

    /// Starts the lane heads that are due, up to the concurrency limit.
    fn start_due(&mut self) {
        let now = self.clock.now().millis();
        while self.in_flight < self.config.concurrency {
            let Some(Reverse((due, _, key))) = self.heads.peek().cloned() else { return };
            if due > now {
                return;
            }
            self.heads.pop();
            let Some(lane) = self.lanes.get_mut(&key) else { continue };
            let Some(head) = lane.queue.front() else { continue };
            if lane.busy || head.due != due {
                continue; // a stale heap entry
            }
            let rate = self.targets.get(&key.0).map_or(0, |t| t.rate);
            if rate > 0 {
                let bucket =
                    self.buckets.entry(key.0).or_insert(Bucket { milli_tokens: i64::from(rate) * 1_000, at: now });
                if let Err(next) = bucket.take(rate, now) {
                    // Over the endpoint's rate: the lane waits for its turn, its order kept.
                    if let Some(head) = lane.queue.front_mut() {
                        head.due = next;
                    }
                    self.push_head(key, next);
                    continue;
                }
            }
            lane.busy = true;
            self.in_flight += 1;
            let (id, number, endpoint, event) = (head.id, head.attempts + 1, head.endpoint, head.event.clone());
            let request = self.request(id, endpoint, &event);
            let channel_message =
                matches!(endpoint, Endpoint::Channel(_)) && event.kind() == Some(EventType::MessageCreated);
            let connector = self.connector.clone();
            let finished = self.finished_tx.clone();
            let (clock, http) = (self.clock.clone(), self.http.clone());
            let schedule = self.config.retry_schedule_seconds.clone();
            let jitter = self.config.jitter_percent;
            let allow = guard::Allow { loopback: self.config.allow_loopback, private: self.config.allow_private };
            let hosts = self.config.allowed_hosts.clone();
            tokio::spawn(async move {
                let at = clock.now();
                let started = std::time::Instant::now();
                // A Connector that refuses the app's token (401) gets a fresh one on the next attempt.
                let bot_app = match &request {
                    Ok(Prepared::Bot(reply)) => Some(reply.app_id.clone()),
                    _ => None,
                };
                let phone_provider = match &request {
                    Ok(Prepared::Phone(send)) => Some(send.provider.clone()),
                    _ => None,
                };
                // So does a Business Messages API that refuses the service account's.
                let google_account = match &request {
                    Ok(Prepared::Google(call)) => Some(call.account.clone()),
                    _ => None,
                };
                let request = match request {
                    Ok(Prepared::Now(request)) => Ok(request),
                    Ok(Prepared::Bot(reply)) => connector.request(reply).await,
                    Ok(Prepared::Phone(send)) => connector.phone_request(send).await,
                    Ok(Prepared::Google(call)) => connector.google_request(call).await,
                    // A request that cannot be built (the endpoint is gone, nothing to send) will not get better.
                    Err(reason) => Err(channel::Refusal { reason, permanent: true }),
                };
                let permanent = request.as_ref().is_err_and(|r| r.permanent);
                let client_errors_final = request.as_ref().is_ok_and(|r| r.client_errors_final);
                let mut outcome = match request {
                    Ok(request) => send(&http, request, allow, &hosts).await,
                    Err(refusal) => {
                        Outcome { status: None, error: Some(refusal.reason), response: None, retry_after: None }
                    }
                };
                // A provider's refusal is recorded in its own words, with its code: what the message's failure shows.
                if let (Some(provider), Some(status), Some(body)) = (&phone_provider, outcome.status, &outcome.response)
                    && !(200..300).contains(&status)
                    && let Some(words) = channel::phone_refusal(provider, status, body)
                {
                    outcome.error = Some(words);
                }
                if outcome.status == Some(401)
                    && let Some(app) = &bot_app
                {
                    connector.tokens.forget(app).await;
                }
                if outcome.status == Some(401)
                    && let Some(account) = &google_account
                {
                    connector.google_tokens.forget(account).await;
                }
                let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
                let gone = outcome.status == Some(410);
                let delivered = outcome.status.is_some_and(|s| (200..300).contains(&s));
                let (state, next) = if delivered {
                    (DeliveryState::Delivered, None)
                } else if gone
                    || permanent
                    || (client_errors_final
                        && outcome.status.is_some_and(|s| (400..500).contains(&s) && s != 408 && s != 429))
                    || usize::try_from(number).map_or(true, |n| n > schedule.len())
                {
                    (DeliveryState::Failed, None)
                } else {
                    let wait = retry_wait(&schedule, number, jitter, outcome.retry_after);
                    (DeliveryState::Pending, Some(clock.now().plus_millis(wait)))
                };
                let outcome_label = match (state, gone) {
                    (DeliveryState::Delivered, _) => "delivered",
                    (DeliveryState::Pending, _) => "retry",
                    (DeliveryState::Failed, true) => "gone",
                    (DeliveryState::Failed, false) => "dead_letter",
                };
                metrics::counter!("switchboard_webhook_attempts_total", "outcome" => outcome_label).increment(1);
                metrics::histogram!("switchboard_webhook_attempt_seconds").record(started.elapsed().as_secs_f64());
                let attempt = Attempt {
                    channel_message,
                    delivery_id: id,
                    number,
                    at,
                    status: outcome.status,
                    duration_ms,
                    error: outcome.error,
                    response: outcome.response,
                    state,
                    next_attempt_at: next,
                };
                let _ = finished.send(Finished { lane: key, attempt, gone });
            });
        }
    }

    /// Applies an attempt's outcome to its lane and hands it to the recorder.
    fn finish(&mut self, done: Finished) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Finished { lane: key, attempt, gone } = done;
        let now = self.clock.now().millis();
        if gone && let (Endpoint::Subscription(sub), _) = key {
            // Stop at once here; the store follows, and only then is the configuration read again.
            self.targets.remove(&key.0);
            for subs in self.subscriptions_by_org.values_mut() {
                subs.retain(|e| *e != key.0);
            }
            let dropped: Vec<LaneKey> = self.lanes.keys().filter(|k| k.0 == key.0 && **k != key).copied().collect();
            for lane_key in dropped {
                if let Some(lane) = self.lanes.get(&lane_key).filter(|l| !l.busy) {
                    let ids: Vec<DeliveryId> = lane.queue.iter().map(|j| j.id).collect();
                    for id in ids {
                        self.queued.remove(&id);
                    }
                    self.lanes.remove(&lane_key);
                }
            }
            let store = self.store.clone();
            let handle = self.handle.clone();
            let now = Timestamp::from_millis(now);
            tokio::spawn(async move {
                let result = store
                    .write(move |tx| {
                        webhooks::disable_subscription(tx, sub, "the receiver answered 410 Gone", now)?;
                        webhooks::fail_pending(tx, Endpoint::Subscription(sub), "the subscription is disabled", now)
                    })
                    .await;
                if let Err(e) = result {
                    tracing::error!(error = %e, "disabling a subscription after 410 failed");
                }
                handle.targets_changed();
            });
        }
        if let Some(lane) = self.lanes.get_mut(&key) {
            lane.busy = false;
            match attempt.state {
                DeliveryState::Pending => {
                    if let Some(head) = lane.queue.front_mut() {
                        head.attempts = attempt.number;
                        head.due = attempt.next_attempt_at.map_or(now, Timestamp::millis);
                        let due = head.due;
                        self.push_head(key, due);
                    }
                }
                DeliveryState::Delivered | DeliveryState::Failed => {
                    if let Some(done) = lane.queue.pop_front() {
                        self.queued.remove(&done.id);
                    }
                    if gone {
                        // Everything else queued for this endpoint fails with it (the store is updated apart).
                        for job in lane.queue.drain(..) {
                            self.queued.remove(&job.id);
                        }
                    }
                    match lane.queue.front() {
                        Some(next) => {
                            let due = next.due;
                            self.push_head(key, due);
                        }
                        None => {
                            self.lanes.remove(&key);
                        }
                    }
                }
            }
        }
        let _ = self.record_tx.send(attempt);
        metrics::gauge!("switchboard_webhook_queued_deliveries").set(self.queued.len() as f64);
        self.start_due();
    }

    fn request(&mut self, id: DeliveryId, endpoint: Endpoint, event: &Event) -> Result<Prepared, String> {
        let ready =
            self.targets.get(&endpoint).cloned().ok_or_else(|| "the endpoint is disabled or gone".to_string())?;
        let webhook_id = format!("msg_{}", id.to_string().replace('-', ""));
        if let (Some(channel::Adapter::Phone(provider)), Endpoint::Channel(channel_id)) = (&ready.adapter, endpoint) {
            return channel::phone_send(channel_id, event, provider.clone(), &self.links, webhook_id)
                .map(Prepared::Phone)
                .ok_or_else(|| "nothing for the customer's side in this event".to_string());
        }
        if let Some(channel::Adapter::Google { account }) = &ready.adapter {
            let outgoing = channel::google_outgoing(event, Some(&self.links), &webhook_id)
                .ok_or_else(|| "nothing for the customer's side in this event".to_string())?;
            let conversation = event.conversation_id.ok_or_else(|| "not a conversation's event".to_string())?;
            return Ok(Prepared::Google(channel::GoogleCall { conversation, outgoing, account: account.clone() }));
        }
        if let Some(channel::Adapter::BotFramework { app_id, tenant, secret }) = &ready.adapter {
            let outgoing = channel::outgoing(event, Some(&self.links))
                .ok_or_else(|| "nothing for the customer's side in this event".to_string())?;
            let conversation = event.conversation_id.ok_or_else(|| "not a conversation's event".to_string())?;
            return Ok(Prepared::Bot(channel::BotReply {
                conversation,
                outgoing,
                app_id: app_id.clone(),
                tenant: tenant.clone(),
                secret: secret.clone(),
                webhook_id,
            }));
        }
        let url = ready.url.clone().ok_or_else(|| "the endpoint has no URL".to_string())?;
        match endpoint {
            Endpoint::Subscription(_) => {
                let body = payload::subscription_body(event, &self.links);
                let timestamp = self.clock.now().millis() / 1000;
                let signature = sign::signature(&ready.keys, &webhook_id, timestamp, &body);
                Ok(Prepared::Now(Request {
                    url,
                    headers: vec![
                        ("webhook-id", webhook_id),
                        ("webhook-timestamp", timestamp.to_string()),
                        ("webhook-signature", signature),
                    ],
                    content_type: JSON,
                    client_errors_final: false,
                    body,
                }))
            }
            Endpoint::Channel(channel) => {
                let activity = payload::activity(event, &self.links)
                    .ok_or_else(|| "nothing for the customer's side in this event".to_string())?;
                let conversation = event.conversation_id.map(|c| c.to_string()).unwrap_or_default();
                let base = url.as_str().trim_end_matches('/');
                let url = reqwest::Url::parse(&format!("{base}/v3/conversations/{conversation}/activities"))
                    .map_err(|e| e.to_string())?;
                let token = self.channel_token(channel, ready.target.app_id.as_deref()).map_err(|e| e.to_string())?;
                Ok(Prepared::Now(Request {
                    url,
                    headers: vec![("authorization", format!("Bearer {token}")), ("webhook-id", webhook_id)],
                    content_type: JSON,
                    client_errors_final: false,
                    body: serde_json::to_vec(&activity).unwrap_or_default(),
                }))
            }
            Endpoint::Bot(bot) => {
                let app_id = ready.target.app_id.clone().unwrap_or_default();
                let service_url = format!("{}/bot-connector/", self.signer.issuer().trim_end_matches('/'));
                let activity = channel::bot_activity(event, &app_id, &service_url, &self.links)
                    .ok_or_else(|| "not a customer's message".to_string())?;
                let token = self.bot_token(bot, &app_id).map_err(|e| e.to_string())?;
                Ok(Prepared::Now(Request {
                    url,
                    headers: vec![("authorization", format!("Bearer {token}")), ("webhook-id", webhook_id)],
                    content_type: JSON,
                    client_errors_final: false,
                    body: serde_json::to_vec(&activity).unwrap_or_default(),
                }))
            }
        }
    }

    /// The bearer token on a call to a bot's messaging endpoint: signed by this server (the bot verifies it with
    /// its JWKS) for the bot's app id, as the Bot Framework Service signs for a bot's. Signed per call: bots are
    /// few and signing is cheap next to the call.
    fn bot_token(&self, bot: ClientId, app_id: &str) -> Result<String, Error> {
        let now = Timestamp::now().millis() / 1000;
        let ttl = i64::try_from(self.config.token_ttl_seconds).unwrap_or(300);
        let claims = BotClaims {
            iss: self.signer.issuer().to_string(),
            sub: format!("bot:{bot}"),
            aud: app_id.to_string(),
            iat: now,
            nbf: now - 30,
            exp: now + ttl,
            serviceurl: format!("{}/bot-connector/", self.signer.issuer().trim_end_matches('/')),
        };
        self.signer.sign(&claims)
    }

    /// The bearer token on a Messaging API webhook call: signed by this server (verify with its JWKS), for the
    /// channel's app id. Reused until half its life is gone.
    fn channel_token(&mut self, channel: ChannelId, app_id: Option<&str>) -> Result<String, Error> {
        // The wall clock, not the app's: the receiver checks the token's times against its own real clock.
        let now = Timestamp::now().millis() / 1000;
        if let Some((token, until)) = self.tokens.get(&channel)
            && *until > now
        {
            return Ok(token.clone());
        }
        let ttl = i64::try_from(self.config.token_ttl_seconds).unwrap_or(300);
        let claims = WebhookClaims {
            iss: self.signer.issuer().to_string(),
            sub: format!("channel:{channel}"),
            aud: app_id.map_or_else(|| channel.to_string(), str::to_string),
            iat: now,
            nbf: now - 30,
            exp: now + ttl,
            channel_id: channel.to_string(),
        };
        let token = self.signer.sign(&claims)?;
        self.tokens.insert(channel, (token.clone(), now + ttl / 2));
        Ok(token)
    }
}

#[derive(Serialize)]
struct WebhookClaims {
    iss: String,
    sub: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    channel_id: String,
}

#[derive(Serialize)]
struct BotClaims {
    iss: String,
    sub: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    /// The Bot Framework Service's claim naming where the bot answers.
    serviceurl: String,
}

/// A delivery's request: ready, or (Bot Framework) finished when it is attempted.
enum Prepared {
    Now(Request),
    Bot(channel::BotReply),
    /// A WhatsApp or SMS message: the customer's number is read when it is attempted.
    Phone(channel::PhoneSend),
    Google(channel::GoogleCall),
}

const JSON: &str = "application/json";

struct Request {
    url: reqwest::Url,
    headers: Vec<(&'static str, String)>,
    /// `application/json` but for form-encoded provider APIs (Twilio's).
    content_type: &'static str,
    /// A 4xx other than 408 and 429 is final: a provider API that refuses a send (a bad number, an opted-out
    /// recipient) refuses it again.
    client_errors_final: bool,
    body: Vec<u8>,
}

struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    response: Option<String>,
    retry_after: Option<i64>,
}

async fn send(http: &reqwest::Client, request: Request, allow: guard::Allow, hosts: &[String]) -> Outcome {
    if let Err(e) = guard::listed(&request.url, hosts).and_then(|()| guard::check_url(&request.url, allow)) {
        return Outcome { status: None, error: Some(e), response: None, retry_after: None };
    }
    let mut builder = http.post(request.url).header("content-type", request.content_type).body(request.body);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after =
                response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
            let text = response.text().await.unwrap_or_default();
            let excerpt: String = text.chars().take(RESPONSE_EXCERPT).collect();
            // The provider's own code for a refusal, where its answer has one, is what an administrator looks up:
            // Google's `{"error": {…}}`, else Twilio's `{"code", "message"}` and its like.
            let error = (!(200..300).contains(&status)).then(|| {
                match channel::provider_error(&text).or_else(|| provider_error(&text)) {
                    Some(said) => format!("the receiver answered {status}: {said}"),
                    None => format!("the receiver answered {status}"),
                }
            });
            Outcome { status: Some(status), error, response: Some(excerpt), retry_after }
        }
        Err(e) => {
            let reason = if e.is_timeout() { "timed out".to_string() } else { error_chain(&e) };
            Outcome { status: None, error: Some(reason), response: None, retry_after: None }
        }
    }
}

/// A provider's own error in its answer (Twilio's `{"code": 21211, "message": …}`, Meta's `{"error": {…}}`), so that
/// the failure shown on the message names the provider's code.
fn provider_error(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let e = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
    let code = e.get("code").filter(|c| c.is_number() || c.is_string())?;
    let code = code.as_str().map_or_else(|| code.to_string(), str::to_string);
    let message = e.get("message").and_then(|m| m.as_str()).unwrap_or_default();
    let said: String = format!("error {code} {message}").trim().chars().take(300).collect();
    Some(said)
}

/// An error with its causes, innermost last: the guard's refusal is several layers down a connect error.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// `Retry-After` in milliseconds: delay-seconds or an HTTP date. A date is the receiver's wall-clock time, so the
/// delay it means is measured against the wall clock, not the app's.
fn parse_retry_after(value: &str) -> Option<i64> {
    if let Ok(seconds) = value.trim().parse::<i64>() {
        return Some(seconds.max(0).saturating_mul(1000));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    Some((at.timestamp_millis() - Timestamp::now().millis()).max(0))
}

/// The wait before attempt `number + 1`: the schedule's step varied by up to ±`jitter` percent (so retries of
/// many deliveries spread out), and never shorter than the receiver's `Retry-After`.
fn retry_wait(schedule: &[u64], number: i64, jitter: u8, retry_after: Option<i64>) -> i64 {
    let index = usize::try_from(number - 1).unwrap_or(0).min(schedule.len().saturating_sub(1));
    let base = i64::try_from(schedule.get(index).copied().unwrap_or(60)).unwrap_or(60).saturating_mul(1000);
    let spread = base * i64::from(jitter) / 100;
    let varied = if spread > 0 { base + rand::thread_rng().gen_range(-spread..=spread) } else { base };
    varied.max(retry_after.unwrap_or(0)).max(0)
}

/// Whether a subscription's filter takes `event_type`: empty takes all; `conversation.*` takes a family.
pub(crate) fn wants(filter: &[String], event_type: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| matches_filter(f, event_type))
}
