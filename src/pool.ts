/**
 * The pool users hold: the entry point of every query.
 * @module
 */
import { checkInt8, resolveOptions, type PoolOptions } from './config';
import type { Int8Mode, RowMode } from './decode';
import { PgwarpError } from './errors';
import { NativePool } from './native';
import { QueryResult, type QueryRunner } from './query-result';

/** Options of one query. */
export interface QueryOptions {
  /** `'array'` gives each row as an array in column order. Default `'object'`. */
  rowMode?: RowMode;
  /** Overrides the pool's `int8` option for this query. */
  int8?: Int8Mode;
}

/** Live counters of a pool. */
export interface PoolStats {
  /** Open connections. */
  connections: number;
  /** Queries running. */
  inFlight: number;
}

/**
 * A pool of PostgreSQL connections. Connections open on first use; queries are pipelined over
 * them.
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
  private readonly native: NativePool;
  private readonly int8: Int8Mode;

  constructor(url?: string | PoolOptions, options?: PoolOptions) {
    const o = (typeof url === 'object' ? url : options) ?? {};
    this.int8 = checkInt8(o.int8);
    try {
      this.native = new NativePool(resolveOptions(url, options));
    } catch (e) {
      throw new PgwarpError((e as Error).message);
    }
  }

  /**
   * A query with `$1, $2, ...` placeholders. Nothing runs until a method of the result is
   * called or the result is awaited.
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], options?: QueryOptions): QueryResult<T> {
    return new QueryResult<T>(this, sql, params, {
      rowMode: options?.rowMode === 'array' ? 'array' : 'object',
      int8: options?.int8 === undefined ? this.int8 : checkInt8(options.int8),
    });
  }

  /** @internal */
  run(sql: string, params: Buffer, mode: number): Promise<Buffer> {
    return this.native.query(sql, params, mode);
  }

  /** @internal */
  next(cursor: number): Promise<Buffer> {
    return this.native.nextPage(cursor);
  }

  /** @internal */
  cancel(cursor: number): void {
    this.native.cancel(cursor);
  }

  /** Refuses new queries, waits for running ones, and closes every connection. */
  close(): Promise<void> {
    return this.native.close();
  }

  /** Live counters. */
  stats(): PoolStats {
    const [connections, inFlight] = this.native.stats();
    return { connections, inFlight };
  }
}
