//! Queue overflow in the running server (reference §6.3; the rules' shape is `routing::overflow` in the domain).
//!
//! A new conversation's queue (from the route-to-queue rules) checks its overflow rules before the conversation
//! joins it: operating hours first, then the others in order; the first condition that holds decides.
//! `transfer_to_queue` moves on to that queue and checks its rules in turn (saved rules cannot loop, and a queue
//! is never visited twice); `assign_anyway` stays. `end_conversation` and `offer_callback` do not queue the
//! conversation at all: the customer gets a system message, a callback request is recorded for the latter, and the
//! conversation is closed (closure reason `queue_overflow` or `callback_requested`). Every overflow that acted is a
//! `routing.overflowed` event in the conversation's log; a callback is also `routing.callback_requested`.
//!
//! Saved rules are checked: ranges and one rule per condition (domain), target queues of the organization, and no
//! chain of transfers that comes back to where it started. All answer 400 `invalid_overflow` with the field path.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use switchboard_domain::{
    Code, Error, Timestamp,
    conversation::{Action, ConversationState},
    ids::*,
    message::SenderKind,
    routing::overflow::{OverflowAction, OverflowCondition, OverflowSettings},
};
use switchboard_store::{
    conversations::{self, ActionRequest, Actor, NewMessage},
    events,
    model::{Contact, Conversation},
    overflow::{self as store, CallbackRequest, CallbackState},
    routing as routing_store,
    sql::Tx,
};

use super::OrgRouting;

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

impl Placement {
    /// The queue the conversation waits in, or the last one it reached.
    pub(super) fn queue(&self) -> QueueId {
        match self {
            Placement::Queue(q, _) | Placement::End { queue: q, .. } => *q,
        }
    }
}

/// Overflow's writes waiting for the next persist: the steps of conversations it moved, and those it ended.
#[derive(Debug, Default)]
pub(super) struct Pending {
    moved: Vec<(ConversationId, Vec<Overflowed>)>,
    endings: Vec<Ending>,
}

impl Pending {
    pub(super) fn moved(&mut self, conversation: ConversationId, steps: Vec<Overflowed>) {
        if !steps.is_empty() {
            self.moved.push((conversation, steps));
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.moved.is_empty() && self.endings.is_empty()
    }

    /// Writes them in the persist's transaction.
    pub(super) fn write(&self, tx: &mut Tx<'_>, org: OrgId, now: Timestamp) -> Result<(), Error> {
        write_steps(tx, org, &self.moved, now)?;
        write_endings(tx, org, &self.endings, now)
    }
}

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
    }
}

impl OrgRouting {
    /// Runs `queue`'s overflow for a new conversation of `workstream`. `joining` counts conversations already
    /// placed in each queue but not yet in the engine (earlier in the same batch of arrivals).
    pub(super) fn place(
        &self,
        queue: QueueId,
        workstream: WorkstreamId,
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
                    .estimate_wait(at, workstream, waiting + 1, now)
                    .is_none_or(|d| d.as_secs_f64() > seconds as f64),
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
        let callback = callback.then(|| {
            let name = contact.and_then(|c| {
                c.preferred_name.clone().or_else(|| {
                    let parts: Vec<&str> =
                        [c.first_name.as_deref(), c.last_name.as_deref()].into_iter().flatten().collect();
                    (!parts.is_empty()).then(|| parts.join(" "))
                })
            });
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
        });
        self.overflow.endings.push(Ending { conversation: conversation.id, steps, message, callback });
    }
}

fn step_event(s: &Overflowed) -> serde_json::Value {
    json!({ "queue_id": s.queue, "condition": s.condition, "action": s.action, "to_queue_id": s.to })
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
            events::append(tx, org, "routing.overflowed", Some(*conversation), &step_event(s), now)?;
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
            events::append(tx, org, "routing.overflowed", Some(e.conversation), &step_event(s), now)?;
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
            },
        )?;
        if let Some(c) = &e.callback {
            store::insert_callback(tx, org, c)?;
            events::append(tx, org, "routing.callback_requested", Some(e.conversation), &json!(c), now)?;
        }
        let actor = Actor { label: "routing".to_string(), agent: None };
        let reason = if e.callback.is_some() { "callback_requested" } else { "queue_overflow" };
        let req = ActionRequest { action: Action::Close, agent_id: None, reason: Some(reason.to_string()) };
        conversations::apply(tx, org, e.conversation, &actor, req)?;
    }
    Ok(())
}

/// Checks a queue's overflow rules as saved: the domain's checks, target queues of the organization (400
/// `invalid_overflow` naming the field), and no chain of transfers leading back to `queue`.
pub fn check(tx: &mut Tx<'_>, org: OrgId, queue: QueueId, overflow: &OverflowSettings) -> Result<(), Error> {
    overflow.check(queue)?;
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
