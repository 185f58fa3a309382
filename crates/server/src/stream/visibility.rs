//! Who may see which event, decided per event: an agent sees their offers, the conversations assigned to them
//! (until transferred away or closed), what waits to be picked in the queues they are members of (conversations of
//! workstreams in pick mode), and what concerns them by id (their presence, their capacity); supervisors, admins
//! and integrations see the organization's events; a customer on the chat page sees their one conversation's events
//! of the kinds a customer is shown ([`CUSTOMER_EVENT_TYPES`]), reshaped for them by the stream.
//!
//! Whose a conversation is changes with the events themselves, so it is kept from them: an [`Ownership`] table per
//! organization, loaded from the store when the organization's first connection arrives, then moved by each event
//! before the event is fanned out. So are the agents' queues and the workstreams' modes.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use switchboard_domain::{
    event::EventType,
    ids::{ConversationId, QueueId, UserId, WorkstreamId},
    setup::Distribution,
};
use switchboard_store::model::Event;

/// Who a connection shows events to.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// Supervisors, admins and integrations: every event of the organization (integrations narrow by type).
    Organization,
    /// An agent, with the queues they are a member of (as the hub's table has them; the hub moves them live).
    Agent { id: UserId, queues: HashSet<QueueId> },
    /// An agent key that acts for no user: it sees nothing.
    Nobody,
    /// A customer with a chat token: their conversation only (the stream also narrows them to
    /// [`CUSTOMER_EVENT_TYPES`]).
    Customer { conversation: ConversationId },
}

/// What a customer's stream carries: the conversation's messages, its state, its place in the queue, and typing.
pub const CUSTOMER_EVENT_TYPES: &[&str] = &[
    "message.created",
    "conversation.state_changed",
    "conversation.transferred",
    "routing.queued",
    "routing.position_changed",
    "routing.wait_estimate_changed",
    "conversation.typing",
];

/// What a connection asked for, on top of what it may see.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Event type patterns (`message.created`, `conversation.*`); empty: all.
    pub types: Vec<String>,
    /// Only these conversations' events; empty: all the viewer may see.
    pub conversations: HashSet<ConversationId>,
}

impl Filter {
    /// The conversation first: most connections follow one conversation (a customer's, a Direct Line client's), and
    /// each event is asked of every connection of its organization.
    pub fn admits(&self, event_type: &str, conversation: Option<ConversationId>) -> bool {
        (self.conversations.is_empty() || conversation.is_some_and(|c| self.conversations.contains(&c)))
            && crate::delivery::wants(&self.types, event_type)
    }
}

/// Whose each live conversation is, where the unassigned ones wait, and what decides who may pick them.
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    pub owners: HashMap<ConversationId, UserId>,
    pub waiting: HashMap<ConversationId, QueueId>,
    /// Each live conversation's workstream.
    pub workstreams: HashMap<ConversationId, WorkstreamId>,
    /// The workstreams in pick mode: only their waiting conversations are shown to the queues' members.
    pub pick: HashSet<WorkstreamId>,
    /// The queues each agent is a member of.
    pub members: HashMap<UserId, HashSet<QueueId>>,
}

/// Whose the event's conversation was before the event and is after it: an agent sees the event that takes a
/// conversation away from them, and the one that gives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    conversation: Option<ConversationId>,
    owner: [Option<UserId>; 2],
    waiting: [Option<QueueId>; 2],
}

impl Seen {
    /// Whether `viewer` may see an event with this `data` (a signal has none).
    pub fn visible_to(&self, viewer: &Viewer, data: &Value) -> bool {
        match viewer {
            Viewer::Organization => true,
            Viewer::Nobody => false,
            Viewer::Customer { conversation } => self.conversation == Some(*conversation),
            Viewer::Agent { id, queues } => {
                self.owner.contains(&Some(*id))
                    || self.waiting.iter().flatten().any(|q| queues.contains(q))
                    || names(data, "agent_id", *id)
                    || names(data, "from_agent_id", *id)
            }
        }
    }

    /// For an ephemeral signal about a conversation: whether the viewer may see that conversation now.
    pub fn now(table: &Ownership, conversation: ConversationId) -> Self {
        let owner = table.owners.get(&conversation).copied();
        let waiting = table.waiting_to_pick(conversation);
        Self { conversation: Some(conversation), owner: [owner, owner], waiting: [waiting, waiting] }
    }
}

/// Whether `event` closes its conversation (what lets the table forget its workstream).
fn is_closing(event: &Event) -> bool {
    EventType::parse(&event.event_type) == Some(EventType::ConversationStateChanged)
        && event.data.get("to").and_then(Value::as_str) == Some("closed")
}

fn names(data: &Value, field: &str, agent: UserId) -> bool {
    data.get(field).and_then(Value::as_str).is_some_and(|v| v == agent.to_string())
}

fn id_at<T: std::str::FromStr>(data: &Value, pointer: &str) -> Option<T> {
    data.pointer(pointer).and_then(Value::as_str).and_then(|s| s.parse().ok())
}

impl Ownership {
    /// The queue the conversation waits in to be picked: none unless its workstream is in pick mode.
    fn waiting_to_pick(&self, c: ConversationId) -> Option<QueueId> {
        let pick = self.workstreams.get(&c).is_some_and(|w| self.pick.contains(w));
        self.waiting.get(&c).copied().filter(|_| pick)
    }

    /// The queues `agent` is a member of.
    pub fn queues_of(&self, agent: UserId) -> HashSet<QueueId> {
        self.members.get(&agent).cloned().unwrap_or_default()
    }

    /// Keeps the workstreams' modes and each conversation's workstream from `event`.
    fn note_workstreams(&mut self, event: &Event) {
        let data = &event.data;
        match EventType::parse(&event.event_type) {
            Some(EventType::WorkstreamCreated | EventType::WorkstreamUpdated) => {
                if let Some(id) = id_at(data, "/id") {
                    match data.get("distribution").and_then(Value::as_str).and_then(Distribution::parse) {
                        Some(Distribution::Pick) => self.pick.insert(id),
                        _ => self.pick.remove(&id),
                    };
                }
            }
            Some(EventType::ConversationCreated) => {
                if let (Some(c), Some(w)) = (event.conversation_id, id_at(data, "/workstream_id")) {
                    self.workstreams.insert(c, w);
                }
            }
            Some(EventType::ConversationStateChanged) => {
                if let (Some(c), Some(w)) = (event.conversation_id, id_at(data, "/conversation/workstream_id")) {
                    self.workstreams.insert(c, w);
                }
            }
            _ => {}
        }
    }

    /// Moves the agents' queues by a `queue.members_changed` event, returning the agents whose queues changed.
    pub fn regroup(&mut self, event: &Event) -> Vec<UserId> {
        if EventType::parse(&event.event_type) != Some(EventType::QueueMembersChanged) {
            return Vec::new();
        }
        let Some(queue) = id_at::<QueueId>(&event.data, "/queue_id") else { return Vec::new() };
        let after: HashSet<UserId> = event
            .data
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| id_at(m, "/user_id"))
            .collect();
        let mut changed = Vec::new();
        for (agent, queues) in &mut self.members {
            if !after.contains(agent) && queues.remove(&queue) {
                changed.push(*agent);
            }
        }
        for agent in after {
            if self.members.entry(agent).or_default().insert(queue) {
                changed.push(agent);
            }
        }
        self.members.retain(|_, queues| !queues.is_empty());
        changed
    }

    /// Moves the table by `event`, returning whose its conversation was before and after.
    pub fn observe(&mut self, event: &Event) -> Seen {
        self.note_workstreams(event);
        let Some(c) = event.conversation_id else { return Seen::default() };
        let before = (self.owners.get(&c).copied(), self.waiting_to_pick(c));
        let data = &event.data;
        match event.kind() {
            Some(EventType::RoutingAssigned) => {
                if let Some(agent) = id_at(data, "/agent_id") {
                    self.owners.insert(c, agent);
                }
                self.waiting.remove(&c);
            }
            Some(EventType::ConversationStateChanged) => {
                let state = data.pointer("/conversation/state").and_then(Value::as_str).unwrap_or_default();
                match id_at(data, "/conversation/agent_id").filter(|_| state != "closed") {
                    Some(agent) => self.owners.insert(c, agent),
                    None => self.owners.remove(&c),
                };
                if state != "open" {
                    self.waiting.remove(&c);
                }
            }
            Some(EventType::ConversationTransferred) => {
                self.owners.remove(&c);
            }
            Some(EventType::RoutingQueued) => {
                if let Some(queue) = id_at(data, "/queue_id") {
                    self.waiting.insert(c, queue);
                }
            }
            Some(EventType::RoutingDequeued) => {
                self.waiting.remove(&c);
            }
            _ => {}
        }
        let after = (self.owners.get(&c).copied(), self.waiting_to_pick(c));
        if is_closing(event) {
            self.workstreams.remove(&c);
        }
        Seen { conversation: Some(c), owner: [before.0, after.0], waiting: [before.1, after.1] }
    }

    /// The part of the table one viewer's decisions depend on.
    pub fn for_viewer(&self, viewer: &Viewer) -> Ownership {
        match viewer {
            Viewer::Organization | Viewer::Nobody | Viewer::Customer { .. } => Ownership::default(),
            Viewer::Agent { id, queues } => Ownership {
                owners: self.owners.iter().filter(|(_, a)| *a == id).map(|(c, a)| (*c, *a)).collect(),
                waiting: self.waiting.iter().filter(|(_, q)| queues.contains(q)).map(|(c, q)| (*c, *q)).collect(),
                // Whole: a replay may bring back conversations that waited before and have left the queue since.
                workstreams: self.workstreams.clone(),
                pick: self.pick.clone(),
                members: HashMap::new(),
            },
        }
    }

    /// The table as it was before `events` (a replayed stretch of the log, in order), from the table after them
    /// (`self`): each conversation's first event that changes whose it is says whose it was before.
    pub fn rewound(mut self, events: &[Event]) -> Ownership {
        let mut owner_known = HashSet::new();
        let mut waiting_known = HashSet::new();
        for event in events {
            let Some(c) = event.conversation_id else { continue };
            let data = &event.data;
            let kind = event.kind();
            let owner_before = match kind {
                Some(EventType::RoutingAssigned) => Some(None),
                Some(EventType::ConversationStateChanged) => {
                    let from = data.get("from").and_then(Value::as_str).unwrap_or_default();
                    Some(matches!(from, "active" | "waiting" | "wrap_up").then(|| id_at(data, "/agent/id")).flatten())
                }
                Some(EventType::ConversationTransferred) => Some(id_at(data, "/from_agent_id")),
                _ => None,
            };
            if let Some(owner) = owner_before
                && owner_known.insert(c)
            {
                match owner {
                    Some(agent) => self.owners.insert(c, agent),
                    None => self.owners.remove(&c),
                };
            }
            let waiting_before = match kind {
                Some(EventType::RoutingQueued) => Some(None),
                Some(EventType::RoutingDequeued | EventType::RoutingAssigned) => Some(id_at(data, "/queue_id")),
                _ => None,
            };
            if let Some(waiting) = waiting_before
                && waiting_known.insert(c)
            {
                match waiting {
                    Some(queue) => self.waiting.insert(c, queue),
                    None => self.waiting.remove(&c),
                };
            }
        }
        self
    }
}
