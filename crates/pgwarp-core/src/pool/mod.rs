//! A shard's pool of pipelined connections. Autocommit queries go to the least busy
//! connection, up to `max_pipeline` deep; a new connection opens (up to the shard's `max`) when
//! every open one is busy. `reserve()` lends a connection to one caller alone (transactions,
//! COPY, LISTEN); it comes back clean or not at all. Streams and COPY hold a connection
//! alone too ([`exclusive`], [`copy`]).

mod copy;
mod exclusive;

pub use copy::CopyInput;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_postgres::Config;

use crate::config::PoolOptions;
use crate::connection::{self, lock, Connection};
use crate::error::Error;
use crate::params;
use crate::query::{self, Limits, Mode, Pager};
use crate::result::layout::{self, error_buffer};

/// Tells JavaScript that new connection `id` waits for `onConnect`.
pub type Announce = Arc<dyn Fn(u32) + Send + Sync>;

/// A cheaply clonable handle to one shard's pool.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    shard: u8,
    config: Config,
    options: PoolOptions,
    /// This shard's share of `max` and `min`.
    max: usize,
    min: usize,
    state: Mutex<State>,
    /// Signalled when a connection opens, frees up or closes, or the pool closes.
    changed: Notify,
    /// Receivers of the paged results JavaScript is reading.
    cursors: Mutex<HashMap<u32, mpsc::Receiver<Vec<u8>>>>,
    /// How to stop held work (streams, copy out) early, by cursor.
    stops: Mutex<HashMap<u32, oneshot::Sender<exclusive::StopReply>>>,
    /// Inboxes of the COPY FROM STDIN sessions in progress, by copy id.
    copies: Mutex<HashMap<u32, copy::Inbox>>,
    next_cursor: AtomicU32,
    /// New connections waiting for JavaScript's `onConnect` to finish, by id.
    initialising: Mutex<HashMap<u32, oneshot::Sender<Result<(), String>>>>,
    /// Tells JavaScript a new connection needs `onConnect` (set by the engine).
    announce: Mutex<Option<Announce>>,
}

#[derive(Default)]
struct State {
    /// Connections shared by autocommit queries.
    shared: Vec<Arc<Connection>>,
    /// Connections lent out by `reserve()`, by id.
    reserved: HashMap<u32, Arc<Connection>>,
    opening: usize,
    in_flight: usize,
    waiting: usize,
    closed: bool,
    counters: Counters,
}

/// Running totals since the pool started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Queries run.
    pub queries: u64,
    /// Connections handed to a query or a reservation.
    pub acquires: u64,
    /// Callers that gave up waiting (`acquireTimeout`).
    pub acquire_timeouts: u64,
    /// Connections opened.
    pub created: u64,
    /// Connections closed (broken, retired, idle, dirty).
    pub destroyed: u64,
    /// Queries that failed.
    pub errors: u64,
}

/// A snapshot of a pool's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub total: usize,
    /// Open connections with nothing running and not reserved.
    pub idle: usize,
    /// Shared connections with queries running.
    pub busy: usize,
    /// Connections lent out by `reserve()`.
    pub reserved: usize,
    /// Queries running (plus reservations held).
    pub in_flight: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// Running totals.
    pub counters: Counters,
}

impl PoolStats {
    /// Adds another shard's numbers.
    pub fn add(&mut self, o: &PoolStats) {
        self.total += o.total;
        self.idle += o.idle;
        self.busy += o.busy;
        self.reserved += o.reserved;
        self.in_flight += o.in_flight;
        self.waiting += o.waiting;
        let (a, b) = (&mut self.counters, &o.counters);
        a.queries += b.queries;
        a.acquires += b.acquires;
        a.acquire_timeouts += b.acquire_timeouts;
        a.created += b.created;
        a.destroyed += b.destroyed;
        a.errors += b.errors;
    }
}

/// A connection lent to one query; gives it back on drop, whatever happened.
struct Lease {
    conn: Arc<Connection>,
    pool: Arc<Inner>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.conn.add_in_flight(-1);
        self.conn.touch();
        lock(&self.pool.state).in_flight -= 1;
        self.pool.changed.notify_waiters();
    }
}

/// Whether a caller wants a pipelined share of a connection or one of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Shared,
    Exclusive,
}

impl Pool {
    /// A shard's pool with its share (`max`, `min`) of the connections. Fails only on
    /// invalid settings.
    pub fn new(options: PoolOptions, shard: u8, max: usize, min: usize) -> Result<Pool, Error> {
        let config = options.connect.to_config()?;
        Ok(Pool {
            inner: Arc::new(Inner {
                shard,
                config,
                options,
                max: max.max(1),
                min: min.min(max.max(1)),
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                cursors: Mutex::new(HashMap::new()),
                stops: Mutex::new(HashMap::new()),
                copies: Mutex::new(HashMap::new()),
                next_cursor: AtomicU32::new(1),
                initialising: Mutex::new(HashMap::new()),
                announce: Mutex::new(None),
            }),
        })
    }

    /// Runs one query (on a reserved connection when `conn` is not 0) and returns its result
    /// buffer, or an error buffer: this never fails and never panics.
    pub async fn query(
        &self,
        sql: &str,
        params: &[u8],
        mode: u32,
        conn: u32,
        limits: Limits,
    ) -> Vec<u8> {
        let run = AssertUnwindSafe(self.try_query(sql, params, mode, conn, limits)).catch_unwind();
        let out = match run.await {
            Ok(Ok(buf)) => buf,
            Ok(Err(err)) => error_buffer(&err),
            Err(panic) => error_buffer(&panic_error(panic)),
        };
        let mut st = lock(&self.inner.state);
        st.counters.queries += 1;
        if out.first() == Some(&layout::STATUS_ERROR) {
            st.counters.errors += 1;
        }
        out
    }

    async fn try_query(
        &self,
        sql: &str,
        params: &[u8],
        mode: u32,
        conn: u32,
        limits: Limits,
    ) -> Result<Vec<u8>, Error> {
        let mode = Mode::from_u32(mode)?;
        let values = params::decode(params)?;
        match mode {
            Mode::Stream | Mode::CopyOut => {
                return self
                    .start_held(sql, &values, mode, conn, limits.batch_rows)
                    .await
            }
            Mode::CopyIn | Mode::CopyRows => {
                if !values.is_empty() {
                    return Err(Error::Parameter(
                        "copyIn() takes no parameters: COPY cannot use them".into(),
                    ));
                }
                return self.start_copy_in(sql, conn, mode == Mode::CopyRows).await;
            }
            _ => {}
        }
        let mut lease = if conn == 0 {
            self.acquire(Want::Shared).await?
        } else {
            self.lease_reserved(conn)?
        };
        let prepare = self.inner.options.prepare;
        let mut started = query::start(&lease.conn, sql, &values, prepare).await;
        // A pooled statement that never left the client (its connection died just before)
        // moves to another connection, once; one that may have reached the server never does.
        if conn == 0
            && matches!(&started, Err(Error::Connection { code, .. }) if *code == query::NOT_SENT)
        {
            self.discard(&lease.conn);
            drop(lease);
            lease = self.acquire(Want::Shared).await?;
            started = query::start(&lease.conn, sql, &values, prepare).await;
        }
        let started = match started {
            // A schema change can invalidate a cached statement's result type; the server
            // refuses before executing, so preparing again and retrying once is safe.
            Err(Error::Server(db))
                if db.code().code() == "0A000" && db.message().contains("cached plan") =>
            {
                lease.conn.forget(sql);
                query::start(&lease.conn, sql, &values, prepare).await
            }
            other => other,
        };
        if conn != 0 {
            // The statement reached the server (or failed there): follow BEGIN/COMMIT.
            lease.conn.track(query::command_of(sql));
        }
        let started = started?;
        if mode != Mode::All {
            return query::collect(started, mode).await;
        }
        let cursor = self.new_cursor();
        let limits = Limits {
            batch_rows: 0,
            ..limits
        };
        let mut pager = Pager::new(started, cursor, limits);
        let (first, last) = pager.next().await;
        if last {
            if query::is_too_large(&first) {
                self.abandon(lease, pager).await;
            }
            return Ok(first);
        }
        let (tx, rx) = mpsc::channel(PAGES_AHEAD);
        lock(&self.inner.cursors).insert(cursor, rx);
        let pool = self.clone();
        tokio::spawn(async move {
            // The lease lives as long as rows are still coming.
            if let Some(pager) = pager.pump(tx).await {
                pool.abandon(lease, pager).await;
            }
        });
        Ok(first)
    }

    /// A result nobody will read to the end (too large, or its reader gave up) would keep its
    /// connection busy until the server had sent it all. When nothing else runs on that
    /// connection, it is taken out of sharing and the statement is cancelled; otherwise (a
    /// cancel could hit a query pipelined behind) the rest is read and discarded.
    async fn abandon(&self, lease: Lease, pager: Pager) {
        let conn = lease.conn.clone();
        let taken = {
            let mut st = lock(&self.inner.state);
            match st.shared.iter().position(|c| Arc::ptr_eq(c, &conn)) {
                Some(i) if conn.in_flight() == 1 => {
                    let c = st.shared.swap_remove(i);
                    st.reserved.insert(c.id(), c);
                    true
                }
                _ => false,
            }
        };
        if !taken {
            return;
        }
        conn.cancel_running().await;
        let clean = pager.drain_cancelled().await;
        let mut st = lock(&self.inner.state);
        st.reserved.remove(&conn.id());
        if clean && !conn.is_closed() && !st.closed {
            st.shared.push(conn);
        } else {
            // A cancel that came too late may still hit the next statement: close instead.
            st.counters.destroyed += 1;
        }
        drop(st);
        drop(lease);
        self.inner.changed.notify_waiters();
    }

    /// A new id for a paged result or a copy; its low 8 bits name the shard that owns it.
    fn new_cursor(&self) -> u32 {
        (self.inner.next_cursor.fetch_add(1, Ordering::Relaxed) << 8) | self.inner.shard as u32
    }

    /// The next page of a paged result; `cursor` comes from the previous page's header.
    pub async fn next_page(&self, cursor: u32) -> Vec<u8> {
        let Some(mut rx) = lock(&self.inner.cursors).remove(&cursor) else {
            return error_buffer(&Error::Internal(format!(
                "no result is being read with cursor {cursor}"
            )));
        };
        match rx.recv().await {
            Some(page) => {
                if has_more(&page) {
                    lock(&self.inner.cursors).insert(cursor, rx);
                }
                page
            }
            None => error_buffer(&stream_ended()),
        }
    }

    /// Stops reading a paged result (the consumer gave up): the rest is discarded and the
    /// connection is free again.
    pub fn cancel(&self, cursor: u32) {
        lock(&self.inner.cursors).remove(&cursor);
    }

    /// Lends a connection to one caller alone; returns its id.
    pub async fn reserve(&self) -> Result<u32, Error> {
        let lease = self.acquire(Want::Exclusive).await?;
        let id = lease.conn.id();
        // The reservation itself counts as in flight until release, so close() waits for it.
        std::mem::forget(lease);
        Ok(id)
    }

    fn lease_reserved(&self, id: u32) -> Result<Lease, Error> {
        let mut st = lock(&self.inner.state);
        let conn = st.reserved.get(&id).cloned().ok_or_else(|| {
            Error::Internal(format!(
                "connection {id} is not reserved (released already?)"
            ))
        })?;
        conn.add_in_flight(1);
        st.in_flight += 1;
        Ok(Lease {
            conn,
            pool: self.inner.clone(),
        })
    }

    /// Gives a reserved connection back. One left inside a transaction (open or failed) is
    /// rolled back first, and closed if that fails: the next caller never gets it dirty.
    pub async fn release(&self, id: u32) -> Result<(), Error> {
        let conn = lock(&self.inner.state)
            .reserved
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::Internal(format!("connection {id} is not reserved")))?;
        let mut healthy = !conn.is_closed();
        if healthy && conn.in_transaction() {
            healthy = conn.client().batch_execute("ROLLBACK").await.is_ok();
            conn.track("ROLLBACK");
        }
        let mut st = lock(&self.inner.state);
        st.reserved.remove(&id);
        st.in_flight -= 1;
        conn.add_in_flight(-1);
        conn.touch();
        if healthy && !st.closed {
            st.shared.push(conn);
        } else {
            st.counters.destroyed += 1;
        }
        drop(st);
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn acquire(&self, want: Want) -> Result<Lease, Error> {
        let inner = &self.inner;
        let deadline = inner.options.acquire_timeout.map(|t| Instant::now() + t);
        let mut waiting = false;
        let result = loop {
            let notified = inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_acquire(want) {
                Ok(Some(lease)) => break self.validated(lease, want).await,
                Ok(None) => {}
                Err(Opening) => break self.open_for(want).await,
            }
            if lock(&inner.state).closed {
                break Err(Error::Closed);
            }
            if !waiting {
                waiting = true;
                lock(&inner.state).waiting += 1;
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d.into(), notified).await.is_err() {
                        break Err(self.timeout_error());
                    }
                }
                None => notified.await,
            }
        };
        if waiting {
            lock(&inner.state).waiting -= 1;
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
        let before = st.shared.len();
        st.shared
            .retain(|c| !(c.is_closed() || (c.in_flight() == 0 && c.should_retire(now))));
        st.counters.destroyed += (before - st.shared.len()) as u64;
        let total = st.shared.len() + st.reserved.len() + st.opening;
        let best = st
            .shared
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| c.in_flight())
            .map(|(i, c)| (i, c.in_flight()));
        let pick = match (want, best) {
            (_, Some((i, 0))) => Some(i),
            (Want::Shared, Some((i, depth)))
                if total >= inner.max && depth < inner.options.max_pipeline =>
            {
                Some(i)
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
            st.reserved.insert(conn.id(), conn.clone());
            conn
        } else {
            st.shared[i].clone()
        };
        conn.add_in_flight(1);
        st.in_flight += 1;
        st.counters.acquires += 1;
        Ok(Some(Lease {
            conn,
            pool: inner.clone(),
        }))
    }

    /// A connection idle for long may have been cut by a firewall or the server: check it
    /// with an empty query first, and take another if it is dead.
    async fn validated(&self, lease: Lease, want: Want) -> Result<Lease, Error> {
        let conn = &lease.conn;
        if conn.in_flight() > 1 || conn.idle_for(Instant::now()) < self.inner.options.validate_after
        {
            return Ok(lease);
        }
        let probe =
            tokio::time::timeout(Duration::from_secs(5), conn.client().simple_query("")).await;
        if matches!(probe, Ok(Ok(_))) {
            conn.touch();
            return Ok(lease);
        }
        self.discard(&lease.conn);
        drop(lease);
        Box::pin(self.acquire(want)).await
    }

    fn discard(&self, conn: &Arc<Connection>) {
        let mut st = lock(&self.inner.state);
        st.shared.retain(|c| !Arc::ptr_eq(c, conn));
        st.reserved.remove(&conn.id());
        st.counters.destroyed += 1;
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
    /// reserved for that alone.
    async fn open_connection(&self) -> Result<Arc<Connection>, Error> {
        let inner = &self.inner;
        let conn = Connection::open(
            &inner.config,
            if inner.options.prepare {
                inner.options.statement_cache_size
            } else {
                0
            },
            connection::next_id(inner.shard),
            inner.options.max_lifetime,
        )
        .await?;
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
            Ok(Ok(())) if !conn.is_closed() => Ok(conn),
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

    async fn open_for(&self, want: Want) -> Result<Lease, Error> {
        let inner = &self.inner;
        let opened = self.open_connection().await;
        let mut st = lock(&inner.state);
        st.opening -= 1;
        let result = match opened {
            Ok(conn) if !st.closed => {
                conn.add_in_flight(1);
                st.counters.created += 1;
                st.counters.acquires += 1;
                if want == Want::Exclusive {
                    st.reserved.insert(conn.id(), conn.clone());
                } else {
                    st.shared.push(conn.clone());
                }
                Ok(Lease {
                    conn,
                    pool: inner.clone(),
                })
            }
            Ok(_) => {
                st.in_flight -= 1;
                Err(Error::Closed)
            }
            Err(e) => {
                st.in_flight -= 1;
                Err(e)
            }
        };
        drop(st);
        inner.changed.notify_waiters();
        result
    }

    /// Opens connections up to `min` and closes idle ones beyond it; run every second or so.
    pub async fn maintain(&self) {
        let inner = &self.inner;
        let now = Instant::now();
        let (to_open, closed) = {
            let mut st = lock(&inner.state);
            if st.closed {
                return;
            }
            if let Some(idle) = inner.options.idle_timeout {
                let mut keep = st.shared.len() + st.reserved.len();
                let min = inner.min;
                let before = st.shared.len();
                st.shared.retain(|c| {
                    let drop_it = keep > min && c.in_flight() == 0 && c.idle_for(now) >= idle;
                    if drop_it {
                        keep -= 1;
                    }
                    !drop_it
                });
                st.counters.destroyed += (before - st.shared.len()) as u64;
            }
            let total = st.shared.len() + st.reserved.len() + st.opening;
            (inner.min.saturating_sub(total), st.closed)
        };
        if closed {
            return;
        }
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
                        // Reservations nobody releases would hold close() forever.
                        let mut st = lock(&inner.state);
                        let held = st.reserved.len();
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

    /// Current numbers.
    pub fn stats(&self) -> PoolStats {
        let st = lock(&self.inner.state);
        let busy = st.shared.iter().filter(|c| c.in_flight() > 0).count();
        PoolStats {
            total: st.shared.len() + st.reserved.len(),
            idle: st.shared.len() - busy,
            busy,
            reserved: st.reserved.len(),
            in_flight: st.in_flight,
            waiting: st.waiting,
            counters: st.counters,
        }
    }
}

/// Marker: the caller should open a connection (its slot is already counted).
struct Opening;

/// Pages encoded ahead of JavaScript: one being decoded, one ready. More only costs memory.
const PAGES_AHEAD: usize = 2;

fn has_more(page: &[u8]) -> bool {
    page.len() > 1 && page[0] == layout::STATUS_OK && page[1] & layout::FLAG_MORE != 0
}

fn stream_ended() -> Error {
    Error::Internal("the result stream ended unexpectedly (engine task failed)".into())
}

/// Turns a caught panic into the error the caller sees.
pub fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let text = if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    };
    Error::Internal(format!(
        "pgwarp engine bug (panic): {text}; please report it"
    ))
}
