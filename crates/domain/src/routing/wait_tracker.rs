//! Feeding the wait estimator from routing's events: the one place that turns what the engine decided into the
//! estimator's inputs, so that the server and `switchboard simulate` estimate from the same observations.
//!
//! A customer's stay in a queue is split into time in the backlog (Open, waiting for an agent) and time in offers
//! (an agent has it and has not accepted yet, or declined it). Only backlog time says how fast the queue is
//! served; offer time is learned apart (see [`WaitEstimator::on_assigned`]).

use std::{collections::HashMap, time::Duration};

use super::{
    engine::{Engine, RoutingEvent, SkillSet},
    wait::{Asker, Staffing, WaitConfig, WaitEstimator},
};
use crate::{
    Timestamp,
    ids::{ConversationId, QueueId, WorkstreamId},
};

/// A customer waiting for an agent: in the backlog or in an offer.
#[derive(Debug, Clone)]
struct Stay {
    queue: QueueId,
    /// The skills they need, as routing saw them when they joined (what their history is kept under).
    skills: SkillSet,
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
/// each queue's staffing (for each skill set its customers need) as last told.
#[derive(Debug, Clone)]
pub struct WaitTracker {
    estimator: WaitEstimator,
    waiting: HashMap<ConversationId, Stay>,
    serving: HashMap<ConversationId, (QueueId, Timestamp)>,
    staffed: HashMap<(QueueId, SkillSet), usize>,
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
    /// whose staffing changed: the queue's, and that of each skill set its history knows.
    pub fn refresh_staffing(&mut self, engine: &Engine, queues: impl IntoIterator<Item = QueueId>, now: Timestamp) {
        for queue in queues {
            let mut sets: Vec<SkillSet> = self.estimator.skill_sets(queue).filter(|s| !s.is_empty()).cloned().collect();
            sets.push(SkillSet::default());
            for skills in sets {
                self.refresh_one(engine, queue, skills, now);
            }
        }
    }

    fn refresh_one(&mut self, engine: &Engine, queue: QueueId, skills: SkillSet, now: Timestamp) {
        let staffed = engine.staffed_slots_with(queue, &skills).unwrap_or(0);
        let key = (queue, skills);
        if self.staffed.get(&key) != Some(&staffed) {
            self.estimator.on_staffing(queue, &key.1, staffed, now);
            self.staffed.insert(key, staffed);
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
        for (i, event) in events.iter().enumerate() {
            match *event {
                RoutingEvent::Queued { conversation, queue } => {
                    // A skill set new to the queue needs its staffing before its first customer waits.
                    let skills = match self.waiting.get(&conversation) {
                        Some(stay) => stay.skills.clone(),
                        None => engine.skill_set(conversation).unwrap_or_default(),
                    };
                    if !self.staffed.contains_key(&(queue, skills.clone())) {
                        self.refresh_one(engine, queue, skills.clone(), now);
                    }
                    let e = &mut self.estimator;
                    match self.waiting.get_mut(&conversation) {
                        Some(stay) => {
                            if let Some(at) = stay.offer_since.take() {
                                stay.offered_ms += now.millis() - at.millis();
                                if stay.queue == queue {
                                    e.on_requeued(queue, &stay.skills, now);
                                }
                            } else if stay.queue != queue {
                                e.on_dequeued(stay.queue, &stay.skills, now);
                            }
                            if stay.queue != queue {
                                // Moved to another queue: an arrival there, not a departure here.
                                e.on_enqueue(queue, &stay.skills, now);
                                stay.queue = queue;
                            }
                        }
                        None => {
                            e.on_enqueue(queue, &skills, now);
                            let since = since(conversation).unwrap_or(now).min(now);
                            let stay = Stay { queue, skills, since, offered_ms: 0, offer_since: None };
                            self.waiting.insert(conversation, stay);
                        }
                    }
                }
                RoutingEvent::OfferIssued { conversation, .. } => {
                    if let Some(stay) = self.waiting.get_mut(&conversation)
                        && stay.in_backlog()
                    {
                        self.estimator.on_dequeued(stay.queue, &stay.skills, now);
                        stay.offer_since = Some(now);
                    }
                }
                RoutingEvent::Dequeued { conversation, .. } => {
                    // Followed by its arrival in another queue (a move) or closed while waiting (gone).
                    let moved = events[i + 1..]
                        .iter()
                        .any(|e| matches!(e, RoutingEvent::Queued { conversation: c, .. } if *c == conversation));
                    if !moved && let Some(stay) = self.waiting.remove(&conversation) {
                        let e = &mut self.estimator;
                        if stay.in_backlog() {
                            e.on_dequeued(stay.queue, &stay.skills, now);
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
                        self.estimator.on_abandoned(stay.queue, ms(now.millis() - stay.since.millis()), now);
                    }
                }
                RoutingEvent::Assigned { conversation, queue, .. } => {
                    if let Some(stay) = self.waiting.remove(&conversation) {
                        let e = &mut self.estimator;
                        if stay.in_backlog() {
                            e.on_dequeued(stay.queue, &stay.skills, now);
                        }
                        let (queued, offered) = stay.split(now);
                        e.on_assigned(stay.queue, &stay.skills, queued, offered, now);
                    }
                    self.serving.insert(conversation, (queue, now));
                }
                RoutingEvent::CapacityReleased { conversation, .. } => {
                    if let Some((q, from)) = self.serving.remove(&conversation) {
                        self.estimator.on_handle_time(q, ms(now.millis() - from.millis()), now);
                    }
                }
                _ => {}
            }
        }
    }

    /// The estimated wait at `position` in `queue` for `asker`, a customer of `workstream`. `None` when nobody
    /// who could take them staffs the queue.
    pub fn estimate(
        &self,
        engine: &Engine,
        queue: QueueId,
        workstream: WorkstreamId,
        position: usize,
        asker: Asker<'_>,
        now: Timestamp,
    ) -> Option<Duration> {
        let staffing = Staffing::of(engine, queue, workstream, asker, now)?;
        self.estimator.estimate(queue, position, &staffing, now)
    }
}
