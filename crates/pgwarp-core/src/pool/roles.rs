//! Keeping hosts' roles (and standbys' lag) current where servers do not say it themselves:
//! each maintenance tick checks, on one idle shared connection per host, the hosts that are
//! due (see [`wire::hosts`] and [`wire::role_check`]). A connection whose host turns out to be
//! of a role its pool does not want retires once idle (`Connection::should_retire`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::acquire::Lease;
use super::Pool;
use crate::connection::Connection;
use crate::sync::lock;
use crate::wire::{self, hosts::Role};

/// A check that takes longer is given up (the next tick tries again).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl Pool {
    /// Checks the hosts that are due: suspected (a write was refused as read-only), or not
    /// checked for `host_recheck` on a server that does not report its role, or a standby
    /// whose lag matters (`max_replica_lag`, every tick).
    pub(super) async fn check_roles(&self) {
        let inner = &self.inner;
        let now = Instant::now();
        let leases: Vec<Lease> = {
            let mut st = lock(&inner.state);
            let mut hosts: Vec<Arc<wire::hosts::HostEntry>> = Vec::new();
            let mut picked: Vec<Arc<Connection>> = Vec::new();
            for c in st.shared.iter() {
                if !c.state().is_free() {
                    continue;
                }
                let Some(host) = c.client().host() else {
                    continue;
                };
                if hosts.iter().any(|h| Arc::ptr_eq(h, host)) {
                    continue;
                }
                let unreported = wire::target::reported_role(c.client()).is_none();
                let due = host.check_due(now, inner.settings.host_recheck)
                    && (unreported || host.is_suspect())
                    || (inner.settings.max_replica_lag.is_some() && host.role() == Role::Standby);
                if due {
                    hosts.push(host.clone());
                    picked.push(c.clone());
                }
            }
            picked
                .into_iter()
                .map(|c| {
                    c.add_in_flight(1);
                    st.in_flight += 1;
                    Lease::new(c, inner.clone())
                })
                .collect()
        };
        for lease in leases {
            let checked =
                tokio::time::timeout(CHECK_TIMEOUT, wire::role_check::check(lease.conn.client()))
                    .await;
            if let (Ok(Ok(c)), Some(host)) = (checked, lease.conn.client().host()) {
                host.learn_check(c.role, c.lag);
            }
        }
    }
}
