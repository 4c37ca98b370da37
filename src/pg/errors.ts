/**
 * Errors as node-postgres raises them: `DatabaseError` with every field the server sent (as
 * strings, as pg-protocol gives them), socket errors with Node's `code`, `errno` and
 * `syscall`, and pg's messages where libraries match on them.
 * @module
 */
import { constants } from 'node:os';

import { PG_SERVER_ERROR } from '../errors/error-base';
import { ConnectionError, PoolClosedError, PoolTimeoutError, PostgresError } from '../errors/errors';

/** pg's messages that libraries match on. */
export const MESSAGES = {
  terminated: 'Connection terminated unexpectedly',
  notQueryable: 'Client has encountered a connection error and is not queryable',
  closed: 'Client was closed and is not queryable',
  reused: 'Client has already been connected. You cannot reuse a client.',
  poolEnded: 'Cannot use a pool after calling end on the pool',
  poolEndedTwice: 'Called end on pool more than once',
  timeout: 'timeout exceeded when trying to connect',
  released: 'Release called on client which has already been released to the pool.',
  queryTimeout: 'Query read timeout',
} as const;

/** An error the server sent, as pg-protocol builds it (`name` is `'error'`, as in pg). */
export class DatabaseError extends Error {
  severity: string | undefined;
  code: string | undefined;
  detail: string | undefined;
  hint: string | undefined;
  position: string | undefined;
  internalPosition: string | undefined;
  internalQuery: string | undefined;
  where: string | undefined;
  schema: string | undefined;
  table: string | undefined;
  column: string | undefined;
  dataType: string | undefined;
  constraint: string | undefined;
  file: string | undefined;
  line: string | undefined;
  routine: string | undefined;

  constructor(
    message: string,
    public length: number,
    public override name: string,
  ) {
    super(message);
  }
}

// The same server error as pgwarp's `PostgresError`: `instanceof` its SQLSTATE classes holds.
Object.defineProperty(DatabaseError.prototype, PG_SERVER_ERROR, { value: true });

const TEXT_FIELDS = ['severity', 'code', 'detail', 'hint', 'internalQuery', 'where', 'schema', 'table', 'column', 'dataType', 'constraint', 'file', 'routine'] as const;
const NUMBER_FIELDS = ['position', 'internalPosition', 'line'] as const;

/** Where a connection was going, for socket errors' `address` and `port`. */
export interface Endpoint {
  host?: string;
  port?: number;
  /** A Client's own connect timeout says "timeout expired" (libpq's words); a pool's another. */
  client?: boolean;
  /** The connection died while idle: pg reports the FATAL error the server sent, if any. */
  idle?: boolean;
}

/** pg's error for what pgwarp raised: the same server fields, or the socket's error. */
export function toPgError(err: unknown, endpoint?: Endpoint): unknown {
  if (err instanceof PostgresError) {
    const e = new DatabaseError(err.message, err.message.length, 'error');
    for (const k of TEXT_FIELDS) e[k] = err[k];
    for (const k of NUMBER_FIELDS) e[k] = err[k] === undefined ? undefined : String(err[k]);
    if (err.stack !== undefined) e.stack = `error: ${err.message}\n${err.stack.split('\n').slice(1).join('\n')}`;
    return e;
  }
  if (err instanceof PoolTimeoutError) return new Error(MESSAGES.timeout, { cause: err });
  if (err instanceof PoolClosedError) return new Error(MESSAGES.poolEnded, { cause: err });
  if (err instanceof ConnectionError) return socketError(err, endpoint ?? {});
  return err;
}

// The server's reason, when it ended the connection with one: `(57P01: terminating ...)`.
const SERVER_REASON = /\(([0-9A-Z]{5}): (.*)\)$/;

function socketError(err: ConnectionError, at: Endpoint): Error {
  if (err.cause instanceof PostgresError) return toPgError(err.cause) as Error;
  // A query that did not receive the server's FATAL itself (it was queued behind the one that
  // did) fails as pg fails it: the connection terminated.
  const reason = at.idle ? SERVER_REASON.exec(err.message) : null;
  if (reason !== null) {
    // pg reports the FATAL error the server sent before it closed an idle connection.
    const e = new DatabaseError(reason[2], reason[2].length, 'error');
    e.code = reason[1];
    e.severity = 'FATAL';
    return e;
  }
  // Not a socket error: the server spoke something other than PostgreSQL's protocol.
  if (err.code === 'EPROTO') return Object.assign(new Error(err.message.replace(/^could not connect: /, ''), { cause: err }), { code: err.code });
  if (err.code === 'ETIMEDOUT') return new Error(at.client ? 'timeout expired' : 'Connection terminated due to connection timeout', { cause: err });
  const errno = (constants.errno as Record<string, number>)[err.code];
  if (errno !== undefined && err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
    const address = at.host ?? '127.0.0.1';
    const e = new Error(`connect ${err.code} ${address}:${at.port ?? 5432}`, { cause: err });
    return Object.assign(e, { code: err.code, errno: -errno, syscall: err.code === 'ENOTFOUND' ? 'getaddrinfo' : 'connect', address, port: at.port ?? 5432 });
  }
  return Object.assign(new Error(MESSAGES.terminated, { cause: err }), { code: err.code });
}
