//! Conversation auto-close (reference §6.6): how long a conversation may stay in each state without activity
//! before the system closes it, per workstream, with the documented defaults per channel.

use crate::{
    conversation::ConversationState,
    error::{Code, Error, Result},
    setup::{ChannelType, WorkstreamType},
};

const MINUTE: u32 = 60;
const DAY: u32 = 24 * 60 * MINUTE;
/// The longest timer a workstream may set: a year. Longer is "never" in practice, which `0` says plainly.
pub const MAX_AUTO_CLOSE_SECONDS: u32 = 365 * DAY;

/// A workstream's auto-close timers, in seconds of inactivity per state. A missing value takes the default for
/// the conversation's channel (§6.6 table); `0` turns the timer off. Activity (a customer or agent message, a
/// transfer) restarts the timer of the state the conversation is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoCloseSettings {
    /// Open (waiting for an agent): live chat 20 minutes, other channels 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_seconds: Option<u32>,
    /// Active (with an agent): live chat never, other channels 30 days. Expiry ends and closes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_seconds: Option<u32>,
    /// Wrap-up: live chat 15 minutes, other channels 1 day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_up_seconds: Option<u32>,
    /// Waiting (parked by the agent): the workstream's "auto-close after inactivity"; 30 days by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_seconds: Option<u32>,
}

impl AutoCloseSettings {
    /// Refuses timers past the limit, naming the field.
    pub fn check(&self) -> Result<()> {
        for (name, value) in [
            ("open_seconds", self.open_seconds),
            ("active_seconds", self.active_seconds),
            ("wrap_up_seconds", self.wrap_up_seconds),
            ("waiting_seconds", self.waiting_seconds),
        ] {
            if value.is_some_and(|v| v > MAX_AUTO_CLOSE_SECONDS) {
                return Err(Error::field(
                    Code::InvalidField,
                    format!("settings.auto_close.{name}"),
                    format!("at most {MAX_AUTO_CLOSE_SECONDS} seconds (a year); 0 turns the timer off"),
                ));
            }
        }
        Ok(())
    }

    /// How long a conversation may stay in `state` without activity, in milliseconds; `None` for never.
    pub fn timeout_ms(
        &self,
        state: ConversationState,
        channel: ChannelType,
        workstream: WorkstreamType,
    ) -> Option<i64> {
        let configured = match state {
            ConversationState::Open => self.open_seconds,
            ConversationState::Active => self.active_seconds,
            ConversationState::WrapUp => self.wrap_up_seconds,
            ConversationState::Waiting => self.waiting_seconds,
            ConversationState::Closed => return None,
        };
        let seconds = configured.or_else(|| default_seconds(state, channel, workstream))?;
        (seconds > 0).then(|| i64::from(seconds) * 1000)
    }
}

/// The §6.6 defaults: live chat closes quickly because the customer is on the page; records close only with the
/// record; every other channel (voice, SMS, social, Messaging API, persistent chat) waits for days.
pub fn default_seconds(state: ConversationState, channel: ChannelType, workstream: WorkstreamType) -> Option<u32> {
    if workstream == WorkstreamType::Record {
        return None;
    }
    match (channel, state) {
        (_, ConversationState::Closed) => None,
        (ChannelType::LiveChat, ConversationState::Open) => Some(20 * MINUTE),
        (ChannelType::LiveChat, ConversationState::Active | ConversationState::Waiting) => None,
        (ChannelType::LiveChat, ConversationState::WrapUp) => Some(15 * MINUTE),
        (_, ConversationState::Open | ConversationState::Active | ConversationState::Waiting) => Some(30 * DAY),
        (_, ConversationState::WrapUp) => Some(DAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversationState as S;

    #[test]
    fn defaults_follow_the_reference_table() {
        let none = AutoCloseSettings::default();
        let chat = |s| none.timeout_ms(s, ChannelType::LiveChat, WorkstreamType::Messaging);
        assert_eq!(chat(S::Open), Some(20 * 60_000));
        assert_eq!(chat(S::Active), None);
        assert_eq!(chat(S::WrapUp), Some(15 * 60_000));
        let sms = |s| none.timeout_ms(s, ChannelType::Sms, WorkstreamType::Messaging);
        assert_eq!(sms(S::Open), Some(30 * 86_400_000));
        assert_eq!(sms(S::Active), Some(30 * 86_400_000));
        assert_eq!(sms(S::WrapUp), Some(86_400_000));
        assert_eq!(sms(S::Waiting), Some(30 * 86_400_000));
        assert_eq!(sms(S::Closed), None);
        assert_eq!(none.timeout_ms(S::Open, ChannelType::Sms, WorkstreamType::Record), None);
    }

    #[test]
    fn a_setting_overrides_and_zero_turns_off() {
        let s = AutoCloseSettings { open_seconds: Some(90), active_seconds: Some(0), ..Default::default() };
        assert_eq!(s.timeout_ms(S::Open, ChannelType::LiveChat, WorkstreamType::Messaging), Some(90_000));
        assert_eq!(s.timeout_ms(S::Active, ChannelType::Sms, WorkstreamType::Messaging), None);
        let too_long = AutoCloseSettings { waiting_seconds: Some(MAX_AUTO_CLOSE_SECONDS + 1), ..Default::default() };
        let err = too_long.check().map_err(|e| e.field);
        assert_eq!(err, Err(Some("settings.auto_close.waiting_seconds".into())));
    }
}
