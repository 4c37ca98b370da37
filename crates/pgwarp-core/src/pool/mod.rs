//! A shard's pool of pipelined connections. Autocommit queries go to the least busy
//! connection, up to `max_pipeline` deep; a new connection opens (up to the shard's `max`) when
//! every open one is busy ([`acquire`]). `reserve()` lends a connection to one caller alone
//! (transactions, reserved connections); it comes back clean or not at all ([`reserve`]).
//! Streams and COPY hold a connection alone too ([`exclusive`], [`copy`]).

mod acquire;
mod breaker;
mod copy;
mod describe;
mod exclusive;
mod handoff;
mod lifecycle;
mod open;
mod reserve;
mod roles;
mod script;
mod stats;
mod unsolicited;

pub use copy::CopyInput;
pub use stats::{Counters, HostStats, PoolStats};

use acquire::{Lease, Want};

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::config::PoolOptions;
use crate::connection::{Connection, Lives};
use crate::error::Error;
use crate::params;
use crate::query::{self, Caller, Limits, Mode, Pager, QueryMode};
use crate::result::layout::{self, error_buffer};
use crate::sync::lock;
use crate::wire::Settings;

/// Tells JavaScript that new connection `id` waits for `onConnect`.
pub type Announce = Arc<dyn Fn(u32) + Send + Sync>;
/// Receives what a connection's server sent on its own, with the connection's id.
pub type ConnSink = Arc<dyn Fn(u32, crate::wire::Unsolicited) + Send + Sync>;

/// What the pool tells whoever traces it (see [`Pool::set_observer`]).
pub enum Observation {
    /// A connection opened (or failed to): the host it reached (from 1; 0 not known), over
    /// TLS or not, how long it took, and the error when it failed.
    Connected {
        conn: u32,
        host: u8,
        tls: bool,
        took: std::time::Duration,
        error: Option<String>,
    },
    /// A caller waited this long for a connection (only while `observe_waits` is on).
    Waited { took: std::time::Duration },
}

/// Receives [`Observation`]s.
pub type Observer = Arc<dyn Fn(Observation) + Send + Sync>;

/// A cheaply clonable handle to one shard's pool.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    shard: u8,
    settings: Settings,
    /// Connections opened and dropped, counted by the connections.
    lives: Arc<Lives>,
    options: PoolOptions,
    /// This shard's share of `max` and `min`.
    max: usize,
    min: usize,
    state: Mutex<State>,
    /// Signalled when a connection opens, frees up or closes, or the pool closes.
    changed: Notify,
    /// Receivers of the paged results JavaScript is reading.
    cursors: Mutex<HashMap<u32, mpsc::Receiver<Vec<u8>>>>,
    /// How to stop held work (streams, copy out) early, by cursor, with the id of the
    /// connection it holds.
    stops: Mutex<HashMap<u32, (u32, oneshot::Sender<exclusive::StopReply>)>>,
    /// Inboxes of the COPY FROM STDIN sessions in progress, by copy id.
    copies: Mutex<HashMap<u32, copy::Inbox>>,
    next_cursor: AtomicU32,
    /// New connections waiting for JavaScript's `onConnect` to finish, by id.
    initialising: Mutex<HashMap<u32, oneshot::Sender<Result<(), String>>>>,
    /// Tells JavaScript a new connection needs `onConnect` (set by the engine).
    announce: Mutex<Option<Announce>>,
    /// Where every connection's notices and notifications go, with the connection's id.
    unsolicited: Mutex<Option<ConnSink>>,
    /// Who hears of new connections and waits (see [`Observation`]).
    observer: Mutex<Option<Observer>>,
    /// Whether waits are told to the observer (someone subscribes to them).
    observe_waits: std::sync::atomic::AtomicBool,
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
    /// Of `waiting`, those who want a share (a released connection goes to them first).
    waiting_shared: usize,
    /// Callers waiting for a connection of their own.
    handoffs: handoff::Handoffs,
    /// Whether a server answers at all (see `breaker`).
    breaker: breaker::Breaker,
    closed: bool,
    counters: Counters,
}

impl Pool {
    /// A shard's pool with its share (`max`, `min`) of the connections. Fails only on
    /// invalid settings.
    pub fn new(
        options: PoolOptions,
        settings: Settings,
        shard: u8,
        max: usize,
        min: usize,
    ) -> Result<Pool, Error> {
        Ok(Pool {
            inner: Arc::new(Inner {
                shard,
                settings,
                lives: Arc::new(Lives::default()),
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
                unsolicited: Mutex::new(None),
                observer: Mutex::new(None),
                observe_waits: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Runs one query (on a reserved connection when `conn` is not 0) and returns its result
    /// buffer, or an error buffer: this never fails and never panics.
    pub async fn query(
        &self,
        sql: &str,
        params: &[u8],
        how: QueryMode,
        conn: u32,
        limits: Limits,
        key: u32,
    ) -> Vec<u8> {
        let began = std::time::Instant::now();
        let run =
            AssertUnwindSafe(self.try_query(sql, params, how, conn, limits, key)).catch_unwind();
        let mut out = match run.await {
            Ok(Ok(buf)) => buf,
            Ok(Err(err)) => error_buffer(&err),
            Err(panic) => error_buffer(&panic_error(panic)),
        };
        let mut st = lock(&self.inner.state);
        if conn != 0 {
            if let Some(c) = st.reserved.get(&conn) {
                layout::stamp_status(&mut out, c.state().status);
            }
        }
        st.counters.queries += 1;
        st.counters.query_time.record(began.elapsed());
        if out.first() == Some(&layout::STATUS_ERROR) {
            st.counters.errors += 1;
        }
        out
    }

    async fn try_query(
        &self,
        sql: &str,
        params: &[u8],
        how: QueryMode,
        conn: u32,
        limits: Limits,
        key: u32,
    ) -> Result<Vec<u8>, Error> {
        let run = query::Run {
            cancel_key: key,
            prepare: self.inner.options.prepare && !how.unnamed,
            format: how.format,
            autocommit: conn != 0 && how.autocommit,
            verbatim: how.verbatim,
        };
        let mode = how.mode;
        if self.inner.options.test_panic && sql == "pgwarp:test:panic" {
            panic!("the test hook asked for a panic");
        }
        let values = params::decode(params)?;
        let copy = matches!(mode, Mode::CopyIn | Mode::CopyOut | Mode::CopyRows);
        if mode != Mode::CopyRows {
            // (copyRows' text is its table and columns, separated by a NUL.)
            crate::guard::check_text(sql)?;
        }
        if !copy {
            let refusal = if (conn == 0 || run.autocommit) && self.inner.options.shared_guard {
                crate::guard::refuse_shared(sql)
            } else if self.inner.settings.behind_pooler {
                crate::guard::refuse_behind_pooler(sql, !self.reserved_idle(conn))
                    .or_else(|| crate::guard::refuse_copy(sql))
            } else {
                crate::guard::refuse_copy(sql)
            };
            if let Some(refusal) = refusal {
                return Err(refusal);
            }
        }
        match mode {
            // Cold paths are boxed: the state of a stream or COPY start would otherwise be
            // part of (and copied with) every query's future.
            Mode::Stream | Mode::CopyOut => {
                return Box::pin(self.start_held(sql, &values, mode, conn, limits.batch_rows, run))
                    .await
            }
            Mode::CopyIn | Mode::CopyRows => {
                if !values.is_empty() {
                    return Err(Error::Parameter(
                        "copyIn() takes no parameters: COPY cannot use them".into(),
                    ));
                }
                return Box::pin(self.start_copy_in(sql, conn, mode == Mode::CopyRows)).await;
            }
            _ => {}
        }
        let (mut lease, caller) = if conn == 0 {
            (self.acquire(Want::Shared).await?, Caller::Shared)
        } else {
            let lease = self.lease_reserved(conn)?;
            lease.conn.check_not_held()?;
            (
                lease,
                if run.autocommit {
                    Caller::Engine
                } else {
                    Caller::Holder
                },
            )
        };
        let mut started = query::start(&lease.conn, sql, &values, run, caller).await;
        // A pooled statement that never left the client (its connection died just before)
        // moves to another connection, once; one that may have reached the server never does.
        if conn == 0 && matches!(&started, Err(e) if e.is_connection(crate::wire::NOT_SENT)) {
            self.discard(&lease.conn);
            drop(lease);
            lease = self.acquire(Want::Shared).await?;
            started = query::start(&lease.conn, sql, &values, run, caller).await;
        }
        let started = started?;
        let host = started.conn().client().host_index();
        if mode != Mode::All {
            let mut out = query::collect(started, mode).await?;
            layout::stamp_host(&mut out, host);
            return Ok(out);
        }
        let cursor = self.new_cursor();
        let limits = Limits {
            batch_rows: 0,
            ..limits
        };
        let mut pager = Pager::new(started, cursor, limits);
        let (mut first, last) = pager.next().await;
        layout::stamp_host(&mut first, host);
        if last {
            if query::is_too_large(&first) {
                Box::pin(self.abandon(lease, pager)).await;
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
                Some(i) if conn.state().in_flight == 1 => {
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
        let clean = pager.stop().await;
        let mut st = lock(&self.inner.state);
        st.reserved.remove(&conn.id());
        if clean && !conn.state().closing && !st.closed {
            st.shared.push(conn);
        } else {
            // A cancel the server did not confirm may still hit the next statement: close.
            conn.kill();
        }
        st.handoffs.wake_one();
        drop(st);
        drop(lease);
        self.inner.changed.notify_waiters();
    }

    /// Whether reserved connection `conn` is outside a transaction, as its server last said.
    fn reserved_idle(&self, conn: u32) -> bool {
        lock(&self.inner.state)
            .reserved
            .get(&conn)
            .is_some_and(|c| c.state().status.is_idle())
    }

    /// Sets who hears of new connections and waits.
    pub fn set_observer(&self, observer: Observer) {
        *lock(&self.inner.observer) = Some(observer);
    }

    /// Whether waits for a connection are told to the observer.
    pub fn observe_waits(&self, on: bool) {
        self.inner.observe_waits.store(on, Ordering::Relaxed);
    }

    fn observe(&self, o: Observation) {
        let observer = lock(&self.inner.observer).clone();
        if let Some(observer) = observer {
            observer(o);
        }
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
    pub fn drop_result(&self, cursor: u32) {
        lock(&self.inner.cursors).remove(&cursor);
    }
}

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
