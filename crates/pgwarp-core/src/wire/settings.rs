//! Where and how to connect: the settings a pool's connections open with (libpq's
//! connection settings), and the values some of them take. The connect flow that reads them
//! is [`super::startup`].

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::socket::Host;
use super::tls::Tls;
use crate::error::Error;

/// libpq's `channel_binding`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChannelBinding {
    /// Never bind (SCRAM-SHA-256 only).
    Disable,
    /// Bind when the connection is TLS and the server offers SCRAM-SHA-256-PLUS.
    #[default]
    Prefer,
    /// Bind, or fail.
    Require,
}

/// libpq's `target_session_attrs`: which server of several is wanted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TargetSessionAttrs {
    /// The first that accepts.
    #[default]
    Any,
    /// One that accepts writes.
    ReadWrite,
    /// One in read-only mode.
    ReadOnly,
    /// One not in recovery.
    Primary,
    /// One in recovery.
    Standby,
    /// A standby if there is one, else any.
    PreferStandby,
}

impl TargetSessionAttrs {
    /// The value for libpq's spelling.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "any" => Self::Any,
            "read-write" => Self::ReadWrite,
            "read-only" => Self::ReadOnly,
            "primary" => Self::Primary,
            "standby" => Self::Standby,
            "prefer-standby" => Self::PreferStandby,
            other => {
                return Err(Error::Parameter(format!(
                    "unknown target_session_attrs {other:?}: expected any, read-write, read-only, primary, standby or prefer-standby"
                )))
            }
        })
    }
}

/// A source of passwords asked once per new connection (rotating tokens); it fails with the
/// message the connect error carries.
pub type PasswordFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;

/// The password function of a pool.
#[derive(Clone)]
pub struct PasswordFn(pub Arc<dyn Fn() -> PasswordFuture + Send + Sync>);

impl fmt::Debug for PasswordFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordFn")
    }
}

/// Where and how to connect, as libpq's connection settings say it.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Hosts to try in order.
    pub hosts: Vec<Host>,
    /// One port for every host, or one per host.
    pub ports: Vec<u16>,
    /// Role to log in as.
    pub user: String,
    /// Password, for the methods that need one.
    pub password: Option<Vec<u8>>,
    /// Asked for a password when none is given.
    pub password_fn: Option<PasswordFn>,
    /// The password file (`passfile`, `PGPASSFILE`, `~/.pgpass`), read when no password is
    /// given.
    pub passfile: Option<PathBuf>,
    /// Database; the server defaults it to the user's name.
    pub database: Option<String>,
    /// `application_name`.
    pub application_name: Option<String>,
    /// Startup options (`-c name=value ...`).
    pub options: Option<String>,
    /// Bound on each host's whole attempt (socket and handshake).
    pub connect_timeout: Option<Duration>,
    /// Keepalive and user timeout of TCP connections.
    pub tcp: super::socket::TcpOptions,
    /// TLS; `None` is `sslmode=disable`.
    pub tls: Option<Tls>,
    /// `channel_binding`.
    pub channel_binding: ChannelBinding,
    /// `target_session_attrs`.
    pub target: TargetSessionAttrs,
    /// `load_balance_hosts=random`: hosts (and their addresses) in random order.
    pub load_balance: bool,
    /// How long a host that failed is tried last, and how often a role that servers do not
    /// report is checked again ([`super::hosts`]).
    pub host_recheck: Duration,
    /// Standbys whose replay lags more are skipped by `standby` and `prefer-standby`; with
    /// every standby skipped for it, `standby` takes the primary ([`super::role_check`]).
    pub max_replica_lag: Option<Duration>,
    /// Behind a transaction-mode pooler: roles are asked, not read from startup parameters.
    pub behind_pooler: bool,
    /// The entries of `hosts`, looked up once ([`Settings::host_entry`]).
    pub known: Arc<std::sync::OnceLock<Vec<Arc<super::hosts::HostEntry>>>>,
}

impl Settings {
    /// What is known of host `i` (see [`super::hosts`]); the settings (and their clones) hold
    /// the entries of their hosts, so what was learnt lasts while the pool does.
    pub fn host_entry(&self, i: usize) -> Arc<super::hosts::HostEntry> {
        let all = self
            .known
            .get_or_init(|| (0..self.hosts.len()).map(|i| self.lookup_host(i)).collect());
        all.get(i).cloned().unwrap_or_else(|| self.lookup_host(i))
    }

    fn lookup_host(&self, i: usize) -> Arc<super::hosts::HostEntry> {
        let login = format!(
            "{}/{}",
            self.user,
            self.database.as_deref().unwrap_or(&self.user)
        );
        super::hosts::HostEntry::get(
            &format!("{}:{}", host_name(&self.hosts[i]), self.port(i)),
            &login,
        )
    }

    /// Host `i` as `(name, port)`, as tracing names it.
    pub fn address(&self, i: usize) -> (String, u16) {
        (host_name(&self.hosts[i]), self.port(i))
    }

    pub(super) fn port(&self, i: usize) -> u16 {
        *self.ports.get(i).or(self.ports.first()).unwrap_or(&5432)
    }
}

/// How a host is named in messages and in the host table.
pub(super) fn host_name(host: &Host) -> String {
    match host {
        Host::Tcp(h) => h.clone(),
        Host::Unix(p) => p.display().to_string(),
    }
}
