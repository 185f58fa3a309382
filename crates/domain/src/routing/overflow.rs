//! Queue overflow (reference §6.3): condition/action pairs a queue checks before a new conversation joins it, and
//! one it keeps checking while the conversation waits.
//!
//! Before queueing, the operating-hours condition is checked first, then the others in the order they were saved;
//! the first that holds decides. Conditions: the queue is outside its operating hours, the work items already
//! waiting reach a limit, or the wait estimated for the newcomer exceeds a threshold. Actions: stay in the queue
//! anyway, go to another queue (whose own overflow is then checked), end the conversation with a message, or take
//! a callback request and end the conversation.
//!
//! After queueing there is one condition, the time the conversation has waited in the queue, with the actions that
//! still make sense once it is queued: another queue or the end (and a callback for voice). Its range depends on
//! the kind of work, which a queue's type is the only sign of when the rule is saved.
//!
//! Settings saved before condition/action pairs existed (`when_closed_queue_id`, `max_waiting` and
//! `when_full_queue_id`) are still read and become the equivalent rules, so stored queues keep working.

use crate::{Code, Error, ids::QueueId, setup::QueueType};

/// The smallest and largest work item limit (§6.3: 1 to 100).
pub const WORK_ITEM_LIMIT: std::ops::RangeInclusive<i64> = 1..=100;
/// The smallest and largest estimated wait threshold in seconds (§6.3: 30 s up to the messaging maximum of 2 days).
pub const WAIT_THRESHOLD_SECONDS: std::ops::RangeInclusive<i64> = 30..=172_800;
/// The wait in queue thresholds in seconds, by the queue's type (§6.3: messaging 1 min to 2 days, voice 1 to 60
/// min, records 3 min to 2 days).
pub fn wait_in_queue_seconds(kind: QueueType) -> std::ops::RangeInclusive<i64> {
    match kind {
        QueueType::Messaging => 60..=172_800,
        QueueType::Voice => 60..=3_600,
        QueueType::Record => 180..=172_800,
    }
}
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
    /// A queued conversation has waited in this queue longer than `seconds` (checked after queueing, never for a
    /// newcomer).
    WaitInQueueExceeds { seconds: i64 },
}

impl OverflowCondition {
    /// Whether the condition is checked while a conversation waits rather than when it arrives.
    pub fn after_queueing(&self) -> bool {
        matches!(self, OverflowCondition::WaitInQueueExceeds { .. })
    }
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
    /// Checked when a conversation is routed to the queue: operating hours first, then the rest in order; a
    /// `wait_in_queue_exceeds` rule is checked while it waits instead.
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

    /// The rule checked after queueing: its threshold in seconds and its action.
    pub fn wait_in_queue(&self) -> Option<(i64, &OverflowAction)> {
        self.rules.iter().find_map(|r| match r.condition {
            OverflowCondition::WaitInQueueExceeds { seconds } => Some((seconds, &r.action)),
            _ => None,
        })
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

    /// Checks what can be checked without the organization's other queues: ranges (the wait in queue's by the
    /// queue's type `kind`), one rule per condition, the actions a queued conversation can take, messages' length,
    /// and a queue overflowing to itself.
    pub fn check(&self, own: QueueId, kind: QueueType) -> crate::Result<()> {
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
                OverflowCondition::WaitInQueueExceeds { seconds }
                    if !wait_in_queue_seconds(kind).contains(&seconds) =>
                {
                    let range = wait_in_queue_seconds(kind);
                    return bad(
                        i,
                        "condition.seconds",
                        format!(
                            "the wait in queue threshold of a {kind} queue is {} to {} seconds, not {seconds}",
                            range.start(),
                            range.end()
                        ),
                    );
                }
                _ => {}
            }
            if rule.condition.after_queueing() {
                // A conversation already queued cannot be "assigned anyway", and only a call can be called back.
                match rule.action {
                    OverflowAction::AssignAnyway => {
                        return bad(
                            i,
                            "action",
                            "assign_anyway does not apply once a conversation waits in the queue".to_string(),
                        );
                    }
                    OverflowAction::OfferCallback { .. } if kind != QueueType::Voice => {
                        return bad(
                            i,
                            "action",
                            format!("offer_callback after queueing is for voice queues, not a {kind} queue"),
                        );
                    }
                    _ => {}
                }
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
        assert!(s.check(QueueId::new(), QueueType::Messaging).is_ok());
        assert!(s.check(a, QueueType::Messaging).is_err());
        let round = serde_json::to_value(&s).map_err(|e| e.to_string()).unwrap_or_default();
        assert!(round.get("max_waiting").is_none() && round["rules"].as_array().is_some_and(|r| r.len() == 2));
    }

    #[test]
    fn ranges_and_duplicates_are_refused_with_the_field() {
        let rule = |condition| OverflowRule { condition, action: OverflowAction::AssignAnyway };
        let s = OverflowSettings { rules: vec![rule(OverflowCondition::WorkItemLimitExceeded { limit: -1 })] };
        let e = s.check(QueueId::new(), QueueType::Messaging).err();
        assert_eq!(e.and_then(|e| e.field).as_deref(), Some("overflow.rules[0].condition.limit"));
        let s = OverflowSettings {
            rules: vec![
                rule(OverflowCondition::EstimatedWaitExceeds { seconds: 60 }),
                rule(OverflowCondition::EstimatedWaitExceeds { seconds: 90 }),
            ],
        };
        assert_eq!(
            s.check(QueueId::new(), QueueType::Messaging).err().and_then(|e| e.field).as_deref(),
            Some("overflow.rules[1].condition")
        );
    }

    #[test]
    fn the_wait_in_queue_range_and_actions_follow_the_queue_type() {
        let end = OverflowAction::EndConversation { message: None };
        let one = |seconds, action: &OverflowAction| OverflowSettings {
            rules: vec![OverflowRule {
                condition: OverflowCondition::WaitInQueueExceeds { seconds },
                action: action.clone(),
            }],
        };
        let field = |s: OverflowSettings, kind| s.check(QueueId::new(), kind).err().and_then(|e| e.field);
        let seconds = Some("overflow.rules[0].condition.seconds".to_string());
        for (kind, low, high) in
            [(QueueType::Messaging, 60, 172_800), (QueueType::Voice, 60, 3_600), (QueueType::Record, 180, 172_800)]
        {
            assert_eq!(field(one(low, &end), kind), None, "{kind}");
            assert_eq!(field(one(high, &end), kind), None, "{kind}");
            assert_eq!(field(one(low - 1, &end), kind), seconds, "{kind}");
            assert_eq!(field(one(high + 1, &end), kind), seconds, "{kind}");
        }
        let action = Some("overflow.rules[0].action".to_string());
        assert_eq!(field(one(120, &OverflowAction::AssignAnyway), QueueType::Messaging), action);
        let callback = OverflowAction::OfferCallback { message: None };
        assert_eq!(field(one(120, &callback), QueueType::Messaging), action);
        assert_eq!(field(one(120, &callback), QueueType::Voice), None);
        let s = one(120, &end);
        assert_eq!(s.wait_in_queue(), Some((120, &end)));
        assert!(s.rules[0].condition.after_queueing());
        let json = serde_json::to_value(&s.rules[0].condition).map_err(|e| e.to_string()).unwrap_or_default();
        assert_eq!(json, serde_json::json!({ "type": "wait_in_queue_exceeds", "seconds": 120 }));
    }
}
