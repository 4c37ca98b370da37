//! The handle to one connection: requests go to its socket's task ([`super::task`]) in the
//! order they are sent, many in flight at once (pipelining), and come back as [`Responses`].
//! The ReadyForQuery status byte of every answer is kept, so the connection's transaction
//! state is always what the server last said.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use tokio::sync::{mpsc, Notify};

use super::hosts::HostEntry;
use super::pipe::{Lost, Pipe, Responses};
use super::socket::{Socket, Target};
use super::task::{mark_closed, Kind, Request, SessionState, Task, UnsolicitedSink};
use crate::sync::lock;

/// The handle to a connection's task: sends requests and reads what the server told it.
pub struct Client {
    requests: mpsc::UnboundedSender<Request>,
    pub(super) state: Arc<SessionState>,
    task: tokio::task::AbortHandle,
    /// Process id and secret key, for CancelRequest.
    pub(super) key: (i32, i32),
    pub(super) target: Target,
    /// The TLS the session runs on (and its host), which its CancelRequests use too.
    pub(super) tls: Option<(super::tls::Tls, String)>,
    /// A primary taken by a `standby` pool because every standby lagged too much.
    fallback: bool,
    /// See [`Client::host_index`].
    host_index: u8,
}

impl Client {
    /// Starts the task for a socket whose startup is done. `read` holds bytes already read
    /// past the startup's ReadyForQuery.
    pub(super) fn start(
        socket: Socket,
        read: BytesMut,
        startup: super::auth::Startup,
        target: Target,
        tls: Option<(super::tls::Tls, String)>,
    ) -> Client {
        let state = Arc::new(SessionState {
            status: AtomicU8::new(startup.status),
            closed: AtomicBool::new(false),
            reason: Mutex::new(None),
            unwritten: AtomicUsize::new(0),
            written: Notify::new(),
            parameters: Mutex::new(startup.parameters),
            role_reported: AtomicBool::new(false),
            sink: Mutex::new(None),
            strict: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            ended_notify: Notify::new(),
            fence: Default::default(),
            host: Default::default(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = tokio::spawn(Task::new(socket, rx, read, state.clone()));
        Client {
            requests: tx,
            state,
            task: handle.abort_handle(),
            key: (startup.process_id, startup.secret_key),
            target,
            tls,
            fallback: false,
            host_index: 0,
        }
    }

    /// Sends one request (whole messages ending in Sync or a simple Query) and returns where
    /// its answer arrives. Fails at once, without sending, when the connection has ended.
    pub fn send(&self, bytes: BytesMut) -> Result<Responses, Lost> {
        self.send_keyed(bytes, 0)
    }

    /// Sends one request of a call that can be cancelled by its `key` ([`Client::cancel`]):
    /// it reaches the server only while nothing of another key is on the wire, and nothing of
    /// another key follows it there until its answer has ended. A request whose key was
    /// cancelled before it was written is never written; it fails with [`Lost::NotSent`].
    pub fn send_keyed(&self, bytes: BytesMut, key: u32) -> Result<Responses, Lost> {
        let kind = if bytes.first() == Some(&b'Q') {
            Kind::Simple
        } else {
            Kind::Extended
        };
        self.send_kind(bytes, kind, key)
    }

    /// Sends a simple Query that starts a `COPY ... FROM STDIN`: until its answer ends, the
    /// connection writes only its data ([`Client::send_more`]); other requests wait.
    pub fn send_copy_in(&self, bytes: BytesMut) -> Result<Responses, Lost> {
        self.send_kind(bytes, Kind::CopyIn, 0)
    }

    fn send_kind(&self, bytes: BytesMut, kind: Kind, key: u32) -> Result<Responses, Lost> {
        let pipe = Pipe::new();
        self.push(Request {
            bytes,
            pipe: Some(pipe.clone()),
            kind,
            key,
        })?;
        Ok(Responses::new(pipe))
    }

    /// Sends a session reset (a simple Query) whose answer nobody needs to wait for before
    /// sending more: statements of the connection's next holder may follow it on the wire at
    /// once, since a reset that fails closes the connection before any answer behind it is
    /// handed over, so nobody runs on (or reads from) a session left as it was.
    ///
    /// Send it only when no answer is outstanding. The status then reads idle at once: the
    /// server says so at the reset's end (it ends any transaction), or the connection closes.
    pub fn send_reset(&self, bytes: BytesMut) -> Result<Responses, Lost> {
        let answer = self.send_kind(bytes, Kind::Reset, 0)?;
        self.state
            .status
            .store(super::status::IDLE, Ordering::Relaxed);
        Ok(answer)
    }

    /// Sends bytes that belong to the request in progress (COPY data), with no answer of
    /// their own.
    pub fn send_more(&self, bytes: BytesMut) -> Result<(), Lost> {
        self.push(Request {
            bytes,
            pipe: None,
            kind: Kind::Extended,
            key: 0,
        })
    }

    /// Makes the task look at its state again (a cancel ended): an empty request, which
    /// writes nothing.
    pub(super) fn wake(&self) {
        let _ = self.push(Request {
            bytes: BytesMut::new(),
            pipe: None,
            kind: Kind::Extended,
            key: 0,
        });
    }

    fn push(&self, request: Request) -> Result<(), Lost> {
        if self.is_closed() {
            return Err(Lost::NotSent(self.close_reason()));
        }
        let n = request.bytes.len();
        self.state.unwritten.fetch_add(n, Ordering::Relaxed);
        self.requests.send(request).map_err(|_| {
            self.state.unwritten.fetch_sub(n, Ordering::Relaxed);
            Lost::NotSent(self.close_reason())
        })
    }

    /// Waits until fewer than `limit` bytes wait to be written (COPY backpressure).
    pub async fn writable(&self, limit: usize) {
        loop {
            let notified = self.state.written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state.unwritten.load(Ordering::Relaxed) < limit || self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// The transaction status of the last ReadyForQuery.
    pub fn status(&self) -> super::TxStatus {
        super::TxStatus::from_byte(self.state.status.load(Ordering::Relaxed))
    }

    /// Whether the connection has ended (or was killed).
    pub fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::Relaxed)
    }

    /// Ties the connection to what is known of its host (see [`super::hosts`]).
    pub(super) fn set_host(
        &mut self,
        host: Arc<HostEntry>,
        recheck: std::time::Duration,
        i: usize,
    ) {
        let _ = self.state.host.set((host, recheck));
        self.host_index = u8::try_from(i + 1).unwrap_or(0);
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Which of the settings' hosts it is connected to, counting from 1 (0: not known).
    pub fn host_index(&self) -> u8 {
        self.host_index
    }

    pub(super) fn set_fallback(&mut self) {
        self.fallback = true;
    }

    /// Whether it is a primary a `standby` pool took because every standby lagged (it retires
    /// after `host_recheck`, to look again).
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// What is known of the host it is connected to.
    pub fn host(&self) -> Option<&Arc<HostEntry>> {
        self.state.host.get().map(|(h, _)| h)
    }

    /// Why the connection ended.
    pub fn close_reason(&self) -> String {
        lock(&self.state.reason)
            .clone()
            .unwrap_or_else(|| "the connection is closed".into())
    }

    /// The backend's process id (from BackendKeyData), as `pg_backend_pid()` gives it.
    pub fn process_id(&self) -> i32 {
        self.key.0
    }

    /// Every run-time parameter the server reported, at startup and since, by name.
    pub fn parameters(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = lock(&self.state.parameters)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_unstable();
        all
    }

    /// Whether the server reported its role's parameters again since startup (see
    /// [`super::target::reported_role`]): a cheap check before the parameters are read.
    pub fn role_reported(&self) -> bool {
        self.state.role_reported.load(Ordering::Relaxed)
    }

    /// A run-time parameter the server reported (`server_version`, `TimeZone`...).
    pub fn parameter(&self, name: &str) -> Option<String> {
        lock(&self.state.parameters).get(name).cloned()
    }

    /// Where notices and notifications go (dropped until set).
    pub fn set_unsolicited(&self, sink: Option<UnsolicitedSink>) {
        *lock(&self.state.sink) = sink;
    }

    /// Marks the connection as shared by autocommit callers (or not, while one caller holds
    /// it). While shared, a ReadyForQuery whose status is not idle poisons it for good: that
    /// answer and every later one say so ([`Responses::poisoned`]), in the order the server
    /// sent them, whichever task reads them first.
    pub fn set_strict(&self, strict: bool) {
        self.state.strict.store(strict, Ordering::Relaxed);
    }

    /// Whether the strict rule is on (the connection is shared; see [`Client::set_strict`]).
    pub fn is_strict(&self) -> bool {
        self.state.strict.load(Ordering::Relaxed)
    }

    /// Whether a ReadyForQuery with a status other than idle arrived while shared.
    pub fn is_poisoned(&self) -> bool {
        self.state.poisoned.load(Ordering::Relaxed)
    }

    /// A handle that tells when this connection's task has ended, even after the handle to
    /// the connection is dropped (which makes the task send Terminate and close).
    pub fn ending(&self) -> Ending {
        Ending(self.state.clone())
    }

    /// Closes the socket now; every request still waiting fails.
    pub fn kill(&self) {
        mark_closed(&self.state, "the connection was closed by the pool");
        self.task.abort();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The task ends on its own once the queue closes and the answers in flight are in
        // (sending Terminate), so a dropped connection still delivers what is on its way.
        self.state.written.notify_waiters();
    }
}

/// See [`Client::ending`].
pub struct Ending(Arc<SessionState>);

impl Ending {
    /// Resolves once the connection's task has ended: Terminate sent and the socket shut
    /// down, or the connection lost.
    pub async fn wait(&self) {
        loop {
            let notified = self.0.ended_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.0.ended.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}
