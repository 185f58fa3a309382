//! Following a conversation's committed state change (read from the log): an accept made without routing's
//! offer, a release, a park, an end, a customer's reply to a parked conversation, a close.

use switchboard_domain::{
    Error, Timestamp,
    conversation::{Action, ConversationState},
    ids::*,
    routing::engine::{OfferId, RoutingEvent, RoutingState, TransferTarget},
};
use switchboard_store::conversations;

use super::{Deps, OrgRouting};

/// What a conversation's state change asks of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    Close,
    /// Accepted for this agent without the engine's offer (the conversations API).
    Assign(UserId),
    Release,
    Park,
    End,
    Revive,
}

impl OrgRouting {
    /// Follows a committed state change.
    pub(super) async fn on_state_changed(
        &mut self,
        deps: &Deps,
        id: ConversationId,
        data: &serde_json::Value,
    ) -> Result<(), Error> {
        let Some(view) = self.engine.conversation(id) else {
            // Not routed (routing off for its workstream, or already closed here).
            return Ok(());
        };
        let action = data["action"].as_str().and_then(Action::parse);
        let to = data["to"].as_str().and_then(ConversationState::parse);
        let agent: Option<UserId> = data["agent"]["id"].as_str().and_then(|s| s.parse().ok());
        let op = match (action, to) {
            (_, Some(ConversationState::Closed)) => Follow::Close,
            (Some(Action::Accept), _) => match agent {
                Some(agent) if view.agent == Some(agent) && view.state == RoutingState::Active => return Ok(()),
                Some(agent) => Follow::Assign(agent),
                None => return Ok(()),
            },
            (Some(Action::Release), _) if view.state == RoutingState::Active => Follow::Release,
            (Some(Action::Park), _) if view.state == RoutingState::Active => Follow::Park,
            (Some(Action::End | Action::CustomerEnd), Some(ConversationState::WrapUp))
                if view.state == RoutingState::Active =>
            {
                Follow::End
            }
            (Some(Action::CustomerReply), _) if view.state == RoutingState::Waiting => Follow::Revive,
            _ => return Ok(()),
        };
        // The log is read behind the requests: a change that a later one has replaced (an accept, then a transfer
        // that routing applied itself) must not be replayed onto the engine. The store has the final word; a close
        // is final in both.
        if op != Follow::Close {
            let org = self.org;
            let current = deps.store.read(move |tx| conversations::get(tx, org, id)).await?;
            if Some(current.state) != to || (matches!(op, Follow::Assign(_)) && current.agent_id != agent) {
                return Ok(());
            }
        }
        let now = deps.clock.now();
        if op == Follow::Close {
            self.wait_over(id);
        }
        let result = match op {
            Follow::Close => self.engine.close(id, now),
            Follow::Assign(agent) => self.assign_by_hand(id, agent, view.offer, now),
            Follow::Release => self.engine.release(id, now),
            Follow::Park => self.engine.park(id, now),
            Follow::End => self.engine.end(id, now),
            Follow::Revive => self.engine.revive(id, now),
        };
        let mut events = match result {
            Ok(events) => events,
            Err(e) => {
                // The store has committed the change; routing must not keep offering the conversation.
                tracing::warn!(error = %e, conversation = %id, "routing could not follow a state change; removing it");
                self.engine.close(id, now).unwrap_or_default()
            }
        };
        // The after conversation work presence: into it as wrap-up starts, out of it as the conversation closes.
        let after_work = match (op, view.agent) {
            (Follow::End, Some(agent)) => self.after_work_begins(deps, id, view.workstream, agent, now).await?,
            (Follow::Close, _) => self.after_work_ends(id, now)?,
            _ => None,
        };
        let first = after_work.map(|change| {
            events.extend(change.events);
            change.write
        });
        self.submit(deps, Vec::new(), events, first).await?.await
    }

    /// Someone accepted the conversation for `agent` without an offer to them (the conversations API): the engine
    /// follows by taking it from whoever had it and giving it to that agent.
    fn assign_by_hand(
        &mut self,
        id: ConversationId,
        agent: UserId,
        offer: Option<OfferId>,
        now: Timestamp,
    ) -> switchboard_domain::Result<Vec<RoutingEvent>> {
        self.ensure_agent(agent, now)?;
        if let Some(offer) = offer
            && self.engine.offer(offer).is_some_and(|o| o.agent == agent)
        {
            return self.engine.accept(offer, agent, now);
        }
        if let Some(view) = self.engine.conversation(id)
            && view.state == RoutingState::Waiting
            && view.agent == Some(agent)
        {
            // The agent who parked it took it back from their own list.
            return self.engine.resume(id, now);
        }
        let mut events = self.engine.transfer(id, TransferTarget::Agent(agent), now)?;
        let offer = self
            .engine
            .conversation(id)
            .and_then(|c| c.offer)
            .ok_or_else(|| Error::internal("a transfer to an agent makes an offer"))?;
        events.extend(self.engine.accept(offer, agent, now)?);
        Ok(events)
    }
}
