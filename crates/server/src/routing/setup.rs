//! Queues, workstreams and rules as routing sees them: refreshed from the store when they change (on this node or
//! another), checked as the API receives them, and the routing API that changes them (members, queue routing,
//! rules).

use std::collections::{BTreeMap, HashMap};

use switchboard_domain::{
    Code, Error,
    ids::*,
    routing::{
        calendar::{Calendar, CalendarSpec},
        rules::{Schema, WorkstreamRules},
    },
    setup::{Distribution, QueueRouting, RoutingSettings},
};
use switchboard_store::{
    routing::{self as store, RulesDocument},
    setup,
};

use super::{
    Deps, OrgRouting, Routing, catalogue,
    org::{QueueInfo, WorkstreamInfo},
};

/// Checks a queue's calendar as the API receives it.
pub fn calendar(routing: &QueueRouting) -> Result<Calendar, Error> {
    Ok(checked_calendar(routing.calendar.as_ref())?.unwrap_or_else(Calendar::always_open))
}

/// Checks a calendar sent in a `calendar` field (a queue's or an agent's), naming the entry under `calendar`.
pub fn checked_calendar(spec: Option<&CalendarSpec>) -> Result<Option<Calendar>, Error> {
    spec.map(|spec| Calendar::new(spec).map_err(|e| e.at("calendar"))).transpose()
}

/// Checks rules as saved: they parse, type-check against the declared context variables, and name queues of the
/// organization.
pub fn check_rules(doc: &RulesDocument) -> Result<WorkstreamRules, Error> {
    let schema = Schema { context: doc.context_variables.clone(), contact_fields: BTreeMap::new() };
    let spec = switchboard_domain::routing::rules::WorkstreamRulesSpec {
        classification: doc.classification.clone(),
        route_to_queue: doc.route_to_queue.clone(),
    };
    WorkstreamRules::new(&spec, &schema)
}

impl OrgRouting {
    /// Reloads queues and workstreams (new ones, changed settings).
    pub(super) async fn refresh_setup(&mut self, deps: &Deps) -> Result<(), Error> {
        let org = self.org;
        let now = deps.clock.now();
        let (queues, workstreams, rules) = deps
            .store
            .read(move |tx| {
                Ok((
                    store::list_queues(tx, org)?,
                    setup::list_workstreams(tx, org, None, 100_000)?,
                    store::list_rules(tx, org)?,
                ))
            })
            .await?;
        let mut events = Vec::new();
        for q in queues {
            let calendar = calendar(&q.routing).unwrap_or_else(|e| {
                tracing::warn!(error = %e, queue = %q.id, "stored calendar refused; the queue counts as always open");
                Calendar::always_open()
            });
            let settings = self.queue_settings(q.priority, &q.routing);
            events.extend(self.engine.upsert_queue(q.id, settings, now));
            let changed = self.queues.get(&q.id).is_some_and(|old| old.routing.overflow != q.routing.overflow);
            self.queues.insert(q.id, QueueInfo { routing: q.routing, calendar });
            if changed {
                // Saved on another node: the waiting conversations' deadlines follow.
                self.reschedule_waits(q.id, now);
                deps.routing.wake.notify_one();
            }
        }
        let rules: HashMap<WorkstreamId, RulesDocument> = rules.into_iter().collect();
        for w in workstreams {
            let rules = match rules.get(&w.id).map(check_rules).transpose() {
                Ok(r) => r.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %e, workstream = %w.id, "stored rules refused; using the fallback queue");
                    WorkstreamRules::default()
                }
            };
            let enabled =
                w.settings.routing.enabled && self.upsert_workstream(w.id, &w.settings.routing, w.distribution);
            self.workstreams.insert(
                w.id,
                WorkstreamInfo {
                    name: w.name,
                    enabled,
                    fallback: w.fallback_queue_id,
                    rules,
                    wait_notifications: w.settings.wait_notifications.clone(),
                    after_work_presence: w.settings.routing.after_conversation_work_presence.clone(),
                },
            );
        }
        self.persist(deps, events).await
    }

    fn upsert_workstream(&mut self, id: WorkstreamId, routing: &RoutingSettings, distribution: Distribution) -> bool {
        match routing.to_engine(distribution).and_then(|r| self.engine.upsert_workstream(id, r)) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, workstream = %id, "workstream routing settings refused; not routed");
                false
            }
        }
    }
}

/// The routing API's setup operations: each writes the store, then moves the engine, under the organization's lock.
impl Routing {
    pub async fn set_members(
        &self,
        deps: &Deps,
        org: OrgId,
        queue: QueueId,
        users: Vec<UserId>,
    ) -> Result<Vec<store::Member>, Error> {
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        let (before, after) = deps
            .store
            .write(move |tx| {
                let before = store::list_members(tx, org, Some(queue))?;
                Ok((before, store::set_members(tx, org, queue, &users, now)?))
            })
            .await?;
        if !st.queues.contains_key(&queue) {
            st.refresh_setup(deps).await?;
        }
        for m in before.iter().filter(|m| !after.iter().any(|a| a.user_id == m.user_id)) {
            st.engine.leave_queue(m.user_id, queue)?;
        }
        let mut events = Vec::new();
        for m in &after {
            st.ensure_agent(m.user_id, now)?;
            events.extend(st.engine.join_queue(m.user_id, queue, now)?);
        }
        st.persist(deps, events).await?;
        Ok(after)
    }

    pub async fn set_queue_routing(
        &self,
        deps: &Deps,
        org: OrgId,
        queue: QueueId,
        change: impl FnOnce(&QueueRouting) -> Result<QueueRouting, Error> + Send + 'static,
    ) -> Result<store::QueueEntry, Error> {
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        // The change reads the routing in the transaction that writes it, so concurrent changes cannot lose one.
        let (entry, changed) = deps
            .store
            .write(move |tx| {
                store::update_queue_routing(tx, org, queue, now, |tx, current| {
                    catalogue::check_queue_routing(tx, org, queue, change(current)?)
                })
            })
            .await?;
        if !changed {
            return Ok(entry);
        }
        let routing = entry.routing.clone();
        let calendar = calendar(&routing)?;
        let settings = st.queue_settings(entry.priority, &routing);
        let events = st.engine.upsert_queue(queue, settings, now);
        st.queues.insert(queue, QueueInfo { routing, calendar });
        st.reschedule_waits(queue, now);
        // A deadline may have moved earlier without anything else to write.
        deps.routing.wake.notify_one();
        st.persist(deps, events).await?;
        Ok(entry)
    }

    pub async fn put_rules(
        &self,
        deps: &Deps,
        org: OrgId,
        workstream: WorkstreamId,
        doc: RulesDocument,
    ) -> Result<RulesDocument, Error> {
        let rules = check_rules(&doc)?;
        let queues = rules.route_to_queue().queues();
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        let saved = doc.clone();
        deps.store
            .write(move |tx| {
                setup::get_workstream(tx, org, workstream)?;
                for (field, q) in &queues {
                    setup::get_queue(tx, org, *q).map_err(|_| {
                        Error::field(Code::InvalidRule, field, format!("`{field}`: no queue {q} in this organization"))
                    })?;
                }
                store::put_rules(tx, org, workstream, &saved, now)
            })
            .await?;
        match st.workstreams.get_mut(&workstream) {
            Some(w) => w.rules = rules,
            None => st.refresh_setup(deps).await?,
        }
        Ok(doc)
    }
}
