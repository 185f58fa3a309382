//! Queue overflow in the running server (reference §6.3; the rules' shape is `routing::overflow` in the domain).
//!
//! **Before queueing.** A new conversation's queue (from the route-to-queue rules) checks its overflow rules before
//! the conversation joins it: operating hours first, then the others in order; the first condition that holds
//! decides. `transfer_to_queue` moves on to that queue and checks its rules in turn (saved rules cannot loop, and a
//! queue is never visited twice); `assign_anyway` stays. `end_conversation` and `offer_callback` do not queue the
//! conversation at all: the customer gets a system message, a callback request is recorded for the latter, and the
//! conversation is closed (closure reason `queue_overflow` or `callback_requested`). Every overflow that acted is a
//! `routing.overflowed` event in the conversation's log; a callback is also `routing.callback_requested`.
//!
//! **After queueing** (`wait_in_queue_exceeds`). Each conversation waiting in a queue has a start: when it was
//! routed there, transferred there, or came back to waiting from an agent (released, or a parked conversation the
//! customer revived). An offer that is rejected or missed does not restart it, and while an offer is outstanding
//! the rule waits for its answer: an overdue conversation that comes back from it overflows at once. The start is
//! kept in `routing_items.queue_since`, so a restart counts from the same instant. One deadline per waiting
//! conversation, kept in a set ordered by time, runs on the routing timer (`deps.clock`). When it falls due the
//! conversation is claimed in the store (still Open in that queue) and then, like a transfer, moved to the target
//! queue (a `conversation.transferred` by `routing`; the target's own rules before queueing are not checked, but
//! its wait in queue rule is, from then), or ended as before queueing.
//!
//! Saved rules are checked: ranges and one rule per condition (domain), target queues of the organization, and no
//! chain of transfers that comes back to where it started. All answer 400 `invalid_overflow` with the field path.

use std::collections::{BTreeSet, HashMap, HashSet};

use switchboard_domain::{
    Code, Error, Timestamp,
    conversation::{Action, ConversationState},
    event::{self, ConversationTransferred, TypedEvent},
    ids::*,
    message::SenderKind,
    routing::{
        engine::{RoutingState, SkillRequirement, TransferTarget},
        overflow::{OverflowAction, OverflowCondition, OverflowSettings},
        wait::Asker,
    },
};
use switchboard_store::{
    contacts,
    conversations::{self, ActionRequest, Actor, NewMessage},
    events,
    model::{Contact, Conversation},
    overflow::{self as store, CallbackRequest, CallbackState},
    routing as routing_store, setup,
    sql::Tx,
};

use super::{Deps, OrgRouting};

/// The most queues one conversation's overflow passes through.
const MAX_HOPS: usize = 16;
const DEFAULT_END: &str = "All our agents are busy and we cannot take your conversation now. Please try again later.";
const DEFAULT_CALLBACK: &str =
    "All our agents are busy. We have taken your request and will call you back as soon as an agent is free.";

/// One overflow that acted, for the conversation's log.
#[derive(Debug, Clone)]
pub(super) struct Overflowed {
    queue: QueueId,
    condition: &'static str,
    action: &'static str,
    to: Option<QueueId>,
}

/// Where overflow leaves a new conversation.
#[derive(Debug, Clone)]
pub(super) enum Placement {
    /// Join this queue, after these overflows (none when the first queue took it).
    Queue(QueueId, Vec<Overflowed>),
    /// Do not queue it: tell the customer and close it (taking a callback request first when `callback`).
    End { queue: QueueId, steps: Vec<Overflowed>, message: String, callback: bool, reason: &'static str },
}

/// Overflow's writes waiting for the next persist: the steps of conversations it moved, those it ended, and waits
/// in queue that started without another write recording them.
#[derive(Debug, Default)]
pub(super) struct Pending {
    moved: Vec<(ConversationId, Vec<Overflowed>)>,
    endings: Vec<Ending>,
    waits: Vec<(ConversationId, Timestamp)>,
}

impl Pending {
    pub(super) fn moved(&mut self, conversation: ConversationId, steps: Vec<Overflowed>) {
        if !steps.is_empty() {
            self.moved.push((conversation, steps));
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.moved.is_empty() && self.endings.is_empty() && self.waits.is_empty()
    }

    /// Writes them in the persist's transaction.
    pub(super) fn write(&self, tx: &mut Tx<'_>, org: OrgId, now: Timestamp) -> Result<(), Error> {
        for (conversation, since) in &self.waits {
            store::set_queue_since(tx, org, *conversation, *since)?;
        }
        write_steps(tx, org, &self.moved, now)?;
        write_endings(tx, org, &self.endings, now)
    }
}

/// The waits overflow after queueing watches: when each conversation routing holds started waiting in its queue
/// (kept while it waits or is offered), and one deadline per waiting conversation in a queue with the rule.
#[derive(Debug, Default)]
pub(super) struct QueueWaits {
    since: HashMap<ConversationId, Timestamp>,
    due: BTreeSet<(Timestamp, ConversationId)>,
    due_of: HashMap<ConversationId, Timestamp>,
}

impl QueueWaits {
    fn unschedule(&mut self, conversation: ConversationId) {
        if let Some(at) = self.due_of.remove(&conversation) {
            self.due.remove(&(at, conversation));
        }
    }

    fn schedule(&mut self, conversation: ConversationId, at: Timestamp) {
        self.unschedule(conversation);
        self.due.insert((at, conversation));
        self.due_of.insert(conversation, at);
    }
}

/// What a wait in queue overflow does with a conversation that has waited too long.
#[derive(Debug, Clone)]
enum AfterQueueing {
    Transfer(QueueId),
    End { message: String, callback: bool },
}

/// A conversation whose wait in `queue` ran out.
#[derive(Debug, Clone)]
struct Due {
    conversation: ConversationId,
    queue: QueueId,
    act: AfterQueueing,
}

/// How long after a failed write an overdue conversation is tried again, on the server clock.
const RETRY_MS: i64 = 1_000;
const WAIT_IN_QUEUE: &str = "wait_in_queue_exceeds";

/// A conversation overflow ended, with what its log and the callback request need.
#[derive(Debug, Clone)]
pub(super) struct Ending {
    conversation: ConversationId,
    steps: Vec<Overflowed>,
    message: String,
    callback: Option<CallbackRequest>,
}

fn condition_name(c: &OverflowCondition) -> &'static str {
    match c {
        OverflowCondition::OutOfOperatingHours => "out_of_operating_hours",
        OverflowCondition::WorkItemLimitExceeded { .. } => "work_item_limit_exceeded",
        OverflowCondition::EstimatedWaitExceeds { .. } => "estimated_wait_exceeds",
        OverflowCondition::WaitInQueueExceeds { .. } => WAIT_IN_QUEUE,
    }
}

/// The callback request taken for a conversation overflow ends, with the contact's details.
fn callback_request(
    conversation: &Conversation,
    contact: Option<&Contact>,
    queue: QueueId,
    reason: &str,
    now: Timestamp,
) -> CallbackRequest {
    let name = contact.and_then(Contact::display_name);
    CallbackRequest {
        id: uuid::Uuid::now_v7(),
        conversation_id: conversation.id,
        queue_id: queue,
        contact_id: conversation.contact_id,
        customer_key: conversation.customer_key.clone(),
        phone: contact.and_then(|c| c.phone.clone()),
        email: contact.and_then(|c| c.email.clone()),
        name,
        reason: reason.to_string(),
        state: CallbackState::Requested,
        created_at: now,
    }
}

impl OrgRouting {
    /// Runs `queue`'s overflow for a new conversation of `workstream` needing `required` skills (which its
    /// estimated wait is for). `joining` counts conversations already placed in each queue but not yet in the
    /// engine (earlier in the same batch of arrivals).
    pub(super) fn place(
        &self,
        queue: QueueId,
        workstream: WorkstreamId,
        required: &[SkillRequirement],
        now: Timestamp,
        joining: &HashMap<QueueId, usize>,
    ) -> Placement {
        let mut at = queue;
        let mut seen = HashSet::from([queue]);
        let mut steps = Vec::new();
        for _ in 0..MAX_HOPS {
            let Some(info) = self.queues.get(&at) else { break };
            let waiting = self.engine.availability(at, workstream).map_or(0, |a| a.waiting)
                + joining.get(&at).copied().unwrap_or(0);
            let holds = |c: &OverflowCondition| match *c {
                OverflowCondition::OutOfOperatingHours => !info.calendar.is_open(now),
                OverflowCondition::WorkItemLimitExceeded { limit } => {
                    i64::try_from(waiting).unwrap_or(i64::MAX) >= limit
                }
                // Nobody staffing the queue means no end to the wait: the threshold is exceeded.
                OverflowCondition::EstimatedWaitExceeds { seconds } => self
                    .estimate_wait(at, workstream, waiting + 1, Asker::Newcomer(required), now)
                    .is_none_or(|d| d.as_secs_f64() > seconds as f64),
                // A newcomer has not waited yet; the wait in queue is watched once it is queued.
                OverflowCondition::WaitInQueueExceeds { .. } => false,
            };
            let Some(rule) = info.routing.overflow.in_order().find(|r| holds(&r.condition)) else { break };
            let condition = condition_name(&rule.condition);
            match &rule.action {
                OverflowAction::AssignAnyway => {
                    steps.push(Overflowed { queue: at, condition, action: "assign_anyway", to: None });
                    break;
                }
                OverflowAction::TransferToQueue { queue_id } => {
                    if !self.queues.contains_key(queue_id) || !seen.insert(*queue_id) {
                        // Deleted since saved, or a loop saved rules cannot make: stay where it is.
                        tracing::warn!(queue = %at, to = %queue_id, "overflow target unusable; staying");
                        break;
                    }
                    steps.push(Overflowed { queue: at, condition, action: "transfer_to_queue", to: Some(*queue_id) });
                    at = *queue_id;
                }
                OverflowAction::EndConversation { message } => {
                    steps.push(Overflowed { queue: at, condition, action: "end_conversation", to: None });
                    let message = message.clone().unwrap_or_else(|| DEFAULT_END.to_string());
                    return Placement::End { queue: at, steps, message, callback: false, reason: condition };
                }
                OverflowAction::OfferCallback { message } => {
                    steps.push(Overflowed { queue: at, condition, action: "offer_callback", to: None });
                    let message = message.clone().unwrap_or_else(|| DEFAULT_CALLBACK.to_string());
                    return Placement::End { queue: at, steps, message, callback: true, reason: condition };
                }
            }
        }
        Placement::Queue(at, steps)
    }

    /// Remembers that overflow ended `conversation`; written with the batch's routing events.
    pub(super) fn end_overflowed(
        &mut self,
        conversation: &Conversation,
        contact: Option<&Contact>,
        p: Placement,
        now: Timestamp,
    ) {
        let Placement::End { queue, steps, message, callback, reason } = p else { return };
        let callback = callback.then(|| callback_request(conversation, contact, queue, reason, now));
        self.overflow.endings.push(Ending { conversation: conversation.id, steps, message, callback });
    }

    /// The queue's wait in queue rule: its threshold in milliseconds and its action.
    fn wait_rule(&self, queue: QueueId) -> Option<(i64, &OverflowAction)> {
        let (seconds, action) = self.queues.get(&queue)?.routing.overflow.wait_in_queue()?;
        Some((seconds.saturating_mul(1000), action))
    }

    /// The conversation started waiting at `at`, recorded by the caller's own write (routing, a transfer, a
    /// restart reading the store).
    pub(super) fn wait_started(&mut self, conversation: ConversationId, at: Timestamp) {
        self.queue_waits.since.insert(conversation, at);
    }

    /// When the conversation started waiting in its current queue: its routing, or its latest transfer or return
    /// from an agent.
    pub(super) fn waiting_since(&self, conversation: ConversationId) -> Option<Timestamp> {
        self.queue_waits.since.get(&conversation).copied()
    }

    /// The conversation left routing, or an agent took it: its wait is over.
    pub(super) fn wait_over(&mut self, conversation: ConversationId) {
        self.queue_waits.since.remove(&conversation);
        self.queue_waits.unschedule(conversation);
    }

    /// The conversation stopped waiting for now (offered, or moving to another queue); it keeps its start.
    pub(super) fn wait_paused(&mut self, conversation: ConversationId) {
        self.queue_waits.unschedule(conversation);
    }

    /// The conversation waits in `queue` (engine's `Queued`): its deadline follows the queue's rule. Without a
    /// start it came back from an agent, which starts a new wait now, written with this persist.
    pub(super) fn wait_in(&mut self, conversation: ConversationId, queue: QueueId, now: Timestamp) {
        let since = match self.queue_waits.since.get(&conversation) {
            Some(since) => *since,
            None => {
                self.queue_waits.since.insert(conversation, now);
                self.overflow.waits.push((conversation, now));
                now
            }
        };
        match self.wait_rule(queue) {
            Some((ms, _)) => self.queue_waits.schedule(conversation, since.plus_millis(ms)),
            None => self.queue_waits.unschedule(conversation),
        }
    }

    /// A queue's rules changed: its waiting conversations' deadlines follow the new ones.
    pub(super) fn reschedule_waits(&mut self, queue: QueueId, now: Timestamp) {
        for conversation in self.engine.waiting(queue).unwrap_or_default() {
            self.wait_in(conversation, queue, now);
        }
    }

    /// When the conversation's wait in its queue runs out, if its queue has the rule and it waits there now.
    pub(super) fn overflow_due(&self, conversation: ConversationId) -> Option<Timestamp> {
        self.queue_waits.due_of.get(&conversation).copied()
    }

    /// When the next wait in queue runs out.
    pub(super) fn next_wait_overflow(&self) -> Option<Timestamp> {
        self.queue_waits.due.first().map(|d| d.0)
    }

    /// Overflows the conversations whose wait in queue ran out by `now`: claimed in the store first (still Open in
    /// that queue), then moved or closed in the engine, as a transfer is.
    pub(super) async fn overflow_waiting(&mut self, deps: &Deps, now: Timestamp) -> Result<(), Error> {
        let mut due = Vec::new();
        while let Some(&(at, conversation)) = self.queue_waits.due.first() {
            if at > now {
                break;
            }
            self.queue_waits.due.pop_first();
            if self.queue_waits.due_of.get(&conversation) == Some(&at) {
                self.queue_waits.due_of.remove(&conversation);
            }
            let Some(view) = self.engine.conversation(conversation) else {
                self.wait_over(conversation);
                continue;
            };
            // Offered: the offer is left to finish; back in the queue, `wait_in` schedules it again.
            if view.state != RoutingState::Open {
                continue;
            }
            let Some((_, action)) = self.wait_rule(view.queue) else { continue };
            let act = match action {
                OverflowAction::TransferToQueue { queue_id } => {
                    let usable = *queue_id != view.queue
                        && self.queues.contains_key(queue_id)
                        && self.engine.can_transfer(conversation, TransferTarget::Queue(*queue_id)).is_ok();
                    if !usable {
                        // Saved rules name a queue of the organization; one routing does not know yet leaves the
                        // conversation where it is.
                        tracing::warn!(queue = %view.queue, to = %queue_id, "overflow target unusable; staying");
                        continue;
                    }
                    AfterQueueing::Transfer(*queue_id)
                }
                OverflowAction::EndConversation { message } => AfterQueueing::End {
                    message: message.clone().unwrap_or_else(|| DEFAULT_END.to_string()),
                    callback: false,
                },
                OverflowAction::OfferCallback { message } => AfterQueueing::End {
                    message: message.clone().unwrap_or_else(|| DEFAULT_CALLBACK.to_string()),
                    callback: true,
                },
                // Refused on save; a rule stored otherwise leaves the conversation waiting.
                OverflowAction::AssignAnyway => continue,
            };
            due.push(Due { conversation, queue: view.queue, act });
        }
        if due.is_empty() {
            return Ok(());
        }
        let org = self.org;
        let claimed = deps.store.write({
            let due = due.clone();
            move |tx| {
                let mut claimed = Vec::with_capacity(due.len());
                for d in due {
                    if write_after_queueing(tx, org, &d, now)? {
                        claimed.push(d);
                    }
                }
                Ok(claimed)
            }
        });
        let claimed = match claimed.await {
            Ok(c) => c,
            Err(e) => {
                // Nothing was written: try these again shortly rather than drop them until they wait anew.
                for d in &due {
                    self.queue_waits.schedule(d.conversation, now.plus_millis(RETRY_MS));
                }
                return Err(e);
            }
        };
        let mut events = Vec::new();
        for d in claimed {
            let result = match d.act {
                AfterQueueing::Transfer(to) => {
                    self.wait_started(d.conversation, now);
                    self.engine.transfer(d.conversation, TransferTarget::Queue(to), now)
                }
                AfterQueueing::End { .. } => {
                    self.wait_over(d.conversation);
                    self.engine.close(d.conversation, now)
                }
            };
            match result {
                Ok(e) => events.extend(e),
                Err(e) => {
                    tracing::warn!(error = %e, conversation = %d.conversation, "routing could not follow overflow")
                }
            }
        }
        self.persist(deps, events).await
    }
}

/// Writes one wait in queue overflow: claims the conversation, then logs the step and moves or ends it. False
/// when the store no longer has it waiting there.
fn write_after_queueing(tx: &mut Tx<'_>, org: OrgId, d: &Due, now: Timestamp) -> Result<bool, Error> {
    let to = match d.act {
        AfterQueueing::Transfer(to) => to,
        AfterQueueing::End { .. } => d.queue,
    };
    if !store::claim_waiting(tx, org, d.conversation, d.queue, to)? {
        return Ok(false);
    }
    match &d.act {
        AfterQueueing::Transfer(to) => {
            store::set_queue_since(tx, org, d.conversation, now)?;
            let step =
                Overflowed { queue: d.queue, condition: WAIT_IN_QUEUE, action: "transfer_to_queue", to: Some(*to) };
            events::append_event(tx, org, Some(d.conversation), &step_event(&step), now)?;
            let transferred = ConversationTransferred {
                from_queue_id: Some(d.queue),
                from_agent_id: None,
                queue_id: Some(*to),
                agent_id: None,
                by: "routing".to_string(),
            };
            events::append_event(
                tx,
                org,
                Some(d.conversation),
                &TypedEvent::ConversationTransferred(transferred),
                now,
            )?;
        }
        AfterQueueing::End { message, callback } => {
            let conversation = conversations::get(tx, org, d.conversation)?;
            let contact = conversation.contact_id.map(|k| contacts::get(tx, org, k)).transpose()?;
            let action = if *callback { "offer_callback" } else { "end_conversation" };
            let ending = Ending {
                conversation: d.conversation,
                steps: vec![Overflowed { queue: d.queue, condition: WAIT_IN_QUEUE, action, to: None }],
                message: message.clone(),
                callback: callback
                    .then(|| callback_request(&conversation, contact.as_ref(), d.queue, WAIT_IN_QUEUE, now)),
            };
            write_endings(tx, org, &[ending], now)?;
        }
    }
    Ok(true)
}

fn step_event(s: &Overflowed) -> TypedEvent {
    TypedEvent::RoutingOverflowed(event::Overflowed {
        queue_id: s.queue,
        condition: s.condition.to_string(),
        action: s.action.to_string(),
        to_queue_id: s.to,
    })
}

/// The `routing.overflowed` events of conversations that were queued after overflow moved them.
fn write_steps(
    tx: &mut Tx<'_>,
    org: OrgId,
    moved: &[(ConversationId, Vec<Overflowed>)],
    now: Timestamp,
) -> Result<(), Error> {
    for (conversation, steps) in moved {
        for s in steps {
            events::append_event(tx, org, Some(*conversation), &step_event(s), now)?;
        }
    }
    Ok(())
}

/// Ends what overflow turned away: the overflow events, the customer's message, the callback request, the close.
/// A conversation no longer Open (the customer left meanwhile) is passed over.
fn write_endings(tx: &mut Tx<'_>, org: OrgId, endings: &[Ending], now: Timestamp) -> Result<(), Error> {
    for e in endings {
        if conversations::get(tx, org, e.conversation)?.state != ConversationState::Open {
            continue;
        }
        for s in &e.steps {
            events::append_event(tx, org, Some(e.conversation), &step_event(s), now)?;
        }
        conversations::send_message(
            tx,
            org,
            e.conversation,
            NewMessage {
                sender_kind: SenderKind::System,
                sender_id: Some("system".to_string()),
                sender_name: Some("System".to_string()),
                text: Some(e.message.clone()),
                attachments: Vec::new(),
                automated: true,
                template: None,
            },
            now,
        )?;
        if let Some(c) = &e.callback {
            store::insert_callback(tx, org, c)?;
            let requested = TypedEvent::RoutingCallbackRequested(c.clone());
            events::append_event(tx, org, Some(e.conversation), &requested, now)?;
        }
        let actor = Actor { label: "routing".to_string(), agent: None };
        let reason = if e.callback.is_some() { "callback_requested" } else { "queue_overflow" };
        let req = ActionRequest { action: Action::Close, agent_id: None, reason: Some(reason.to_string()) };
        conversations::apply(tx, org, e.conversation, &actor, req, now)?;
    }
    Ok(())
}

/// Checks a queue's overflow rules as saved: the domain's checks, target queues of the organization (400
/// `invalid_overflow` naming the field), and no chain of transfers leading back to `queue`.
pub fn check(tx: &mut Tx<'_>, org: OrgId, queue: QueueId, overflow: &OverflowSettings) -> Result<(), Error> {
    // The wait in queue's range depends on the kind of work; a rule is saved on a queue, which may serve several
    // workstreams, so the queue's type stands for it.
    let kind = setup::get_queue(tx, org, queue)?.queue_type;
    overflow.check(queue, kind)?;
    let targets = overflow.targets();
    if targets.is_empty() {
        return Ok(());
    }
    for (field, q) in &targets {
        routing_store::get_queue(tx, org, *q).map_err(|e| match e.code {
            Code::QueueNotFound => {
                Error::field(Code::InvalidOverflow, field, format!("no queue {q} in this organization"))
            }
            _ => e,
        })?;
    }
    let mut edges: HashMap<QueueId, Vec<QueueId>> = HashMap::new();
    for entry in routing_store::list_queues(tx, org)? {
        if entry.id != queue {
            edges.insert(entry.id, entry.routing.overflow.targets().into_iter().map(|(_, q)| q).collect());
        }
    }
    for (field, first) in targets {
        // Depth-first from each target; reaching `queue` again closes a loop.
        let mut stack = vec![(first, vec![queue, first])];
        let mut seen = HashSet::new();
        while let Some((at, path)) = stack.pop() {
            if !seen.insert(at) {
                continue;
            }
            for next in edges.get(&at).into_iter().flatten() {
                let mut path = path.clone();
                path.push(*next);
                if *next == queue {
                    let chain: Vec<String> = path.iter().map(ToString::to_string).collect();
                    return Err(Error::field(
                        Code::InvalidOverflow,
                        &field,
                        format!("overflow would loop: {}", chain.join(" → ")),
                    ));
                }
                stack.push((*next, path));
            }
        }
    }
    Ok(())
}
