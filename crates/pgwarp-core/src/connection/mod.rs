//! One server connection as the pool sees it: the pipelining [`wire::Client`], a bounded
//! cache of its prepared statements, the types it has looked up, and what its current holder
//! may have left in the session.

pub(crate) mod session;
pub(crate) mod state;
pub(crate) mod statement_cache;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::connection::session::Marks;
use crate::connection::state::{ServerPart, State, Tracker};
use crate::connection::statement_cache::{Prepared, StatementCache};
use crate::error::Error;
use crate::sync::lock;
use crate::wire::{self, Cancelled, Client, Description, Settings, TypeCache};

/// Connections of one pool that were opened, and that are gone (their socket closed or
/// closing): counted by the connections themselves, so accidents cannot skew them.
#[derive(Debug, Default)]
pub struct Lives {
    /// Connections opened.
    pub created: AtomicU64,
    /// Connections dropped.
    pub destroyed: AtomicU64,
}

/// An open connection shared by the queries pipelined on it.
pub struct Connection {
    /// Unique within the process; its low 8 bits name the shard that owns it.
    id: u32,
    client: Client,
    types: TypeCache,
    /// When the connection should be retired (max lifetime minus jitter).
    retire_at: Option<Instant>,
    /// The pool's `target_session_attrs`, which the server's reported role must keep fitting.
    target: wire::TargetSessionAttrs,
    /// Its host's epoch when it opened: once the host is marked down after that, it retires
    /// when idle (see [`wire::hosts`]).
    host_epoch: u64,
    /// `max_replica_lag` for a connection to a standby of a `standby` or `prefer-standby`
    /// pool: it retires once idle when a check finds its host lagging more.
    max_lag: Option<Duration>,
    /// Last time a query finished on it, for idle timeouts and validation.
    last_used: Mutex<Instant>,
    /// The pool's part of its state (see [`state`]).
    tracker: Tracker,
    /// Statements reach the socket in the order their requests arrived: a statement that must
    /// be prepared first would otherwise be overtaken by a later one already in the cache.
    /// Fair (FIFO), held only until a statement's messages are sent.
    order: tokio::sync::Mutex<()>,
    /// Least recently used statements are closed beyond the bound (deadpool's cache is
    /// unbounded: deadpool-rs/deadpool#281).
    statements: Option<Mutex<StatementCache>>,
    /// Texts run once with the unnamed statement, by hash, oldest first (see `first_use`).
    ran_once: Mutex<std::collections::VecDeque<u64>>,
    next_statement: AtomicU32,
    /// What the current holder's statements may have changed in the session.
    marks: Mutex<Marks>,
    /// Statements that set again what `onConnect` set, after a reset.
    baseline: Mutex<String>,
    lives: Arc<Lives>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.lives.destroyed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Marks a connection as busy with a held stream or COPY while it lives: the holder's other
/// statements would queue behind its rows (or inside its copy data), so they are refused.
pub struct HoldFlag(Arc<Connection>);

impl Drop for HoldFlag {
    fn drop(&mut self) {
        self.0.tracker.unhold();
    }
}

impl Connection {
    /// Opens a connection; its I/O task runs on the current runtime.
    pub async fn open(
        settings: &Settings,
        statement_cache_size: usize,
        id: u32,
        lifetime: Option<Duration>,
        lives: Arc<Lives>,
    ) -> Result<Arc<Self>, Error> {
        let client = wire::connect(settings).await?;
        let target = settings.target;
        let host_epoch = client.host().map_or(0, |h| h.epoch());
        lives.created.fetch_add(1, Ordering::Relaxed);
        let opened = Instant::now();
        // Up to 10% jitter, so connections opened together do not all retire together.
        let mut retire_at = lifetime.map(|l| opened + l.mul_f64(1.0 - 0.1 * jitter(id)));
        // A primary taken because every standby lagged: look for a standby again later.
        if client.is_fallback() {
            let back = opened + settings.host_recheck;
            retire_at = Some(retire_at.map_or(back, |t| t.min(back)));
        }
        let max_lag = settings.max_replica_lag.filter(|_| {
            matches!(
                target,
                wire::TargetSessionAttrs::Standby | wire::TargetSessionAttrs::PreferStandby
            )
        });
        Ok(Arc::new(Connection {
            id,
            client,
            types: TypeCache::default(),
            retire_at,
            target,
            host_epoch,
            max_lag,
            last_used: Mutex::new(opened),
            tracker: Tracker::default(),
            order: tokio::sync::Mutex::new(()),
            statements: StatementCache::new(statement_cache_size).map(Mutex::new),
            ran_once: Mutex::new(std::collections::VecDeque::new()),
            next_statement: AtomicU32::new(1),
            marks: Mutex::new(Marks::default()),
            baseline: Mutex::new(String::new()),
            lives,
        }))
    }

    /// The connection's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether it has outlived its lifetime, or its server reported a role that no longer
    /// fits the pool's `target_session_attrs` (a primary demoted to read-only, a standby
    /// promoted): the next connection opened finds a host that fits.
    /// Also when its host was marked down since it opened, or a check found the host's role
    /// changed (see [`wire::hosts`]).
    pub fn should_retire(&self, now: Instant) -> bool {
        if self.retire_at.is_some_and(|t| now >= t) {
            return true;
        }
        let Some(host) = self.client.host() else {
            return false;
        };
        if host.epoch() != self.host_epoch {
            return true;
        }
        if let Some(max) = self.max_lag {
            if host.role() == wire::hosts::Role::Standby && host.lag().is_some_and(|l| l > max) {
                return true;
            }
        }
        // What this session reported is its own (`default_transaction_read_only` can be set
        // per session), so it retires this connection only; the host's role is learnt at
        // connect and by checks on shared connections.
        if self.client.role_reported() && !self.client.is_fallback() {
            if let Some(role) = wire::target::reported_role(&self.client) {
                return !wire::target::role_fits(self.target, role);
            }
        }
        // A primary taken while every standby lagged does not fit by design (it retires on
        // its own clock).
        let role = host.role();
        !self.client.is_fallback()
            && role != wire::hosts::Role::Unknown
            && !wire::target::role_fits(self.target, role)
    }

    /// How long since a query last finished on it.
    pub fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*lock(&self.last_used))
    }

    pub(crate) fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    /// Cancels the statements of call `key` (0: whatever runs); see [`wire::cancel`] for the
    /// rule that keeps the cancel from reaching anyone else's statement. Resolves once no
    /// cancel for them can arrive any more; a server that does not confirm the cancel in time
    /// loses the connection.
    pub async fn cancel(&self, key: u32) -> Cancelled {
        self.client.cancel(key).await
    }

    /// Stops the statement whose answer `drain` reads to its end, the only one on the
    /// connection: cancels it (unless its whole answer is here already) while draining it.
    /// Whether the connection is usable afterwards.
    pub async fn stop_statement(
        &self,
        answer_complete: bool,
        drain: impl std::future::Future<Output = Drained>,
    ) -> bool {
        let cancel = async {
            if answer_complete {
                Cancelled::Nothing
            } else {
                self.cancel(0).await
            }
        };
        // Together: the cancel waits for the statement's end, which the drain reads.
        let (cancelled, end) = tokio::join!(cancel, async {
            let end = tokio::time::timeout(Duration::from_secs(10), drain)
                .await
                .unwrap_or(Drained::Lost);
            if end == Drained::Lost {
                // The cancel would wait for an end that will not come.
                self.kill();
            }
            end
        });
        end != Drained::Lost && cancelled != Cancelled::Lost
    }

    /// Where it stands now: the server's part as its socket task last recorded it, and the
    /// pool's (see [`state`]).
    pub fn state(&self) -> State {
        self.tracker.read(ServerPart {
            shared: self.client.is_strict(),
            status: self.client.status(),
            cancelling: self.client.is_cancelling(),
            session_over: self.client.is_closed() || self.client.is_poisoned(),
        })
    }

    /// Waits for this request's turn to send on the connection (see `order`).
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.order.lock().await
    }

    /// The protocol client, for running statements.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The types this connection has looked up.
    pub fn types(&self) -> &TypeCache {
        &self.types
    }

    /// Marks the connection as not to be used again; the pool closes it once it is back.
    pub fn spoil(&self) {
        self.tracker.spoil();
    }

    /// Closes the socket at once (a statement left it in a state nobody may inherit).
    pub fn kill(&self) {
        self.spoil();
        self.client.kill();
    }

    /// Shared by autocommit callers (`true`) or held by one (`false`); see
    /// [`Client::set_strict`].
    pub fn set_shared(&self, shared: bool) {
        self.client.set_strict(shared);
    }

    /// Counts statements sent on it (or waiting for their turn) and ended.
    pub(crate) fn add_in_flight(&self, delta: isize) {
        self.tracker.add_in_flight(delta);
    }

    /// Marks the connection busy with a stream or COPY; `None` if it already is.
    pub fn hold(self: &Arc<Self>) -> Option<HoldFlag> {
        self.tracker.hold().then(|| HoldFlag(self.clone()))
    }

    /// Refuses a statement while a stream or COPY of the holder is in progress.
    pub fn check_not_held(&self) -> Result<(), Error> {
        if self.state().held {
            return Err(Error::Parameter(
                "a stream() or COPY on this connection has not finished: a statement sent now \
                 would wait behind all of its rows (forever, if it is awaited inside the loop). \
                 Finish or break the stream (or end the COPY) first, or run it on the pool"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Follows a statement the holder ran: its tag, or `None` if it failed. A dropped set of
    /// server statements empties the cache at once, so nothing uses a name that is gone.
    pub fn note(&self, tag: Option<&str>) {
        let mut marks = lock(&self.marks);
        marks.note(tag);
        if marks.statements_dropped {
            marks.statements_dropped = false;
            drop(marks);
            self.forget_all();
        }
    }

    /// What the holder's statements may have changed, and forgets it (for the next holder).
    pub fn take_marks(&self) -> Marks {
        std::mem::take(&mut *lock(&self.marks))
    }

    /// Statements that set again what `onConnect` set.
    pub fn baseline(&self) -> String {
        lock(&self.baseline).clone()
    }

    /// Keeps what `onConnect` set, to set it again after a reset.
    pub fn set_baseline(&self, sql: String) {
        *lock(&self.baseline) = sql;
    }

    /// The prepared statement for `sql`, preparing it on first use; evicted statements are
    /// closed on the server. Call it in the connection's turn. When the second value is false
    /// the statement is not kept, and the caller closes it after its one use.
    pub async fn prepare(&self, sql: &str) -> Result<(Arc<Prepared>, bool), Error> {
        if let Some(cache) = &self.statements {
            if let Some(p) = lock(cache).get(sql) {
                return Ok((p, true));
            }
        }
        let name = format!(
            "pgwarp_{}",
            self.next_statement.fetch_add(1, Ordering::Relaxed)
        );
        // Boxed: a first prepare (with its type lookups) is rare; its state should not weigh
        // on every query's future.
        let description = Box::pin(self.client.prepare(&name, sql, &self.types)).await?;
        let prepared = Arc::new(Prepared { name, description });
        let kept = match &self.statements {
            Some(cache) if sql.len() <= crate::connection::statement_cache::MAX_CACHED_TEXT => {
                let evicted = lock(cache).put(sql, prepared.clone());
                for old in evicted {
                    self.client.close_statement(&old.name);
                }
                true
            }
            _ => false,
        };
        Ok((prepared, kept))
    }

    /// Whether `sql` runs for the first time here (not cached, not run before): remembers it,
    /// for as many texts as the statement cache holds.
    pub fn first_use(&self, sql: &str) -> bool {
        let Some(cache) = &self.statements else {
            return false;
        };
        let bound = {
            let cache = lock(cache);
            if cache.contains(sql) {
                return false;
            }
            cache.capacity()
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(sql, &mut h);
        let key = std::hash::Hasher::finish(&h);
        let mut seen = lock(&self.ran_once);
        if seen.contains(&key) {
            return false;
        }
        if seen.len() >= bound.max(1) {
            seen.pop_front();
        }
        seen.push_back(key);
        true
    }

    /// Describes `sql` without keeping a statement (the unnamed one), for `prepare: false`.
    pub async fn describe_unnamed(&self, sql: &str) -> Result<Description, Error> {
        self.client.prepare("", sql, &self.types).await
    }

    /// Drops a cached statement, e.g. after the server says its plan went stale.
    pub fn forget(&self, sql: &str) {
        if let Some(cache) = &self.statements {
            if let Some(old) = lock(cache).pop(sql) {
                self.client.close_statement(&old.name);
            }
        }
    }

    /// Drops every cached statement and looked-up type (the server dropped them).
    pub fn forget_all(&self) {
        if let Some(cache) = &self.statements {
            let old = lock(cache).clear();
            for p in old {
                // Closing a name the server no longer has is not an error.
                self.client.close_statement(&p.name);
            }
        }
        self.types.clear();
    }
}

/// How a statement that was being stopped ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// With the cancel's error (57014): the cancel was used up.
    Cancelled,
    /// On its own (completed, or failed with another error).
    Finished,
    /// Its connection was lost, or it took too long.
    Lost,
}

impl Drained {
    /// How an answer read to its end ended, from its last result.
    pub fn of<T>(end: Result<T, Error>) -> Drained {
        match end {
            Ok(_) => Drained::Finished,
            Err(e) if e.sqlstate() == Some("57014") => Drained::Cancelled,
            Err(Error::Connection { .. }) => Drained::Lost,
            Err(_) => Drained::Finished,
        }
    }
}

/// A number in [0, 1) from an id, spread evenly (Fibonacci hashing).
fn jitter(id: u32) -> f64 {
    (id.wrapping_mul(0x9E37_79B9) as f64) / (u32::MAX as f64 + 1.0)
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A fresh connection id for a shard (the shard index is kept in the low 8 bits). The top
/// bit stays clear: it marks a reservation's ticket (`engine::tickets`).
pub fn next_id(shard: u8) -> u32 {
    loop {
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed) & 0x7F_FFFF;
        // 0 with shard 0 would be "any pooled connection".
        if n != 0 {
            return (n << 8) | shard as u32;
        }
    }
}
