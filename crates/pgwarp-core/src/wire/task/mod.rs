//! The task that owns one socket: it writes requests in the order they were sent (those queued
//! in one tick in one write), reads the server's messages, and hands each request the
//! messages up to and including the ReadyForQuery that ends it. The server answers requests
//! in order, so answers go to the queue of waiting pipes front to back. Notices,
//! notifications and parameter changes are taken out of the stream on the way.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use postgres_protocol::message::frontend;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use super::pipe::{Lost, Pipe};
use super::socket::Socket;
use crate::sync::lock;

mod answers;
mod state;

pub(super) use state::{mark_closed, SessionState};
pub use state::{Unsolicited, UnsolicitedSink};

/// Bytes for the socket, and where their answer goes.
pub(in crate::wire) struct Request {
    pub(in crate::wire) bytes: BytesMut,
    /// `None` for bytes that continue an earlier request (COPY data).
    pub(in crate::wire) pipe: Option<Arc<Pipe>>,
    pub(in crate::wire) kind: Kind,
    /// The cancel key of the call it belongs to (0: none); see [`super::cancel`].
    pub(in crate::wire) key: u32,
}

/// What kind of request a pipe waits for; it decides what a CopyInResponse means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::wire) enum Kind {
    /// Extended protocol, ending in Sync.
    Extended,
    /// A simple Query.
    Simple,
    /// A simple Query that is a `COPY ... FROM STDIN` whose data follows.
    CopyIn,
    /// A simple Query that puts the session back for its next holder: if it fails, the task
    /// closes the connection, failing whatever was pipelined behind it (see
    /// [`crate::wire::Client::send_reset`]).
    Reset,
}

/// Bytes of requests buffered for writing before the task stops taking more from the queue.
pub(super) const WRITE_HIGH: usize = 1024 * 1024;
/// Smallest read: large enough that a burst of small answers is one system call.
const READ_CHUNK: usize = 32 * 1024;

pub(super) struct Task {
    socket: Socket,
    requests: mpsc::UnboundedReceiver<Request>,
    requests_done: bool,
    read: BytesMut,
    write: BytesMut,
    /// Bytes ever queued for writing, and ever written: a request whose first byte is past
    /// `written` never reached the server.
    queued: u64,
    written: u64,
    pending: VecDeque<Waiting>,
    /// Requests held back, in order: while a COPY FROM STDIN is in progress (in copy mode
    /// the server would take their first message as bad copy data and lose it), while a
    /// cancel is in progress, or while requests of another cancel key are on the wire (see
    /// [`super::cancel`]).
    deferred: VecDeque<Request>,
    /// The cancel key the requests on the wire share (0: none); mirrored in the fence.
    wire_key: u32,
    /// A COPY FROM STDIN request was written and its answer has not ended.
    copying: bool,
    state: Arc<SessionState>,
    terminating: bool,
    /// A FATAL error the server sent before closing (shutdown, `pg_terminate_backend`).
    fatal: Option<String>,
    /// Its SQLSTATE says the server is going away (see `is_outage_code`).
    fatal_outage: bool,
    /// The socket failed or the server closed it (not a protocol error of ours).
    socket_lost: bool,
    /// The session reset at the head of the queue failed, with this message.
    reset_failed: Option<String>,
}

/// A request whose answer has not ended.
struct Waiting {
    pipe: Arc<Pipe>,
    /// Where its bytes start in the stream written (see `queued`).
    start: u64,
    kind: Kind,
    /// It already received a CopyInResponse.
    copy_started: bool,
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
                // A lost server, not a fault of this session: the host is tried last for a
                // while and its other connections drained (see `hosts`).
                let outage = self.socket_lost || self.fatal_outage;
                if outage {
                    if let Some((host, recheck)) = self.state.host.get() {
                        host.lost(*recheck, &reason);
                    }
                }
                if self.pending.is_empty() && self.deferred.is_empty() {
                    self.tell(Unsolicited::Closed {
                        reason: reason.clone(),
                    });
                }
                self.fail_all(reason);
                Poll::Ready(())
            }
        }
    }
}

/// SQLSTATEs that say the server (not the session) is going away or unreachable: shutdown
/// (57P01, 57P02), starting up (57P03), and connection exceptions (class 08).
fn is_outage_code(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08")
}

impl Drop for Task {
    fn drop(&mut self) {
        self.fail_all("the connection was closed by the pool".into());
        self.state
            .ended
            .store(true, std::sync::atomic::Ordering::Release);
        self.state.ended_notify.notify_waiters();
    }
}

impl Task {
    pub(super) fn new(
        socket: Socket,
        requests: mpsc::UnboundedReceiver<Request>,
        read: BytesMut,
        state: Arc<SessionState>,
    ) -> Task {
        Task {
            socket,
            requests,
            requests_done: false,
            read,
            write: BytesMut::new(),
            queued: 0,
            written: 0,
            pending: VecDeque::new(),
            deferred: VecDeque::new(),
            wire_key: 0,
            copying: false,
            state,
            terminating: false,
            fatal: None,
            fatal_outage: false,
            socket_lost: false,
            reset_failed: None,
        }
    }

    /// Makes every possible step; `Ok(true)` once the connection ended cleanly.
    fn drive(&mut self, cx: &mut Context<'_>) -> Result<bool, String> {
        loop {
            let mut progress = self.take_requests(cx);
            progress |= self.write_out(cx)?;
            if self.terminating && self.write.is_empty() {
                // Over TLS the shutdown sends close_notify, which may have to wait for room.
                return match Pin::new(&mut self.socket).poll_shutdown(cx) {
                    Poll::Pending => Ok(false),
                    Poll::Ready(_) => Ok(true),
                };
            }
            let blocked = match self.pending.front() {
                Some(head) => head.pipe.poll_room(cx).is_pending(),
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
        while self.write.len() < WRITE_HIGH {
            match self.deferred.front() {
                Some(req) if self.may_write(req) => {}
                _ => break,
            }
            if let Some(req) = self.deferred.pop_front() {
                self.queue(req);
            }
            progress = true;
        }
        while !self.requests_done && self.write.len() < WRITE_HIGH {
            match self.requests.poll_recv(cx) {
                Poll::Ready(Some(req)) => {
                    // COPY data (no pipe) belongs to the copy in progress: only a copy that
                    // has started gets to send any, so it never waits behind others.
                    if req.pipe.is_some() && (!self.deferred.is_empty() || !self.may_write(&req)) {
                        self.deferred.push_back(req);
                    } else {
                        self.queue(req);
                    }
                    progress = true;
                }
                Poll::Ready(None) => self.requests_done = true,
                Poll::Pending => break,
            }
        }
        if self.requests_done
            && self.pending.is_empty()
            && self.deferred.is_empty()
            && !self.terminating
        {
            frontend::terminate(&mut self.write);
            self.terminating = true;
            progress = true;
        }
        progress
    }

    /// Whether a request may go on the wire now (the rules of [`super::cancel`] and COPY).
    fn may_write(&self, req: &Request) -> bool {
        if req.pipe.is_none() {
            return true;
        }
        !self.copying
            && self.state.fence.active.load(Ordering::Acquire) == 0
            && (self.pending.is_empty() || req.key == self.wire_key)
    }

    /// Puts a request's bytes in the write buffer and its pipe in the queue of answers.
    fn queue(&mut self, req: Request) {
        if let Some(pipe) = req.pipe {
            if req.key != 0 && !self.expose_key(req.key) {
                // Its call was cancelled before this was written: it never will be.
                self.state
                    .unwritten
                    .fetch_sub(req.bytes.len(), Ordering::Relaxed);
                pipe.fail(Lost::NotSent(
                    "the call was cancelled before this was sent".into(),
                ));
                return;
            }
            if self.pending.is_empty() && req.key == 0 {
                self.set_wire_key(0);
            }
            self.pending.push_back(Waiting {
                pipe,
                start: self.queued,
                kind: req.kind,
                copy_started: false,
            });
            self.copying |= req.kind == Kind::CopyIn;
        }
        self.queued += req.bytes.len() as u64;
        self.write.extend_from_slice(&req.bytes);
        self.count_answering();
    }

    /// Puts a request of cancel key `key` on the wire, unless the key was cancelled.
    fn expose_key(&mut self, key: u32) -> bool {
        let mut keys = lock(&self.state.fence.keys);
        if keys.given_up.contains(&key) {
            return false;
        }
        keys.on_wire = key;
        self.wire_key = key;
        true
    }

    fn set_wire_key(&mut self, key: u32) {
        if self.wire_key != key {
            self.wire_key = key;
            lock(&self.state.fence.keys).on_wire = key;
        }
    }

    /// Publishes how many answers are outstanding, for cancels waiting on them.
    fn count_answering(&self) {
        let fence = &self.state.fence;
        fence.answering.store(self.pending.len(), Ordering::Release);
        if fence.active.load(Ordering::Acquire) > 0 {
            fence.changed.notify_waiters();
        }
    }

    fn write_out(&mut self, cx: &mut Context<'_>) -> Result<bool, String> {
        let mut progress = false;
        while !self.write.is_empty() {
            match Pin::new(&mut self.socket).poll_write(cx, &self.write) {
                Poll::Ready(Ok(0)) => {
                    self.socket_lost = true;
                    return Err("the server closed the connection".into());
                }
                Poll::Ready(Ok(n)) => {
                    self.write.advance(n);
                    self.written += n as u64;
                    let before = self.state.unwritten.fetch_sub(n, Ordering::Relaxed);
                    if before.saturating_sub(n) < WRITE_HIGH {
                        self.state.written.notify_waiters();
                    }
                    progress = true;
                }
                Poll::Ready(Err(e)) => {
                    self.socket_lost = true;
                    return Err(format!("writing to the server failed: {e}"));
                }
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
            Poll::Ready(Ok(0)) => {
                self.socket_lost = true;
                Err("the server closed the connection".into())
            }
            Poll::Ready(Ok(_)) => Ok(true),
            Poll::Ready(Err(e)) => {
                self.socket_lost = true;
                Err(format!("reading from the server failed: {e}"))
            }
            Poll::Pending => Ok(false),
        }
    }

    fn fail_all(&mut self, reason: String) {
        mark_closed(&self.state, &reason);
        self.state.fence.answering.store(0, Ordering::Release);
        self.state.fence.changed.notify_waiters();
        let written = self.written;
        for w in self.pending.drain(..) {
            w.pipe.fail(if w.start >= written {
                Lost::NotSent(reason.clone())
            } else {
                Lost::Broken(reason.clone())
            });
        }
        for req in self.deferred.drain(..) {
            if let Some(pipe) = req.pipe {
                pipe.fail(Lost::NotSent(reason.clone()));
            }
        }
        self.requests.close();
        while let Ok(req) = self.requests.try_recv() {
            if let Some(pipe) = req.pipe {
                pipe.fail(Lost::NotSent(reason.clone()));
            }
        }
    }
}
