/**
 * The pool users hold: the entry point of every query.
 * @module
 */
import type { Readable } from 'node:stream';

import { Bridge, type Limits } from './bridge';
import { copyIn, copyOut, copyRows, type CopyRows, type CopySource, type TableName } from './copy';
import { queryDefaults, resolveOptions, type PoolOptions, type QueryDefaults } from './config';
import type { Int8Mode, RowMode } from './decode';
import { errorFromResult, PgwarpError, PoolClosedError } from './errors';
import { QueryResult, type QueryRunner } from './query-result';
import { ReservedConnection } from './reserved';
import { backoff, beginStatement, retryable, runTransaction, type Transaction, type TransactionOptions } from './transaction';

/** Options of one query. */
export interface QueryOptions {
  /** `'array'` gives each row as an array in column order. Default `'object'`. */
  rowMode?: RowMode;
  /** Overrides the pool's `int8` option for this query. */
  int8?: Int8Mode;
  /** Overrides the pool's `maxRows` for this query (0: no limit). */
  maxRows?: number;
  /** Overrides the pool's `maxBytes` for this query (0: no limit). */
  maxBytes?: number;
}

/** Counters since the pool started. */
export interface PoolCounters {
  queries: number;
  acquires: number;
  acquireTimeouts: number;
  created: number;
  destroyed: number;
  errors: number;
  /** Released connections that were rolled back or had their session reset before reuse. */
  resets: number;
}

/** A snapshot of connections and work, for one shard or the whole pool. */
export interface PoolShardStats {
  connections: { total: number; idle: number; busy: number; reserved: number };
  /** Queries running, plus reservations held. */
  inFlight: number;
  /** Callers waiting for a connection. */
  waiting: number;
  counters: PoolCounters;
}

/** {@link PoolShardStats} in total, and per shard. */
export interface PoolStats extends PoolShardStats {
  shards: PoolShardStats[];
}

/** Options of {@link Pool.close}. */
export interface CloseOptions {
  /** Milliseconds to let running queries finish before they are cancelled. Default: no limit. */
  timeout?: number;
}

/** @internal Turns a query call into a QueryResult; shared by the pool and reserved connections. */
export function makeQuery<T>(runner: QueryRunner, defaults: QueryDefaults, sql: string, params?: readonly unknown[], options?: QueryOptions): QueryResult<T> {
  const d = options === undefined ? defaults : queryDefaults(options, defaults);
  return new QueryResult<T>(runner, sql, params, { rowMode: options?.rowMode === 'array' ? 'array' : 'object', int8: d.int8 }, d);
}

/**
 * A pool of PostgreSQL connections. Connections open on first use; autocommit queries are
 * pipelined over them; `reserve()` lends one to a caller alone.
 *
 * @example
 * ```ts
 * import { Pool } from 'pgwarp';
 *
 * const pool = new Pool('postgres://app@localhost/app');   // or new Pool() to use DATABASE_URL / PG*
 * const rows = await pool.query('select id, name from users where active = $1', [true]);
 * await pool.close();
 * ```
 */
export class Pool implements QueryRunner {
  /** @internal */
  readonly bridge: Bridge;
  private readonly defaults: QueryDefaults;
  private closing: Promise<void> | undefined;

  constructor(url?: string | PoolOptions, options?: PoolOptions) {
    const o = (typeof url === 'object' ? url : options) ?? {};
    this.defaults = queryDefaults(o);
    const onConnect = o.onConnect;
    if (onConnect !== undefined && typeof onConnect !== 'function') throw new PgwarpError('onConnect must be a function');
    try {
      this.bridge = new Bridge(
        resolveOptions(url, options),
        onConnect && ((id) => this.prepare(id, onConnect)),
        typeof o.password === 'function' ? o.password : undefined,
      );
    } catch (e) {
      throw new PgwarpError((e as Error).message);
    }
  }

  /** Runs the user's `onConnect` on a new connection, which stays out of the pool until then. */
  private async prepare(id: number, onConnect: NonNullable<PoolOptions['onConnect']>): Promise<void> {
    let error = '';
    try {
      await onConnect(new ReservedConnection(this.bridge, id, this.defaults, false));
    } catch (e) {
      error = (e instanceof Error ? e.message : String(e)) || 'onConnect threw';
    }
    this.bridge.ready(id, error);
  }

  /**
   * A query with `$1, $2, ...` placeholders. Nothing runs until a method of the result is
   * called or the result is awaited.
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], options?: QueryOptions): QueryResult<T> {
    return makeQuery<T>(this, this.defaults, sql, params, options);
  }

  /**
   * A connection for the caller alone, until `release()` (or the end of an `await using`
   * block). Use it for session state, transactions by hand, advisory locks. On release it is
   * rolled back if the server says a transaction is open, and its session is reset (settings,
   * role, locks, LISTENs, cursors, temporary tables) unless only transaction control ran on it;
   * it is closed if that fails, never handed on dirty.
   *
   * @example
   * ```ts
   * await using conn = await pool.reserve();
   * await conn.query('set local lock_timeout = 1000').execute();
   * ```
   */
  async reserve(): Promise<ReservedConnection> {
    if (this.closing) throw new PoolClosedError('the pool is closed');
    const buf = await this.bridge.reserve();
    if (buf[0] !== 0) throw errorFromResult(buf);
    return new ReservedConnection(this.bridge, buf.readUInt32LE(4), this.defaults);
  }

  /**
   * Runs `fn` in a transaction on a connection of its own: `BEGIN` (with the options), then
   * `COMMIT` when `fn` resolves or `ROLLBACK` when it throws (the original error is rethrown).
   * Resolves to what `fn` returned, and only if the server committed: when an earlier
   * statement failed (even one whose error `fn` caught), the server answers COMMIT with
   * ROLLBACK, and this rejects with a {@link RolledBackError} whose `cause` is that failure.
   * With `retries`, the whole of `fn` runs again on serialization failures and deadlocks, so
   * `fn` must be safe to run again; the final error carries `attempts`.
   *
   * @example
   * ```ts
   * const balance = await pool.transaction(async (tx) => {
   *   await tx.query('update accounts set balance = balance - $1 where id = $2', [10, from]).execute();
   *   await tx.query('update accounts set balance = balance + $1 where id = $2', [10, to]).execute();
   *   return tx.query<number>('select balance from accounts where id = $1', [from]).scalar();
   * }, { isolation: 'serializable', retries: 5 });
   * ```
   */
  async transaction<R>(fn: (tx: Transaction) => Promise<R> | R, options: TransactionOptions = {}): Promise<R> {
    if (typeof fn !== 'function') throw new PgwarpError('transaction() needs a callback: pool.transaction(async (tx) => { ... })');
    const begin = beginStatement(options);
    const retries = options.retries ?? 0;
    if (!Number.isInteger(retries) || retries < 0) throw new PgwarpError(`retries must be a non-negative integer, not ${retries}`);
    for (let attempt = 1; ; attempt++) {
      const conn = await this.reserve();
      try {
        return await runTransaction(conn, this.defaults, begin, fn);
      } catch (err) {
        if (attempt <= retries && retryable(err)) {
          // Give the connection back before sleeping (`finally` releasing again is a no-op).
          await conn.release();
          await backoff(attempt);
          continue;
        }
        if (err instanceof Error) Object.defineProperty(err, 'attempts', { value: attempt, enumerable: false, configurable: true });
        throw err;
      } finally {
        await conn.release();
      }
    }
  }

  /**
   * Runs a `COPY ... FROM STDIN` statement with data from `source`: a Node Readable (a file,
   * a gzip stream...) or an (async) iterable of Buffers or strings, in whatever format the
   * statement names (text, CSV, binary). Resolves to the number of rows copied. The source is
   * read only as fast as the server takes the data. If the source fails or the server rejects
   * a row, the COPY is aborted (nothing of it is committed) and the error is thrown; the
   * connection stays usable.
   *
   * @example
   * ```ts
   * import { createReadStream } from 'node:fs';
   * const n = await pool.copyIn('copy events from stdin (format csv)', createReadStream('events.csv'));
   * ```
   */
  copyIn(sql: string, source: CopySource): Promise<number> {
    return copyIn(this, sql, source);
  }

  /**
   * Bulk-loads records: each row an array of values in the order of `columns`, from an array
   * or an (async) iterable. The engine looks the column types up once (cached per connection)
   * and encodes the rows as binary COPY (text COPY for tables with types it has no binary
   * form for) on its own threads. Values follow the same rules as query parameters. Resolves
   * to the number of rows copied; on any error nothing is committed.
   *
   * @example
   * ```ts
   * await pool.copyRows('events', ['id', 'kind', 'payload'], [
   *   [1, 'signup', { plan: 'pro' }],
   *   [2, 'login', null],
   * ]);
   * ```
   */
  copyRows(table: TableName, columns: readonly string[], rows: CopyRows): Promise<number> {
    return copyRows(this, table, columns, rows);
  }

  /**
   * Runs a `COPY ... TO STDOUT` statement; its data arrives as a Node Readable of Buffers
   * (also an async iterable), read from the server only as fast as it is consumed. Destroying
   * the stream early cancels the COPY and gives the connection back clean.
   *
   * @example
   * ```ts
   * import { pipeline } from 'node:stream/promises';
   * await pipeline(pool.copyOut('copy events to stdout (format csv)'), createWriteStream('events.csv'));
   * ```
   */
  copyOut(sql: string): Readable {
    return copyOut(this, sql);
  }

  /** @internal */
  run(sql: string, params: readonly unknown[] | undefined, mode: number, limits?: Limits): Promise<Buffer> {
    if (this.closing) return Promise.reject(new PoolClosedError('the pool is closed'));
    return this.bridge.query(sql, params, mode, 0, limits);
  }

  /** @internal */
  stop(cursor: number): Promise<Buffer> {
    return this.bridge.stop(cursor);
  }

  /** @internal */
  next(cursor: number): Promise<Buffer> {
    return this.bridge.next(cursor);
  }

  /** @internal */
  cancel(cursor: number): void {
    this.bridge.cancel(cursor);
  }

  /**
   * Refuses new queries, lets running ones finish (cancelling them after `timeout` ms when
   * given), and closes every connection. Afterwards the process can exit on its own.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.bridge.close(options.timeout);
    return this.closing;
  }

  /** Connections, work and counters, in total and per shard. */
  stats(): PoolStats {
    const shards: PoolShardStats[] = this.bridge.stats().map((s) => ({
      connections: { total: s.total, idle: s.idle, busy: s.busy, reserved: s.reserved },
      inFlight: s.inFlight,
      waiting: s.waiting,
      counters: {
        queries: s.queries,
        acquires: s.acquires,
        acquireTimeouts: s.acquireTimeouts,
        created: s.created,
        destroyed: s.destroyed,
        errors: s.errors,
        resets: s.resets,
      },
    }));
    const total: PoolStats = {
      connections: { total: 0, idle: 0, busy: 0, reserved: 0 },
      inFlight: 0,
      waiting: 0,
      counters: { queries: 0, acquires: 0, acquireTimeouts: 0, created: 0, destroyed: 0, errors: 0, resets: 0 },
      shards,
    };
    for (const s of shards) {
      for (const k of ['total', 'idle', 'busy', 'reserved'] as const) total.connections[k] += s.connections[k];
      total.inFlight += s.inFlight;
      total.waiting += s.waiting;
      for (const k of Object.keys(total.counters) as (keyof PoolCounters)[]) total.counters[k] += s.counters[k];
    }
    return total;
  }
}
