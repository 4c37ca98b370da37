/**
 * pgwarp: a PostgreSQL driver for Node.js with a Rust engine.
 * @module
 */
export { Pool, type CloseOptions, type HostStats, type PoolCounters, type PoolShardStats, type PoolStats } from './pool/pool';
export { ReservedConnection } from './pool/reserved';
export { Transaction, type TransactionOptions } from './pool/transaction';
export type { PoolOptions } from './config/config';
export type { Target } from './pool/targets';
export type { SslOption, SslOptions } from './config/ssl';
export { QueryResult, type ExecuteResult, type ModelLike, type QueryOptions, type Rows, type StreamOptions } from './query/query-result';
export type { Column } from './result/decode';
export { RowStream } from './query/stream';
export type { StatementResult } from './query/script';
export type { ListenOptions, Notice, NotificationInfo, Subscription } from './pool/notify';
export type { TypeCodec, TypeCodecs } from './query/codecs';
export type { CopyRows, CopySource, TableName } from './query/copy';
export type { Int8Mode, RowMode } from './result/decode';
export type { JsonNumbers } from './result/json-exact';
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
} from './errors/errors';
export * from './errors/sqlstate-errors';
export { ReadYourWrites } from './pool/read-your-writes';
export { EmptyListError, SqlHelper, SqlQuery, type Fragment, type Sql } from './query/sql-template';
