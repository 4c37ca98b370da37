/**
 * Connection settings: a URL, an options object, and the environment, resolved the way users
 * of libpq, pg and postgres.js expect.
 * @module
 */
import * as os from 'node:os';

import type { NativePoolOptions } from '../../native/index.js';
import type { Int8Mode } from '../result/decode';
import type { JsonNumbers } from '../result/json-exact';
import { envDefaults } from './env';
import { PgwarpError } from '../errors/errors';
import { sslSettings, type SslOption } from './ssl';

/** Options of a {@link Pool}. Fields given here override the URL. */
export interface PoolOptions {
  /**
   * Host name, IP address, or a directory holding the server's Unix socket (starts with `/`);
   * several (an array, or comma-separated) are tried in order.
   */
  host?: string | string[];
  /** One port for every host, or one per host. */
  port?: number | number[];
  user?: string;
  /**
   * The password, or a function giving it (or a promise of it), called for each new
   * connection: rotating tokens (RDS IAM, Azure AD) work. If it throws, that is the connect
   * error. Without one, libpq's password file is read (`passfile`, `PGPASSFILE`, `~/.pgpass`).
   */
  password?: string | (() => string | Promise<string>);
  database?: string;
  /** `application_name` shown in `pg_stat_activity`. */
  applicationName?: string;
  /** Milliseconds to wait for a connection to open. */
  connectTimeout?: number;
  /** Server-side `statement_timeout` in milliseconds for every connection. */
  statementTimeout?: number;
  /** Server-side `lock_timeout` in milliseconds for every connection (how long a statement waits for a lock). */
  lockTimeout?: number;
  /**
   * Server-side `idle_in_transaction_session_timeout` in milliseconds for every connection:
   * the server ends a session left idle inside a transaction that long (its locks go with
   * it). These three go as startup `options`, which PgBouncer refuses: behind it, give each
   * call a `timeout`, or `SET LOCAL` them inside transactions.
   */
  idleInTransactionSessionTimeout?: number;
  /** Startup options as libpq's `options` (e.g. `-c search_path=app`). */
  options?: string;
  /**
   * libpq's `sslmode`: `disable`, `allow`, `prefer` (the default), `require`, `verify-ca`,
   * `verify-full`; see the README's table for what each checks.
   */
  sslmode?: string;
  /**
   * node-postgres' `ssl`: `true` verifies the server against Node's CA list (plus
   * `NODE_EXTRA_CA_CERTS`), `{ ca, cert, key, passphrase, rejectUnauthorized, servername }`
   * with node's meanings, or an sslmode. `sslmode`, when also given, decides the mode.
   */
  ssl?: SslOption;
  /** libpq's `sslrootcert`: a PEM file of roots, or `'system'` for the system's store (implies verify-full). */
  sslrootcert?: string;
  /** libpq's `sslcert`: the client certificate file. */
  sslcert?: string;
  /** libpq's `sslkey`: the client key file (not readable by group or others). */
  sslkey?: string;
  /** libpq's `sslpassword`: the client key's password. */
  sslpassword?: string;
  /** libpq's `sslnegotiation`: `'direct'` starts TLS at once (PostgreSQL 17+; needs sslmode require or stricter). */
  sslnegotiation?: 'postgres' | 'direct';
  /** libpq's `channel_binding`: `'prefer'` (default), `'require'` (SCRAM-SHA-256-PLUS over TLS) or `'disable'`. */
  channelBinding?: 'disable' | 'prefer' | 'require';
  /** libpq's `target_session_attrs`: which of several hosts will do. */
  targetSessionAttrs?: 'any' | 'read-write' | 'read-only' | 'primary' | 'standby' | 'prefer-standby';
  /** libpq's `load_balance_hosts`: `'random'` tries hosts in random order. */
  loadBalanceHosts?: 'disable' | 'random';
  /** libpq's `passfile`: the password file (default `PGPASSFILE`, else `~/.pgpass`). */
  passfile?: string;
  /** TCP keepalive probes on idle connections, as libpq's `keepalives`. Default true. */
  keepAlive?: boolean;
  /** Milliseconds idle before the first keepalive probe (libpq `keepalives_idle`). Default: the system's. */
  keepAliveIdle?: number;
  /** Milliseconds between keepalive probes (libpq `keepalives_interval`). Default: the system's. */
  keepAliveInterval?: number;
  /** Unanswered probes before the connection is given up (libpq `keepalives_count`). Default: the system's. */
  keepAliveCount?: number;
  /**
   * Milliseconds sent data may go unacknowledged before the connection is given up (libpq
   * `tcp_user_timeout`, Linux): bounds a peer that vanished mid-query, for callers with no
   * timeout of their own. Default: the system's.
   */
  tcpUserTimeout?: number;
  /** Most connections to open (over all shards). Default 10. */
  max?: number;
  /** Connections opened at start and kept open. Default 0. */
  min?: number;
  /** Queries pipelined on one connection before callers wait. Default 100. */
  maxPipeline?: number;
  /** Milliseconds a caller waits for a connection before `PoolTimeoutError`; 0 waits forever. Default 30000. */
  acquireTimeout?: number;
  /** Milliseconds after which an idle connection is closed (down to `min`); 0 never. Default 600000. */
  idleTimeout?: number;
  /** Milliseconds after which a connection is retired once idle (up to 10% earlier, so they do not all go at once); 0 never. Default 3600000. */
  maxLifetime?: number;
  /**
   * With several hosts: ms a host whose connection attempt failed (refused, unreachable, timed
   * out, starting up) is tried last, so new connections go first to hosts that answer; 0 never.
   * Default 10000.
   */
  hostRecheck?: number;
  /**
   * Standbys whose replay lags more than this many ms are skipped by the `standby` and
   * `prefer-standby` targets; when every standby is skipped for it, `standby` reads from the
   * primary (and looks for a standby again after `hostRecheck`). The lag is the time since
   * the last transaction the standby replayed committed on the primary, or 0 while it has
   * replayed all it received and its WAL receiver runs; checked at connect and, for open
   * connections, every maintenance tick (1 s). Default: no limit.
   */
  maxReplicaLagMs?: number;
  /** `false` uses unnamed statements only, for PgBouncer in transaction mode (the server infers parameter types; values go as text). Default true. */
  prepare?: boolean;
  /**
   * `'transaction'`: the server is reached through a pooler in transaction mode (PgBouncer,
   * Supavisor, RDS Proxy), where nothing session-level lasts past a transaction. `prepare`
   * then defaults to false, and what cannot work there is refused with a clear error instead
   * of failing quietly: `listen()` (notifications would never arrive) and session settings
   * sent at startup (`statementTimeout`, `lockTimeout`, `idleInTransactionSessionTimeout`,
   * `options`, which PgBouncer refuses). Default `'none'`.
   */
  pooler?: 'none' | 'transaction';
  /** Engine threads, each owning its own connections; `'auto'` is one per CPU. Default 1. */
  shards?: number | 'auto';
  /**
   * Microseconds an engine thread keeps spinning after each request instead of sleeping, so
   * the next request and the server's answer are seen without a cross-core wake-up: lower
   * latency at one query in flight for some CPU while busy. 0 sleeps at once. Default 100.
   */
  spin?: number;
  /**
   * Linux: the engine's threads run under `SCHED_BATCH`, so a thread woken by a request or by
   * the server's answer waits for a free core instead of preempting the JavaScript thread (or
   * the database server on the same machine). `false` keeps the default policy. Default true.
   */
  batchThreads?: boolean;
  /**
   * Prepares every new connection before its first use (session settings, `SET ROLE`...).
   * If it throws, the connection is closed and the query that needed it fails.
   *
   * @example
   * ```ts
   * new Pool(url, { onConnect: (conn) => conn.query("set search_path = app").execute() });
   * ```
   */
  onConnect?: (connection: import('../pool/reserved').ReservedConnection) => unknown;
  /**
   * Called with each notice the server sends (`RAISE NOTICE`, `RAISE WARNING`, server
   * warnings), with the fields a `PostgresError` has. Without it, notices are dropped, as pg's
   * Pool does (postgres.js logs them): pass `console.warn` to see them.
   */
  onNotice?: (notice: import('../pool/notify').Notice) => void;
  /**
   * Puts each statement's parameters in what `pgwarp:query` subscribers (and `pgwarp/otel`)
   * are given. Off by default: values can be secrets.
   */
  traceParams?: boolean;
  /**
   * Called with a `slow-query` event for each statement that took `slowQueryMs` or longer,
   * failed or not. A logger that throws is ignored.
   *
   * @example
   * ```ts
   * const pool = new Pool(url, { slowQueryMs: 200, log: (e) => logger.warn(e, 'slow query') });
   * ```
   */
  log?: (event: import('../tracing/tracing').SlowQueryEvent) => void;
  /** Milliseconds from which `log` hears of a statement. Default 1000 (with `log` set). */
  slowQueryMs?: number;
  /**
   * Codecs for types pgwarp does not know (extension types such as `citext`, `hstore`,
   * `ltree`), by type name or OID: `parse` turns the server's text into your value (also in
   * arrays of the type), `serialize` your value into the type's text for parameters the
   * server types as it (their types are asked of the server once per SQL text).
   *
   * @example
   * ```ts
   * new Pool(url, { types: { hstore: { parse: parseHstore, serialize: stringifyHstore } } });
   * ```
   */
  types?: import('../query/codecs').TypeCodecs;
  /** Prepared statements cached per connection (least recently used are closed). Default 256. */
  statementCacheSize?: number;
  /**
   * Whether a connection given back after `reserve()` or a transaction is reset when its
   * holder's statements may have changed the session (settings, role, advisory locks,
   * LISTENs, cursors, temporary tables), so that nothing of it reaches the next holder.
   * Default `true`. The reset travels ahead of the next statement on the connection, so it
   * costs no round trip, but it costs the server about as much as a point query per release
   * (seven statements in one message).
   * `false` does what pg does: only a transaction left open is rolled back (which costs
   * nothing when none is, as the server says whether one is). pgwarp/pg defaults to `false`.
   */
  resetSession?: boolean;
  /** How int8 values arrive: `'number'` (default; throws beyond +/-2^53-1), `'bigint'`, `'string'`. */
  int8?: Int8Mode;
  /**
   * How numbers inside json/jsonb values arrive. `'float'` (default): as `JSON.parse` gives
   * them, so integers beyond +/-(2^53 - 1) are rounded (`12345678901234567890` reads as
   * `12345678901234567000`). `'exact'`: such integer literals (no fraction, no exponent)
   * become `bigint`s, and everything else is exactly what `JSON.parse` gives. The engine finds
   * the documents that have one off the JavaScript thread, so only those pay for the exact
   * parser. Applies to json/jsonb columns and json[]/jsonb[] arrays; json inside composites
   * and ranges stays `'float'`. jsonb stores numbers as numeric, so in a jsonb value `1e20`
   * is the integer `100000000000000000000` and comes back as a bigint in `'exact'` mode
   * (json keeps the text as written). Overridable per query. Bigints in parameters are
   * written exactly in both modes.
   *
   * @example
   * ```ts
   * const pool = new Pool(url, { jsonNumbers: 'exact' });
   * const doc = await pool.query(`select '{"id": 12345678901234567890, "n": 1.5}'::jsonb as d`).scalar();
   * // { id: 12345678901234567890n, n: 1.5 }
   * await pool.query('select $1::jsonb', [{ id: 2n ** 64n }], { jsonNumbers: 'float' }).scalar();
   * // { id: 18446744073709552000 }
   * ```
   */
  jsonNumbers?: JsonNumbers;
  /**
   * Most rows a buffered result (`all()`, `model()`, awaiting the query) may have; beyond it
   * the query fails with `ResultTooLargeError` instead of filling memory. `stream()` is not
   * limited. 0: no limit (default). Overridable per query.
   */
  maxRows?: number;
  /** Most bytes of row data a buffered result may have, as for `maxRows`. 0: no limit (default). */
  maxBytes?: number;
}

/** The per-query settings a pool hands to every query, overridable per query. */
export interface QueryDefaults {
  int8: Int8Mode;
  jsonNumbers: JsonNumbers;
  maxRows: number;
  maxBytes: number;
  /** The pool's `types` codecs, when it has any. */
  codecs?: import('../query/codecs').Codecs;
}

/** Checks the per-query settings of pool options (or of one query, over `base`). */
export function queryDefaults(o: { int8?: Int8Mode; jsonNumbers?: JsonNumbers; maxRows?: number; maxBytes?: number }, base?: QueryDefaults): QueryDefaults {
  return {
    int8: o.int8 === undefined ? (base?.int8 ?? 'number') : checkInt8(o.int8),
    jsonNumbers: o.jsonNumbers === undefined ? (base?.jsonNumbers ?? 'float') : checkJsonNumbers(o.jsonNumbers),
    maxRows: limit('maxRows', o.maxRows) ?? base?.maxRows ?? 0,
    maxBytes: limit('maxBytes', o.maxBytes) ?? base?.maxBytes ?? 0,
    codecs: base?.codecs,
  };
}

function limit(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  // maxRows travels as a u32, maxBytes as an f64 holding an integer.
  const max = name === 'maxRows' ? 0xffffffff : Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new PgwarpError(`${name} must be an integer from 0 to ${max}, not ${v}`);
  return v;
}

const INT8_MODES: readonly string[] = ['number', 'bigint', 'string'];

/** Checks an `int8` option. */
export function checkInt8(mode: unknown): Int8Mode {
  if (mode === undefined) return 'number';
  if (typeof mode !== 'string' || !INT8_MODES.includes(mode)) {
    throw new PgwarpError(`int8 must be 'number', 'bigint' or 'string', not ${JSON.stringify(mode)}`);
  }
  return mode as Int8Mode;
}

/** Checks a `jsonNumbers` option. */
function checkJsonNumbers(mode: unknown): JsonNumbers {
  if (mode !== 'float' && mode !== 'exact') {
    throw new PgwarpError(`jsonNumbers must be 'float' or 'exact', not ${JSON.stringify(mode)}`);
  }
  return mode;
}

/** A count (`max`: it travels as a u32) or, with `ms`, milliseconds (up to 2^53 - 1). */
function nonNegative(name: string, v: number | undefined, ms = false): number | undefined {
  if (v === undefined) return undefined;
  const max = ms ? Number.MAX_SAFE_INTEGER : 0xffffffff;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new PgwarpError(`${name} must be a non-negative integer up to ${max}, not ${v}`);
  return v;
}

function optionalBoolean(name: string, v: boolean | undefined): boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  throw new PgwarpError(`${name} must be true or false, not ${JSON.stringify(v)}`);
}

/** Every option a Pool takes: any other key is a mistake worth a word. */
const KNOWN_OPTIONS = new Set([
  'host', 'port', 'user', 'password', 'database', 'applicationName', 'connectTimeout', 'statementTimeout', 'lockTimeout',
  'idleInTransactionSessionTimeout', 'options', 'sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslpassword', 'sslnegotiation',
  'channelBinding', 'targetSessionAttrs', 'loadBalanceHosts', 'passfile', 'keepAlive', 'keepAliveIdle', 'keepAliveInterval',
  'keepAliveCount', 'tcpUserTimeout', 'max', 'min', 'maxPipeline', 'acquireTimeout', 'idleTimeout', 'maxLifetime', 'hostRecheck', 'maxReplicaLagMs', 'prepare', 'pooler', 'traceParams', 'log', 'slowQueryMs', 'shards',
  'spin', 'batchThreads', 'onConnect', 'onNotice', 'types', 'statementCacheSize', 'resetSession', 'int8', 'jsonNumbers', 'maxRows', 'maxBytes',
]);

/** What other drivers call some options, for the error that names an unknown one. */
const OTHER_NAMES: Record<string, string> = {
  connectionString: 'pass the URL as the first argument: new Pool(url, options)',
  idleTimeoutMillis: 'pgwarp calls it idleTimeout',
  connectionTimeoutMillis: 'pgwarp calls it connectTimeout (and acquireTimeout for the wait for a connection)',
  statement_timeout: 'pgwarp calls it statementTimeout',
  application_name: 'pgwarp calls it applicationName',
  idle_timeout: 'pgwarp calls it idleTimeout (in ms)',
  connect_timeout: 'pgwarp calls it connectTimeout (in ms)',
  max_lifetime: 'pgwarp calls it maxLifetime (in ms)',
  username: 'pgwarp calls it user',
  db: 'pgwarp calls it database',
  dbname: 'pgwarp calls it database',
  hostname: 'pgwarp calls it host',
};

/** Refuses keys no Pool option has, naming them (a misspelt option would silently do nothing). */
function checkKnown(o: object): void {
  for (const key of Object.keys(o)) {
    if (KNOWN_OPTIONS.has(key)) continue;
    const near = [...KNOWN_OPTIONS].find((k) => k.toLowerCase() === key.toLowerCase());
    const hint = OTHER_NAMES[key] ?? (near === undefined ? 'see PoolOptions for the options there are' : `did you mean ${near}?`);
    throw new PgwarpError(`unknown pool option ${JSON.stringify(key)}: ${hint}`);
  }
}

/** Whether `o` says the server is behind a transaction-mode pooler (checking the value). */
export function transactionPooler(o: PoolOptions): boolean {
  if (o.pooler === undefined || o.pooler === 'none') return false;
  if (o.pooler === 'transaction') return true;
  throw new PgwarpError(`pooler must be 'none' or 'transaction', not ${JSON.stringify(o.pooler)}`);
}

/** Resolves the settings for the engine. `env` is `process.env` except in tests. */
export function resolveOptions(
  urlOrOptions: string | PoolOptions | undefined,
  maybeOptions: PoolOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): NativePoolOptions {
  const url = typeof urlOrOptions === 'string' ? urlOrOptions : undefined;
  const o: PoolOptions = (typeof urlOrOptions === 'object' ? urlOrOptions : maybeOptions) ?? {};
  if (typeof o !== 'object' || o === null) throw new PgwarpError(`the pool's options must be an object, not ${String(o)}`);
  checkKnown(o);
  if (o.types !== undefined && (typeof o.types !== 'object' || o.types === null || Array.isArray(o.types))) {
    throw new PgwarpError(`types must be an object of codecs by type name or OID, not ${Array.isArray(o.types) ? 'an array' : String(o.types)}`);
  }
  for (const fn of ['onConnect', 'onNotice'] as const) {
    if (o[fn] !== undefined && typeof o[fn] !== 'function') throw new PgwarpError(`${fn} must be a function, not ${typeof o[fn]}`);
  }
  if (o.password !== undefined && typeof o.password !== 'string' && typeof o.password !== 'function') {
    throw new PgwarpError('password must be a string or a function returning one');
  }
  if (transactionPooler(o)) {
    for (const key of ['statementTimeout', 'lockTimeout', 'idleInTransactionSessionTimeout', 'options'] as const) {
      if (o[key] !== undefined) {
        throw new PgwarpError(
          `${key} cannot be used with pooler: 'transaction': it is a session setting sent at startup, which a transaction-mode pooler refuses or does not keep; ` +
            "set it on the role (ALTER ROLE ... SET), per call with `timeout`, or with SET LOCAL inside a transaction",
        );
      }
    }
  }
  const hosts = Array.isArray(o.host) ? o.host.join(',') : o.host;
  const ports = Array.isArray(o.port) ? o.port : o.port === undefined ? undefined : [o.port];
  const ssl = sslSettings(o.ssl, env);
  const resolved: NativePoolOptions = {
    host: hosts,
    port: ports,
    user: o.user,
    password: typeof o.password === 'string' ? o.password : undefined,
    passwordFn: typeof o.password === 'function' ? true : undefined,
    database: o.database,
    applicationName: o.applicationName,
    options: o.options,
    connectTimeoutMs: nonNegative('connectTimeout', o.connectTimeout, true),
    statementTimeoutMs: nonNegative('statementTimeout', o.statementTimeout, true),
    lockTimeoutMs: nonNegative('lockTimeout', o.lockTimeout, true),
    idleInTransactionSessionTimeoutMs: nonNegative('idleInTransactionSessionTimeout', o.idleInTransactionSessionTimeout, true),
    ...ssl,
    sslMode: o.sslmode ?? ssl.sslMode,
    sslRootCert: o.sslrootcert,
    sslCert: o.sslcert,
    sslKey: o.sslkey,
    sslPassword: o.sslpassword ?? ssl.sslPassword,
    sslNegotiation: o.sslnegotiation,
    channelBinding: o.channelBinding,
    targetSessionAttrs: o.targetSessionAttrs,
    loadBalanceHosts: o.loadBalanceHosts,
    passfile: o.passfile,
    keepAlive: o.keepAlive === undefined ? undefined : Boolean(o.keepAlive),
    keepAliveIdleMs: nonNegative('keepAliveIdle', o.keepAliveIdle, true),
    keepAliveIntervalMs: nonNegative('keepAliveInterval', o.keepAliveInterval, true),
    keepAliveCount: nonNegative('keepAliveCount', o.keepAliveCount),
    tcpUserTimeoutMs: nonNegative('tcpUserTimeout', o.tcpUserTimeout, true),
    max: nonNegative('max', o.max),
    min: nonNegative('min', o.min),
    maxPipeline: nonNegative('maxPipeline', o.maxPipeline),
    acquireTimeoutMs: nonNegative('acquireTimeout', o.acquireTimeout, true),
    idleTimeoutMs: nonNegative('idleTimeout', o.idleTimeout, true),
    maxLifetimeMs: nonNegative('maxLifetime', o.maxLifetime, true),
    hostRecheckMs: nonNegative('hostRecheck', o.hostRecheck, true),
    maxReplicaLagMs: nonNegative('maxReplicaLagMs', o.maxReplicaLagMs, true),
    pooler: transactionPooler(o) || undefined,
    prepare: o.prepare ?? (transactionPooler(o) ? false : undefined),
    spinUs: nonNegative('spin', o.spin),
    batchThreads: optionalBoolean('batchThreads', o.batchThreads),
    shards: o.shards === 'auto' ? os.availableParallelism() : nonNegative('shards', o.shards),
    statementCacheSize: nonNegative('statementCacheSize', o.statementCacheSize),
    resetSession: optionalBoolean('resetSession', o.resetSession),
    // A test hook: without the pre-send check, the server-status rule alone must keep
    // pool.query('begin') from capturing other callers (__test__/server-state.test.ts).
    sharedGuard: env.PGWARP_TEST_SKIP_SHARED_GUARD === '1' ? false : undefined,
    // A test hook: the query `pgwarp:test:panic` panics inside the engine.
    testPanic: env.PGWARP_TEST_PANIC === '1' ? true : undefined,
    notices: o.onNotice !== undefined ? true : undefined,
  };
  // Nothing said where to connect: DATABASE_URL. libpq's PG* variables lie below whatever
  // the URL and the options say.
  resolved.url = url ?? (o.host === undefined ? env.DATABASE_URL || undefined : undefined);
  resolved.defaults = envDefaults(env);
  return resolved;
}
