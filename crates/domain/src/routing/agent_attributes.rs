//! Attributes an administrator gives an agent (reference §6.3 "Custom assignment method": conditions and orders
//! on user attributes), such as `{"Region": "EU", "Seniority": 3, "Certified": true}`. Custom assignment rules
//! compare them with a fixed value or with the conversation ([`super::assignment_rules`]); the engine holds them
//! as [`AttributeValue`]s.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use super::engine::AttributeValue;
use crate::error::{Code, Error, Result};

/// Attributes one agent may have.
pub const MAX_ATTRIBUTES: usize = 50;
/// The longest attribute name, in characters.
pub const MAX_ATTRIBUTE_NAME: usize = 100;
/// The longest text value, in characters.
pub const MAX_ATTRIBUTE_TEXT: usize = 256;

/// An attribute's value as JSON: text, a number or a boolean.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AgentAttribute {
    Bool(bool),
    Number(f64),
    Text(String),
}

impl Serialize for AgentAttribute {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            AgentAttribute::Bool(b) => s.serialize_bool(*b),
            AgentAttribute::Number(n) => serialize_number(n, s),
            AgentAttribute::Text(t) => s.serialize_str(t),
        }
    }
}

/// Writes a whole number without a fraction, so that `3` reads back as `3` rather than `3.0`.
pub fn serialize_number<S: Serializer>(n: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    // Within ±2^53 every whole f64 is exactly an i64, so the cast loses nothing.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT { s.serialize_i64(*n as i64) } else { s.serialize_f64(*n) }
}

/// [`serialize_number`] for an optional number.
pub fn serialize_opt_number<S: Serializer>(n: &Option<f64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match n {
        Some(n) => serialize_number(n, s),
        None => s.serialize_none(),
    }
}

impl From<&AgentAttribute> for AttributeValue {
    fn from(a: &AgentAttribute) -> Self {
        match a {
            AgentAttribute::Bool(b) => AttributeValue::Bool(*b),
            AgentAttribute::Number(n) => AttributeValue::Number(*n),
            AgentAttribute::Text(t) => AttributeValue::Text(t.clone()),
        }
    }
}

/// Whether `name` is 1 to 100 letters, digits and underscores: a name rules can write without quoting.
pub fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=MAX_ATTRIBUTE_NAME).contains(&n) && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// Checks one value: text of at most 256 characters or a finite number. `Err` says what is wrong.
pub fn check_value(value: &AgentAttribute) -> std::result::Result<(), String> {
    match value {
        AgentAttribute::Text(t) if t.chars().count() > MAX_ATTRIBUTE_TEXT => {
            Err(format!("text is at most {MAX_ATTRIBUTE_TEXT} characters"))
        }
        AgentAttribute::Number(n) if !n.is_finite() => Err("a number must be finite".into()),
        _ => Ok(()),
    }
}

/// Checks an agent's whole attribute map as the API receives it. Errors are `invalid_field` on `attributes` (too
/// many) or `attributes.<Name>`.
pub fn check_attributes(attributes: &BTreeMap<String, AgentAttribute>) -> Result<()> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(Error::field(
            Code::InvalidField,
            "attributes",
            format!("an agent has at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    for (name, value) in attributes {
        let field = format!("attributes.{name}");
        if !valid_name(name) {
            return Err(Error::field(
                Code::InvalidField,
                &field,
                format!("`{field}`: a name is 1 to {MAX_ATTRIBUTE_NAME} letters, digits and underscores"),
            ));
        }
        check_value(value).map_err(|why| Error::field(Code::InvalidField, &field, format!("`{field}`: {why}")))?;
    }
    Ok(())
}

/// The engine's form of an agent's attributes.
pub fn engine_form(attributes: &BTreeMap<String, AgentAttribute>) -> BTreeMap<String, AttributeValue> {
    attributes.iter().map(|(k, v)| (k.clone(), v.into())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_counts_are_checked() {
        assert!(valid_name("Region") && valid_name("team_2") && valid_name("Région"));
        for bad in ["", "two words", "a-b", "a.b", &"x".repeat(101)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        let one = |name: &str, v: AgentAttribute| BTreeMap::from([(name.to_string(), v)]);
        assert!(check_attributes(&one("Region", AgentAttribute::Text("x".repeat(256)))).is_ok());
        let long = check_attributes(&one("Region", AgentAttribute::Text("x".repeat(257)))).unwrap_err();
        assert_eq!((long.code, long.field.as_deref()), (Code::InvalidField, Some("attributes.Region")));
        let nan = check_attributes(&one("Score", AgentAttribute::Number(f64::NAN))).unwrap_err();
        assert_eq!(nan.field.as_deref(), Some("attributes.Score"));
        let many: BTreeMap<String, AgentAttribute> =
            (0..51).map(|i| (format!("a{i}"), AgentAttribute::Bool(true))).collect();
        assert_eq!(check_attributes(&many).unwrap_err().field.as_deref(), Some("attributes"));
    }
}
