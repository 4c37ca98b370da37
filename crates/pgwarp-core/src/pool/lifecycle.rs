//! Keeping the pool at its size over time (`min`, idle timeouts) and closing it.

use std::time::{Duration, Instant};

use super::{Pool, Want};
use crate::sync::lock;

impl Pool {
    /// How often [`Pool::maintain`] runs.
    pub fn maintain_every(&self) -> Duration {
        self.inner.options.maintain_every
    }

    /// Opens connections up to `min` and closes idle ones beyond it (and closed ones nothing
    /// runs on any more); run every second or so.
    pub async fn maintain(&self) {
        let inner = &self.inner;
        let now = Instant::now();
        let to_open = {
            let mut st = lock(&inner.state);
            if st.closed {
                return;
            }
            st.shared.retain(|c| {
                let s = c.state();
                !(s.closing && s.in_flight == 0)
            });
            if let Some(idle) = inner.options.idle_timeout {
                let mut keep = st.shared.len() + st.reserved.len();
                let min = inner.min;
                st.shared.retain(|c| {
                    let drop_it = keep > min && c.state().in_flight == 0 && c.idle_for(now) >= idle;
                    if drop_it {
                        keep -= 1;
                    }
                    !drop_it
                });
            }
            let total = st.shared.len() + st.reserved.len() + st.opening;
            inner.min.saturating_sub(total)
        };
        self.check_roles().await;
        for _ in 0..to_open {
            {
                let mut st = lock(&inner.state);
                st.opening += 1;
                st.in_flight += 1;
            }
            // A lease that is dropped at once leaves the new connection idle in the pool.
            let _ = self.open_for(Want::Shared).await;
        }
    }

    /// Refuses new work, lets running queries finish for up to `timeout`, then cancels what
    /// is still running, gives the cancels a moment ([`CANCEL_GRACE`]) and closes every
    /// connection, so it resolves by then whatever the server does (a frozen server gets no
    /// say: what runs on it fails with a connection error).
    pub async fn close(&self, timeout: Option<Duration>) {
        let inner = &self.inner;
        {
            let mut st = lock(&inner.state);
            st.closed = true;
            st.handoffs.wake_all();
        }
        inner.changed.notify_waiters();
        let deadline = timeout.map(|t| Instant::now() + t);
        if !self.settled_by(deadline).await {
            let conns: Vec<_> = {
                let st = lock(&inner.state);
                st.shared
                    .iter()
                    .chain(st.reserved.values())
                    .cloned()
                    .collect()
            };
            for c in conns
                .clone()
                .into_iter()
                .filter(|c| c.state().in_flight > 0)
            {
                // In the background: a cancel to a frozen server would wait for it.
                tokio::spawn(async move { c.cancel(0).await });
            }
            if !self.settled_by(Some(Instant::now() + CANCEL_GRACE)).await {
                for c in &conns {
                    c.kill();
                }
                // Reservations nobody releases would hold close() forever; their connections
                // are closed (the server rolls back what they left open).
                {
                    let mut st = lock(&inner.state);
                    let held = st.reserved.len();
                    st.reserved.clear();
                    st.in_flight = st.in_flight.saturating_sub(held);
                }
                lock(&inner.cursors).clear();
                lock(&inner.stops).clear();
                lock(&inner.copies).clear();
                // Killed connections fail what ran on them at once; wait for that briefly.
                self.settled_by(Some(Instant::now() + CANCEL_GRACE)).await;
            }
        }
        // Dropping the last handle makes each connection send Terminate and shut its socket
        // down (close_notify over TLS); the shard's runtime ends right after close(), so wait
        // for that, briefly: a server that sees a bare EOF or a reset logs a line per
        // connection ("could not receive data from client").
        let ending: Vec<_> = {
            let mut st = lock(&inner.state);
            let ending = st
                .shared
                .iter()
                .chain(st.reserved.values())
                .map(|c| c.client().ending())
                .collect();
            st.shared.clear();
            st.reserved.clear();
            ending
        };
        let all = futures_util::future::join_all(ending.iter().map(|e| e.wait()));
        let _ = tokio::time::timeout(CANCEL_GRACE, all).await;
    }

    /// Waits until nothing is in flight, or `deadline` passes (false then).
    async fn settled_by(&self, deadline: Option<Instant>) -> bool {
        let inner = &self.inner;
        loop {
            let notified = inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&inner.state).in_flight == 0 {
                return true;
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d.into(), notified).await.is_err() {
                        return lock(&inner.state).in_flight == 0;
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// How long `close({ timeout })` lets the cancels it sent at the deadline take effect before
/// it closes the connections.
const CANCEL_GRACE: Duration = Duration::from_millis(250);
