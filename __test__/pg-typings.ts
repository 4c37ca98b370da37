// Type-level checks (run by `npm run typecheck`, never executed): code written for pg's types
// (@types/pg) compiles against pgwarp/pg's own bundled declarations, and its Pool goes where
// Kysely takes a pg pool.
import { drizzle } from 'drizzle-orm/node-postgres';
import { Kysely, PostgresDialect } from 'kysely';

import { Client, Pool, types, type PoolClient, type QueryResult } from '../src/pg';
import Cursor = require('../src/pg/pg-cursor');

type User = { id: number; name: string };

export async function typedUsage(pool: Pool, client: Client): Promise<void> {
  const r: QueryResult<User> = await pool.query<User>('select id, name from users where id = $1', [1]);
  r.rows[0].name.toUpperCase();
  const byConfig = await client.query<User>({ text: 'select 1', values: [], rowMode: 'array' });
  void byConfig.fields[0].dataTypeID;
  pool.query('select 1', (err, res) => void (err ? err.message : res.rowCount));
  const held: PoolClient = await pool.connect();
  const cursor = held.query(new Cursor('select 1'));
  await cursor.read(10);
  held.release();
  types.setTypeParser(20, (v: string) => BigInt(v));
  new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool, cursor: Cursor }) });
  // Drizzle's declarations name pg's classes (`import type { Pool } from 'pg'`); with the alias,
  // 'pg' is pgwarp-pg, whose types are these, so its pool parameter is this Pool.
  drizzle(pool as unknown as import('pg').Pool);
}
