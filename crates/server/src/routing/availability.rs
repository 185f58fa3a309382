//! Where a conversation stands in its queue and how long it may wait: the queue position, the average and
//! estimated wait, and the availability actions before and during a conversation (reference §1.8).

use std::collections::BTreeMap;

use switchboard_domain::{
    Code, Error,
    conversation::ConversationState,
    ids::*,
    routing::{
        calendar::Calendar,
        engine::RoutingState,
        rules::{Facts, Value},
        wait::Asker,
    },
};
use switchboard_store::{conversations, routing as store, setup};

use super::{Deps, Routing, overflow::Placement};

/// The window the average wait is computed over (reference §1.8: the previous 48 hours).
const AVERAGE_WINDOW_MS: i64 = 48 * 3_600_000;
/// The conversations the average needs before it is shown (reference §1.8: a minimum of 50).
const AVERAGE_MIN_CONVERSATIONS: i64 = 50;

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
    /// The estimated wait at `position` (or behind everyone waiting); `None` when nobody staffs the queue, 0 for
    /// a conversation no longer waiting.
    pub estimated_wait_ms: Option<f64>,
    /// Before a conversation: what the queue's overflow rules would do with a newcomer now, when they would not
    /// leave it in `queue` (the rest of the answer still describes `queue`, the one asked about).
    pub overflow: Option<OverflowAnswer>,
}

/// Where overflow would send a conversation that arrived now for the queue the rules pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverflowAnswer {
    /// It would wait in this other queue.
    Transfer(QueueId),
    /// It would not be queued: the customer is told and the conversation ends (`offer_callback` takes a callback
    /// request first).
    End { callback: bool },
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

impl Routing {
    pub async fn position(&self, deps: &Deps, org: OrgId, id: ConversationId) -> Result<QueuePosition, Error> {
        let conversation = deps.store.read(move |tx| conversations::get(tx, org, id)).await?;
        let o = self.org(deps, org).await?;
        let (view, position, estimate) = {
            let st = o.lock().await;
            let view = st.engine.conversation(id);
            let position = st.engine.position(id).map(|p| p.1);
            let estimate = match (&view, position) {
                (Some(v), Some(p)) => {
                    st.estimate_wait(v.queue, v.workstream, p, Asker::Conversation(id), deps.clock.now())
                }
                _ => None,
            };
            (view, position, estimate)
        };
        let queue = view.as_ref().map(|v| v.queue).or(conversation.queue_id);
        let average = match queue {
            Some(q) => average_wait(deps, org, q).await?,
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
        deps: &Deps,
        org: OrgId,
        workstream: WorkstreamId,
        context: BTreeMap<String, Value>,
    ) -> Result<QueueAvailability, Error> {
        let ws = deps.store.read(move |tx| setup::get_workstream(tx, org, workstream)).await?;
        let o = self.org(deps, org).await?;
        let (queue, calendar, agents, waiting, estimate, overflow) = {
            let mut st = o.lock().await;
            let info = st.workstreams.get(&workstream);
            let mut facts = Facts { channel: None, workstream: Some(ws.name.clone()), context, ..Facts::default() };
            let fallback = ws
                .fallback_queue_id
                .ok_or_else(|| Error::new(Code::QueueNotFound, "the workstream has no fallback queue to route to"))?;
            let routed = match info {
                Some(w) => w.rules.run(&mut facts, ConversationId::new(), fallback).route.queue,
                None => fallback,
            };
            // The answer describes the queue the rules pick, open or not, so that a caller can tell it is closed;
            // where overflow would take the customer instead is said beside it.
            let queue = routed;
            // The skills the rules would require of this customer decide which agents they wait for.
            let required = st.requirements(&facts.skills);
            let overflow = match st.place(routed, workstream, &required, deps.clock.now(), &Default::default()) {
                Placement::Queue(q, _) if q == routed => None,
                Placement::Queue(q, _) => Some(OverflowAnswer::Transfer(q)),
                Placement::End { callback, .. } => Some(OverflowAnswer::End { callback }),
            };
            let calendar = st.queues.get(&queue).map_or_else(Calendar::always_open, |q| q.calendar.clone());
            let (agents, waiting) = match st.engine.availability(queue, workstream) {
                Ok(a) => (a.agents, a.waiting),
                // A workstream routing does not run (routing off) has no agents offered work.
                Err(_) => (0, 0),
            };
            let asker = Asker::Newcomer(&required);
            let estimate = st.estimate_wait(queue, workstream, waiting + 1, asker, deps.clock.now());
            (queue, calendar, agents, waiting, estimate, overflow)
        };
        let average_wait_ms = average_wait(deps, org, queue).await?;
        let estimated_wait_ms = estimate.map(|d| d.as_secs_f64() * 1000.0);
        Ok(QueueAvailability {
            queue,
            calendar,
            agents,
            waiting,
            position: None,
            average_wait_ms,
            estimated_wait_ms,
            overflow,
        })
    }

    /// The conversation's queue and its place in it (during a conversation).
    pub async fn availability_for(
        &self,
        deps: &Deps,
        org: OrgId,
        id: ConversationId,
    ) -> Result<QueueAvailability, Error> {
        let conversation = deps.store.read(move |tx| conversations::get(tx, org, id)).await?;
        let o = self.org(deps, org).await?;
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
            // Offered to an agent, with one, parked or closed, it waits in no queue: place 0, nothing more to wait.
            // The store's state answers for a conversation routing does not hold (a workstream without routing).
            let in_queue = match st.engine.conversation(id) {
                Some(view) => view.state == RoutingState::Open,
                None => conversation.state == ConversationState::Open,
            };
            let (position, estimate) = if in_queue {
                let at = st.engine.position(id).map_or(waiting + 1, |p| p.1);
                let asker = Asker::Conversation(id);
                (at, st.estimate_wait(queue, conversation.workstream_id, at, asker, deps.clock.now()))
            } else {
                (0, Some(std::time::Duration::ZERO))
            };
            (queue, calendar, agents, waiting, Some(position), estimate)
        };
        let average_wait_ms = average_wait(deps, org, queue).await?;
        let estimated_wait_ms = estimate.map(|d| d.as_secs_f64() * 1000.0);
        Ok(QueueAvailability {
            queue,
            calendar,
            agents,
            waiting,
            position,
            average_wait_ms,
            estimated_wait_ms,
            overflow: None,
        })
    }
}

/// The queue's average wait over the window, or `None` below the reference's minimum of conversations.
async fn average_wait(deps: &Deps, org: OrgId, queue: QueueId) -> Result<Option<f64>, Error> {
    let since = deps.clock.now().plus_millis(-AVERAGE_WINDOW_MS);
    let (count, average) = deps.store.read(move |tx| store::average_wait(tx, org, queue, since)).await?;
    Ok(average.filter(|_| count >= AVERAGE_MIN_CONVERSATIONS))
}
