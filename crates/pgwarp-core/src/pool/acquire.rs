//! Getting a connection: the least busy shared one below `max_pipeline`, or an idle one for a
//! caller alone, or a new one up to `max`, or a wait bounded by `acquire_timeout`. New
//! connections go through JavaScript's `onConnect` first; idle ones are checked before use.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::handoff::Place;
use super::{Announce, Inner, Pool};
use crate::connection::session;
use crate::connection::{self, Connection};
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
            if self.conn.in_flight() == 0 {
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
        let busy = st.shared.iter().filter(|c| c.in_flight() > 0).count();
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
            !((c.is_closed() && c.in_flight() == 0) || (c.in_flight() == 0 && c.should_retire(now)))
        });
        let total = st.shared.len() + st.reserved.len() + st.opening;
        let best = st
            .shared
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_closed())
            .min_by_key(|(_, c)| c.in_flight())
            .map(|(i, c)| (i, c.in_flight()));
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
        if conn.in_flight() > 1 || conn.idle_for(Instant::now()) < self.inner.options.validate_after
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

    /// Sets how to tell JavaScript that a new connection needs `onConnect`.
    pub fn set_announce(&self, announce: Announce) {
        *lock(&self.inner.announce) = Some(announce);
    }

    /// JavaScript's `onConnect` finished for connection `id` (with its error, if it threw).
    pub fn connection_ready(&self, id: u32, result: Result<(), String>) {
        if let Some(tx) = lock(&self.inner.initialising).remove(&id) {
            let _ = tx.send(result);
        }
    }

    /// Opens a connection and, when `onConnect` is set, lets JavaScript prepare it while it is
    /// reserved for that alone. What `onConnect` set becomes the session's baseline, set again
    /// after every reset.
    async fn open_connection(&self) -> Result<Arc<Connection>, Error> {
        let began = Instant::now();
        let opened = self.open_connection_untimed().await;
        let took = began.elapsed();
        let (conn, host, tls, error) = match &opened {
            Ok(c) => (c.id(), c.client().host_index(), c.client().is_tls(), None),
            Err(e) => (0, 0, false, Some(e.to_string())),
        };
        if opened.is_ok() {
            let mut st = lock(&self.inner.state);
            if tls {
                st.counters.tls += 1;
            } else {
                st.counters.plain += 1;
            }
        }
        self.observe(super::Observation::Connected {
            conn,
            host,
            tls,
            took,
            error,
        });
        opened
    }

    async fn open_connection_untimed(&self) -> Result<Arc<Connection>, Error> {
        let inner = &self.inner;
        let conn = Connection::open(
            &inner.settings,
            if inner.options.prepare {
                inner.options.statement_cache_size
            } else {
                0
            },
            connection::next_id(inner.shard),
            inner.options.max_lifetime,
            inner.lives.clone(),
        )
        .await?;
        self.attach_sink(&conn);
        let announce = lock(&inner.announce).clone();
        let Some(announce) = announce.filter(|_| inner.options.on_connect) else {
            return Ok(conn);
        };
        let (tx, rx) = oneshot::channel();
        lock(&inner.initialising).insert(conn.id(), tx);
        {
            let mut st = lock(&inner.state);
            st.reserved.insert(conn.id(), conn.clone());
            st.in_flight += 1;
        }
        announce(conn.id());
        let outcome = rx.await;
        {
            let mut st = lock(&inner.state);
            st.reserved.remove(&conn.id());
            st.in_flight -= 1;
        }
        match outcome {
            Ok(Ok(())) if !conn.is_closed() => {
                self.keep_baseline(&conn).await?;
                Ok(conn)
            }
            Ok(Err(message)) => Err(Error::Connection {
                message: format!("onConnect failed: {message}"),
                code: "EONCONNECT",
                server: None,
            }),
            _ => Err(Error::Connection {
                message: "the connection closed during onConnect".into(),
                code: "ECONNRESET",
                server: None,
            }),
        }
    }

    /// After `onConnect`: a transaction it left open is an error; the settings and role it
    /// set are read back, to be set again after each reset.
    async fn keep_baseline(&self, conn: &Arc<Connection>) -> Result<(), Error> {
        if !conn.status().is_idle() {
            return Err(Error::Connection {
                message: "onConnect left the connection inside a transaction; commit it there"
                    .into(),
                code: "EONCONNECT",
                server: None,
            });
        }
        if conn.take_marks().touched {
            let script = crate::query::execute_in_turn(conn, session::BASELINE_QUERY).await?;
            conn.set_baseline(session::baseline_script(&script.rows));
        }
        Ok(())
    }

    pub(super) async fn open_for(&self, want: Want) -> Result<Lease, Error> {
        let (result, probe) = self.open_and_place(want).await;
        if probe {
            tokio::spawn(self.clone().probe());
        }
        result
    }

    /// Opens a connection for `want` and counts it in; true with a failure that opened the
    /// breaker (the caller starts the probe, which itself opens through here).
    pub(super) async fn open_and_place(&self, want: Want) -> (Result<Lease, Error>, bool) {
        let inner = &self.inner;
        let mut probe = false;
        let opened = self.open_connection().await;
        let mut st = lock(&inner.state);
        st.opening -= 1;
        let result = match opened {
            Ok(conn) if !st.closed => {
                conn.add_in_flight(1);
                st.counters.acquires += 1;
                if want == Want::Exclusive {
                    st.reserved.insert(conn.id(), conn.clone());
                } else {
                    conn.set_shared(true);
                    st.shared.push(conn.clone());
                }
                Ok(Lease::new(conn, inner.clone()))
            }
            Ok(_) => {
                st.in_flight -= 1;
                Err(Error::Closed)
            }
            Err(e) => {
                st.in_flight -= 1;
                probe = e.is_outage() && !st.closed && st.breaker.trip(&e);
                Err(e)
            }
        };
        if result.is_ok() && (st.breaker.is_open() || st.shared.len() + st.reserved.len() == 1) {
            st.breaker.close();
            // Everyone waited for this (the pool's first connection, or the first after an
            // outage): all look again, and open the others side by side.
            st.handoffs.wake_all();
        }
        // A slot freed by a failed open, or a connection to pipeline on.
        st.handoffs.wake_one();
        drop(st);
        inner.changed.notify_waiters();
        (result, probe)
    }
}
