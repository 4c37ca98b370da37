//! Work that holds a connection alone while JavaScript reads it page by page: `stream()` and
//! `COPY ... TO STDOUT`. Holding it alone is what lets a consumer that stops early cancel the
//! statement on the server (a cancel on a shared connection could hit someone else's query),
//! then get the connection back clean.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Lease, Pool, PAGES_AHEAD};
use crate::connection::{Connection, HoldFlag};
use crate::copy::output::{self as copy_out, CopyPager};
use crate::error::Error;
use crate::params::Value;
use crate::query::{self, Caller, Limits, Mode, Pager};
use crate::result::layout::{self, value_buffer};
use crate::sync::lock;

/// Answered once the stopped work has left its connection clean.
pub(super) type StopReply = oneshot::Sender<()>;

/// How held work ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The statement ran to its end.
    Completed,
    /// The statement failed; the server has already ended it.
    Failed,
}

/// A connection held for one piece of work: reserved by the engine for it (a pool query), or
/// the caller's reserved connection (a transaction), then inside a savepoint when a
/// transaction is open, so that cancelling the statement does not abort the transaction.
pub(super) struct Hold {
    pool: Pool,
    lease: Lease,
    /// The engine reserved the connection for this work and releases it at the end.
    owned: Option<u32>,
    savepoint: Option<String>,
    /// The caller's connection is busy with this work until the hold ends.
    _busy: Option<HoldFlag>,
}

impl Hold {
    /// Holds connection `conn` (0: a pooled one, reserved for this work). `tag` names the
    /// savepoint, when `savepoint` is asked for and a transaction is open.
    pub(super) async fn take(
        pool: &Pool,
        conn: u32,
        tag: u32,
        savepoint: bool,
    ) -> Result<Hold, Error> {
        let owned = if conn == 0 {
            Some(pool.reserve().await?)
        } else {
            None
        };
        let lease = match pool.lease_reserved(owned.unwrap_or(conn)) {
            Ok(lease) => lease,
            Err(e) => {
                if let Some(id) = owned {
                    let _ = pool.release(id).await;
                }
                return Err(e);
            }
        };
        let busy = if owned.is_none() {
            match lease.conn.hold() {
                Some(flag) => Some(flag),
                None => {
                    lease.conn.check_not_held()?;
                    None
                }
            }
        } else {
            None
        };
        let mut hold = Hold {
            pool: pool.clone(),
            lease,
            owned,
            savepoint: None,
            _busy: busy,
        };
        if owned.is_none() {
            // The holder's earlier statements decide whether a transaction is open.
            let settled = async {
                loop {
                    let notified = pool.inner.changed.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    if hold.conn().state().in_flight <= 2 {
                        return;
                    }
                    notified.await;
                }
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), settled).await;
        }
        if savepoint && !hold.conn().state().status.is_idle() {
            let name = format!("pgwarp_stream_{tag}");
            if let Err(e) = query::execute_in_turn(hold.conn(), &format!("SAVEPOINT {name}")).await
            {
                hold.end(Outcome::Failed).await;
                return Err(e);
            }
            hold.savepoint = Some(name);
        }
        Ok(hold)
    }

    /// The held connection.
    pub(super) fn conn(&self) -> &Arc<Connection> {
        &self.lease.conn
    }

    /// Whether the connection is the caller's reservation (not one the engine took for this).
    pub(super) fn is_callers(&self) -> bool {
        self.owned.is_none()
    }

    /// Ends work that ran to its end or failed: the savepoint is released (or left to the
    /// aborted transaction), and an engine-reserved connection goes back.
    pub(super) async fn end(self, outcome: Outcome) {
        if let (Some(name), Outcome::Completed) = (&self.savepoint, outcome) {
            let _ = query::execute_in_turn(self.conn(), &format!("RELEASE SAVEPOINT {name}")).await;
        }
        self.give_back().await;
    }

    /// Ends work the consumer stopped early: the statement is cancelled on the server (unless
    /// its whole answer is here already) and what is left of it read and dropped, then the
    /// savepoint is rolled back to (the transaction goes on), and the connection goes back.
    /// Only when the server did not confirm the cancel, and the statement ended on its own,
    /// could the cancel still hit a later statement: then the connection is closed instead
    /// (and the transaction, if any, with it).
    async fn stop(self, source: Source) {
        let conn = self.conn().clone();
        let clean = match source {
            Source::Rows(p) => p.stop().await,
            Source::Copy(p) => p.stop(&conn).await,
        };
        if !clean {
            conn.spoil();
            self.give_back().await;
            return;
        }
        if let Some(name) = &self.savepoint {
            let sql = format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}");
            if query::execute_in_turn(&conn, &sql).await.is_err() {
                conn.spoil();
            }
        }
        self.give_back().await;
    }

    async fn give_back(self) {
        drop(self.lease);
        if let Some(id) = self.owned {
            let _ = self.pool.release(id).await;
        }
    }
}

/// Where held work's pages come from.
enum Source {
    Rows(Box<Pager>),
    Copy(CopyPager),
}

impl Source {
    async fn next(&mut self) -> (Vec<u8>, bool) {
        match self {
            Source::Rows(p) => p.next().await,
            Source::Copy(p) => p.next().await,
        }
    }
}

fn outcome_of(last_page: &[u8]) -> Outcome {
    if last_page.first() == Some(&layout::STATUS_ERROR) {
        Outcome::Failed
    } else {
        Outcome::Completed
    }
}

impl Pool {
    /// Starts a `Stream` or `CopyOut` on a held connection and returns its first page; a task
    /// sends the rest as JavaScript asks for them.
    pub(super) async fn start_held(
        &self,
        sql: &str,
        values: &[Value<'_>],
        mode: Mode,
        conn: u32,
        batch_rows: u32,
        run: query::Run,
    ) -> Result<Vec<u8>, Error> {
        let cursor = self.new_cursor();
        let hold = Hold::take(self, conn, cursor, true).await?;
        let started = match mode {
            Mode::CopyOut if !values.is_empty() => Err(Error::Parameter(
                "copyOut() takes no parameters: COPY cannot use them".into(),
            )),
            Mode::CopyOut => {
                if hold.is_callers() {
                    // A COPY's query can call functions, which can change the session.
                    hold.conn().note(None);
                }
                copy_out::start(hold.conn(), sql)
                    .await
                    .map(|s| Source::Copy(CopyPager::new(s, cursor)))
            }
            _ => {
                let limits = Limits {
                    batch_rows,
                    ..Limits::default()
                };
                let caller = if conn == 0 || run.autocommit {
                    Caller::Engine
                } else {
                    Caller::Holder
                };
                if !run.prepare {
                    // Look the column types up first, so the rows need not be read ahead
                    // of a type lookup (see `Started::describe`): a stream stays a stream.
                    let _ = hold.conn().describe_unnamed(sql).await;
                }
                query::start(hold.conn(), sql, values, run, caller)
                    .await
                    .map(|s| Source::Rows(Box::new(Pager::new(s, cursor, limits))))
            }
        };
        let mut source = match started {
            Ok(source) => source,
            Err(e) => {
                hold.end(Outcome::Failed).await;
                return Err(e);
            }
        };
        let (first, last) = source.next().await;
        if last {
            drop(source);
            hold.end(outcome_of(&first)).await;
            return Ok(first);
        }
        let (pages, rx) = mpsc::channel(PAGES_AHEAD);
        let (stop_tx, stop) = oneshot::channel();
        lock(&self.inner.cursors).insert(cursor, rx);
        lock(&self.inner.stops).insert(cursor, (hold.conn().id(), stop_tx));
        // A release waiting for this connection stops it rather than wait (`Pool::quiet`).
        self.inner.changed.notify_waiters();
        tokio::spawn(self.clone().pump_held(cursor, source, hold, pages, stop));
        Ok(first)
    }

    /// Sends pages until the last, or until JavaScript stops reading.
    async fn pump_held(
        self,
        cursor: u32,
        mut source: Source,
        hold: Hold,
        pages: mpsc::Sender<Vec<u8>>,
        mut stop: oneshot::Receiver<StopReply>,
    ) {
        let mut reply = None;
        loop {
            let next = tokio::select! {
                biased;
                r = &mut stop => Err(r.ok()),
                page = source.next() => Ok(page),
            };
            let (page, last) = match next {
                Ok(page) => page,
                Err(r) => {
                    reply = r;
                    break;
                }
            };
            if last {
                // The connection goes back before JavaScript sees the end.
                drop(source);
                hold.end(outcome_of(&page)).await;
                let _ = pages.send(page).await;
                // The last page may still wait in the channel for JavaScript: keep it.
                self.stopped(cursor, stop, None, false);
                return;
            }
            let sent = tokio::select! {
                biased;
                r = &mut stop => Err(r.ok()),
                sent = pages.send(page) => Ok(sent.is_ok()),
            };
            match sent {
                Ok(true) => {}
                Ok(false) => break,
                Err(r) => {
                    reply = r;
                    break;
                }
            }
        }
        hold.stop(source).await;
        self.stopped(cursor, stop, reply, true);
    }

    /// Forgets a finished cursor and answers whoever asked it to stop.
    fn stopped(
        &self,
        cursor: u32,
        mut stop: oneshot::Receiver<StopReply>,
        reply: Option<StopReply>,
        forget_pages: bool,
    ) {
        lock(&self.inner.stops).remove(&cursor);
        if forget_pages {
            lock(&self.inner.cursors).remove(&cursor);
        }
        if let Some(r) = reply.or_else(|| stop.try_recv().ok()) {
            let _ = r.send(());
        }
    }

    /// Stops held work early (`break` in a stream, a destroyed copyOut); answers once its
    /// connection is clean. Stopping finished work is a no-op.
    pub async fn stop(&self, cursor: u32) -> Vec<u8> {
        self.stop_held(cursor).await;
        value_buffer(0)
    }

    /// Stops held work on connection `conn` (its holder released it with a stream or a
    /// cursor still open); whether there was any.
    pub(super) async fn stop_held_on(&self, conn: u32) -> bool {
        let cursors: Vec<u32> = lock(&self.inner.stops)
            .iter()
            .filter(|(_, (c, _))| *c == conn)
            .map(|(cursor, _)| *cursor)
            .collect();
        for cursor in &cursors {
            self.stop_held(*cursor).await;
        }
        !cursors.is_empty()
    }

    async fn stop_held(&self, cursor: u32) {
        let signal = lock(&self.inner.stops).remove(&cursor).map(|(_, s)| s);
        let wait = signal.and_then(|s| {
            let (tx, rx) = oneshot::channel();
            s.send(tx).ok().map(|_| rx)
        });
        lock(&self.inner.cursors).remove(&cursor);
        if let Some(rx) = wait {
            let _ = rx.await;
        }
    }
}
