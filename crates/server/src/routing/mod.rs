//! The routing runtime: one [`Engine`] per organization, rebuilt from the store at start and kept in step with it.
//!
//! The engine is pure (crates/domain/src/routing/engine); this module feeds it and writes down what it decides:
//!
//! - **Conversation changes come from the event log**, not from the handlers that made them: a follower reads the
//!   durable events after each commit (`conversation.created`, `conversation.state_changed`, setup changes) and
//!   calls the engine. So conversations started or answered through any surface (native API, Messaging API,
//!   channels) are routed, and nothing is routed that did not commit.
//! - **Routing's own inputs** (presence, capacity, skills, queue members and settings, rules, offer answers) come
//!   from the routing API, which writes the store first and then updates the engine under the organization's lock.
//! - **Time** comes from a timer task on `deps.clock` that runs `tick` at the engine's next deadline.
//!
//! Each [`RoutingEvent`] is written to the log (`routing.*`, in the conversation's log when it has one), offers to
//! the `offers` table. An offer is accepted through the conversation state machine (`conversations::apply` with
//! `Action::Accept`), whose state check is the final guard against two agents holding one conversation: the engine
//! only follows once the store has committed.
//!
//! Pending offers do not survive a restart: they are marked withdrawn and their conversations are offered again.
//!
//! **What routing is given.** Routing's code takes [`Deps`] (the store, the clock, the engines), not the server's
//! whole `AppState`: a worker states what it depends on, and a test can build one over a store and a manual clock
//! without starting a server. The server builds it once (`AppState::routing_deps`) and lends it to the tasks
//! `start` spawns and to the API handlers. A new worker (triggers, the dialer, a channel sender) follows the same
//! pattern: a `Deps` of its own, holding only what it reads.
//!
//! Where each part is:
//!
//! | file | what it does |
//! |---|---|
//! | `mod.rs` | [`Deps`], the organizations' engines ([`Routing`]), the follower that reads the log and dispatches |
//! | `org.rs` | one organization's state ([`OrgRouting`]) and its loading from the store |
//! | `setup.rs` | queues, workstreams and rules: refreshing them from the store, and the API that changes them |
//! | `arrivals.rs` | new conversations: classification with the workstream's rules, and queueing |
//! | `state_changes.rs` | following a committed conversation state change (accept, release, park, end, close) |
//! | `offers.rs` | an agent's offers and their answers (accept, reject) |
//! | `agents.rs` | agents' presence, capacity, skills, attributes and calendar, and what the API shows of them |
//! | `availability.rs` | queue position, average and estimated wait, and the availability actions (reference §1.8) |
//! | `persist.rs` | writing down what the engine decided: offers, log entries, presence (`Write`, `persist`) |
//! | `timer.rs` | the deadline timer: offer expiry, held positions, wait updates, overflow after a wait |
//! | `overflow.rs`, `wait.rs`, `position_log.rs` | overflow, wait estimates for customers, throttled position entries |
//! | `catalogue.rs` | custom presences and capacity profiles |
//! | `presence.rs` | the presence actions (`CCaaS_GetPresence`, `CCaaS_ModifyAgentPresence`), sign-in presence |
//! | `after_work.rs` | the after conversation work presence during wrap-up |
//! | `snapshot.rs` | what the supervisor dashboard shows live of queues and agents |
//! | `lifecycle.rs` | auto-close timers, transfers and picks |
//!
//! [`Engine`]: switchboard_domain::routing::engine::Engine
//! [`RoutingEvent`]: switchboard_domain::routing::engine::RoutingEvent

mod after_work;
mod agents;
mod arrivals;
mod availability;
pub mod bench;
pub mod catalogue;
pub mod engine_bench;
pub mod lifecycle;
mod offers;
mod org;
pub mod overflow;
mod persist;
pub mod position_log;
mod presence;
mod setup;
mod snapshot;
mod state_changes;
mod timer;
pub mod wait;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

pub use agents::{AgentStatus, presence_name};
pub use availability::{OverflowAnswer, QueueAvailability, QueuePosition};
pub use org::OrgRouting;
pub use presence::PresenceReport;
pub use setup::{calendar, check_rules, checked_calendar};
pub use snapshot::{AgentLive, PresenceCounts, QueueLive, Snapshot};
use switchboard_domain::{Error, event::EventType, ids::*};
use switchboard_store::{Store, model::Event, routing as store};
use tokio::sync::{Mutex, Notify};

use crate::{
    AppState,
    clock::Clock,
    leadership::Stop,
    outbox::{EventLog, Filter, Start},
};

/// What routing uses of the server, and nothing else. Cloning it is cheap (shared handles).
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<Store>,
    /// The time routing stamps and its deadlines run on (a manual clock in tests).
    pub clock: Clock,
    /// Every organization's engine.
    pub routing: Arc<Routing>,
}

impl Deps {
    /// Routing over this store and clock, with no organization loaded yet.
    pub fn new(store: Arc<Store>, clock: Clock) -> Self {
        Self { store, clock, routing: Arc::new(Routing::default()) }
    }
}

/// How long routing waits before it starts again after it failed.
const POLL: Duration = Duration::from_secs(1);
/// Events read per batch by the follower.
const BATCH: usize = 500;

/// Every organization's routing state.
#[derive(Default)]
pub struct Routing {
    orgs: std::sync::Mutex<HashMap<OrgId, Arc<Mutex<OrgRouting>>>>,
    /// Organizations whose engine was dropped after a write failed, for the timer to rebuild at once: their new
    /// conversations must not wait for the next event of the organization to be routed.
    rebuild: std::sync::Mutex<HashSet<OrgId>>,
    /// A deadline may have moved earlier, or an organization waits to be rebuilt.
    wake: Notify,
    /// Routing writes that did not commit since start.
    failed_writes: std::sync::atomic::AtomicU64,
}

/// Starts the follower and the timer. The returned tasks end when `stop` is requested, after what they hold (a
/// batch of the log, a pass of the timer), or when aborted.
pub fn start(app: AppState, stop: Stop) -> Vec<tokio::task::JoinHandle<()>> {
    let deps = app.routing_deps.clone();
    let follower = tokio::spawn({
        let (deps, log, mut stop) = (deps.clone(), app.log.clone(), stop.clone());
        async move {
            loop {
                match follow(deps.clone(), log.clone(), stop.clone()).await {
                    Ok(()) => return,
                    Err(e) => tracing::error!(error = %e, source = ?e.source, "routing stopped; restarting"),
                }
                tokio::select! {
                    () = stop.requested() => return,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
    });
    let timer = tokio::spawn(timer::timer(deps, stop.clone()));
    let mut tasks = vec![follower, timer];
    tasks.extend(lifecycle::start(app, stop));
    tasks
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(e.to_string())
}

impl Routing {
    /// The organization's routing state, loading it from the store on first use.
    pub async fn org(&self, deps: &Deps, org: OrgId) -> Result<Arc<Mutex<OrgRouting>>, Error> {
        if let Some(o) = self.orgs.lock().map_err(internal)?.get(&org) {
            return Ok(o.clone());
        }
        let loaded = Arc::new(Mutex::new(OrgRouting::empty(org)));
        let mut guard = loaded.clone().lock_owned().await;
        {
            let mut orgs = self.orgs.lock().map_err(internal)?;
            if let Some(o) = orgs.get(&org) {
                return Ok(o.clone());
            }
            orgs.insert(org, loaded.clone());
        }
        // Loaded under its own lock, so that callers who find it in the map wait for it to be complete.
        if let Err(e) = guard.load(deps).await {
            self.orgs.lock().map_err(internal)?.remove(&org);
            return Err(e);
        }
        Ok(loaded)
    }

    /// Drops an organization's engine after a routing write failed to commit (or new conversations could not be
    /// routed), and has the timer rebuild it from the store at once, instead of acting on decisions that were never
    /// written or leaving conversations unrouted until the organization's next event.
    fn forget(&self, org: OrgId) {
        tracing::error!(%org, "the organization's routing is dropped and rebuilt from the store");
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.remove(&org);
        }
        if let Ok(mut rebuild) = self.rebuild.lock() {
            rebuild.insert(org);
        }
        self.wake.notify_one();
    }

    /// Rebuilds the organizations dropped after a failed write (see [`Routing::forget`]); those that fail to load
    /// again are kept for the next try. True when some are left.
    async fn rebuild(&self, deps: &Deps) -> bool {
        let due: Vec<OrgId> = self.rebuild.lock().map(|mut r| r.drain().collect()).unwrap_or_default();
        let mut left = false;
        for org in due {
            if let Err(e) = self.org(deps, org).await {
                tracing::error!(%org, error = %e, "rebuilding the organization's routing failed; trying again");
                if let Ok(mut rebuild) = self.rebuild.lock() {
                    rebuild.insert(org);
                }
                left = true;
            }
        }
        left
    }

    /// Drops every organization's engine: this node stopped leading, and the next leader rebuilds them from the
    /// store. An engine kept here would act on a store that another node now changes.
    pub fn forget_all(&self) {
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.clear();
        }
        if let Ok(mut rebuild) = self.rebuild.lock() {
            rebuild.clear();
        }
    }

    /// How many routing writes failed to commit since start (each rebuilt its organization's routing).
    pub fn failed_writes(&self) -> u64 {
        self.failed_writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn write_failed(&self, org: OrgId) {
        self.failed_writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("switchboard_routing_failed_writes_total").increment(1);
        self.forget(org);
    }

    fn loaded(&self) -> Vec<Arc<Mutex<OrgRouting>>> {
        self.orgs.lock().map(|o| o.values().cloned().collect()).unwrap_or_default()
    }
}

/// Reads the log after each commit and routes what changed, until asked to stop (between batches).
async fn follow(app: Deps, log: EventLog, mut stop: Stop) -> Result<(), Error> {
    // Routing acts on new conversations, state changes and setup; messages, the bulk of the log, are passed over
    // without being parsed.
    let filter = Filter::everything().wanted_by(Arc::new(|_, event_type| relevant(event_type)));
    let mut log = log.follow(Start::End, filter, BATCH).await?;
    // Everything up to where the follower starts is in the snapshot each organization loads; later events may be
    // seen twice (in the snapshot and in the log), which the handlers tolerate by comparing with the engine's state.
    let orgs = app.store.read(store::org_ids).await?;
    for org in orgs {
        app.routing.org(&app, org).await?;
    }
    loop {
        let events = tokio::select! {
            biased;
            () = stop.requested() => return Ok(()),
            events = log.next() => events?,
        };
        let Some(events) = events else { return Ok(()) };
        handle(&app, events).await;
    }
}

/// Routes what a batch of events changed. Runs of new conversations of one organization are routed together;
/// everything else one by one, in log order.
async fn handle(deps: &Deps, batch: Vec<Event>) {
    let mut run: Option<(OrgId, Vec<ConversationId>)> = None;
    for event in batch {
        if event.kind() == Some(EventType::ConversationCreated)
            && let Some(id) = event.conversation_id
        {
            match &mut run {
                Some((org, ids)) if *org == event.org_id => ids.push(id),
                _ => {
                    if let Some((org, ids)) = run.replace((event.org_id, vec![id])) {
                        route_batch(deps, org, ids).await;
                    }
                }
            }
            continue;
        }
        if !relevant(&event.event_type) {
            // Routing's own events (and messages) do not break a run of arrivals.
            continue;
        }
        if let Some((org, ids)) = run.take() {
            route_batch(deps, org, ids).await;
        }
        if let Err(e) = on_event(deps, &event).await {
            tracing::warn!(error = %e, event = event.id, kind = %event.event_type, "routing skipped an event");
        }
    }
    if let Some((org, ids)) = run.take() {
        route_batch(deps, org, ids).await;
    }
}

async fn route_batch(deps: &Deps, org: OrgId, ids: Vec<ConversationId>) {
    let count = ids.len();
    let result = match deps.routing.org(deps, org).await {
        Ok(o) => o.lock().await.route_new_batch(deps, ids).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        // The conversations are committed and Open; rebuilding the organization from the store routes them (its
        // load routes every Open conversation that has no classification yet).
        tracing::warn!(error = %e, count, "routing new conversations failed; rebuilding the organization's routing");
        deps.routing.forget(org);
    }
}

/// The events routing follows.
fn relevant(kind: &str) -> bool {
    EventType::parse(kind).is_some_and(follows)
}

fn follows(kind: EventType) -> bool {
    matches!(
        kind,
        EventType::ConversationCreated
            | EventType::ConversationStateChanged
            | EventType::QueueCreated
            | EventType::WorkstreamCreated
            | EventType::WorkstreamUpdated
            | EventType::AgentSignedIn
    )
}

async fn on_event(deps: &Deps, event: &Event) -> Result<(), Error> {
    let Some(kind) = event.kind().filter(|k| follows(*k)) else {
        return Ok(());
    };
    if kind == EventType::AgentSignedIn {
        // Through the agent API's own path, which takes the organization's lock itself.
        let agent = event.data["agent_id"].as_str().and_then(|a| a.parse().ok());
        let agent = agent.ok_or_else(|| Error::internal("agent.signed_in without an agent"))?;
        return deps.routing.signed_in(deps, event.org_id, agent).await;
    }
    let org = deps.routing.org(deps, event.org_id).await?;
    let mut st = org.lock().await;
    match (kind, event.conversation_id) {
        (EventType::ConversationCreated, Some(id)) => st.route_new(deps, id).await,
        (EventType::ConversationStateChanged, Some(id)) => st.on_state_changed(deps, id, &event.data).await,
        _ => st.refresh_setup(deps).await,
    }
}

#[cfg(test)]
mod tests {
    use switchboard_domain::{Timestamp, role::Role, setup::PresenceName};
    use switchboard_store::StoreConfig;

    use super::*;
    use crate::{
        admin,
        clock::{Clock, ManualClock},
    };

    /// Routing needs only its `Deps`: a store and a clock, no server.
    #[tokio::test]
    async fn routing_runs_on_its_deps_without_a_server() {
        let dir = std::env::temp_dir().join(format!("switchboard-routing-deps-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&StoreConfig::Sqlite { path: dir.join("db.sqlite") }).await.unwrap();
        let clock = Clock::Manual(ManualClock::new(Timestamp::from_millis(1_744_720_620_000)));
        let deps = Deps::new(Arc::new(store), clock);
        let now = deps.clock.now();
        let (_, org) = admin::create_org(&deps.store, "Deps", now).await.unwrap();
        let (_, agent) =
            admin::create_user(&deps.store, org.org_id, "Agent", None, Role::Agent, None, now).await.unwrap();

        let status = deps
            .routing
            .update_agent(&deps, org.org_id, agent.user_id, |a| {
                a.capacity_units = 2;
                a.presence = PresenceName::Available;
            })
            .await
            .unwrap();

        assert_eq!((status.presence, status.capacity_units), (PresenceName::Available, 2));
        let again = deps.routing.agent(&deps, org.org_id, agent.user_id).await.unwrap();
        assert_eq!((again.presence, again.capacity_units), (PresenceName::Available, 2));
        drop(deps);
        std::fs::remove_dir_all(&dir).ok();
    }
}
