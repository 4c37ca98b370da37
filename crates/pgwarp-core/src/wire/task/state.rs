//! The session's state the socket task keeps and its handle ([`crate::wire::Client`]) reads,
//! and what the server sends on its own. The task is its only writer, except that the handle
//! may close the session early ([`mark_closed`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::server_error::ServerError;
use crate::sync::lock;
use crate::wire::hosts::HostEntry;

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
    /// The session ended on its own (the server closed it, or sent what no request was
    /// waiting for) while nothing ran on it: nobody else would hear of it.
    Closed {
        /// Why, as a lost request would be told.
        reason: String,
    },
}

/// Receives what the server sends on its own.
pub type UnsolicitedSink = Arc<dyn Fn(Unsolicited) + Send + Sync>;

/// The session's state, kept by its socket task and read by its handle: what the server said
/// (status, parameters, role), whether it ended, and the rules the task keeps (strict,
/// poisoned, the cancel fence). "Shared" is kept for connections shared by autocommit callers.
pub(in crate::wire) struct SessionState {
    pub(in crate::wire) status: AtomicU8,
    pub(in crate::wire) closed: AtomicBool,
    pub(in crate::wire) reason: Mutex<Option<String>>,
    /// Bytes sent but not yet written to the socket (COPY uses it for backpressure).
    pub(in crate::wire) unwritten: AtomicUsize,
    pub(in crate::wire) written: Notify,
    pub(in crate::wire) parameters: Mutex<HashMap<String, String>>,
    /// The server reported `in_hot_standby` or `default_transaction_read_only` again after
    /// startup: its role may have changed (a promotion, a demotion to read-only).
    pub(in crate::wire) role_reported: AtomicBool,
    pub(in crate::wire) sink: Mutex<Option<UnsolicitedSink>>,
    /// The connection is shared by autocommit callers: any status but idle poisons it.
    pub(in crate::wire) strict: AtomicBool,
    pub(in crate::wire) poisoned: AtomicBool,
    /// The task has ended (its socket is closed).
    pub(in crate::wire) ended: AtomicBool,
    pub(in crate::wire) ended_notify: Notify,
    /// Cancels in progress, and what they target (see [`crate::wire::cancel`]).
    pub(in crate::wire) fence: crate::wire::cancel::Fence,
    /// The host it is connected to, and how long that host is tried last if the connection
    /// is lost to an outage (see [`crate::wire::hosts`]).
    pub(in crate::wire) host: std::sync::OnceLock<(Arc<HostEntry>, std::time::Duration)>,
}

/// Records that the session ended (the first reason given is kept) and wakes writers.
pub(in crate::wire) fn mark_closed(state: &SessionState, reason: &str) {
    let mut r = lock(&state.reason);
    if r.is_none() {
        *r = Some(reason.to_string());
    }
    state.closed.store(true, Ordering::Relaxed);
    state.written.notify_waiters();
}
