//! Pushing back and being pushed back: how long to wait when a server says
//! "not now", and the user's own limits on bytes, messages and connections.
//!
//! Servers say "not now" in many dialects: response codes `[THROTTLED]`,
//! `[UNAVAILABLE]`, `[LIMIT]`, `[INUSE]` (RFC 5530), Microsoft's "Suggested
//! Backoff Time: N milliseconds", Gmail's "exceeded command or bandwidth
//! limits", a `BYE` mid-session. A suggested delay is honoured; otherwise
//! the wait doubles per attempt with jitter, so that many workers pushed
//! back at once do not come back at once.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Waits between attempts: the server's suggestion, else exponential with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    base: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            attempt: 0,
            base,
            max,
        }
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The wait before the next attempt after `suggested` (what the server asked for, if anything).
    pub fn next(&mut self, suggested: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1 << self.attempt.min(16))
            .min(self.max);
        self.attempt += 1;
        match suggested {
            // Honoured even beyond `max`, within reason.
            Some(s) => s.min(Duration::from_secs(600)),
            // Between half and all of the exponential step.
            None => exp / 2 + exp.mul_f64(fastrand::f64() / 2.0),
        }
    }
}

/// Whether a refusal (its response code and text) is the server pushing
/// back rather than refusing the request, and the delay it suggested, if any.
pub fn pushback(code: Option<&str>, text: &str) -> Option<Option<Duration>> {
    let suggested = suggested_delay(text);
    let lower = text.to_ascii_lowercase();
    let temporal = suggested.is_some()
        || [
            "bandwidth limits",
            "too many",
            "maximum number of connections",
            "throttl",
            "try again",
            "rate limit",
        ]
        .iter()
        .any(|w| lower.contains(w));
    let says_so = match code {
        // IMAP (RFC 5530) and POP3 (RFC 2449/3206) codes.
        Some("THROTTLED" | "UNAVAILABLE" | "INUSE" | "OVERLOAD" | "SYS/TEMP" | "IN-USE") => true,
        // LIMIT (RFC 5530) is also a permanent limit, such as Dovecot's
        // "Mail size is larger than the maximum size": only its wording
        // tells a rate limit apart.
        _ => temporal,
    };
    says_so.then_some(suggested)
}

/// "Suggested Backoff Time: 1234 milliseconds" (Exchange / Microsoft 365).
fn suggested_delay(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("backoff time")?;
    let rest = &lower[at + "backoff time".len()..];
    let digits: String = rest
        .trim_start_matches([':', ' ', '='])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n: u64 = digits.parse().ok()?;
    let unit = rest
        .trim_start_matches([':', ' ', '='])
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    Some(if unit.starts_with("ms") || unit.starts_with("milli") {
        Duration::from_millis(n)
    } else {
        Duration::from_secs(n)
    })
}

/// A token bucket shared by all workers: at most `rate` units per second,
/// bursts of up to one second's worth.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub fn new(per_second: u64) -> Self {
        let rate = per_second.max(1) as f64;
        RateLimit {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes `n` units, waiting until the bucket holds them.
    pub async fn take(&self, n: u64) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let (tokens, last) = *s;
            let tokens =
                (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.rate);
            // Going into debt is what lets a unit larger than the bucket pass.
            let left = tokens - n as f64;
            *s = (left, now);
            (left < 0.0).then(|| Duration::from_secs_f64(-left / self.rate))
        };
        if let Some(w) = wait {
            tokio::time::sleep(w).await;
        }
    }
}

/// The user's limits, shared by every worker of a run.
#[derive(Debug, Default)]
pub struct Limits {
    pub bytes: Option<RateLimit>,
    pub messages: Option<RateLimit>,
}

impl Limits {
    pub(crate) async fn bytes(&self, n: u64) {
        if let Some(l) = &self.bytes {
            l.take(n).await;
        }
    }

    pub(crate) async fn message(&self) {
        if let Some(l) = &self.messages {
            l.take(1).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MailboxError;
    use mailport_imap::Error;

    fn pushback_of(e: Error) -> Option<Option<Duration>> {
        MailboxError::Imap(e).pushback()
    }

    fn no(code: Option<&str>, text: &str) -> Error {
        Error::No {
            command: "APPEND".into(),
            code: code.map(str::to_string),
            text: text.into(),
        }
    }

    #[test]
    fn recognises_the_dialects_of_pushing_back() {
        assert_eq!(pushback_of(no(Some("THROTTLED"), "slow down")), Some(None));
        assert_eq!(
            pushback_of(no(Some("IN-USE"), "mailbox locked")),
            Some(None)
        );
        assert_eq!(
            pushback_of(no(
                None,
                "Request is throttled. Suggested Backoff Time: 1500 milliseconds"
            )),
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(
            pushback_of(Error::Bye(
                "[ALERT] Account exceeded command or bandwidth limits. (Failure)".into()
            )),
            Some(None)
        );
        assert_eq!(
            pushback_of(Error::Bye(
                "Maximum number of connections from user+IP exceeded (mail_max_userip_connections=2)"
                    .into()
            )),
            Some(None)
        );
        assert_eq!(
            pushback_of(no(Some("LIMIT"), "Too many commands, slow down")),
            Some(None)
        );
        // A refusal of the request itself is not pushback.
        assert_eq!(
            pushback_of(no(
                Some("LIMIT"),
                "Mail size is larger than the maximum size allowed by server configuration"
            )),
            None
        );
        assert_eq!(pushback_of(no(Some("OVERQUOTA"), "Quota exceeded")), None);
        assert_eq!(pushback_of(no(None, "Invalid message")), None);
        assert_eq!(pushback_of(Error::Closed), None);
        let pop3 = mailport_pop3::Error::Err {
            command: "PASS".into(),
            code: Some("IN-USE".into()),
            text: "maildrop locked".into(),
        };
        assert_eq!(MailboxError::Pop3(pop3).pushback(), Some(None));
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_suggestions() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let first = b.next(None);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        let second = b.next(None);
        assert!(second >= Duration::from_secs(1) && second <= Duration::from_secs(2));
        for _ in 0..20 {
            assert!(b.next(None) <= Duration::from_secs(60));
        }
        assert_eq!(
            b.next(Some(Duration::from_millis(1500))),
            Duration::from_millis(1500)
        );
        assert_eq!(b.attempts(), 23);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_spreads_units_over_time() {
        let l = RateLimit::new(10);
        let t = Instant::now();
        for _ in 0..30 {
            l.take(1).await;
        }
        // A burst of 10, then 20 more at 10 per second (virtual time).
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(1900) && took <= Duration::from_millis(2100),
            "{took:?}"
        );
        // One unit larger than the bucket passes after its own time.
        let t = Instant::now();
        l.take(50).await;
        assert!(t.elapsed() >= Duration::from_secs(4), "{:?}", t.elapsed());
    }
}
