//! How often a waiting conversation's log records its place in the queue.
//!
//! The engine reports a conversation's new position whenever the front of its queue moves (the first 20 of each
//! queue). When a queue drains quickly (agents coming online after a backlog), the same customers move up several
//! times a second, and writing each move was most of what a drain wrote. So a conversation's log gets at most
//! one `routing.position_changed` per [`INTERVAL_MS`]: a change within it is held, and its latest position is
//! written when the interval has passed, if the conversation is still waiting then. Customers' own updates
//! (`routing.wait_estimate_changed`, system messages) have their own, longer interval (`wait`); what the engine
//! says now is always read with `GET /v1/conversations/{id}/queue-position`.

use std::collections::{BTreeSet, HashMap};

use switchboard_domain::{Timestamp, ids::*, routing::engine::RoutingEvent};

use super::OrgRouting;

/// The least time between two position entries in one conversation's log.
pub const INTERVAL_MS: i64 = 1_000;

#[derive(Debug, Default)]
pub(super) struct PositionLog {
    /// The position last written for each waiting conversation, with when.
    written: HashMap<ConversationId, (Timestamp, QueueId, usize)>,
    /// Conversations with a newer position held back, by when it may be written.
    held: BTreeSet<(Timestamp, ConversationId)>,
    held_until: HashMap<ConversationId, Timestamp>,
}

impl PositionLog {
    /// Keeps what may be written now: every event but the position changes that come too soon after the last one
    /// written for their conversation, which are held. Conversations that stopped waiting are forgotten.
    pub(super) fn admit(&mut self, events: Vec<RoutingEvent>, now: Timestamp) -> Vec<RoutingEvent> {
        let mut kept = Vec::with_capacity(events.len());
        for event in events {
            match event {
                RoutingEvent::PositionChanged { conversation, queue, position } => {
                    match self.written.get(&conversation) {
                        Some(&(at, q, p)) if q == queue && now.millis() - at.millis() < INTERVAL_MS => {
                            if p == position {
                                self.release(conversation);
                            } else {
                                self.hold(conversation, at.plus_millis(INTERVAL_MS));
                            }
                        }
                        _ => {
                            self.release(conversation);
                            self.written.insert(conversation, (now, queue, position));
                            kept.push(event);
                        }
                    }
                }
                RoutingEvent::Dequeued { conversation, .. } | RoutingEvent::Assigned { conversation, .. } => {
                    self.forget(conversation);
                    kept.push(event);
                }
                _ => kept.push(event),
            }
        }
        kept
    }

    /// When a held position is due next.
    pub(super) fn next_due(&self) -> Option<Timestamp> {
        self.held.first().map(|(at, _)| *at)
    }

    /// The conversations whose held position is due by `now`, no longer held. The caller asks the engine where
    /// each is now and writes that, through [`PositionLog::admit`].
    pub(super) fn take_due(&mut self, now: Timestamp) -> Vec<ConversationId> {
        let mut due = Vec::new();
        while let Some(&(at, conversation)) = self.held.first() {
            if at > now {
                break;
            }
            self.held.pop_first();
            self.held_until.remove(&conversation);
            due.push(conversation);
        }
        due
    }

    /// The position last written for the conversation.
    pub(super) fn written(&self, conversation: ConversationId) -> Option<(QueueId, usize)> {
        self.written.get(&conversation).map(|&(_, queue, position)| (queue, position))
    }

    fn hold(&mut self, conversation: ConversationId, until: Timestamp) {
        if self.held_until.insert(conversation, until).is_none() {
            self.held.insert((until, conversation));
        }
    }

    fn release(&mut self, conversation: ConversationId) {
        if let Some(until) = self.held_until.remove(&conversation) {
            self.held.remove(&(until, conversation));
        }
    }

    fn forget(&mut self, conversation: ConversationId) {
        self.release(conversation);
        self.written.remove(&conversation);
    }
}

impl OrgRouting {
    /// Where the conversations whose position the log held back are now, for those still waiting elsewhere than
    /// the log last said.
    pub(super) fn held_positions(&mut self, now: Timestamp) -> Vec<RoutingEvent> {
        let due = self.positions.take_due(now);
        due.into_iter()
            .filter_map(|conversation| {
                let (queue, position) = self.engine.position(conversation)?;
                (self.positions.written(conversation) != Some((queue, position)))
                    .then_some(RoutingEvent::PositionChanged { conversation, queue, position })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(conversation: ConversationId, queue: QueueId, position: usize) -> RoutingEvent {
        RoutingEvent::PositionChanged { conversation, queue, position }
    }

    #[test]
    fn moves_within_the_interval_are_held_and_the_latest_is_due_when_it_passes() {
        let mut log = PositionLog::default();
        let (c, q) = (ConversationId::new(), QueueId::new());
        let t0 = Timestamp::from_millis(1_000_000);
        assert_eq!(log.admit(vec![moved(c, q, 5)], t0).len(), 1);
        assert!(log.admit(vec![moved(c, q, 4)], t0.plus_millis(100)).is_empty());
        assert!(log.admit(vec![moved(c, q, 3)], t0.plus_millis(200)).is_empty());
        assert_eq!(log.next_due(), Some(t0.plus_millis(INTERVAL_MS)));
        assert!(log.take_due(t0.plus_millis(INTERVAL_MS - 1)).is_empty());
        assert_eq!(log.take_due(t0.plus_millis(INTERVAL_MS)), vec![c]);
        assert_eq!(log.written(c), Some((q, 5)));
        let later = t0.plus_millis(INTERVAL_MS);
        assert_eq!(log.admit(vec![moved(c, q, 3)], later).len(), 1, "written once the interval passed");
        assert_eq!(log.written(c), Some((q, 3)));
        assert_eq!(log.next_due(), None);
    }

    #[test]
    fn moving_back_to_the_written_place_or_leaving_the_queue_holds_nothing() {
        let mut log = PositionLog::default();
        let (c, q) = (ConversationId::new(), QueueId::new());
        let t0 = Timestamp::from_millis(1_000_000);
        log.admit(vec![moved(c, q, 2)], t0);
        log.admit(vec![moved(c, q, 3)], t0.plus_millis(10));
        log.admit(vec![moved(c, q, 2)], t0.plus_millis(20));
        assert_eq!(log.next_due(), None, "back where the log says it is");
        log.admit(vec![moved(c, q, 1)], t0.plus_millis(30));
        let kept = log.admit(vec![RoutingEvent::Dequeued { conversation: c, queue: q }], t0.plus_millis(40));
        assert_eq!(kept.len(), 1);
        assert_eq!((log.next_due(), log.written(c)), (None, None));
        // Another queue is a new place, written at once.
        let other = QueueId::new();
        log.admit(vec![moved(c, q, 4)], t0.plus_millis(50));
        assert_eq!(log.admit(vec![moved(c, other, 1)], t0.plus_millis(60)).len(), 1);
    }
}
