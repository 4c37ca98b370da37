/**
 * `pgwarp/pg`: node-postgres' API (pg 8.x) on pgwarp's engine, for code and libraries written
 * for pg (Drizzle, Kysely, Knex, Prisma's adapter, pg-boss...). Values arrive as pg gives them,
 * through pg-types' one registry; switch with `"pg": "npm:pgwarp-pg@<version>"` in
 * package.json's dependencies and overrides.
 *
 * @example
 * ```ts
 * import pg from 'pgwarp/pg';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const { rows } = await pool.query('select now() as at');
 * ```
 * @module
 */
import { Client } from './client';
import { defaults } from './defaults';
import { DatabaseError } from './errors';
import { Pool } from './pool';
import { Query } from './query';
import { Result } from './result';
import { TypeOverrides, types } from './types';
import { escapeIdentifier, escapeLiteral } from './values';

export { Client, defaults, DatabaseError, escapeIdentifier, escapeLiteral, Pool, Query, Result, TypeOverrides, types };
export type { ClientConfig, PgwarpOptions, PoolConfig } from './config';
export type { FieldDef } from './result';
export type { PoolClient } from './pool';
export type { QueryConfig, QueryResultRow } from './query';
/** pg's name for a Result. */
export type QueryResult<R extends import('./query').QueryResultRow = import('./query').QueryResultRow> = Result<R>;
export type { Cursor } from './cursor';
export type { QueryStream } from './query-stream';

/** The module object, as `import pg from 'pg'` gives it. */
const pg = { Client, Pool, Query, Result, types, defaults, DatabaseError, TypeOverrides, escapeIdentifier, escapeLiteral };
export default pg;

// pg's native bindings (pg-native): pgwarp has none, its engine is already native. Not
// enumerable, as pg defines it (a lazy getter), so `Object.keys(pg)` does not list it.
for (const target of [pg, module.exports]) Object.defineProperty(target, 'native', { value: null, enumerable: false, configurable: true });
