//! The engine behind one JavaScript pool: shards that own connections, the request batch
//! JavaScript sends once per tick, and the completion batch it drains once per wake-up.
//!
//! No N-API here: the binding gives a `wake` function (a threadsafe function call) and moves
//! the two batches in and out as buffers.

pub mod completions;
pub(crate) mod requests;
pub(crate) mod shard;
pub mod threads;
pub(crate) mod tickets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::PoolOptions;
use crate::error::Error;
use crate::pool::{Pool, PoolStats};
use crate::result::layout::error_buffer;
use crate::sync::lock;

pub use completions::Completions;
use requests::Request;
use shard::Shard;

/// Completions with this request id are events from the engine, not answers.
pub const EVENT_ID: u32 = 0;
/// Event: a new connection waits for `onConnect` (the connection id follows at offset 4).
pub const EVENT_NEW_CONNECTION: u8 = 2;
/// Event: a connection being opened needs a password from JavaScript's password function
/// (the request number follows at offset 4; the answer is a `PASSWORD` request).
pub const EVENT_PASSWORD: u8 = 3;
/// Event: a notice (connection id at offset 4, then an error result holding its fields).
pub const EVENT_NOTICE: u8 = 4;
/// Event: a notification (connection id at 4, then `i32 process id, u32 length, channel,
/// u32 length, payload`).
pub const EVENT_NOTIFICATION: u8 = 5;
/// Event: a watched connection is gone (its id at offset 4).
pub const EVENT_LOST: u8 = 6;
/// A connection's session ended on its own while nothing ran on it (`u32 conn`, then the
/// reason: `u32 length`, text).
pub const EVENT_CLOSED: u8 = 7;

/// Event: a connection opened, or failed to (`u32 conn` (0 when it failed), then `u8 host`
/// (from 1; 0 not known), `u8 tls`, 2 bytes of padding, `u32` microseconds it took, `u32`
/// length and the error's text (empty when it opened)).
pub const EVENT_CONNECTED: u8 = 8;
/// Event: a caller waited for a connection (`u32` microseconds), while waits are observed.
pub const EVENT_WAITED: u8 = 9;

/// The event for what the pool observed.
fn observation_event(o: crate::pool::Observation) -> Vec<u8> {
    let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
    match o {
        crate::pool::Observation::Connected {
            conn,
            host,
            tls,
            took,
            error,
        } => {
            let mut out = event(EVENT_CONNECTED, conn);
            out.extend_from_slice(&[host, u8::from(tls), 0, 0]);
            out.extend_from_slice(&micros(took).to_le_bytes());
            let error = error.unwrap_or_default();
            out.extend_from_slice(&(error.len() as u32).to_le_bytes());
            out.extend_from_slice(error.as_bytes());
            out
        }
        crate::pool::Observation::Waited { took } => event(EVENT_WAITED, micros(took)),
    }
}

/// Where the password function's answer (or its failure's message) goes.
type PasswordReply = tokio::sync::oneshot::Sender<Result<Vec<u8>, String>>;

/// Password requests waiting for JavaScript, by number.
#[derive(Default)]
struct Passwords {
    next: std::sync::atomic::AtomicU32,
    waiting: Mutex<HashMap<u32, PasswordReply>>,
}

/// The event for what a server sent on its own; `None` for notices nobody wants.
fn unsolicited_event(conn: u32, u: crate::wire::Unsolicited, notices: bool) -> Option<Vec<u8>> {
    match u {
        crate::wire::Unsolicited::Notice(e) if notices => {
            let mut out = event(EVENT_NOTICE, conn);
            out.extend_from_slice(&crate::result::layout::error_buffer(&Error::Server(
                Box::new(e),
            )));
            Some(out)
        }
        crate::wire::Unsolicited::Notice(_) => None,
        crate::wire::Unsolicited::Notification {
            process_id,
            channel,
            payload,
        } => {
            let mut out = event(EVENT_NOTIFICATION, conn);
            out.extend_from_slice(&process_id.to_le_bytes());
            for text in [&channel, &payload] {
                out.extend_from_slice(&(text.len() as u32).to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
            Some(out)
        }
        crate::wire::Unsolicited::Closed { reason } => {
            let mut out = event(EVENT_CLOSED, conn);
            out.extend_from_slice(&(reason.len() as u32).to_le_bytes());
            out.extend_from_slice(reason.as_bytes());
            Some(out)
        }
    }
}

pub(crate) fn event(kind: u8, value: u32) -> Vec<u8> {
    let mut out = vec![kind, 0, 0, 0];
    out.extend_from_slice(&value.to_le_bytes());
    out
}

/// One pool's engine.
pub struct Engine {
    shards: Vec<Shard>,
    passwords: Arc<Passwords>,
    /// SQL texts JavaScript has registered by id.
    sql: requests::SqlTexts,
    completions: Arc<Completions>,
    rng: AtomicU64,
    /// The settings every shard's connections open with.
    settings: crate::wire::Settings,
    /// The most connections, over all shards.
    max: usize,
}

impl Engine {
    /// Starts the shards (threads with a single-threaded runtime each). `wake` is called, from
    /// any thread, when completions are waiting and none was signalled yet.
    pub fn new(
        mut options: PoolOptions,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> Result<Engine, Error> {
        let shards = options.shards.clamp(1, 64).min(options.max.max(1));
        let completions = Arc::new(Completions::new(wake));
        let passwords = Arc::new(Passwords::default());
        if options.password_fn {
            let (waiting, events) = (passwords.clone(), completions.clone());
            options.connect.password_fn = Some(crate::wire::PasswordFn(Arc::new(move || {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let n = waiting.next.fetch_add(1, Ordering::Relaxed) + 1;
                lock(&waiting.waiting).insert(n, tx);
                events.push(EVENT_ID, &event(EVENT_PASSWORD, n));
                Box::pin(async move {
                    rx.await
                        .unwrap_or_else(|_| Err("the pool closed before it answered".into()))
                })
            })));
        }
        let split = |total: usize, i: usize| total / shards + usize::from(i < total % shards);
        // Once for every shard: one TLS configuration (and its certificates) per pool.
        let settings = options.connect.to_settings()?;
        let mut started = Vec::with_capacity(shards);
        for i in 0..shards {
            let pool = Pool::new(
                options.clone(),
                settings.clone(),
                i as u8,
                split(options.max.max(1), i),
                split(options.min, i),
            )?;
            let (events, notices) = (completions.clone(), options.notices);
            pool.set_unsolicited(Arc::new(move |conn, u| {
                if let Some(e) = unsolicited_event(conn, u, notices) {
                    events.push(EVENT_ID, &e);
                }
            }));
            let events = completions.clone();
            pool.set_observer(Arc::new(move |o| {
                events.push(EVENT_ID, &observation_event(o));
            }));
            let events = completions.clone();
            pool.set_announce(Arc::new(move |conn| {
                events.push(EVENT_ID, &event(EVENT_NEW_CONNECTION, conn))
            }));
            started.push(Shard::start(
                i as u8,
                pool,
                completions.clone(),
                options.spin,
                options.batch_threads,
            )?);
        }
        Ok(Engine {
            shards: started,
            passwords,
            sql: requests::SqlTexts::default(),
            completions,
            rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            settings,
            max: options.max,
        })
    }

    /// Takes one batch of requests (see [`requests`]) and hands each to its shard.
    pub fn submit(&self, batch: &[u8]) -> Result<(), Error> {
        for request in requests::parse(batch, &self.sql)? {
            match request {
                Request::Work { owner, command } => {
                    let shard = owner.map_or_else(|| self.pick(), |id| self.owner(id));
                    shard.send(command, &self.completions);
                }
                Request::Refused { id, error } => {
                    self.completions.push(id, &error_buffer(&error));
                }
                Request::Password { number, result } => {
                    if let Some(tx) = lock(&self.passwords.waiting).remove(&number) {
                        let _ = tx.send(result);
                    }
                }
                Request::Ready { conn, error } => self
                    .owner(conn)
                    .pool()
                    .connection_ready(conn, error.map_or(Ok(()), Err)),
            }
        }
        Ok(())
    }

    /// The completions so far, as one buffer (see [`completions`]).
    pub fn drain(&self) -> Vec<u8> {
        self.completions.drain()
    }

    /// Numbers per shard.
    pub fn stats(&self) -> Vec<PoolStats> {
        self.shards.iter().map(|s| s.pool().stats()).collect()
    }

    /// The settings the shards' connections open with.
    pub fn settings(&self) -> &crate::wire::Settings {
        &self.settings
    }

    /// Whether waits for a connection are sent as `EVENT_WAITED` (someone traces them).
    pub fn observe_waits(&self, on: bool) {
        for s in &self.shards {
            s.pool().observe_waits(on);
        }
    }

    /// The most connections the pool opens, over all shards.
    pub fn max(&self) -> usize {
        self.max
    }

    /// What is known of each host (shared by the shards).
    pub fn hosts(&self) -> Vec<crate::pool::HostStats> {
        self.shards
            .first()
            .map(|s| s.pool().hosts())
            .unwrap_or_default()
    }

    /// Closes every shard: new work is refused, running work gets `timeout` to finish.
    pub async fn close(&self, timeout: Option<Duration>) {
        let waits: Vec<_> = self.shards.iter().map(|s| s.close(timeout)).collect();
        for w in waits {
            let _ = w.await;
        }
    }

    /// The shard that owns a connection or cursor (its id's low 8 bits).
    fn owner(&self, id: u32) -> &Shard {
        &self.shards[(id & 0xFF) as usize % self.shards.len()]
    }

    /// Power of two choices: of two shards drawn at random, the one with less in flight.
    fn pick(&self) -> &Shard {
        let n = self.shards.len();
        if n == 1 {
            return &self.shards[0];
        }
        // xorshift64: cheap, and good enough to spread load.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::Relaxed);
        let a = &self.shards[(x % n as u64) as usize];
        let b = &self.shards[((x >> 32) % n as u64) as usize];
        if b.load() < a.load() {
            b
        } else {
            a
        }
    }
}
