//! The circuit breaker: when no server answers, callers must not each try to connect (a
//! reconnect storm against a server coming back) nor each wait out `acquireTimeout`.
//!
//! While the pool has no connection open, one connect attempt runs at a time. When an attempt
//! fails for a reason that may pass (the server is down, unreachable, starting, or no host
//! fits the target), the breaker opens: one background probe retries with backoff and jitter,
//! callers wait for it, and once the grace period has passed they fail at once with a
//! `ConnectionError` saying since when no server was reachable. The probe's first success
//! closes it; callers then open connections as they need them, up to `max`.

use std::time::{Duration, Instant};

use super::acquire::Want;
use super::Pool;
use crate::error::Error;
use crate::sync::lock;

/// How long callers wait for a probe before failing at once.
pub(super) const GRACE: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The breaker's state, in the shard's pool state.
#[derive(Default)]
pub(super) struct Breaker {
    /// When the first failed attempt of this outage ended; `None` while closed.
    down_since: Option<Instant>,
    /// The last attempt's error, for the message callers get.
    reason: String,
    /// Attempts failed in a row, for the backoff.
    failures: u32,
}

impl Breaker {
    /// Whether it is open (no server answered the last attempt).
    pub(super) fn is_open(&self) -> bool {
        self.down_since.is_some()
    }

    /// How long it has been open, if it is.
    pub(super) fn open_for(&self, now: Instant) -> Option<Duration> {
        self.down_since.map(|d| now.saturating_duration_since(d))
    }

    /// Notes a failed attempt; true when this opened it (the caller starts the probe).
    pub(super) fn trip(&mut self, err: &Error) -> bool {
        self.reason = err.to_string();
        self.failures += 1;
        if self.down_since.is_some() {
            return false;
        }
        self.down_since = Some(Instant::now());
        true
    }

    /// Notes a connection opened.
    pub(super) fn close(&mut self) {
        self.down_since = None;
        self.failures = 0;
    }

    /// The error a caller gets at once, past the grace period.
    pub(super) fn fail_fast(&self, now: Instant) -> Option<Error> {
        let since = self.down_since?;
        let down = now.saturating_duration_since(since);
        (down >= GRACE).then(|| Error::Connection {
            message: format!(
                "no server reachable since {:.1} s ago (retrying in the background); the last attempt: {}",
                down.as_secs_f64(),
                self.reason
            ),
            code: "EUNREACHABLE",
            server: None,
        })
    }

    /// When the grace period ends, while open.
    fn grace_end(&self) -> Option<Instant> {
        self.down_since.map(|d| d + GRACE)
    }

    /// The wait before the next probe: doubling from 50 ms to 500 ms (one attempt per shard at
    /// that rate costs a server nothing; a longer wait is a slower failover), with up to 25% jitter so
    /// that the shards and the processes of a fleet do not knock in step.
    fn backoff(&self) -> Duration {
        let exp = FIRST_BACKOFF
            .saturating_mul(1 << self.failures.min(8))
            .min(MAX_BACKOFF);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        exp.mul_f64(1.0 - 0.25 * (nanos % 1000) as f64 / 1000.0)
    }
}

impl Pool {
    /// Retries in the background until a connection opens or the pool closes; wakes every
    /// waiter when the grace period ends, so they fail at once rather than at their timeout.
    pub(super) async fn probe(self) {
        let inner = &self.inner;
        let mut grace_told = false;
        loop {
            let wait = {
                let st = lock(&inner.state);
                if st.closed || !st.breaker.is_open() {
                    return;
                }
                let now = Instant::now();
                let mut wait = st.breaker.backoff();
                if let Some(end) = st.breaker.grace_end().filter(|_| !grace_told) {
                    wait = wait.min(end.saturating_duration_since(now));
                }
                wait
            };
            tokio::time::sleep(wait).await;
            let start = {
                let mut st = lock(&inner.state);
                if st.closed || !st.breaker.is_open() {
                    return;
                }
                if !grace_told && st.breaker.fail_fast(Instant::now()).is_some() {
                    grace_told = true;
                    st.handoffs.wake_all();
                    inner.changed.notify_waiters();
                }
                let total = st.shared.len() + st.reserved.len() + st.opening;
                let start = total < inner.max;
                if start {
                    st.opening += 1;
                    st.in_flight += 1;
                }
                start
            };
            // A lease dropped at once leaves the new connection idle in the pool;
            // `open_and_place` closes the breaker and wakes everyone.
            if start && Box::pin(self.open_and_place(Want::Shared)).await.0.is_ok() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_once_fails_fast_after_grace_and_backs_off() {
        let mut b = Breaker::default();
        let refused = Error::Connection {
            message: "connect ECONNREFUSED".into(),
            code: "ECONNREFUSED",
            server: None,
        };
        assert!(refused.is_outage());
        assert!(!Error::Parameter("x".into()).is_outage());
        assert!(b.trip(&refused));
        assert!(
            !b.trip(&refused),
            "a second failure does not start another probe"
        );
        let now = Instant::now();
        assert!(b.fail_fast(now).is_none());
        let e = b.fail_fast(now + GRACE).unwrap().to_string();
        assert!(
            e.contains("no server reachable since") && e.contains("ECONNREFUSED"),
            "{e}"
        );
        b.failures = 0;
        assert!(b.backoff() <= FIRST_BACKOFF && b.backoff() >= FIRST_BACKOFF.mul_f64(0.75));
        b.failures = 30;
        for _ in 0..20 {
            let d = b.backoff();
            assert!(d <= MAX_BACKOFF && d >= MAX_BACKOFF.mul_f64(0.75), "{d:?}");
        }
        b.close();
        assert!(!b.is_open() && b.fail_fast(now + GRACE).is_none());
    }
}
