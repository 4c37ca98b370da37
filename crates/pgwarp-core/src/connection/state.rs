//! Where a connection stands, in one place. Two layers keep its parts, each the only writer
//! of its own:
//!
//! - the socket task keeps what the server said: the transaction status of every
//!   ReadyForQuery, whether the session ended, whether a status other than idle arrived
//!   while it was shared (poisoned), and the cancels in progress (`wire::conn::SessionState`);
//! - the pool keeps who has the connection and what runs on it ([`Tracker`], here): shared
//!   or reserved, statements in flight, a held stream or COPY, spoiled.
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

const RESERVED: u8 = 1;
const HELD: u8 = 2;
const SPOILED: u8 = 4;

/// The pool's part of a connection's state (see the module's notes).
pub(crate) struct Tracker {
    flags: AtomicU8,
    in_flight: AtomicUsize,
}

impl Default for Tracker {
    fn default() -> Tracker {
        // Not shared until the pool shares it: a new connection runs `onConnect` alone.
        Tracker {
            flags: AtomicU8::new(RESERVED),
            in_flight: AtomicUsize::new(0),
        }
    }
}

impl Tracker {
    /// The state, with the server's part as the socket task last recorded it.
    pub(crate) fn read(&self, status: TxStatus, cancelling: bool, session_over: bool) -> State {
        let flags = self.flags.load(Ordering::Relaxed);
        State {
            holder: if flags & RESERVED != 0 {
                Holder::Reserved
            } else {
                Holder::Shared
            },
            status,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            held: flags & HELD != 0,
            cancelling,
            closing: session_over || flags & SPOILED != 0,
        }
    }

    /// Whether a stream or COPY holds it.
    pub(crate) fn is_held(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & HELD != 0
    }

    pub(crate) fn set_holder(&self, holder: Holder) {
        match holder {
            Holder::Shared => self.flags.fetch_and(!RESERVED, Ordering::Relaxed),
            Holder::Reserved => self.flags.fetch_or(RESERVED, Ordering::Relaxed),
        };
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

    #[test]
    fn the_flags_make_one_state() {
        let t = Tracker::default();
        let s = t.read(TxStatus::Idle, false, false);
        assert_eq!(s.holder, Holder::Reserved);
        assert!(s.is_free() && s.is_clean() && !s.held);
        t.set_holder(Holder::Shared);
        t.add_in_flight(2);
        assert!(t.hold());
        assert!(!t.hold(), "a second hold is refused");
        let s = t.read(TxStatus::InTransaction, true, false);
        assert_eq!(s.holder, Holder::Shared);
        assert!(!s.is_free() && !s.is_clean() && s.held && s.cancelling);
        t.unhold();
        t.add_in_flight(-2);
        assert!(t.read(TxStatus::Idle, false, false).is_free());
        t.spoil();
        let s = t.read(TxStatus::Idle, false, false);
        assert!(s.closing && !s.is_free() && !s.is_clean());
        assert!(t.read(TxStatus::Idle, false, true).closing);
    }
}
