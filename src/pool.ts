/**
 * The pool users hold: the entry point of every query.
 * @module
 */
import { Bridge } from './bridge';
import { checkInt8, resolveOptions, type PoolOptions } from './config';
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
}

/** Counters since the pool started. */
export interface PoolCounters {
  queries: number;
  acquires: number;
  acquireTimeouts: number;
  created: number;
  destroyed: number;
  errors: number;
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
export function makeQuery<T>(runner: QueryRunner, int8: Int8Mode, sql: string, params?: readonly unknown[], options?: QueryOptions): QueryResult<T> {
  return new QueryResult<T>(runner, sql, params, {
    rowMode: options?.rowMode === 'array' ? 'array' : 'object',
    int8: options?.int8 === undefined ? int8 : checkInt8(options.int8),
  });
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
  private readonly bridge: Bridge;
  private readonly int8: Int8Mode;
  private closing: Promise<void> | undefined;

  constructor(url?: string | PoolOptions, options?: PoolOptions) {
    const o = (typeof url === 'object' ? url : options) ?? {};
    this.int8 = checkInt8(o.int8);
    const onConnect = o.onConnect;
    if (onConnect !== undefined && typeof onConnect !== 'function') throw new PgwarpError('onConnect must be a function');
    try {
      this.bridge = new Bridge(resolveOptions(url, options), onConnect && ((id) => this.prepare(id, onConnect)));
    } catch (e) {
      throw new PgwarpError((e as Error).message);
    }
  }

  /** Runs the user's `onConnect` on a new connection, which stays out of the pool until then. */
  private async prepare(id: number, onConnect: NonNullable<PoolOptions['onConnect']>): Promise<void> {
    let error = '';
    try {
      await onConnect(new ReservedConnection(this.bridge, id, this.int8, false));
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
    return makeQuery<T>(this, this.int8, sql, params, options);
  }

  /**
   * A connection for the caller alone, until `release()` (or the end of an `await using`
   * block). Use it for session state, transactions by hand, advisory locks. Released inside a
   * transaction, it is rolled back first (or closed if that fails), never handed on dirty.
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
    return new ReservedConnection(this.bridge, buf.readUInt32LE(4), this.int8);
  }

  /**
   * Runs `fn` in a transaction on a connection of its own: `BEGIN` (with the options), then
   * `COMMIT` when `fn` resolves or `ROLLBACK` when it throws (the original error is rethrown).
   * Resolves to what `fn` returned. With `retries`, the whole of `fn` runs again on
   * serialization failures and deadlocks, so `fn` must be safe to run again; the final error
   * carries `attempts`.
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
        return await runTransaction(conn, this.int8, begin, fn);
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

  /** @internal */
  run(sql: string, params: readonly unknown[] | undefined, mode: number): Promise<Buffer> {
    if (this.closing) return Promise.reject(new PoolClosedError('the pool is closed'));
    return this.bridge.query(sql, params, mode);
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
      },
    }));
    const total: PoolStats = {
      connections: { total: 0, idle: 0, busy: 0, reserved: 0 },
      inFlight: 0,
      waiting: 0,
      counters: { queries: 0, acquires: 0, acquireTimeouts: 0, created: 0, destroyed: 0, errors: 0 },
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
