//! What the supervisor dashboard shows live of each queue and agent (`GET /v1/analytics/queues`), read from the
//! organization's engine under one lock: no table is read, so it stays cheap with thousands waiting.

use std::collections::HashMap;

use serde::Serialize;
use switchboard_domain::{
    Error, Timestamp,
    ids::*,
    routing::{
        engine::{Presence, RoutingState},
        wait::Asker,
    },
    setup::PresenceName,
};
use utoipa::ToSchema;

use super::{Deps, Routing, agents::presence_name, catalogue};

/// How many of a queue's members are in each base presence (a custom presence counts as its base).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct PresenceCounts {
    pub available: usize,
    pub busy: usize,
    pub busy_dnd: usize,
    pub away: usize,
    pub offline: usize,
    /// Made inactive by routing after a missed offer.
    pub inactive: usize,
}

impl PresenceCounts {
    fn count(&mut self, p: PresenceName) {
        let slot = match p {
            PresenceName::Available => &mut self.available,
            PresenceName::Busy => &mut self.busy,
            PresenceName::BusyDnd => &mut self.busy_dnd,
            PresenceName::Away => &mut self.away,
            PresenceName::Offline => &mut self.offline,
            PresenceName::Inactive => &mut self.inactive,
        };
        *slot += 1;
    }
}

/// One queue now, as routing holds it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueLive {
    pub queue_id: QueueId,
    /// Conversations waiting for an agent: in the queue, or offered and not yet accepted.
    pub waiting: usize,
    /// Of those, the ones offered to an agent now.
    pub offered: usize,
    /// How long the longest-waiting of them has waited, in seconds; null when none waits.
    pub longest_wait_seconds: Option<f64>,
    /// The estimated wait of a conversation arriving now (the estimator of `GET
    /// /v1/conversations/{id}/queue-position`); null when nobody staffs the queue or no routed workstream uses it.
    pub estimated_wait_seconds: Option<f64>,
    /// The queue's members by presence.
    pub agents: PresenceCounts,
    /// The capacity units the members hold (offers, active conversations, blocking wrap-ups) and have in all.
    pub used_units: u64,
    pub total_units: u64,
}

/// One agent now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentLive {
    pub user_id: UserId,
    /// The base presence routing goes by.
    pub presence: PresenceName,
    /// The custom presence the agent chose, when they are in one.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub custom_presence_id: Option<uuid::Uuid>,
    pub used_units: u32,
    pub total_units: u32,
    pub queue_ids: Vec<QueueId>,
}

/// The organization's queues and agents now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Snapshot {
    pub queues: Vec<QueueLive>,
    pub agents: Vec<AgentLive>,
}

impl Routing {
    /// Every queue's waiting conversations and staffing, and every agent's presence and load, as routing holds them.
    pub async fn snapshot(&self, deps: &Deps, org: OrgId) -> Result<Snapshot, Error> {
        let o = self.org(deps, org).await?;
        let st = o.lock().await;
        let now = deps.clock.now();
        let mut queues: HashMap<QueueId, QueueLive> = st
            .queues
            .keys()
            .map(|&q| {
                let live = QueueLive {
                    queue_id: q,
                    waiting: 0,
                    offered: 0,
                    longest_wait_seconds: None,
                    estimated_wait_seconds: None,
                    agents: PresenceCounts::default(),
                    used_units: 0,
                    total_units: 0,
                };
                (q, live)
            })
            .collect();
        // The workstream each queue's estimate is made for: one of its waiting conversations', else one that
        // falls back to it.
        let mut workstream_of: HashMap<QueueId, WorkstreamId> =
            st.workstreams.iter().filter_map(|(&ws, w)| Some((w.fallback?, ws))).collect();
        let mut oldest: HashMap<QueueId, Timestamp> = HashMap::new();
        for (conversation, _, since) in st.waits.waiting() {
            // The engine says where it is now; the estimator's list may be a step behind.
            let Some(view) = st.engine.conversation(conversation) else { continue };
            let offered = match view.state {
                RoutingState::Open => false,
                RoutingState::Offered => true,
                _ => continue,
            };
            let Some(live) = queues.get_mut(&view.queue) else { continue };
            live.waiting += 1;
            live.offered += usize::from(offered);
            workstream_of.insert(view.queue, view.workstream);
            let first = oldest.entry(view.queue).or_insert(since);
            *first = (*first).min(since);
        }
        for (queue, live) in &mut queues {
            live.longest_wait_seconds = oldest.get(queue).map(|since| seconds(now.millis() - since.millis()));
            let open = live.waiting - live.offered;
            live.estimated_wait_seconds = workstream_of
                .get(queue)
                .and_then(|&ws| st.estimate_wait(*queue, ws, open + 1, Asker::ANYONE, now))
                .map(|d| d.as_secs_f64().round());
        }
        let mut agents = Vec::new();
        for id in st.engine.agent_ids() {
            let Some(view) = st.engine.agent(id) else { continue };
            let (presence, custom) = match view.presence {
                Presence::Custom(c) => (catalogue::base_name(view.base), Some(c.0)),
                p => (presence_name(p), None),
            };
            for q in &view.queues {
                if let Some(live) = queues.get_mut(q) {
                    live.agents.count(presence);
                    live.used_units += u64::from(view.used_units);
                    live.total_units += u64::from(view.total_units);
                }
            }
            agents.push(AgentLive {
                user_id: id,
                presence,
                custom_presence_id: custom,
                used_units: view.used_units,
                total_units: view.total_units,
                queue_ids: view.queues,
            });
        }
        let mut queues: Vec<QueueLive> = queues.into_values().collect();
        queues.sort_by_key(|q| q.queue_id);
        Ok(Snapshot { queues, agents })
    }
}

fn seconds(ms: i64) -> f64 {
    (ms.max(0) as f64 / 1000.0).round()
}
