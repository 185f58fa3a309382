//! A queue's custom assignment method as an administrator writes it (reference §6.3 "Custom assignment
//! method"): a prioritization ruleset that sorts waiting conversations into ordered buckets, and an assignment
//! ruleset whose first rule matching any agent chooses, later rules relaxing earlier ones once a conversation has
//! waited long enough. [`CustomAssignmentSpec::compile`] checks it (naming the field on error) and turns it into
//! the engine's [`CustomAssignment`].
//!
//! Prioritization conditions use the routing rules language (docs/routing-rules.md) and read what classification
//! left on the work item, which [`item_attributes`] writes down when the conversation is queued: `channel`,
//! `language`, `context.<Name>`, `contact.<field>`, `conversation.priority|severity|skills`.
//!
//! Assignment conditions read the agent: presence, free capacity, skills, attributes
//! ([`super::agent_attributes`]) compared with a fixed value or with the conversation's context variable,
//! language or channel, and whether the agent's calendar says they are working.

use std::{collections::BTreeMap, sync::Arc};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    agent_attributes::{AgentAttribute, MAX_ATTRIBUTE_NAME, check_value, serialize_opt_number, valid_name},
    engine::{
        AgentCondition, AgentOrder, AssignmentRule, AttributeValue, BasePresence, CapacityProfileId, CustomAssignment,
        ItemField, ItemOrder, ItemPredicate, PresenceSet, PriorityBucket, SkillId, WorkItem,
    },
    rules::{Condition, ExprError, Facts, MAX_RULES, MAX_SKILL_NAME, Schema, Skill, Value},
};
use crate::{
    context::VariableKind,
    error::{Code, Error, Result},
    limits,
    setup::PresenceName,
};

/// The longest a rule may wait before it applies: two days, the reference's longest queue wait (messaging).
pub const MAX_RELAX_SECONDS: i64 = 2 * 24 * 3600;

/// A queue's custom assignment method.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomAssignmentSpec {
    /// The context variables prioritization conditions and orders may read, with their types. A queue serves
    /// several workstreams, so it declares what it reads itself.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>, example = json!({ "Tier": "text", "Amount": "number" }))]
    pub context_variables: BTreeMap<String, VariableKind>,
    /// Ordered buckets: a conversation goes into the first whose condition holds; the rest go last, first in
    /// first out.
    #[serde(default)]
    pub prioritization: Vec<PrioritizationRuleSpec>,
    /// Ordered rules: the first open to the conversation that matches any agent chooses. At least one.
    pub assignment: Vec<AssignmentRuleSpec>,
}

/// One prioritization bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrioritizationRuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A condition in the routing rules language, such as `conversation.severity >= 3`.
    #[schema(example = "context.Tier == 'gold'")]
    pub condition: String,
    /// How the bucket is ordered; first in, first out when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<ItemOrderSpec>,
}

/// A bucket's order: a number on the conversation, ascending or descending. Conversations without it go last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemOrderSpec {
    /// `conversation.priority`, `conversation.severity` or a `context.<Name>` declared as a number.
    #[schema(example = "conversation.severity")]
    pub field: String,
    /// `ascending` or `descending`; checked with the rest of the ruleset, so that a wrong one is `invalid_rule`
    /// at its path like every other mistake in it.
    #[schema(example = "descending")]
    pub direction: String,
}

crate::str_enum!(
    /// A sort direction.
    Direction {
        Ascending = "ascending",
        Descending = "descending",
    }
);

/// One assignment rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every condition must hold for an agent. None: any member with room.
    #[serde(default)]
    pub conditions: Vec<AgentConditionSpec>,
    #[serde(default)]
    pub order_by: AgentOrderSpec,
    /// The rule is tried only once the conversation has waited this long in the queue (0 to 172,800): gradual
    /// relaxation.
    #[serde(default)]
    pub after_seconds: i64,
}

/// A condition on an agent. Capacity is always enforced besides these; presence and skills only as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentConditionSpec {
    /// The agent's base presence is one of these (`available`, `busy`, `busy_dnd`, `away`, `offline`).
    Presence(Vec<String>),
    /// At least this many capacity units are free.
    FreeUnits(i64),
    /// At least `at_least` more items of the capacity profile can be taken.
    FreeProfileItems { profile_id: Uuid, at_least: i64 },
    /// The agent holds every skill the conversation requires: `exact` (at or above each minimum proficiency) or
    /// `closest` (any proficiency).
    RequiredSkills(SkillMatch),
    /// The agent holds this skill at least at this proficiency (0 to 10).
    Skill { name: String, min_proficiency: i64 },
    /// One of the agent's attributes (set on `/v1/agents/{id}/routing`) compared with a value or with the
    /// conversation. An agent without the attribute never matches.
    Attribute(AttributeConditionSpec),
    /// The agent's calendar is open (`true`) or closed (`false`) now. An agent without a calendar is always
    /// working.
    IsWorking(bool),
}

/// A condition on an agent attribute: exactly one of `equals`, `equals_context` and `equals_field`, or
/// `at_least` and/or `at_most`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeConditionSpec {
    /// The attribute's name: letters, digits and underscores.
    #[schema(example = "Region")]
    pub name: String,
    /// Equals this text (ignoring case), number or boolean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "EU")]
    pub equals: Option<AgentAttribute>,
    /// Equals the conversation's value of this context variable, declared in `context_variables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals_context: Option<String>,
    /// Equals the conversation's `language` or `channel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals_field: Option<String>,
    /// A number at least this.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "serialize_opt_number")]
    pub at_least: Option<f64>,
    /// A number at most this.
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "serialize_opt_number")]
    pub at_most: Option<f64>,
}

crate::str_enum!(
    /// How an assignment condition matches the conversation's required skills.
    SkillMatch {
        Exact = "exact",
        Closest = "closest",
    }
);

/// How a rule orders the agents it matches; ties go to the agent assigned least recently.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentOrderSpec {
    MostIdle,
    RoundRobin,
    /// Most free capacity units first.
    #[default]
    AvailableUnits,
    /// Most free items of this capacity profile first.
    AvailableProfileItems(Uuid),
    /// Highest summed proficiency in the conversation's required skills first.
    Proficiency,
    /// Fewest skills first, keeping versatile agents free.
    SkillCount,
    /// By a number (or boolean, false before true) attribute of the agent; agents without it go last.
    Attribute(AttributeOrderSpec),
}

/// An order by an agent attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeOrderSpec {
    #[schema(example = "Seniority")]
    pub name: String,
    /// `ascending` or `descending`. Text rather than [`Direction`] so that a wrong one is `invalid_rule` with the
    /// others.
    #[schema(value_type = Direction)]
    pub direction: String,
}

impl CustomAssignmentSpec {
    /// The capacity profiles the rules name, with their field paths, for the caller to check they exist.
    pub fn profile_ids(&self) -> Vec<(String, Uuid)> {
        let mut out = Vec::new();
        for (i, rule) in self.assignment.iter().enumerate() {
            for (j, c) in rule.conditions.iter().enumerate() {
                if let AgentConditionSpec::FreeProfileItems { profile_id, .. } = c {
                    out.push((format!("assignment[{i}].conditions[{j}].free_profile_items.profile_id"), *profile_id));
                }
            }
            if let AgentOrderSpec::AvailableProfileItems(id) = rule.order_by {
                out.push((format!("assignment[{i}].order_by.available_profile_items"), id));
            }
        }
        out
    }

    /// Checks the method and builds the engine's form; `skill` maps a skill name to the organization's id. Errors
    /// are `invalid_rule` with the field path from the method's root, such as `assignment[1].after_seconds`.
    pub fn compile(&self, mut skill: impl FnMut(&str) -> SkillId) -> Result<CustomAssignment> {
        let schema = Schema { context: self.context_variables.clone(), contact_fields: BTreeMap::new() };
        for name in self.context_variables.keys() {
            if name.is_empty() || name.chars().count() > limits::MAX_NAME {
                return Err(invalid(&format!("context_variables.{name}"), "a variable name is 1 to 200 characters"));
            }
        }
        if self.prioritization.len() > MAX_RULES {
            return Err(invalid("prioritization", format!("at most {MAX_RULES} rules")));
        }
        if self.assignment.is_empty() {
            return Err(invalid("assignment", "a custom method needs at least one assignment rule"));
        }
        if self.assignment.len() > MAX_RULES {
            return Err(invalid("assignment", format!("at most {MAX_RULES} rules")));
        }
        let mut prioritization = Vec::with_capacity(self.prioritization.len());
        for (i, rule) in self.prioritization.iter().enumerate() {
            let at = format!("prioritization[{i}]");
            check_name(&format!("{at}.name"), rule.name.as_deref())?;
            let condition =
                Condition::new(rule.condition.clone(), &schema).map_err(|ExprError { column, message }| {
                    invalid(&format!("{at}.condition"), format!("column {column}: {message}"))
                })?;
            let order = match &rule.order_by {
                None => ItemOrder::Fifo,
                Some(o) => {
                    let field = o.field.trim();
                    let numeric = matches!(field, "conversation.priority" | "conversation.severity")
                        || field
                            .strip_prefix("context.")
                            .is_some_and(|n| schema.context.get(n).is_some_and(|k| *k == VariableKind::Number));
                    if !numeric {
                        return Err(invalid(
                            &format!("{at}.order_by.field"),
                            format!(
                                "`{field}` is not a number to order by; use conversation.priority, \
                                 conversation.severity or a context variable declared as a number"
                            ),
                        ));
                    }
                    match Direction::parse(&o.direction) {
                        Some(Direction::Ascending) => ItemOrder::Ascending(field.to_string()),
                        Some(Direction::Descending) => ItemOrder::Descending(field.to_string()),
                        None => {
                            return Err(invalid(&format!("{at}.order_by.direction"), not_a_direction(&o.direction)));
                        }
                    }
                }
            };
            let matches: ItemPredicate = Arc::new(move |item: &WorkItem| condition.matches(&facts_of(item)));
            prioritization.push(PriorityBucket {
                name: rule.name.clone().unwrap_or_else(|| format!("rule {}", i + 1)),
                matches,
                order,
            });
        }
        let mut rules = Vec::with_capacity(self.assignment.len());
        for (i, rule) in self.assignment.iter().enumerate() {
            let at = format!("assignment[{i}]");
            check_name(&format!("{at}.name"), rule.name.as_deref())?;
            if !(0..=MAX_RELAX_SECONDS).contains(&rule.after_seconds) {
                return Err(invalid(&format!("{at}.after_seconds"), "a wait is 0 to 172,800 seconds (two days)"));
            }
            let mut conditions = Vec::with_capacity(rule.conditions.len());
            for (j, c) in rule.conditions.iter().enumerate() {
                conditions.push(agent_condition(&format!("{at}.conditions[{j}]"), c, &schema, &mut skill)?);
            }
            let order = match &rule.order_by {
                AgentOrderSpec::MostIdle => AgentOrder::MostIdle,
                AgentOrderSpec::RoundRobin => AgentOrder::RoundRobin,
                AgentOrderSpec::AvailableUnits => AgentOrder::AvailableUnits,
                AgentOrderSpec::AvailableProfileItems(id) => AgentOrder::AvailableProfile(CapacityProfileId(*id)),
                AgentOrderSpec::Proficiency => AgentOrder::Proficiency,
                AgentOrderSpec::SkillCount => AgentOrder::SkillCount,
                AgentOrderSpec::Attribute(o) => {
                    let at = format!("{at}.order_by.attribute");
                    check_attribute_name(&format!("{at}.name"), &o.name)?;
                    let descending = match Direction::parse(&o.direction) {
                        Some(d) => d == Direction::Descending,
                        None => return Err(invalid(&format!("{at}.direction"), not_a_direction(&o.direction))),
                    };
                    AgentOrder::Attribute { name: o.name.clone(), descending }
                }
            };
            rules.push(AssignmentRule {
                name: rule.name.clone().unwrap_or_else(|| format!("rule {}", i + 1)),
                conditions,
                order,
                min_wait_ms: rule.after_seconds * 1000,
            });
        }
        Ok(CustomAssignment { prioritization, rules })
    }
}

fn agent_condition(
    at: &str,
    c: &AgentConditionSpec,
    schema: &Schema,
    skill: &mut impl FnMut(&str) -> SkillId,
) -> Result<AgentCondition> {
    Ok(match c {
        AgentConditionSpec::Presence(names) => {
            if names.is_empty() {
                return Err(invalid(&format!("{at}.presence"), "list at least one presence"));
            }
            let mut set = PresenceSet::EMPTY;
            for (k, name) in names.iter().enumerate() {
                let base = match PresenceName::parse(name) {
                    Some(PresenceName::Available) => BasePresence::Available,
                    Some(PresenceName::Busy) => BasePresence::Busy,
                    Some(PresenceName::BusyDnd) => BasePresence::BusyDnd,
                    Some(PresenceName::Away) => BasePresence::Away,
                    Some(PresenceName::Offline) => BasePresence::Offline,
                    Some(PresenceName::Inactive) | None => {
                        return Err(invalid(
                            &format!("{at}.presence[{k}]"),
                            format!("`{name}` is not a base presence; use available, busy, busy_dnd, away or offline"),
                        ));
                    }
                };
                set = set.with(base);
            }
            AgentCondition::PresenceIn(set)
        }
        AgentConditionSpec::FreeUnits(n) => AgentCondition::FreeUnitsAtLeast(
            u32::try_from(*n)
                .map_err(|_| invalid(&format!("{at}.free_units"), "free units are a whole number, zero or more"))?,
        ),
        AgentConditionSpec::FreeProfileItems { profile_id, at_least } => AgentCondition::FreeProfileAtLeast(
            CapacityProfileId(*profile_id),
            u32::try_from(*at_least).map_err(|_| {
                invalid(&format!("{at}.free_profile_items.at_least"), "free items are a whole number, zero or more")
            })?,
        ),
        AgentConditionSpec::RequiredSkills(m) => AgentCondition::ItemSkills { exact: *m == SkillMatch::Exact },
        AgentConditionSpec::Skill { name, min_proficiency } => {
            if name.trim().is_empty() || name.chars().count() > MAX_SKILL_NAME {
                return Err(invalid(&format!("{at}.skill.name"), "a skill name is 1 to 100 characters"));
            }
            let min = u8::try_from(*min_proficiency)
                .ok()
                .filter(|p| *p <= 10)
                .ok_or_else(|| invalid(&format!("{at}.skill.min_proficiency"), "proficiency is 0 to 10"))?;
            AgentCondition::Skill { skill: skill(name), min_proficiency: min }
        }
        AgentConditionSpec::Attribute(a) => attribute_condition(&format!("{at}.attribute"), a, schema)?,
        AgentConditionSpec::IsWorking(working) => AgentCondition::Working(*working),
    })
}

fn attribute_condition(at: &str, a: &AttributeConditionSpec, schema: &Schema) -> Result<AgentCondition> {
    check_attribute_name(&format!("{at}.name"), &a.name)?;
    let range = a.at_least.is_some() || a.at_most.is_some();
    let kinds = [a.equals.is_some(), a.equals_context.is_some(), a.equals_field.is_some(), range];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(invalid(at, "give one of `equals`, `equals_context`, `equals_field`, or `at_least`/`at_most`"));
    }
    let name = a.name.clone();
    if let Some(value) = &a.equals {
        check_value(value).map_err(|why| invalid(&format!("{at}.equals"), why))?;
        return Ok(AgentCondition::AttributeEquals(name, value.into()));
    }
    if let Some(variable) = &a.equals_context {
        if !schema.context.contains_key(variable) {
            return Err(invalid(
                &format!("{at}.equals_context"),
                format!("`{variable}` is not declared in `context_variables`"),
            ));
        }
        return Ok(AgentCondition::AttributeEqualsItem(name, ItemField::Attribute(format!("context.{variable}"))));
    }
    if let Some(field) = &a.equals_field {
        let field = match field.as_str() {
            "language" => ItemField::Attribute("language".to_string()),
            "channel" => ItemField::Channel,
            other => {
                return Err(invalid(
                    &format!("{at}.equals_field"),
                    format!("`{other}` is not a conversation field; use language or channel"),
                ));
            }
        };
        return Ok(AgentCondition::AttributeEqualsItem(name, field));
    }
    if let (Some(min), Some(max)) = (a.at_least, a.at_most)
        && min > max
    {
        return Err(invalid(&format!("{at}.at_most"), "`at_most` is below `at_least`"));
    }
    Ok(AgentCondition::AttributeInRange { name, at_least: a.at_least, at_most: a.at_most })
}

fn check_attribute_name(field: &str, name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(invalid(field, format!("an attribute name is 1 to {MAX_ATTRIBUTE_NAME} letters, digits and underscores")))
    }
}

fn not_a_direction(direction: &str) -> String {
    format!("`{direction}` is not a direction; use ascending or descending")
}

fn invalid(field: &str, detail: impl std::fmt::Display) -> Error {
    Error::field(Code::InvalidRule, field, format!("`{field}`: {detail}"))
}

fn check_name(field: &str, name: Option<&str>) -> Result<()> {
    match name {
        Some(n) if n.trim().is_empty() || n.chars().count() > limits::MAX_NAME => {
            Err(invalid(field, "a name is 1 to 200 characters"))
        }
        _ => Ok(()),
    }
}

const SKILL_PREFIX: &str = "skill.";

/// What a work item carries for prioritization: classification's outcome under the names conditions use.
/// Stored with the conversation's routing record so that a restart orders the queue the same way.
pub fn item_attributes(facts: &Facts) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(l) = &facts.language {
        out.insert("language".to_string(), Value::Text(l.clone()));
    }
    for (name, value) in &facts.context {
        out.insert(format!("context.{name}"), value.clone());
    }
    for (name, value) in &facts.contact {
        out.insert(format!("contact.{name}"), value.clone());
    }
    if let Some(p) = facts.priority {
        out.insert("conversation.priority".to_string(), Value::Number(f64::from(p)));
    }
    if let Some(s) = facts.severity {
        out.insert("conversation.severity".to_string(), Value::Number(f64::from(s)));
    }
    for s in &facts.skills {
        // Skill names compare ignoring case; the minimum proficiency rides along so the skill comes back whole.
        let min = s.min_proficiency.map_or(-1.0, f64::from);
        out.insert(format!("{SKILL_PREFIX}{}", s.name), Value::Number(min));
    }
    out
}

/// The engine's form of stored attributes.
pub fn engine_attributes(stored: &BTreeMap<String, Value>) -> BTreeMap<String, AttributeValue> {
    stored
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Number(n) => AttributeValue::Number(*n),
                Value::Text(t) => AttributeValue::Text(t.clone()),
            };
            (k.clone(), v)
        })
        .collect()
}

/// The facts a prioritization condition sees for a queued work item.
fn facts_of(item: &WorkItem) -> Facts {
    let mut facts = Facts {
        channel: Some(item.channel.as_str().to_string()),
        priority: Some(item.priority),
        severity: Some(item.severity),
        ..Facts::default()
    };
    for (key, value) in &item.attributes {
        let value = match value {
            AttributeValue::Text(t) => Value::Text(t.clone()),
            AttributeValue::Number(n) => Value::Number(*n),
            AttributeValue::Bool(b) => Value::Text(b.to_string()),
        };
        if key == "language" {
            if let Value::Text(t) = value {
                facts.language = Some(t);
            }
        } else if let Some(name) = key.strip_prefix("context.") {
            facts.context.insert(name.to_string(), value);
        } else if let Some(name) = key.strip_prefix("contact.") {
            facts.contact.insert(name.to_string(), value);
        } else if let Some(name) = key.strip_prefix(SKILL_PREFIX) {
            let min = match value {
                Value::Number(n) if n >= 0.0 => u8::try_from(n as i64).ok(),
                _ => None,
            };
            facts.skills.push(Skill::new(name, min));
        }
    }
    facts
}
