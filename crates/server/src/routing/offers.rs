//! An agent's offers and their answers. Accepting goes through the conversation state machine first, whose state
//! check is the final guard against two agents holding one conversation; the engine follows once it commits.

use switchboard_domain::{Code, Error, Timestamp, conversation::Action, ids::*, routing::engine::OfferId};
use switchboard_store::{
    conversations::{self, ActionRequest, Actor},
    model::Conversation,
    routing::{self as store, Offer},
};
use uuid::Uuid;

use super::{Deps, OrgRouting, Routing};

impl Routing {
    /// The agent's pending offers.
    pub async fn offers(&self, deps: &Deps, org: OrgId, agent: UserId) -> Result<Vec<Offer>, Error> {
        deps.store
            .read(move |tx| {
                store::get_agent(tx, org, agent)?;
                store::agent_offers(tx, org, agent, false, 100)
            })
            .await
    }

    /// The agent accepts their offer: the conversation becomes Active with them through the state machine, then
    /// the engine follows.
    pub async fn accept(
        &self,
        deps: &Deps,
        org: OrgId,
        agent: UserId,
        offer: Uuid,
        label: String,
    ) -> Result<Conversation, Error> {
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        let (engine_offer, conversation) = st.live_offer(deps, org, agent, offer, now).await?;
        let actor = Actor { label, agent: Some(agent) };
        let req = ActionRequest { action: Action::Accept, agent_id: Some(agent), reason: None };
        let after = deps.store.write(move |tx| conversations::apply(tx, org, conversation, &actor, req, now)).await?;
        let events = st.engine.accept(engine_offer, agent, now)?;
        st.persist(deps, events).await?;
        Ok(after)
    }

    pub async fn reject(&self, deps: &Deps, org: OrgId, agent: UserId, offer: Uuid) -> Result<(), Error> {
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        let (engine_offer, _) = st.live_offer(deps, org, agent, offer, now).await?;
        let events = st.engine.reject(engine_offer, agent, now)?;
        st.persist(deps, events).await
    }
}

impl OrgRouting {
    /// The engine's offer for `offer`, if it is the agent's and still open; otherwise why not, from the store.
    async fn live_offer(
        &self,
        deps: &Deps,
        org: OrgId,
        agent: UserId,
        offer: Uuid,
        now: Timestamp,
    ) -> Result<(OfferId, ConversationId), Error> {
        if let Some(&id) = self.offer_by_uuid.get(&offer)
            && let Some(view) = self.engine.offer(id)
        {
            if view.agent != agent {
                return Err(Error::not_found(Code::OfferNotFound));
            }
            if now >= view.expires_at {
                return Err(Error::new(Code::OfferExpired, "the offer has expired"));
            }
            return Ok((id, view.conversation));
        }
        let stored = deps.store.read(move |tx| store::get_offer(tx, org, offer)).await?;
        if stored.agent_id != agent {
            return Err(Error::not_found(Code::OfferNotFound));
        }
        Err(Error::new(Code::OfferExpired, format!("the offer is {}", stored.state)))
    }
}
