//! Counting what a client did wrong — failed logins, wrong SMTP commands —
//! per key (a client address, an account) over a window of time: past the
//! limit the proxy refuses without asking any server. Bounded: old entries
//! go when the table grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys remembered at most before the expired ones are dropped.
const MAX_KEYS: usize = 100_000;

pub struct Strikes {
    allowed: u32,
    window: Duration,
    counts: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Strikes {
    /// `allowed` strikes per key within `window` (counted from the first).
    pub fn new(allowed: u32, window: Duration) -> Strikes {
        Strikes {
            allowed,
            window,
            counts: Mutex::default(),
        }
    }

    /// Whether `key` used up its strikes.
    pub fn out(&self, key: &str) -> bool {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .get(key)
            .is_some_and(|(n, since)| *n >= self.allowed && since.elapsed() < self.window)
    }

    /// One more strike for `key`.
    pub fn count(&self, key: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > MAX_KEYS {
            counts.retain(|_, (_, since)| since.elapsed() < self.window);
        }
        let entry = counts.entry(key.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_after_the_allowed_strikes_until_the_window_ends() {
        let s = Strikes::new(2, Duration::from_millis(50));
        s.count("ip:1");
        assert!(!s.out("ip:1"));
        s.count("ip:1");
        assert!(s.out("ip:1") && !s.out("ip:2"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!s.out("ip:1"));
        s.count("ip:1");
        assert!(!s.out("ip:1"), "a new window starts from zero");
    }
}
