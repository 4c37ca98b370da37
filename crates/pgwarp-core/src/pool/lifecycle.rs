//! Keeping the pool at its size over time (`min`, idle timeouts) and closing it.

use std::time::{Duration, Instant};

use super::{Pool, Want};
use crate::connection::lock;

impl Pool {
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
            let before = st.shared.len();
            st.shared.retain(|c| !(c.is_closed() && c.in_flight() == 0));
            if let Some(idle) = inner.options.idle_timeout {
                let mut keep = st.shared.len() + st.reserved.len();
                let min = inner.min;
                st.shared.retain(|c| {
                    let drop_it = keep > min && c.in_flight() == 0 && c.idle_for(now) >= idle;
                    if drop_it {
                        keep -= 1;
                    }
                    !drop_it
                });
            }
            st.counters.destroyed += (before - st.shared.len()) as u64;
            let total = st.shared.len() + st.reserved.len() + st.opening;
            inner.min.saturating_sub(total)
        };
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

    /// Refuses new work, lets running queries finish for up to `timeout`, cancels what is
    /// still running then, and closes every connection.
    pub async fn close(&self, timeout: Option<Duration>) {
        let inner = &self.inner;
        lock(&inner.state).closed = true;
        inner.changed.notify_waiters();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut cancelled = false;
        loop {
            let notified = inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&inner.state).in_flight == 0 {
                break;
            }
            match deadline {
                Some(d) if !cancelled => {
                    if tokio::time::timeout_at(d.into(), notified).await.is_err() {
                        cancelled = true;
                        let conns: Vec<_> = {
                            let st = lock(&inner.state);
                            st.shared
                                .iter()
                                .chain(st.reserved.values())
                                .cloned()
                                .collect()
                        };
                        for c in conns {
                            if c.in_flight() > 0 {
                                c.cancel_running().await;
                            }
                        }
                        // Reservations nobody releases would hold close() forever; their
                        // connections close (the server rolls back what they left open).
                        let mut st = lock(&inner.state);
                        let held = st.reserved.len();
                        for c in st.reserved.values() {
                            c.kill();
                        }
                        st.reserved.clear();
                        st.in_flight = st.in_flight.saturating_sub(held);
                        lock(&inner.cursors).clear();
                        lock(&inner.stops).clear();
                        lock(&inner.copies).clear();
                    }
                }
                _ => notified.await,
            }
        }
        let mut st = lock(&inner.state);
        st.counters.destroyed += (st.shared.len() + st.reserved.len()) as u64;
        st.shared.clear();
        st.reserved.clear();
    }
}
