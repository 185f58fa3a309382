//! Classification rulesets and the route-to-queue ruleset (reference §6.2, steps 2 and 3).
//!
//! - Classification rulesets run in sequence. Within one, **every** rule whose condition matches applies, in
//!   order; a later rule's value wins over an earlier one's, and later rules and rulesets see what earlier
//!   ones set. A rule's actions apply in a fixed order: replace skills, append skills, priority, severity,
//!   context variables.
//! - The route-to-queue ruleset is a decision list: the **first** matching rule picks one queue, or splits by
//!   percentage across several; when none matches, the workstream's fallback queue takes the item.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Condition, ExprError, Facts, Schema, Skill, Value};
use crate::{
    error::{Code, Error},
    ids::{ConversationId, QueueId},
    limits,
};

/// Rules in one ruleset.
pub const MAX_RULES: usize = 100;
/// Classification rulesets in one workstream.
pub const MAX_RULESETS: usize = 20;
/// Characters in a skill's name.
pub const MAX_SKILL_NAME: usize = 100;

/// What a classification rule does when it matches. Every field is optional, but a rule needs at least one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    /// Replaces the required skills (an empty list clears them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<Skill>>,
    /// Adds skills; a skill already required (names compare ignoring case) takes the new minimum proficiency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub append_skills: Vec<Skill>,
    /// Sets the priority; higher is served first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<i32>,
    /// Sets context variables, each of the type the workstream declares.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object, example = json!({"Tier": "gold", "Score": 10}))]
    pub context: BTreeMap<String, Value>,
}

impl Actions {
    fn is_empty(&self) -> bool {
        self.skills.is_none()
            && self.append_skills.is_empty()
            && self.priority.is_none()
            && self.severity.is_none()
            && self.context.is_empty()
    }

    fn apply(&self, facts: &mut Facts) {
        if let Some(skills) = &self.skills {
            facts.skills.clone_from(skills);
        }
        for skill in &self.append_skills {
            match facts.skills.iter_mut().find(|s| s.name.to_lowercase() == skill.name.to_lowercase()) {
                Some(existing) => existing.min_proficiency = skill.min_proficiency,
                None => facts.skills.push(skill.clone()),
            }
        }
        if let Some(p) = self.priority {
            facts.priority = Some(p);
        }
        if let Some(s) = self.severity {
            facts.severity = Some(s);
        }
        for (name, value) in &self.context {
            facts.context.insert(name.clone(), value.clone());
        }
    }

    fn check(&self, at: &str, schema: &Schema) -> Result<(), Error> {
        if self.is_empty() {
            return Err(invalid(at, "a rule needs at least one action"));
        }
        let lists = [("skills", self.skills.as_deref().unwrap_or_default()), ("append_skills", &self.append_skills)];
        for (list, skills) in lists {
            let mut seen = BTreeSet::new();
            for (i, skill) in skills.iter().enumerate() {
                let field = format!("{at}.{list}[{i}].name");
                let n = skill.name.chars().count();
                if n == 0 || skill.name.trim() != skill.name || skill.name.chars().any(char::is_control) {
                    return Err(invalid(
                        &field,
                        "a skill name must be non-empty, with no control characters or surrounding spaces",
                    ));
                }
                if n > MAX_SKILL_NAME {
                    return Err(invalid(&field, format!("a skill name is at most {MAX_SKILL_NAME} characters")));
                }
                if !seen.insert(skill.name.to_lowercase()) {
                    return Err(invalid(&field, format!("`{}` is listed twice", skill.name)));
                }
            }
        }
        for (name, value) in &self.context {
            let field = format!("{at}.context.{name}");
            let Some(kind) = schema.context.get(name) else {
                return Err(invalid(&field, format!("the workstream has no context variable `{name}`")));
            };
            if value.kind() != *kind {
                return Err(invalid(&field, format!("`{name}` holds {kind} values")));
            }
            match value {
                Value::Text(t) if t.chars().count() > limits::MAX_VARIABLE_VALUE => {
                    return Err(invalid(
                        &field,
                        format!("a context value is at most {} characters", limits::MAX_VARIABLE_VALUE),
                    ));
                }
                Value::Number(n) if !n.is_finite() => return Err(invalid(&field, "the number must be finite")),
                _ => {}
            }
        }
        Ok(())
    }
}

/// A classification rule as stored: `{"name": "...", "condition": "...", "actions": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassificationRuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A condition in the rules language.
    #[schema(example = "channel == \"sms\" and context.Product in [\"Xbox\", \"Surface\"]")]
    pub condition: String,
    pub actions: Actions,
}

/// A classification ruleset as stored: `{"name": "...", "rules": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassificationRulesetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub rules: Vec<ClassificationRuleSpec>,
}

/// A checked classification rule. It serializes to its stored shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    condition: Condition,
    actions: Actions,
}

impl ClassificationRule {
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    pub fn actions(&self) -> &Actions {
        &self.actions
    }
}

/// A checked classification ruleset. It serializes to its stored shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClassificationRuleset {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    rules: Vec<ClassificationRule>,
}

impl ClassificationRuleset {
    /// Checks a ruleset; errors are `invalid_rule` with fields such as `rules[2].condition`.
    pub fn new(spec: &ClassificationRulesetSpec, schema: &Schema) -> Result<Self, Error> {
        Self::new_at("", spec, schema)
    }

    fn new_at(at: &str, spec: &ClassificationRulesetSpec, schema: &Schema) -> Result<Self, Error> {
        check_name(&format!("{at}name"), spec.name.as_deref())?;
        check_count(&format!("{at}rules"), spec.rules.len())?;
        let mut rules = Vec::with_capacity(spec.rules.len());
        for (i, rule) in spec.rules.iter().enumerate() {
            let at = format!("{at}rules[{i}]");
            check_name(&format!("{at}.name"), rule.name.as_deref())?;
            let condition = condition(&at, &rule.condition, schema)?;
            rule.actions.check(&format!("{at}.actions"), schema)?;
            rules.push(ClassificationRule { name: rule.name.clone(), condition, actions: rule.actions.clone() });
        }
        Ok(Self { name: spec.name.clone(), rules })
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn rules(&self) -> &[ClassificationRule] {
        &self.rules
    }

    /// Applies every matching rule in order, each seeing what the ones before it set; returns the indexes of
    /// the rules that matched.
    pub fn apply(&self, facts: &mut Facts) -> Vec<usize> {
        let mut matched = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.condition.matches(facts) {
                rule.actions.apply(facts);
                matched.push(i);
            }
        }
        matched
    }
}

/// One queue's share of a split, in whole percent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Share {
    pub queue: QueueId,
    /// 1 to 100; the shares of one split add up to 100.
    #[schema(example = 70)]
    pub percent: u8,
}

/// A route-to-queue rule as stored: a condition and exactly one of `queue` or `split`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A condition in the rules language.
    #[schema(example = "context.Amount >= 500")]
    pub condition: String,
    /// The one queue the rule routes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueId>,
    /// Queues the rule spreads items across, by percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<Share>>,
}

/// The route-to-queue ruleset as stored: `{"rules": [...]}`, first match wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteToQueueSpec {
    #[serde(default)]
    pub rules: Vec<RouteRuleSpec>,
}

/// Where a route-to-queue rule sends a matching item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Queue(QueueId),
    /// Shares that add up to 100, in the order written.
    Split(Vec<Share>),
}

/// A checked route-to-queue rule. It serializes to its stored shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    condition: Condition,
    #[serde(flatten)]
    target: Target,
}

impl RouteRule {
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    pub fn target(&self) -> &Target {
        &self.target
    }
}

/// Where routing sent an item: the queue, and the index of the rule that chose it (`None` for the fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub queue: QueueId,
    pub rule: Option<usize>,
}

/// The checked route-to-queue ruleset. It serializes to its stored shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteToQueue {
    rules: Vec<RouteRule>,
}

impl RouteToQueue {
    /// Checks the ruleset; errors are `invalid_rule` with fields such as `rules[1].split`. An empty ruleset is
    /// valid: everything goes to the fallback queue.
    pub fn new(spec: &RouteToQueueSpec, schema: &Schema) -> Result<Self, Error> {
        Self::new_at("", spec, schema)
    }

    fn new_at(at: &str, spec: &RouteToQueueSpec, schema: &Schema) -> Result<Self, Error> {
        check_count(&format!("{at}rules"), spec.rules.len())?;
        let mut rules = Vec::with_capacity(spec.rules.len());
        for (i, rule) in spec.rules.iter().enumerate() {
            let at = format!("{at}rules[{i}]");
            check_name(&format!("{at}.name"), rule.name.as_deref())?;
            let condition = condition(&at, &rule.condition, schema)?;
            let target = match (&rule.queue, &rule.split) {
                (Some(queue), None) => Target::Queue(*queue),
                (None, Some(shares)) => Target::Split(check_split(&format!("{at}.split"), shares)?),
                _ => return Err(invalid(&at, "a rule routes to exactly one of `queue` or `split`")),
            };
            rules.push(RouteRule { name: rule.name.clone(), condition, target });
        }
        Ok(Self { rules })
    }

    pub fn rules(&self) -> &[RouteRule] {
        &self.rules
    }

    /// Every queue the ruleset names, with its field path, so the caller can check that each exists.
    pub fn queues(&self) -> Vec<(String, QueueId)> {
        let mut out = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            match &rule.target {
                Target::Queue(q) => out.push((format!("rules[{i}].queue"), *q)),
                Target::Split(shares) => out
                    .extend(shares.iter().enumerate().map(|(j, s)| (format!("rules[{i}].split[{j}].queue"), s.queue))),
            }
        }
        out
    }

    /// Picks the queue: the first matching rule's, or `fallback`. A split puts the conversation in the share
    /// that its [`split_bucket`] falls in, so routing the same conversation again picks the same queue.
    pub fn route(&self, facts: &Facts, conversation: ConversationId, fallback: QueueId) -> Route {
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.condition.matches(facts) {
                continue;
            }
            let queue = match &rule.target {
                Target::Queue(q) => *q,
                Target::Split(shares) => {
                    let bucket = u32::from(split_bucket(conversation));
                    let mut upper = 0u32;
                    // The shares add up to 100 and the bucket is below 100, so one always contains it; the last
                    // share is the answer should that ever not hold.
                    shares
                        .iter()
                        .find(|s| {
                            upper += u32::from(s.percent);
                            bucket < upper
                        })
                        .or(shares.last())
                        .map_or(fallback, |s| s.queue)
                }
            };
            return Route { queue, rule: Some(i) };
        }
        Route { queue: fallback, rule: None }
    }
}

/// The conversation's place in every percentage split, 0 to 99. A fixed function of the id (SplitMix64's
/// finalizer over its two halves): it must never change, or re-routing would move conversations between queues.
pub fn split_bucket(conversation: ConversationId) -> u8 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let id = conversation.uuid().as_u128();
    let (high, low) = ((id >> 64) as u64, id as u64);
    (mix(high ^ mix(low)) % 100) as u8
}

/// All of a workstream's rules as stored: `{"classification": [...], "route_to_queue": {"rules": [...]}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkstreamRulesSpec {
    #[serde(default)]
    pub classification: Vec<ClassificationRulesetSpec>,
    #[serde(default)]
    pub route_to_queue: RouteToQueueSpec,
}

/// A classification rule that matched: its ruleset's index and its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    pub ruleset: usize,
    pub rule: usize,
}

/// What running a workstream's rules did: the classification rules that applied, and the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub classified: Vec<Matched>,
    pub route: Route,
}

/// A workstream's checked rules. It serializes to its stored shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WorkstreamRules {
    classification: Vec<ClassificationRuleset>,
    route_to_queue: RouteToQueue,
}

impl WorkstreamRules {
    /// Checks everything; fields are full paths such as `classification[0].rules[2].condition` or
    /// `route_to_queue.rules[1].split`.
    pub fn new(spec: &WorkstreamRulesSpec, schema: &Schema) -> Result<Self, Error> {
        if spec.classification.len() > MAX_RULESETS {
            return Err(invalid("classification", format!("a workstream has at most {MAX_RULESETS} rulesets")));
        }
        let classification = spec
            .classification
            .iter()
            .enumerate()
            .map(|(i, r)| ClassificationRuleset::new_at(&format!("classification[{i}]."), r, schema))
            .collect::<Result<_, _>>()?;
        let route_to_queue = RouteToQueue::new_at("route_to_queue.", &spec.route_to_queue, schema)?;
        Ok(Self { classification, route_to_queue })
    }

    pub fn classification(&self) -> &[ClassificationRuleset] {
        &self.classification
    }

    pub fn route_to_queue(&self) -> &RouteToQueue {
        &self.route_to_queue
    }

    /// Classifies (updating `facts`), then routes: §6.2 steps 2 and 3.
    pub fn run(&self, facts: &mut Facts, conversation: ConversationId, fallback: QueueId) -> Outcome {
        let mut classified = Vec::new();
        for (ruleset, rules) in self.classification.iter().enumerate() {
            classified.extend(rules.apply(facts).into_iter().map(|rule| Matched { ruleset, rule }));
        }
        let route = self.route_to_queue.route(facts, conversation, fallback);
        Outcome { classified, route }
    }
}

fn invalid(field: &str, detail: impl std::fmt::Display) -> Error {
    Error::field(Code::InvalidRule, field, format!("`{field}`: {detail}"))
}

fn condition(at: &str, source: &str, schema: &Schema) -> Result<Condition, Error> {
    Condition::new(source, schema).map_err(|ExprError { column, message }| {
        let field = format!("{at}.condition");
        Error::field(Code::InvalidRule, &field, format!("`{field}` column {column}: {message}"))
    })
}

fn check_name(field: &str, name: Option<&str>) -> Result<(), Error> {
    match name {
        Some(n) if n.trim().is_empty() => Err(invalid(field, "a name must not be blank")),
        Some(n) if n.chars().count() > limits::MAX_NAME => {
            Err(invalid(field, format!("a name is at most {} characters", limits::MAX_NAME)))
        }
        _ => Ok(()),
    }
}

fn check_count(field: &str, n: usize) -> Result<(), Error> {
    if n > MAX_RULES {
        return Err(invalid(field, format!("a ruleset has at most {MAX_RULES} rules, got {n}")));
    }
    Ok(())
}

fn check_split(at: &str, shares: &[Share]) -> Result<Vec<Share>, Error> {
    if shares.is_empty() {
        return Err(invalid(at, "a split needs at least one queue"));
    }
    let mut seen = BTreeSet::new();
    for (j, share) in shares.iter().enumerate() {
        if !(1..=100).contains(&share.percent) {
            return Err(invalid(&format!("{at}[{j}].percent"), "a share is 1 to 100 percent"));
        }
        if !seen.insert(share.queue) {
            return Err(invalid(&format!("{at}[{j}].queue"), format!("queue {} is listed twice", share.queue)));
        }
    }
    let total: u32 = shares.iter().map(|s| u32::from(s.percent)).sum();
    if total != 100 {
        return Err(invalid(at, format!("the shares add up to {total} percent, not 100")));
    }
    Ok(shares.to_vec())
}
