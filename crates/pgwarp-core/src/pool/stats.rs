//! The pool's numbers: running totals and snapshots, per shard and summed.

use std::sync::atomic::Ordering;

use super::Pool;
use crate::sync::lock;

/// Running totals since the pool started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Queries run.
    pub queries: u64,
    /// Connections handed to a query or a reservation.
    pub acquires: u64,
    /// Callers that gave up waiting (`acquireTimeout`).
    pub acquire_timeouts: u64,
    /// Connections opened.
    pub created: u64,
    /// Connections closed (broken, retired, idle, dirty).
    pub destroyed: u64,
    /// Queries that failed.
    pub errors: u64,
    /// Released connections whose session was reset (or rolled back) before reuse.
    pub resets: u64,
    /// Callers that waited for a connection (rather than finding one at once).
    pub acquire_waits: u64,
    /// Their waits, summed, in microseconds.
    pub acquire_wait_us: u64,
    /// The longest of them, in microseconds.
    pub acquire_wait_max_us: u64,
    /// Connections opened over TLS.
    pub tls: u64,
    /// Connections opened in plaintext.
    pub plain: u64,
    /// Queries by how long they took in the engine (from the request to the answer's first
    /// page), in powers of two of microseconds: bucket `i` holds `[2^i, 2^(i+1))`.
    pub query_time: QueryTimes,
}

/// A histogram of query times (see [`Counters::query_time`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryTimes(pub [u64; 32]);

impl QueryTimes {
    /// Counts one query of `d`.
    pub fn record(&mut self, d: std::time::Duration) {
        let us = d.as_micros().max(1) as u64;
        self.0[(63 - us.leading_zeros() as usize).min(31)] += 1;
    }
}

/// A snapshot of a pool's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, including ones closing (not yet dropped).
    pub total: usize,
    /// Open connections with nothing running and not reserved.
    pub idle: usize,
    /// Shared connections with queries running.
    pub busy: usize,
    /// Connections lent out by `reserve()`.
    pub reserved: usize,
    /// Queries running (plus reservations held).
    pub in_flight: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
    /// How long no server has answered (the circuit breaker is open; see `pool::breaker`);
    /// `None` while connections open.
    pub unreachable_for: Option<std::time::Duration>,
    /// Running totals.
    pub counters: Counters,
}

impl PoolStats {
    /// Adds another shard's numbers.
    pub fn add(&mut self, o: &PoolStats) {
        self.total += o.total;
        self.idle += o.idle;
        self.busy += o.busy;
        self.reserved += o.reserved;
        self.in_flight += o.in_flight;
        self.waiting += o.waiting;
        self.unreachable_for = self.unreachable_for.max(o.unreachable_for);
        let (a, b) = (&mut self.counters, &o.counters);
        a.queries += b.queries;
        a.acquires += b.acquires;
        a.acquire_timeouts += b.acquire_timeouts;
        a.created += b.created;
        a.destroyed += b.destroyed;
        a.errors += b.errors;
        a.resets += b.resets;
        a.acquire_waits += b.acquire_waits;
        a.acquire_wait_us += b.acquire_wait_us;
        a.acquire_wait_max_us = a.acquire_wait_max_us.max(b.acquire_wait_max_us);
        a.tls += b.tls;
        a.plain += b.plain;
        for (x, y) in a.query_time.0.iter_mut().zip(b.query_time.0) {
            *x += y;
        }
    }
}

/// One host of the pool as `stats()` shows it (see [`crate::wire::hosts`]).
#[derive(Debug, Clone)]
pub struct HostStats {
    /// `host:port`.
    pub name: String,
    /// What is known of it.
    pub state: crate::wire::hosts::HostState,
}

impl Pool {
    /// What is known of each of the pool's hosts, in the order the settings list them.
    pub fn hosts(&self) -> Vec<HostStats> {
        let settings = &self.inner.settings;
        (0..settings.hosts.len())
            .map(|i| {
                let e = settings.host_entry(i);
                HostStats {
                    name: e.name.clone(),
                    state: e.state(),
                }
            })
            .collect()
    }

    /// Current numbers.
    pub fn stats(&self) -> PoolStats {
        let st = lock(&self.inner.state);
        let busy = st.shared.iter().filter(|c| c.state().in_flight > 0).count();
        // Lost while idle, not pruned yet (the next acquire or maintenance tick drops them):
        // neither open nor idle any more.
        let dead = st
            .shared
            .iter()
            .filter(|c| {
                let s = c.state();
                s.in_flight == 0 && s.closing
            })
            .count();
        let mut counters = st.counters;
        counters.created = self.inner.lives.created.load(Ordering::Relaxed);
        counters.destroyed = self.inner.lives.destroyed.load(Ordering::Relaxed);
        PoolStats {
            total: ((counters.created - counters.destroyed) as usize).saturating_sub(dead),
            idle: st.shared.len().saturating_sub(busy + dead),
            busy,
            reserved: st.reserved.len(),
            in_flight: st.in_flight,
            waiting: st.waiting,
            unreachable_for: st.breaker.open_for(std::time::Instant::now()),
            counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn query_times_go_in_power_of_two_buckets() {
        let mut t = QueryTimes::default();
        t.record(Duration::from_micros(100));
        assert_eq!(t.0[6], 1, "[64, 128)");
        t.record(Duration::from_millis(5));
        assert_eq!(t.0[12], 1, "[4096, 8192)");
        t.record(Duration::from_secs(100_000));
        assert_eq!(t.0[31], 1);
        t.record(Duration::ZERO);
        assert_eq!(t.0[0], 1);
    }
}
