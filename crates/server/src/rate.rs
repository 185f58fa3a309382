//! Counting requests per key (a client address) in fixed windows, on this node: what keeps one address from
//! starting customer chats by the thousand. Per node, not shared: behind a balancer of N nodes an address gets at
//! most N times the limit, which still bounds it.

use std::{collections::HashMap, sync::Mutex};

use switchboard_domain::Timestamp;

/// Customer chats one client address may start per window (`POST /v1/chat/{channel}/conversations`), and the
/// window: a person chats a few times an hour; a script opening chats to flood the queues is stopped at once.
pub const CHAT_STARTS_PER_WINDOW: u32 = 20;
pub const CHAT_START_WINDOW_SECONDS: u32 = 600;

/// Keys remembered at most; past it, windows that have ended are forgotten first.
const MAX_KEYS: usize = 100_000;

pub struct Windows {
    max: u32,
    window_ms: i64,
    counts: Mutex<HashMap<String, (i64, u32)>>,
}

impl Windows {
    pub fn new(max: u32, window_seconds: u32) -> Self {
        Self { max, window_ms: i64::from(window_seconds) * 1000, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts one request of `key` at `now`; `Err(seconds)` until the window ends when it has had its `max`.
    pub fn admit(&self, key: &str, now: Timestamp) -> Result<(), u64> {
        let now = now.millis();
        let start = now - now.rem_euclid(self.window_ms);
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= MAX_KEYS {
            counts.retain(|_, (at, _)| *at == start);
        }
        let entry = counts.entry(key.to_string()).or_insert((start, 0));
        if entry.0 != start {
            *entry = (start, 0);
        }
        if entry.1 >= self.max {
            let left = (start + self.window_ms - now).max(0);
            return Err(u64::try_from(left.div_euclid(1000) + 1).unwrap_or(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_max_per_window_and_others_are_apart() {
        let windows = Windows::new(2, 60);
        let t = Timestamp::from_millis(120_000);
        assert!(windows.admit("a", t).is_ok());
        assert!(windows.admit("a", t).is_ok());
        assert_eq!(windows.admit("a", t.plus_millis(10_000)), Err(51));
        assert!(windows.admit("b", t).is_ok());
        assert!(windows.admit("a", t.plus_millis(60_000)).is_ok());
    }
}
