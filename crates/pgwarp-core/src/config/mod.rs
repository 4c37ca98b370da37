//! Connection settings: a URL and/or explicit fields, turned into the connection layer's
//! [`Settings`]. pgwarp reads the URL itself ([`url`]), as libpq does, so that every key means
//! what it means to libpq and fields given explicitly replace the URL's (all its hosts, say).
//!
//! The TypeScript layer resolves defaults from the environment (`DATABASE_URL`, `PG*`) because
//! that is where users set them; this module only validates and applies what it is given.

pub mod url;

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::wire::{Host, Settings};

/// Everything needed to open connections for a pool. Explicit fields override the URL.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// A `postgres://` or `postgresql://` URL.
    pub url: Option<String>,
    /// Host name, IP address, or a directory holding Unix sockets (starts with `/`).
    pub host: Option<String>,
    /// TCP port (or the Unix socket's port suffix).
    pub port: Option<u16>,
    /// Role to log in as.
    pub user: Option<String>,
    /// Password for cleartext, MD5 or SCRAM-SHA-256 authentication.
    pub password: Option<String>,
    /// Database name.
    pub database: Option<String>,
    /// `application_name` reported to the server.
    pub application_name: Option<String>,
    /// Extra startup options, as with libpq's `options` (`-c name=value ...`).
    pub options: Option<String>,
    /// How long to wait for a connection to open.
    pub connect_timeout_ms: Option<u64>,
    /// `statement_timeout` applied to every connection of the pool.
    pub statement_timeout_ms: Option<u64>,
    /// `disable`, `allow`, `prefer` or `require`/`verify-*`.
    pub ssl_mode: Option<String>,
    /// TCP keepalive on (libpq's `keepalives`; default on).
    pub keepalives: Option<bool>,
    /// Idle milliseconds before the first keepalive probe (libpq: `keepalives_idle`, seconds).
    pub keepalives_idle_ms: Option<u64>,
    /// Milliseconds between keepalive probes (libpq: `keepalives_interval`, seconds).
    pub keepalives_interval_ms: Option<u64>,
    /// Unanswered probes before the connection is dropped (libpq: `keepalives_count`).
    pub keepalives_count: Option<u32>,
    /// Milliseconds sent data may stay unacknowledged (libpq: `tcp_user_timeout`; Linux).
    pub tcp_user_timeout_ms: Option<u64>,
}

/// Pool sizing, timeouts and caching.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// How to reach the server.
    pub connect: ConnectOptions,
    /// The most connections the pool opens (over all shards).
    pub max: usize,
    /// Connections opened at start and kept open.
    pub min: usize,
    /// Queries pipelined on one connection before another is used or callers wait.
    pub max_pipeline: usize,
    /// Prepared statements kept per connection; the least recently used is closed beyond it.
    pub statement_cache_size: usize,
    /// Use unnamed statements only (for PgBouncer in transaction mode); no statement cache.
    pub prepare: bool,
    /// Close connections idle this long, down to `min`. `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Close connections this old once idle (minus up to 10% jitter). `None`: never.
    pub max_lifetime: Option<Duration>,
    /// How long a caller waits for a connection before `PoolTimeoutError`. `None`: forever.
    pub acquire_timeout: Option<Duration>,
    /// A connection idle longer than this is checked with an empty query before use.
    pub validate_after: Duration,
    /// Single-threaded engine shards, each owning its own connections.
    pub shards: usize,
    /// Hand every new connection to JavaScript's `onConnect` before first use.
    pub on_connect: bool,
    /// How long a shard keeps its thread spinning after each request instead of sleeping, to
    /// catch the next request and the server's answer without a cross-core wake-up.
    pub spin: Duration,
    /// Refuse transaction control and session state on the shared path before sending
    /// ([`crate::guard`]). Only tests turn it off, to show the server-status rule behind it.
    pub shared_guard: bool,
    /// A query whose text is `pgwarp:test:panic` panics inside the engine: only tests turn
    /// it on, to show that a panic becomes an error and the process lives on.
    pub test_panic: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            connect: ConnectOptions::default(),
            max: 10,
            min: 0,
            max_pipeline: 100,
            statement_cache_size: 256,
            prepare: true,
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(3600)),
            acquire_timeout: Some(Duration::from_secs(30)),
            validate_after: Duration::from_secs(30),
            shards: 1,
            on_connect: false,
            spin: Duration::from_micros(100),
            shared_guard: true,
            test_panic: false,
        }
    }
}

impl ConnectOptions {
    /// Builds the connection settings, refusing settings this build cannot honour. Fields
    /// given explicitly replace the URL's value of the same key.
    pub fn to_settings(&self) -> Result<Settings, Error> {
        let parts = match &self.url {
            Some(u) => url::parse(u)?,
            None => url::UrlParts::default(),
        };
        let mut s = Settings::default();
        let mut hosts = parts.hosts;
        let mut ports = parts.ports;
        let mut user = parts.user;
        let mut password = parts.password;
        let mut database = parts.dbname;
        let mut ssl_mode = None;
        let mut options = None;
        for (key, value) in parts.params {
            match key.as_str() {
                "host" => hosts = value.split(',').map(str::to_string).collect(),
                "port" => ports = value.split(',').map(str::to_string).collect(),
                "user" => user = Some(value),
                "password" => password = Some(value),
                "dbname" => database = Some(value),
                "application_name" => s.application_name = Some(value),
                "fallback_application_name" => {
                    s.application_name.get_or_insert(value);
                }
                "options" => options = Some(value),
                "sslmode" => ssl_mode = Some(value),
                "connect_timeout" => s.connect_timeout = connect_timeout(&value)?,
                "keepalives" => s.tcp.keepalives = value.trim() != "0",
                "keepalives_idle" => s.tcp.keepalives_idle = seconds(&key, &value)?,
                "keepalives_interval" => s.tcp.keepalives_interval = seconds(&key, &value)?,
                "keepalives_count" => {
                    s.tcp.keepalives_count = Some(number(&key, &value)? as u32).filter(|n| *n > 0)
                }
                "tcp_user_timeout" => {
                    s.tcp.tcp_user_timeout =
                        Some(Duration::from_millis(number(&key, &value)?)).filter(|d| !d.is_zero())
                }
                "client_encoding" if value.eq_ignore_ascii_case("utf8") => {}
                other => {
                    return Err(Error::Parameter(format!(
                        "invalid connection URL: unknown or unsupported parameter {other:?}"
                    )))
                }
            }
        }
        if let Some(h) = &self.host {
            hosts = h.split(',').map(str::to_string).collect();
        }
        if let Some(p) = self.port {
            ports = vec![p.to_string()];
        }
        user = self.user.clone().or(user);
        password = self.password.clone().or(password);
        database = self.database.clone().or(database);
        if let Some(name) = &self.application_name {
            s.application_name = Some(name.clone());
        }
        if let Some(extra) = &self.options {
            options = Some(extra.clone());
        }
        if let Some(ms) = self.statement_timeout_ms {
            let mut o = options.unwrap_or_default();
            push_option(&mut o, &format!("-c statement_timeout={ms}"));
            options = Some(o);
        }
        if let Some(on) = self.keepalives {
            s.tcp.keepalives = on;
        }
        let ms = |v: Option<u64>| v.filter(|n| *n > 0).map(Duration::from_millis);
        if self.keepalives_idle_ms.is_some() {
            s.tcp.keepalives_idle = ms(self.keepalives_idle_ms);
        }
        if self.keepalives_interval_ms.is_some() {
            s.tcp.keepalives_interval = ms(self.keepalives_interval_ms);
        }
        if let Some(n) = self.keepalives_count {
            s.tcp.keepalives_count = Some(n).filter(|n| *n > 0);
        }
        if self.tcp_user_timeout_ms.is_some() {
            s.tcp.tcp_user_timeout = ms(self.tcp_user_timeout_ms);
        }
        if let Some(ms) = self.connect_timeout_ms {
            s.connect_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(mode) = self.ssl_mode.clone().or(ssl_mode) {
            check_ssl_mode(&mode)?;
        }
        if hosts.is_empty() || hosts.iter().all(String::is_empty) {
            hosts = vec!["localhost".into()];
        }
        s.hosts = hosts
            .into_iter()
            .map(|h| match h {
                h if h.is_empty() => Host::Tcp("localhost".into()),
                h if h.starts_with('/') => Host::Unix(PathBuf::from(h)),
                h => Host::Tcp(h),
            })
            .collect();
        s.ports = ports_of(&ports, s.hosts.len())?;
        s.user = user.ok_or_else(|| {
            Error::Parameter("no user given: set `user`, the URL's user, or PGUSER".into())
        })?;
        s.password = password.map(String::into_bytes);
        s.database = database;
        s.options = options.filter(|o| !o.is_empty());
        Ok(s)
    }
}

/// A duration given in milliseconds by JavaScript (a number, so up to 2^53 - 1): `None` keeps
/// `default`, 0 means none. Fractions, negatives and NaN are refused, naming the setting.
pub fn millis(
    name: &str,
    value: Option<f64>,
    default: Option<Duration>,
) -> Result<Option<Duration>, Error> {
    let Some(v) = value else {
        return Ok(default);
    };
    if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0) {
        return Err(Error::Parameter(format!(
            "{name} must be a whole number of milliseconds from 0 to 2^53-1, not {v}"
        )));
    }
    Ok((v > 0.0).then(|| Duration::from_millis(v as u64)))
}

fn ports_of(ports: &[String], hosts: usize) -> Result<Vec<u16>, Error> {
    let parsed = ports
        .iter()
        .map(|p| {
            if p.is_empty() {
                return Ok(5432);
            }
            p.parse::<u16>().map_err(|_| {
                Error::Parameter(format!("invalid port {p:?}: expected a number up to 65535"))
            })
        })
        .collect::<Result<Vec<u16>, Error>>()?;
    match parsed.len() {
        0 => Ok(vec![5432]),
        1 => Ok(parsed),
        n if n == hosts => Ok(parsed),
        n => Err(Error::Parameter(format!(
            "{n} ports for {hosts} hosts: give one port, or one per host"
        ))),
    }
}

/// A whole number for key `key`.
fn number(key: &str, value: &str) -> Result<u64, Error> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::Parameter(format!("invalid {key} {value:?}: expected a whole number")))
}

/// libpq's keepalive times: seconds, 0 for the system's default.
fn seconds(key: &str, value: &str) -> Result<Option<Duration>, Error> {
    Ok(Some(Duration::from_secs(number(key, value)?)).filter(|d| !d.is_zero()))
}

/// libpq's `connect_timeout`: seconds, 0 (or negative) for none, and at least 2.
fn connect_timeout(value: &str) -> Result<Option<Duration>, Error> {
    let secs: i64 = value.trim().parse().map_err(|_| {
        Error::Parameter(format!(
            "invalid connect_timeout {value:?}: expected a number of seconds"
        ))
    })?;
    Ok((secs > 0).then(|| Duration::from_secs(secs.max(2) as u64)))
}

fn push_option(options: &mut String, extra: &str) {
    if !options.is_empty() {
        options.push(' ');
    }
    options.push_str(extra);
}

fn check_ssl_mode(mode: &str) -> Result<(), Error> {
    match mode {
        // Without TLS built in, these connect in plaintext, as libpq does when it has no TLS
        // or the server refuses it.
        "disable" | "allow" | "prefer" => Ok(()),
        // A mode that demands TLS must fail loudly, not downgrade.
        "require" | "verify-ca" | "verify-full" => Err(Error::Parameter(format!(
            "sslmode={mode} needs TLS, which this build of pgwarp does not support yet; use \
             sslmode=disable or prefer"
        ))),
        other => Err(Error::Parameter(format!(
            "unknown sslmode {other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> ConnectOptions {
        ConnectOptions {
            url: Some(u.into()),
            ..Default::default()
        }
    }

    #[test]
    fn url_with_percent_encoding_and_parameters() {
        let s = url("postgresql://al%40ice:p%3Ass@db.example:6543/my%20db?application_name=app&connect_timeout=3&options=-c%20search_path%3Dx")
            .to_settings()
            .unwrap();
        assert_eq!(s.user, "al@ice");
        assert_eq!(s.password.as_deref(), Some(&b"p:ss"[..]));
        assert_eq!(s.database.as_deref(), Some("my db"));
        assert_eq!(s.ports, [6543]);
        assert_eq!(s.application_name.as_deref(), Some("app"));
        assert_eq!(s.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(s.options.as_deref(), Some("-c search_path=x"));
        assert!(s.tcp.keepalives);
        let k = url("postgres://u@h/db?keepalives_idle=30&keepalives_interval=5&keepalives_count=3&tcp_user_timeout=9000")
            .to_settings()
            .unwrap()
            .tcp;
        assert_eq!(k.keepalives_idle, Some(Duration::from_secs(30)));
        assert_eq!(k.keepalives_interval, Some(Duration::from_secs(5)));
        assert_eq!(k.keepalives_count, Some(3));
        assert_eq!(k.tcp_user_timeout, Some(Duration::from_millis(9000)));
        assert!(
            !url("postgres://u@h/db?keepalives=0")
                .to_settings()
                .unwrap()
                .tcp
                .keepalives
        );
    }

    #[test]
    fn unix_socket_host() {
        let s = url("postgres://u@%2Ftmp%2Fpg/db").to_settings().unwrap();
        assert_eq!(s.hosts, [Host::Unix("/tmp/pg".into())]);
    }

    #[test]
    fn explicit_fields_replace_the_url() {
        let s = ConnectOptions {
            url: Some("postgres://a@h1:1,h2:2/db".into()),
            user: Some("b".into()),
            host: Some("other".into()),
            port: Some(7777),
            statement_timeout_ms: Some(1500),
            ..Default::default()
        }
        .to_settings()
        .unwrap();
        assert_eq!(s.user, "b");
        assert_eq!(s.hosts, [Host::Tcp("other".into())]);
        assert_eq!(s.ports, [7777]);
        assert_eq!(s.options.as_deref(), Some("-c statement_timeout=1500"));
        let only_port = ConnectOptions {
            url: Some("postgres://a@h1:1/db".into()),
            port: Some(2),
            ..Default::default()
        }
        .to_settings()
        .unwrap();
        assert_eq!(
            (only_port.hosts[0].clone(), only_port.ports[0]),
            (Host::Tcp("h1".into()), 2)
        );
    }

    #[test]
    fn refuses_bad_scheme_tls_modes_and_unknown_keys() {
        assert!(url("mysql://a@h/db").to_settings().is_err());
        let err = url("postgres://a@h/db?sslmode=verify-full")
            .to_settings()
            .unwrap_err();
        assert!(err.to_string().contains("TLS"));
        assert!(url("postgres://a@h/db?sslmode=prefer")
            .to_settings()
            .is_ok());
        let err = url("postgres://a@h/db?frobnicate=1")
            .to_settings()
            .unwrap_err();
        assert!(err.to_string().contains("frobnicate"), "{err}");
        assert!(url("postgres://a@h:1,h:2,h:3/db?port=1,2")
            .to_settings()
            .is_err());
    }
}
