//! Queue overflow (reference §6.3): condition/action pairs a queue checks before a new conversation joins it.
//!
//! The operating-hours condition is checked first, then the others in the order they were saved; the first that
//! holds decides. Conditions: the queue is outside its operating hours, the work items already waiting reach a
//! limit, or the wait estimated for the newcomer exceeds a threshold. Actions: stay in the queue anyway, go to
//! another queue (whose own overflow is then checked), end the conversation with a message, or take a callback
//! request and end the conversation.
//!
//! Settings saved before condition/action pairs existed (`when_closed_queue_id`, `max_waiting` and
//! `when_full_queue_id`) are still read and become the equivalent rules, so stored queues keep working.

use crate::{Code, Error, ids::QueueId};

/// The smallest and largest work item limit (§6.3: 1 to 100).
pub const WORK_ITEM_LIMIT: std::ops::RangeInclusive<i64> = 1..=100;
/// The smallest and largest estimated wait threshold in seconds (§6.3: 30 s up to the messaging maximum of 2 days).
pub const WAIT_THRESHOLD_SECONDS: std::ops::RangeInclusive<i64> = 30..=172_800;
/// The longest message an end or callback action sends.
pub const MAX_MESSAGE_CHARS: usize = 1_000;

/// When a queue overflows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OverflowCondition {
    /// The queue's calendar says it is closed.
    OutOfOperatingHours,
    /// At least `limit` conversations already wait in the queue, so the newcomer would exceed it.
    WorkItemLimitExceeded { limit: i64 },
    /// The newcomer's estimated wait is longer than `seconds`.
    EstimatedWaitExceeds { seconds: i64 },
}

/// What an overflowing queue does with the newcomer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OverflowAction {
    /// Join the queue all the same (the default for operating hours in §6.3).
    AssignAnyway,
    /// Go to another queue instead.
    TransferToQueue { queue_id: QueueId },
    /// Tell the customer `message` (or a default) and close the conversation.
    EndConversation {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Record a callback request with the customer's phone and contact, tell them `message` (or a default), and
    /// close the conversation.
    OfferCallback {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// One condition and its action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverflowRule {
    pub condition: OverflowCondition,
    pub action: OverflowAction,
}

/// A queue's overflow rules. On input the older fields are accepted too and turned into rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(from = "OverflowInput")]
pub struct OverflowSettings {
    /// Checked when a conversation is routed to the queue: operating hours first, then the rest in order.
    #[serde(default)]
    pub rules: Vec<OverflowRule>,
}

/// What the API and the store may hold: rules, and the fields used before rules existed.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverflowInput {
    #[serde(default)]
    pub rules: Vec<OverflowRule>,
    /// Deprecated: outside operating hours, route to this queue (read as an `out_of_operating_hours` rule).
    #[serde(default)]
    pub when_closed_queue_id: Option<QueueId>,
    /// Deprecated: with `when_full_queue_id`, a `work_item_limit_exceeded` rule.
    #[serde(default)]
    pub max_waiting: Option<i64>,
    #[serde(default)]
    pub when_full_queue_id: Option<QueueId>,
}

impl From<OverflowInput> for OverflowSettings {
    fn from(input: OverflowInput) -> Self {
        let mut rules = Vec::new();
        if let Some(queue_id) = input.when_closed_queue_id {
            rules.push(OverflowRule {
                condition: OverflowCondition::OutOfOperatingHours,
                action: OverflowAction::TransferToQueue { queue_id },
            });
        }
        if let (Some(limit), Some(queue_id)) = (input.max_waiting, input.when_full_queue_id) {
            rules.push(OverflowRule {
                condition: OverflowCondition::WorkItemLimitExceeded { limit },
                action: OverflowAction::TransferToQueue { queue_id },
            });
        }
        // Rules given explicitly come after the converted ones; a duplicate condition is refused by `check`.
        rules.extend(input.rules);
        Self { rules }
    }
}

impl OverflowSettings {
    /// The rules in the order they are checked: operating hours first, then the others as saved.
    pub fn in_order(&self) -> impl Iterator<Item = &OverflowRule> {
        let hours = |r: &&OverflowRule| r.condition == OverflowCondition::OutOfOperatingHours;
        self.rules.iter().filter(hours).chain(self.rules.iter().filter(move |r| !hours(r)))
    }

    /// The queues the rules send conversations to, with the field that names each.
    pub fn targets(&self) -> Vec<(String, QueueId)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.action {
                OverflowAction::TransferToQueue { queue_id } => {
                    Some((format!("overflow.rules[{i}].action.queue_id"), queue_id))
                }
                _ => None,
            })
            .collect()
    }

    /// Checks what can be checked without the organization's other queues: ranges, one rule per condition,
    /// messages' length, and a queue overflowing to itself.
    pub fn check(&self, own: QueueId) -> crate::Result<()> {
        let bad = |i: usize, field: &str, detail: String| {
            Err(Error::field(Code::InvalidOverflow, format!("overflow.rules[{i}].{field}"), detail))
        };
        for (i, rule) in self.rules.iter().enumerate() {
            match rule.condition {
                OverflowCondition::OutOfOperatingHours => {}
                OverflowCondition::WorkItemLimitExceeded { limit } if !WORK_ITEM_LIMIT.contains(&limit) => {
                    return bad(i, "condition.limit", format!("the work item limit is 1 to 100, not {limit}"));
                }
                OverflowCondition::EstimatedWaitExceeds { seconds } if !WAIT_THRESHOLD_SECONDS.contains(&seconds) => {
                    return bad(
                        i,
                        "condition.seconds",
                        format!("the estimated wait threshold is 30 to 172800 seconds, not {seconds}"),
                    );
                }
                _ => {}
            }
            let same =
                |r: &OverflowRule| std::mem::discriminant(&r.condition) == std::mem::discriminant(&rule.condition);
            if self.rules[..i].iter().any(same) {
                return bad(i, "condition", "each condition may appear once".to_string());
            }
            match &rule.action {
                OverflowAction::TransferToQueue { queue_id } if *queue_id == own => {
                    return bad(i, "action.queue_id", "a queue cannot overflow to itself".to_string());
                }
                OverflowAction::EndConversation { message: Some(m) }
                | OverflowAction::OfferCallback { message: Some(m) }
                    if m.trim().is_empty() || m.chars().count() > MAX_MESSAGE_CHARS =>
                {
                    return bad(i, "action.message", format!("a message is 1 to {MAX_MESSAGE_CHARS} characters"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_fields_become_rules_and_hours_are_checked_first() {
        let (a, b) = (QueueId::new(), QueueId::new());
        let json = serde_json::json!({ "max_waiting": 5, "when_full_queue_id": b, "when_closed_queue_id": a });
        let s: OverflowSettings = serde_json::from_value(json).map_err(|e| e.to_string()).unwrap_or_default();
        assert_eq!(s.rules.len(), 2);
        assert_eq!(s.in_order().next().map(|r| &r.condition), Some(&OverflowCondition::OutOfOperatingHours));
        assert!(s.check(QueueId::new()).is_ok());
        assert!(s.check(a).is_err());
        let round = serde_json::to_value(&s).map_err(|e| e.to_string()).unwrap_or_default();
        assert!(round.get("max_waiting").is_none() && round["rules"].as_array().is_some_and(|r| r.len() == 2));
    }

    #[test]
    fn ranges_and_duplicates_are_refused_with_the_field() {
        let rule = |condition| OverflowRule { condition, action: OverflowAction::AssignAnyway };
        let s = OverflowSettings { rules: vec![rule(OverflowCondition::WorkItemLimitExceeded { limit: -1 })] };
        let e = s.check(QueueId::new()).err();
        assert_eq!(e.and_then(|e| e.field).as_deref(), Some("overflow.rules[0].condition.limit"));
        let s = OverflowSettings {
            rules: vec![
                rule(OverflowCondition::EstimatedWaitExceeds { seconds: 60 }),
                rule(OverflowCondition::EstimatedWaitExceeds { seconds: 90 }),
            ],
        };
        assert_eq!(s.check(QueueId::new()).err().and_then(|e| e.field).as_deref(), Some("overflow.rules[1].condition"));
    }
}
