use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, Env, Error, Function, Result};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use pgwarp_core::config::{millis, pool_url};
use pgwarp_core::{ConnectOptions, Engine, PoolOptions, PoolStats};

/// Settings as resolved by the TypeScript layer (URL, explicit fields, environment).
#[napi(object)]
pub struct NativePoolOptions {
    pub url: Option<String>,
    pub host: Option<String>,
    /// One port for every host, or one per host.
    pub port: Option<Vec<u32>>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    pub application_name: Option<String>,
    pub options: Option<String>,
    /// Milliseconds (numbers, so values past 2^32 are not wrapped).
    pub connect_timeout_ms: Option<f64>,
    pub statement_timeout_ms: Option<f64>,
    pub lock_timeout_ms: Option<f64>,
    pub idle_in_transaction_session_timeout_ms: Option<f64>,
    pub ssl_mode: Option<String>,
    pub keep_alive: Option<bool>,
    /// Milliseconds; 0: the system's default.
    pub keep_alive_idle_ms: Option<f64>,
    /// Milliseconds; 0: the system's default.
    pub keep_alive_interval_ms: Option<f64>,
    pub keep_alive_count: Option<u32>,
    /// Milliseconds; 0: the system's default.
    pub tcp_user_timeout_ms: Option<f64>,
    pub max: Option<u32>,
    pub min: Option<u32>,
    pub max_pipeline: Option<u32>,
    pub statement_cache_size: Option<u32>,
    pub prepare: Option<bool>,
    /// Milliseconds; 0 disables.
    pub idle_timeout_ms: Option<f64>,
    /// Milliseconds; 0 disables.
    pub max_lifetime_ms: Option<f64>,
    pub host_recheck_ms: Option<f64>,
    /// Milliseconds of replay lag past which `standby` targets skip a standby.
    pub max_replica_lag_ms: Option<f64>,
    /// Behind a transaction-mode pooler (`pooler: 'transaction'`).
    pub pooler: Option<bool>,
    /// Milliseconds; 0 waits forever.
    pub acquire_timeout_ms: Option<f64>,
    pub shards: Option<u32>,
    /// Whether JavaScript wants to prepare every new connection (`onConnect`).
    pub on_connect: Option<bool>,
    /// Microseconds a shard spins after each request; 0 sleeps at once.
    pub spin_us: Option<u32>,
    /// `false` keeps the engine threads under the default scheduling policy.
    pub batch_threads: Option<bool>,
    /// `false` lets transaction control through `pool.query()` (tests of the safety net only).
    pub shared_guard: Option<bool>,
    /// `false`: a release rolls back an open transaction only, and resets nothing else.
    pub reset_session: Option<bool>,
    /// `true` makes the query `pgwarp:test:panic` panic in the engine (tests only).
    pub test_panic: Option<bool>,
    pub ssl_root_cert: Option<String>,
    /// PEM text.
    pub ssl_root_cert_pem: Option<String>,
    pub ssl_cert: Option<String>,
    /// PEM text.
    pub ssl_cert_pem: Option<String>,
    pub ssl_key: Option<String>,
    /// PEM text.
    pub ssl_key_pem: Option<String>,
    pub ssl_password: Option<String>,
    pub ssl_servername: Option<String>,
    pub ssl_negotiation: Option<String>,
    pub channel_binding: Option<String>,
    pub target_session_attrs: Option<String>,
    pub load_balance_hosts: Option<String>,
    pub passfile: Option<String>,
    /// Whether JavaScript answers password events (a `password` function).
    pub password_fn: Option<bool>,
    /// Whether JavaScript wants the server's notices (`onNotice`).
    pub notices: Option<bool>,
    /// libpq keys from the environment, as `[key, value]` pairs.
    pub defaults: Option<Vec<Vec<String>>>,
}

/// One shard's numbers.
#[napi(object)]
pub struct NativeShardStats {
    pub total: u32,
    pub idle: u32,
    pub busy: u32,
    pub reserved: u32,
    pub in_flight: u32,
    pub waiting: u32,
    pub queries: f64,
    pub acquires: f64,
    pub acquire_timeouts: f64,
    pub created: f64,
    pub destroyed: f64,
    pub errors: f64,
    pub resets: f64,
    pub unreachable_ms: Option<f64>,
    pub acquire_waits: f64,
    pub acquire_wait_ms: f64,
    pub acquire_wait_max_ms: f64,
    pub tls: f64,
    pub plain: f64,
    /// Query times, in powers of two of microseconds (bucket `i`: `[2^i, 2^(i+1))`).
    pub query_times: Vec<f64>,
}

type Waker = ThreadsafeFunction<(), (), (), napi::Status, false, true>;

/// The engine of one pool. Requests go in as one batch per tick (`submit`); completions come
/// out as one buffer per wake-up (`drain`), announced by calling the `wake` function.
#[napi]
pub struct NativePool {
    engine: Engine,
    waker: Arc<Waker>,
}

fn ms(name: &str, v: Option<f64>, default: Option<Duration>) -> Result<Option<Duration>> {
    millis(name, v, default).map_err(|e| Error::from_reason(e.to_string()))
}

#[napi]
impl NativePool {
    /// Validates the settings and starts the shards; connections open on first use (or at
    /// once up to `min`).
    #[napi(constructor)]
    pub fn new(o: NativePoolOptions, wake: Function<(), ()>) -> Result<Self> {
        let port = match o.port {
            Some(ports) if ports.iter().any(|p| *p > 65535) => {
                return Err(Error::from_reason("port must be between 0 and 65535"))
            }
            Some(ports) => Some(
                ports
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            None => None,
        };
        let d = PoolOptions::default();
        // pgx's pool keys in the URL, under what the options give explicitly.
        let u = pool_url::pool_settings(o.url.as_deref())
            .map_err(|e| Error::from_reason(e.to_string()))?;
        let options = PoolOptions {
            connect: ConnectOptions {
                url: o.url,
                // 0 puts no host last (`ms` reads 0 as none).
                host_recheck: match o.host_recheck_ms {
                    Some(v) => Some(ms("hostRecheck", Some(v), None)?.unwrap_or_default()),
                    None => None,
                },
                max_replica_lag: ms("maxReplicaLag", o.max_replica_lag_ms, None)?,
                behind_pooler: o.pooler.unwrap_or(false),
                host: o.host,
                port,
                user: o.user,
                password: o.password,
                database: o.database,
                application_name: o.application_name,
                options: o.options,
                connect_timeout_ms: ms("connectTimeout", o.connect_timeout_ms, None)?
                    .map(|d| d.as_millis() as u64),
                statement_timeout_ms: ms("statementTimeout", o.statement_timeout_ms, None)?
                    .map(|d| d.as_millis() as u64),
                lock_timeout_ms: ms("lockTimeout", o.lock_timeout_ms, None)?
                    .map(|d| d.as_millis() as u64),
                idle_in_transaction_timeout_ms: ms(
                    "idleInTransactionSessionTimeout",
                    o.idle_in_transaction_session_timeout_ms,
                    None,
                )?
                .map(|d| d.as_millis() as u64),
                ssl_mode: o.ssl_mode,
                keepalives: o.keep_alive,
                keepalives_idle_ms: ms("keepAliveIdle", o.keep_alive_idle_ms, None)?
                    .map(|d| d.as_millis() as u64),
                keepalives_interval_ms: ms("keepAliveInterval", o.keep_alive_interval_ms, None)?
                    .map(|d| d.as_millis() as u64),
                keepalives_count: o.keep_alive_count,
                tcp_user_timeout_ms: ms("tcpUserTimeout", o.tcp_user_timeout_ms, None)?
                    .map(|d| d.as_millis() as u64),
                ssl_root_cert: o.ssl_root_cert,
                ssl_root_cert_pem: o.ssl_root_cert_pem,
                ssl_cert: o.ssl_cert,
                ssl_cert_pem: o.ssl_cert_pem,
                ssl_key: o.ssl_key,
                ssl_key_pem: o.ssl_key_pem,
                ssl_password: o.ssl_password,
                ssl_servername: o.ssl_servername,
                ssl_negotiation: o.ssl_negotiation,
                channel_binding: o.channel_binding,
                target_session_attrs: o.target_session_attrs,
                load_balance_hosts: o.load_balance_hosts,
                passfile: o.passfile,
                password_fn: None,
                defaults: o
                    .defaults
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|kv| match <[String; 2]>::try_from(kv) {
                        Ok([k, v]) => Some((k, v)),
                        Err(_) => None,
                    })
                    .collect(),
            },
            max: o.max.map(|v| v as usize).or(u.max).unwrap_or(d.max),
            min: o.min.map(|v| v as usize).or(u.min).unwrap_or(d.min),
            max_pipeline: o.max_pipeline.map_or(d.max_pipeline, |v| v.max(1) as usize),
            statement_cache_size: o
                .statement_cache_size
                .map_or(d.statement_cache_size, |v| v as usize),
            prepare: o.prepare.unwrap_or(d.prepare),
            idle_timeout: ms(
                "idleTimeout",
                o.idle_timeout_ms,
                u.idle_timeout.unwrap_or(d.idle_timeout),
            )?,
            max_lifetime: ms(
                "maxLifetime",
                o.max_lifetime_ms,
                u.max_lifetime.unwrap_or(d.max_lifetime),
            )?,
            acquire_timeout: ms("acquireTimeout", o.acquire_timeout_ms, d.acquire_timeout)?,
            validate_after: d.validate_after,
            maintain_every: u.health_check.unwrap_or(d.maintain_every),
            shards: o.shards.map_or(d.shards, |v| v as usize),
            on_connect: o.on_connect.unwrap_or(false),
            spin: o
                .spin_us
                .map_or(d.spin, |us| Duration::from_micros(us as u64)),
            batch_threads: o.batch_threads.unwrap_or(d.batch_threads),
            shared_guard: o.shared_guard.unwrap_or(d.shared_guard),
            reset_session: o.reset_session.unwrap_or(d.reset_session),
            test_panic: o.test_panic.unwrap_or(d.test_panic),
            password_fn: o.password_fn.unwrap_or(false),
            notices: o.notices.unwrap_or(false),
        };
        // Weak: an idle pool must not keep the process alive; `hold` refs it while work runs.
        let waker: Arc<Waker> = Arc::new(
            wake.build_threadsafe_function::<()>()
                .callee_handled::<false>()
                .weak::<true>()
                .build()?,
        );
        let call = waker.clone();
        let engine = Engine::new(
            options,
            Box::new(move || {
                call.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }),
        )
        .map_err(|e| Error::from_reason(e.to_string()))?;
        Ok(NativePool { engine, waker })
    }

    /// Hands over the requests of one tick.
    #[napi]
    pub fn submit(&self, batch: Buffer) -> Result<()> {
        self.engine
            .submit(&batch)
            .map_err(|e| Error::from_reason(e.to_string()))
    }

    /// Takes the completions waiting, as one buffer.
    #[napi]
    pub fn drain(&self) -> Buffer {
        Buffer::from(self.engine.drain())
    }

    /// Keeps the process alive while work is in flight (`true`), or lets it exit (`false`).
    #[napi]
    pub fn hold(&self, env: Env, keep: bool) -> Result<()> {
        // The handle is shared with the engine's wake closure, so the ref count is changed on
        // the raw handle (napi-rs' refer/unref want exclusive access).
        let raw = self.waker.raw();
        let status = unsafe {
            if keep {
                napi::sys::napi_ref_threadsafe_function(env.raw(), raw)
            } else {
                napi::sys::napi_unref_threadsafe_function(env.raw(), raw)
            }
        };
        if status == napi::sys::Status::napi_ok {
            Ok(())
        } else {
            Err(Error::from_reason(format!(
                "cannot change the engine's hold on the event loop ({status})"
            )))
        }
    }

    /// Refuses new work, lets running work finish (up to `timeout_ms`, then cancels it), and
    /// closes every connection.
    #[napi]
    pub async fn close(&self, timeout_ms: Option<f64>) -> Result<()> {
        // Here 0 means "cancel at once", not "no limit".
        let timeout = match timeout_ms {
            Some(0.0) => Some(Duration::ZERO),
            other => ms("close timeout", other, None)?,
        };
        self.engine.close(timeout).await;
        Ok(())
    }

    /// Numbers per shard.
    #[napi]
    pub fn stats(&self) -> Vec<NativeShardStats> {
        self.engine.stats().iter().map(shard_stats).collect()
    }

    /// Whether waits for a connection come back as events (someone traces them).
    #[napi]
    pub fn observe_waits(&self, on: bool) {
        self.engine.observe_waits(on);
    }

    /// Who and where the pool connects: for tracing.
    #[napi]
    pub fn connection_info(&self) -> NativeConnectionInfo {
        let s = self.engine.settings();
        let (hosts, ports) = (0..s.hosts.len())
            .map(|i| {
                let (h, p) = s.address(i);
                (h, p as u32)
            })
            .unzip();
        NativeConnectionInfo {
            hosts,
            ports,
            user: s.user.clone(),
            database: s.database.clone().unwrap_or_else(|| s.user.clone()),
            application_name: s.application_name.clone(),
            max: self.engine.max() as u32,
        }
    }

    /// What is known of each host.
    #[napi]
    pub fn hosts(&self) -> Vec<NativeHostStats> {
        let now = std::time::Instant::now();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        self.engine
            .hosts()
            .into_iter()
            .map(|h| NativeHostStats {
                name: h.name,
                role: h.state.role.name().to_string(),
                down_for_ms: h.state.down_until.filter(|u| *u > now).map(|u| ms(u - now)),
                checked_ms_ago: h
                    .state
                    .checked
                    .map(|c| ms(now.saturating_duration_since(c))),
                lag_ms: h.state.lag.map(|l| {
                    if l == Duration::MAX {
                        f64::INFINITY
                    } else {
                        ms(l)
                    }
                }),
                last_error: h.state.reason,
            })
            .collect()
    }
}

/// Who and where a pool connects.
#[napi(object)]
pub struct NativeConnectionInfo {
    /// The hosts, in the settings' order (results name theirs by index, from 1).
    pub hosts: Vec<String>,
    /// Their ports.
    pub ports: Vec<u32>,
    /// The user.
    pub user: String,
    /// The database.
    pub database: String,
    /// `application_name`.
    pub application_name: Option<String>,
    /// The most connections the pool opens.
    pub max: u32,
}

/// One host as `stats()` shows it.
#[napi(object)]
pub struct NativeHostStats {
    /// `host:port`.
    pub name: String,
    /// `primary`, `standby`, `read-only` or `unknown`.
    pub role: String,
    /// While it is tried last after a failure: for how much longer.
    pub down_for_ms: Option<f64>,
    /// How long ago its role was last learnt.
    pub checked_ms_ago: Option<f64>,
    /// A standby's replay lag at its last check.
    pub lag_ms: Option<f64>,
    /// Why it was last marked down.
    pub last_error: Option<String>,
}

fn shard_stats(s: &PoolStats) -> NativeShardStats {
    let c = &s.counters;
    NativeShardStats {
        total: s.total as u32,
        idle: s.idle as u32,
        busy: s.busy as u32,
        reserved: s.reserved as u32,
        in_flight: s.in_flight as u32,
        waiting: s.waiting as u32,
        queries: c.queries as f64,
        acquires: c.acquires as f64,
        acquire_timeouts: c.acquire_timeouts as f64,
        created: c.created as f64,
        destroyed: c.destroyed as f64,
        errors: c.errors as f64,
        resets: c.resets as f64,
        unreachable_ms: s.unreachable_for.map(|d| d.as_millis() as f64),
        acquire_waits: c.acquire_waits as f64,
        acquire_wait_ms: c.acquire_wait_us as f64 / 1000.0,
        acquire_wait_max_ms: c.acquire_wait_max_us as f64 / 1000.0,
        tls: c.tls as f64,
        plain: c.plain as f64,
        query_times: c.query_time.0.iter().map(|n| *n as f64).collect(),
    }
}
