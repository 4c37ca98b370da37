//! Lending a connection to one caller (`reserve()`, transactions) and taking it back clean:
//! a connection the server says is inside a transaction is rolled back, and a session its
//! holder touched is reset, before anyone else gets it; if that fails it is closed instead.

use std::sync::Arc;
use std::time::Duration;

use super::{Lease, Pool, Want};
use crate::connection::session;
use crate::connection::Connection;
use crate::error::Error;
use crate::result::ResultEncoder;
use crate::sync::lock;
use crate::wire;

/// How long `release()` waits for the holder's statements still running (a stream it left
/// open, say) before closing the connection instead.
const QUIET_WAIT: Duration = Duration::from_secs(10);

impl Pool {
    /// Lends a connection to one caller alone; returns its id.
    pub async fn reserve(&self) -> Result<u32, Error> {
        let lease = self.acquire(Want::Exclusive).await?;
        let id = lease.conn.id();
        // The reservation itself counts as in flight until release, so close() waits for it.
        lease.keep_counted();
        Ok(id)
    }

    /// The answer to a reservation that asked which backend it got: its pid and, with
    /// `parameters`, what the server reported (what `pg`'s Client reads from the startup),
    /// with no query to the server.
    pub fn session_buffer(&self, id: u32, parameters: bool) -> Result<Vec<u8>, Error> {
        let conn = self.reserved(id)?;
        let client = conn.client();
        let reported = if parameters {
            client.parameters()
        } else {
            Vec::new()
        };
        Ok(crate::result::layout::session_buffer(
            id,
            client.process_id(),
            &reported,
        ))
    }

    pub(super) fn lease_reserved(&self, id: u32) -> Result<Lease, Error> {
        let mut st = lock(&self.inner.state);
        let conn = st.reserved.get(&id).cloned().ok_or_else(|| {
            Error::Internal(format!(
                "connection {id} is not reserved (released already?)"
            ))
        })?;
        conn.add_in_flight(1);
        st.in_flight += 1;
        Ok(Lease::new(conn, self.inner.clone()))
    }

    fn reserved(&self, id: u32) -> Result<Arc<Connection>, Error> {
        lock(&self.inner.state)
            .reserved
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::Internal(format!("connection {id} is not reserved")))
    }

    /// Gives a reserved connection back, rolled back and reset as needed (see the module).
    ///
    /// The rollback or reset is sent, not waited for: the connection is idle for the pool at
    /// once, and the next statement on it (another holder's, or a shared query) follows the
    /// reset on the wire, in the same round trip. A reset that fails closes the connection
    /// before any answer behind it is handed over ([`wire::Client::send_reset`]).
    pub async fn release(&self, id: u32) -> Result<(), Error> {
        let conn = self.reserved(id)?;
        let mut healthy = self.quiet(&conn).await && !conn.state().closing;
        let marks = self.marks_to_reset(&conn);
        let open = !conn.state().status.is_idle();
        if healthy && (open || marks.touched) {
            let sql = if marks.touched {
                session::reset_script(open, &conn.baseline())
            } else {
                "ROLLBACK".to_string()
            };
            // Its answer is not read: the connection's task closes the connection if the
            // reset fails, which is all anyone needs to know of it.
            let sent = {
                let _turn = conn.turn().await;
                conn.client().send_reset_script(&sql)
            };
            healthy = sent.is_ok();
            lock(&self.inner.state).counters.resets += 1;
        }
        self.give_back(conn, healthy);
        Ok(())
    }

    /// Ends the transaction on reserved connection `id` with `COMMIT` or `ROLLBACK` and
    /// releases it. The session reset, when the transaction's statements may have touched the
    /// session, goes out right behind, in the same round trip. Answers with a result buffer
    /// whose command is the server's tag: `ROLLBACK` for a COMMIT of a failed transaction.
    pub async fn end(&self, id: u32, commit: bool) -> Result<Vec<u8>, Error> {
        let conn = self.reserved(id)?;
        if !self.quiet(&conn).await || conn.state().closing {
            self.give_back(conn.clone(), false);
            return Err(conn_error(&conn));
        }
        let marks = self.marks_to_reset(&conn);
        let ending = if commit { "COMMIT" } else { "ROLLBACK" };
        // One script, so the reset costs no request of its own: after COMMIT or ROLLBACK no
        // transaction is open, whatever they answer. A COMMIT that fails (a deferred
        // constraint) makes the server skip the rest; the reset is then sent on its own.
        let sql = if marks.touched {
            format!(
                "{ending}; {}",
                session::reset_script(false, &conn.baseline())
            )
        } else {
            ending.to_string()
        };
        let answer = {
            let _turn = conn.turn().await;
            conn.client().send_script(&sql)
        };
        let outcome = match answer {
            Ok(answer) => answer.read().await,
            Err(e) => Err((e, wire::Script::default())),
        };
        if marks.touched {
            lock(&self.inner.state).counters.resets += 1;
        }
        let (result, healthy) = match outcome {
            Ok(script) => (Ok(script.tags.first().cloned().unwrap_or_default()), true),
            // The reset part failed: the connection cannot be trusted to be clean.
            Err((_, done)) if !done.tags.is_empty() => (Ok(done.tags[0].clone()), false),
            Err((e, _)) => {
                let reset = !marks.touched
                    || restored(
                        crate::query::execute_in_turn(
                            &conn,
                            &session::reset_script(false, &conn.baseline()),
                        )
                        .await,
                        &conn,
                    );
                (Err(e), reset)
            }
        };
        let healthy = healthy && conn.state().is_clean();
        self.give_back(conn, healthy);
        let tag = result?;
        Ok(ResultEncoder::empty().finish(0, &tag))
    }

    /// What the holder may have changed, as far as the pool resets it (`reset_session`).
    fn marks_to_reset(&self, conn: &Connection) -> session::Marks {
        let mut marks = conn.take_marks();
        marks.touched &= self.inner.options.reset_session;
        marks
    }

    /// Waits until nothing but the reservation itself is in flight on `conn`, so that the
    /// server's last status is final. A stream or cursor the holder left open is stopped (its
    /// statement cancelled), not waited for: nobody would read it to its end. False when that
    /// takes too long.
    async fn quiet(&self, conn: &Arc<Connection>) -> bool {
        let wait = async {
            loop {
                let notified = self.inner.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if conn.state().in_flight <= 1 {
                    return;
                }
                if self.stop_held_on(conn.id()).await {
                    continue;
                }
                notified.await;
            }
        };
        tokio::time::timeout(QUIET_WAIT, wait).await.is_ok()
    }

    /// Ends a reservation: `conn` goes back to sharing if `healthy`, else it is closed.
    pub(super) fn give_back(&self, conn: Arc<Connection>, healthy: bool) {
        let mut st = lock(&self.inner.state);
        if !st.reserved.contains_key(&conn.id()) {
            return;
        }
        conn.touch();
        conn.client().forget_cancelled();
        let usable = healthy && !conn.state().closing && !st.closed;
        // Straight to the next caller waiting for a connection of its own, still reserved
        // (its statements follow the reset on the wire), unless callers who want a share
        // wait too: those could otherwise wait behind reservations for ever.
        if usable && st.waiting_shared == 0 && st.handoffs.hand(&conn) {
            st.counters.acquires += 1;
            return;
        }
        st.reserved.remove(&conn.id());
        st.in_flight -= 1;
        conn.add_in_flight(-1);
        if usable {
            conn.set_shared(true);
            st.shared.push(conn);
        } else {
            conn.kill();
        }
        st.handoffs.wake_one();
        drop(st);
        self.inner.changed.notify_waiters();
    }
}

/// Whether a rollback or reset left the session clean.
fn restored(outcome: Result<wire::Script, Error>, conn: &Connection) -> bool {
    outcome.is_ok() && conn.state().is_clean()
}

fn conn_error(conn: &Connection) -> Error {
    Error::Connection {
        message: format!(
            "the transaction's connection was lost: {}",
            conn.client().close_reason()
        ),
        code: "ECONNRESET",
        server: None,
    }
}
