//! What is known about each server pgwarp connects to: its role, whether it failed lately,
//! when its role was last learnt, and a standby's replay lag. One entry per host, port, user
//! and database for the whole process (as Npgsql's cluster state cache, which keys by host and
//! port; the user and database too here, because `default_transaction_read_only` can be set
//! per role and database), so every shard and every routing view of a pool, and every pool
//! with the same servers and login, learns from the others' connections.
//!
//! A host whose connection failed for an outage (refused, unreachable, timed out, starting or
//! shutting down, a lost socket) is tried last for `host_recheck`, and its connections opened
//! before are drained (they retire once idle: [`HostEntry::epoch`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::sync::lock;

/// A server's role, as it last reported or answered it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// Not learnt yet.
    #[default]
    Unknown,
    /// Takes writes.
    Primary,
    /// Not in recovery, but read-only (`default_transaction_read_only`).
    ReadOnly,
    /// A hot standby (in recovery).
    Standby,
}

impl Role {
    /// The role of a server that is (or is not) a standby, and read-only (or not).
    pub fn of(standby: bool, read_only: bool) -> Role {
        match (standby, read_only) {
            (true, _) => Role::Standby,
            (false, true) => Role::ReadOnly,
            (false, false) => Role::Primary,
        }
    }

    /// Its name in `stats()`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Unknown => "unknown",
            Role::Primary => "primary",
            Role::ReadOnly => "read-only",
            Role::Standby => "standby",
        }
    }
}

/// One host's state, as `stats()` shows it.
#[derive(Clone, Debug, Default)]
pub struct HostState {
    /// Its role.
    pub role: Role,
    /// Tried last until then (it failed for an outage).
    pub down_until: Option<Instant>,
    /// Why it was last marked down.
    pub reason: Option<String>,
    /// When its role was last learnt (at a connect, a report, or a check).
    pub checked: Option<Instant>,
    /// A standby's replay lag at its last check (see `pool::roles`).
    pub lag: Option<Duration>,
    /// A statement failed with 25006 (read-only transaction): its role is checked again at
    /// the next maintenance tick, whatever the last check said.
    pub suspect: bool,
}

/// One host (and port) of the process.
#[derive(Debug)]
pub struct HostEntry {
    /// `host:port`.
    pub name: String,
    state: Mutex<HostState>,
    /// `state.role`, read without the lock on every idle connection's acquire.
    role: std::sync::atomic::AtomicU8,
    /// Bumped each time the host is marked down: a connection opened under an older value
    /// retires once idle.
    epoch: AtomicU64,
    /// Failed connection attempts, counted.
    failures: AtomicU64,
    /// Held by the one connection attempt in flight to the host while it is down, across
    /// every pool, shard and view: the others wait for its outcome rather than knock too.
    attempt: tokio::sync::Mutex<()>,
}

fn registry() -> &'static Mutex<HashMap<String, Weak<HostEntry>>> {
    static HOSTS: OnceLock<Mutex<HashMap<String, Weak<HostEntry>>>> = OnceLock::new();
    HOSTS.get_or_init(Default::default)
}

impl HostEntry {
    /// The entry of `name` (`host:port`) for `login` (user and database), made on first use;
    /// it lives while a connection or pool holds it.
    pub fn get(name: &str, login: &str) -> Arc<HostEntry> {
        let key = format!("{login}@{name}");
        let mut all = lock(registry());
        if let Some(e) = all.get(&key).and_then(Weak::upgrade) {
            return e;
        }
        all.retain(|_, e| e.strong_count() > 0);
        let e = Arc::new(HostEntry {
            name: name.to_string(),
            state: Mutex::new(HostState::default()),
            role: Default::default(),
            epoch: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            attempt: tokio::sync::Mutex::new(()),
        });
        all.insert(key, Arc::downgrade(&e));
        e
    }

    /// Its role.
    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Relaxed) {
            1 => Role::Primary,
            2 => Role::ReadOnly,
            3 => Role::Standby,
            _ => Role::Unknown,
        }
    }

    fn set_role(&self, st: &mut HostState, role: Role) {
        st.role = role;
        st.checked = Some(Instant::now());
        st.suspect = false;
        let n = match role {
            Role::Unknown => 0,
            Role::Primary => 1,
            Role::ReadOnly => 2,
            Role::Standby => 3,
        };
        self.role.store(n, Ordering::Relaxed);
    }

    /// A copy of its state.
    pub fn state(&self) -> HostState {
        lock(&self.state).clone()
    }

    /// How many times it was marked down.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// A standby's replay lag at its last check.
    pub fn lag(&self) -> Option<Duration> {
        lock(&self.state).lag
    }

    /// Until when it is tried last, while that is after `now`.
    pub fn down_until(&self, now: Instant) -> Option<Instant> {
        lock(&self.state).down_until.filter(|u| *u > now)
    }

    /// Whether it is marked down at `now`.
    pub fn is_down(&self, now: Instant) -> bool {
        self.down_until(now).is_some()
    }

    /// Whether a write on it was refused as read-only since its role was last checked.
    pub fn is_suspect(&self) -> bool {
        lock(&self.state).suspect
    }

    /// A connection attempt failed for an outage: tried last for `recheck`. (Connections
    /// already open are left alone: a refusal of new ones, as "too many clients", says
    /// nothing of them.)
    pub fn down(&self, recheck: Duration, reason: &str) {
        let mut st = lock(&self.state);
        st.down_until = Some(Instant::now() + recheck);
        st.reason = Some(reason.to_string());
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Before an attempt to connect: while the host is down, waits for the attempt another
    /// caller has in flight to it, and says (`Err` with the reason) when that one failed, so
    /// this caller moves on without knocking too. The guard is held until this attempt ends.
    pub async fn take_turn(&self) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>, String> {
        if !self.is_down(Instant::now()) {
            return Ok(None);
        }
        let before = self.failures.load(Ordering::Relaxed);
        let turn = self.attempt.lock().await;
        if self.failures.load(Ordering::Relaxed) != before && self.is_down(Instant::now()) {
            return Err(lock(&self.state).reason.clone().unwrap_or_default());
        }
        Ok(Some(turn))
    }

    /// An open connection was lost to an outage (its socket failed, or the server is shutting
    /// down): tried last for `recheck`, and its other connections drained, since they are
    /// likely lost too and each would fail its caller or its check.
    pub fn lost(&self, recheck: Duration, reason: &str) {
        self.down(recheck, reason);
        self.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// It answered.
    pub fn up(&self) {
        lock(&self.state).down_until = None;
    }

    /// Its role, as a connection just learnt it.
    pub fn learn_role(&self, role: Role) {
        let mut st = lock(&self.state);
        self.set_role(&mut st, role);
    }

    /// Its role and lag, as a check found them.
    pub fn learn_check(&self, role: Role, lag: Option<Duration>) {
        let mut st = lock(&self.state);
        self.set_role(&mut st, role);
        st.lag = lag;
    }

    /// A statement on it failed with 25006: check its role again soon.
    pub fn suspect(&self) {
        lock(&self.state).suspect = true;
    }

    /// Whether its role should be checked now: suspected, or not checked for `recheck`.
    pub fn check_due(&self, now: Instant, recheck: Duration) -> bool {
        let st = lock(&self.state);
        st.suspect
            || st
                .checked
                .is_none_or(|c| now.saturating_duration_since(c) >= recheck)
    }
}

/// `order` (indexes into `hosts`) with the hosts that answer first, then those down, soonest
/// recheck first: a pool whose hosts are all down still tries every one.
pub(super) fn order(hosts: &[Arc<HostEntry>], order: Vec<usize>, now: Instant) -> Vec<usize> {
    let until = |i: &usize| hosts[*i].down_until(now);
    let (mut up, mut out): (Vec<usize>, Vec<usize>) =
        order.into_iter().partition(|i| until(i).is_none());
    out.sort_by_key(until);
    up.append(&mut out);
    up
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn while_down_one_attempt_at_a_time_and_waiters_hear_its_failure() {
        let e = HostEntry::get("t-turn:1", "u/db");
        assert!(e.take_turn().await.unwrap().is_none(), "up: no turn needed");
        e.down(Duration::from_secs(10), "refused");
        let turn = e.take_turn().await.unwrap().expect("down: a turn");
        let waiter = {
            let e = e.clone();
            tokio::spawn(async move { e.take_turn().await.map(|t| t.is_some()) })
        };
        tokio::task::yield_now().await;
        // The attempt in flight fails again: the waiter is told, without a turn of its own.
        e.down(Duration::from_secs(10), "refused again");
        drop(turn);
        assert_eq!(waiter.await.unwrap(), Err("refused again".to_string()));
        // An attempt that succeeded lets the next one through.
        let turn = e.take_turn().await.unwrap();
        e.up();
        drop(turn);
        assert!(e.take_turn().await.unwrap().is_none());
    }

    #[test]
    fn down_hosts_go_last_until_their_recheck_and_entries_are_shared() {
        let hosts: Vec<_> = ["t-a:1", "t-b:1", "t-c:1"]
            .iter()
            .map(|n| HostEntry::get(n, "u/db"))
            .collect();
        let now = Instant::now();
        assert_eq!(order(&hosts, vec![0, 1, 2], now), vec![0, 1, 2]);
        hosts[0].lost(Duration::from_secs(10), "reset");
        hosts[1].down(Duration::from_secs(5), "refused");
        assert_eq!(order(&hosts, vec![0, 1, 2], now), vec![2, 1, 0]);
        assert!(hosts[0].is_down(now) && !hosts[2].is_down(now));
        assert_eq!(hosts[0].epoch(), 1);
        // Past its recheck a host is tried in its place again.
        assert_eq!(
            order(&hosts, vec![0, 1, 2], now + Duration::from_secs(6)),
            vec![1, 2, 0]
        );
        hosts[0].up();
        assert_eq!(order(&hosts, vec![0, 1, 2], now), vec![0, 2, 1]);
        // Another pool on the same host sees the same entry.
        HostEntry::get("t-b:1", "u/db").up();
        assert!(!Arc::ptr_eq(&HostEntry::get("t-b:1", "v/db"), &hosts[1]));
        assert_eq!(order(&hosts, vec![0, 1, 2], now), vec![0, 1, 2]);
        // Roles, checks and suspicion.
        let e = &hosts[2];
        assert!(e.check_due(now, Duration::from_secs(10)));
        e.learn_role(Role::of(false, false));
        assert_eq!(e.state().role, Role::Primary);
        assert!(!e.check_due(Instant::now(), Duration::from_secs(10)));
        e.suspect();
        assert!(e.check_due(Instant::now(), Duration::from_secs(10)));
        e.learn_check(Role::of(false, true), None);
        assert_eq!(e.role().name(), "read-only");
    }
}
