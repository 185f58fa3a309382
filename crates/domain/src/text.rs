//! Bounded, validated strings. Each is parsed once at the edge; its serde `try_from` error starts with the
//! stable error code (`field_too_long: …`) so the JSON extractor can report the code with the failing path.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    error::{Code, Error},
    limits,
};

/// Formats a parse failure so the code survives a trip through serde's string errors.
pub fn coded(code: Code, detail: impl fmt::Display) -> String {
    format!("{}: {detail}", code.as_str())
}

/// Splits a serde message made by [`coded`] back into its code and detail.
pub fn split_coded(message: &str) -> Option<(Code, &str)> {
    let (head, rest) = message.split_once(": ")?;
    Code::ALL.iter().find(|c| c.as_str() == head).map(|c| (*c, rest))
}

fn check_len(s: &str, max: usize, code: Code) -> Result<(), String> {
    let n = s.chars().count();
    if n > max { Err(coded(code, format_args!("must be at most {max} characters, got {n}"))) } else { Ok(()) }
}

macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, non_empty = $non_empty:expr, too_long = $code:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, String> {
                let s: String = s.into();
                if $non_empty && s.trim().is_empty() {
                    return Err(coded(Code::InvalidField, "must not be empty"));
                }
                check_len(&s, $max, $code)?;
                Ok(Self(s))
            }

            /// For values read back from our own store, which were parsed on the way in.
            pub fn from_stored(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(if $non_empty { Some(1) } else { None })
                    .max_length(Some($max))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

bounded!(
    /// The name of a configured object (workstream, queue, channel, user, key): 1 to 200 characters.
    Name, max = limits::MAX_NAME, non_empty = true, too_long = Code::FieldTooLong
);
bounded!(
    /// A customer-supplied field (customer id, first/last/preferred name): up to 200 characters.
    CustomerField, max = limits::MAX_CUSTOMER_FIELD, non_empty = true, too_long = Code::FieldTooLong
);
bounded!(
    /// A sender name, file name or MIME type: up to 256 characters.
    ShortText, max = limits::MAX_SHORT_FIELD, non_empty = false, too_long = Code::FieldTooLong
);
bounded!(
    /// A message's text: up to 6,000 characters.
    MessageText, max = limits::MAX_MESSAGE_TEXT, non_empty = false, too_long = Code::MessageTooLong
);
bounded!(
    /// A context variable's value: up to 4,000 characters.
    VariableValue, max = limits::MAX_VARIABLE_VALUE, non_empty = false, too_long = Code::FieldTooLong
);

/// An email address, lower-cased so that contact matching ignores case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: impl Into<String>) -> Result<Self, String> {
        let s: String = s.into();
        let s = s.trim().to_lowercase();
        check_len(&s, limits::MAX_CUSTOMER_FIELD, Code::FieldTooLong)?;
        let valid = match s.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(char::is_whitespace)
                    && !domain.contains('@')
            }
            None => false,
        };
        if valid { Ok(Self(s)) } else { Err(coded(Code::InvalidField, "is not an email address")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Email {
    /// For values read back from our own store, which were parsed on the way in.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}

/// A phone number, normalized to `+` and digits (or digits only when the caller gave no country code) so that
/// "+1 (425) 555-0100" and "+14255550100" match the same contact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(s: impl Into<String>) -> Result<Self, String> {
        let s: String = s.into();
        check_len(&s, limits::MAX_CUSTOMER_FIELD, Code::FieldTooLong)?;
        let trimmed = s.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(r) => ("+", r),
            None => ("", trimmed),
        };
        let mut digits = String::with_capacity(rest.len() + 1);
        digits.push_str(plus);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(coded(Code::InvalidField, "is not a phone number")),
            }
        }
        let n = digits.len() - plus.len();
        // E.164 allows at most 15 digits; fewer than 4 cannot be a subscriber number anywhere.
        if !(4..=15).contains(&n) {
            return Err(coded(Code::InvalidField, "is not a phone number (4 to 15 digits)"));
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Phone {
    /// For values read back from our own store, which were parsed on the way in.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl From<Phone> for String {
    fn from(v: Phone) -> String {
        v.0
    }
}

/// An absolute http(s) URL of at most 2,048 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn parse(s: impl Into<String>) -> Result<Self, String> {
        let s: String = s.into();
        check_len(&s, limits::MAX_URL, Code::FieldTooLong)?;
        let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
        match rest {
            Some(r) if !r.is_empty() && !r.starts_with('/') && !s.chars().any(char::is_whitespace) => Ok(Self(s)),
            _ => Err(coded(Code::InvalidField, "must be an absolute http or https URL")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl HttpUrl {
    /// For values read back from our own store, which were parsed on the way in.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl From<HttpUrl> for String {
    fn from(v: HttpUrl) -> String {
        v.0
    }
}

macro_rules! string_schema {
    ($($name:ident => ($format:literal, $pattern:expr)),+) => {$(
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::Custom($format.into())))
                    .max_length(Some(if $format == "uri" { limits::MAX_URL } else { limits::MAX_CUSTOMER_FIELD }))
                    .pattern($pattern)
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    )+};
}

/// `Phone::parse`: an optional `+`, then 4 to 15 digits, separated by spaces, dots, dashes or parentheses.
const PHONE_PATTERN: &str = r"^\s*\+?[ .()-]*([0-9][ .()-]*){4,15}\s*$";
/// `HttpUrl::parse`: http or https, a host, no whitespace.
const URL_PATTERN: &str = r"^https?://[^/\s]\S*$";

string_schema!(Email => ("email", None::<&str>), Phone => ("phone", Some(PHONE_PATTERN)), HttpUrl => ("uri", Some(URL_PATTERN)));

/// Turns a [`coded`] parse failure into an [`Error`] about `field`.
pub fn field_error(field: &str, message: &str) -> Error {
    match split_coded(message) {
        Some((code, detail)) => Error::field(code, field, format!("`{field}` {detail}")),
        None => Error::field(Code::InvalidField, field, format!("`{field}`: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_counts_characters_not_bytes() {
        assert!(MessageText::parse("é".repeat(6_000)).is_ok());
        let err = MessageText::parse("a".repeat(6_001)).unwrap_err();
        assert_eq!(split_coded(&err).map(|(c, _)| c), Some(Code::MessageTooLong));
    }

    #[test]
    fn phone_numbers_normalize_and_reject_garbage() {
        assert_eq!(Phone::parse("+1 (425) 555-0100").unwrap().as_str(), "+14255550100");
        assert_eq!(Phone::parse("1234567890").unwrap().as_str(), "1234567890");
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("+1234567890123456").is_err());
        assert!(Phone::parse("12").is_err());
    }

    #[test]
    fn emails_lowercase_and_need_a_domain() {
        assert_eq!(Email::parse(" John.Doe@Example.com ").unwrap().as_str(), "john.doe@example.com");
        for bad in ["john", "john@", "@example.com", "john@example", "jo hn@example.com", "a@b@c.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_must_not_be_blank_or_too_long() {
        assert!(Name::parse("  ").is_err());
        assert!(Name::parse("x".repeat(201)).is_err());
        assert!(Name::parse("Support").is_ok());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(HttpUrl::parse("https://example.com/a.png").is_ok());
        assert!(HttpUrl::parse("ftp://example.com").is_err());
        assert!(HttpUrl::parse("https://").is_err());
    }
}
