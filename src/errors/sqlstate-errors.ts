/**
 * Server errors by SQLSTATE, as asyncpg and psycopg give them: a class per SQLSTATE class
 * (`IntegrityConstraintViolationError` for `23xxx`) and, under it, one for each code that
 * applications catch by name (`UniqueViolationError` for `23505`). Every one is a
 * {@link PostgresError} with all its fields; `code` says the exact SQLSTATE.
 *
 * @example
 * ```ts
 * try {
 *   await pool.query('insert into users (email) values ($1)', [email]).execute();
 * } catch (e) {
 *   if (e instanceof UniqueViolationError) return conflict(e.constraint);
 *   if (e instanceof IntegrityConstraintViolationError) return invalid(e.message);
 *   throw e;
 * }
 * ```
 * @module
 */
import { PostgresError } from './error-base';

/** `08`: the server reports a problem with the connection itself. */
export class ConnectionExceptionError extends PostgresError {
  override name = 'ConnectionExceptionError';
  static override readonly sqlstate: string = '08';
}

/** `0A`: the statement uses something the server does not support. */
export class FeatureNotSupportedError extends PostgresError {
  override name = 'FeatureNotSupportedError';
  static override readonly sqlstate: string = '0A';
}

/** `22`: a value is not valid for its type or operation. */
export class DataError extends PostgresError {
  override name = 'DataError';
  static override readonly sqlstate: string = '22';
}

/** `22001`: a string too long for its column. */
export class StringDataRightTruncationError extends DataError {
  override name = 'StringDataRightTruncationError';
  static override readonly sqlstate: string = '22001';
}

/** `22003`: a number out of its type's range. */
export class NumericValueOutOfRangeError extends DataError {
  override name = 'NumericValueOutOfRangeError';
  static override readonly sqlstate: string = '22003';
}

/** `22012`: division by zero. */
export class DivisionByZeroError extends DataError {
  override name = 'DivisionByZeroError';
  static override readonly sqlstate: string = '22012';
}

/** `22P02`: text that is not a value of its type (`'abc'::int`). */
export class InvalidTextRepresentationError extends DataError {
  override name = 'InvalidTextRepresentationError';
  static override readonly sqlstate: string = '22P02';
}

/** `23`: a constraint refused the change. */
export class IntegrityConstraintViolationError extends PostgresError {
  override name = 'IntegrityConstraintViolationError';
  static override readonly sqlstate: string = '23';
}

/** `23502`: NULL in a NOT NULL column. */
export class NotNullViolationError extends IntegrityConstraintViolationError {
  override name = 'NotNullViolationError';
  static override readonly sqlstate: string = '23502';
}

/** `23503`: a foreign key refers to a row that does not exist (or is still referred to). */
export class ForeignKeyViolationError extends IntegrityConstraintViolationError {
  override name = 'ForeignKeyViolationError';
  static override readonly sqlstate: string = '23503';
}

/** `23505`: a unique index or primary key already has the value; `constraint` names it. */
export class UniqueViolationError extends IntegrityConstraintViolationError {
  override name = 'UniqueViolationError';
  static override readonly sqlstate: string = '23505';
}

/** `23514`: a CHECK constraint refused the row. */
export class CheckViolationError extends IntegrityConstraintViolationError {
  override name = 'CheckViolationError';
  static override readonly sqlstate: string = '23514';
}

/** `23P01`: an exclusion constraint refused the row. */
export class ExclusionViolationError extends IntegrityConstraintViolationError {
  override name = 'ExclusionViolationError';
  static override readonly sqlstate: string = '23P01';
}

/** `25`: the statement is not valid in the transaction's state. */
export class InvalidTransactionStateError extends PostgresError {
  override name = 'InvalidTransactionStateError';
  static override readonly sqlstate: string = '25';
}

/** `25P02`: the transaction failed earlier; only ROLLBACK is accepted. */
export class InFailedTransactionError extends InvalidTransactionStateError {
  override name = 'InFailedTransactionError';
  static override readonly sqlstate: string = '25P02';
}

/** `28`: authentication or authorization was refused. */
export class InvalidAuthorizationError extends PostgresError {
  override name = 'InvalidAuthorizationError';
  static override readonly sqlstate: string = '28';
}

/** `40`: the server rolled the transaction back; running it again may succeed. */
export class TransactionRollbackError extends PostgresError {
  override name = 'TransactionRollbackError';
  static override readonly sqlstate: string = '40';
}

/** `40001`: serialization_failure: a concurrent transaction conflicted; retry the transaction. */
export class SerializationFailureError extends TransactionRollbackError {
  override name = 'SerializationFailureError';
  static override readonly sqlstate: string = '40001';
}

/** `40P01`: deadlock_detected: this transaction was chosen to break a deadlock; retry it. */
export class DeadlockDetectedError extends TransactionRollbackError {
  override name = 'DeadlockDetectedError';
  static override readonly sqlstate: string = '40P01';
}

/** `42`: a syntax error, or an object that does not exist or may not be used. */
export class SyntaxErrorOrAccessRuleViolationError extends PostgresError {
  override name = 'SyntaxErrorOrAccessRuleViolationError';
  static override readonly sqlstate: string = '42';
}

/** `42601`: the SQL does not parse (`position` says where). */
export class SqlSyntaxError extends SyntaxErrorOrAccessRuleViolationError {
  override name = 'SqlSyntaxError';
  static override readonly sqlstate: string = '42601';
}

/** `42501`: the role lacks a privilege the statement needs. */
export class InsufficientPrivilegeError extends SyntaxErrorOrAccessRuleViolationError {
  override name = 'InsufficientPrivilegeError';
  static override readonly sqlstate: string = '42501';
}

/** `42703`: no such column. */
export class UndefinedColumnError extends SyntaxErrorOrAccessRuleViolationError {
  override name = 'UndefinedColumnError';
  static override readonly sqlstate: string = '42703';
}

/** `42883`: no function (or operator) with that name and those argument types. */
export class UndefinedFunctionError extends SyntaxErrorOrAccessRuleViolationError {
  override name = 'UndefinedFunctionError';
  static override readonly sqlstate: string = '42883';
}

/** `42P01`: no such table (or view). */
export class UndefinedTableError extends SyntaxErrorOrAccessRuleViolationError {
  override name = 'UndefinedTableError';
  static override readonly sqlstate: string = '42P01';
}

/** `53`: the server ran out of something (disk, memory, connections). */
export class InsufficientResourcesError extends PostgresError {
  override name = 'InsufficientResourcesError';
  static override readonly sqlstate: string = '53';
}

/** `53300`: too_many_connections. */
export class TooManyConnectionsError extends InsufficientResourcesError {
  override name = 'TooManyConnectionsError';
  static override readonly sqlstate: string = '53300';
}

/** `54`: a limit of the server was passed (too many columns, a statement too complex). */
export class ProgramLimitExceededError extends PostgresError {
  override name = 'ProgramLimitExceededError';
  static override readonly sqlstate: string = '54';
}

/** `55`: an object is not in the state the statement needs. */
export class ObjectNotInPrerequisiteStateError extends PostgresError {
  override name = 'ObjectNotInPrerequisiteStateError';
  static override readonly sqlstate: string = '55';
}

/** `55P03`: a lock could not be had (`NOWAIT`, or `lock_timeout` passed). */
export class LockNotAvailableError extends ObjectNotInPrerequisiteStateError {
  override name = 'LockNotAvailableError';
  static override readonly sqlstate: string = '55P03';
}

/** `57`: an operator or the server stopped the statement. */
export class OperatorInterventionError extends PostgresError {
  override name = 'OperatorInterventionError';
  static override readonly sqlstate: string = '57';
}

/** `57014`: query_canceled: a cancel or `statement_timeout` stopped the statement. */
export class QueryCanceledError extends OperatorInterventionError {
  override name = 'QueryCanceledError';
  static override readonly sqlstate: string = '57014';
}

/** `57P01`: admin_shutdown: the server is shutting down, or the session was terminated. */
export class AdminShutdownError extends OperatorInterventionError {
  override name = 'AdminShutdownError';
  static override readonly sqlstate: string = '57P01';
}

/** `P0`: PL/pgSQL raised it. */
export class PlpgsqlError extends PostgresError {
  override name = 'PlpgsqlError';
  static override readonly sqlstate: string = 'P0';
}

/** `P0001`: `RAISE EXCEPTION` without its own SQLSTATE. */
export class RaiseExceptionError extends PlpgsqlError {
  override name = 'RaiseExceptionError';
  static override readonly sqlstate: string = 'P0001';
}

/** `XX`: an internal error of the server (a bug, or corrupt data). */
export class InternalServerError extends PostgresError {
  override name = 'InternalServerError';
  static override readonly sqlstate: string = 'XX';
}
