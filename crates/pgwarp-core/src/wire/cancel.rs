//! CancelRequest, and the one rule that keeps it from reaching anyone else's statement.
//!
//! A CancelRequest is a new connection to the same server carrying the session's key; the
//! server signals the backend and closes that connection, and the backend stops whatever it
//! runs when the signal arrives. It names no statement, so on its own it can stop the next
//! statement on the connection (someone else's) when it arrives late. The rule, kept here
//! and in the connection's task (not by callers):
//!
//! - while a cancel is in progress on a connection, no request that was not already on the
//!   wire is written to it ([`Fence::active`]), whoever sends it;
//! - a cancel ends only once every statement it may hit has ended (its ReadyForQuery read)
//!   and the server closed the cancel's connection (it has signalled the backend by then: a
//!   backend that is idle between statements when the signal comes ignores it);
//! - a call that can be cancelled has a key ([`super::Client::send_keyed`]): its requests
//!   reach the wire only when nothing of another key is there, and nothing of another key
//!   follows them until they are answered, so a cancel for that key can hit only them.
//!   Requests of a key cancelled before they were written are never written.
//!
//! The cancel travels the way its session did: over TLS (same settings, same negotiation)
//! when the session is TLS.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use super::conn::Client;
use super::negotiate::{negotiate, Negotiated};
use super::socket::{self, Socket, Target};
use super::tls::Tls;
use crate::sync::lock;

/// How long the server may take to close a cancel's connection before the session is given
/// up: a cancel that may still arrive must not be left behind.
const CONFIRM_WITHIN: Duration = Duration::from_secs(5);
/// First wait for the cancelled statement to end before the cancel is sent again (it may
/// have reached the backend before the statement did); doubled up to [`LONGEST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(50);
const LONGEST_WAIT: Duration = Duration::from_secs(1);
/// Keys remembered as cancelled before they were written; the oldest is forgotten beyond.
const GIVEN_UP_KEPT: usize = 64;

/// A connection's cancels in progress, shared by its task and by [`Client::cancel`].
#[derive(Default)]
pub(crate) struct Fence {
    /// Cancels in progress; while any is, the task writes no new request.
    pub(super) active: AtomicUsize,
    /// Requests on the wire whose answer has not ended (the task keeps it).
    pub(super) answering: AtomicUsize,
    pub(super) keys: Mutex<Keys>,
    /// Signalled by the task when an answer ends while a cancel is in progress.
    pub(super) changed: Notify,
}

/// The keys of what is on the wire and of what was given up.
#[derive(Default)]
pub(super) struct Keys {
    /// The key every request on the wire shares (0: none, or no request there).
    pub(super) on_wire: u32,
    /// Keys cancelled before all of their requests were written.
    pub(super) given_up: VecDeque<u32>,
}

impl Fence {
    /// Whether a cancel for `key` (0: whatever runs) could stop something now.
    fn exposes(&self, key: u32) -> bool {
        self.answering.load(Ordering::Acquire) > 0 && (key == 0 || lock(&self.keys).on_wire == key)
    }
}

/// How a cancel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// Nothing of the key was on the wire (it had ended, or is dropped unsent).
    Nothing,
    /// The server took the cancel, and what it could hit has ended.
    Confirmed,
    /// The server could not be reached, so no cancel was sent.
    NotSent,
    /// Whether the server took it is unknown (no answer in time, or a broken cancel
    /// connection), or the session was lost meanwhile: the connection is closed.
    Lost,
}

/// What is needed to cancel a session's statement, detached from its connection.
#[derive(Clone, Debug)]
pub struct CancelToken {
    target: Target,
    process_id: i32,
    secret_key: i32,
    tls: Option<(Tls, String)>,
}

impl Client {
    /// A token that cancels this session's running statement.
    pub fn cancel_token(&self) -> CancelToken {
        CancelToken {
            target: self.target.clone(),
            process_id: self.key.0,
            secret_key: self.key.1,
            tls: self.tls.clone(),
        }
    }

    /// Whether a cancel is in progress (the connection writes nothing new meanwhile).
    pub fn is_cancelling(&self) -> bool {
        self.state.fence.active.load(Ordering::Acquire) > 0
    }

    /// Stops the statements of call `key` (0: whatever runs on the connection), following
    /// the module's rule: the connection writes nothing new until this returns. The cancel
    /// is sent again while what it targets still runs (a first one can arrive before its
    /// statement does), and only then, so that it can never reach anything else.
    pub async fn cancel(&self, key: u32) -> Cancelled {
        let fence = &self.state.fence;
        fence.active.fetch_add(1, Ordering::AcqRel);
        let _lift = Lift(self);
        if key != 0 {
            let mut keys = lock(&fence.keys);
            if !keys.given_up.contains(&key) {
                if keys.given_up.len() >= GIVEN_UP_KEPT {
                    keys.given_up.pop_front();
                }
                keys.given_up.push_back(key);
            }
        }
        let token = self.cancel_token();
        let mut wait = FIRST_WAIT;
        let mut sent = false;
        loop {
            if self.is_closed() {
                return Cancelled::Lost;
            }
            if !fence.exposes(key) {
                return if sent {
                    Cancelled::Confirmed
                } else {
                    Cancelled::Nothing
                };
            }
            match tokio::time::timeout(CONFIRM_WITHIN, token.send()).await {
                Ok(Ok(())) => sent = true,
                Ok(Err(Unsent::NotSent)) => return Cancelled::NotSent,
                Ok(Err(Unsent::Unknown)) | Err(_) => {
                    self.kill();
                    return Cancelled::Lost;
                }
            }
            let _ = tokio::time::timeout(wait, ended(fence, key)).await;
            wait = (wait * 2).min(LONGEST_WAIT);
        }
    }

    /// Forgets the keys cancelled before they were sent (their holder is gone).
    pub fn forget_cancelled(&self) {
        lock(&self.state.fence.keys).given_up.clear();
    }
}

/// Lifts a cancel's share of the fence when it ends, however it ends, and lets the task
/// write what waited.
struct Lift<'a>(&'a Client);

impl Drop for Lift<'_> {
    fn drop(&mut self) {
        self.0.state.fence.active.fetch_sub(1, Ordering::AcqRel);
        self.0.wake();
    }
}

/// Resolves once nothing of `key` is on the wire.
async fn ended(fence: &Fence, key: u32) {
    loop {
        let notified = fence.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !fence.exposes(key) {
            return;
        }
        notified.await;
    }
}

/// Why a CancelRequest was not confirmed.
enum Unsent {
    /// It never left: the server could not be reached.
    NotSent,
    /// It may have reached the server.
    Unknown,
}

impl CancelToken {
    /// Sends the CancelRequest and waits for the server to close that connection, which it
    /// does once it has signalled the backend. Whether anything was cancelled is not
    /// reported, as in libpq.
    async fn send(&self) -> Result<(), Unsent> {
        let mut socket = socket::reconnect(&self.target)
            .await
            .map_err(|_| Unsent::NotSent)?;
        if let Some((tls, host)) = &self.tls {
            socket = match negotiate(socket, host, tls).await {
                Ok(Negotiated::Tls(s, _)) => s,
                // Refused, or a handshake that failed: the request itself was not written.
                _ => return Err(Unsent::NotSent),
            };
        }
        confirm(socket, self.process_id, self.secret_key).await
    }
}

async fn confirm(mut socket: Socket, process_id: i32, secret_key: i32) -> Result<(), Unsent> {
    let mut buf = BytesMut::new();
    frontend::cancel_request(process_id, secret_key, &mut buf);
    socket.write_all(&buf).await.map_err(|_| Unsent::Unknown)?;
    socket.flush().await.map_err(|_| Unsent::Unknown)?;
    let mut end = [0u8; 1];
    match socket.read(&mut end).await {
        Ok(0) => Ok(()),
        // Over TLS the server may close without close_notify: that is the end too.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        _ => Err(Unsent::Unknown),
    }
}
