//! Connection settings: a URL and/or explicit fields, turned into the connection layer's
//! [`Settings`](crate::wire::Settings). pgwarp reads the URL itself ([`url`]), as libpq does, so that every key means
//! what it means to libpq and fields given explicitly replace the URL's (all its hosts, say).
//!
//! The TypeScript layer resolves defaults from the environment (`DATABASE_URL`, `PG*`) because
//! that is where users set them; this module only validates and applies what it is given.

pub mod pool_url;
mod settings;
pub mod url;

use std::time::Duration;

use crate::error::Error;
use crate::wire::PasswordFn;

/// Everything needed to open connections for a pool. Explicit fields override the URL.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// A `postgres://` or `postgresql://` URL.
    pub url: Option<String>,
    /// How long a host whose connection attempt failed is tried last (default 10 s).
    pub host_recheck: Option<Duration>,
    /// Standbys lagging more are skipped by `standby` and `prefer-standby` targets.
    pub max_replica_lag: Option<Duration>,
    /// Behind a transaction-mode pooler: a server's role is asked at connect, not read from
    /// the startup parameters (which a pooler may have cached from another server).
    pub behind_pooler: bool,
    /// Host name, IP address, or a directory holding Unix sockets (starts with `/`).
    pub host: Option<String>,
    /// TCP ports as libpq's `port` key: one for every host, or one per host, comma-separated.
    pub port: Option<String>,
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
    /// `lock_timeout` applied to every connection of the pool.
    pub lock_timeout_ms: Option<u64>,
    /// `idle_in_transaction_session_timeout` applied to every connection of the pool.
    pub idle_in_transaction_timeout_ms: Option<u64>,
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
    /// libpq's `sslrootcert`: a file, or `system`.
    pub ssl_root_cert: Option<String>,
    /// Root certificates as PEM text (node's `ssl.ca`; Node's own list for `ssl: true`).
    pub ssl_root_cert_pem: Option<String>,
    /// libpq's `sslcert`.
    pub ssl_cert: Option<String>,
    /// The client certificate as PEM text (node's `ssl.cert`).
    pub ssl_cert_pem: Option<String>,
    /// libpq's `sslkey`.
    pub ssl_key: Option<String>,
    /// The client key as PEM text (node's `ssl.key`).
    pub ssl_key_pem: Option<String>,
    /// libpq's `sslpassword` (node's `ssl.passphrase`).
    pub ssl_password: Option<String>,
    /// The name to verify instead of the host (node's `ssl.servername`).
    pub ssl_servername: Option<String>,
    /// libpq's `sslnegotiation`: `postgres` or `direct`.
    pub ssl_negotiation: Option<String>,
    /// libpq's `channel_binding`: `disable`, `prefer` or `require`.
    pub channel_binding: Option<String>,
    /// libpq's `target_session_attrs`.
    pub target_session_attrs: Option<String>,
    /// libpq's `load_balance_hosts`: `disable` or `random`.
    pub load_balance_hosts: Option<String>,
    /// libpq's `passfile`.
    pub passfile: Option<String>,
    /// Asked for the password of each new connection (rotating tokens).
    pub password_fn: Option<PasswordFn>,
    /// libpq keys from the environment (`PGSSLMODE`...), below the URL and the fields.
    pub defaults: Vec<(String, String)>,
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
    /// How often each shard closes idle connections beyond `min` and opens up to `min`
    /// (pgx's `pool_health_check_period`).
    pub maintain_every: Duration,
    /// Single-threaded engine shards, each owning its own connections.
    pub shards: usize,
    /// Hand every new connection to JavaScript's `onConnect` before first use.
    pub on_connect: bool,
    /// How long a shard keeps its thread spinning after each request instead of sleeping, to
    /// catch the next request and the server's answer without a cross-core wake-up.
    pub spin: Duration,
    /// Run the shards' threads under `SCHED_BATCH` on Linux, so waking one never preempts the
    /// JavaScript thread ([`crate::engine::threads`]).
    pub batch_threads: bool,
    /// Refuse transaction control and session state on the shared path before sending
    /// ([`crate::guard`]). Only tests turn it off, to show the server-status rule behind it.
    pub shared_guard: bool,
    /// A query whose text is `pgwarp:test:panic` panics inside the engine: only tests turn
    /// it on, to show that a panic becomes an error and the process lives on.
    pub test_panic: bool,
    /// JavaScript gives passwords through a function, asked once per new connection.
    pub password_fn: bool,
    /// JavaScript wants the server's notices (`onNotice`); otherwise they are dropped.
    pub notices: bool,
    /// Reset a session its holder may have changed before the next holder gets it; when
    /// false, only a transaction left open is rolled back (pg's behaviour).
    pub reset_session: bool,
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
            maintain_every: Duration::from_secs(1),
            shards: 1,
            on_connect: false,
            spin: Duration::from_micros(100),
            batch_threads: true,
            shared_guard: true,
            test_panic: false,
            password_fn: false,
            notices: false,
            reset_session: true,
        }
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
