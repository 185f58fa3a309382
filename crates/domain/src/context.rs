//! Context variables: named values on a conversation that routing rules and agents read (at most 100).

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

use crate::{
    error::Code,
    limits, str_enum,
    text::{VariableValue, coded},
};

str_enum!(
    VariableKind {
        Text = "text",
        Number = "number",
    }
);

/// A context variable's value: text (≤ 4,000 characters) or a number.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ContextValue {
    /// Held as an f64, which rules compare; written without a fraction when whole, so that a variable set to `3`
    /// reads back as `3`, not `3.0`.
    #[serde(serialize_with = "crate::routing::agent_attributes::serialize_number")]
    Number(f64),
    Text(VariableValue),
}

// Written by hand rather than derived `untagged`, which would replace a too-long text's own error (and its code)
// with "did not match any variant".
impl<'de> Deserialize<'de> for ContextValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ContextValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text or a number")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ContextValue, E> {
                Ok(ContextValue::Number(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ContextValue, E> {
                Ok(ContextValue::Number(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ContextValue, E> {
                Ok(ContextValue::Number(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ContextValue, E> {
                VariableValue::parse(v).map(ContextValue::Text).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl ContextValue {
    pub fn kind(&self) -> VariableKind {
        match self {
            ContextValue::Number(_) => VariableKind::Number,
            ContextValue::Text(_) => VariableKind::Text,
        }
    }

    /// The value as stored: numbers in their shortest round-tripping form.
    pub fn to_stored(&self) -> String {
        match self {
            ContextValue::Number(n) => n.to_string(),
            ContextValue::Text(t) => t.as_str().to_string(),
        }
    }

    pub fn from_stored(kind: VariableKind, s: String) -> Self {
        match kind {
            VariableKind::Number => s.parse().map(ContextValue::Number).unwrap_or(ContextValue::Number(f64::NAN)),
            VariableKind::Text => ContextValue::Text(VariableValue::from_stored(s)),
        }
    }
}

/// A context variable's name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VariableName(String);

impl utoipa::PartialSchema for VariableName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // The rule of `parse`: no control character anywhere, no space at either end.
        const NAME: &str = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$";
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A context variable's name: no control characters, no surrounding spaces"))
            .min_length(Some(1))
            .max_length(Some(limits::MAX_VARIABLE_NAME))
            .pattern(Some(NAME))
            .into()
    }
}

impl utoipa::ToSchema for VariableName {}

impl VariableName {
    pub fn parse(s: impl Into<String>) -> Result<Self, String> {
        let s: String = s.into();
        let n = s.chars().count();
        if n == 0 || s.trim() != s || s.chars().any(char::is_control) {
            return Err(coded(
                Code::InvalidField,
                "a variable name must be non-empty, with no control characters or surrounding spaces",
            ));
        }
        if n > limits::MAX_VARIABLE_NAME {
            return Err(coded(
                Code::FieldTooLong,
                format_args!("a variable name must be at most {} characters", limits::MAX_VARIABLE_NAME),
            ));
        }
        Ok(Self(s))
    }

    /// For names read back from our own store, which were parsed on the way in.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VariableName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl From<VariableName> for String {
    fn from(v: VariableName) -> String {
        v.0
    }
}

impl fmt::Display for VariableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn at_most_one_hundred(given: usize) -> Result<(), String> {
    if given > limits::MAX_CONTEXT_VARIABLES {
        return Err(coded(
            Code::TooManyContextVariables,
            format_args!("{given} variables given; a conversation holds at most {}", limits::MAX_CONTEXT_VARIABLES),
        ));
    }
    Ok(())
}

/// One variable as a client sets it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextVariableIn {
    pub value: ContextValue,
    /// Whether agents see the value. Hidden variables still drive routing.
    #[serde(default)]
    pub displayable: bool,
}

/// A set of variables, at most 100, keyed by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "BTreeMap<VariableName, ContextVariableIn>")]
#[schema(value_type = BTreeMap<String, ContextVariableIn>)]
pub struct ContextMap(pub BTreeMap<VariableName, ContextVariableIn>);

impl TryFrom<BTreeMap<VariableName, ContextVariableIn>> for ContextMap {
    type Error = String;
    fn try_from(m: BTreeMap<VariableName, ContextVariableIn>) -> Result<Self, String> {
        at_most_one_hundred(m.len())?;
        Ok(Self(m))
    }
}

/// A partial update: each name maps to a new variable, or to `null` to remove it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "BTreeMap<VariableName, Option<ContextVariableIn>>")]
#[schema(value_type = Object, example = json!({"product": {"value": "XBox", "displayable": true}, "obsolete": null}))]
pub struct ContextPatch(pub BTreeMap<VariableName, Option<ContextVariableIn>>);

impl TryFrom<BTreeMap<VariableName, Option<ContextVariableIn>>> for ContextPatch {
    type Error = String;
    fn try_from(m: BTreeMap<VariableName, Option<ContextVariableIn>>) -> Result<Self, String> {
        at_most_one_hundred(m.len())?;
        Ok(Self(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_text_or_numbers() {
        let m: ContextMap =
            serde_json::from_str(r#"{"product":{"value":"XBox","displayable":true},"age":{"value":-10.5}}"#).unwrap();
        assert_eq!(m.0.len(), 2);
        let age = &m.0[&VariableName::parse("age").unwrap()];
        assert_eq!(age.value, ContextValue::Number(-10.5));
        assert!(!age.displayable);
        assert_eq!(ContextValue::from_stored(VariableKind::Number, "-10.5".into()), ContextValue::Number(-10.5));
    }

    #[test]
    fn whole_numbers_read_back_without_a_fraction() {
        let json = |v: &ContextValue| serde_json::to_string(v).unwrap();
        for (sent, back) in [("3", "3"), ("3.5", "3.5"), ("-10", "-10"), ("0", "0"), ("3.0", "3"), ("1e300", "1e+300")]
        {
            let value: ContextValue = serde_json::from_str(sent).unwrap();
            assert_eq!(json(&value), back, "{sent}");
            // Through the store's text form, as a variable is read back.
            let stored = ContextValue::from_stored(VariableKind::Number, value.to_stored());
            assert_eq!((json(&stored), stored), (back.to_string(), value), "{sent}");
        }
        assert_eq!(json(&ContextValue::from_stored(VariableKind::Number, "3".into())), "3");
        assert_eq!(json(&ContextValue::from_stored(VariableKind::Number, "0.1".into())), "0.1");
        // Past 2^53 a whole f64 is no longer an exact integer: written as the float it is.
        let big = 2f64.powi(60);
        assert_eq!(json(&ContextValue::Number(big)), serde_json::to_string(&big).unwrap());
        // The variable's value and kind are what rules compare: 3 is the number 3 however it was written.
        let three: ContextVariableIn = serde_json::from_str(r#"{"value": 3}"#).unwrap();
        assert_eq!((three.value.kind(), &three.value), (VariableKind::Number, &ContextValue::Number(3.0)));
        assert_eq!(serde_json::to_value(&three).unwrap(), serde_json::json!({ "value": 3, "displayable": false }));
    }

    #[test]
    fn at_most_one_hundred() {
        let body: String =
            format!("{{{}}}", (0..101).map(|i| format!(r#""v{i}":{{"value":"x"}}"#)).collect::<Vec<_>>().join(","));
        let err = serde_json::from_str::<ContextMap>(&body).unwrap_err().to_string();
        assert!(err.starts_with("too_many_context_variables"), "{err}");
    }
}
