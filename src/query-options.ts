/**
 * The options of one query, and the call that turns a query into a `QueryResult` for the
 * pool, reserved connections and transactions alike.
 * @module
 */
import { cancelOptions } from './abort';
import { queryDefaults, type QueryDefaults } from './config';
import type { Int8Mode, RowMode } from './decode';
import type { JsonNumbers } from './json-exact';
import { QueryResult, type QueryRunner } from './query-result';
import type { Target } from './targets';

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

/** @internal Turns a query call into a QueryResult; shared by the pool and reserved connections. */
export function makeQuery<T>(runner: QueryRunner, defaults: QueryDefaults, sql: string, params?: readonly unknown[], options?: QueryOptions): QueryResult<T> {
  const d = options === undefined ? defaults : queryDefaults(options, defaults);
  const decode = { rowMode: options?.rowMode === 'array' ? ('array' as const) : ('object' as const), int8: d.int8, jsonNumbers: d.jsonNumbers, text: options?.textResults === true };
  return new QueryResult<T>(runner, sql, params, decode, d, cancelOptions(options));
}
