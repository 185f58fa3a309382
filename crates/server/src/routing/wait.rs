//! Estimated waits in the running server (reference §1.8, §6.7), and telling waiting customers about them.
//!
//! Each organization keeps a [`WaitTracker`] (crates/domain/src/routing/wait_tracker.rs, the same one `switchboard
//! simulate` drives) beside its engine and feeds it what routing decides, as it is persisted: a conversation
//! joining a queue, being offered (time in offers is kept apart from time in the backlog), declined and back,
//! assigned, leaving unanswered (closed while waiting: an abandonment), moving to another queue, and giving its
//! agent's capacity back (the handle time, acceptance to release). Staffing (members at work for the queue) is
//! refreshed on every change. At start the history of the last 48 hours is replayed from the store
//! (accepted offers with their waits and, once closed, handle times; conversations closed while waiting), so a
//! restart does not forget how fast a queue moves.
//!
//! The estimate for position `p` uses the queue's staffing, the members with room now and, for a conversation
//! already waiting, the members cooling down after declining it (not available to it until their cooldown ends);
//! see the estimator for the method. It is `None` when nobody staffs the queue: no honest number exists then.
//!
//! **Telling customers.** For a workstream with `settings.wait_notifications.enabled` (the default), a waiting
//! customer gets a system message in the conversation ("You are number 3 in the queue. Estimated wait: about 4
//! minutes.") and a `routing.wait_estimate_changed` event, when they join the queue and whenever their position
//! or their estimate's step changes, at most once per `min_interval_seconds`. A change held back by that interval
//! is sent when it passes (a sweep every [`SWEEP`] also catches estimates that drift with staffing and history).

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use switchboard_domain::{
    Error, Timestamp,
    conversation::ConversationState,
    event::{TypedEvent, WaitEstimateChanged},
    ids::*,
    message::SenderKind,
    routing::{
        engine::{RoutingEvent, RoutingState, SkillSet},
        wait::{Asker, WaitConfig},
        wait_tracker::WaitTracker,
    },
};
use switchboard_store::{
    conversations::{self, NewMessage},
    events,
    overflow::{self as store, QueueStay},
    setup,
    sql::Tx,
};

use super::Deps;
use super::OrgRouting;

/// How far back the estimator's history is rebuilt at start (its half-life is an hour, so older says little).
const HISTORY_MS: i64 = 48 * 3_600_000;
/// Stays of each kind replayed at most per organization at start.
const HISTORY_LIMIT: usize = 20_000;
/// How often waiting customers' estimates are looked at again for changes the engine does not report.
pub const SWEEP: Duration = Duration::from_secs(10);
/// A customer whose wait in queue overflows within this long hears nothing more of the queue they are leaving.
const OVERFLOW_SOON_MS: i64 = 10_000;

/// What a customer was last told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Told {
    queue: QueueId,
    position: usize,
    step: Option<u64>,
    seconds: Option<u64>,
    at: Timestamp,
}

/// One update for a waiting customer, written with the routing events that caused it.
#[derive(Debug, Clone)]
pub(super) struct Notice {
    conversation: ConversationId,
    queue: QueueId,
    position: usize,
    seconds: Option<u64>,
    previous: Option<Told>,
    text: String,
}

/// The estimator and what the server keeps to feed it and to throttle updates.
pub(super) struct Waits {
    tracker: WaitTracker,
    told: HashMap<ConversationId, Told>,
    notices: Vec<Notice>,
    next_sweep: Option<Timestamp>,
    /// Set while restored conversations are queued again at start: they heard their place before the restart.
    quiet: bool,
}

impl Default for Waits {
    fn default() -> Self {
        Self {
            tracker: WaitTracker::new(WaitConfig::default()),
            told: HashMap::new(),
            notices: Vec::new(),
            next_sweep: None,
            quiet: false,
        }
    }
}

impl Waits {
    /// Updates waiting to be written.
    pub(super) fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// The conversations waiting for an agent (Open or offered), with their queue and since when they wait.
    pub(super) fn waiting(&self) -> impl Iterator<Item = (ConversationId, QueueId, Timestamp)> + '_ {
        self.tracker.waiting()
    }

    /// When the sweep is due next.
    pub(super) fn next_sweep(&self) -> Option<Timestamp> {
        self.next_sweep
    }
}

/// The step an estimate is reported in, in minutes: 0 below a minute, whole minutes below 10, five minutes below an
/// hour, then quarter hours. A customer hears again only when the step changes.
fn step(seconds: u64) -> u64 {
    let minutes = (seconds + 30) / 60;
    match seconds {
        0..60 => 0,
        60..600 => minutes.max(1),
        600..3600 => minutes.div_ceil(5) * 5,
        _ => minutes.div_ceil(15) * 15,
    }
}

fn wait_text(minutes: u64) -> String {
    match minutes {
        0 => "less than a minute".to_string(),
        1 => "about 1 minute".to_string(),
        m if m < 60 => format!("about {m} minutes"),
        m => {
            let (h, rest) = (m / 60, m % 60);
            let hours = if h == 1 { "1 hour".to_string() } else { format!("{h} hours") };
            if rest == 0 { format!("about {hours}") } else { format!("about {hours} {rest} minutes") }
        }
    }
}

/// What the customer reads.
fn message(position: usize, step: Option<u64>) -> String {
    match (position, step) {
        (1, Some(0)) => "You are next in the queue.".to_string(),
        (p, Some(m)) => format!("You are number {p} in the queue. Estimated wait: {}.", wait_text(m)),
        (p, None) => format!("You are number {p} in the queue."),
    }
}

fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::from_millis(u64::try_from(to.millis() - from.millis()).unwrap_or(0))
}

impl OrgRouting {
    /// The estimated wait at `position` in `queue` for `asker`, a customer of `workstream`: a conversation in
    /// routing (its skills, its place among those needing the same skills, and its cooldowns count) or a newcomer
    /// with the skills they need. `None` when nobody who could take them staffs the queue.
    pub(super) fn estimate_wait(
        &self,
        queue: QueueId,
        workstream: WorkstreamId,
        position: usize,
        asker: Asker<'_>,
        now: Timestamp,
    ) -> Option<Duration> {
        // A workstream routing does not run offers nobody work, so there is no wait to estimate.
        if !self.workstreams.get(&workstream).is_some_and(|w| w.enabled) {
            return None;
        }
        self.waits.tracker.estimate(&self.engine, queue, workstream, position, asker, now)
    }

    /// Replays the last 48 hours of the organization's queues into the estimator (at start, before the engine's
    /// own state is rebuilt).
    pub(super) async fn load_wait_history(&mut self, deps: &Deps, now: Timestamp) -> Result<(), Error> {
        let org = self.org;
        let since = now.plus_millis(-HISTORY_MS);
        let stays = deps.store.read(move |tx| store::queue_history(tx, org, since, HISTORY_LIMIT)).await?;
        enum Step {
            Join(QueueId),
            Assigned(QueueId, Duration, Duration),
            Abandoned(QueueId, Duration),
            Handled(QueueId, Duration),
        }
        let mut steps: Vec<(i64, Step)> = Vec::with_capacity(stays.len() * 3);
        for stay in stays {
            match stay {
                QueueStay::Assigned { queue, at, waited_ms, offered_at, closed_at } => {
                    // The accepted offer's time is offer time; the rest of the wait is taken for the backlog (the
                    // store keeps no record of declined offers' share).
                    let offered = elapsed(offered_at, at);
                    let waited = Duration::from_millis(u64::try_from(waited_ms).unwrap_or(0));
                    steps.push((at.millis() - waited_ms.max(0), Step::Join(queue)));
                    steps.push((at.millis(), Step::Assigned(queue, waited.saturating_sub(offered), offered)));
                    if let Some(closed) = closed_at {
                        steps.push((closed.millis(), Step::Handled(queue, elapsed(at, closed))));
                    }
                }
                QueueStay::Abandoned { queue, at, enqueued_at } => {
                    steps.push((enqueued_at.millis(), Step::Join(queue)));
                    steps.push((at.millis(), Step::Abandoned(queue, elapsed(enqueued_at, at))));
                }
            }
        }
        steps.sort_by_key(|(at, _)| *at);
        // Nobody is staffed in the replay, so it teaches arrivals, abandonment, handle and offer times but no
        // productivity, which needs staffed time to be measured against (nor skill sets, which the store does not
        // keep with the stays: the replay counts everyone under the queue's).
        let e = self.waits.tracker.estimator_mut();
        let any = SkillSet::default();
        for (at, step) in steps {
            let at = Timestamp::from_millis(at);
            match step {
                Step::Join(q) => e.on_enqueue(q, &any, at),
                Step::Assigned(q, queued, offered) => {
                    e.on_dequeued(q, &any, at);
                    e.on_assigned(q, &any, queued, offered, at);
                }
                Step::Abandoned(q, waited) => {
                    e.on_dequeued(q, &any, at);
                    e.on_abandoned(q, waited, at);
                }
                Step::Handled(q, d) => e.on_handle_time(q, d, at),
            }
        }
        self.waits.quiet = true;
        Ok(())
    }

    /// Feeds the estimator with what routing decided and queues updates for waiting customers. Runs on every
    /// persist, before the events are written.
    pub(super) fn observe_waits(&mut self, events: &[RoutingEvent], now: Timestamp) {
        self.refresh_staffing(now);
        let enqueued_at = &self.enqueued_at;
        self.waits.tracker.observe(&self.engine, events, now, |c| enqueued_at.get(&c).copied());
        let mut touched: HashSet<ConversationId> = HashSet::new();
        for (i, event) in events.iter().enumerate() {
            let w = &mut self.waits;
            match *event {
                RoutingEvent::Queued { conversation, .. } | RoutingEvent::PositionChanged { conversation, .. } => {
                    touched.insert(conversation);
                }
                RoutingEvent::Dequeued { conversation, .. } => {
                    let moved = events[i + 1..]
                        .iter()
                        .any(|e| matches!(e, RoutingEvent::Queued { conversation: c, .. } if *c == conversation));
                    if !moved {
                        w.told.remove(&conversation);
                    }
                }
                RoutingEvent::OfferWithdrawn { conversation, .. }
                    if self.engine.conversation(conversation).is_none() =>
                {
                    w.told.remove(&conversation);
                }
                RoutingEvent::Assigned { conversation, .. } => {
                    w.told.remove(&conversation);
                }
                _ => {}
            }
        }
        let quiet = std::mem::take(&mut self.waits.quiet);
        for conversation in touched {
            self.consider(conversation, now, quiet);
        }
        if self.waits.next_sweep.is_none() && self.waits.tracker.anyone_waiting() {
            self.waits.next_sweep = Some(now.plus_millis(i64::try_from(SWEEP.as_millis()).unwrap_or(10_000)));
        }
    }

    /// Tells the estimator how many agents staff each queue whose staffing changed.
    fn refresh_staffing(&mut self, now: Timestamp) {
        self.waits.tracker.refresh_staffing(&self.engine, self.queues.keys().copied(), now);
    }

    /// Queues an update for a waiting conversation if its position or estimate step changed and its workstream
    /// wants updates, unless one went out less than the interval ago (the sweep sends it later).
    fn consider(&mut self, conversation: ConversationId, now: Timestamp, quiet: bool) {
        let Some(view) = self.engine.conversation(conversation).filter(|v| v.state == RoutingState::Open) else {
            return;
        };
        let Some((queue, position)) = self.engine.position(conversation) else { return };
        self.consider_at(conversation, view.workstream, queue, position, now, quiet);
    }

    fn consider_at(
        &mut self,
        conversation: ConversationId,
        workstream: WorkstreamId,
        queue: QueueId,
        position: usize,
        now: Timestamp,
        quiet: bool,
    ) {
        let Some(settings) = self.workstreams.get(&workstream).map(|w| w.wait_notifications.clone()) else { return };
        if !settings.enabled {
            return;
        }
        // A place in a queue the conversation is about to leave by overflow would be contradicted at once ("You
        // are next", then number 2 elsewhere): it hears of the queue it moves to instead (the sweep tells it here
        // if overflow leaves it after all).
        if self.overflow_due(conversation).is_some_and(|at| at.millis() - now.millis() <= OVERFLOW_SOON_MS) {
            return;
        }
        let asker = Asker::Conversation(conversation);
        let seconds = self.estimate_wait(queue, workstream, position, asker, now).map(|d| d.as_secs());
        let current = Told { queue, position, step: seconds.map(step), seconds, at: now };
        let previous = self.waits.told.get(&conversation).copied();
        if let Some(p) = previous {
            if (p.queue, p.position, p.step) == (current.queue, current.position, current.step) {
                return;
            }
            // The interval keeps a customer from hearing every small move in one queue; a move to another queue
            // (overflow, a transfer) makes what they last heard wrong, so it is told at once.
            if p.queue == queue && elapsed(p.at, now) < Duration::from_secs(u64::from(settings.min_interval_seconds)) {
                return;
            }
        }
        self.waits.told.insert(conversation, current);
        if quiet {
            return;
        }
        self.waits.notices.push(Notice {
            conversation,
            queue,
            position,
            seconds,
            previous,
            text: message(position, current.step),
        });
    }

    /// Looks at every waiting customer again: changes held back by the interval, and estimates that moved with
    /// staffing or history. Also forgets conversations routing no longer holds.
    pub(super) fn sweep_waits(&mut self, now: Timestamp) {
        self.waits.next_sweep = None;
        self.refresh_staffing(now);
        let engine = &self.engine;
        self.waits.tracker.retain(engine);
        self.waits.told.retain(|c, _| engine.conversation(*c).is_some_and(|v| v.state == RoutingState::Open));
        let queues: Vec<QueueId> = self.queues.keys().copied().collect();
        for queue in queues {
            for (conversation, position) in self.engine.positions(queue).unwrap_or_default() {
                let Some(view) = self.engine.conversation(conversation) else { continue };
                self.consider_at(conversation, view.workstream, queue, position, now, false);
            }
        }
        if self.waits.tracker.anyone_waiting() {
            self.waits.next_sweep = Some(now.plus_millis(i64::try_from(SWEEP.as_millis()).unwrap_or(10_000)));
        }
    }
}

/// Writes the updates: a system message each and a `routing.wait_estimate_changed` event. A conversation that
/// closed meanwhile is passed over.
pub(super) fn write(tx: &mut Tx<'_>, org: OrgId, notices: &[Notice], now: Timestamp) -> Result<(), Error> {
    for n in notices {
        // A channel whose customers are not to be told their wait (`behaviours.wait_time_message` off) gets
        // neither the message nor its event.
        if !setup::behaviours_of_conversation(tx, org, n.conversation)?.wait_time_message {
            continue;
        }
        let sent = conversations::send_message_in_state(
            tx,
            org,
            n.conversation,
            ConversationState::Open,
            NewMessage {
                sender_kind: SenderKind::System,
                sender_id: Some("system".to_string()),
                sender_name: Some("System".to_string()),
                text: Some(n.text.clone()),
                attachments: Vec::new(),
                automated: true,
                template: None,
            },
            now,
        )?;
        if sent.is_none() {
            continue;
        }
        let position = |p: usize| u64::try_from(p).unwrap_or(u64::MAX);
        let changed = WaitEstimateChanged {
            queue_id: n.queue,
            position: position(n.position),
            estimated_wait_seconds: n.seconds,
            previous_position: n.previous.map(|p| position(p.position)),
            previous_estimated_wait_seconds: n.previous.and_then(|p| p.seconds),
            text: n.text.clone(),
        };
        let event = TypedEvent::RoutingWaitEstimateChanged(changed);
        events::record_event(tx, org, Some(n.conversation), &event, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_texts() {
        assert_eq!(
            [0, 59, 60, 89, 90, 599, 600, 601, 3599, 3600, 4000].map(step),
            [0, 0, 1, 1, 2, 10, 10, 10, 60, 60, 75]
        );
        assert_eq!(message(1, Some(0)), "You are next in the queue.");
        assert_eq!(message(3, Some(4)), "You are number 3 in the queue. Estimated wait: about 4 minutes.");
        assert_eq!(message(3, Some(75)), "You are number 3 in the queue. Estimated wait: about 1 hour 15 minutes.");
        assert_eq!(message(2, None), "You are number 2 in the queue.");
    }
}
