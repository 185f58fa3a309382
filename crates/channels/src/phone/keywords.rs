//! The keywords carriers require every SMS program to honour (CTIA's messaging principles, the keywords Twilio and
//! TeleSign act on): a message that is only `STOP` (or one of its synonyms) opts the number out, `START` opts it
//! back in, `HELP` asks who is sending. Matching is on the whole message, trimmed, ignoring case and a trailing
//! full stop or exclamation mark: "please stop calling me" is a message for an agent, not an opt-out.

use serde::{Deserialize, Serialize};

/// A carrier keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Keyword {
    /// Opt out: no more messages to this number until it opts back in.
    Stop,
    /// Opt back in.
    Start,
    /// Ask who is sending and how to opt out.
    Help,
}

const STOP: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"];
const START: &[&str] = &["START", "YES", "UNSTOP", "OPTIN"];
const HELP: &[&str] = &["HELP", "INFO"];

impl Keyword {
    /// The keyword `text` is, if it is one.
    pub fn parse(text: &str) -> Option<Keyword> {
        let word = text.trim().trim_end_matches(['.', '!']).trim();
        if word.is_empty() || word.len() > 16 {
            return None;
        }
        let word = word.to_ascii_uppercase();
        let is = |list: &[&str]| list.contains(&word.as_str());
        if is(STOP) {
            Some(Keyword::Stop)
        } else if is(START) {
            Some(Keyword::Start)
        } else if is(HELP) {
            Some(Keyword::Help)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_messages_are_keywords_and_sentences_are_not() {
        for (text, expect) in [
            ("STOP", Some(Keyword::Stop)),
            (" stop ", Some(Keyword::Stop)),
            ("Unsubscribe.", Some(Keyword::Stop)),
            ("quit!", Some(Keyword::Stop)),
            ("Start", Some(Keyword::Start)),
            ("UNSTOP", Some(Keyword::Start)),
            ("help", Some(Keyword::Help)),
            ("INFO", Some(Keyword::Help)),
            ("please stop", None),
            ("stopping by later", None),
            ("", None),
            ("ＳＴＯＰ", None),
        ] {
            assert_eq!(Keyword::parse(text), expect, "{text:?}");
        }
    }
}
