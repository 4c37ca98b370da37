/**
 * What the pool, a reserved connection and a transaction share: the calls a `QueryResult`, a
 * stream or a COPY makes of where it runs, and the user's calls that only name where to run.
 * @module
 */
import { makeSql, type Sql } from '../query/sql-template';
import type { Readable } from 'node:stream';

import type { Bridge, Limits } from '../engine/bridge';
import type { QueryDefaults } from '../config/config';
import { copyIn, copyOut, copyRows, type CopyRows, type CopySource, type TableName } from '../query/copy';
import { makeQuery, type QueryOptions, type QueryResult, type QueryRunner } from '../query/query-result';
import type { CancelOptions, CancelTarget } from '../query/abort';

/**
 * @internal The base of the three runners. Each says how its statements start (`run`: on the
 * shared connections, on its own connection, inside its transaction), where a call with a
 * signal runs, and which engine and defaults it has; pages, stops and abandoned results go to
 * the engine by cursor, the same for all, unless a runner must read the answer on its way.
 */
export abstract class Runner implements QueryRunner {
  /** @internal */
  abstract readonly bridge: Bridge;
  /** The pool's per-query settings, which each query may override. */
  protected abstract readonly defaults: QueryDefaults;

  /** @internal */
  abstract run(sql: string, params: readonly unknown[] | undefined, mode: number, limits?: Limits): Promise<Buffer>;

  /** @internal */
  abstract cancelTarget(o: CancelOptions): Promise<CancelTarget & { runner: QueryRunner }>;

  /**
   * The tagged-template form of `query()`, bound here: every `${value}` is a parameter;
   * `sql(...)` builds identifiers, lists, inserts and assignments (see `Sql`).
   *
   * @example
   * ```ts
   * const rows = await pool.sql`select * from users where id = ${id}`;
   * const mine = await tx.sql`select * from accounts where owner = ${id} for update`;
   * ```
   */
  get sql(): Sql {
    return (this.tag ??= makeSql(this, this.defaults));
  }
  private tag: Sql | undefined;

  /**
   * A query where this runs its statements (on the reserved connection, in the transaction);
   * same API as `pool.query()`.
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], options?: QueryOptions): QueryResult<T> {
    return makeQuery<T>(this, this.defaults, sql, params, options);
  }

  /**
   * Runs a `COPY ... FROM STDIN` statement with data from `source`: a Node Readable (a file,
   * a gzip stream...) or an (async) iterable of Buffers or strings, in whatever format the
   * statement names (text, CSV, binary). Resolves to the number of rows copied. The source is
   * read only as fast as the server takes the data. If the source fails or the server rejects
   * a row, the COPY is aborted (nothing of it is committed) and the error is thrown; the
   * connection stays usable. On a reserved connection or in a transaction, it runs there.
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
   * to the number of rows copied; on any error nothing is committed. On a reserved connection
   * or in a transaction, it runs there.
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
   * the stream early cancels the COPY and gives the connection back clean. On a reserved
   * connection or in a transaction, it runs there.
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
  next(cursor: number): Promise<Buffer> {
    return this.bridge.next(cursor);
  }

  /** @internal */
  stop(cursor: number): Promise<Buffer> {
    return this.bridge.stop(cursor);
  }

  /** @internal */
  dropResult(cursor: number): void {
    this.bridge.dropResult(cursor);
  }
}
