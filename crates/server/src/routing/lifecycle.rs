//! The conversation lifecycle around routing (reference §6.6): auto-close timers, transfers and picking.
//!
//! **Auto-close.** Each conversation that is not closed has a durable timer for its current state
//! (`switchboard_store::timers`). A follower reads the log after each commit: a new conversation or a state change
//! starts the timer of the new state; a customer or agent message, or a transfer, restarts it. A scheduler on
//! `app.clock` fires timers exactly when they fall due (not on the reference's 5-minute sweep): it claims due rows
//! and closes their conversations through the state machine in one transaction, so events, webhooks and routing
//! follow as for any close. At start every conversation whose timer is missing or stale gets one, starting then, so
//! a crash between a commit and the follower closes late, never early; timers due while the server was down fire
//! at once.
//!
//! **Transfers** and **picks** are routing operations: checked against the engine first, committed through the
//! state machine, then applied to the engine under the organization's lock.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use switchboard_domain::{
    Code, Error, Timestamp,
    conversation::{Action, ConversationState},
    event::{ConversationTransferred, EventType, TypedEvent},
    ids::*,
    message::SenderKind,
    role::Role,
    routing::engine::{RoutingState, TransferTarget},
    setup::Distribution,
};
use switchboard_store::{
    Store, access,
    conversations::{self, ActionRequest, Actor},
    events,
    model::{Conversation, Event},
    setup, timers,
};
use tokio::sync::Notify;
use utoipa::ToSchema;

use super::{Deps, Routing};
use crate::{
    AppState,
    clock::Clock,
    leadership::Stop,
    outbox::{EventLog, Filter, Start},
};

/// How often the scheduler looks for timers other nodes started.
const POLL: Duration = Duration::from_secs(1);
const BATCH: usize = 500;
/// Timers fired per transaction.
const FIRE_BATCH: usize = 100;
/// The events that start or restart a timer.
const TIMER_EVENTS: [EventType; 4] = [
    EventType::ConversationCreated,
    EventType::ConversationStateChanged,
    EventType::MessageCreated,
    EventType::ConversationTransferred,
];

/// What the auto-close worker uses: the store, the app's clock, and the log.
#[derive(Clone)]
pub struct AutoClose {
    pub store: Arc<Store>,
    pub clock: Clock,
    pub log: EventLog,
}

/// Starts the timer follower and the auto-close scheduler; they end when `stop` is requested, between batches.
pub fn start(app: AppState, stop: Stop) -> Vec<tokio::task::JoinHandle<()>> {
    AutoClose { store: app.store.clone(), clock: app.clock.clone(), log: app.log.clone() }.start(stop)
}

impl AutoClose {
    pub fn start(self, stop: Stop) -> Vec<tokio::task::JoinHandle<()>> {
        let wake = Arc::new(Notify::new());
        let follower = tokio::spawn({
            let (this, wake, mut stop) = (self.clone(), wake.clone(), stop.clone());
            async move {
                loop {
                    match this.follow(&wake, stop.clone()).await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::error!(error = %e, source = ?e.source, "auto-close follower stopped; restarting")
                        }
                    }
                    tokio::select! {
                        () = stop.requested() => return,
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
            }
        });
        let scheduler = tokio::spawn(self.schedule(wake, stop));
        vec![follower, scheduler]
    }

    /// Starts and restarts timers as the log says.
    async fn follow(&self, wake: &Notify, mut stop: Stop) -> Result<(), Error> {
        let mut log =
            self.log.follow(Start::End, Filter::everything().types(TIMER_EVENTS.map(EventType::as_str)), BATCH).await?;
        let now = self.clock.now();
        // After the follower took its place, so that a change committed in between is seen by one or the other.
        let started = self.store.write(move |tx| timers::reconcile(tx, now)).await?;
        if started > 0 {
            tracing::info!(started, "auto-close timers started for conversations that had none");
        }
        wake.notify_one();
        loop {
            let events = tokio::select! {
                biased;
                () = stop.requested() => return Ok(()),
                events = log.next() => events?,
            };
            let Some(events) = events else { return Ok(()) };
            // Taken after the read, so that it is not before any activity read: a timer restarts late, never early.
            let now = self.clock.now();
            let changes: Vec<TimerChange> = events.iter().filter_map(timer_change).collect();
            if changes.is_empty() {
                continue;
            }
            self.store
                .write(move |tx| {
                    for change in changes {
                        match change {
                            TimerChange::Arm(org, id, state) => {
                                timers::arm(tx, org, id, Some(state), now)?;
                            }
                            TimerChange::Touch(org, id) => timers::touch(tx, org, id, now)?,
                        }
                    }
                    Ok(())
                })
                .await?;
            wake.notify_one();
        }
    }

    /// Fires timers when they fall due on the app's clock.
    async fn schedule(self, wake: Arc<Notify>, mut stop: Stop) {
        loop {
            if stop.is_requested() {
                return;
            }
            let next = match self.store.read(timers::next_due).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "reading auto-close timers failed");
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            let clock = self.clock.clone();
            tokio::select! {
                () = async { match next { Some(at) => clock.sleep_until(at).await, None => std::future::pending().await } } => {}
                () = wake.notified() => continue,
                () = tokio::time::sleep(POLL) => continue,
                () = stop.requested() => return,
            }
            if let Err(e) = self.fire_due().await {
                tracing::error!(error = %e, source = ?e.source, "auto-close failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }

    async fn fire_due(&self) -> Result<(), Error> {
        loop {
            let now = self.clock.now();
            let (claimed, closed) = self
                .store
                .write(move |tx| {
                    let due = timers::claim_due(tx, now, FIRE_BATCH)?;
                    let mut closed = 0usize;
                    for timer in &due {
                        if timers::fire(tx, timer, now)?.is_some() {
                            closed += 1;
                        }
                    }
                    Ok((due.len(), closed))
                })
                .await?;
            if closed > 0 {
                tracing::info!(closed, "conversations auto-closed");
            }
            if claimed < FIRE_BATCH {
                return Ok(());
            }
        }
    }
}

enum TimerChange {
    /// The conversation entered this state.
    Arm(OrgId, ConversationId, ConversationState),
    /// Activity: restart the current timer.
    Touch(OrgId, ConversationId),
}

fn timer_change(event: &Event) -> Option<TimerChange> {
    let (org, id) = (event.org_id, event.conversation_id?);
    match event.kind()? {
        EventType::ConversationCreated => Some(TimerChange::Arm(org, id, ConversationState::Open)),
        EventType::ConversationStateChanged => {
            let to = event.data["to"].as_str().and_then(ConversationState::parse)?;
            Some(TimerChange::Arm(org, id, to))
        }
        EventType::MessageCreated => {
            let sender = event.data["sender"]["kind"].as_str().and_then(SenderKind::parse)?;
            matches!(sender, SenderKind::Customer | SenderKind::Agent).then_some(TimerChange::Touch(org, id))
        }
        EventType::ConversationTransferred => Some(TimerChange::Touch(org, id)),
        _ => None,
    }
}

/// A conversation's auto-close timer, for the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AutoCloseStatus {
    pub conversation_id: ConversationId,
    pub state: ConversationState,
    /// When the conversation entered the state the timer belongs to.
    pub state_since: Option<Timestamp>,
    /// When the timer last started: the state change or the latest customer or agent activity.
    pub restarted_at: Option<Timestamp>,
    /// When the conversation closes if nothing happens; null when its state never closes by itself (or it is
    /// closed).
    pub closes_at: Option<Timestamp>,
}

pub async fn auto_close_status(app: &AppState, org: OrgId, id: ConversationId) -> Result<AutoCloseStatus, Error> {
    let (conversation, timer) =
        app.store.read(move |tx| Ok((conversations::get(tx, org, id)?, timers::get(tx, org, id)?))).await?;
    // A timer for another state is stale until the follower catches up: say nothing rather than something wrong.
    let timer = timer.filter(|t| t.state == conversation.state);
    Ok(AutoCloseStatus {
        conversation_id: id,
        state: conversation.state,
        state_since: timer.as_ref().map(|t| t.state_since),
        restarted_at: timer.as_ref().map(|t| t.started_at),
        closes_at: timer.and_then(|t| t.due_at),
    })
}

/// Who asks for a lifecycle operation.
pub struct Caller {
    pub label: String,
    pub role: Role,
    /// Set when the caller is an agent acting for themselves.
    pub agent: Option<UserId>,
}

/// Where a transfer sends the conversation, as the API names it.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Queue(QueueId),
    Agent(UserId),
}

/// One item an agent may pick, in queue order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkItem {
    /// 1-based place among the queue's pick conversations.
    pub position: usize,
    pub conversation: Conversation,
}

impl Routing {
    /// Moves an Open or Active conversation to another queue, or offers it to one agent (§6.6: Active → Open). The
    /// agent holding it may transfer it; admins and supervisors any routed conversation.
    pub async fn transfer(
        &self,
        deps: &Deps,
        org: OrgId,
        caller: Caller,
        id: ConversationId,
        target: Target,
    ) -> Result<Conversation, Error> {
        let conversation = deps.store.read(move |tx| conversations::get(tx, org, id)).await?;
        match conversation.state {
            ConversationState::Closed => {
                return Err(Error::new(Code::ConversationClosed, "the conversation is closed"));
            }
            ConversationState::Open | ConversationState::Active => {}
            state => {
                return Err(Error::new(
                    Code::InvalidStateTransition,
                    format!("only an open or active conversation can be transferred, not a {state} one"),
                ));
            }
        }
        if caller.role == Role::Agent
            && (conversation.state != ConversationState::Active || conversation.agent_id != caller.agent)
        {
            return Err(Error::new(
                Code::NotAssignedAgent,
                "only the agent assigned to this conversation can transfer it",
            ));
        }
        // Targets are looked up in the caller's organization: another tenant's queue or agent is not found.
        deps.store
            .read(move |tx| {
                match target {
                    Target::Queue(q) => {
                        setup::get_queue(tx, org, q).map_err(|e| e.at("queue_id"))?;
                    }
                    Target::Agent(a) => {
                        let user = access::get_user(tx, org, a)
                            .map_err(|_| Error::field(Code::AgentNotFound, "agent_id", "no agent with this id"))?;
                        if user.role != Role::Agent {
                            return Err(Error::field(Code::AgentNotFound, "agent_id", "this user is not an agent"));
                        }
                    }
                }
                Ok(())
            })
            .await?;
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        let view = st.engine.conversation(id).ok_or_else(not_routed)?;
        let engine_target = match target {
            Target::Queue(q) => {
                if q == view.queue {
                    return Err(Error::field(
                        Code::AlreadyInQueue,
                        "queue_id",
                        "the conversation is already in this queue",
                    ));
                }
                if !st.queues.contains_key(&q) {
                    st.refresh_setup(deps).await?;
                }
                TransferTarget::Queue(q)
            }
            Target::Agent(a) => {
                st.ensure_agent(a, now)?;
                TransferTarget::Agent(a)
            }
        };
        st.engine.can_transfer(id, engine_target)?;
        let from_queue = view.queue;
        let from_agent = (view.state == RoutingState::Active).then_some(view.agent).flatten();
        let actor = Actor { label: caller.label.clone(), agent: caller.agent };
        let (queue_id, agent_id) = match target {
            Target::Queue(q) => (Some(q), None),
            Target::Agent(a) => (None, Some(a)),
        };
        let transferred = TypedEvent::ConversationTransferred(ConversationTransferred {
            from_queue_id: Some(from_queue),
            from_agent_id: from_agent,
            queue_id,
            agent_id,
            by: caller.label.clone(),
        });
        let after = deps
            .store
            .write(move |tx| {
                if conversations::get(tx, org, id)?.state == ConversationState::Active {
                    let req = ActionRequest { action: Action::Transfer, agent_id: None, reason: None };
                    conversations::apply(tx, org, id, &actor, req, now)?;
                }
                if let Target::Queue(q) = target {
                    conversations::move_to_queue(tx, org, id, q)?;
                }
                // Any transfer starts a new wait in queue for overflow: in the new queue, or back in its own after
                // an agent it was sent to turned it down.
                switchboard_store::overflow::set_queue_since(tx, org, id, now)?;
                events::append_event(tx, org, Some(id), &transferred, now)?;
                conversations::get(tx, org, id)
            })
            .await?;
        st.wait_started(id, now);
        let events = st.engine.transfer(id, engine_target, now)?;
        st.persist(deps, events).await?;
        Ok(after)
    }

    /// The agent takes an Open conversation of a pick workstream from its queue: they must be a member with an
    /// allowed presence and room for it (on a push workstream that allows picking: a member, whatever their
    /// presence and capacity). Under concurrent picks of one conversation exactly one wins; the others
    /// hear 409.
    pub async fn pick(
        &self,
        deps: &Deps,
        org: OrgId,
        agent: UserId,
        label: String,
        id: ConversationId,
    ) -> Result<Conversation, Error> {
        let conversation = deps.store.read(move |tx| conversations::get(tx, org, id)).await?;
        if conversation.state == ConversationState::Closed {
            return Err(Error::new(Code::ConversationClosed, "the conversation is closed"));
        }
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        st.ensure_agent(agent, now)?;
        st.engine.conversation(id).ok_or_else(not_routed)?;
        st.engine.can_pick(agent, id)?;
        let actor = Actor { label, agent: Some(agent) };
        let req = ActionRequest { action: Action::Accept, agent_id: Some(agent), reason: None };
        // The state machine's check under the row lock is the final word between two nodes.
        let after = deps.store.write(move |tx| conversations::apply(tx, org, id, &actor, req, now)).await?;
        let events = st.engine.pick(agent, id, now)?;
        st.persist(deps, events).await?;
        Ok(after)
    }

    /// Whether an agent's accept of this conversation is a pick (its workstream is routed with pick
    /// distribution), which must pass the pick checks rather than be assigned by hand.
    pub async fn is_pick(&self, deps: &Deps, org: OrgId, id: ConversationId) -> Result<bool, Error> {
        let conversation = deps.store.read(move |tx| conversations::get(tx, org, id)).await?;
        let ws = conversation.workstream_id;
        let workstream = deps.store.read(move |tx| setup::get_workstream(tx, org, ws)).await?;
        Ok(workstream.distribution == Distribution::Pick
            && workstream.settings.routing.enabled
            && conversation.state == ConversationState::Open)
    }

    /// The queue's Open conversations of pick workstreams (and of push workstreams that allow picking), in the
    /// order routing would serve them. An agent sees only the queues they are a member of.
    pub async fn work_items(
        &self,
        deps: &Deps,
        org: OrgId,
        agent: Option<UserId>,
        queue: QueueId,
        limit: usize,
    ) -> Result<Vec<WorkItem>, Error> {
        deps.store.read(move |tx| setup::get_queue(tx, org, queue)).await?;
        let waiting = {
            let o = self.org(deps, org).await?;
            let mut st = o.lock().await;
            if let Some(agent) = agent {
                st.ensure_agent(agent, deps.clock.now())?;
                let member = st.engine.agent(agent).is_some_and(|a| a.queues.contains(&queue));
                if !member {
                    return Err(Error::new(Code::Forbidden, "only the queue's members see its work items"));
                }
            }
            if !st.queues.contains_key(&queue) {
                st.refresh_setup(deps).await?;
            }
            st.engine.waiting(queue).unwrap_or_default()
        };
        let (conversations, workstreams) = deps
            .store
            .read(move |tx| {
                let mut out = Vec::with_capacity(waiting.len());
                for id in waiting {
                    out.push(conversations::get(tx, org, id)?);
                }
                Ok((out, setup::list_workstreams(tx, org, None, 100_000)?))
            })
            .await?;
        // Push workstreams that allow picking list their waiting conversations too (reference §6.1).
        let pick: std::collections::HashSet<WorkstreamId> = workstreams
            .iter()
            .filter(|w| w.distribution == Distribution::Pick || w.settings.routing.allow_pick_from_push)
            .map(|w| w.id)
            .collect();
        Ok(conversations
            .into_iter()
            .filter(|c| pick.contains(&c.workstream_id) && c.state == ConversationState::Open)
            .take(limit)
            .enumerate()
            .map(|(i, conversation)| WorkItem { position: i + 1, conversation })
            .collect())
    }
}

fn not_routed() -> Error {
    Error::new(Code::NotRouted, "routing does not hold this conversation; its workstream does not route")
}
