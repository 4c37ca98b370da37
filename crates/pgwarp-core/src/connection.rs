//! One server connection: the pipelining `tokio_postgres::Client`, its background I/O task, and
//! a bounded cache of its prepared statements.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;
use tokio_postgres::{CancelToken, Client, Config, NoTls, Statement};

use crate::error::Error;

/// An open connection shared by the queries pipelined on it.
pub struct Connection {
    /// Unique within the process; its low 8 bits name the shard that owns it.
    id: u32,
    client: Client,
    cancel: CancelToken,
    /// When the connection should be retired (max lifetime minus jitter).
    retire_at: Option<Instant>,
    /// Last time a query finished on it, for idle timeouts and validation.
    last_used: Mutex<Instant>,
    /// Whether a transaction is open on it (tracked from the commands a reserved caller runs).
    in_transaction: AtomicBool,
    /// Must not run anything more (a cancel may still be on its way to it, or the protocol
    /// state is unknown): closed when it comes back to the pool.
    spoiled: AtomicBool,
    /// Statements reach the socket in the order their requests arrived: a statement that must
    /// be prepared first would otherwise be overtaken by a later one already in the cache.
    /// Fair (FIFO), held only until a statement's messages are sent.
    order: tokio::sync::Mutex<()>,
    /// Least recently used statements are dropped beyond the bound; tokio-postgres closes a
    /// statement on the server when its last handle goes (deadpool's cache is unbounded:
    /// deadpool-rs/deadpool#281).
    statements: Option<Mutex<LruCache<String, Statement>>>,
    in_flight: AtomicUsize,
}

impl Connection {
    /// Opens a connection and starts its I/O task on the current runtime.
    pub async fn open(
        config: &Config,
        statement_cache_size: usize,
        id: u32,
        lifetime: Option<Duration>,
    ) -> Result<Arc<Self>, Error> {
        // tokio-postgres' connect_timeout bounds only the socket connect; a server that accepts
        // and then says nothing would hang the caller, so the whole handshake is bounded too.
        let connect = config.connect(NoTls);
        let (client, connection) = match config.get_connect_timeout() {
            Some(limit) => {
                tokio::time::timeout(*limit, connect)
                    .await
                    .map_err(|_| Error::Connection {
                        message: format!(
                            "could not connect: no answer from the server within {} ms",
                            limit.as_millis()
                        ),
                        code: "ETIMEDOUT",
                        server: None,
                    })?
            }
            None => connect.await,
        }
        .map_err(Error::from_connect)?;
        tokio::spawn(async move {
            // Errors here surface to the queries in flight; the pool drops a closed client.
            let _ = connection.await;
        });
        let opened = Instant::now();
        // Up to 10% jitter, so connections opened together do not all retire together.
        let retire_at = lifetime.map(|l| opened + l.mul_f64(1.0 - 0.1 * jitter(id)));
        Ok(Arc::new(Connection {
            id,
            cancel: client.cancel_token(),
            client,
            retire_at,
            last_used: Mutex::new(opened),
            in_transaction: AtomicBool::new(false),
            spoiled: AtomicBool::new(false),
            order: tokio::sync::Mutex::new(()),
            statements: NonZeroUsize::new(statement_cache_size)
                .map(|n| Mutex::new(LruCache::new(n))),
            in_flight: AtomicUsize::new(0),
        }))
    }

    /// The connection's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether it has outlived its lifetime.
    pub fn should_retire(&self, now: Instant) -> bool {
        self.retire_at.is_some_and(|t| now >= t)
    }

    /// How long since a query last finished on it.
    pub fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*lock(&self.last_used))
    }

    pub(crate) fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    /// Asks the server to cancel whatever runs on this connection.
    pub async fn cancel_running(&self) {
        let _ = self.cancel.cancel_query(NoTls).await;
    }

    /// Whether a transaction is open, as far as the commands run on it tell.
    pub fn in_transaction(&self) -> bool {
        self.in_transaction.load(Ordering::Relaxed)
    }

    /// Follows the transaction state through a command that ran (or failed) on it.
    pub fn track(&self, command: &str) {
        match command {
            "BEGIN" | "START" => self.in_transaction.store(true, Ordering::Relaxed),
            "COMMIT" | "ROLLBACK" | "END" | "ABORT" => {
                self.in_transaction.store(false, Ordering::Relaxed)
            }
            _ => {}
        }
    }

    /// Waits for this request's turn to send on the connection (see `order`).
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.order.lock().await
    }

    /// The client, for running statements.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the connection has been lost (or spoiled: see [`Connection::spoil`]).
    pub fn is_closed(&self) -> bool {
        self.spoiled.load(Ordering::Relaxed) || self.client.is_closed()
    }

    /// Marks the connection as not to be used again; the pool closes it once it is back.
    pub fn spoil(&self) {
        self.spoiled.store(true, Ordering::Relaxed);
    }

    /// Queries currently pipelined on this connection.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn add_in_flight(&self, delta: isize) {
        if delta >= 0 {
            self.in_flight.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            self.in_flight
                .fetch_sub((-delta) as usize, Ordering::Relaxed);
        }
    }

    /// The prepared statement for `sql`, preparing it on first use.
    pub async fn prepare(&self, sql: &str) -> Result<Statement, Error> {
        if let Some(cache) = &self.statements {
            if let Some(stmt) = lock(cache).get(sql) {
                return Ok(stmt.clone());
            }
        }
        let stmt = self.client.prepare(sql).await.map_err(Error::from_query)?;
        if let Some(cache) = &self.statements {
            lock(cache).put(sql.to_string(), stmt.clone());
        }
        Ok(stmt)
    }

    /// Drops a cached statement, e.g. after the server says its plan went stale.
    pub fn forget(&self, sql: &str) {
        if let Some(cache) = &self.statements {
            lock(cache).pop(sql);
        }
    }
}

/// A number in [0, 1) from an id, spread evenly (Fibonacci hashing).
fn jitter(id: u32) -> f64 {
    (id.wrapping_mul(0x9E37_79B9) as f64) / (u32::MAX as f64 + 1.0)
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A fresh connection id for a shard (the shard index is kept in the low 8 bits).
pub fn next_id(shard: u8) -> u32 {
    (NEXT_ID.fetch_add(1, Ordering::Relaxed) << 8) | shard as u32
}

/// A poisoned lock only means another query panicked mid-update of a cache or counter; the data
/// is still consistent enough to use, and refusing would turn one bug into a dead pool.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
