//! Which of a pool's hosts failed lately. A host whose connection attempt failed for an outage
//! (refused, unreachable, timed out, starting up) is tried last for `host_recheck`, so new
//! connections go first to hosts that answer, rather than each waiting out a dead one's
//! timeout. Shared by every shard of a pool (the settings are cloned, the table is not).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::connection::lock;

/// Hosts (by index in the settings) that failed, with when they may be tried first again.
#[derive(Clone, Debug, Default)]
pub struct HostHealth(Arc<Mutex<HashMap<usize, Instant>>>);

impl HostHealth {
    /// `order` with the hosts that answer first, then those down, soonest recheck first: a
    /// pool whose hosts are all down still tries every one.
    pub(super) fn order(&self, order: Vec<usize>, now: Instant) -> Vec<usize> {
        let down = lock(&self.0);
        let (mut up, mut out): (Vec<usize>, Vec<usize>) = order
            .into_iter()
            .partition(|i| down.get(i).is_none_or(|until| *until <= now));
        out.sort_by_key(|i| down.get(i).copied());
        up.append(&mut out);
        up
    }

    /// Host `i` failed: tried last until `until`.
    pub(super) fn down(&self, i: usize, until: Instant) {
        lock(&self.0).insert(i, until);
    }

    /// Host `i` answered.
    pub(super) fn up(&self, i: usize) {
        lock(&self.0).remove(&i);
    }

    /// Whether host `i` is marked down now.
    pub fn is_down(&self, i: usize, now: Instant) -> bool {
        lock(&self.0).get(&i).is_some_and(|until| *until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn down_hosts_go_last_until_their_recheck() {
        let h = HostHealth::default();
        let now = Instant::now();
        assert_eq!(h.order(vec![0, 1, 2], now), vec![0, 1, 2]);
        h.down(0, now + Duration::from_secs(10));
        h.down(1, now + Duration::from_secs(5));
        assert_eq!(h.order(vec![0, 1, 2], now), vec![2, 1, 0]);
        assert!(h.is_down(0, now) && !h.is_down(2, now));
        // Past its recheck a host is tried in its place again.
        assert_eq!(
            h.order(vec![0, 1, 2], now + Duration::from_secs(6)),
            vec![1, 2, 0]
        );
        h.up(0);
        assert_eq!(h.order(vec![0, 1, 2], now), vec![0, 2, 1]);
        // Clones share the table (the shards' settings).
        let c = h.clone();
        c.up(1);
        assert_eq!(h.order(vec![0, 1, 2], now), vec![0, 1, 2]);
    }
}
