/**
 * The base classes of pgwarp's errors: every error pgwarp raises, and every error the server
 * reported.
 * @module
 */

/**
 * @internal Marks pgwarp/pg's `DatabaseError` (node-postgres' shape of a server error), so
 * that `instanceof PostgresError` and its SQLSTATE classes hold for it too.
 */
export const PG_SERVER_ERROR = Symbol.for('pgwarp.pgServerError');

/** Base class of every error pgwarp raises itself. */
export class PgwarpError extends Error {
  override name = 'PgwarpError';
}

/**
 * An error the server reported, with every field of its ErrorResponse.
 *
 * @example
 * ```ts
 * try {
 *   await pool.query('insert into users (email) values ($1)', [email]).execute();
 * } catch (e) {
 *   if (e instanceof PostgresError && e.code === '23505') console.log('taken:', e.constraint);
 * }
 * ```
 */
export class PostgresError extends PgwarpError {
  override name = 'PostgresError';
  /**
   * The SQLSTATE this class stands for: a code (`23505`), a class of codes (`23`), or `''`
   * (any). An error is an instance of every class whose `sqlstate` its `code` starts with.
   */
  static readonly sqlstate: string = '';

  /**
   * `instanceof` by prototype, as usual, and also for pgwarp/pg's `DatabaseError` (the same
   * server error in node-postgres' shape) whose `code` this class stands for: one `catch`
   * works for errors from either entry point.
   */
  static override [Symbol.hasInstance](v: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, v)) return true;
    if (typeof v !== 'object' || v === null || !(PG_SERVER_ERROR in v)) return false;
    const code = (v as { code?: unknown }).code;
    return typeof code === 'string' && code.startsWith((this as typeof PostgresError).sqlstate);
  }

  /** SQLSTATE, e.g. `23505` for unique_violation. */
  code!: string;
  /** `ERROR`, `FATAL` or `PANIC`, possibly localised. */
  severity!: string;
  /** The severity, never localised. */
  severityNonLocalized?: string;
  detail?: string;
  hint?: string;
  /** 1-based character position of the error in the query text. */
  position?: number;
  /** Position inside an internally generated query (`internalQuery`). */
  internalPosition?: number;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  /** Server source file that raised the error. */
  file?: string;
  line?: number;
  routine?: string;
  /** In a script (`exec()`): the 1-based number of the statement that failed. */
  statement?: number;
  /** In a script: what the statements before the failing one did (then rolled back, unless the script committed it). */
  completed?: { command: string; rowCount: number; tag: string }[];
  /** The query text; non-enumerable so logging the error does not print it by accident. */
  declare readonly query?: string;
}

