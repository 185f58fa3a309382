//! The conversation (work item) state machine of `contact-center-spec.md` §6.6.

use crate::{
    error::{Code, Error},
    setup::{ChannelType, WorkstreamType},
    str_enum,
};

str_enum!(
    /// A conversation's status reason. `closed` is the only terminal state.
    ConversationState {
        /// Waiting in a queue for an agent.
        Open = "open",
        /// An agent is working on it; it consumes the agent's capacity.
        Active = "active",
        /// Parked by the agent on an asynchronous channel; the customer's next message revives it.
        Waiting = "waiting",
        /// Ended; the agent is finishing notes.
        WrapUp = "wrap_up",
        Closed = "closed",
    }
);

str_enum!(
    /// Something that moves a conversation from one state to another.
    Action {
        /// An agent takes the conversation (accepting a push offer or picking it): Open or Waiting → Active.
        Accept = "accept",
        /// The agent gives it back to the queue: Active → Open.
        Release = "release",
        /// The agent closes the session without ending it: Active → Waiting (asynchronous channels only).
        Park = "park",
        /// The agent or customer ends it: Active → Wrap-up.
        End = "end",
        /// Close it for good: Open, Waiting or Wrap-up → Closed (and Active → Closed for records).
        Close = "close",
        /// The customer wrote again: Waiting → Open, to be routed anew.
        CustomerReply = "customer_reply",
        /// The customer left: Open or Waiting → Closed, Active → Wrap-up.
        CustomerEnd = "customer_end",
        /// The conversation moves to another queue or agent: Active → Open, to be routed there.
        Transfer = "transfer",
    }
);

impl ConversationState {
    /// Whether the conversation counts as active for the persistent-conversation key and the active list.
    pub fn is_live(self) -> bool {
        matches!(self, ConversationState::Open | ConversationState::Active | ConversationState::Waiting)
    }
}

/// The state `action` leads to from `from`, or why it cannot happen.
pub fn transition(
    from: ConversationState,
    action: Action,
    channel: ChannelType,
    workstream: WorkstreamType,
) -> Result<ConversationState, Error> {
    use Action as A;
    use ConversationState as S;
    let to = match (from, action) {
        (S::Closed, _) => return Err(Error::new(Code::ConversationClosed, "the conversation is closed")),
        (S::Open | S::Waiting, A::Accept) => S::Active,
        (S::Active, A::Release | A::Transfer) => S::Open,
        (S::Active, A::Park) if channel.is_async() => S::Waiting,
        (S::Active, A::Park) => {
            return Err(Error::new(
                Code::InvalidStateTransition,
                format!("a {channel} conversation cannot wait; end it instead"),
            ));
        }
        (S::Active, A::End | A::CustomerEnd) => S::WrapUp,
        (S::Open | S::Waiting | S::WrapUp, A::Close) => S::Closed,
        (S::Active, A::Close) if workstream == WorkstreamType::Record => S::Closed,
        (S::Waiting, A::CustomerReply) => S::Open,
        (S::Open | S::Waiting, A::CustomerEnd) => S::Closed,
        (from, action) => {
            return Err(Error::new(
                Code::InvalidStateTransition,
                format!("cannot {action} a conversation that is {from}"),
            ));
        }
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversationState as S;

    fn go(from: S, action: Action) -> Result<S, Code> {
        transition(from, action, ChannelType::MessagingApi, WorkstreamType::Messaging).map_err(|e| e.code)
    }

    #[test]
    fn follows_the_documented_table() {
        assert_eq!(go(S::Open, Action::Accept), Ok(S::Active));
        assert_eq!(go(S::Open, Action::CustomerEnd), Ok(S::Closed));
        assert_eq!(go(S::Active, Action::End), Ok(S::WrapUp));
        assert_eq!(go(S::Active, Action::CustomerEnd), Ok(S::WrapUp));
        assert_eq!(go(S::Active, Action::Release), Ok(S::Open));
        assert_eq!(go(S::Active, Action::Transfer), Ok(S::Open));
        assert_eq!(go(S::Active, Action::Park), Ok(S::Waiting));
        assert_eq!(go(S::WrapUp, Action::Close), Ok(S::Closed));
        assert_eq!(go(S::Waiting, Action::Close), Ok(S::Closed));
        assert_eq!(go(S::Waiting, Action::Accept), Ok(S::Active));
        assert_eq!(go(S::Waiting, Action::CustomerReply), Ok(S::Open));
    }

    #[test]
    fn refuses_what_the_table_does_not_allow() {
        assert_eq!(go(S::Open, Action::End), Err(Code::InvalidStateTransition));
        assert_eq!(go(S::Active, Action::Close), Err(Code::InvalidStateTransition));
        assert_eq!(go(S::WrapUp, Action::Accept), Err(Code::InvalidStateTransition));
        assert_eq!(go(S::Active, Action::Accept), Err(Code::InvalidStateTransition));
        for action in Action::ALL {
            assert_eq!(go(S::Closed, *action), Err(Code::ConversationClosed));
        }
    }

    #[test]
    fn live_chat_cannot_wait_and_records_close_from_active() {
        let live = transition(S::Active, Action::Park, ChannelType::LiveChat, WorkstreamType::Messaging);
        assert_eq!(live.map_err(|e| e.code), Err(Code::InvalidStateTransition));
        let record = transition(S::Active, Action::Close, ChannelType::MessagingApi, WorkstreamType::Record);
        assert_eq!(record.map_err(|e| e.code), Ok(S::Closed));
    }

    #[test]
    fn every_pair_either_moves_or_names_a_reason() {
        for from in ConversationState::ALL {
            for action in Action::ALL {
                match go(*from, *action) {
                    Ok(to) => assert!(*from != S::Closed, "{from} --{action}--> {to}"),
                    Err(code) => assert!(matches!(code, Code::InvalidStateTransition | Code::ConversationClosed)),
                }
            }
        }
    }
}
