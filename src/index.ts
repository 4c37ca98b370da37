/**
 * pgwarp: a PostgreSQL driver for Node.js with a Rust engine.
 * @module
 */
export { Pool, type CloseOptions, type HostStats, type PoolCounters, type PoolShardStats, type PoolStats } from './pool';
export { ReservedConnection } from './reserved';
export { Transaction, type TransactionOptions } from './transaction';
export type { PoolOptions } from './config';
export type { Target } from './targets';
export type { SslOption, SslOptions } from './ssl';
export { QueryResult, type ExecuteResult, type ModelLike, type QueryOptions, type Rows, type StreamOptions } from './query-result';
export type { Column } from './decode';
export { RowStream } from './stream';
export type { StatementResult } from './script';
export type { ListenOptions, Notice, NotificationInfo, Subscription } from './notify';
export type { TypeCodec, TypeCodecs } from './codecs';
export type { CopyRows, CopySource, TableName } from './copy';
export type { Int8Mode, RowMode } from './decode';
export type { JsonNumbers } from './json-exact';
export {
  ConnectionError,
  Int8RangeError,
  ParameterError,
  PgwarpError,
  PoolClosedError,
  PoolTimeoutError,
  PostgresError,
  QueryResultError,
  QueryTimeoutError,
  ResultTooLargeError,
  RolledBackError,
} from './errors';
export * from './sqlstate-errors';
export { ReadYourWrites } from './read-your-writes';
export { EmptyListError, SqlHelper, SqlQuery, type Fragment, type Sql } from './sql-template';
