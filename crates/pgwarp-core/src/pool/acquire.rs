//! Getting a connection: the least busy shared one below `max_pipeline`, or an idle one for a
//! caller alone, or a new one up to `max` (opened by [`super::open`]), or a wait bounded by
//! `acquire_timeout`. Idle ones are checked before use.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::handoff::Place;
use super::{Inner, Pool};
use crate::connection::Connection;
use crate::error::Error;
use crate::sync::lock;

/// A connection lent to one query; gives it back on drop, whatever happened.
pub(super) struct Lease {
    pub(super) conn: Arc<Connection>,
    pub(super) pool: Arc<Inner>,
    /// Whether dropping it gives the connection back (see [`Lease::keep_counted`]).
    armed: bool,
}

impl Lease {
    pub(super) fn new(conn: Arc<Connection>, pool: Arc<Inner>) -> Lease {
        Lease {
            conn,
            pool,
            armed: true,
        }
    }

    /// Ends the lease but leaves it counted as in flight: a reservation is given back by
    /// `release()`. The lease's handles on the connection and pool are dropped all the same
    /// (forgetting it would keep the connection alive after it closed).
    pub(super) fn keep_counted(mut self) {
        self.armed = false;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.conn.add_in_flight(-1);
        self.conn.touch();
        {
            let mut st = lock(&self.pool.state);
            st.in_flight -= 1;
            // Idle now (a reserved connection never gets here: its reservation counts).
            if self.conn.state().in_flight == 0 {
                st.handoffs.wake_one();
            }
        }
        self.pool.changed.notify_waiters();
    }
}

/// Whether a caller wants a pipelined share of a connection or one of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    Shared,
    Exclusive,
}

/// Marker: the caller should open a connection (its slot is already counted).
struct Opening;

impl Pool {
    pub(super) async fn acquire(&self, want: Want) -> Result<Lease, Error> {
        let inner = &self.inner;
        let deadline = inner.options.acquire_timeout.map(|t| Instant::now() + t);
        // One timer for the whole wait, however often the caller is woken.
        let expired = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expired);
        let mut waiting: Option<Instant> = None;
        // Observed: every reservation's wait is told, a zero one too (for wait-time metrics).
        let observed = want == Want::Exclusive
            && inner
                .observe_waits
                .load(std::sync::atomic::Ordering::Relaxed);
        let mut place: Option<Place> = None;
        let result = loop {
            let notified = inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(conn) = place.take().and_then(Place::leave) {
                break Ok(Lease::new(conn, inner.clone()));
            }
            match self.try_acquire(want) {
                Ok(Some(lease)) => break self.validated(lease, want).await,
                Ok(None) => {
                    // No server has answered for the grace period, and no connection lives:
                    // at once, not at the timeout (with one, callers wait their turn on it).
                    let st = lock(&inner.state);
                    if st.shared.is_empty() && st.reserved.is_empty() {
                        if let Some(e) = st.breaker.fail_fast(Instant::now()) {
                            break Err(e);
                        }
                    }
                }
                // Cold: boxed so the hot query future does not carry a connect's state.
                Err(Opening) => break Box::pin(self.open_for(want)).await,
            }
            let closed = {
                let mut st = lock(&inner.state);
                if !st.closed && waiting.is_none() {
                    waiting = Some(Instant::now());
                    st.waiting += 1;
                    if want == Want::Shared {
                        st.waiting_shared += 1;
                    }
                }
                // Nothing runs on this shard between `try_acquire` and joining: no release
                // can slip between them unseen.
                if !st.closed && want == Want::Exclusive {
                    place = Some(st.handoffs.join(self));
                }
                st.closed
            };
            if closed {
                break Err(Error::Closed);
            }
            let timed_out = match place.as_mut() {
                Some(p) => {
                    tokio::select! {
                        biased;
                        handed = p.wait() => match handed {
                            Some(conn) => break Ok(Lease::new(conn, inner.clone())),
                            None => false,
                        },
                        _ = &mut expired => true,
                    }
                }
                None => {
                    tokio::select! {
                        biased;
                        _ = notified => false,
                        _ = &mut expired => true,
                    }
                }
            };
            // `expired` must not be polled again once it fired.
            if timed_out {
                if let Some(conn) = place.take().and_then(Place::leave) {
                    break Ok(Lease::new(conn, inner.clone()));
                }
                break Err(self.timeout_error());
            }
        };
        if observed && waiting.is_none() {
            self.observe(super::Observation::Waited {
                took: Duration::ZERO,
            });
        }
        if let Some(since) = waiting {
            let took = since.elapsed();
            let us = took.as_micros() as u64;
            {
                let mut st = lock(&inner.state);
                st.waiting -= 1;
                if want == Want::Shared {
                    st.waiting_shared -= 1;
                }
                let c = &mut st.counters;
                c.acquire_waits += 1;
                c.acquire_wait_us += us;
                c.acquire_wait_max_us = c.acquire_wait_max_us.max(us);
            }
            if inner
                .observe_waits
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                self.observe(super::Observation::Waited { took });
            }
        }
        result
    }

    fn timeout_error(&self) -> Error {
        let mut st = lock(&self.inner.state);
        st.counters.acquire_timeouts += 1;
        let busy = st.shared.iter().filter(|c| c.state().in_flight > 0).count();
        Error::PoolTimeout(format!(
            "no connection within acquireTimeout ({} ms): {} of max {} in use ({} reserved, {} busy), {} callers waiting",
            self.inner.options.acquire_timeout.unwrap_or_default().as_millis(),
            st.shared.len() + st.reserved.len(),
            self.inner.max,
            st.reserved.len(),
            busy,
            st.waiting
        ))
    }

    /// Picks a connection, or says to open one (`Err(Opening)`), or to wait (`Ok(None)`).
    fn try_acquire(&self, want: Want) -> Result<Option<Lease>, Opening> {
        let inner = &self.inner;
        let mut st = lock(&inner.state);
        if st.closed {
            return Ok(None);
        }
        let now = Instant::now();
        // Broken connections go; old ones retire once idle.
        st.shared.retain(|c| {
            let s = c.state();
            !(s.in_flight == 0 && (s.closing || c.should_retire(now)))
        });
        let total = st.shared.len() + st.reserved.len() + st.opening;
        let best = st
            .shared
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let s = c.state();
                (!s.closing).then_some((i, s.in_flight))
            })
            .min_by_key(|&(_, in_flight)| in_flight);
        // An idle connection goes to callers who want a share and were woken for it before
        // a new caller may take it alone: else reservations passed from hand to hand starve
        // pool queries.
        let shared_first = want == Want::Exclusive && st.waiting_shared > 0;
        let pick = match (want, best) {
            (_, Some((i, 0))) if !shared_first => Some(i),
            (Want::Shared, Some((i, depth)))
                if total >= inner.max && depth < inner.options.max_pipeline =>
            {
                Some(i)
            }
            // While no connection is open, one attempt at a time (see `breaker`): the others
            // wait for its outcome rather than each knocking on a server that may be down.
            // With the breaker open, a share goes to a live connection that has room.
            (Want::Shared, Some((i, depth)))
                if st.breaker.is_open() && depth < inner.options.max_pipeline =>
            {
                Some(i)
            }
            _ if total < inner.max
                && (st.breaker.is_open()
                    || (st.opening > 0 && st.shared.is_empty() && st.reserved.is_empty())) =>
            {
                None
            }
            _ if total < inner.max => {
                st.opening += 1;
                st.in_flight += 1;
                return Err(Opening);
            }
            _ => None,
        };
        let Some(i) = pick else { return Ok(None) };
        let conn = if want == Want::Exclusive {
            let conn = st.shared.swap_remove(i);
            // Nothing is in flight on it: from here on its status belongs to one holder.
            conn.set_shared(false);
            st.reserved.insert(conn.id(), conn.clone());
            conn
        } else {
            st.shared[i].clone()
        };
        conn.add_in_flight(1);
        st.in_flight += 1;
        st.counters.acquires += 1;
        Ok(Some(Lease::new(conn, inner.clone())))
    }

    /// A connection idle for long may have been cut by a firewall or the server: check it
    /// with an empty query first, and take another if it is dead.
    async fn validated(&self, lease: Lease, want: Want) -> Result<Lease, Error> {
        let conn = &lease.conn;
        if conn.state().in_flight > 1
            || conn.idle_for(Instant::now()) < self.inner.options.validate_after
        {
            return Ok(lease);
        }
        let probe = Box::pin(tokio::time::timeout(
            Duration::from_secs(5),
            crate::query::execute_in_turn(conn, ""),
        ))
        .await;
        if matches!(probe, Ok(Ok(_))) {
            conn.touch();
            return Ok(lease);
        }
        self.discard(&lease.conn);
        drop(lease);
        Box::pin(self.acquire(want)).await
    }

    pub(super) fn discard(&self, conn: &Arc<Connection>) {
        conn.spoil();
        let mut st = lock(&self.inner.state);
        st.shared.retain(|c| !Arc::ptr_eq(c, conn));
        st.reserved.remove(&conn.id());
        st.handoffs.wake_one();
    }
}
