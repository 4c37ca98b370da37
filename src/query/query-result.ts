/**
 * The lazy result of `pool.query()`: nothing runs until a terminal method is called, and the
 * method tells the engine how much to materialise. Also the options a query takes, which set
 * how its result is decoded, bounded and cancelled.
 * @module
 */
import { MODE_ALL, MODE_EXECUTE, MODE_FIRST, MODE_ONE } from '../engine/requests';
import { traced, tracingOn } from '../tracing/tracing';
import type { Bridge, Limits } from '../engine/bridge';
import { queryDefaults, type QueryDefaults } from '../config/config';
import { commandOf, decodeResult, morePages, readColumnMeta, resultBits, type Column, type Decoded, type DecodeOptions, type Int8Mode, type RowMode } from '../result/decode';
import { PgwarpError, QueryResultError } from '../errors/errors';
import { RowStream } from './stream';
import type { JsonNumbers } from '../result/json-exact';
import type { Target } from '../pool/targets';
import { abortable, cancelOptions, newCancelKey, type CancelOptions, type CancelTarget } from './abort';

/** What `execute()` resolves to: what the server said the statement did. */
export interface ExecuteResult {
  /**
   * The command of the server's tag, without its counts: `INSERT` (also for
   * `WITH ... INSERT`), `UPDATE`, `MERGE`, `COPY`, `SELECT`, `CREATE TABLE`, and `ROLLBACK` for a
   * `COMMIT` of a failed transaction.
   */
  command: string;
  /** Rows inserted, updated, deleted, copied or returned (0 for statements that count none). */
  rowCount: number;
  /** The server's command tag as sent: `INSERT 0 1`, `SELECT 5`, `CREATE TABLE`. */
  tag: string;
}

/**
 * The array `all()` (and awaiting a query) gives: the rows, plus what the server said about
 * them, as non-enumerable properties (so spreading, `JSON.stringify` and `toEqual` see rows
 * only).
 */
export type Rows<T> = T[] & {
  /** The columns, with type OIDs and where they come from. */
  readonly columns: Column[];
  /** The command of the server's tag: `SELECT`, `INSERT` (for `... RETURNING`), `FETCH`... */
  readonly command: string;
  /** Rows the statement returned or affected. */
  readonly rowCount: number;
};

/** Gives `rows` the result's metadata, read from `meta` only when asked for. */
export function withMetadata<T>(rows: T[], tag: string, rowCount: number, meta: Buffer | undefined): Rows<T> {
  let columns: Column[] | undefined;
  Object.defineProperties(rows, {
    columns: { get: () => (columns ??= readColumnMeta(meta)), enumerable: false, configurable: true },
    command: { value: commandOf(tag), enumerable: false, configurable: true },
    rowCount: { value: rowCount, enumerable: false, configurable: true },
  });
  return rows as Rows<T>;
}

/** Something `model()` can build from a row: a schema with `parse` (zod...), or a class. */
export type ModelLike<R, M> = { parse(row: R): M } | (new (row: R) => M);

/** Options of {@link QueryResult.stream}. */
export interface StreamOptions {
  /**
   * Most rows the engine hands over at a time (fewer when they would exceed 64 KB). Memory
   * stays bounded by a few batches however many rows the query returns. Default 1000.
   */
  batchSize?: number;
}

/** Options of one query. */
export interface QueryOptions {
  /** `'array'` gives each row as an array in column order. Default `'object'`. */
  rowMode?: RowMode;
  /** Overrides the pool's `int8` option for this query. */
  int8?: Int8Mode;
  /** Overrides the pool's `jsonNumbers` option for this query: `'exact'` gives json integers beyond 2^53 - 1 as bigints. */
  jsonNumbers?: JsonNumbers;
  /** Overrides the pool's `maxRows` for this query (0: no limit). */
  maxRows?: number;
  /** Overrides the pool's `maxBytes` for this query (0: no limit). */
  maxBytes?: number;
  /**
   * Aborting it rejects the query at once with `signal.reason` (an `AbortError` when the
   * reason is not an Error) and cancels the statement on the server; aborted before the
   * statement is sent, it is never sent. A pool query with a signal or a timeout runs on a
   * connection of its own, not pipelined with others (a cancel must not reach another
   * caller's statement).
   */
  signal?: AbortSignal;
  /** Milliseconds after which the query rejects with `QueryTimeoutError` and is cancelled on the server. */
  timeout?: number;
  /**
   * Pool queries only: which of the pool's hosts may run it (libpq's `target_session_attrs`),
   * over the pool's own; it runs on that target's connections (see `pool.primary`).
   */
  target?: Target;
  /**
   * @internal Every column as the server's text, unconverted (for the node-postgres
   * compatibility layer, whose type parsers take the text form).
   */
  textResults?: boolean;
}

/** @internal The engine calls a QueryResult runs through: a pool, a reserved connection or a transaction. */
export interface QueryRunner {
  run(sql: string, params: readonly unknown[] | undefined, mode: number, limits?: Limits): Promise<Buffer>;
  /** The next page of a paged result. */
  next(cursor: number): Promise<Buffer>;
  /** Abandons a paged result. */
  dropResult(cursor: number): void;
  /** Stops a stream or copy-out early; resolves once its connection is clean. */
  stop(cursor: number): Promise<Buffer>;
  /** The engine, for COPY data. */
  readonly bridge: Bridge;
  /** The reserved connection the statements run on; undefined for the pool's shared ones. */
  readonly connection?: number;
  /** Where a call with a signal or a timeout runs (see `abort.ts`). */
  cancelTarget(o: CancelOptions): Promise<CancelTarget & { runner: QueryRunner }>;
}

/**
 * @internal Runs a statement and collects its pages into one result: the next page is asked
 * for before this one is decoded, so the engine reads on meanwhile.
 */
export async function fetchPages<R>(
  runner: QueryRunner,
  sql: string,
  params: readonly unknown[] | undefined,
  mode: number,
  options: DecodeOptions,
  limits: Limits | undefined,
  withMeta: boolean,
  onPage?: (page: Decoded<R>) => Promise<void>,
): Promise<Decoded<R>> {
  let buf = await runner.run(sql, params, mode | resultBits(options), limits);
  // The answering host, in bits 4-7 of the flags (for tracing).
  const host = buf[0] === 0 ? buf[1] >> 4 : 0;
  let rows: R[] | undefined;
  let meta: Buffer | undefined;
  for (;;) {
    const cursor = morePages(buf);
    const next = cursor === 0 ? undefined : runner.next(cursor);
    let page: Decoded<R>;
    try {
      page = decodeResult<R>(buf, sql, options, withMeta && rows === undefined);
    } catch (err) {
      next?.then(
        () => runner.dropResult(cursor),
        () => {},
      );
      throw err;
    }
    if (onPage !== undefined) await onPage(page);
    if (rows === undefined) {
      rows = page.rows;
      meta = page.meta;
    } else for (const row of page.rows) rows.push(row);
    if (next === undefined) return { rows, rowCount: page.rowCount, tag: page.tag, meta, columns: page.columns, host };
    buf = await next;
  }
}

/**
 * A query that has not run yet. Call one terminal method (or `await` it, which is `all()`);
 * the statement runs once, when that happens.
 *
 * @example
 * ```ts
 * const users = await pool.query<User>('select * from users where org = $1', [orgId]);
 * const user = await pool.query<User>('select * from users where id = $1', [id]).one();
 * const count = await pool.query<number>('select count(*)::int from users').scalar();
 * ```
 */
export class QueryResult<T = Record<string, unknown>> implements PromiseLike<Rows<T>> {
  private started: string | undefined;
  private pending: Promise<unknown> | undefined;

  /** @internal */
  constructor(
    private readonly runner: QueryRunner,
    private readonly sql: string,
    private readonly params: readonly unknown[] | undefined,
    private readonly decode: DecodeOptions,
    private readonly limits: QueryDefaults,
    private readonly cancel?: CancelOptions,
  ) {}

  private once<R>(method: string, make: () => Promise<R>): Promise<R> {
    if (this.started === undefined) {
      this.started = method;
      this.pending = make();
    } else if (this.started !== method) {
      return Promise.reject(this.ranAlready());
    }
    return this.pending as Promise<R>;
  }

  private ranAlready(): QueryResultError {
    return new QueryResultError(`this query already ran with ${this.started}(); call pool.query() again to run it again`);
  }

  /** Runs the statement; `withMeta` keeps the columns' descriptors (only `all()` gives them). */
  private fetch<R>(mode: number, options: DecodeOptions, withMeta = false): Promise<Decoded<R>> {
    const bridge = this.runner.bridge;
    if (!tracingOn(bridge.trace)) return this.fetchUntraced(mode, options, withMeta);
    return traced(
      bridge,
      'query',
      this.sql,
      this.params,
      () => this.fetchUntraced<R>(mode, options, withMeta),
      (d) => ({ command: commandOf(d.tag), rowCount: d.rowCount, host: d.host }),
    );
  }

  private async fetchUntraced<R>(mode: number, options: DecodeOptions, withMeta: boolean): Promise<Decoded<R>> {
    if (typeof this.sql !== 'string') throw new QueryResultError('the query text must be a string');
    const cancel = this.cancel;
    if (cancel === undefined) return this.fetchOn<R>(this.runner, mode, options, withMeta);
    const start = Date.now();
    const target = await this.runner.cancelTarget(cancel);
    // One budget for the wait and the statement.
    const timeout = cancel.timeout === undefined ? undefined : Math.max(0, cancel.timeout - (Date.now() - start));
    const key = newCancelKey();
    return abortable(target, { signal: cancel.signal, timeout }, key, (wanted) => this.fetchOn<R>(target.runner, mode, options, withMeta, wanted, key));
  }

  private async fetchOn<R>(runner: QueryRunner, mode: number, options: DecodeOptions, withMeta: boolean, wanted = () => true, key = 0): Promise<Decoded<R>> {
    const codecs = this.limits.codecs;
    const params = codecs === undefined ? this.params : await codecs.params(runner, this.sql, this.params);
    // Given up while the parameters' types were looked up: nothing is sent.
    if (!wanted()) throw new PgwarpError('the query was given up before it was sent');
    const onPage = codecs === undefined ? undefined : (page: Decoded<R>) => codecs.rows(runner, page.rows, page.columns, options.rowMode === 'array');
    const limits = mode === MODE_ALL ? this.limits : undefined;
    return fetchPages<R>(runner, this.sql, params, mode, options, key === 0 ? limits : { ...limits, key }, withMeta, onPage);
  }

  /**
   * Every row, in an array that also carries `columns`, `command` and `rowCount` (not
   * enumerable).
   *
   * @example
   * ```ts
   * const rows = await pool.query('select id, name from users').all();
   * rows.columns; // [{ name: 'id', type: 23, table: 16384, number: 1, typeModifier: -1, size: 4 }, ...]
   * rows.command; // 'SELECT'
   * ```
   */
  all(): Promise<Rows<T>> {
    return this.once('all', async () => {
      const { rows, tag, rowCount, meta } = await this.fetch<T>(MODE_ALL, this.decode, true);
      return withMetadata(rows, tag, rowCount, meta);
    });
  }

  /**
   * Exactly one row; otherwise rejects with a {@link QueryResultError} that says how many came.
   *
   * @example
   * ```ts
   * const account = await pool.query<Account>('select * from accounts where id = $1', [id]).one();
   * ```
   */
  one(): Promise<T> {
    return this.once('one', async () => {
      const { rows, rowCount } = await this.fetch<T>(MODE_ONE, this.decode);
      if (rowCount !== 1) {
        const err = new QueryResultError(`one() expected exactly 1 row, got ${rowCount}`);
        err.rowCount = rowCount;
        throw err;
      }
      return rows[0];
    });
  }

  /**
   * The first row, or `null` when there is none. Later rows are not decoded.
   *
   * @example
   * ```ts
   * const latest = await pool.query<Event>('select * from events order by at desc').first();
   * ```
   */
  first(): Promise<T | null> {
    return this.once('first', async () => (await this.fetch<T>(MODE_FIRST, this.decode)).rows[0] ?? null);
  }

  /**
   * The first column of the first row, or `null` when there is no row.
   *
   * @example
   * ```ts
   * const n = await pool.query<number>('select count(*)::int from users').scalar();
   * ```
   */
  scalar<V = unknown>(): Promise<V | null> {
    return this.once('scalar', async () => {
      const { rows } = await this.fetch<unknown[]>(MODE_FIRST, { ...this.decode, rowMode: 'array' });
      return rows.length === 0 ? null : ((rows[0][0] ?? null) as V | null);
    });
  }

  /**
   * Every row built into a model: `M.parse(row)` when `M` has `parse` (zod and similar
   * schemas), otherwise `new M(row)`.
   *
   * @example
   * ```ts
   * class User { constructor(row: { id: number; name: string }) { Object.assign(this, row); } }
   * const users = await pool.query('select id, name from users').model(User);
   * ```
   */
  model<M>(model: ModelLike<T, M>): Promise<M[]> {
    return this.once('model', async () => {
      const { rows } = await this.fetch<T>(MODE_ALL, this.decode);
      if (typeof (model as { parse?: unknown }).parse === 'function') {
        const schema = model as { parse(row: T): M };
        return rows.map((row) => schema.parse(row));
      }
      if (typeof model !== 'function') {
        throw new QueryResultError('model() needs a class or an object with a parse(row) function');
      }
      const Ctor = model as new (row: T) => M;
      return rows.map((row) => new Ctor(row));
    });
  }

  /**
   * The rows one at a time, as an async iterable with backpressure: the engine reads from the
   * server only as fast as the loop consumes, so memory stays flat however many rows come.
   * The query runs on a connection of its own (or on the transaction's), from the first
   * iteration. Leaving the loop early (`break`, `return`, a throw) cancels the query on the
   * server and gives the connection back clean; inside a transaction, the transaction goes on.
   * An error half-way (a division by zero at row 500,000) is thrown from the loop. `maxRows`
   * and `maxBytes` do not apply.
   *
   * @example
   * ```ts
   * for await (const event of pool.query<Event>('select * from events order by id').stream()) {
   *   await sink.write(event);
   * }
   * ```
   */
  stream(options: StreamOptions = {}): RowStream<T> {
    const batch = options.batchSize ?? 1000;
    if (!Number.isInteger(batch) || batch < 1 || batch > 0xffffffff) {
      throw new PgwarpError(`batchSize must be a positive integer, not ${batch}`);
    }
    if (this.started !== undefined) throw this.ranAlready();
    if (typeof this.sql !== 'string') throw new QueryResultError('the query text must be a string');
    this.started = 'stream';
    return new RowStream<T>(this.runner, this.sql, this.params, this.decode, batch, this.cancel, this.limits.codecs);
  }

  /**
   * Runs a statement whose rows you do not need.
   *
   * @example
   * ```ts
   * const { rowCount } = await pool.query('delete from sessions where expires < now()').execute();
   * ```
   */
  execute(): Promise<ExecuteResult> {
    return this.once('execute', async () => {
      const { tag, rowCount } = await this.fetch<never>(MODE_EXECUTE, this.decode);
      return { command: commandOf(tag), rowCount, tag };
    });
  }

  /** Awaiting a QueryResult runs `all()`. */
  then<A = Rows<T>, B = never>(
    onfulfilled?: ((rows: Rows<T>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.all().then(onfulfilled, onrejected);
  }

  /** Same as `all().catch(...)`. */
  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<Rows<T> | B> {
    return this.all().catch(onrejected);
  }
}

/** @internal Turns a query call into a QueryResult; shared by the pool, reserved connections and transactions. */
export function makeQuery<T>(runner: QueryRunner, defaults: QueryDefaults, sql: string, params?: readonly unknown[], options?: QueryOptions): QueryResult<T> {
  const d = options === undefined ? defaults : queryDefaults(options, defaults);
  const decode = { rowMode: options?.rowMode === 'array' ? ('array' as const) : ('object' as const), int8: d.int8, jsonNumbers: d.jsonNumbers, text: options?.textResults === true };
  return new QueryResult<T>(runner, sql, params, decode, d, cancelOptions(options));
}
