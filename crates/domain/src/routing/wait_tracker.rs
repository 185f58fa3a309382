//! Feeding the wait estimator from routing's events: the one place that turns what the engine decided into the
//! estimator's inputs, so that the server and `switchboard simulate` estimate from the same observations.
//!
//! A customer's stay in a queue is split into time in the backlog (Open, waiting for an agent) and time in offers
//! (an agent has it and has not accepted yet, or declined it). Only backlog time says how fast the queue is
//! served; offer time is learned apart (see [`WaitEstimator::on_assigned`]).

use std::{collections::HashMap, time::Duration};

use super::{
    engine::{Engine, RoutingEvent},
    wait::{Staffing, WaitConfig, WaitEstimator},
};
use crate::{
    Timestamp,
    ids::{ConversationId, QueueId, WorkstreamId},
};

/// A customer waiting for an agent: in the backlog or in an offer.
#[derive(Debug, Clone, Copy)]
struct Stay {
    queue: QueueId,
    since: Timestamp,
    /// Milliseconds spent in offers that ended.
    offered_ms: i64,
    /// When the current offer began; `None` while in the backlog.
    offer_since: Option<Timestamp>,
}

impl Stay {
    fn in_backlog(&self) -> bool {
        self.offer_since.is_none()
    }

    /// Time in the backlog and time in offers, up to `now`.
    fn split(&self, now: Timestamp) -> (Duration, Duration) {
        let offered = self.offered_ms + self.offer_since.map_or(0, |at| now.millis() - at.millis());
        let total = now.millis() - self.since.millis();
        (ms(total - offered), ms(offered))
    }
}

fn ms(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// The estimator with what it takes to feed it: who waits (and how long in offers), who is served since when, and
/// each queue's staffing as last told.
#[derive(Debug, Clone)]
pub struct WaitTracker {
    estimator: WaitEstimator,
    waiting: HashMap<ConversationId, Stay>,
    serving: HashMap<ConversationId, (QueueId, Timestamp)>,
    staffed: HashMap<QueueId, usize>,
}

impl WaitTracker {
    pub fn new(config: WaitConfig) -> Self {
        Self {
            estimator: WaitEstimator::new(config),
            waiting: HashMap::new(),
            serving: HashMap::new(),
            staffed: HashMap::new(),
        }
    }

    /// The estimator, to read (rates, handle time) or to replay history into.
    pub fn estimator(&self) -> &WaitEstimator {
        &self.estimator
    }

    pub fn estimator_mut(&mut self) -> &mut WaitEstimator {
        &mut self.estimator
    }

    /// The conversations waiting for an agent (in the backlog or offered), with their queue and since when.
    pub fn waiting(&self) -> impl Iterator<Item = (ConversationId, QueueId, Timestamp)> + '_ {
        self.waiting.iter().map(|(&c, s)| (c, s.queue, s.since))
    }

    /// Whether anyone waits.
    pub fn anyone_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Forgets conversations routing no longer holds (a safety net; events normally say so).
    pub fn retain(&mut self, engine: &Engine) {
        self.waiting.retain(|c, _| engine.conversation(*c).is_some());
        self.serving.retain(|c, _| engine.conversation(*c).is_some());
    }

    /// Tells the estimator the staffing (in conversations, as [`Staffing`] counts it) of every queue in `queues`
    /// whose staffing changed.
    pub fn refresh_staffing(&mut self, engine: &Engine, queues: impl IntoIterator<Item = QueueId>, now: Timestamp) {
        for queue in queues {
            let staffed = engine.staffed_slots(queue).unwrap_or(0);
            if self.staffed.get(&queue) != Some(&staffed) {
                self.staffed.insert(queue, staffed);
                self.estimator.on_staffing(queue, staffed, now);
            }
        }
    }

    /// Feeds what routing decided (the events of one engine call, in order) to the estimator. `engine` is the
    /// engine after the call; `since` gives a new customer's arrival when it is older than `now` (restored at
    /// start).
    pub fn observe(
        &mut self,
        engine: &Engine,
        events: &[RoutingEvent],
        now: Timestamp,
        since: impl Fn(ConversationId) -> Option<Timestamp>,
    ) {
        let e = &mut self.estimator;
        for (i, event) in events.iter().enumerate() {
            match *event {
                RoutingEvent::Queued { conversation, queue } => match self.waiting.get_mut(&conversation) {
                    Some(stay) => {
                        if let Some(at) = stay.offer_since.take() {
                            stay.offered_ms += now.millis() - at.millis();
                            if stay.queue == queue {
                                e.on_requeued(queue, now);
                            }
                        } else if stay.queue != queue {
                            e.on_dequeued(stay.queue, now);
                        }
                        if stay.queue != queue {
                            // Moved to another queue: an arrival there, not a departure here.
                            e.on_enqueue(queue, now);
                            stay.queue = queue;
                        }
                    }
                    None => {
                        e.on_enqueue(queue, now);
                        let since = since(conversation).unwrap_or(now).min(now);
                        self.waiting.insert(conversation, Stay { queue, since, offered_ms: 0, offer_since: None });
                    }
                },
                RoutingEvent::OfferIssued { conversation, .. } => {
                    if let Some(stay) = self.waiting.get_mut(&conversation)
                        && stay.in_backlog()
                    {
                        e.on_dequeued(stay.queue, now);
                        stay.offer_since = Some(now);
                    }
                }
                RoutingEvent::Dequeued { conversation, .. } => {
                    // Followed by its arrival in another queue (a move) or closed while waiting (gone).
                    let moved = events[i + 1..]
                        .iter()
                        .any(|e| matches!(e, RoutingEvent::Queued { conversation: c, .. } if *c == conversation));
                    if !moved && let Some(stay) = self.waiting.remove(&conversation) {
                        if stay.in_backlog() {
                            e.on_dequeued(stay.queue, now);
                        }
                        e.on_abandoned(stay.queue, ms(now.millis() - stay.since.millis()), now);
                    }
                }
                RoutingEvent::OfferRejected { conversation, .. }
                | RoutingEvent::OfferExpired { conversation, .. }
                | RoutingEvent::OfferWithdrawn { conversation, .. } => {
                    // Closed while offered: the customer left before anyone answered.
                    if engine.conversation(conversation).is_none()
                        && let Some(stay) = self.waiting.remove(&conversation)
                    {
                        e.on_abandoned(stay.queue, ms(now.millis() - stay.since.millis()), now);
                    }
                }
                RoutingEvent::Assigned { conversation, queue, .. } => {
                    if let Some(stay) = self.waiting.remove(&conversation) {
                        if stay.in_backlog() {
                            e.on_dequeued(stay.queue, now);
                        }
                        let (queued, offered) = stay.split(now);
                        e.on_assigned(stay.queue, queued, offered, now);
                    }
                    self.serving.insert(conversation, (queue, now));
                }
                RoutingEvent::CapacityReleased { conversation, .. } => {
                    if let Some((q, from)) = self.serving.remove(&conversation) {
                        e.on_handle_time(q, ms(now.millis() - from.millis()), now);
                    }
                }
                _ => {}
            }
        }
    }

    /// The estimated wait at `position` in `queue` for a conversation of `workstream`, with the cooldowns of
    /// `conversation` if it is already in routing. `None` when nobody staffs the queue.
    pub fn estimate(
        &self,
        engine: &Engine,
        queue: QueueId,
        workstream: WorkstreamId,
        position: usize,
        conversation: Option<ConversationId>,
        now: Timestamp,
    ) -> Option<Duration> {
        let staffing = Staffing::of(engine, queue, workstream, conversation, now)?;
        self.estimator.estimate(queue, position, &staffing, now)
    }
}
