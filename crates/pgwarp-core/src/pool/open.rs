//! Opening a connection for the pool: the connect itself (timed, counted and told to the
//! observer), JavaScript's `onConnect` on it while it is reserved for that alone, and placing
//! it in the pool (closing the breaker when it is the first after an outage).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::acquire::{Lease, Want};
use super::{Announce, Pool};
use crate::connection::{self, session, Connection};
use crate::error::Error;
use crate::sync::lock;

impl Pool {
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
            Ok(Ok(())) if !conn.state().closing => {
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
        if !conn.state().status.is_idle() {
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
