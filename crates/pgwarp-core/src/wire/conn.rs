//! The task that owns one socket: it writes requests in the order they were sent, reads the
//! server's messages, and hands each request the messages up to and including the
//! ReadyForQuery that ends it. Many requests may be in flight (pipelining); the server answers
//! them in order, so the answers go to the queue of waiting pipes front to back.
//!
//! Requests queued in one tick go out in one write. The ReadyForQuery status byte of every
//! answer is kept, so the connection's transaction state is always what the server last said.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use postgres_protocol::message::backend::{self, Header, Message};
use postgres_protocol::message::frontend;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, Notify};

use super::pipe::{Lost, Pipe, Poison, Responses};
use super::server_error::ServerError;
use super::socket::{Socket, Target};
use crate::connection::lock;

/// Bytes of requests buffered for writing before the task stops taking more from the queue.
const WRITE_HIGH: usize = 1024 * 1024;
/// Smallest read: large enough that a burst of small answers is one system call.
const READ_CHUNK: usize = 32 * 1024;

/// `I`: idle, outside a transaction.
pub const IDLE: u8 = b'I';
/// `T`: inside a transaction block.
pub const IN_TRANSACTION: u8 = b'T';
/// `E`: inside a failed transaction block (only ROLLBACK will be accepted).
pub const FAILED: u8 = b'E';

/// A message the server sent on its own (between or inside answers).
pub enum Unsolicited {
    /// A NoticeResponse (`RAISE NOTICE`, warnings).
    Notice(ServerError),
    /// A NotificationResponse (`NOTIFY` on a channel this session listens to).
    Notification {
        /// The notifying backend's process id.
        process_id: i32,
        /// The channel.
        channel: String,
        /// The payload.
        payload: String,
    },
}

/// Receives what the server sends on its own.
pub type UnsolicitedSink = Arc<dyn Fn(Unsolicited) + Send + Sync>;

/// State the task shares with the connection's handle.
pub(super) struct Shared {
    status: AtomicU8,
    closed: AtomicBool,
    reason: Mutex<Option<String>>,
    /// Bytes sent but not yet written to the socket (COPY uses it for backpressure).
    unwritten: AtomicUsize,
    written: Notify,
    parameters: Mutex<HashMap<String, String>>,
    /// ParameterStatus messages received after startup.
    parameter_changes: AtomicU64,
    sink: Mutex<Option<UnsolicitedSink>>,
    /// The connection is shared by autocommit callers: any status but idle poisons it.
    strict: AtomicBool,
    poisoned: AtomicBool,
}

struct Request {
    bytes: BytesMut,
    /// `None` for bytes that continue an earlier request (COPY data).
    pipe: Option<Arc<Pipe>>,
}

/// The handle to a connection's task: sends requests and reads what the server told it.
pub struct Client {
    requests: mpsc::UnboundedSender<Request>,
    shared: Arc<Shared>,
    task: tokio::task::AbortHandle,
    /// Process id and secret key, for CancelRequest.
    pub(super) key: (i32, i32),
    pub(super) target: Target,
}

impl Client {
    /// Starts the task for a socket whose startup is done. `read` holds bytes already read
    /// past the startup's ReadyForQuery.
    pub(super) fn start(
        socket: Socket,
        read: BytesMut,
        startup: super::startup::Startup,
        target: Target,
    ) -> Client {
        let shared = Arc::new(Shared {
            status: AtomicU8::new(startup.status),
            closed: AtomicBool::new(false),
            reason: Mutex::new(None),
            unwritten: AtomicUsize::new(0),
            written: Notify::new(),
            parameters: Mutex::new(startup.parameters),
            parameter_changes: AtomicU64::new(0),
            sink: Mutex::new(None),
            strict: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let task = Task {
            socket,
            requests: rx,
            requests_done: false,
            read,
            write: BytesMut::new(),
            queued: 0,
            written: 0,
            pending: VecDeque::new(),
            shared: shared.clone(),
            terminating: false,
            fatal: None,
        };
        let handle = tokio::spawn(task);
        Client {
            requests: tx,
            shared,
            task: handle.abort_handle(),
            key: (startup.process_id, startup.secret_key),
            target,
        }
    }

    /// Sends one request (whole messages ending in Sync or a simple Query) and returns where
    /// its answer arrives. Fails at once, without sending, when the connection has ended.
    pub fn send(&self, bytes: BytesMut) -> Result<Responses, Lost> {
        let pipe = Pipe::new();
        self.push(Request {
            bytes,
            pipe: Some(pipe.clone()),
        })?;
        Ok(Responses::new(pipe))
    }

    /// Sends bytes that belong to the request in progress (COPY data), with no answer of
    /// their own.
    pub fn send_more(&self, bytes: BytesMut) -> Result<(), Lost> {
        self.push(Request { bytes, pipe: None })
    }

    fn push(&self, request: Request) -> Result<(), Lost> {
        if self.is_closed() {
            return Err(Lost::NotSent(self.close_reason()));
        }
        let n = request.bytes.len();
        self.shared.unwritten.fetch_add(n, Ordering::Relaxed);
        self.requests.send(request).map_err(|_| {
            self.shared.unwritten.fetch_sub(n, Ordering::Relaxed);
            Lost::NotSent(self.close_reason())
        })
    }

    /// Waits until fewer than `limit` bytes wait to be written (COPY backpressure).
    pub async fn writable(&self, limit: usize) {
        loop {
            let notified = self.shared.written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.unwritten.load(Ordering::Relaxed) < limit || self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// The transaction status of the last ReadyForQuery: [`IDLE`], [`IN_TRANSACTION`] or
    /// [`FAILED`].
    pub fn status(&self) -> u8 {
        self.shared.status.load(Ordering::Relaxed)
    }

    /// Whether the connection has ended (or was killed).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Relaxed)
    }

    /// Why the connection ended.
    pub fn close_reason(&self) -> String {
        lock(&self.shared.reason)
            .clone()
            .unwrap_or_else(|| "the connection is closed".into())
    }

    /// A run-time parameter the server reported (`server_version`, `TimeZone`...).
    pub fn parameter(&self, name: &str) -> Option<String> {
        lock(&self.shared.parameters).get(name).cloned()
    }

    /// How many ParameterStatus messages arrived since startup: a change means a reported
    /// setting (`application_name`, `TimeZone`, `search_path`...) was changed in the session.
    pub fn parameter_changes(&self) -> u64 {
        self.shared.parameter_changes.load(Ordering::Relaxed)
    }

    /// Where notices and notifications go (dropped until set).
    pub fn set_unsolicited(&self, sink: Option<UnsolicitedSink>) {
        *lock(&self.shared.sink) = sink;
    }

    /// Marks the connection as shared by autocommit callers (or not, while one caller holds
    /// it). While shared, a ReadyForQuery whose status is not idle poisons it for good: that
    /// answer and every later one say so ([`Responses::poisoned`]), in the order the server
    /// sent them, whichever task reads them first.
    pub fn set_strict(&self, strict: bool) {
        self.shared.strict.store(strict, Ordering::Relaxed);
    }

    /// Whether a ReadyForQuery with a status other than idle arrived while shared.
    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Relaxed)
    }

    /// Closes the socket now; every request still waiting fails.
    pub fn kill(&self) {
        mark_closed(&self.shared, "the connection was closed by the pool");
        self.task.abort();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The task ends on its own once the queue closes and the answers in flight are in
        // (sending Terminate), so a dropped connection still delivers what is on its way.
        self.shared.written.notify_waiters();
    }
}

fn mark_closed(shared: &Shared, reason: &str) {
    let mut r = lock(&shared.reason);
    if r.is_none() {
        *r = Some(reason.to_string());
    }
    shared.closed.store(true, Ordering::Relaxed);
    shared.written.notify_waiters();
}

struct Task {
    socket: Socket,
    requests: mpsc::UnboundedReceiver<Request>,
    requests_done: bool,
    read: BytesMut,
    write: BytesMut,
    /// Bytes ever queued for writing, and ever written: a request whose first byte is past
    /// `written` never reached the server.
    queued: u64,
    written: u64,
    pending: VecDeque<(Arc<Pipe>, u64)>,
    shared: Arc<Shared>,
    terminating: bool,
    /// A FATAL error the server sent before closing (shutdown, `pg_terminate_backend`).
    fatal: Option<String>,
}

impl Future for Task {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.drive(cx) {
            Ok(false) => Poll::Pending,
            Ok(true) => {
                self.fail_all("the connection was closed".into());
                Poll::Ready(())
            }
            Err(reason) => {
                let reason = match self.fatal.take() {
                    Some(fatal) => format!("{reason} ({fatal})"),
                    None => reason,
                };
                self.fail_all(reason);
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.fail_all("the connection was closed by the pool".into());
    }
}

impl Task {
    /// Makes every possible step; `Ok(true)` once the connection ended cleanly.
    fn drive(&mut self, cx: &mut Context<'_>) -> Result<bool, String> {
        loop {
            let mut progress = self.take_requests(cx);
            progress |= self.write_out(cx)?;
            if self.terminating && self.write.is_empty() {
                let _ = Pin::new(&mut self.socket).poll_shutdown(cx);
                return Ok(true);
            }
            let blocked = match self.pending.front() {
                Some((pipe, _)) => pipe.poll_room(cx).is_pending(),
                None => false,
            };
            if !blocked {
                progress |= self.dispatch()?;
                progress |= self.read_in(cx)?;
            }
            if !progress {
                return Ok(false);
            }
        }
    }

    fn take_requests(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while !self.requests_done && self.write.len() < WRITE_HIGH {
            match self.requests.poll_recv(cx) {
                Poll::Ready(Some(req)) => {
                    if let Some(pipe) = req.pipe {
                        self.pending.push_back((pipe, self.queued));
                    }
                    self.queued += req.bytes.len() as u64;
                    self.write.extend_from_slice(&req.bytes);
                    progress = true;
                }
                Poll::Ready(None) => self.requests_done = true,
                Poll::Pending => break,
            }
        }
        if self.requests_done && self.pending.is_empty() && !self.terminating {
            frontend::terminate(&mut self.write);
            self.terminating = true;
            progress = true;
        }
        progress
    }

    fn write_out(&mut self, cx: &mut Context<'_>) -> Result<bool, String> {
        let mut progress = false;
        while !self.write.is_empty() {
            match Pin::new(&mut self.socket).poll_write(cx, &self.write) {
                Poll::Ready(Ok(0)) => return Err("the server closed the connection".into()),
                Poll::Ready(Ok(n)) => {
                    self.write.advance(n);
                    self.written += n as u64;
                    let before = self.shared.unwritten.fetch_sub(n, Ordering::Relaxed);
                    if before.saturating_sub(n) < WRITE_HIGH {
                        self.shared.written.notify_waiters();
                    }
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Err(format!("writing to the server failed: {e}")),
                Poll::Pending => break,
            }
        }
        if progress {
            let _ = Pin::new(&mut self.socket).poll_flush(cx);
        }
        Ok(progress)
    }

    fn read_in(&mut self, cx: &mut Context<'_>) -> Result<bool, String> {
        if self.read.capacity() - self.read.len() < READ_CHUNK / 2 {
            self.read.reserve(READ_CHUNK);
        }
        match tokio_util::io::poll_read_buf(Pin::new(&mut self.socket), cx, &mut self.read) {
            Poll::Ready(Ok(0)) => Err("the server closed the connection".into()),
            Poll::Ready(Ok(_)) => Ok(true),
            Poll::Ready(Err(e)) => Err(format!("reading from the server failed: {e}")),
            Poll::Pending => Ok(false),
        }
    }

    /// Hands the complete messages in the read buffer to their requests.
    fn dispatch(&mut self) -> Result<bool, String> {
        let mut scanned = 0;
        let mut progress = false;
        loop {
            let header = match Header::parse(&self.read[scanned..]) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(format!("protocol error: {e}")),
            };
            let len = header.len() as usize + 1;
            if self.read.len() - scanned < len {
                // A large message: make room for all of it at once.
                self.read.reserve(len - (self.read.len() - scanned));
                break;
            }
            match header.tag() {
                backend::NOTICE_RESPONSE_TAG
                | backend::NOTIFICATION_RESPONSE_TAG
                | backend::PARAMETER_STATUS_TAG => {
                    self.hand_over(scanned, None)?;
                    scanned = 0;
                    let message = self.read.split_to(len);
                    self.unsolicited(message);
                }
                backend::READY_FOR_QUERY_TAG => {
                    let status = self.read[scanned + 5];
                    self.shared.status.store(status, Ordering::Relaxed);
                    let poison = if self.shared.poisoned.load(Ordering::Relaxed) {
                        Poison::ByEarlier
                    } else if status != IDLE && self.shared.strict.load(Ordering::Relaxed) {
                        self.shared.poisoned.store(true, Ordering::Relaxed);
                        Poison::ByThis
                    } else {
                        Poison::Clean
                    };
                    self.hand_over(scanned + len, Some(poison))?;
                    scanned = 0;
                }
                backend::ERROR_RESPONSE_TAG if self.pending.is_empty() => {
                    // Sent before the server closes the connection on its own.
                    let mut message = self.read.split_to(len);
                    if let Ok(Some(Message::ErrorResponse(body))) = Message::parse(&mut message) {
                        if let Ok(e) = ServerError::parse(body.fields()) {
                            self.fatal = Some(format!("{}: {}", e.code(), e.message()));
                        }
                    }
                }
                tag if self.pending.is_empty() => {
                    return Err(format!(
                        "protocol error: message {:?} with no request waiting",
                        tag as char
                    ))
                }
                _ => scanned += len,
            }
            progress = true;
        }
        self.hand_over(scanned, None)?;
        Ok(progress)
    }

    /// Gives the first `n` bytes of the read buffer to the request at the head of the queue;
    /// `end` when they end with its ReadyForQuery, saying whether the connection is poisoned.
    fn hand_over(&mut self, n: usize, end: Option<Poison>) -> Result<(), String> {
        if n == 0 {
            return Ok(());
        }
        let chunk = self.read.split_to(n);
        let Some((pipe, _)) = (if end.is_some() {
            self.pending.pop_front()
        } else {
            self.pending.front().cloned()
        }) else {
            return Err("protocol error: an answer with no request waiting".into());
        };
        pipe.push(chunk, end.is_some(), end.unwrap_or_default());
        Ok(())
    }

    fn unsolicited(&mut self, mut message: BytesMut) {
        let parsed = match Message::parse(&mut message) {
            Ok(Some(m)) => m,
            _ => return,
        };
        let event = match parsed {
            Message::ParameterStatus(body) => {
                if let (Ok(name), Ok(value)) = (body.name(), body.value()) {
                    lock(&self.shared.parameters).insert(name.to_string(), value.to_string());
                    self.shared
                        .parameter_changes
                        .fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Message::NoticeResponse(body) => match ServerError::parse(body.fields()) {
                Ok(e) => Unsolicited::Notice(e),
                Err(_) => return,
            },
            Message::NotificationResponse(body) => Unsolicited::Notification {
                process_id: body.process_id(),
                channel: body.channel().unwrap_or_default().to_string(),
                payload: body.message().unwrap_or_default().to_string(),
            },
            _ => return,
        };
        let sink = lock(&self.shared.sink).clone();
        if let Some(sink) = sink {
            sink(event);
        }
    }

    fn fail_all(&mut self, reason: String) {
        mark_closed(&self.shared, &reason);
        let written = self.written;
        for (pipe, start) in self.pending.drain(..) {
            pipe.fail(if start >= written {
                Lost::NotSent(reason.clone())
            } else {
                Lost::Broken(reason.clone())
            });
        }
        self.requests.close();
        while let Ok(req) = self.requests.try_recv() {
            if let Some(pipe) = req.pipe {
                pipe.fail(Lost::NotSent(reason.clone()));
            }
        }
    }
}
