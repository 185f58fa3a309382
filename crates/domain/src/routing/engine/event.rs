//! What the engine reports back: every change the caller persists and publishes.

use super::config::Presence;
use crate::{
    Timestamp,
    ids::{ConversationId, QueueId, UserId},
};

/// An offer's engine-wide number. Offers are numbered in the order they are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(pub u64);

/// Why an offer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferKind {
    /// The queue's assignment method chose the agent.
    Queue,
    /// A revived conversation returns to the agent who parked it.
    Affinity,
    /// Someone transferred the conversation to this agent.
    Transfer,
}

/// How a conversation reached its agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignedBy {
    Offer(OfferId),
    Pick,
    /// The agent who parked it took it back.
    Resume,
}

/// Who or what changed an agent's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceReason {
    /// The agent (or a supervisor for them).
    Agent,
    /// Routing made the agent Busy because their capacity is full.
    CapacityFull,
    /// Capacity freed up after routing had made the agent Busy.
    CapacityFreed,
    MissedOffer,
    RejectedOffer,
    /// The runtime put the agent in their workstream's after conversation work presence during wrap-up, or gave
    /// back the one before (the engine itself never reports it).
    AfterConversationWork,
}

/// Something that happened in routing, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum RoutingEvent {
    /// The conversation waits in the queue (new, released, transferred, revived, or back from an offer).
    Queued {
        conversation: ConversationId,
        queue: QueueId,
    },
    /// The conversation left its queue without an agent (closed while waiting).
    Dequeued {
        conversation: ConversationId,
        queue: QueueId,
    },
    OfferIssued {
        offer: OfferId,
        conversation: ConversationId,
        agent: UserId,
        queue: QueueId,
        expires_at: Timestamp,
        kind: OfferKind,
    },
    OfferRejected {
        offer: OfferId,
        conversation: ConversationId,
        agent: UserId,
    },
    OfferExpired {
        offer: OfferId,
        conversation: ConversationId,
        agent: UserId,
    },
    /// The offer ended without an answer because the conversation closed, was transferred or was picked.
    OfferWithdrawn {
        offer: OfferId,
        conversation: ConversationId,
        agent: UserId,
    },
    /// The conversation is now the agent's (Active).
    Assigned {
        conversation: ConversationId,
        agent: UserId,
        queue: QueueId,
        by: AssignedBy,
    },
    /// The agent's capacity held by the conversation is free again.
    CapacityReleased {
        conversation: ConversationId,
        agent: UserId,
    },
    PresenceChanged {
        agent: UserId,
        presence: Presence,
        reason: PresenceReason,
    },
    /// A waiting conversation's 1-based position in its queue changed.
    PositionChanged {
        conversation: ConversationId,
        queue: QueueId,
        position: usize,
    },
}
