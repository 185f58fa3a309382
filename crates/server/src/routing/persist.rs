//! Writing down what the engine decided: each [`RoutingEvent`] becomes a log entry (`routing.*`,
//! `agent.presence_changed`), with its offer row or saved presence, in one transaction with the classification,
//! overflow and wait updates that go with it. Writes are queued in the engine's order and commit after the
//! organization's lock is released (`submit`).

use switchboard_domain::{
    Error, Timestamp,
    event::{
        self, Assigned, CapacityReleased, OfferEnded, OfferIssued, OfferSource, PositionChanged, PresenceChangeReason,
        PresenceChanged, QueueWait, TypedEvent,
    },
    ids::*,
    routing::engine::{AssignedBy, OfferId, OfferKind, Presence, PresenceReason, RoutingEvent},
    setup::PresenceName,
};
use switchboard_store::{
    Committing, Tx, events,
    routing::{self as store, Classified, Offer, OfferState},
};
use uuid::Uuid;

use super::{Deps, OrgRouting, agents::presence_name, catalogue, wait};

/// A write that commits before the routing writes of the same transaction.
pub(super) type FirstWrite = Box<dyn FnOnce(&mut Tx<'_>) -> Result<(), Error> + Send>;

impl OrgRouting {
    /// Writes what the engine reported: offers, the conversations' logs, agents' presence changes.
    pub(super) async fn persist(&mut self, deps: &Deps, events: Vec<RoutingEvent>) -> Result<(), Error> {
        self.persist_with(deps, Vec::new(), events).await
    }

    pub(super) async fn persist_with(
        &mut self,
        deps: &Deps,
        classified: Vec<Classified>,
        events: Vec<RoutingEvent>,
    ) -> Result<(), Error> {
        self.submit(deps, classified, events, None).await?.await
    }

    /// Queues what the engine reported (after `first`, in the same transaction) and returns the commit, so that a
    /// caller can release the organization's lock before it waits: on SQLite the next routing writes then join
    /// the same group commit, and still commit in the order the engine decided them.
    pub(super) async fn submit(
        &mut self,
        deps: &Deps,
        classified: Vec<Classified>,
        events: Vec<RoutingEvent>,
        first: Option<FirstWrite>,
    ) -> Result<Committing<()>, Error> {
        let now = deps.clock.now();
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
        deps.routing.wake.notify_one();
        let commit = deps.store.submit(move |tx| {
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
                events::record_event(tx, org, w.conversation, &w.event, now)?;
            }
            wait::write(tx, org, &notices, now)
        });
        // Whoever wrote this, a write that does not commit leaves the engine ahead of the store: every caller (the
        // follower, the timer, the API) has the organization rebuilt, rather than only the one that looks.
        let routing = deps.routing.clone();
        let commit = commit.await.inspect_err(|e| {
            tracing::error!(%org, error = %e, "a routing write could not be queued");
            routing.write_failed(org);
        })?;
        Ok(Box::pin(async move {
            commit.await.inspect_err(|e| {
                tracing::error!(%org, error = %e, "a routing write did not commit");
                routing.write_failed(org);
            })
        }))
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
                Write::log(conversation, TypedEvent::RoutingQueued(QueueWait { queue_id: queue }))
            }
            RoutingEvent::Dequeued { conversation, queue } => {
                self.wait_paused(conversation);
                self.enqueued_at.remove(&conversation);
                Write::log(conversation, TypedEvent::RoutingDequeued(QueueWait { queue_id: queue }))
            }
            RoutingEvent::OfferIssued { offer, conversation, agent, queue, expires_at, kind } => {
                self.wait_paused(conversation);
                let id = Uuid::now_v7();
                self.offer_uuid.insert(offer, id);
                self.offer_by_uuid.insert(id, offer);
                let kind = match kind {
                    OfferKind::Queue => OfferSource::Queue,
                    OfferKind::Affinity => OfferSource::Affinity,
                    OfferKind::Transfer => OfferSource::Transfer,
                };
                let issued = OfferIssued { offer_id: id, agent_id: agent, queue_id: queue, expires_at, kind };
                let mut w = Write::log(conversation, TypedEvent::RoutingOfferIssued(issued));
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
                let id = finish(self, offer);
                let ended = OfferEnded { offer_id: id, agent_id: agent };
                let (logged, state) = match event {
                    RoutingEvent::OfferRejected { .. } => {
                        (TypedEvent::RoutingOfferRejected(ended), OfferState::Rejected)
                    }
                    RoutingEvent::OfferExpired { .. } => (TypedEvent::RoutingOfferExpired(ended), OfferState::Expired),
                    _ => (TypedEvent::RoutingOfferWithdrawn(ended), OfferState::Withdrawn),
                };
                let mut w = Write::log(conversation, logged);
                w.offer = id.map(|id| OfferWrite::Finish(id, state, None));
                w
            }
            RoutingEvent::Assigned { conversation, agent, queue, by } => {
                // Counted in the queue that served it, from when it began waiting there: a conversation that
                // moved queues, or came back from an agent, did not wait since it first arrived.
                let since = self.waiting_since(conversation).or_else(|| self.enqueued_at.get(&conversation).copied());
                self.wait_over(conversation);
                let (how, offer) = match by {
                    AssignedBy::Offer(o) => (event::AssignedBy::Offer, finish(self, o)),
                    AssignedBy::Pick => (event::AssignedBy::Pick, None),
                    AssignedBy::Resume => (event::AssignedBy::Resume, None),
                };
                let waited = since.map(|at| now.millis() - at.millis());
                let assigned =
                    Assigned { agent_id: agent, queue_id: queue, by: how, offer_id: offer, waited_ms: waited };
                let mut w = Write::log(conversation, TypedEvent::RoutingAssigned(assigned));
                w.offer = offer.map(|id| OfferWrite::Finish(id, OfferState::Accepted, waited));
                w
            }
            RoutingEvent::CapacityReleased { conversation, agent } => {
                Write::log(conversation, TypedEvent::RoutingCapacityReleased(CapacityReleased { agent_id: agent }))
            }
            RoutingEvent::PresenceChanged { agent, presence, reason } => {
                let reason_name = match reason {
                    PresenceReason::Agent => PresenceChangeReason::Agent,
                    PresenceReason::CapacityFull => PresenceChangeReason::CapacityFull,
                    PresenceReason::CapacityFreed => PresenceChangeReason::CapacityFreed,
                    PresenceReason::MissedOffer => PresenceChangeReason::MissedOffer,
                    PresenceReason::RejectedOffer => PresenceChangeReason::RejectedOffer,
                    PresenceReason::AfterConversationWork => PresenceChangeReason::AfterConversationWork,
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
                    conversation: None,
                    event: TypedEvent::AgentPresenceChanged(PresenceChanged {
                        agent_id: agent,
                        presence: name,
                        custom_presence_id: custom,
                        reason: reason_name,
                    }),
                    offer: None,
                    // Capacity-driven Busy is transient; a missed or rejected offer's presence stays until changed.
                    presence: stays.then_some((agent, name)),
                }
            }
            RoutingEvent::PositionChanged { conversation, queue, position } => {
                let position = u64::try_from(position).unwrap_or(u64::MAX);
                Write::log(
                    conversation,
                    TypedEvent::RoutingPositionChanged(PositionChanged { queue_id: queue, position }),
                )
            }
        }
    }
}

enum OfferWrite {
    Insert(Offer),
    Finish(Uuid, OfferState, Option<i64>),
}

struct Write {
    conversation: Option<ConversationId>,
    event: TypedEvent,
    offer: Option<OfferWrite>,
    presence: Option<(UserId, PresenceName)>,
}

impl Write {
    fn log(conversation: ConversationId, event: TypedEvent) -> Self {
        Self { conversation: Some(conversation), event, offer: None, presence: None }
    }
}
