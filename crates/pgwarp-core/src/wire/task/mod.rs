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
use postgres_protocol::message::backend::{self, Header, Message};
use postgres_protocol::message::frontend;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

use super::conn::{mark_closed, Kind, Request, Shared, Unsolicited, IDLE};
use super::pipe::{Lost, Pipe, Poison};
use super::server_error::ServerError;
use super::socket::Socket;
use crate::connection::lock;

/// Bytes of requests buffered for writing before the task stops taking more from the queue.
pub(super) const WRITE_HIGH: usize = 1024 * 1024;
/// Smallest read: large enough that a burst of small answers is one system call.
const READ_CHUNK: usize = 32 * 1024;
/// CopyBothResponse (replication), which postgres-protocol does not name.
const COPY_BOTH_RESPONSE_TAG: u8 = b'W';

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
    shared: Arc<Shared>,
    terminating: bool,
    /// A FATAL error the server sent before closing (shutdown, `pg_terminate_backend`).
    fatal: Option<String>,
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

impl Drop for Task {
    fn drop(&mut self) {
        self.fail_all("the connection was closed by the pool".into());
        self.shared
            .ended
            .store(true, std::sync::atomic::Ordering::Release);
        self.shared.ended_notify.notify_waiters();
    }
}

impl Task {
    pub(super) fn new(
        socket: Socket,
        requests: mpsc::UnboundedReceiver<Request>,
        read: BytesMut,
        shared: Arc<Shared>,
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
            shared,
            terminating: false,
            fatal: None,
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
            && self.shared.fence.active.load(Ordering::Acquire) == 0
            && (self.pending.is_empty() || req.key == self.wire_key)
    }

    /// Puts a request's bytes in the write buffer and its pipe in the queue of answers.
    fn queue(&mut self, req: Request) {
        if let Some(pipe) = req.pipe {
            if req.key != 0 && !self.expose_key(req.key) {
                // Its call was cancelled before this was written: it never will be.
                self.shared
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
        let mut keys = lock(&self.shared.fence.keys);
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
            lock(&self.shared.fence.keys).on_wire = key;
        }
    }

    /// Publishes how many answers are outstanding, for cancels waiting on them.
    fn count_answering(&self) {
        let fence = &self.shared.fence;
        fence.answering.store(self.pending.len(), Ordering::Release);
        if fence.active.load(Ordering::Acquire) > 0 {
            fence.changed.notify_waiters();
        }
    }

    /// A CopyInResponse (or CopyBothResponse): the server now waits for COPY data and will
    /// take the next message it reads as such. Expected once for a COPY request; otherwise
    /// (a COPY FROM STDIN that came another way, or a second one in the same script) it is
    /// failed with CopyFail when nothing was written behind it, and the connection is given
    /// up when something was, since the server would swallow that request's first message
    /// and every later answer would go to the wrong caller.
    fn copy_starts(&mut self) -> Result<(), String> {
        let alone = self.pending.len() == 1 && self.write.is_empty() && self.deferred.is_empty();
        let Some(head) = self.pending.front_mut() else {
            return Err("protocol error: a COPY started with no request waiting".into());
        };
        if head.kind == Kind::CopyIn && !head.copy_started {
            head.copy_started = true;
            return Ok(());
        }
        if head.kind != Kind::Extended && alone {
            let mut buf = BytesMut::new();
            let _ = frontend::copy_fail("COPY FROM STDIN runs only through copyIn()", &mut buf);
            self.queued += buf.len() as u64;
            self.shared
                .unwritten
                .fetch_add(buf.len(), Ordering::Relaxed);
            self.write.extend_from_slice(&buf);
            return Ok(());
        }
        Err(
            "a COPY ... FROM STDIN started outside copyIn(); the requests pipelined behind it \
             could not be told apart from its data, so the connection was closed"
                .into(),
        )
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
            if len > super::MAX_MESSAGE {
                return Err(format!("protocol error: a message of {len} bytes"));
            }
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
                    if len != 6 {
                        return Err("protocol error: a ReadyForQuery of the wrong length".into());
                    }
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
                backend::COPY_IN_RESPONSE_TAG | COPY_BOTH_RESPONSE_TAG => {
                    self.copy_starts()?;
                    scanned += len;
                }
                backend::ERROR_RESPONSE_TAG => {
                    // A FATAL error is also why the connection ends: keep it for the others.
                    let mut message = BytesMut::from(&self.read[scanned..scanned + len]);
                    if let Ok(Some(Message::ErrorResponse(body))) = Message::parse(&mut message) {
                        if let Ok(e) = ServerError::parse(body.fields()) {
                            if matches!(e.field(b'V'), Some("FATAL" | "PANIC")) {
                                self.fatal = Some(format!("{}: {}", e.code(), e.message()));
                            }
                            if self.pending.front().map(|w| w.kind) == Some(Kind::Reset) {
                                self.reset_failed = Some(format!("{}: {}", e.code(), e.message()));
                            }
                        }
                    }
                    scanned += len;
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
        let Some(head) = self.pending.front() else {
            return Err("protocol error: an answer with no request waiting".into());
        };
        head.pipe
            .push(chunk, end.is_some(), end.unwrap_or_default());
        if end.is_some() {
            if head.kind == Kind::CopyIn {
                // Requests held back behind the COPY may go now.
                self.copying = false;
            }
            let reset = head.kind == Kind::Reset;
            self.pending.pop_front();
            if let Some(why) = self.reset_failed.take().filter(|_| reset) {
                // What is pipelined behind would run on (or read) a session left as the last
                // holder had it: it fails with the connection instead.
                return Err(format!(
                    "the session reset after the connection's last holder failed ({why})"
                ));
            }
            if self.pending.is_empty() {
                self.set_wire_key(0);
            }
            self.count_answering();
        }
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
        self.tell(event);
    }

    /// Hands `event` to the connection's sink, if it has one.
    fn tell(&self, event: Unsolicited) {
        let sink = lock(&self.shared.sink).clone();
        if let Some(sink) = sink {
            sink(event);
        }
    }

    fn fail_all(&mut self, reason: String) {
        mark_closed(&self.shared, &reason);
        self.shared.fence.answering.store(0, Ordering::Release);
        self.shared.fence.changed.notify_waiters();
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
