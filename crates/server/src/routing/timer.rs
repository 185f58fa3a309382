//! The deadline timer: sleeps on routing's clock until the earliest deadline of any loaded organization (offer
//! expiry and cooldowns, held queue positions, customers' wait updates, overflow after a wait in queue) and runs
//! what fell due.

use switchboard_domain::Timestamp;

use super::{Deps, POLL};
use crate::leadership::Stop;

/// Runs the engines' deadlines on routing's clock, and rebuilds organizations whose write failed, until asked to
/// stop (between passes).
pub(super) async fn timer(deps: Deps, mut stop: Stop) {
    // After a rebuild failed, when to try again: on real time, since the store, not routing's clock, has to recover,
    // and not at every wake-up (the failed load itself asks for a rebuild again).
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        if stop.is_requested() {
            return;
        }
        // Before the deadlines, so that a rebuilt organization's are among them.
        if retry_at.is_none_or(|at| at <= tokio::time::Instant::now()) {
            retry_at = deps.routing.rebuild(&deps).await.then(|| tokio::time::Instant::now() + POLL);
        }
        let mut next: Option<Timestamp> = None;
        for org in deps.routing.loaded() {
            let st = org.lock().await;
            let deadlines =
                [st.engine.next_deadline(), st.waits.next_sweep(), st.next_wait_overflow(), st.positions.next_due()];
            for at in deadlines.into_iter().flatten() {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        let clock = deps.clock.clone();
        tokio::select! {
            () = async { match next { Some(at) => clock.sleep_until(at).await, None => std::future::pending().await } } => {}
            () = deps.routing.wake.notified() => continue,
            () = async { match retry_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => continue,
            () = stop.requested() => return,
        }
        let now = deps.clock.now();
        for org in deps.routing.loaded() {
            let mut st = org.lock().await;
            if st.engine.next_deadline().is_some_and(|at| at <= now) {
                let events = st.engine.tick(now);
                if let Err(e) = st.persist(&deps, events).await {
                    tracing::error!(error = %e, "recording routing deadlines failed");
                }
            }
            if st.positions.next_due().is_some_and(|at| at <= now) {
                let events = st.held_positions(now);
                if let Err(e) = st.persist(&deps, events).await {
                    tracing::error!(error = %e, "recording queue positions failed");
                }
            }
            if st.waits.next_sweep().is_some_and(|at| at <= now) {
                st.sweep_waits(now);
                if let Err(e) = st.persist(&deps, Vec::new()).await {
                    tracing::error!(error = %e, "recording wait updates failed");
                }
            }
            // After the engine's deadlines, so that a conversation an expired offer gave back is seen overdue now.
            if st.next_wait_overflow().is_some_and(|at| at <= now)
                && let Err(e) = st.overflow_waiting(&deps, now).await
            {
                tracing::error!(error = %e, "overflow after queueing failed");
            }
        }
    }
}
