/**
 * pg's client and pool configuration, turned into pgwarp's pool options.
 * @module
 */
import type { PoolOptions } from '../config/config';
import type { SslOption } from '../config/ssl';
import type { TypeParserSource } from './types';

/** What `new Client(config)` takes (pg's `ClientConfig`). */
export interface ClientConfig {
  connectionString?: string;
  host?: string;
  port?: number | string;
  user?: string;
  database?: string;
  password?: string | (() => string | Promise<string>);
  ssl?: boolean | Record<string, unknown>;
  application_name?: string;
  fallback_application_name?: string;
  options?: string;
  statement_timeout?: number | false;
  lock_timeout?: number | false;
  idle_in_transaction_session_timeout?: number | false;
  /** Client-side: milliseconds after which a query rejects (and is cancelled on the server). */
  query_timeout?: number | false;
  connectionTimeoutMillis?: number;
  keepAlive?: boolean;
  keepAliveInitialDelayMillis?: number;
  types?: TypeParserSource;
  /** pgwarp's own options for new code; see the README. Never on by default. */
  pgwarp?: PgwarpOptions;
  /** The promise library whose promises `connect()`, `query()` and `end()` return (pg's option; default the global Promise). */
  Promise?: import('./query').PromiseLibrary;
}

/** What `new Pool(config)` takes (pg's `PoolConfig`). */
export interface PoolConfig extends ClientConfig {
  max?: number;
  min?: number;
  idleTimeoutMillis?: number;
  maxLifetimeSeconds?: number;
  maxUses?: number;
  allowExitOnIdle?: boolean;
  /** The class `pool.connect()` hands out; pgwarp's clients are its own, so only its prototype's additions are kept. */
  Client?: unknown;
}

/**
 * The opt-in modern mode: values as pgwarp gives them rather than as pg does. Nothing here is
 * on unless asked for.
 */
export interface PgwarpOptions {
  /**
   * `'pgwarp'`: values as pgwarp's own API gives them, converted in the engine without type
   * parsers: int8 as `int8` says, timestamps (with or without time zone) as the instant in UTC,
   * dates, intervals and numerics as the server's text, composites and ranges as objects.
   * pg-types' parsers (global, `TypeOverrides`, per query) are then not called.
   */
  values?: 'pgwarp';
  /** With `values: 'pgwarp'`: int8 as `'bigint'` (default), `'number'` (refusing values past 2^53) or `'string'`. */
  int8?: 'bigint' | 'number' | 'string';
  /** Pipelined queries per connection before callers wait (pgwarp's `maxPipeline`). */
  maxPipeline?: number;
  /**
   * `false`: unnamed statements only, for PgBouncer in transaction mode (pgwarp/pg otherwise
   * prepares every statement through its cache, under names of its own).
   */
  prepare?: boolean;
  /**
   * `true`: a released client's session is reset (settings, role, advisory locks, LISTENs,
   * temporary tables) before the pool hands it out again, as pgwarp's own Pool does. Default
   * `false`, as pg resets nothing: only a transaction left open is rolled back.
   */
  resetSession?: boolean;
}

const positive = (v: unknown): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);

/** A server timeout as pg sends it: `parseInt` of whatever was given (3000.7 and '3000' are 3000). */
const serverTimeout = (v: unknown): number | undefined => {
  if (!v) return undefined;
  const n = parseInt(String(v), 10);
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

/** The connection string (if any) and pgwarp's options for a pg config. */
export function toPoolOptions(config: PoolConfig | string | undefined, standalone: boolean): [string | undefined, PoolOptions] {
  const c: PoolConfig = typeof config === 'string' ? { connectionString: config } : (config ?? {});
  const o: PoolOptions = {};
  if (c.host !== undefined) o.host = c.host;
  if (c.port !== undefined && c.port !== '') o.port = Number(c.port);
  if (c.user !== undefined) o.user = c.user;
  if (c.database !== undefined) o.database = c.database;
  if (c.password !== undefined && c.password !== null) o.password = c.password;
  if (c.ssl !== undefined && c.ssl !== null) o.ssl = c.ssl as SslOption;
  const app = c.application_name ?? c.fallback_application_name;
  if (app !== undefined) o.applicationName = app;
  if (c.options !== undefined) o.options = c.options;
  o.statementTimeout = serverTimeout(c.statement_timeout);
  o.lockTimeout = serverTimeout(c.lock_timeout);
  o.idleInTransactionSessionTimeout = serverTimeout(c.idle_in_transaction_session_timeout);
  const connectTimeout = positive(c.connectionTimeoutMillis);
  o.connectTimeout = connectTimeout;
  // pg's connectionTimeoutMillis bounds the wait for a client too; 0 (its default) waits forever.
  o.acquireTimeout = connectTimeout ?? 0;
  if (c.keepAlive !== undefined) o.keepAlive = c.keepAlive;
  if (positive(c.keepAliveInitialDelayMillis)) o.keepAliveIdle = c.keepAliveInitialDelayMillis;
  if (c.pgwarp?.maxPipeline !== undefined) o.maxPipeline = c.pgwarp.maxPipeline;
  if (c.pgwarp?.prepare !== undefined) o.prepare = c.pgwarp.prepare;
  // pg resets nothing on release; a reset costs the server about what a point query does.
  o.resetSession = c.pgwarp?.resetSession ?? false;
  // Notices reach the engine's event queue only when someone takes them; pg's clients emit them.
  o.onNotice = () => {};
  if (standalone) {
    // A Client is one connection, open until end().
    o.max = 1;
    o.idleTimeout = 0;
    o.maxLifetime = 0;
  } else {
    o.max = c.max ?? 10;
    if (c.min !== undefined) o.min = c.min;
    o.idleTimeout = c.idleTimeoutMillis ?? 10000;
    if (positive(c.maxLifetimeSeconds)) o.maxLifetime = (c.maxLifetimeSeconds as number) * 1000;
  }
  for (const k of Object.keys(o) as (keyof PoolOptions)[]) if (o[k] === undefined) delete o[k];
  return [c.connectionString, o];
}

/** What pg's Client shows of its settings: the config, then `PG*`, then pg's defaults. */
export interface ConnectionParameters {
  user: string | undefined;
  database: string | undefined;
  host: string;
  port: number;
  password: unknown;
  ssl?: unknown;
}

/**
 * Hides secrets from `util.inspect`, `JSON.stringify` and logs, as pg does: `password` (and
 * `ssl.key`, in the caller's own ssl object, as pg does) become non-enumerable; direct access
 * still reads them.
 */
export function hideSecrets(o: { password?: unknown; ssl?: unknown }): void {
  if ('password' in o) Object.defineProperty(o, 'password', { value: o.password, enumerable: false, writable: true, configurable: true });
  const ssl = o.ssl as { key?: unknown } | undefined;
  if (ssl !== null && typeof ssl === 'object' && ssl.key) Object.defineProperty(ssl, 'key', { enumerable: false });
}

/** pg's `ConnectionParameters`: a connection string's parts win over the fields, as in pg. */
export function connectionParameters(c: ClientConfig, defaults: { user?: string; database?: string; host: string; port: number; password: unknown }): ConnectionParameters {
  const fromUrl: Partial<ConnectionParameters> = {};
  if (c.connectionString !== undefined) {
    try {
      const url = new URL(c.connectionString);
      if (url.username) fromUrl.user = decodeURIComponent(url.username);
      if (url.password) fromUrl.password = decodeURIComponent(url.password);
      if (url.hostname) fromUrl.host = decodeURIComponent(url.hostname);
      if (url.port) fromUrl.port = Number(url.port);
      const db = decodeURIComponent(url.pathname.slice(1));
      if (db) fromUrl.database = db;
    } catch {
      // Not a URL (a libpq keyword string): the engine parses it; these stay as configured.
    }
  }
  const env = process.env;
  const user = fromUrl.user ?? c.user ?? env.PGUSER ?? defaults.user;
  return {
    user,
    database: fromUrl.database ?? c.database ?? env.PGDATABASE ?? defaults.database ?? user,
    host: fromUrl.host ?? c.host ?? env.PGHOST ?? defaults.host,
    port: Number(fromUrl.port ?? c.port ?? env.PGPORT ?? defaults.port),
    password: fromUrl.password ?? c.password ?? env.PGPASSWORD ?? defaults.password,
  };
}
