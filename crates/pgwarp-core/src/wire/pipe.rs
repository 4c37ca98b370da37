//! The server's answer to one request, handed from the connection task to whoever waits for it:
//! chunks of whole messages, ending with the ReadyForQuery that closes the request.
//!
//! The task stops reading the socket while the pipe at the head of the queue is full, so a
//! slow consumer holds the server back (backpressure) instead of filling memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use postgres_protocol::message::backend::Message;

use crate::sync::lock;

/// Bytes a pipe holds before the connection task waits for its consumer.
const CAPACITY: usize = 256 * 1024;

/// Why a request got no (complete) answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The connection ended before any byte of the request was written: it never reached the
    /// server, so it is safe to run elsewhere.
    NotSent(String),
    /// The connection ended after the request was (maybe partly) written.
    Broken(String),
}

/// Whether (and by whom) a shared connection had been poisoned when an answer ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Poison {
    /// Idle, as it must be.
    #[default]
    Clean,
    /// This answer's own status was not idle.
    ByThis,
    /// An answer before this one had left the connection inside a transaction.
    ByEarlier,
}

#[derive(Default)]
struct State {
    chunks: VecDeque<BytesMut>,
    held: usize,
    /// The ReadyForQuery has been delivered: nothing more will come.
    complete: bool,
    /// Whether the connection was poisoned when this answer's ReadyForQuery arrived (see
    /// [`super::Client::set_strict`]), and by an earlier answer.
    poisoned: Poison,
    lost: Option<Lost>,
    /// The consumer went away; the task discards the rest of the answer.
    abandoned: bool,
    consumer: Option<Waker>,
    producer: Option<Waker>,
}

/// One request's answer in transit.
#[derive(Default)]
pub struct Pipe {
    state: Mutex<State>,
}

impl Pipe {
    /// A new, empty pipe.
    pub fn new() -> Arc<Pipe> {
        Arc::new(Pipe::default())
    }

    /// Task side: adds a chunk of whole messages; `last` when it ends with ReadyForQuery, and
    /// then whether the connection was poisoned by that time.
    pub(super) fn push(&self, chunk: BytesMut, last: bool, poisoned: Poison) {
        let mut st = lock(&self.state);
        if !st.abandoned && !chunk.is_empty() {
            st.held += chunk.len();
            st.chunks.push_back(chunk);
        }
        st.complete |= last;
        if last {
            st.poisoned = poisoned;
        }
        if let Some(w) = st.consumer.take() {
            w.wake();
        }
    }

    /// Task side: whether it may push more now; if not, `cx` is woken when it may.
    pub(super) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = lock(&self.state);
        if st.abandoned || st.held < CAPACITY {
            return Poll::Ready(());
        }
        st.producer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Task side: the connection ended before the answer was complete.
    pub(super) fn fail(&self, lost: Lost) {
        let mut st = lock(&self.state);
        if st.complete {
            return;
        }
        st.lost.get_or_insert(lost);
        if let Some(w) = st.consumer.take() {
            w.wake();
        }
    }

    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Result<Option<BytesMut>, Lost>> {
        let mut st = lock(&self.state);
        if let Some(chunk) = st.chunks.pop_front() {
            st.held -= chunk.len();
            if st.held < CAPACITY {
                if let Some(w) = st.producer.take() {
                    w.wake();
                }
            }
            return Poll::Ready(Ok(Some(chunk)));
        }
        if st.complete {
            return Poll::Ready(Ok(None));
        }
        if let Some(lost) = &st.lost {
            return Poll::Ready(Err(lost.clone()));
        }
        st.consumer = Some(cx.waker().clone());
        Poll::Pending
    }

    fn abandon(&self) {
        let mut st = lock(&self.state);
        st.abandoned = true;
        st.chunks.clear();
        st.held = 0;
        if let Some(w) = st.producer.take() {
            w.wake();
        }
    }
}

/// The consumer's end of a pipe: the answer's messages one at a time. Dropping it before the
/// end lets the connection discard the rest.
pub struct Responses {
    pipe: Arc<Pipe>,
    chunk: BytesMut,
    done: bool,
}

impl Responses {
    pub(super) fn new(pipe: Arc<Pipe>) -> Responses {
        Responses {
            pipe,
            chunk: BytesMut::new(),
            done: false,
        }
    }

    /// The next message; `Ok(None)` after the ReadyForQuery was returned.
    pub async fn next(&mut self) -> Result<Option<Message>, Lost> {
        loop {
            if !self.chunk.is_empty() {
                return match Message::parse(&mut self.chunk) {
                    Ok(Some(m)) => {
                        if matches!(m, Message::ReadyForQuery(_)) {
                            self.done = true;
                        }
                        Ok(Some(m))
                    }
                    // The task only hands over whole messages; anything else is a bug or a
                    // server speaking another protocol.
                    Ok(None) | Err(_) => {
                        self.chunk.clear();
                        Err(Lost::Broken("malformed message from the server".into()))
                    }
                };
            }
            if self.done {
                return Ok(None);
            }
            match std::future::poll_fn(|cx| self.pipe.poll_chunk(cx)).await? {
                Some(chunk) => self.chunk = chunk,
                None => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }

    /// Whether the ReadyForQuery has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the whole answer has arrived, read or not.
    pub fn is_complete(&self) -> bool {
        self.done || lock(&self.pipe.state).complete
    }

    /// Whether the connection had been poisoned when this answer ended: this statement or
    /// one before it left a shared connection inside a transaction.
    pub fn poisoned(&self) -> Poison {
        lock(&self.pipe.state).poisoned
    }
}

impl Drop for Responses {
    fn drop(&mut self) {
        if !self.done {
            self.pipe.abandon();
        }
    }
}
