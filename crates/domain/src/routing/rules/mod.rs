//! Routing rules (reference §6.2): classification rulesets, then one route-to-queue ruleset, each made of rules
//! whose conditions an admin writes in a small expression language. `docs/routing-rules.md` is the user's
//! guide; in short:
//!
//! ```text
//! channel == "sms" and context.Product in ["Xbox", "Surface"]
//!     and not (contact.email ends_with "@contoso.com") or context.Amount >= 500
//! ```
//!
//! - Precedence from tightest: comparisons, `not`, `and`, `or`; parentheses group.
//! - Text comparisons ignore case: customers and integrations rarely match an admin's capitalization.
//! - A comparison whose value is missing is false, whatever its operator (`!=` too); `not` inverts the result,
//!   so `not context.X exists` is how to match an absent value.
//!
//! A rule is stored as JSON with its condition as the text the admin wrote; [`Condition::new`] parses and
//! checks it against the workstream's [`Schema`] on save and again on load, and keeps the parsed [`Expr`].

mod expr;
mod ruleset;

pub(crate) use expr::text_eq;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use expr::{
    CONTACT_FIELDS, Comparison, Expr, ExprError, MAX_CONDITION_LEN, MAX_DEPTH, Op, Operand, OperandKind, Path,
};
pub use ruleset::{
    Actions, ClassificationRule, ClassificationRuleSpec, ClassificationRuleset, ClassificationRulesetSpec, MAX_RULES,
    MAX_RULESETS, MAX_SKILL_NAME, Matched, Outcome, Route, RouteRule, RouteRuleSpec, RouteToQueue, RouteToQueueSpec,
    Share, Target, WorkstreamRules, WorkstreamRulesSpec, split_bucket,
};

use crate::context::{ContextValue, VariableKind};

/// What conditions may name: the workstream's context variables and the organization's custom contact fields,
/// each with its type. `channel`, `language`, `workstream`, the built-in contact fields ([`CONTACT_FIELDS`])
/// and `conversation.priority|severity|skills` are always known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub context: BTreeMap<String, VariableKind>,
    pub contact_fields: BTreeMap<String, VariableKind>,
}

impl Schema {
    /// Declares a context variable.
    pub fn with_context(mut self, name: impl Into<String>, kind: VariableKind) -> Self {
        self.context.insert(name.into(), kind);
        self
    }

    /// Declares a custom contact field.
    pub fn with_contact_field(mut self, name: impl Into<String>, kind: VariableKind) -> Self {
        self.contact_fields.insert(name.into(), kind);
        self
    }
}

/// A value a condition reads or a classification rule writes: text or a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Value {
    Number(f64),
    Text(String),
}

impl Value {
    /// The context-variable type the value fits.
    pub fn kind(&self) -> VariableKind {
        match self {
            Value::Number(_) => VariableKind::Number,
            Value::Text(_) => VariableKind::Text,
        }
    }
}

impl From<&ContextValue> for Value {
    fn from(v: &ContextValue) -> Self {
        match v {
            ContextValue::Number(n) => Value::Number(*n),
            ContextValue::Text(t) => Value::Text(t.as_str().to_string()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

/// A skill a conversation requires, by name, with the least proficiency an agent needs (any when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    #[schema(example = "Billing")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_proficiency: Option<u8>,
}

impl Skill {
    pub fn new(name: impl Into<String>, min_proficiency: Option<u8>) -> Self {
        Self { name: name.into(), min_proficiency }
    }
}

/// What routing knows about one work item. A field that is `None` (or a name absent from a map) is missing:
/// every comparison on it is false. Classification writes `priority`, `severity`, `skills` and `context`, so a
/// later ruleset sees what an earlier one set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The channel type as its API string, such as `sms` (see `ChannelType::as_str`).
    pub channel: Option<String>,
    pub language: Option<String>,
    /// The workstream's name.
    pub workstream: Option<String>,
    /// The conversation's context variables.
    pub context: BTreeMap<String, Value>,
    /// The contact's fields: `customer_id`, `email`, `phone`, `name` and custom ones, when known.
    pub contact: BTreeMap<String, Value>,
    pub priority: Option<i32>,
    pub severity: Option<i32>,
    /// The skills required so far; `conversation.skills exists` when there is at least one.
    pub skills: Vec<Skill>,
}

/// A rule's condition: the text the admin wrote and its parsed, checked form.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    source: String,
    expr: Expr,
}

impl Condition {
    /// Parses `source` and checks it against `schema`.
    pub fn new(source: impl Into<String>, schema: &Schema) -> Result<Self, ExprError> {
        let source = source.into();
        let expr = Expr::parse(&source)?;
        expr.check(schema)?;
        Ok(Self { source, expr })
    }

    /// The condition as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether the facts satisfy the condition; see [`Expr::matches`].
    pub fn matches(&self, facts: &Facts) -> bool {
        self.expr.matches(facts)
    }

    /// The context variables the condition reads, so that one in use is not deleted from under it.
    pub fn context_variables(&self) -> impl Iterator<Item = &str> {
        self.expr.paths().into_iter().filter_map(|p| match p {
            Path::Context(name) => Some(name.as_str()),
            _ => None,
        })
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}
