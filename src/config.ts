/**
 * Connection settings: a URL, an options object, and the environment, resolved the way users
 * of libpq, pg and postgres.js expect.
 * @module
 */
import * as os from 'node:os';

import type { NativePoolOptions } from '../native/index.js';
import type { Int8Mode } from './decode';
import { PgwarpError } from './errors';

/** Options of a {@link Pool}. Fields given here override the URL. */
export interface PoolOptions {
  /** Host name, IP address, or a directory holding the server's Unix socket (starts with `/`). */
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** `application_name` shown in `pg_stat_activity`. */
  applicationName?: string;
  /** Milliseconds to wait for a connection to open. */
  connectTimeout?: number;
  /** Server-side `statement_timeout` in milliseconds for every connection. */
  statementTimeout?: number;
  /** Startup options as libpq's `options` (e.g. `-c search_path=app`). */
  options?: string;
  /** `sslmode`: `disable`, `allow`, `prefer` (TLS is not built in yet; `require` is refused). */
  sslmode?: string;
  /** Most connections to open. Default 10. */
  max?: number;
  /** Prepared statements cached per connection (least recently used are closed). Default 256. */
  statementCacheSize?: number;
  /** How int8 values arrive: `'number'` (default; throws beyond +/-2^53-1), `'bigint'`, `'string'`. */
  int8?: Int8Mode;
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

function nonNegative(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0) throw new PgwarpError(`${name} must be a non-negative integer, not ${v}`);
  return v;
}

function urlUser(url: string): { user: boolean; password: boolean } {
  try {
    const u = new URL(url);
    return { user: u.username !== '', password: u.password !== '' };
  } catch {
    // The engine reports malformed URLs with a precise message.
    return { user: true, password: true };
  }
}

/** Resolves the settings for the engine. `env` is `process.env` except in tests. */
export function resolveOptions(
  urlOrOptions: string | PoolOptions | undefined,
  maybeOptions: PoolOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): NativePoolOptions {
  const url = typeof urlOrOptions === 'string' ? urlOrOptions : undefined;
  const o: PoolOptions = (typeof urlOrOptions === 'object' ? urlOrOptions : maybeOptions) ?? {};
  const resolved: NativePoolOptions = {
    host: o.host,
    port: o.port,
    user: o.user,
    password: o.password,
    database: o.database,
    applicationName: o.applicationName,
    options: o.options,
    connectTimeoutMs: nonNegative('connectTimeout', o.connectTimeout),
    statementTimeoutMs: nonNegative('statementTimeout', o.statementTimeout),
    sslMode: o.sslmode,
    max: nonNegative('max', o.max),
    statementCacheSize: nonNegative('statementCacheSize', o.statementCacheSize),
  };
  // Nothing said where to connect: DATABASE_URL, then libpq's PG* variables.
  const explicit = url ?? (o.host === undefined ? env.DATABASE_URL : undefined);
  if (explicit) {
    resolved.url = explicit;
    const has = urlUser(explicit);
    if (!has.user) resolved.user ??= env.PGUSER ?? os.userInfo().username;
    if (!has.password) resolved.password ??= env.PGPASSWORD;
  } else {
    resolved.host ??= env.PGHOST ?? 'localhost';
    resolved.port ??= env.PGPORT ? Number(env.PGPORT) : 5432;
    resolved.user ??= env.PGUSER ?? os.userInfo().username;
    resolved.password ??= env.PGPASSWORD;
    resolved.database ??= env.PGDATABASE ?? resolved.user;
  }
  return resolved;
}
