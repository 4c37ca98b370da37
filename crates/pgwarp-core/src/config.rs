//! Connection settings: a URL and/or explicit fields, turned into a `tokio_postgres::Config`.
//!
//! The TypeScript layer resolves defaults from the environment (`DATABASE_URL`, `PG*`) because
//! that is where users set them; this module only validates and applies what it is given.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::SslMode;

use crate::error::Error;

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
    pub connect_timeout_ms: Option<u32>,
    /// `statement_timeout` applied to every connection of the pool.
    pub statement_timeout_ms: Option<u32>,
    /// `disable`, `allow`, `prefer` or `require`/`verify-*`.
    pub ssl_mode: Option<String>,
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
        }
    }
}

impl ConnectOptions {
    /// Builds the driver configuration, refusing settings this build cannot honour.
    pub fn to_config(&self) -> Result<tokio_postgres::Config, Error> {
        let mut config = match &self.url {
            Some(url) => parse_url(url)?,
            None => tokio_postgres::Config::new(),
        };
        if let Some(host) = &self.host {
            config.host(host);
        }
        if let Some(port) = self.port {
            config.port(port);
        }
        if let Some(user) = &self.user {
            config.user(user);
        }
        if let Some(password) = &self.password {
            config.password(password);
        }
        if let Some(database) = &self.database {
            config.dbname(database);
        }
        if let Some(name) = &self.application_name {
            config.application_name(name);
        }
        let mut options = config.get_options().unwrap_or_default().to_string();
        if let Some(extra) = &self.options {
            push_option(&mut options, extra);
        }
        if let Some(ms) = self.statement_timeout_ms {
            push_option(&mut options, &format!("-c statement_timeout={ms}"));
        }
        if !options.is_empty() {
            config.options(options);
        }
        if let Some(ms) = self.connect_timeout_ms {
            config.connect_timeout(Duration::from_millis(ms as u64));
        }
        if let Some(mode) = &self.ssl_mode {
            config.ssl_mode(parse_ssl_mode(mode)?);
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            return Err(Error::Parameter(
                "no user given: set `user`, the URL's user, or PGUSER".into(),
            ));
        }
        // TLS is not built in yet: a mode that demands it must fail loudly, not downgrade.
        if matches!(config.get_ssl_mode(), SslMode::Require) {
            return Err(Error::Parameter(
                "sslmode=require (or verify-ca/verify-full) needs TLS, which this build of pgwarp \
                 does not support yet; use sslmode=disable or prefer"
                    .into(),
            ));
        }
        config.keepalives(true);
        Ok(config)
    }
}

fn push_option(options: &mut String, extra: &str) {
    if !options.is_empty() {
        options.push(' ');
    }
    options.push_str(extra);
}

fn parse_ssl_mode(mode: &str) -> Result<SslMode, Error> {
    match mode {
        "disable" => Ok(SslMode::Disable),
        "allow" | "prefer" => Ok(SslMode::Prefer),
        "require" | "verify-ca" | "verify-full" => Ok(SslMode::Require),
        other => Err(Error::Parameter(format!(
            "unknown sslmode {other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
        ))),
    }
}

fn parse_url(url: &str) -> Result<tokio_postgres::Config, Error> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(Error::Parameter(
            "connection URL must start with postgres:// or postgresql://".into(),
        ));
    }
    // tokio-postgres does not know libpq's verify-* modes; map them to `require` before parsing
    // so the refusal above names the real problem.
    let normalised = url
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require")
        .replace("sslmode=allow", "sslmode=prefer");
    tokio_postgres::Config::from_str(&normalised)
        .map_err(|e| Error::Parameter(format!("invalid connection URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::config::Host;

    fn url(u: &str) -> ConnectOptions {
        ConnectOptions {
            url: Some(u.into()),
            ..Default::default()
        }
    }

    #[test]
    fn url_with_percent_encoding_and_parameters() {
        let c = url("postgresql://al%40ice:p%3Ass@db.example:6543/my%20db?application_name=app&connect_timeout=3&options=-c%20search_path%3Dx")
            .to_config()
            .unwrap();
        assert_eq!(c.get_user(), Some("al@ice"));
        assert_eq!(c.get_password(), Some(&b"p:ss"[..]));
        assert_eq!(c.get_dbname(), Some("my db"));
        assert_eq!(c.get_ports(), &[6543]);
        assert_eq!(c.get_application_name(), Some("app"));
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(c.get_options(), Some("-c search_path=x"));
    }

    #[test]
    fn unix_socket_host() {
        let c = url("postgres://u@%2Ftmp%2Fpg/db").to_config().unwrap();
        assert!(matches!(&c.get_hosts()[0], Host::Unix(p) if p.to_str() == Some("/tmp/pg")));
    }

    #[test]
    fn explicit_fields_override_and_statement_timeout_becomes_an_option() {
        let c = ConnectOptions {
            url: Some("postgres://a@h/db".into()),
            user: Some("b".into()),
            statement_timeout_ms: Some(1500),
            ..Default::default()
        }
        .to_config()
        .unwrap();
        assert_eq!(c.get_user(), Some("b"));
        assert_eq!(c.get_options(), Some("-c statement_timeout=1500"));
    }

    #[test]
    fn refuses_bad_scheme_and_tls_modes() {
        assert!(url("mysql://a@h/db").to_config().is_err());
        let err = url("postgres://a@h/db?sslmode=verify-full")
            .to_config()
            .unwrap_err();
        assert!(err.to_string().contains("TLS"));
        assert!(url("postgres://a@h/db?sslmode=prefer").to_config().is_ok());
    }
}
