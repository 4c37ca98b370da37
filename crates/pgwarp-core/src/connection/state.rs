//! Where a connection stands, in one place. Two layers keep its parts, each the only writer
//! of its own:
//!
//! - the socket task keeps what the server said: the transaction status of every
//!   ReadyForQuery, whether the session ended, whether a status other than idle arrived
//!   while it was shared (poisoned), and the cancels in progress (`wire::conn::SessionState`);
//! - the pool keeps what runs on the connection ([`Tracker`], here): statements in flight, a
//!   held stream or COPY, spoiled; and whether it is shared, which the task needs too (any
//!   status but idle poisons a shared connection), so the wire client keeps that flag.
//!
//! [`State`] reads both at once, and every path that decides something about a connection
//! (lend it, share it, give it back, retire it, refuse a statement on it) reads it there.
//!
//! ```text
//!   opened, onConnect done
//!          |
//!          v          reserve() / a transaction / held work
//!   Shared (idle | busy) -----------------------------------> Reserved (status: idle)
//!          ^                                                  |  BEGIN: in transaction
//!          |   given back with status idle, nothing in flight |  an error: failed
//!          +--------------------------------------------------+  COMMIT/ROLLBACK: idle
//!
//!   Reserved, any status: stream()/COPY -> held until it ends; cancel() -> cancelling
//!   until no cancel can arrive; given back not idle -> reset (or closed if that fails)
//!   any state: lost, poisoned, spoiled, killed -> closing (closed once back in the pool)
//! ```

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::wire::TxStatus;

/// Who has a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// Shared by autocommit callers, whose statements are pipelined on it.
    Shared,
    /// Lent to one caller alone (`reserve()`, a transaction, a stream or COPY), or not yet
    /// given to the pool.
    Reserved,
}

/// A connection's state at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// Who has it.
    pub holder: Holder,
    /// The transaction status of the server's last ReadyForQuery.
    pub status: TxStatus,
    /// Statements sent on it, or waiting for their turn, whose answer has not ended.
    pub in_flight: usize,
    /// A stream or COPY of its holder is in progress: anything else it sent would wait
    /// behind all of its rows.
    pub held: bool,
    /// A cancel is in progress: the connection writes nothing new until it is settled.
    pub cancelling: bool,
    /// Lost, poisoned or spoiled: nothing more runs on it, and the pool closes it once it
    /// is back.
    pub closing: bool,
}

impl State {
    /// Open, with nothing running on it.
    pub fn is_free(&self) -> bool {
        !self.closing && self.in_flight == 0
    }

    /// Open and outside a transaction block: the next holder can take it as it is.
    pub fn is_clean(&self) -> bool {
        !self.closing && self.status.is_idle()
    }
}

const HELD: u8 = 1;
const SPOILED: u8 = 2;

/// What the wire client records, for [`Tracker::read`].
pub(crate) struct ServerPart {
    /// Shared by autocommit callers (the client's strict rule is on).
    pub shared: bool,
    /// The status of the last ReadyForQuery.
    pub status: TxStatus,
    /// A cancel is in progress.
    pub cancelling: bool,
    /// The session ended, or was poisoned while shared.
    pub session_over: bool,
}

/// The pool's part of a connection's state (see the module's notes).
#[derive(Default)]
pub(crate) struct Tracker {
    flags: AtomicU8,
    in_flight: AtomicUsize,
}

impl Tracker {
    /// The state, with the server's part as the socket task last recorded it.
    pub(crate) fn read(&self, server: ServerPart) -> State {
        let flags = self.flags.load(Ordering::Relaxed);
        State {
            holder: if server.shared {
                Holder::Shared
            } else {
                Holder::Reserved
            },
            status: server.status,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            held: flags & HELD != 0,
            cancelling: server.cancelling,
            closing: server.session_over || flags & SPOILED != 0,
        }
    }

    /// Marks it held; false if it already was.
    pub(crate) fn hold(&self) -> bool {
        self.flags.fetch_or(HELD, Ordering::Relaxed) & HELD == 0
    }

    pub(crate) fn unhold(&self) {
        self.flags.fetch_and(!HELD, Ordering::Relaxed);
    }

    pub(crate) fn spoil(&self) {
        self.flags.fetch_or(SPOILED, Ordering::Relaxed);
    }

    pub(crate) fn add_in_flight(&self, delta: isize) {
        if delta >= 0 {
            self.in_flight.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            self.in_flight
                .fetch_sub((-delta) as usize, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(shared: bool, status: TxStatus, cancelling: bool, session_over: bool) -> ServerPart {
        ServerPart {
            shared,
            status,
            cancelling,
            session_over,
        }
    }

    #[test]
    fn the_flags_make_one_state() {
        let t = Tracker::default();
        let s = t.read(server(false, TxStatus::Idle, false, false));
        assert_eq!(s.holder, Holder::Reserved);
        assert!(s.is_free() && s.is_clean() && !s.held);
        t.add_in_flight(2);
        assert!(t.hold());
        assert!(!t.hold(), "a second hold is refused");
        let s = t.read(server(true, TxStatus::InTransaction, true, false));
        assert_eq!(s.holder, Holder::Shared);
        assert!(!s.is_free() && !s.is_clean() && s.held && s.cancelling);
        t.unhold();
        t.add_in_flight(-2);
        assert!(t.read(server(true, TxStatus::Idle, false, false)).is_free());
        t.spoil();
        let s = t.read(server(true, TxStatus::Idle, false, false));
        assert!(s.closing && !s.is_free() && !s.is_clean());
        assert!(t.read(server(true, TxStatus::Idle, false, true)).closing);
    }
}
