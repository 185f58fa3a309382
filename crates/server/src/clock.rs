//! The time the background workers run on. Production reads the system clock; tests drive a manual clock, so
//! that hours of retries pass in milliseconds and nothing depends on sleeping.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use switchboard_domain::Timestamp;
use tokio::sync::watch;

#[derive(Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(ManualClock),
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Manual(m) => m.now(),
        }
    }

    /// Resolves once the clock reads `at` or later.
    pub async fn sleep_until(&self, at: Timestamp) {
        match self {
            Clock::System => {
                let wait = at.millis().saturating_sub(Timestamp::now().millis());
                if wait > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())).await;
                }
            }
            Clock::Manual(m) => {
                let mut changes = m.changes.subscribe();
                while m.now.load(Ordering::Acquire) < at.millis() {
                    if changes.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// A clock that moves only when told to.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
    changes: Arc<watch::Sender<i64>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self { now: Arc::new(AtomicI64::new(start.millis())), changes: Arc::new(watch::channel(start.millis()).0) }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now.load(Ordering::Acquire))
    }

    /// Moves the clock to `at`, unless it is there already or later.
    pub fn advance_to(&self, at: Timestamp) {
        let now = self.now.fetch_max(at.millis(), Ordering::AcqRel).max(at.millis());
        self.changes.send_replace(now);
    }

    pub fn advance(&self, by: std::time::Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let now = self.now.fetch_add(by, Ordering::AcqRel).saturating_add(by);
        self.changes.send_replace(now);
    }
}
