/**
 * pg's ways of calling `query()`: `(text)`, `(text, values)`, `(config)`, each with an
 * optional callback, and submittables (`Query`, `Cursor`, `QueryStream`).
 * @module
 */
import { EventEmitter } from 'node:events';

import { MESSAGES } from './errors';
import type { Result } from './result';
import { runPgQuery, type PgQueryConfig, type Target } from './run';

/** A row as results hold it (pg's `QueryResultRow`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type QueryResultRow = Record<string, any>;

/** pg's `QueryConfig`: what `query(config)` takes. */
export interface QueryConfig<V extends unknown[] = unknown[]> {
  text: string;
  values?: V;
  name?: string;
  rowMode?: 'array';
  types?: { getTypeParser(oid: number, format?: string): unknown };
  queryMode?: 'extended';
}

/** A node-style callback. */
export type Callback<T> = (err: Error | null, value?: T) => void;

/** Marks pgwarp/pg's own submittables; pg's pg-cursor and pg-query-stream speak pg's socket layer. */
export const SUBMIT = Symbol.for('pgwarp.pg.submit');

/** What a submittable is submitted to: the Client, which says what an error means for it. */
export interface SubmitHost {
  /** The error a query sees: `Connection terminated` when end() closed the connection under it. */
  failure(err: unknown): unknown;
}

/** A submittable of pgwarp/pg: started with the client's target once it is connected. */
export interface OwnSubmittable {
  [SUBMIT]: true;
  /** @internal */
  submitTo(client: SubmitHost, ready: () => Promise<Target>, hold: (done: Promise<void>) => void): void;
}

/** Whether `v` is one of pgwarp/pg's submittables (others run through `submittable.ts`). */
export function isOwnSubmittable(v: unknown): v is OwnSubmittable {
  return v !== null && typeof v === 'object' && (v as Record<symbol, unknown>)[SUBMIT] === true;
}

/** pg's argument forms, as one config and the callback. */
export function normalizeQuery(config: unknown, values: unknown, callback: unknown): { query: PgQueryConfig; cb: Callback<Result | Result[]> | undefined } {
  let cb = (typeof values === 'function' ? values : callback) as Callback<Result | Result[]> | undefined;
  if (config === null || config === undefined) throw new TypeError('Client was passed a null or undefined query');
  let query: PgQueryConfig;
  const given = typeof values === 'function' ? undefined : (values as unknown[] | undefined);
  if (typeof config === 'string') {
    query = { text: config, values: given };
  } else if (typeof config === 'object') {
    const c = config as PgQueryConfig & { callback?: Callback<Result | Result[]> };
    query = {
      text: c.text,
      values: given ?? c.values,
      name: c.name,
      rowMode: c.rowMode,
      types: c.types,
      queryMode: c.queryMode,
      query_timeout: c.query_timeout,
    };
    cb ??= c.callback;
  } else {
    throw new TypeError(`Client was passed a ${typeof config} as query; pass the text or a config object`);
  }
  return { query, cb: typeof cb === 'function' ? cb : undefined };
}

/** pg's `Promise` option: the promise library whose promises `connect()`, `query()` and `end()` return. */
export type PromiseLibrary = { resolve<T>(value: T | PromiseLike<T>): PromiseLike<T> };

/** `work` as a promise of library `P` (pg's `Promise` option), or itself when none is given. */
export function promiseOf<T>(P: PromiseLibrary | undefined, work: Promise<T>): Promise<T> {
  return P === undefined || P === Promise ? work : (P.resolve(work) as Promise<T>);
}

/**
 * A promise, or, with a callback, nothing (the callback gets the outcome, as in pg; a Client
 * calls back with `null` for no error, a Pool with `undefined`).
 */
export function settle<T>(work: Promise<T>, cb: Callback<T> | undefined, ok: null | undefined = null, P?: PromiseLibrary): Promise<T> | undefined {
  if (cb === undefined) return promiseOf(P, work);
  work.then(
    (v) => cb(ok as null, v),
    (e: Error) => cb(e),
  );
  return undefined;
}

/**
 * pg's `Query`: a submittable that emits `row` for each row, then `end` with the Result (or
 * `error`), and calls its callback.
 *
 * @example
 * ```ts
 * const q = client.query(new Query('select * from big'));
 * q.on('row', (row) => handle(row));
 * q.on('end', (res) => console.log(res.rowCount));
 * ```
 */
export class Query extends EventEmitter implements OwnSubmittable {
  readonly [SUBMIT] = true as const;
  readonly text: string;
  readonly values: unknown[] | undefined;
  callback: Callback<Result | Result[]> | undefined;
  private readonly config: PgQueryConfig;

  constructor(config: string | PgQueryConfig, values?: unknown[] | Callback<Result | Result[]>, callback?: Callback<Result | Result[]>) {
    super();
    const { query, cb } = normalizeQuery(config, values, callback);
    this.config = query;
    this.text = query.text;
    this.values = query.values;
    this.callback = cb;
  }

  /** @internal */
  submitTo(client: SubmitHost, ready: () => Promise<Target>, hold: (done: Promise<void>) => void): void {
    const done = ready()
      .then((target) => runPgQuery(target, this.config))
      .catch((err: unknown) => Promise.reject(client.failure(err)))
      .then(
        (res) => {
          const streaming = this.listenerCount('row') > 0;
          for (const r of Array.isArray(res) ? res : [res]) {
            if (!streaming) continue;
            for (const row of r.rows) this.emit('row', row, r);
            // pg keeps no rows for a Query read through 'row' without a callback.
            if (this.callback === undefined) r.rows = [];
          }
          this.callback?.(null, res);
          this.emit('end', res);
        },
        (err: Error) => {
          this.callback?.(err);
          if (this.listenerCount('error') > 0 || this.callback === undefined) this.emit('error', err);
        },
      );
    // Later queries on the client run after it, as with pg, and 'drain' waits for it.
    hold(done);
  }
}
