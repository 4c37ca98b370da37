/**
 * Error classes, and the decoding of the engine's error results into them.
 * @module
 */
import { PgwarpError, PostgresError } from './error-base';
import * as sqlstate from './sqlstate-errors';

export { PgwarpError, PostgresError } from './error-base';

/** A connection could not be opened (refused, DNS, authentication, timeout) or was lost. */
export class ConnectionError extends PgwarpError {
  override name = 'ConnectionError';
  /** `ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`, `ECONNRESET`, `EAUTH`, `ESERVER`, ... */
  code!: string;
}

/**
 * The caller's input was refused before anything was sent: a parameter its type cannot hold,
 * or a statement the method it went through cannot run (`BEGIN` through `pool.query()`).
 */
export class ParameterError extends PgwarpError {
  override name = 'ParameterError';
}

/** A result did not have the shape the terminal method requires (`one()`), or was misused. */
export class QueryResultError extends PgwarpError {
  override name = 'QueryResultError';
  /** How many rows came back, where that is the problem. */
  rowCount?: number;
}

/** An int8 value does not fit a JavaScript number exactly in `int8: 'number'` mode. */
export class Int8RangeError extends PgwarpError {
  override name = 'Int8RangeError';
}

/** The pool was closed. */
export class PoolClosedError extends PgwarpError {
  override name = 'PoolClosedError';
}

/**
 * No connection could be had within `acquireTimeout`; the message says how many were in use
 * and how many callers were waiting.
 */
export class PoolTimeoutError extends PgwarpError {
  override name = 'PoolTimeoutError';
}

/**
 * A buffered result grew past `maxRows` or `maxBytes`. The query was stopped as soon as the
 * limit was crossed, without reading the rest; the pool goes on working.
 *
 * @example
 * ```ts
 * try {
 *   await pool.query('select * from events', [], { maxRows: 100_000 });
 * } catch (e) {
 *   if (e instanceof ResultTooLargeError) console.log(e.limit, e.max); // 'maxRows' 100000
 * }
 * ```
 */
export class ResultTooLargeError extends PgwarpError {
  override name = 'ResultTooLargeError';
  /** Which limit: `'maxRows'` or `'maxBytes'`. */
  limit!: 'maxRows' | 'maxBytes';
  /** The limit's value. */
  max!: number;
}

/**
 * Work the server had accepted did not stay: a transaction whose `COMMIT` the server turned
 * into a `ROLLBACK` (an earlier statement in it had failed), or a statement that left a
 * shared connection inside a transaction, which pgwarp rolled back rather than let it capture
 * other callers' queries. `cause` is the first failure, when there was one.
 *
 * @example
 * ```ts
 * try {
 *   await pool.transaction(async (tx) => {
 *     await tx.query('insert into t values (1)').execute();
 *     await tx.query('select 1/0').execute().catch(() => {}); // caught, but the transaction is failed
 *   });
 * } catch (e) {
 *   if (e instanceof RolledBackError) console.log(e.cause); // the division by zero
 * }
 * ```
 */
export class RolledBackError extends PgwarpError {
  override name = 'RolledBackError';
}

/**
 * A call's `timeout` passed: the call was rejected and its statement cancelled on the server.
 *
 * @example
 * ```ts
 * try {
 *   await pool.query('select * from report()', [], { timeout: 2000 });
 * } catch (e) {
 *   if (e instanceof QueryTimeoutError) console.log('too slow; the server stopped it');
 * }
 * ```
 */
export class QueryTimeoutError extends PgwarpError {
  override name = 'QueryTimeoutError';
}

/** @internal The kinds of engine errors (`Error::kind`). */
export const ERROR_KIND = { server: 1, connection: 2, parameter: 3, closed: 4, poolTimeout: 6, tooLarge: 7, rolledBack: 8 } as const;

const FIELD_NAMES: Record<string, string> = {
  S: 'severity',
  V: 'severityNonLocalized',
  C: 'code',
  D: 'detail',
  H: 'hint',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  R: 'routine',
  q: 'internalQuery',
};
const NUMERIC_FIELDS: Record<string, string> = { P: 'position', p: 'internalPosition', L: 'line' };

function readFields(buf: Buffer, at: number): Map<string, string> {
  const fields = new Map<string, string>();
  while (at < buf.length && buf[at] !== 0) {
    const letter = String.fromCharCode(buf[at]);
    const len = buf.readUInt32LE(at + 1);
    fields.set(letter, buf.toString('utf8', at + 5, at + 5 + len));
    at += 5 + len;
  }
  return fields;
}

/** The SQLSTATE classes by the code (or class of codes) each stands for. */
const BY_SQLSTATE = new Map(Object.values(sqlstate).map((c) => [c.sqlstate, c]));

/** The most specific class for SQLSTATE `code`: its own, its class's, or `PostgresError`. */
function postgresErrorClass(code: string): typeof PostgresError {
  return BY_SQLSTATE.get(code) ?? BY_SQLSTATE.get(code.slice(0, 2)) ?? PostgresError;
}

function serverError(fields: Map<string, string>, query: string | undefined): PostgresError {
  const err = new (postgresErrorClass(fields.get('C') ?? ''))(fields.get('M') ?? 'unknown server error');
  const target = err as unknown as Record<string, unknown>;
  for (const [letter, value] of fields) {
    if (FIELD_NAMES[letter]) target[FIELD_NAMES[letter]] = value;
    else if (NUMERIC_FIELDS[letter]) target[NUMERIC_FIELDS[letter]] = Number(value);
  }
  if (query !== undefined) Object.defineProperty(err, 'query', { value: query, enumerable: false });
  return err;
}

/**
 * Builds the error of an error result (status byte 1). Called in the caller's async frame, so
 * the stack shows where the query was awaited.
 */
export function errorFromResult(buf: Buffer, query?: string): PgwarpError {
  const kind = buf[1];
  const fields = readFields(buf, 2);
  switch (kind) {
    case ERROR_KIND.server:
      return serverError(fields, query);
    case ERROR_KIND.connection: {
      const cause = fields.has('C')
        ? serverError(fields, undefined)
        : Object.assign(new Error(fields.get('m') ?? ''), { code: fields.get('K') });
      const err = new ConnectionError(fields.get('m') ?? 'connection error', { cause });
      err.code = fields.get('K') ?? 'ECONNECT';
      return err;
    }
    case ERROR_KIND.parameter:
      return new ParameterError(fields.get('M') ?? 'invalid parameter');
    case ERROR_KIND.closed:
      return new PoolClosedError(fields.get('M') ?? 'the pool is closed');
    case ERROR_KIND.tooLarge: {
      const err = new ResultTooLargeError(fields.get('M') ?? 'the result is too large; read it with stream()');
      err.limit = fields.get('K') === 'maxBytes' ? 'maxBytes' : 'maxRows';
      err.max = Number(fields.get('X') ?? 0);
      return err;
    }
    case ERROR_KIND.poolTimeout:
      return new PoolTimeoutError(fields.get('M') ?? 'no connection within acquireTimeout');
    case ERROR_KIND.rolledBack:
      return new RolledBackError(fields.get('M') ?? 'the work was rolled back');
    default:
      return new PgwarpError(fields.get('M') ?? 'unknown engine error');
  }
}
