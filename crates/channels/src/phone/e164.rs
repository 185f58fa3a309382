//! Phone numbers as providers exchange them: E.164 (`+` then the country code and the national number, no
//! spaces), checked against libphonenumber's metadata (the `phonenumber` crate), so that `+1 (425) 555-0100`,
//! `tel:+14255550100` and `+14255550100` are the same customer, and a number no country has is refused.

use std::fmt;

/// A valid phone number in E.164 form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is not a phone number")]
    Unparsable,
    #[error("is not a valid phone number for its country")]
    Invalid,
    /// Without a `+` and country code, and no default region to read it in.
    #[error("needs its country code (`+` and the international number)")]
    NoCountry,
}

impl E164 {
    /// Parses `raw` (international form, `tel:` URI, or national form when `region` names the country, as ISO
    /// 3166 alpha-2 `US`) into E.164; refuses what libphonenumber does not hold valid.
    pub fn parse(raw: &str, region: Option<&str>) -> Result<E164, PhoneError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 64 {
            return Err(PhoneError::Unparsable);
        }
        let raw = raw.strip_prefix("tel:").unwrap_or(raw);
        let country = match region {
            Some(r) => {
                Some(r.to_ascii_uppercase().parse::<phonenumber::country::Id>().map_err(|_| PhoneError::NoCountry)?)
            }
            None if !raw.starts_with('+') => return Err(PhoneError::NoCountry),
            None => None,
        };
        let number = phonenumber::parse(country, raw).map_err(|_| PhoneError::Unparsable)?;
        if !phonenumber::is_valid(&number) {
            return Err(PhoneError::Invalid);
        }
        let formatted = number.format().mode(phonenumber::Mode::E164).to_string();
        if !formatted.starts_with('+') {
            return Err(PhoneError::Unparsable);
        }
        Ok(E164(formatted))
    }

    /// A number this server normalized before (read back from its store).
    pub fn from_stored(s: String) -> E164 {
        E164(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_number_are_one_number() {
        for raw in ["+14255550100", "+1 (425) 555-0100", "tel:+1-425-555-0100", " +1.425.555.0100 "] {
            assert_eq!(E164::parse(raw, None).unwrap().as_str(), "+14255550100", "{raw}");
        }
        assert_eq!(E164::parse("(425) 555-0100", Some("us")).unwrap().as_str(), "+14255550100");
        assert_eq!(E164::parse("020 7946 0958", Some("GB")).unwrap().as_str(), "+442079460958");
        assert_eq!(E164::parse("+447400123456", None).unwrap().as_str(), "+447400123456");
    }

    #[test]
    fn what_no_country_holds_is_refused() {
        assert_eq!(E164::parse("4255550100", None), Err(PhoneError::NoCountry));
        assert_eq!(E164::parse("", None), Err(PhoneError::Unparsable));
        assert_eq!(E164::parse("call me", Some("US")), Err(PhoneError::Unparsable));
        assert_eq!(E164::parse("+call me", None), Err(PhoneError::Unparsable));
        assert!(E164::parse("+1 000 000 0000", None).is_err());
        assert!(E164::parse("+999 1234", None).is_err());
        assert_eq!(E164::parse("425", Some("ZZ")), Err(PhoneError::NoCountry));
        assert!(E164::parse(&"1".repeat(80), None).is_err());
    }
}
