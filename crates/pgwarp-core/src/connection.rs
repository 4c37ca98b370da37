//! One server connection: the pipelining `tokio_postgres::Client`, its background I/O task, and
//! a bounded cache of its prepared statements.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use tokio_postgres::{Client, Config, NoTls, Statement};

use crate::error::Error;

/// An open connection shared by the queries pipelined on it.
pub struct Connection {
    client: Client,
    /// Least recently used statements are dropped beyond the bound; tokio-postgres closes a
    /// statement on the server when its last handle goes (deadpool's cache is unbounded:
    /// deadpool-rs/deadpool#281).
    statements: Option<Mutex<LruCache<String, Statement>>>,
    in_flight: AtomicUsize,
}

impl Connection {
    /// Opens a connection and starts its I/O task on the current runtime.
    pub async fn open(config: &Config, statement_cache_size: usize) -> Result<Arc<Self>, Error> {
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
        Ok(Arc::new(Connection {
            client,
            statements: NonZeroUsize::new(statement_cache_size)
                .map(|n| Mutex::new(LruCache::new(n))),
            in_flight: AtomicUsize::new(0),
        }))
    }

    /// The client, for running statements.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether the connection has been lost.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
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

    /// Statements currently cached.
    pub fn cached_statements(&self) -> usize {
        self.statements.as_ref().map_or(0, |c| lock(c).len())
    }
}

/// A poisoned lock only means another query panicked mid-update of a cache or counter; the data
/// is still consistent enough to use, and refusing would turn one bug into a dead pool.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
