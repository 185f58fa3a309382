//! One queue's routing state: its members and its waiting conversations in routing order.

use std::collections::BTreeMap;

use super::config::{AssignmentMethod, ItemOrder, QueueSettings, WorkItem};
use crate::ids::{ConversationId, QueueId};

/// Where a waiting conversation stands in its queue. Field order is the routing order: affinity first, then the
/// custom bucket, then priority (higher first), the bucket's order, arrival, and a sequence number so that keys are
/// unique and ties keep arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct QueueKey {
    pub(super) affinity: u8,
    pub(super) bucket: u32,
    pub(super) priority: i64,
    pub(super) order: i64,
    pub(super) enqueued: i64,
    pub(super) seq: u64,
}

#[derive(Debug, Clone)]
pub(super) struct Member {
    pub(super) agent: usize,
    pub(super) join_seq: u64,
    /// The engine sequence number of this member's last assignment from this queue; round robin takes the lowest,
    /// so members never assigned go first, in the order they joined.
    pub(super) rotation: u64,
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) id: QueueId,
    pub(super) settings: QueueSettings,
    pub(super) members: Vec<Member>,
    /// Open conversations of push workstreams, in routing order.
    pub(super) push: BTreeMap<QueueKey, ConversationId>,
    /// Open conversations of pick workstreams, waiting for an agent to take them.
    pub(super) pick: BTreeMap<QueueKey, ConversationId>,
}

impl Queue {
    pub(super) fn new(id: QueueId, settings: QueueSettings) -> Self {
        Queue { id, settings, members: Vec::new(), push: BTreeMap::new(), pick: BTreeMap::new() }
    }

    pub(super) fn key_for(&self, item: &WorkItem, affinity: bool, seq: u64) -> QueueKey {
        let mut key = QueueKey {
            affinity: u8::from(!affinity),
            bucket: 0,
            priority: -i64::from(item.priority),
            order: 0,
            enqueued: item.enqueued_at.millis(),
            seq,
        };
        if let AssignmentMethod::Custom(custom) = &self.settings.method {
            key.priority = 0;
            let found = custom.prioritization.iter().enumerate().find(|(_, b)| (b.matches)(item));
            match found {
                Some((i, bucket)) => {
                    key.bucket = u32::try_from(i).unwrap_or(u32::MAX);
                    key.order = match &bucket.order {
                        ItemOrder::Fifo => 0,
                        ItemOrder::Ascending(name) => item.number(name).map_or(i64::MAX, sortable),
                        ItemOrder::Descending(name) => item.number(name).map_or(i64::MAX, |n| !sortable(n)),
                    };
                }
                None => key.bucket = u32::try_from(custom.prioritization.len()).unwrap_or(u32::MAX),
            }
        }
        key
    }

    pub(super) fn member(&self, agent: usize) -> Option<&Member> {
        self.members.iter().find(|m| m.agent == agent)
    }
}

/// Maps a float onto an integer with the same order, so keys stay `Ord`. `!` of the result reverses the order
/// without overflow. NaN sorts after every number.
fn sortable(n: f64) -> i64 {
    let bits = if n.is_nan() { f64::INFINITY.to_bits() } else { n.to_bits() };
    let signed = i64::from_ne_bytes(bits.to_ne_bytes());
    if signed < 0 { signed ^ i64::MAX } else { signed }
}

#[cfg(test)]
mod tests {
    use super::sortable;

    #[test]
    fn sortable_keeps_float_order() {
        let values = [f64::NEG_INFINITY, -3.5, -0.0, 0.0, 1e-9, 2.0, 1e300, f64::INFINITY];
        for pair in values.windows(2) {
            assert!(sortable(pair[0]) <= sortable(pair[1]), "{pair:?}");
            assert!(!sortable(pair[0]) >= !sortable(pair[1]), "{pair:?}");
        }
    }
}
