//! A pool of pipelined connections. Each autocommit query goes to the least busy connection; a
//! new connection opens (up to `max`) only when every open one is busy.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use tokio::sync::{mpsc, Notify};
use tokio_postgres::Config;

use crate::config::PoolOptions;
use crate::connection::{lock, Connection};
use crate::error::Error;
use crate::params;
use crate::query::{self, Mode, Pager};
use crate::result::layout::{self, error_buffer};

/// A cheaply clonable handle to a pool.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// Receivers of the paged results JavaScript is reading.
    cursors: Mutex<HashMap<u32, mpsc::Receiver<Vec<u8>>>>,
    next_cursor: AtomicU32,
    max: usize,
    statement_cache_size: usize,
    state: Mutex<State>,
    /// Signalled when a connection opens or fails to, a query finishes, or the pool closes.
    changed: Notify,
}

#[derive(Default)]
struct State {
    conns: Vec<Arc<Connection>>,
    opening: usize,
    in_flight: usize,
    closed: bool,
}

/// A connection lent to one query; gives it back on drop, whatever happened.
struct Lease {
    conn: Arc<Connection>,
    pool: Arc<Inner>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.conn.add_in_flight(-1);
        lock(&self.pool.state).in_flight -= 1;
        self.pool.changed.notify_waiters();
    }
}

/// Counters for tests and monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub connections: usize,
    /// Queries running.
    pub in_flight: usize,
}

impl Pool {
    /// A pool that opens connections lazily. Fails only on invalid settings.
    pub fn new(options: PoolOptions) -> Result<Pool, Error> {
        let config = options.connect.to_config()?;
        Ok(Pool {
            inner: Arc::new(Inner {
                config,
                cursors: Mutex::new(HashMap::new()),
                next_cursor: AtomicU32::new(1),
                max: options.max.max(1),
                statement_cache_size: options.statement_cache_size,
                state: Mutex::new(State::default()),
                changed: Notify::new(),
            }),
        })
    }

    /// Runs one query and returns its result buffer, or an error buffer: this never fails and
    /// never panics, so the binding has nothing to translate.
    pub async fn query(&self, sql: &str, params: &[u8], mode: u32) -> Vec<u8> {
        let run = AssertUnwindSafe(self.try_query(sql, params, mode)).catch_unwind();
        match run.await {
            Ok(Ok(buf)) => buf,
            Ok(Err(err)) => error_buffer(&err),
            Err(panic) => error_buffer(&Error::Internal(format!(
                "pgwarp engine bug (panic): {}; please report it",
                panic_text(&panic)
            ))),
        }
    }

    async fn try_query(&self, sql: &str, params: &[u8], mode: u32) -> Result<Vec<u8>, Error> {
        let mode = Mode::from_u32(mode)?;
        let values = params::decode(params)?;
        let lease = self.acquire().await?;
        let started = match query::start(&lease.conn, sql, &values).await {
            // A schema change can invalidate a cached statement's result type; the server
            // refuses before executing, so preparing again and retrying once is safe.
            Err(Error::Server(db))
                if db.code().code() == "0A000" && db.message().contains("cached plan") =>
            {
                lease.conn.forget(sql);
                query::start(&lease.conn, sql, &values).await?
            }
            other => other?,
        };
        if mode != Mode::All {
            return query::collect(started, mode).await;
        }
        let cursor = self.inner.next_cursor.fetch_add(1, Ordering::Relaxed);
        let mut pager = Pager::new(started, cursor);
        let (first, last) = pager.next().await;
        if last {
            return Ok(first);
        }
        let (tx, rx) = mpsc::channel(PAGES_AHEAD);
        lock(&self.inner.cursors).insert(cursor, rx);
        tokio::spawn(async move {
            // The lease lives as long as rows are still coming.
            let _lease = lease;
            pager.pump(tx).await;
        });
        Ok(first)
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

    async fn acquire(&self) -> Result<Lease, Error> {
        let inner = &self.inner;
        loop {
            let notified = inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = lock(&inner.state);
                if st.closed {
                    return Err(Error::Closed);
                }
                st.conns.retain(|c| !c.is_closed());
                let total = st.conns.len() + st.opening;
                let best = st.conns.iter().min_by_key(|c| c.in_flight()).cloned();
                match best {
                    Some(conn) if conn.in_flight() == 0 || total >= inner.max => {
                        conn.add_in_flight(1);
                        st.in_flight += 1;
                        return Ok(Lease {
                            conn,
                            pool: inner.clone(),
                        });
                    }
                    _ if total < inner.max => {
                        st.opening += 1;
                        st.in_flight += 1;
                        break;
                    }
                    _ => {}
                }
            }
            notified.await;
        }
        let opened = Connection::open(&inner.config, inner.statement_cache_size).await;
        let mut st = lock(&inner.state);
        st.opening -= 1;
        inner.changed.notify_waiters();
        match opened {
            Ok(conn) if !st.closed => {
                conn.add_in_flight(1);
                st.conns.push(conn.clone());
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
        }
    }

    /// Refuses new queries, waits for the running ones, then closes every connection.
    pub async fn close(&self) {
        let inner = &self.inner;
        lock(&inner.state).closed = true;
        inner.changed.notify_waiters();
        loop {
            let notified = inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&inner.state).in_flight == 0 {
                break;
            }
            notified.await;
        }
        let conns = std::mem::take(&mut lock(&inner.state).conns);
        drop(conns);
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        let st = lock(&self.inner.state);
        PoolStats {
            connections: st.conns.len(),
            in_flight: st.in_flight,
        }
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

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
