//! Asking a server its role and, for a standby, how far its replay lags: for servers that do
//! not report their role (before 14), after a write was refused as read-only (the role may
//! have changed unreported, as behind a pooler), and for `max_replica_lag`.
//!
//! The lag is the time since the last transaction the standby replayed committed on the
//! primary, or 0 while it has replayed all it received and its WAL receiver runs (an idle
//! primary sends nothing to replay, and a standby that is caught up must not look stale).
//! A standby that has replayed no transaction since it started has no timestamp to measure
//! by: it counts as caught up (else, with an idle primary, it would be skipped until the next
//! write).

use std::time::Duration;

use super::conn::Client;
use super::hosts::Role;
use crate::error::Error;

/// One round trip: recovery, read-only, lag in milliseconds (null on a primary).
pub const CHECK_SQL: &str = "SELECT pg_catalog.pg_is_in_recovery(), \
     pg_catalog.current_setting('transaction_read_only'), \
     CASE WHEN pg_catalog.pg_is_in_recovery() THEN \
       CASE WHEN pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() \
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_stat_wal_receiver) THEN 0 \
       ELSE COALESCE(EXTRACT(EPOCH FROM pg_catalog.now() \
            - pg_catalog.pg_last_xact_replay_timestamp()) * 1000, 0) END \
     END";

/// What a check found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Checked {
    /// The server's role.
    pub role: Role,
    /// A standby's replay lag.
    pub lag: Option<Duration>,
}

/// Reads a check's answer (its one row of [`CHECK_SQL`]).
pub fn parse(row: &[Option<String>]) -> Result<Checked, Error> {
    let col = |i: usize| row.get(i).cloned().flatten();
    let standby = col(0).ok_or_else(|| bad("no row"))? == "t";
    let read_only = standby || col(1).as_deref() == Some("on");
    let lag = match col(2) {
        Some(ms) => {
            let ms: f64 = ms.parse().map_err(|_| bad(&ms))?;
            Some(if ms.is_finite() {
                Duration::from_secs_f64(ms.max(0.0) / 1000.0)
            } else {
                Duration::MAX
            })
        }
        None => None,
    };
    Ok(Checked {
        role: Role::of(standby, read_only),
        lag,
    })
}

fn bad(what: &str) -> Error {
    Error::Internal(format!("unexpected answer to the role check: {what}"))
}

/// Runs the check on `client` (a simple query; it pipelines behind what runs there).
pub async fn check(client: &Client) -> Result<Checked, Error> {
    let script = client.batch(CHECK_SQL).await?;
    parse(script.rows.first().map(Vec::as_slice).unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_roles_and_lag() {
        let s = |v: &str| Some(v.to_string());
        let p = parse(&[s("f"), s("off"), None]).unwrap();
        assert_eq!((p.role, p.lag), (Role::Primary, None));
        assert_eq!(
            parse(&[s("f"), s("on"), None]).unwrap().role,
            Role::ReadOnly
        );
        let p = parse(&[s("t"), s("on"), s("1500.25")]).unwrap();
        assert_eq!(p.role, Role::Standby);
        assert_eq!(p.lag, Some(Duration::from_micros(1_500_250)));
        assert_eq!(
            parse(&[s("t"), s("on"), s("Infinity")]).unwrap().lag,
            Some(Duration::MAX)
        );
        assert!(parse(&[]).is_err());
        assert!(parse(&[s("t"), s("on"), s("x")]).is_err());
    }
}
