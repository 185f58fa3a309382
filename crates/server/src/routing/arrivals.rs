//! New conversations: each is classified with its workstream's rules (queue, priority, severity, skills,
//! attributes), passed through overflow, and queued. Arrivals read from the log are routed in batches.

use std::collections::HashMap;

use switchboard_domain::{
    Error,
    conversation::ConversationState,
    ids::*,
    routing::{
        assignment_rules::{engine_attributes, item_attributes},
        engine::WorkItem,
        rules::{Facts, Value},
    },
};
use switchboard_store::{bots::Hold, conversations, model::Conversation, routing::Classified, setup};
use uuid::Uuid;

use super::{Deps, OrgRouting, catalogue, overflow};

impl super::Routing {
    /// Routes a conversation its bot escalated (reference §4.2): classified with the context the bot set, and
    /// queued like a new arrival. Its bot session is no longer active, so it is not given back to the bot.
    pub async fn route_escalated(&self, deps: &Deps, org: OrgId, id: ConversationId) -> Result<(), Error> {
        self.org(deps, org).await?.lock().await.route_new(deps, id).await
    }
}

impl OrgRouting {
    /// Classifies a new conversation with its workstream's rules and puts it in its queue.
    pub(super) async fn route_new(&mut self, deps: &Deps, id: ConversationId) -> Result<(), Error> {
        self.route_new_batch(deps, vec![id]).await
    }

    /// Classifies new conversations and queues them: one read and one write for the batch, so that the follower
    /// keeps up with arrivals on a database a round trip away.
    pub(super) async fn route_new_batch(&mut self, deps: &Deps, ids: Vec<ConversationId>) -> Result<(), Error> {
        let ids: Vec<ConversationId> = ids.into_iter().filter(|id| self.engine.conversation(*id).is_none()).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let org = self.org;
        let loaded = deps
            .store
            .read(move |tx| {
                let mut out = Vec::with_capacity(ids.len());
                let mut to_bots = Vec::new();
                for id in ids {
                    let c = conversations::get(tx, org, id)?;
                    if c.state != ConversationState::Open {
                        continue;
                    }
                    match switchboard_store::bots::hold(tx, org, id, c.channel_id)? {
                        Hold::Free => {}
                        Hold::Held => continue,
                        Hold::Due(bot) => {
                            to_bots.push((id, bot));
                            continue;
                        }
                    }
                    let context = conversations::context(tx, org, id)?;
                    let contact = c.contact_id.map(|k| switchboard_store::contacts::get(tx, org, k)).transpose()?;
                    let channel = setup::get_channel(tx, org, c.channel_id)?;
                    out.push((c, context, contact, channel.channel_type));
                }
                Ok((out, to_bots))
            })
            .await?;
        let (loaded, to_bots) = loaded;
        let now = deps.clock.now();
        if !to_bots.is_empty() {
            // A channel's bot answers first (reference §4.2): the conversation waits unrouted until it escalates.
            deps.store
                .write(move |tx| {
                    for (id, bot) in to_bots {
                        switchboard_store::bots::start(tx, org, id, bot, now)?;
                    }
                    Ok(())
                })
                .await?;
        }
        let mut classified = Vec::with_capacity(loaded.len());
        let mut items = Vec::with_capacity(loaded.len());
        // Conversations of this batch already placed in each queue, for overflow's work item limits.
        let mut joining: HashMap<QueueId, usize> = HashMap::new();
        for (conversation, context, contact, channel_type) in loaded {
            let Some(ws) = self.workstreams.get(&conversation.workstream_id).filter(|w| w.enabled) else {
                continue;
            };
            let mut facts = Facts {
                channel: Some(channel_type.as_str().to_string()),
                workstream: Some(ws.name.clone()),
                context: context.iter().map(|v| (v.name.as_str().to_string(), Value::from(&v.value))).collect(),
                priority: Some(i32::try_from(conversation.priority).unwrap_or(0)),
                ..Facts::default()
            };
            facts.language = catalogue::language(&facts.context);
            if let Some(c) = &contact {
                let name = c.display_name();
                for (field, value) in
                    [("customer_id", &c.customer_id), ("email", &c.email), ("phone", &c.phone), ("name", &name)]
                {
                    if let Some(v) = value {
                        facts.contact.insert(field.to_string(), Value::Text(v.clone()));
                    }
                }
            }
            let Some(queue) = self.pick_queue(&conversation, &mut facts) else {
                tracing::warn!(conversation = %conversation.id, "no rule matched and no fallback queue; not routed");
                continue;
            };
            let required = self.requirements(&facts.skills);
            let queue = match self.place(queue, conversation.workstream_id, &required, now, &joining) {
                overflow::Placement::Queue(q, steps) => {
                    self.overflow.moved(conversation.id, steps);
                    q
                }
                ended => {
                    self.end_overflowed(&conversation, contact.as_ref(), ended, now);
                    continue;
                }
            };
            *joining.entry(queue).or_default() += 1;
            let id = conversation.id;
            let mut work = WorkItem::new(id, conversation.workstream_id, queue, now);
            work.priority = facts.priority.unwrap_or(0);
            work.severity = facts.severity.unwrap_or(0);
            work.skills = required;
            work.channel = channel_type;
            let attributes = item_attributes(&facts);
            work.attributes = engine_attributes(&attributes);
            classified.push(Classified {
                conversation_id: id,
                queue_id: queue,
                priority: i64::from(work.priority),
                severity: i64::from(work.severity),
                skills: facts.skills,
                enqueued_at: now,
                attributes,
            });
            items.push(work);
        }
        let mut events = Vec::new();
        for work in items {
            let id = work.conversation;
            self.enqueued_at.insert(id, now);
            // `classify` records it as the start of the wait in queue too.
            self.wait_started(id, now);
            match self.engine.enqueue(work, now) {
                Ok(e) => events.extend(e),
                Err(e) => tracing::warn!(error = %e, conversation = %id, "not queued"),
            }
        }
        // Classification is written with the routing events, in one transaction.
        self.persist_with(deps, classified, events).await
    }

    /// Runs the rules; the chosen queue's overflow comes after (`place`).
    fn pick_queue(&self, conversation: &Conversation, facts: &mut Facts) -> Option<QueueId> {
        let ws = self.workstreams.get(&conversation.workstream_id)?;
        let queue = match ws.fallback {
            Some(fallback) => ws.rules.run(facts, conversation.id, fallback).route.queue,
            None => {
                // Without a fallback, only a matching rule can place it; any queue id works as the placeholder.
                let placeholder = QueueId::from(Uuid::nil());
                let q = ws.rules.run(facts, conversation.id, placeholder).route.queue;
                (q != placeholder).then_some(q)?
            }
        };
        Some(queue)
    }
}
