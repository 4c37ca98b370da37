//! A shard: an OS thread running a single-threaded tokio runtime that owns its pool's
//! connections. Commands arrive over a channel; results go to the shared completions.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::completions::Completions;
use super::tickets::{Runner, Tickets};
use crate::error::Error;
use crate::pool::{panic_error, CopyInput, Pool};
use crate::query::{Limits, QueryMode};
use crate::result::layout::{error_buffer, value_buffer};

/// Work for a shard.
pub enum Command {
    /// Run a statement (on reserved connection `conn` unless it is 0).
    Query {
        id: u32,
        sql: Arc<str>,
        params: Vec<u8>,
        mode: QueryMode,
        conn: u32,
        key: u32,
        limits: Limits,
    },
    /// The next page of a paged result.
    Next { id: u32, cursor: u32 },
    /// Abandon a paged result.
    DropResult { cursor: u32 },
    /// Stop held work early.
    Stop { id: u32, cursor: u32 },
    /// Input for a copy in progress.
    Copy {
        id: u32,
        copy: u32,
        input: CopyInput,
    },
    /// Internal: a copy's answer to wait for (inputs are queued in arrival order by the
    /// shard's loop itself, not by tasks that could run out of order).
    Answer {
        id: u32,
        answer: oneshot::Receiver<Vec<u8>>,
    },
    /// Lend a connection (and with `session` 1 or 2, say which backend it is).
    Reserve { id: u32, session: u32 },
    /// Lend a connection to the requests that name `ticket` (see `tickets.rs`); no answer.
    Claim { ticket: u32 },
    /// Give a reserved connection back.
    Release { id: u32, conn: u32 },
    /// End the transaction on a reserved connection and give it back.
    End { id: u32, conn: u32, commit: bool },
    /// Run a script on a reserved connection; with `rows`, its answer keeps the rows.
    Exec {
        id: u32,
        conn: u32,
        sql: String,
        rows: bool,
    },
    /// Cancel the statements of one call (by its key) on a reserved connection.
    CancelStatements { id: u32, conn: u32, key: u32 },
    /// The parameter types of a statement.
    Describe { id: u32, conn: u32, sql: String },
    /// Send `EVENT_LOST` once a reserved connection is gone.
    Watch { conn: u32 },
    /// Close the pool.
    Close {
        timeout: Option<Duration>,
        done: oneshot::Sender<()>,
    },
}

/// The handle the engine keeps to a shard.
pub struct Shard {
    tx: mpsc::UnboundedSender<Command>,
    pool: Pool,
    load: Arc<AtomicUsize>,
}

impl Shard {
    /// Starts the shard's thread.
    pub fn start(
        index: u8,
        pool: Pool,
        completions: Arc<Completions>,
        spin: Duration,
        batch: bool,
    ) -> Result<Shard, Error> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Command>();
        let load = Arc::new(AtomicUsize::new(0));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start engine runtime: {e}")))?;
        let (p, l) = (pool.clone(), load.clone());
        std::thread::Builder::new()
            .name(format!("pgwarp-shard-{index}"))
            .spawn(move || {
                if batch {
                    super::threads::prefer_batch();
                }
                runtime.block_on(async move {
                    let maintenance = tokio::spawn({
                        let p = p.clone();
                        async move {
                            let mut tick = tokio::time::interval(p.maintain_every());
                            loop {
                                tick.tick().await;
                                p.maintain().await;
                            }
                        }
                    });
                    let active = Arc::new(Activity::default());
                    let spinner = (!spin.is_zero())
                        .then(|| tokio::spawn(spin_while_idle(active.clone(), l.clone(), spin)));
                    let runner = Runner {
                        pool: p.clone(),
                        completions: completions.clone(),
                        load: l.clone(),
                    };
                    let tickets = Tickets::default();
                    let dispatch = |cmd: Command| {
                        let cmd = match cmd {
                            Command::Copy { id, copy, input } => Command::Answer {
                                id,
                                answer: p.copy_send(copy, input),
                            },
                            Command::Claim { ticket } => return tickets.claim(ticket, &runner),
                            other => other,
                        };
                        if let Some(cmd) = tickets.route(cmd, &runner) {
                            runner.spawn(cmd);
                        }
                    };
                    while let Some(cmd) = rx.recv().await {
                        active.touch();
                        let Command::Close { timeout, done } = cmd else {
                            dispatch(cmd);
                            continue;
                        };
                        maintenance.abort();
                        if let Some(s) = &spinner {
                            s.abort();
                        }
                        let closing = p.clone();
                        let mut closed = tokio::spawn(async move {
                            closing.close(timeout).await;
                            let _ = done.send(());
                        });
                        // What comes while the pool closes still runs: above all the
                        // releases the close waits for (new work is refused as closed).
                        let mut also_done = Vec::new();
                        loop {
                            tokio::select! {
                                _ = &mut closed => break,
                                next = rx.recv() => match next {
                                    Some(Command::Close { done, .. }) => also_done.push(done),
                                    Some(cmd) => dispatch(cmd),
                                    None => {
                                        let _ = (&mut closed).await;
                                        break;
                                    }
                                },
                            }
                        }
                        for done in also_done {
                            let _ = done.send(());
                        }
                        break;
                    }
                });
            })
            .map_err(|e| Error::Internal(format!("cannot start engine thread: {e}")))?;
        Ok(Shard { tx, pool, load })
    }

    /// Hands a command to the shard; if the shard is gone, answers with an error at once.
    pub fn send(&self, cmd: Command, completions: &Completions) {
        self.load.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(cmd)) = self.tx.send(cmd) {
            self.load.fetch_sub(1, Ordering::Relaxed);
            if let Some(id) = command_id(&cmd) {
                completions.push(id, &error_buffer(&Error::Closed));
            }
        }
    }

    /// Asks the shard to close; resolves when it has.
    pub fn close(&self, timeout: Option<Duration>) -> oneshot::Receiver<()> {
        let (done, wait) = oneshot::channel();
        let _ = self.tx.send(Command::Close { timeout, done });
        wait
    }

    /// The shard's pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Commands in progress, for load balancing.
    pub fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }
}

/// When the shard last received work, and a way to restart the spinner after it rested.
#[derive(Default)]
struct Activity {
    at: std::sync::Mutex<Option<std::time::Instant>>,
    resume: tokio::sync::Notify,
}

impl Activity {
    fn touch(&self) {
        *crate::sync::lock(&self.at) = Some(std::time::Instant::now());
        self.resume.notify_one();
    }

    fn recent(&self, window: Duration) -> bool {
        crate::sync::lock(&self.at).is_some_and(|t| t.elapsed() < window)
    }
}

/// Keeps the shard's thread busy (yielding, so the scheduler keeps polling the sockets) for
/// `window` after each command, but only while at most one request is in progress: the next
/// request or the server's answer is then seen without the thread parking and being woken
/// across cores. Under load the thread is busy anyway, and spinning would only take CPU from
/// the server (measured in docs/design.md).
async fn spin_while_idle(active: Arc<Activity>, load: Arc<AtomicUsize>, window: Duration) {
    loop {
        while active.recent(window) && load.load(Ordering::Relaxed) <= 1 {
            tokio::task::yield_now().await;
        }
        active.resume.notified().await;
    }
}

/// The request id a command is answered under, if it is answered.
pub(super) fn command_id(cmd: &Command) -> Option<u32> {
    match cmd {
        Command::Query { id, .. }
        | Command::Next { id, .. }
        | Command::Stop { id, .. }
        | Command::Copy { id, .. }
        | Command::Answer { id, .. }
        | Command::Reserve { id, .. }
        | Command::Release { id, .. }
        | Command::End { id, .. }
        | Command::Exec { id, .. }
        | Command::CancelStatements { id, .. }
        | Command::Describe { id, .. } => Some(*id),
        Command::DropResult { .. }
        | Command::Close { .. }
        | Command::Watch { .. }
        | Command::Claim { .. } => None,
    }
}

/// Runs one command and answers it.
pub(super) async fn run(
    pool: Pool,
    completions: Arc<Completions>,
    load: Arc<AtomicUsize>,
    cmd: Command,
) {
    let id = command_id(&cmd);
    let work = async {
        match cmd {
            Command::Query {
                sql,
                params,
                mode,
                conn,
                key,
                limits,
                ..
            } => Some(pool.query(&sql, &params, mode, conn, limits, key).await),
            Command::Next { cursor, .. } => Some(pool.next_page(cursor).await),
            Command::Stop { cursor, .. } => Some(pool.stop(cursor).await),
            Command::Answer { answer, .. } => Some(answer.await.unwrap_or_else(|_| {
                error_buffer(&Error::Internal("the copy ended without answering".into()))
            })),
            // Turned into `Answer` by the shard's loop.
            Command::Copy { .. } => None,
            Command::DropResult { cursor } => {
                pool.drop_result(cursor);
                None
            }
            Command::Reserve { session, .. } => Some(match pool.reserve().await {
                Ok(conn) if session > 0 => match pool.session_buffer(conn, session == 2) {
                    Ok(buf) => buf,
                    // Not answered with an id, so JavaScript could never give it back.
                    Err(e) => {
                        let _ = pool.release(conn).await;
                        error_buffer(&e)
                    }
                },
                Ok(conn) => value_buffer(conn),
                Err(e) => error_buffer(&e),
            }),
            Command::Release { conn, .. } => Some(match pool.release(conn).await {
                Ok(()) => value_buffer(0),
                Err(e) => error_buffer(&e),
            }),
            Command::End { conn, commit, .. } => Some(match pool.end(conn, commit).await {
                Ok(page) => page,
                Err(e) => error_buffer(&e),
            }),
            Command::Exec {
                conn, sql, rows, ..
            } => Some(match pool.exec(conn, &sql, rows).await {
                Ok(page) => page,
                Err(e) => error_buffer(&e),
            }),
            Command::Describe { conn, sql, .. } => {
                Some(match pool.describe_params(conn, &sql).await {
                    Ok(page) => page,
                    Err(e) => error_buffer(&e),
                })
            }
            Command::CancelStatements { conn, key, .. } => {
                Some(value_buffer(u32::from(pool.interrupt(conn, key).await)))
            }
            Command::Watch { conn } => {
                let lost = super::event(super::EVENT_LOST, conn);
                match pool.ending_of(conn) {
                    // On its own: a watch lasts as long as the connection, and must not
                    // count as load.
                    Ok(ending) => {
                        let completions = completions.clone();
                        tokio::spawn(async move {
                            ending.wait().await;
                            completions.push(super::EVENT_ID, &lost);
                        });
                    }
                    Err(_) => completions.push(super::EVENT_ID, &lost),
                }
                None
            }
            Command::Close { .. } | Command::Claim { .. } => None,
        }
    };
    // Every request must complete, or its promise would never settle: a panic becomes an
    // error result.
    let out = match AssertUnwindSafe(work).catch_unwind().await {
        Ok(out) => out,
        Err(panic) => Some(error_buffer(&panic_error(panic))),
    };
    load.fetch_sub(1, Ordering::Relaxed);
    // Id 0 asks for no answer (a release JavaScript does not wait for): 0 names events.
    if let (Some(id), Some(out)) = (id.filter(|&id| id != super::EVENT_ID), out) {
        completions.push_owned(id, out);
    }
}
