//! One hub per node: it reads each durable event of the log once and hands it to every connection that may see it,
//! through a bounded buffer per connection. A connection whose buffer is full is dropped from the hub and told why
//! (it resumes from the log); the hub never waits for one, so a slow consumer never slows the others.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Error, Timestamp,
    conversation::ConversationState,
    ids::{ConversationId, OrgId, UserId},
    setup::Distribution,
};
use switchboard_store::{
    Store,
    conversations::{self, ConversationFilter, Scope},
    model::Event,
    routing, setup,
};
use tokio::sync::{Mutex, broadcast, mpsc, watch};

use super::visibility::{Filter, Ownership, Seen, Viewer};
use crate::{
    attachments::Links,
    config::StreamConfig,
    outbox::{self, EventLog, Follower, Start},
};

const BATCH: usize = 1_000;
/// How long the hub waits before reading again after a read failed.
const RETRY: Duration = Duration::from_secs(1);
/// Conversations read per page when an organization's ownership table is loaded.
const LOAD_PAGE: usize = 1_000;

/// One frame for a connection; cheap to clone (the JSON is shared by every connection it goes to).
#[derive(Debug, Clone)]
pub enum Frame {
    /// An event of the log, with its id (what a resume names).
    Event { id: i64, json: Arc<str> },
    /// An ephemeral signal (typing, viewing): no id, never stored, never replayed.
    Signal(Arc<str>),
    /// The stream could not give every event since the resume id: the client reloads what it shows.
    Resync(Arc<str>),
}

impl Frame {
    /// An event's frame; a message's kept files are given by signed links, which a browser opens as it is.
    pub fn event(event: &Event, links: &Links) -> Self {
        let json = serde_json::to_string(&*links.signed_event(event)).unwrap_or_default();
        Frame::Event { id: event.id, json: json.into() }
    }

    pub fn resync(reason: &str) -> Self {
        Frame::Resync(serde_json::json!({ "type": "stream.resync", "reason": reason }).to_string().into())
    }

    pub fn json(&self) -> &str {
        match self {
            Frame::Event { json, .. } | Frame::Signal(json) | Frame::Resync(json) => json,
        }
    }
}

/// What a signal says someone is doing in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    Typing,
    Viewing,
}

impl SignalKind {
    pub const ALL: [SignalKind; 2] = [SignalKind::Typing, SignalKind::Viewing];

    pub fn event_type(self) -> &'static str {
        match self {
            SignalKind::Typing => "conversation.typing",
            SignalKind::Viewing => "conversation.viewing",
        }
    }
}

/// An ephemeral signal: delivered to the connections that may see its conversation, never stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signal {
    pub org_id: OrgId,
    pub conversation_id: ConversationId,
    pub kind: SignalKind,
    /// Who: `api_key:<id>`, `client:<id>`, … as in events.
    pub by: String,
    pub agent_id: Option<UserId>,
    pub at: Timestamp,
}

impl Signal {
    fn frame(&self) -> Frame {
        let json = serde_json::json!({
            "type": self.kind.event_type(),
            "conversation_id": self.conversation_id,
            "data": { "by": self.by, "agent_id": self.agent_id },
            "created_at": self.at,
        });
        Frame::Signal(json.to_string().into())
    }
}

/// Where signals travel between the nodes: the store's signal transport (PostgreSQL `NOTIFY` reaches every node;
/// on SQLite, one process, a broadcast). A signal is published as JSON and parsed back by each node's hub.
#[derive(Clone)]
pub struct Signals(Arc<Store>);

impl Signals {
    pub async fn publish(&self, signal: Signal) -> Result<(), Error> {
        let json = serde_json::to_string(&signal).map_err(Error::internal)?;
        self.0.publish_signal(json).await
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.0.signals()
    }
}

struct Subscriber {
    viewer: Viewer,
    filter: Filter,
    tx: mpsc::Sender<Frame>,
    lagging: Arc<AtomicBool>,
}

/// One organization's connections and the table that decides what each sees.
#[derive(Default)]
struct Org {
    table: Ownership,
    /// Connections that may see more than one conversation.
    subscribers: Vec<Subscriber>,
    /// Customers' connections (chat pages, Direct Line clients) by their one conversation: an event is offered to
    /// its conversation's customers only, not to each of the thousands connected.
    customers: HashMap<ConversationId, Vec<Subscriber>>,
}

impl Org {
    fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.customers.is_empty()
    }
}

#[derive(Default)]
struct State {
    /// The last log id the hub has read.
    cursor: i64,
    /// Ids below `cursor` the hub may still hand out (on PostgreSQL, ids of transactions that commit late).
    awaited: HashSet<i64>,
    orgs: HashMap<OrgId, Org>,
}

/// A new connection's place in the hub.
pub struct Registration {
    pub rx: mpsc::Receiver<Frame>,
    /// Set when the hub dropped the connection for falling behind.
    pub lagging: Arc<AtomicBool>,
    /// Events up to this id reach the connection only by replay; later ones come live.
    pub cursor: i64,
    /// Ids at or below `cursor` that come live if they ever commit, never by replay.
    pub awaited: HashSet<i64>,
    /// The part of the ownership table the connection's viewer depends on, as of `cursor`.
    pub table: Ownership,
    /// The viewer as the hub sees it (an agent with their queues as of `cursor`).
    pub viewer: Viewer,
}

pub struct Hub {
    state: Mutex<State>,
    store: Arc<Store>,
    pub config: StreamConfig,
    pub signals: Signals,
    /// Origins a browser may open the stream from.
    pub origins: Vec<String>,
    pub links: Links,
    closing: watch::Sender<bool>,
}

impl Hub {
    pub fn new(store: Arc<Store>, config: StreamConfig, public_url: &str, links: Links) -> Self {
        let mut origins: Vec<String> = config.allowed_origins.iter().map(|o| o.trim_end_matches('/').into()).collect();
        if let Ok(url) = url::Url::parse(public_url) {
            origins.push(url.origin().ascii_serialization());
        }
        Self {
            state: Mutex::new(State::default()),
            store: store.clone(),
            config,
            signals: Signals(store.clone()),
            origins,
            links,
            closing: watch::channel(false).0,
        }
    }

    /// Starts following the log from its newest event; connections made before see only what comes after.
    pub async fn start(self: &Arc<Self>, log: &EventLog) -> Result<tokio::task::JoinHandle<()>, Error> {
        let follower = log.follow(Start::End, outbox::Filter::everything(), BATCH).await?;
        self.state.lock().await.cursor = follower.cursor();
        let hub = self.clone();
        Ok(tokio::spawn(async move { hub.run(follower).await }))
    }

    /// Ends every connection (WebSockets with 1001, SSE streams at once): the server is shutting down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    pub async fn subscribe(&self, org: OrgId, viewer: Viewer, filter: Filter) -> Result<Registration, Error> {
        let mut state = self.state.lock().await;
        // Loaded while the hub waits, so that the table and the hub's cursor move together from here on; events the
        // load already saw are applied again, which leaves each conversation as the load found it.
        let (cursor, awaited) = (state.cursor, state.awaited.clone());
        let entry = match state.orgs.entry(org) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let table = load_ownership(&self.store, org).await?;
                entry.insert(Org { table, ..Org::default() })
            }
        };
        let (tx, rx) = mpsc::channel(self.config.send_buffer);
        let lagging = Arc::new(AtomicBool::new(false));
        let viewer = match viewer {
            Viewer::Agent { id, .. } => Viewer::Agent { id, queues: entry.table.queues_of(id) },
            other => other,
        };
        let table = entry.table.for_viewer(&viewer);
        let subscriber = Subscriber { viewer: viewer.clone(), filter, tx, lagging: lagging.clone() };
        match viewer {
            Viewer::Customer { conversation } => entry.customers.entry(conversation).or_default().push(subscriber),
            _ => entry.subscribers.push(subscriber),
        }
        metrics::gauge!("stream_connections").increment(1.0);
        Ok(Registration { rx, lagging, cursor, awaited, table, viewer })
    }

    /// The connections the hub serves now (those that ended are counted until the hub's next read).
    pub async fn connections(&self) -> usize {
        let state = self.state.lock().await;
        let open = |list: &Vec<Subscriber>| list.iter().filter(|s| !s.tx.is_closed()).count();
        state.orgs.values().map(|org| open(&org.subscribers) + org.customers.values().map(open).sum::<usize>()).sum()
    }

    /// Fans out the log's events as the follower takes them (it wakes on this node's commits and, on PostgreSQL,
    /// every node's, else looks every `cluster.log_poll_seconds`), and the signals as they come.
    async fn run(&self, mut log: Follower) {
        let mut signals = self.signals.subscribe();
        let mut closing = self.closing.subscribe();
        loop {
            tokio::select! {
                ready = log.wait() => {
                    if !ready {
                        return;
                    }
                    if let Err(e) = self.pump(&mut log).await {
                        tracing::warn!(error = %e, source = ?e.source, "the stream hub could not read the log");
                        tokio::select! {
                            () = tokio::time::sleep(RETRY) => {}
                            _ = closing.changed() => return,
                        }
                    }
                }
                signal = signals.recv() => match signal {
                    Ok(json) => match serde_json::from_str::<Signal>(&json) {
                        Ok(signal) => self.fan_out_signal(&signal).await,
                        Err(e) => tracing::warn!(error = %e, "the stream hub could not read a signal"),
                    },
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        metrics::counter!("stream_signals_dropped_total").increment(n);
                    }
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                _ = closing.changed() => return,
            }
        }
    }

    /// Reads one batch and fans it out.
    async fn pump(&self, log: &mut Follower) -> Result<(), Error> {
        // Held across the read, so that a connection registers between two batches, never inside one.
        let mut state = self.state.lock().await;
        state.sweep();
        let orgs: HashSet<OrgId> = state.orgs.keys().copied().collect();
        log.set_filter(outbox::Filter::everything().wanted_by(Arc::new(move |org, _| orgs.contains(&org))));
        let batch = log.read().await?;
        state.cursor = log.cursor();
        state.awaited = log.awaited().collect();
        for event in &batch.events {
            state.fan_out(event, &self.links);
        }
        Ok(())
    }

    async fn fan_out_signal(&self, signal: &Signal) {
        let mut state = self.state.lock().await;
        let Some(org) = state.orgs.get_mut(&signal.org_id) else { return };
        let seen = Seen::now(&org.table, signal.conversation_id);
        let frame = signal.frame();
        let customers = org.customers.get(&signal.conversation_id).into_iter().flatten();
        for s in org.subscribers.iter().chain(customers) {
            if s.filter.admits(signal.kind.event_type(), Some(signal.conversation_id))
                && seen.visible_to(&s.viewer, &serde_json::Value::Null)
            {
                // A signal is worth nothing late: one that does not fit is dropped, the connection kept.
                let _ = s.tx.try_send(frame.clone());
            }
        }
    }
}

impl State {
    /// Forgets the connections that have ended, and the organizations left without any.
    fn sweep(&mut self) {
        let sweep = |list: &mut Vec<Subscriber>| {
            let before = list.len();
            list.retain(|s| !s.tx.is_closed());
            metrics::gauge!("stream_connections").decrement((before - list.len()) as f64);
        };
        for org in self.orgs.values_mut() {
            sweep(&mut org.subscribers);
            org.customers.values_mut().for_each(sweep);
            org.customers.retain(|_, list| !list.is_empty());
        }
        self.orgs.retain(|_, org| !org.is_empty());
    }

    fn fan_out(&mut self, event: &Event, links: &Links) {
        let Some(org) = self.orgs.get_mut(&event.org_id) else { return };
        let regrouped = org.table.regroup(event);
        if !regrouped.is_empty() {
            let frame = Frame::resync("queues_changed");
            let table = &org.table;
            org.subscribers.retain_mut(|s| match &mut s.viewer {
                // What waits in the queues it joined came before it could see it: the client reloads.
                Viewer::Agent { id, queues } if regrouped.contains(id) => {
                    *queues = table.queues_of(*id);
                    s.send(frame.clone())
                }
                _ => true,
            });
        }
        let seen = org.table.observe(event);
        let mut frame = None;
        let mut offer = |s: &Subscriber| {
            if !s.filter.admits(&event.event_type, event.conversation_id) || !seen.visible_to(&s.viewer, &event.data) {
                return true;
            }
            s.send(frame.get_or_insert_with(|| Frame::event(event, links)).clone())
        };
        org.subscribers.retain(&mut offer);
        if let Some(customers) = event.conversation_id.and_then(|c| org.customers.get_mut(&c)) {
            customers.retain(offer);
        }
    }
}

impl Subscriber {
    /// Hands the connection a frame; false when it must be dropped from the hub (it fell behind, or ended).
    fn send(&self, frame: Frame) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lagging.store(true, Ordering::Release);
                metrics::counter!("stream_lagging_closed_total").increment(1);
                metrics::gauge!("stream_connections").decrement(1.0);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                metrics::gauge!("stream_connections").decrement(1.0);
                false
            }
        }
    }
}

/// Whose each of the organization's live conversations is, where the unassigned ones wait, the workstreams in
/// pick mode, and the agents' queues.
async fn load_ownership(store: &Store, org: OrgId) -> Result<Ownership, Error> {
    store
        .read(move |tx| {
            let mut table = Ownership::default();
            for member in routing::list_members(tx, org, None)? {
                table.members.entry(member.user_id).or_default().insert(member.queue_id);
            }
            let mut after = None;
            loop {
                let page = setup::list_workstreams(tx, org, after, LOAD_PAGE)?;
                table.pick.extend(page.iter().filter(|w| w.distribution == Distribution::Pick).map(|w| w.id));
                match page.last() {
                    Some(last) if page.len() == LOAD_PAGE => after = Some(last.id),
                    _ => break,
                }
            }
            for state in [
                ConversationState::Open,
                ConversationState::Active,
                ConversationState::Waiting,
                ConversationState::WrapUp,
            ] {
                let filter = ConversationFilter { state: Some(state), scope: Scope::All, ..Default::default() };
                let mut after = None;
                loop {
                    let page = conversations::list(tx, org, &filter, after, LOAD_PAGE)?;
                    for c in &page {
                        table.workstreams.insert(c.id, c.workstream_id);
                        match (c.agent_id, c.queue_id) {
                            (Some(agent), _) => {
                                table.owners.insert(c.id, agent);
                            }
                            (None, Some(queue)) if state == ConversationState::Open => {
                                table.waiting.insert(c.id, queue);
                            }
                            _ => {}
                        }
                    }
                    match page.last() {
                        Some(last) if page.len() == LOAD_PAGE => after = Some(last.id),
                        _ => break,
                    }
                }
            }
            Ok(table)
        })
        .await
}
