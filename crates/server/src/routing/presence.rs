//! The presence actions of reference §6.5: an agent's presence with their session details and the channels it lets
//! them take work from (`CCaaS_GetPresence`), and setting it (`CCaaS_ModifyAgentPresence`), for the agent or a
//! supervisor acting for them.

use switchboard_domain::{
    Error,
    conversation::ConversationState,
    ids::*,
    setup::{ChannelType, PresenceName},
};
use switchboard_store::{
    conversations::{self, ConversationFilter, Scope},
    routing as store, setup,
};

use super::{AgentStatus, Deps, Routing, catalogue::PresenceChoice};

/// An agent's presence and what goes with it, as `CCaaS_GetPresence` answers.
#[derive(Debug, Clone)]
pub struct PresenceReport {
    pub status: AgentStatus,
    /// The conversations the agent holds: Active, Waiting (parked) or in wrap-up, with their channel.
    pub conversations: Vec<(ConversationId, ConversationState, ChannelId)>,
    pub pending_offers: usize,
    /// Channels whose workstream routes and allows the agent's presence now: where they can be offered work.
    pub allowed_channels: Vec<(ChannelId, String, ChannelType, WorkstreamId)>,
}

/// The most conversations of each state a report lists.
const HELD_LIMIT: usize = 100;

impl Routing {
    /// The agent's presence, what they hold, and the channels their presence lets them take work from.
    pub async fn presence_report(&self, deps: &Deps, org: OrgId, agent: UserId) -> Result<PresenceReport, Error> {
        let status = self.agent(deps, org, agent).await?;
        let base = status.presence;
        let (conversations, pending_offers, allowed_channels) = deps
            .store
            .read(move |tx| {
                let mut held = Vec::new();
                for state in [ConversationState::Active, ConversationState::Waiting, ConversationState::WrapUp] {
                    let filter = ConversationFilter {
                        state: Some(state),
                        channel_id: None,
                        queue_id: None,
                        agent_id: Some(agent),
                        contact_id: None,
                        scope: Scope::All,
                    };
                    held.extend(
                        conversations::list(tx, org, &filter, None, HELD_LIMIT)?
                            .into_iter()
                            .map(|c| (c.id, c.state, c.channel_id)),
                    );
                }
                let offers = store::agent_offers(tx, org, agent, false, 100)?.len();
                let routed: Vec<WorkstreamId> = setup::list_workstreams(tx, org, None, 100_000)?
                    .into_iter()
                    .filter(|w| {
                        let r = &w.settings.routing;
                        r.enabled && allows(&r.allowed_presences, base)
                    })
                    .map(|w| w.id)
                    .collect();
                let channels = setup::list_channels(tx, org, None, 100_000)?
                    .into_iter()
                    .filter(|c| routed.contains(&c.workstream_id))
                    .map(|c| (c.id, c.name, c.channel_type, c.workstream_id))
                    .collect();
                Ok((held, offers, channels))
            })
            .await?;
        Ok(PresenceReport { status, conversations, pending_offers, allowed_channels })
    }

    /// The agent signed in: they are put in their default presence (reference §6.5), Available when they have none
    /// or it no longer exists (a custom presence deleted since).
    pub async fn signed_in(&self, deps: &Deps, org: OrgId, agent: UserId) -> Result<(), Error> {
        let saved = deps.store.read(move |tx| store::get_agent(tx, org, agent)).await?;
        let choice = match saved.default_presence.as_deref() {
            Some(raw) => self.resolve_presence(deps, org, raw).await.unwrap_or_else(|e| {
                tracing::warn!(%agent, error = %e, "default presence unusable; signing in as available");
                PresenceChoice::BuiltIn(PresenceName::Available)
            }),
            None => PresenceChoice::BuiltIn(PresenceName::Available),
        };
        self.set_presence(deps, org, agent, choice).await.map(drop)
    }

    /// Sets the agent's presence to a built-in or custom one, as `PUT /v1/agents/{id}/presence` does.
    pub async fn set_presence(
        &self,
        deps: &Deps,
        org: OrgId,
        agent: UserId,
        choice: PresenceChoice,
    ) -> Result<AgentStatus, Error> {
        let (base, custom) = match choice {
            PresenceChoice::BuiltIn(p) => (p, None),
            PresenceChoice::Custom(custom, base) => (base, Some(custom)),
        };
        self.update_agent(deps, org, agent, move |a| {
            a.presence = base;
            a.custom_presence_id = custom;
        })
        .await
    }
}

/// Whether a workstream allowing `allowed` offers work to an agent in `base` (Inactive routes as Away).
fn allows(allowed: &[PresenceName], base: PresenceName) -> bool {
    let base = if base == PresenceName::Inactive { PresenceName::Away } else { base };
    allowed.contains(&base)
}
