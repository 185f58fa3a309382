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
//! - **Time** comes from a timer task on `app.clock` that runs `tick` at the engine's next deadline.
//!
//! Each [`RoutingEvent`] is written to the log (`routing.*`, in the conversation's log when it has one), offers to
//! the `offers` table. An offer is accepted through the conversation state machine (`conversations::apply` with
//! `Action::Accept`), whose state check is the final guard against two agents holding one conversation: the engine
//! only follows once the store has committed.
//!
//! Pending offers do not survive a restart: they are marked withdrawn and their conversations are offered again.

pub mod bench;
pub mod catalogue;
pub mod engine_bench;
pub mod lifecycle;
pub mod overflow;
pub mod position_log;
pub mod wait;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use serde_json::json;
use switchboard_domain::{
    Code, Error, Timestamp,
    conversation::{Action, ConversationState},
    ids::*,
    routing::{
        agent_attributes::{AgentAttribute, engine_form},
        assignment_rules::{engine_attributes, item_attributes},
        calendar::{Calendar, CalendarSpec},
        engine::{
            AgentSettings, AgentSkill, AssignedBy, CustomPresenceId, Engine, EngineSettings, OfferId, OfferKind,
            Presence, PresenceReason, RoutingEvent, RoutingState, SkillId, SkillRequirement, TransferTarget, WorkItem,
        },
        rules::{Facts, Schema, Skill, Value, WorkstreamRules},
    },
    setup::{Distribution, PresenceName, QueueRouting, RoutingSettings},
};
use switchboard_store::{
    Committing, Tx,
    conversations::{self, ActionRequest, Actor},
    events,
    model::{Conversation, Event},
    routing::{self as store, AgentRouting, Classified, Offer, OfferState, RulesDocument},
    setup,
};
use tokio::sync::{Mutex, Notify};
use uuid::Uuid;

use crate::{
    AppState,
    outbox::{Filter, Start},
};

/// How long routing waits before it starts again after it failed.
const POLL: Duration = Duration::from_secs(1);
/// Events read per batch by the follower.
const BATCH: usize = 500;
/// The window the average wait is computed over (reference §1.8: the previous 48 hours).
const AVERAGE_WINDOW_MS: i64 = 48 * 3_600_000;
/// The conversations the average needs before it is shown (reference §1.8: a minimum of 50).
const AVERAGE_MIN_CONVERSATIONS: i64 = 50;

/// Every organization's routing state.
#[derive(Default)]
pub struct Routing {
    orgs: std::sync::Mutex<HashMap<OrgId, Arc<Mutex<OrgRouting>>>>,
    /// A deadline may have moved earlier.
    wake: Notify,
}

struct WorkstreamInfo {
    name: String,
    enabled: bool,
    fallback: Option<QueueId>,
    rules: WorkstreamRules,
    wait_notifications: switchboard_domain::setup::WaitNotifications,
}

struct QueueInfo {
    routing: QueueRouting,
    calendar: Calendar,
}

/// A write that commits before the routing writes of the same transaction.
type FirstWrite = Box<dyn FnOnce(&mut Tx<'_>) -> Result<(), Error> + Send>;

/// One organization's engine and what the runtime keeps beside it.
pub struct OrgRouting {
    org: OrgId,
    engine: Engine,
    workstreams: HashMap<WorkstreamId, WorkstreamInfo>,
    queues: HashMap<QueueId, QueueInfo>,
    /// Skill names (compared ignoring case) to the engine's ids.
    skills: BTreeMap<String, SkillId>,
    offer_uuid: HashMap<OfferId, Uuid>,
    offer_by_uuid: HashMap<Uuid, OfferId>,
    enqueued_at: HashMap<ConversationId, Timestamp>,
    /// The wait estimator and waiting customers' updates (`wait`).
    waits: wait::Waits,
    /// What overflow decided, written with the next persist (`overflow`).
    overflow: overflow::Pending,
    /// Waits in queue and their overflow deadlines (`overflow`, after queueing).
    queue_waits: overflow::QueueWaits,
    /// Each agent's saved routing row as this engine last wrote it. Writes are queued for commit after the lock is
    /// released, so a read of the store under the lock could miss the previous change and write it back over.
    saved_agents: HashMap<UserId, AgentRouting>,
    /// How often each waiting conversation's log records its position (`position_log`).
    positions: position_log::PositionLog,
}

/// Starts the follower and the timer; the returned tasks end with the server.
pub fn start(app: AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let follower = tokio::spawn({
        let app = app.clone();
        async move {
            loop {
                match follow(app.clone()).await {
                    Ok(()) => return,
                    Err(e) => tracing::error!(error = %e, source = ?e.source, "routing stopped; restarting"),
                }
                tokio::time::sleep(POLL).await;
            }
        }
    });
    let timer = tokio::spawn(timer(app.clone()));
    let mut tasks = vec![follower, timer];
    tasks.extend(lifecycle::start(app));
    tasks
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::internal(e.to_string())
}

impl Routing {
    /// The organization's routing state, loading it from the store on first use.
    pub async fn org(&self, app: &AppState, org: OrgId) -> Result<Arc<Mutex<OrgRouting>>, Error> {
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
        if let Err(e) = guard.load(app).await {
            self.orgs.lock().map_err(internal)?.remove(&org);
            return Err(e);
        }
        Ok(loaded)
    }

    /// Drops an organization's engine after a routing write failed to commit, so that the next use rebuilds it
    /// from the store instead of acting on decisions that were never written.
    fn forget(&self, org: OrgId) {
        tracing::error!(%org, "a routing write did not commit; the organization's routing is rebuilt from the store");
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.remove(&org);
        }
    }

    /// Drops every organization's engine: this node stopped leading, and the next leader rebuilds them from the
    /// store. An engine kept here would act on a store that another node now changes.
    pub fn forget_all(&self) {
        if let Ok(mut orgs) = self.orgs.lock() {
            orgs.clear();
        }
    }

    fn loaded(&self) -> Vec<Arc<Mutex<OrgRouting>>> {
        self.orgs.lock().map(|o| o.values().cloned().collect()).unwrap_or_default()
    }
}

/// Reads the log after each commit and routes what changed.
async fn follow(app: AppState) -> Result<(), Error> {
    // Routing acts on new conversations, state changes and setup; messages, the bulk of the log, are passed over
    // without being parsed.
    let filter = Filter::everything().wanted_by(Arc::new(|_, event_type| relevant(event_type)));
    let mut log = app.log.follow(Start::End, filter, BATCH).await?;
    // Everything up to where the follower starts is in the snapshot each organization loads; later events may be
    // seen twice (in the snapshot and in the log), which the handlers tolerate by comparing with the engine's state.
    let orgs = app.store.read(store::org_ids).await?;
    for org in orgs {
        app.routing.org(&app, org).await?;
    }
    while let Some(events) = log.next().await? {
        handle(&app, events).await;
    }
    Ok(())
}

/// Routes what a batch of events changed. Runs of new conversations of one organization are routed together;
/// everything else one by one, in log order.
async fn handle(app: &AppState, batch: Vec<Event>) {
    let mut run: Option<(OrgId, Vec<ConversationId>)> = None;
    for event in batch {
        if event.event_type == "conversation.created"
            && let Some(id) = event.conversation_id
        {
            match &mut run {
                Some((org, ids)) if *org == event.org_id => ids.push(id),
                _ => {
                    if let Some((org, ids)) = run.replace((event.org_id, vec![id])) {
                        route_batch(app, org, ids).await;
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
            route_batch(app, org, ids).await;
        }
        if let Err(e) = on_event(app, &event).await {
            tracing::warn!(error = %e, event = event.id, kind = %event.event_type, "routing skipped an event");
        }
    }
    if let Some((org, ids)) = run.take() {
        route_batch(app, org, ids).await;
    }
}

async fn route_batch(app: &AppState, org: OrgId, ids: Vec<ConversationId>) {
    let count = ids.len();
    let result = match app.routing.org(app, org).await {
        Ok(o) => o.lock().await.route_new_batch(app, ids).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, count, "routing skipped new conversations");
    }
}

/// The events routing follows.
fn relevant(kind: &str) -> bool {
    matches!(
        kind,
        "conversation.created"
            | "conversation.state_changed"
            | "queue.created"
            | "workstream.created"
            | "workstream.updated"
    )
}

async fn on_event(app: &AppState, event: &Event) -> Result<(), Error> {
    let kind = event.event_type.as_str();
    if !relevant(kind) {
        return Ok(());
    }
    let org = app.routing.org(app, event.org_id).await?;
    let mut st = org.lock().await;
    match (kind, event.conversation_id) {
        ("conversation.created", Some(id)) => st.route_new(app, id).await,
        ("conversation.state_changed", Some(id)) => st.on_state_changed(app, id, &event.data).await,
        _ => st.refresh_setup(app).await,
    }
}

/// What a conversation's state change asks of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    Close,
    /// Accepted for this agent without the engine's offer (the conversations API).
    Assign(UserId),
    Release,
    Park,
    End,
    Revive,
}

/// Runs the engines' deadlines on the app's clock.
async fn timer(app: AppState) {
    loop {
        let mut next: Option<Timestamp> = None;
        for org in app.routing.loaded() {
            let st = org.lock().await;
            let deadlines =
                [st.engine.next_deadline(), st.waits.next_sweep(), st.next_wait_overflow(), st.positions.next_due()];
            for at in deadlines.into_iter().flatten() {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        let clock = app.clock.clone();
        tokio::select! {
            () = async { match next { Some(at) => clock.sleep_until(at).await, None => std::future::pending().await } } => {}
            () = app.routing.wake.notified() => continue,
        }
        let now = app.clock.now();
        for org in app.routing.loaded() {
            let mut st = org.lock().await;
            if st.engine.next_deadline().is_some_and(|at| at <= now) {
                let events = st.engine.tick(now);
                if let Err(e) = st.persist(&app, events).await {
                    tracing::error!(error = %e, "recording routing deadlines failed");
                }
            }
            if st.positions.next_due().is_some_and(|at| at <= now) {
                let events = st.held_positions(now);
                if let Err(e) = st.persist(&app, events).await {
                    tracing::error!(error = %e, "recording queue positions failed");
                }
            }
            if st.waits.next_sweep().is_some_and(|at| at <= now) {
                st.sweep_waits(now);
                if let Err(e) = st.persist(&app, Vec::new()).await {
                    tracing::error!(error = %e, "recording wait updates failed");
                }
            }
            // After the engine's deadlines, so that a conversation an expired offer gave back is seen overdue now.
            if st.next_wait_overflow().is_some_and(|at| at <= now)
                && let Err(e) = st.overflow_waiting(&app, now).await
            {
                tracing::error!(error = %e, "overflow after queueing failed");
            }
        }
    }
}

fn engine_presence(p: PresenceName) -> Presence {
    match p {
        PresenceName::Available => Presence::Available,
        PresenceName::Busy => Presence::Busy,
        PresenceName::BusyDnd => Presence::BusyDnd,
        PresenceName::Away => Presence::Away,
        PresenceName::Offline => Presence::Offline,
        PresenceName::Inactive => Presence::Inactive,
    }
}

/// The API name of a built-in engine presence. A custom presence is named by its base, which only the engine's
/// agent view knows (see `AgentStatus`); here it reads as Away.
pub fn presence_name(p: Presence) -> PresenceName {
    match p {
        Presence::Available => PresenceName::Available,
        Presence::Busy => PresenceName::Busy,
        Presence::BusyDnd => PresenceName::BusyDnd,
        Presence::Away | Presence::Custom(_) => PresenceName::Away,
        Presence::Offline => PresenceName::Offline,
        Presence::Inactive => PresenceName::Inactive,
    }
}

/// Checks a queue's calendar as the API receives it.
pub fn calendar(routing: &QueueRouting) -> Result<Calendar, Error> {
    Ok(checked_calendar(routing.calendar.as_ref())?.unwrap_or_else(Calendar::always_open))
}

/// Checks a calendar sent in a `calendar` field (a queue's or an agent's), naming the entry under `calendar`.
pub fn checked_calendar(spec: Option<&CalendarSpec>) -> Result<Option<Calendar>, Error> {
    spec.map(|spec| Calendar::new(spec).map_err(|e| e.at("calendar"))).transpose()
}

/// An agent's saved working hours for the engine. A stored calendar was checked when saved; one that no longer
/// is valid counts as always working rather than stop the agent from being routed.
fn agent_calendar(agent: &AgentRouting) -> Option<Calendar> {
    checked_calendar(agent.calendar.as_ref()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, agent = %agent.user_id, "stored agent calendar refused; always working");
        None
    })
}

/// Checks rules as saved: they parse, type-check against the declared context variables, and name queues of the
/// organization.
pub fn check_rules(doc: &RulesDocument) -> Result<WorkstreamRules, Error> {
    let schema = Schema { context: doc.context_variables.clone(), contact_fields: BTreeMap::new() };
    let spec = switchboard_domain::routing::rules::WorkstreamRulesSpec {
        classification: doc.classification.clone(),
        route_to_queue: doc.route_to_queue.clone(),
    };
    WorkstreamRules::new(&spec, &schema)
}

/// An agent's routing state for the API: what is saved, and what routing sees now.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AgentStatus {
    pub user_id: UserId,
    /// The presence routing sees now; routing sets `busy` when capacity is full, `inactive` after a missed offer.
    pub presence: PresenceName,
    pub capacity_units: i64,
    pub used_units: u32,
    pub skills: Vec<store::AgentSkillEntry>,
    pub queue_ids: Vec<QueueId>,
    /// The custom presence the agent is in, if any; `presence` is its base.
    pub custom_presence: Option<catalogue::PresenceRef>,
    /// The capacity profiles the agent holds, with the items of each in use.
    pub capacity_profiles: Vec<catalogue::ProfileStatus>,
    /// What custom assignment rules read about the agent.
    pub attributes: BTreeMap<String, AgentAttribute>,
    /// When the agent works, for `is_working` rules; null: always.
    pub calendar: Option<CalendarSpec>,
}

/// Where a conversation is in its queue.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct QueuePosition {
    pub conversation_id: ConversationId,
    pub queue_id: Option<QueueId>,
    /// `open`, `offered`, `active`, `wrap_up`, `waiting`, or `none` when routing does not hold it.
    pub routing_state: String,
    /// 1-based, while it waits.
    pub position: Option<usize>,
    /// The queue's average wait over the last 48 hours, from conversations assigned by offer; null with fewer than
    /// 50 of them (reference §1.8).
    pub average_wait_seconds: Option<f64>,
    /// How long this conversation is likely to wait from now at its position (the estimator's median; see
    /// docs/routing.md); null when it does not wait or nobody staffs the queue.
    pub estimated_wait_seconds: Option<f64>,
}

/// What the availability actions need from routing.
#[derive(Debug, Clone)]
pub struct QueueAvailability {
    pub queue: QueueId,
    pub calendar: Calendar,
    pub agents: usize,
    pub waiting: usize,
    pub position: Option<usize>,
    pub average_wait_ms: Option<f64>,
    /// The estimated wait at `position` (or behind everyone waiting); `None` when nobody staffs the queue.
    pub estimated_wait_ms: Option<f64>,
}

fn routing_state(s: RoutingState) -> &'static str {
    match s {
        RoutingState::Open => "open",
        RoutingState::Offered => "offered",
        RoutingState::Active => "active",
        RoutingState::WrapUp => "wrap_up",
        RoutingState::Waiting => "waiting",
    }
}

impl OrgRouting {
    fn empty(org: OrgId) -> Self {
        Self {
            org,
            engine: Engine::new(EngineSettings::default()),
            workstreams: HashMap::new(),
            queues: HashMap::new(),
            skills: BTreeMap::new(),
            offer_uuid: HashMap::new(),
            offer_by_uuid: HashMap::new(),
            enqueued_at: HashMap::new(),
            waits: wait::Waits::default(),
            overflow: overflow::Pending::default(),
            queue_waits: overflow::QueueWaits::default(),
            saved_agents: HashMap::new(),
            positions: position_log::PositionLog::default(),
        }
    }

    fn skill(&mut self, name: &str) -> SkillId {
        let next = u128::try_from(self.skills.len()).unwrap_or(u128::MAX).saturating_add(1);
        *self.skills.entry(name.to_lowercase()).or_insert_with(|| SkillId(Uuid::from_u128(next)))
    }

    fn agent_skills(&mut self, skills: &[store::AgentSkillEntry]) -> Vec<AgentSkill> {
        skills.iter().map(|s| AgentSkill { skill: self.skill(&s.name), proficiency: s.proficiency }).collect()
    }

    /// Rebuilds the engine from the store.
    async fn load(&mut self, app: &AppState) -> Result<(), Error> {
        let org = self.org;
        let now = app.clock.now();
        let (agents, members, items) = app
            .store
            .write(move |tx| {
                store::withdraw_pending_offers(tx, org, now)?;
                Ok((store::list_agents(tx, org)?, store::list_members(tx, org, None)?, store::live_items(tx, org)?))
            })
            .await?;
        let mut profiles = self.load_catalogue(app).await?;
        self.refresh_setup(app).await?;
        self.load_wait_history(app, now).await?;
        let mut events = Vec::new();
        for a in &agents {
            let settings = AgentSettings {
                // Inactive is routing's to set; after a restart the agent is Away until they choose again.
                presence: match (a.presence, a.custom_presence_id) {
                    (_, Some(id)) => Presence::Custom(CustomPresenceId(id)),
                    (PresenceName::Inactive, None) => Presence::Away,
                    (p, None) => engine_presence(p),
                },
                units: u32::try_from(a.capacity_units).unwrap_or(0),
                skills: self.agent_skills(&a.skills),
                profiles: profiles.remove(&a.user_id).unwrap_or_default(),
                attributes: engine_form(&a.attributes),
                calendar: agent_calendar(a),
            };
            events.extend(self.engine.add_agent(a.user_id, settings, now)?);
        }
        self.saved_agents = agents.into_iter().map(|a| (a.user_id, a)).collect();
        for m in &members {
            events.extend(self.engine.join_queue(m.user_id, m.queue_id, now)?);
        }
        // Before any conversation is queued, so that none is offered to an agent whose period is already used.
        events.extend(self.restore_profile_use(app, None, now).await?);
        let wrap_up_since = app
            .store
            .read(move |tx| switchboard_store::timers::states_since(tx, org, ConversationState::WrapUp))
            .await?;
        let mut unclassified = Vec::new();
        for item in items {
            let Some(queue) = item.queue_id else { continue };
            if !self.workstreams.get(&item.workstream_id).is_some_and(|w| w.enabled) {
                continue;
            }
            let Some((severity, skills, enqueued_at)) = item.classified.clone() else {
                if item.state == ConversationState::Open {
                    unclassified.push(item.conversation_id);
                }
                continue;
            };
            let mut work = WorkItem::new(item.conversation_id, item.workstream_id, queue, enqueued_at);
            work.priority = i32::try_from(item.priority).unwrap_or(0);
            work.severity = i32::try_from(severity).unwrap_or(0);
            work.skills = self.requirements(&skills);
            work.channel = item.channel_type;
            work.attributes = engine_attributes(&item.attributes);
            self.enqueued_at.insert(item.conversation_id, enqueued_at);
            if item.state == ConversationState::Open {
                self.wait_started(item.conversation_id, item.queue_since.unwrap_or(enqueued_at));
            }
            let held = match item.state {
                ConversationState::Active => Some(RoutingState::Active),
                ConversationState::Waiting => Some(RoutingState::Waiting),
                ConversationState::WrapUp => Some(RoutingState::WrapUp),
                _ => None,
            };
            let result = match (held, item.agent_id) {
                (Some(RoutingState::WrapUp), Some(agent)) => {
                    self.ensure_agent(agent, now)?;
                    // Without a timer row (written after the commit), the wrap-up counts as starting now.
                    let since = wrap_up_since.get(&item.conversation_id).copied().unwrap_or(now);
                    self.engine.restore_wrap_up(work, agent, since, now)
                }
                (Some(state), Some(agent)) => {
                    self.ensure_agent(agent, now)?;
                    self.engine.restore(work, agent, state, now)
                }
                _ => self.engine.enqueue(work, now),
            };
            match result {
                Ok(e) => events.extend(e),
                Err(e) => tracing::warn!(error = %e, conversation = %item.conversation_id, "not restored to routing"),
            }
        }
        self.persist(app, events).await?;
        for id in unclassified {
            self.route_new(app, id).await?;
        }
        Ok(())
    }

    /// Reloads queues and workstreams (new ones, changed settings).
    async fn refresh_setup(&mut self, app: &AppState) -> Result<(), Error> {
        let org = self.org;
        let now = app.clock.now();
        let (queues, workstreams, rules) = app
            .store
            .read(move |tx| {
                Ok((
                    store::list_queues(tx, org)?,
                    setup::list_workstreams(tx, org, None, 100_000)?,
                    store::list_rules(tx, org)?,
                ))
            })
            .await?;
        let mut events = Vec::new();
        for q in queues {
            let calendar = calendar(&q.routing).unwrap_or_else(|e| {
                tracing::warn!(error = %e, queue = %q.id, "stored calendar refused; the queue counts as always open");
                Calendar::always_open()
            });
            let settings = self.queue_settings(q.priority, &q.routing);
            events.extend(self.engine.upsert_queue(q.id, settings, now));
            let changed = self.queues.get(&q.id).is_some_and(|old| old.routing.overflow != q.routing.overflow);
            self.queues.insert(q.id, QueueInfo { routing: q.routing, calendar });
            if changed {
                // Saved on another node: the waiting conversations' deadlines follow.
                self.reschedule_waits(q.id, now);
                app.routing.wake.notify_one();
            }
        }
        let rules: HashMap<WorkstreamId, RulesDocument> = rules.into_iter().collect();
        for w in workstreams {
            let rules = match rules.get(&w.id).map(check_rules).transpose() {
                Ok(r) => r.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %e, workstream = %w.id, "stored rules refused; using the fallback queue");
                    WorkstreamRules::default()
                }
            };
            let enabled =
                w.settings.routing.enabled && self.upsert_workstream(w.id, &w.settings.routing, w.distribution);
            self.workstreams.insert(
                w.id,
                WorkstreamInfo {
                    name: w.name,
                    enabled,
                    fallback: w.fallback_queue_id,
                    rules,
                    wait_notifications: w.settings.wait_notifications.clone(),
                },
            );
        }
        self.persist(app, events).await
    }

    fn upsert_workstream(&mut self, id: WorkstreamId, routing: &RoutingSettings, distribution: Distribution) -> bool {
        match routing.to_engine(distribution).and_then(|r| self.engine.upsert_workstream(id, r)) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, workstream = %id, "workstream routing settings refused; not routed");
                false
            }
        }
    }

    fn requirements(&mut self, skills: &[Skill]) -> Vec<SkillRequirement> {
        skills
            .iter()
            .map(|s| SkillRequirement { skill: self.skill(&s.name), min_proficiency: s.min_proficiency })
            .collect()
    }

    /// Makes sure routing knows the agent (agents created after start are added Offline, with no capacity).
    fn ensure_agent(&mut self, agent: UserId, now: Timestamp) -> Result<(), Error> {
        if self.engine.agent(agent).is_none() {
            self.engine.add_agent(agent, AgentSettings::default(), now)?;
        }
        Ok(())
    }

    /// Classifies a new conversation with its workstream's rules and puts it in its queue.
    async fn route_new(&mut self, app: &AppState, id: ConversationId) -> Result<(), Error> {
        self.route_new_batch(app, vec![id]).await
    }

    /// Classifies new conversations and queues them: one read and one write for the batch, so that the follower
    /// keeps up with arrivals on a database a round trip away.
    async fn route_new_batch(&mut self, app: &AppState, ids: Vec<ConversationId>) -> Result<(), Error> {
        let ids: Vec<ConversationId> = ids.into_iter().filter(|id| self.engine.conversation(*id).is_none()).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let org = self.org;
        let loaded = app
            .store
            .read(move |tx| {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    let c = conversations::get(tx, org, id)?;
                    if c.state != ConversationState::Open {
                        continue;
                    }
                    let context = conversations::context(tx, org, id)?;
                    let contact = c.contact_id.map(|k| switchboard_store::contacts::get(tx, org, k)).transpose()?;
                    let channel = setup::get_channel(tx, org, c.channel_id)?;
                    out.push((c, context, contact, channel.channel_type));
                }
                Ok(out)
            })
            .await?;
        let now = app.clock.now();
        let mut classified = Vec::with_capacity(loaded.len());
        let mut items = Vec::with_capacity(loaded.len());
        // Conversations of this batch already placed in each queue, for overflow's work item limits.
        let mut joining: HashMap<QueueId, usize> = HashMap::new();
        for (conversation, context, contact, channel_type) in loaded {
            let Some(ws) = self.workstreams.get(&conversation.workstream_id).filter(|w| w.enabled) else {
                continue;
            };
            let mut facts = Facts {
                channel: Some(channel_type.as_str().to_string()),
                workstream: Some(ws.name.clone()),
                context: context.iter().map(|v| (v.name.as_str().to_string(), Value::from(&v.value))).collect(),
                priority: Some(i32::try_from(conversation.priority).unwrap_or(0)),
                ..Facts::default()
            };
            facts.language = catalogue::language(&facts.context);
            if let Some(c) = &contact {
                let name = c.display_name();
                for (field, value) in
                    [("customer_id", &c.customer_id), ("email", &c.email), ("phone", &c.phone), ("name", &name)]
                {
                    if let Some(v) = value {
                        facts.contact.insert(field.to_string(), Value::Text(v.clone()));
                    }
                }
            }
            let Some(queue) = self.pick_queue(&conversation, &mut facts) else {
                tracing::warn!(conversation = %conversation.id, "no rule matched and no fallback queue; not routed");
                continue;
            };
            let queue = match self.place(queue, conversation.workstream_id, now, &joining) {
                overflow::Placement::Queue(q, steps) => {
                    self.overflow.moved(conversation.id, steps);
                    q
                }
                ended => {
                    self.end_overflowed(&conversation, contact.as_ref(), ended, now);
                    continue;
                }
            };
            *joining.entry(queue).or_default() += 1;
            let id = conversation.id;
            let mut work = WorkItem::new(id, conversation.workstream_id, queue, now);
            work.priority = facts.priority.unwrap_or(0);
            work.severity = facts.severity.unwrap_or(0);
            work.skills = self.requirements(&facts.skills);
            work.channel = channel_type;
            let attributes = item_attributes(&facts);
            work.attributes = engine_attributes(&attributes);
            classified.push(Classified {
                conversation_id: id,
                queue_id: queue,
                priority: i64::from(work.priority),
                severity: i64::from(work.severity),
                skills: facts.skills,
                enqueued_at: now,
                attributes,
            });
            items.push(work);
        }
        let mut events = Vec::new();
        for work in items {
            let id = work.conversation;
            self.enqueued_at.insert(id, now);
            // `classify` records it as the start of the wait in queue too.
            self.wait_started(id, now);
            match self.engine.enqueue(work, now) {
                Ok(e) => events.extend(e),
                Err(e) => tracing::warn!(error = %e, conversation = %id, "not queued"),
            }
        }
        // Classification is written with the routing events, in one transaction.
        self.persist_with(app, classified, events).await
    }

    /// Runs the rules; the chosen queue's overflow comes after (`place`).
    fn pick_queue(&self, conversation: &Conversation, facts: &mut Facts) -> Option<QueueId> {
        let ws = self.workstreams.get(&conversation.workstream_id)?;
        let queue = match ws.fallback {
            Some(fallback) => ws.rules.run(facts, conversation.id, fallback).route.queue,
            None => {
                // Without a fallback, only a matching rule can place it; any queue id works as the placeholder.
                let placeholder = QueueId::from(Uuid::nil());
                let q = ws.rules.run(facts, conversation.id, placeholder).route.queue;
                (q != placeholder).then_some(q)?
            }
        };
        Some(queue)
    }

    /// The queue a new conversation for `queue` would wait in after overflow (the last one reached, when
    /// overflow would end the conversation).
    fn overflow(&self, queue: QueueId, workstream: WorkstreamId, now: Timestamp) -> QueueId {
        self.place(queue, workstream, now, &HashMap::new()).queue()
    }

    /// Follows a committed state change.
    async fn on_state_changed(
        &mut self,
        app: &AppState,
        id: ConversationId,
        data: &serde_json::Value,
    ) -> Result<(), Error> {
        let Some(view) = self.engine.conversation(id) else {
            // Not routed (routing off for its workstream, or already closed here).
            return Ok(());
        };
        let action = data["action"].as_str().and_then(Action::parse);
        let to = data["to"].as_str().and_then(ConversationState::parse);
        let agent: Option<UserId> = data["agent"]["id"].as_str().and_then(|s| s.parse().ok());
        let op = match (action, to) {
            (_, Some(ConversationState::Closed)) => Follow::Close,
            (Some(Action::Accept), _) => match agent {
                Some(agent) if view.agent == Some(agent) && view.state == RoutingState::Active => return Ok(()),
                Some(agent) => Follow::Assign(agent),
                None => return Ok(()),
            },
            (Some(Action::Release), _) if view.state == RoutingState::Active => Follow::Release,
            (Some(Action::Park), _) if view.state == RoutingState::Active => Follow::Park,
            (Some(Action::End | Action::CustomerEnd), Some(ConversationState::WrapUp))
                if view.state == RoutingState::Active =>
            {
                Follow::End
            }
            (Some(Action::CustomerReply), _) if view.state == RoutingState::Waiting => Follow::Revive,
            _ => return Ok(()),
        };
        // The log is read behind the requests: a change that a later one has replaced (an accept, then a transfer
        // that routing applied itself) must not be replayed onto the engine. The store has the final word; a close
        // is final in both.
        if op != Follow::Close {
            let org = self.org;
            let current = app.store.read(move |tx| conversations::get(tx, org, id)).await?;
            if Some(current.state) != to || (matches!(op, Follow::Assign(_)) && current.agent_id != agent) {
                return Ok(());
            }
        }
        let now = app.clock.now();
        if op == Follow::Close {
            self.wait_over(id);
        }
        let result = match op {
            Follow::Close => self.engine.close(id, now),
            Follow::Assign(agent) => self.assign_by_hand(id, agent, view.offer, now),
            Follow::Release => self.engine.release(id, now),
            Follow::Park => self.engine.park(id, now),
            Follow::End => self.engine.end(id, now),
            Follow::Revive => self.engine.revive(id, now),
        };
        let events = match result {
            Ok(events) => events,
            Err(e) => {
                // The store has committed the change; routing must not keep offering the conversation.
                tracing::warn!(error = %e, conversation = %id, "routing could not follow a state change; removing it");
                self.engine.close(id, now).unwrap_or_default()
            }
        };
        self.persist(app, events).await
    }

    /// Someone accepted the conversation for `agent` without an offer to them (the conversations API): the engine
    /// follows by taking it from whoever had it and giving it to that agent.
    fn assign_by_hand(
        &mut self,
        id: ConversationId,
        agent: UserId,
        offer: Option<OfferId>,
        now: Timestamp,
    ) -> switchboard_domain::Result<Vec<RoutingEvent>> {
        self.ensure_agent(agent, now)?;
        if let Some(offer) = offer
            && self.engine.offer(offer).is_some_and(|o| o.agent == agent)
        {
            return self.engine.accept(offer, agent, now);
        }
        if let Some(view) = self.engine.conversation(id)
            && view.state == RoutingState::Waiting
            && view.agent == Some(agent)
        {
            // The agent who parked it took it back from their own list.
            return self.engine.resume(id, now);
        }
        let mut events = self.engine.transfer(id, TransferTarget::Agent(agent), now)?;
        let offer = self
            .engine
            .conversation(id)
            .and_then(|c| c.offer)
            .ok_or_else(|| Error::internal("a transfer to an agent makes an offer"))?;
        events.extend(self.engine.accept(offer, agent, now)?);
        Ok(events)
    }

    /// Writes what the engine reported: offers, the conversations' logs, agents' presence changes.
    async fn persist(&mut self, app: &AppState, events: Vec<RoutingEvent>) -> Result<(), Error> {
        self.persist_with(app, Vec::new(), events).await
    }

    async fn persist_with(
        &mut self,
        app: &AppState,
        classified: Vec<Classified>,
        events: Vec<RoutingEvent>,
    ) -> Result<(), Error> {
        self.submit(app, classified, events, None).await?.await
    }

    /// Queues what the engine reported (after `first`, in the same transaction) and returns the commit, so that a
    /// caller can release the organization's lock before it waits: on SQLite the next routing writes then join
    /// the same group commit, and still commit in the order the engine decided them.
    async fn submit(
        &mut self,
        app: &AppState,
        classified: Vec<Classified>,
        events: Vec<RoutingEvent>,
        first: Option<FirstWrite>,
    ) -> Result<Committing<()>, Error> {
        let now = app.clock.now();
        self.observe_waits(&events, now);
        let events = self.positions.admit(events, now);
        let notices = self.waits.take_notices();
        if first.is_none()
            && events.is_empty()
            && classified.is_empty()
            && notices.is_empty()
            && self.overflow.is_empty()
        {
            return Ok(Box::pin(std::future::ready(Ok(()))));
        }
        let org = self.org;
        let mut writes = Vec::with_capacity(events.len());
        for event in events {
            writes.push(self.describe(event, now));
        }
        // After describing: a wait that starts with these events is written with them.
        let overflowed = std::mem::take(&mut self.overflow);
        app.routing.wake.notify_one();
        app.store
            .submit(move |tx| {
                if let Some(first) = first {
                    first(tx)?;
                }
                for c in &classified {
                    store::classify(tx, org, c)?;
                }
                overflowed.write(tx, org, now)?;
                for w in writes {
                    match w.offer {
                        Some(OfferWrite::Insert(offer)) => store::insert_offer(tx, org, &offer)?,
                        Some(OfferWrite::Finish(id, state, waited)) => {
                            store::finish_offer(tx, org, id, state, waited, now)?;
                        }
                        None => {}
                    }
                    if let Some((agent, presence)) = w.presence {
                        store::set_presence(tx, org, agent, presence.as_str(), now)?;
                    }
                    events::record(tx, org, w.kind, w.conversation, &w.data, now)?;
                }
                wait::write(tx, org, &notices, now)
            })
            .await
    }

    /// Where the conversations whose position the log held back are now, for those still waiting elsewhere than
    /// the log last said.
    fn held_positions(&mut self, now: Timestamp) -> Vec<RoutingEvent> {
        let due = self.positions.take_due(now);
        due.into_iter()
            .filter_map(|conversation| {
                let (queue, position) = self.engine.position(conversation)?;
                (self.positions.written(conversation) != Some((queue, position)))
                    .then_some(RoutingEvent::PositionChanged { conversation, queue, position })
            })
            .collect()
    }

    fn describe(&mut self, event: RoutingEvent, now: Timestamp) -> Write {
        let finish = |this: &mut Self, offer: OfferId| {
            let id = this.offer_uuid.remove(&offer);
            if let Some(id) = id {
                this.offer_by_uuid.remove(&id);
            }
            id
        };
        match event {
            RoutingEvent::Queued { conversation, queue } => {
                self.wait_in(conversation, queue, now);
                Write::log("routing.queued", conversation, json!({ "queue_id": queue }))
            }
            RoutingEvent::Dequeued { conversation, queue } => {
                self.wait_paused(conversation);
                self.enqueued_at.remove(&conversation);
                Write::log("routing.dequeued", conversation, json!({ "queue_id": queue }))
            }
            RoutingEvent::OfferIssued { offer, conversation, agent, queue, expires_at, kind } => {
                self.wait_paused(conversation);
                let id = Uuid::now_v7();
                self.offer_uuid.insert(offer, id);
                self.offer_by_uuid.insert(id, offer);
                let kind = match kind {
                    OfferKind::Queue => "queue",
                    OfferKind::Affinity => "affinity",
                    OfferKind::Transfer => "transfer",
                };
                let mut w = Write::log(
                    "routing.offer_issued",
                    conversation,
                    json!({ "offer_id": id, "agent_id": agent, "queue_id": queue, "expires_at": expires_at, "kind": kind }),
                );
                w.offer = Some(OfferWrite::Insert(Offer {
                    id,
                    conversation_id: conversation,
                    agent_id: agent,
                    queue_id: queue,
                    state: OfferState::Pending,
                    expires_at,
                    created_at: now,
                    answered_at: None,
                }));
                w
            }
            RoutingEvent::OfferRejected { offer, conversation, agent }
            | RoutingEvent::OfferExpired { offer, conversation, agent }
            | RoutingEvent::OfferWithdrawn { offer, conversation, agent } => {
                let (kind, state) = match event {
                    RoutingEvent::OfferRejected { .. } => ("routing.offer_rejected", OfferState::Rejected),
                    RoutingEvent::OfferExpired { .. } => ("routing.offer_expired", OfferState::Expired),
                    _ => ("routing.offer_withdrawn", OfferState::Withdrawn),
                };
                let id = finish(self, offer);
                let mut w = Write::log(kind, conversation, json!({ "offer_id": id, "agent_id": agent }));
                w.offer = id.map(|id| OfferWrite::Finish(id, state, None));
                w
            }
            RoutingEvent::Assigned { conversation, agent, queue, by } => {
                // Counted in the queue that served it, from when it began waiting there: a conversation that
                // moved queues, or came back from an agent, did not wait since it first arrived.
                let since = self.waiting_since(conversation).or_else(|| self.enqueued_at.get(&conversation).copied());
                self.wait_over(conversation);
                let (how, offer) = match by {
                    AssignedBy::Offer(o) => ("offer", finish(self, o)),
                    AssignedBy::Pick => ("pick", None),
                    AssignedBy::Resume => ("resume", None),
                };
                let waited = since.map(|at| now.millis() - at.millis());
                let mut w = Write::log(
                    "routing.assigned",
                    conversation,
                    json!({ "agent_id": agent, "queue_id": queue, "by": how, "offer_id": offer, "waited_ms": waited }),
                );
                w.offer = offer.map(|id| OfferWrite::Finish(id, OfferState::Accepted, waited));
                w
            }
            RoutingEvent::CapacityReleased { conversation, agent } => {
                Write::log("routing.capacity_released", conversation, json!({ "agent_id": agent }))
            }
            RoutingEvent::PresenceChanged { agent, presence, reason } => {
                let reason_name = match reason {
                    PresenceReason::Agent => "agent",
                    PresenceReason::CapacityFull => "capacity_full",
                    PresenceReason::CapacityFreed => "capacity_freed",
                    PresenceReason::MissedOffer => "missed_offer",
                    PresenceReason::RejectedOffer => "rejected_offer",
                };
                let (name, custom) = match presence {
                    Presence::Custom(id) => (
                        self.engine.agent(agent).map_or(PresenceName::Away, |v| catalogue::base_name(v.base)),
                        Some(id.0),
                    ),
                    p => (presence_name(p), None),
                };
                let stays = matches!(reason, PresenceReason::MissedOffer | PresenceReason::RejectedOffer);
                if let Some(saved) = self.saved_agents.get_mut(&agent).filter(|_| stays) {
                    saved.presence = name;
                }
                Write {
                    kind: "agent.presence_changed",
                    conversation: None,
                    data: json!({ "agent_id": agent, "presence": name, "custom_presence_id": custom, "reason": reason_name }),
                    offer: None,
                    // Capacity-driven Busy is transient; a missed or rejected offer's presence stays until changed.
                    presence: stays.then_some((agent, name)),
                }
            }
            RoutingEvent::PositionChanged { conversation, queue, position } => {
                Write::log("routing.position_changed", conversation, json!({ "queue_id": queue, "position": position }))
            }
        }
    }
}

enum OfferWrite {
    Insert(Offer),
    Finish(Uuid, OfferState, Option<i64>),
}

struct Write {
    kind: &'static str,
    conversation: Option<ConversationId>,
    data: serde_json::Value,
    offer: Option<OfferWrite>,
    presence: Option<(UserId, PresenceName)>,
}

impl Write {
    fn log(kind: &'static str, conversation: ConversationId, data: serde_json::Value) -> Self {
        Self { kind, conversation: Some(conversation), data, offer: None, presence: None }
    }
}

/// The routing API's operations: each writes the store, then moves the engine, under the organization's lock.
impl Routing {
    pub async fn agent(&self, app: &AppState, org: OrgId, agent: UserId) -> Result<AgentStatus, Error> {
        let (saved, custom, profiles) = app.store.read(move |tx| catalogue::saved_agent(tx, org, agent)).await?;
        let o = self.org(app, org).await?;
        let view = {
            let mut st = o.lock().await;
            st.ensure_agent(agent, app.clock.now())?;
            st.engine.agent(agent).ok_or_else(|| Error::not_found(Code::AgentNotFound))?
        };
        Ok(agent_status(saved, custom, &profiles, view))
    }

    /// Saves and applies an agent's presence, capacity, skills, attributes and calendar (whichever the caller
    /// changed).
    pub async fn update_agent(
        &self,
        app: &AppState,
        org: OrgId,
        agent: UserId,
        change: impl FnOnce(&mut AgentRouting) + Send + 'static,
    ) -> Result<AgentStatus, Error> {
        let o = self.org(app, org).await?;
        let committing = {
            let mut st = o.lock().await;
            let now = app.clock.now();
            // The agent's row and what routing decides from it commit together, and the lock is released before
            // the commit: agents coming online together share group commits instead of queueing one by one.
            // The engine holds what the copy says, so only what the change touches is applied: each setter runs
            // an assignment cycle, and a presence change need not run four. An agent the copy lacks gets it all.
            let before = st.saved_agents.get(&agent).cloned();
            let mut saved = match &before {
                Some(saved) => saved.clone(),
                None => app.store.read(move |tx| store::get_agent(tx, org, agent)).await?,
            };
            change(&mut saved);
            st.ensure_agent(agent, now)?;
            let b = before.as_ref();
            let attributes = b.is_none_or(|b| b.attributes != saved.attributes).then(|| engine_form(&saved.attributes));
            let calendar = match b.is_none_or(|b| b.calendar != saved.calendar) {
                true => Some(checked_calendar(saved.calendar.as_ref())?),
                false => None,
            };
            let units = b.is_none_or(|b| b.capacity_units != saved.capacity_units).then_some(saved.capacity_units);
            let skills = b.is_none_or(|b| b.skills != saved.skills).then(|| st.agent_skills(&saved.skills));
            let wanted = match saved.custom_presence_id {
                Some(id) => Presence::Custom(CustomPresenceId(id)),
                None => engine_presence(saved.presence),
            };
            let moved = (|| {
                let mut events = Vec::new();
                // What rules read about the agent first, so that the cycles capacity and presence run see it.
                if let Some(attributes) = attributes {
                    events.extend(st.engine.set_attributes(agent, attributes, now)?);
                }
                if let Some(calendar) = calendar {
                    events.extend(st.engine.set_calendar(agent, calendar, now)?);
                }
                if let Some(units) = units {
                    events.extend(st.engine.set_unit_capacity(agent, units, now)?);
                }
                if let Some(skills) = skills {
                    events.extend(st.engine.set_skills(agent, skills, now)?);
                }
                if st.engine.agent(agent).map(|a| a.presence) != Some(wanted) {
                    events.extend(st.engine.set_presence(agent, wanted, now)?);
                }
                Ok::<_, Error>(events)
            })();
            match moved {
                Ok(events) => {
                    st.saved_agents.insert(agent, saved.clone());
                    // Routing's copy holds only the organization's agents (read with their role checked).
                    let known = before.is_some();
                    let row = saved.clone();
                    let write: FirstWrite = Box::new(move |tx| match known {
                        true => store::save_agent(tx, org, &row, now),
                        false => store::put_agent(tx, org, &row, now).map(drop),
                    });
                    let commit = st.submit(app, Vec::new(), events, Some(write)).await;
                    // The answer is what this change left, read now rather than under the lock once more after
                    // the commit: 64 agents coming online at once each queued for it twice.
                    let view = st.engine.agent(agent).ok_or_else(|| Error::not_found(Code::AgentNotFound));
                    commit.and_then(|c| view.map(|v| (c, v, saved)))
                }
                Err(e) => Err(e),
            }
        };
        // A refusal after the engine began to change (skills after capacity), or a commit that failed, leaves the
        // engine ahead of the store: it is rebuilt from the store on next use.
        let (view, saved) = match committing {
            Ok((commit, view, saved)) => commit.await.map(|()| (view, saved)),
            Err(e) => Err(e),
        }
        .inspect_err(|_| self.forget(org))?;
        let read = saved.clone();
        let (custom, profiles) = app.store.read(move |tx| catalogue::presence_and_profiles(tx, org, &read)).await?;
        Ok(agent_status(saved, custom, &profiles, view))
    }

    pub async fn set_members(
        &self,
        app: &AppState,
        org: OrgId,
        queue: QueueId,
        users: Vec<UserId>,
    ) -> Result<Vec<store::Member>, Error> {
        let o = self.org(app, org).await?;
        let mut st = o.lock().await;
        let now = app.clock.now();
        let (before, after) = app
            .store
            .write(move |tx| {
                let before = store::list_members(tx, org, Some(queue))?;
                Ok((before, store::set_members(tx, org, queue, &users, now)?))
            })
            .await?;
        if !st.queues.contains_key(&queue) {
            st.refresh_setup(app).await?;
        }
        for m in before.iter().filter(|m| !after.iter().any(|a| a.user_id == m.user_id)) {
            st.engine.leave_queue(m.user_id, queue)?;
        }
        let mut events = Vec::new();
        for m in &after {
            st.ensure_agent(m.user_id, now)?;
            events.extend(st.engine.join_queue(m.user_id, queue, now)?);
        }
        st.persist(app, events).await?;
        Ok(after)
    }

    pub async fn set_queue_routing(
        &self,
        app: &AppState,
        org: OrgId,
        queue: QueueId,
        change: impl FnOnce(&QueueRouting) -> Result<QueueRouting, Error> + Send + 'static,
    ) -> Result<store::QueueEntry, Error> {
        let o = self.org(app, org).await?;
        let mut st = o.lock().await;
        let now = app.clock.now();
        // The change reads the routing in the transaction that writes it, so concurrent changes cannot lose one.
        let (entry, changed) = app
            .store
            .write(move |tx| {
                store::update_queue_routing(tx, org, queue, now, |tx, current| {
                    catalogue::check_queue_routing(tx, org, queue, change(current)?)
                })
            })
            .await?;
        if !changed {
            return Ok(entry);
        }
        let routing = entry.routing.clone();
        let calendar = calendar(&routing)?;
        let settings = st.queue_settings(entry.priority, &routing);
        let events = st.engine.upsert_queue(queue, settings, now);
        st.queues.insert(queue, QueueInfo { routing, calendar });
        st.reschedule_waits(queue, now);
        // A deadline may have moved earlier without anything else to write.
        app.routing.wake.notify_one();
        st.persist(app, events).await?;
        Ok(entry)
    }

    pub async fn put_rules(
        &self,
        app: &AppState,
        org: OrgId,
        workstream: WorkstreamId,
        doc: RulesDocument,
    ) -> Result<RulesDocument, Error> {
        let rules = check_rules(&doc)?;
        let queues = rules.route_to_queue().queues();
        let o = self.org(app, org).await?;
        let mut st = o.lock().await;
        let now = app.clock.now();
        let saved = doc.clone();
        app.store
            .write(move |tx| {
                setup::get_workstream(tx, org, workstream)?;
                for (field, q) in &queues {
                    setup::get_queue(tx, org, *q).map_err(|_| {
                        Error::field(Code::InvalidRule, field, format!("`{field}`: no queue {q} in this organization"))
                    })?;
                }
                store::put_rules(tx, org, workstream, &saved, now)
            })
            .await?;
        match st.workstreams.get_mut(&workstream) {
            Some(w) => w.rules = rules,
            None => st.refresh_setup(app).await?,
        }
        Ok(doc)
    }

    /// The agent's pending offers.
    pub async fn offers(&self, app: &AppState, org: OrgId, agent: UserId) -> Result<Vec<Offer>, Error> {
        app.store
            .read(move |tx| {
                store::get_agent(tx, org, agent)?;
                store::agent_offers(tx, org, agent, false, 100)
            })
            .await
    }

    /// The agent accepts their offer: the conversation becomes Active with them through the state machine, then
    /// the engine follows.
    pub async fn accept(
        &self,
        app: &AppState,
        org: OrgId,
        agent: UserId,
        offer: Uuid,
        label: String,
    ) -> Result<Conversation, Error> {
        let o = self.org(app, org).await?;
        let mut st = o.lock().await;
        let now = app.clock.now();
        let (engine_offer, conversation) = st.live_offer(app, org, agent, offer, now).await?;
        let actor = Actor { label, agent: Some(agent) };
        let req = ActionRequest { action: Action::Accept, agent_id: Some(agent), reason: None };
        let after = app.store.write(move |tx| conversations::apply(tx, org, conversation, &actor, req, now)).await?;
        let events = st.engine.accept(engine_offer, agent, now)?;
        st.persist(app, events).await?;
        Ok(after)
    }

    pub async fn reject(&self, app: &AppState, org: OrgId, agent: UserId, offer: Uuid) -> Result<(), Error> {
        let o = self.org(app, org).await?;
        let mut st = o.lock().await;
        let now = app.clock.now();
        let (engine_offer, _) = st.live_offer(app, org, agent, offer, now).await?;
        let events = st.engine.reject(engine_offer, agent, now)?;
        st.persist(app, events).await
    }

    pub async fn position(&self, app: &AppState, org: OrgId, id: ConversationId) -> Result<QueuePosition, Error> {
        let conversation = app.store.read(move |tx| conversations::get(tx, org, id)).await?;
        let o = self.org(app, org).await?;
        let (view, position, estimate) = {
            let st = o.lock().await;
            let view = st.engine.conversation(id);
            let position = st.engine.position(id).map(|p| p.1);
            let estimate = match (&view, position) {
                (Some(v), Some(p)) => st.estimate_wait(v.queue, v.workstream, p, app.clock.now()),
                _ => None,
            };
            (view, position, estimate)
        };
        let queue = view.as_ref().map(|v| v.queue).or(conversation.queue_id);
        let average = match queue {
            Some(q) => average_wait(app, org, q).await?,
            None => None,
        };
        Ok(QueuePosition {
            conversation_id: id,
            queue_id: queue,
            routing_state: view.map_or("none", |v| routing_state(v.state)).to_string(),
            position,
            average_wait_seconds: average.map(|ms| ms / 1000.0),
            estimated_wait_seconds: estimate.map(|d| d.as_secs_f64().round()),
        })
    }

    /// The queue a conversation with this context would go to, and how staffed it is (before a conversation).
    pub async fn availability_before(
        &self,
        app: &AppState,
        org: OrgId,
        workstream: WorkstreamId,
        context: BTreeMap<String, Value>,
    ) -> Result<QueueAvailability, Error> {
        let ws = app.store.read(move |tx| setup::get_workstream(tx, org, workstream)).await?;
        let o = self.org(app, org).await?;
        let (queue, calendar, agents, waiting, estimate) = {
            let st = o.lock().await;
            let info = st.workstreams.get(&workstream);
            let mut facts = Facts { channel: None, workstream: Some(ws.name.clone()), context, ..Facts::default() };
            let fallback = ws
                .fallback_queue_id
                .ok_or_else(|| Error::new(Code::QueueNotFound, "the workstream has no fallback queue to route to"))?;
            let routed = match info {
                Some(w) => w.rules.run(&mut facts, ConversationId::new(), fallback).route.queue,
                None => fallback,
            };
            let queue = st.overflow(routed, workstream, app.clock.now());
            let calendar = st.queues.get(&queue).map_or_else(Calendar::always_open, |q| q.calendar.clone());
            let (agents, waiting) = match st.engine.availability(queue, workstream) {
                Ok(a) => (a.agents, a.waiting),
                // A workstream routing does not run (routing off) has no agents offered work.
                Err(_) => (0, 0),
            };
            let estimate = st.estimate_wait(queue, workstream, waiting + 1, app.clock.now());
            (queue, calendar, agents, waiting, estimate)
        };
        let average_wait_ms = average_wait(app, org, queue).await?;
        let estimated_wait_ms = estimate.map(|d| d.as_secs_f64() * 1000.0);
        Ok(QueueAvailability { queue, calendar, agents, waiting, position: None, average_wait_ms, estimated_wait_ms })
    }

    /// The conversation's queue and its place in it (during a conversation).
    pub async fn availability_for(
        &self,
        app: &AppState,
        org: OrgId,
        id: ConversationId,
    ) -> Result<QueueAvailability, Error> {
        let conversation = app.store.read(move |tx| conversations::get(tx, org, id)).await?;
        let o = self.org(app, org).await?;
        let (queue, calendar, agents, waiting, position, estimate) = {
            let st = o.lock().await;
            let queue = st
                .engine
                .conversation(id)
                .map(|v| v.queue)
                .or(conversation.queue_id)
                .ok_or_else(|| Error::new(Code::QueueNotFound, "the conversation is in no queue"))?;
            let calendar = st.queues.get(&queue).map_or_else(Calendar::always_open, |q| q.calendar.clone());
            let (agents, waiting) =
                st.engine.availability(queue, conversation.workstream_id).map_or((0, 0), |a| (a.agents, a.waiting));
            let position = st.engine.position(id).map(|p| p.1);
            let at = position.unwrap_or(waiting + 1);
            let estimate = st.estimate_wait(queue, conversation.workstream_id, at, app.clock.now());
            (queue, calendar, agents, waiting, position, estimate)
        };
        let average_wait_ms = average_wait(app, org, queue).await?;
        let estimated_wait_ms = estimate.map(|d| d.as_secs_f64() * 1000.0);
        Ok(QueueAvailability { queue, calendar, agents, waiting, position, average_wait_ms, estimated_wait_ms })
    }
}

/// The queue's average wait over the window, or `None` below the reference's minimum of conversations.
async fn average_wait(app: &AppState, org: OrgId, queue: QueueId) -> Result<Option<f64>, Error> {
    let since = app.clock.now().plus_millis(-AVERAGE_WINDOW_MS);
    let (count, average) = app.store.read(move |tx| store::average_wait(tx, org, queue, since)).await?;
    Ok(average.filter(|_| count >= AVERAGE_MIN_CONVERSATIONS))
}

impl OrgRouting {
    /// The engine's offer for `offer`, if it is the agent's and still open; otherwise why not, from the store.
    async fn live_offer(
        &self,
        app: &AppState,
        org: OrgId,
        agent: UserId,
        offer: Uuid,
        now: Timestamp,
    ) -> Result<(OfferId, ConversationId), Error> {
        if let Some(&id) = self.offer_by_uuid.get(&offer)
            && let Some(view) = self.engine.offer(id)
        {
            if view.agent != agent {
                return Err(Error::not_found(Code::OfferNotFound));
            }
            if now >= view.expires_at {
                return Err(Error::new(Code::OfferExpired, "the offer has expired"));
            }
            return Ok((id, view.conversation));
        }
        let stored = app.store.read(move |tx| store::get_offer(tx, org, offer)).await?;
        if stored.agent_id != agent {
            return Err(Error::not_found(Code::OfferNotFound));
        }
        Err(Error::new(Code::OfferExpired, format!("the offer is {}", stored.state)))
    }
}

/// What `GET /v1/agents/{id}/routing` answers: the saved row, with what the engine says of the agent now.
fn agent_status(
    saved: AgentRouting,
    custom: Option<catalogue::PresenceRef>,
    profiles: &[switchboard_store::routing_config::AgentProfileEntry],
    view: switchboard_domain::routing::engine::AgentView,
) -> AgentStatus {
    let capacity_profiles = catalogue::profile_status(profiles, &view);
    AgentStatus {
        user_id: saved.user_id,
        presence: match view.presence {
            Presence::Custom(_) => catalogue::base_name(view.base),
            p => presence_name(p),
        },
        capacity_units: saved.capacity_units,
        used_units: view.used_units,
        skills: saved.skills,
        queue_ids: view.queues,
        // Routing's own presences (Busy when full, Inactive) replace the custom one the agent chose.
        custom_presence: custom.filter(|_| matches!(view.presence, Presence::Custom(_))),
        capacity_profiles,
        attributes: saved.attributes,
        calendar: saved.calendar,
    }
}
