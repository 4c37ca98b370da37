/**
 * @prisma/adapter-pg (Prisma 7's driver adapter for node-postgres) through the node-postgres
 * API under test (`pg-driver.ts`), at the adapter's own interface (what Prisma Client's query
 * executor calls): `new PrismaPg(pool)` → `connect()` → `queryRaw` / `executeRaw` /
 * `executeScript` / `startTransaction()`. No Prisma Client, no generated code, no engine.
 *
 * What the adapter calls on the driver: `pool.query({ name, text, values, rowMode: 'array',
 * types: { getTypeParser(oid, format) } })`, where its parsers keep numeric, date, time,
 * timestamp(tz), money, json(b) (and their arrays) as the server's text (its own re-formatting
 * of timestamps assumes a UTC session) and defer to the real 'pg' package's
 * `types.getTypeParser` for the rest; `name` only with a `statementNameGenerator`. It reads
 * `fields[i].name` / `.dataTypeID`, `rows`, `rowCount`. `executeScript` splits on ';' and runs
 * `pool.query(text)`. Transactions: `pool.connect()`, `client.on('error')` /
 * `removeListener`, `BEGIN` (and `SET TRANSACTION ISOLATION LEVEL …`) as `client.query(config)`
 * with `values: []`, then `client.release()` (or `release(err)` when BEGIN fails); the caller
 * sends COMMIT/ROLLBACK through executeRaw first, as Prisma's transaction manager does.
 * Errors are mapped from the driver error's `code`, `severity`, `detail`, `column`, `hint`,
 * `constraint`, `table` (a driver error is recognized only if detail/column/hint are strings or
 * undefined). The factory takes the given pool only if it is `instanceof` the real 'pg'
 * package's Pool; otherwise it treats it as a config and makes a pool of the real 'pg'.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaPg } from '@prisma/adapter-pg';

import { databaseUrl, tableName } from './helpers';
import { pg } from './pg-driver';

type Adapter = Awaited<ReturnType<PrismaPg['connect']>>;
type ArgType = Parameters<Adapter['queryRaw']>[0]['argTypes'][number];

// ColumnTypeEnum of @prisma/driver-adapter-utils.
const T = {
  Int32: 0, Int64: 1, Double: 3, Numeric: 4, Boolean: 5, Text: 7, Date: 8, Time: 9, DateTime: 10, Json: 11, Bytes: 13, Uuid: 15,
  Int32Array: 64, Int64Array: 65, NumericArray: 68, TextArray: 71, DateTimeArray: 74,
} as const;

const scalar = (scalarType: ArgType['scalarType'], dbType?: string): ArgType => ({ scalarType, dbType, arity: 'scalar' });
const list = (scalarType: ArgType['scalarType']): ArgType => ({ scalarType, arity: 'list' });

const schema = tableName('orm_prisma');
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, options: '-c TimeZone=UTC' });
const udtCalls: [number, unknown][] = [];
const factory = new PrismaPg(pool, {
  schema,
  userDefinedTypeParser: async (oid, value) => {
    udtCalls.push([oid, value]);
    return `udt:${String(value)}`;
  },
});
let adapter: Adapter;

beforeAll(async () => {
  adapter = await factory.connect();
  await adapter.executeScript(`
    create schema ${schema};
    create type ${schema}.mood as enum ('happy', 'sad');
    create table ${schema}.item (
      id serial primary key,
      sku text not null unique,
      qty int4 not null,
      big int8 not null,
      price numeric(12, 2) not null,
      ratio float8,
      active bool not null default true,
      payload jsonb,
      tags text[],
      nums int4[],
      day date,
      at timestamptz,
      raw bytea,
      mood ${schema}.mood,
      uid uuid default gen_random_uuid()
    )
  `);
});

afterAll(async () => {
  await adapter?.executeScript(`drop schema if exists ${schema} cascade`).catch(() => {});
  const before = pool.listenerCount('error');
  await adapter?.dispose(); // an external pool: the adapter only removes its 'error' listener
  expect(pool.listenerCount('error')).toBe(before - 1);
  await pool.end();
});

const insertSql = `insert into ${schema}.item (sku, qty, big, price, ratio, payload, tags, nums, day, at, raw, mood)
                   values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::${schema}.mood)`;
const insertTypes = [
  scalar('string'),
  scalar('int'),
  scalar('bigint'),
  scalar('decimal'),
  scalar('float'),
  scalar('json'),
  list('string'),
  list('int'),
  scalar('datetime', 'DATE'),
  scalar('datetime'),
  scalar('bytes'),
  scalar('enum'),
];

describe('@prisma/adapter-pg on the pg API', () => {
  it('uses the pool it was given, and reports its connection info', () => {
    // Fails if the factory did not see the pool as a pg.Pool (then it built its own from 'pg').
    expect(adapter.underlyingDriver()).toBe(pool);
    expect(adapter.provider).toBe('postgres');
    expect(adapter.adapterName).toBe('@prisma/adapter-pg');
    expect(adapter.getConnectionInfo()).toEqual({ schemaName: schema, supportsRelationJoins: true });
  });

  it('executeRaw with Prisma-typed args returns the affected row count', async () => {
    const n = await adapter.executeRaw({
      sql: insertSql,
      args: [
        'sku-1',
        7,
        '9223372036854775807',
        '1234567890.12',
        0.25,
        JSON.stringify({ a: [1, 'two'], b: { c: null } }),
        ['x', 'y,z', 'q"uote'],
        [1, -2, 3],
        '2024-02-29T00:00:00.000Z',
        '2024-02-29T12:34:56.789Z',
        Buffer.from([0, 1, 2, 255]).toString('base64'),
        'happy',
      ],
      argTypes: insertTypes,
    });
    expect(n).toBe(1);
    const two = await adapter.executeRaw({
      sql: `insert into ${schema}.item (sku, qty, big, price) select 'bulk-' || g, g, g * 10, g / 4.0 from generate_series(1, 3) g`,
      args: [],
      argTypes: [],
    });
    expect(two).toBe(3);
  });

  it('queryRaw returns column names, Prisma column types and array rows with the values as Prisma wants them', async () => {
    const r = await adapter.queryRaw({
      sql: `select id, sku, qty, big, price, ratio, active, payload, tags, nums, day, at, raw, mood, uid,
                   array[price, price * 2] as prices, array[big] as bigs, array[at] as ats
              from ${schema}.item where sku = $1`,
      args: ['sku-1'],
      argTypes: [scalar('string')],
    });
    expect(r.columnNames).toEqual(['id', 'sku', 'qty', 'big', 'price', 'ratio', 'active', 'payload', 'tags', 'nums', 'day', 'at', 'raw', 'mood', 'uid', 'prices', 'bigs', 'ats']);
    expect(r.columnTypes).toEqual([
      T.Int32, T.Text, T.Int32, T.Int64, T.Numeric, T.Double, T.Boolean, T.Json, T.TextArray, T.Int32Array,
      T.Date, T.DateTime, T.Bytes, T.Text, T.Uuid, T.NumericArray, T.Int64Array, T.DateTimeArray,
    ]);
    expect(r.rows).toHaveLength(1);
    const [id, sku, qty, big, price, ratio, active, payload, tags, nums, day, at, raw, mood, uid, prices, bigs, ats] = r.rows[0] as unknown[];
    expect(typeof id).toBe('number');
    expect(sku).toBe('sku-1');
    expect(qty).toBe(7);
    expect(big).toBe('9223372036854775807');
    expect(price).toBe('1234567890.12');
    expect(ratio).toBe(0.25);
    expect(active).toBe(true);
    // json(b) stays text: the adapter's parser leaves it to Prisma.
    expect(typeof payload).toBe('string');
    expect(JSON.parse(payload as string)).toEqual({ a: [1, 'two'], b: { c: null } });
    expect(tags).toEqual(['x', 'y,z', 'q"uote']);
    expect(nums).toEqual([1, -2, 3]);
    expect(day).toBe('2024-02-29');
    expect(at).toBe('2024-02-29T12:34:56.789+00:00');
    expect(Buffer.isBuffer(raw)).toBe(true);
    expect([...(raw as Buffer)]).toEqual([0, 1, 2, 255]);
    // A user-defined type (the enum): the udt parser got its oid and the text.
    expect(mood).toBe('udt:happy');
    expect(udtCalls).toHaveLength(1);
    expect(udtCalls[0][0]).toBeGreaterThanOrEqual(16384);
    expect(udtCalls[0][1]).toBe('happy');
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(prices).toEqual(['1234567890.12', '2469135780.24']);
    expect(bigs).toEqual(['9223372036854775807']);
    expect(ats).toEqual(['2024-02-29T12:34:56.789+00:00']);

    const counted = await adapter.queryRaw({
      sql: `select count(*) as n, sum(qty)::int4 as q from ${schema}.item where sku like $1 and qty = any($2)`,
      args: ['bulk-%', [1, 3]],
      argTypes: [scalar('string'), list('int')],
    });
    expect(counted.columnTypes).toEqual([T.Int64, T.Int32]);
    expect(counted.rows).toEqual([['2', 4]]);

    const empty = await adapter.queryRaw({ sql: `select sku from ${schema}.item where false`, args: [], argTypes: [] });
    expect(empty).toEqual({ columnNames: ['sku'], columnTypes: [T.Text], rows: [] });
  });

  it('transactions: commit, rollback, savepoints, isolation level, one connection throughout', async () => {
    const pid = { sql: 'select pg_backend_pid() as pid', args: [], argTypes: [] };
    const tx = await adapter.startTransaction();
    const pid1 = (await tx.queryRaw(pid)).rows[0][0];
    expect(await tx.executeRaw({ sql: `update ${schema}.item set qty = qty + 100 where sku = $1`, args: ['bulk-1'], argTypes: [scalar('string')] })).toBe(1);
    await tx.createSavepoint?.('sp1');
    await tx.executeRaw({ sql: `delete from ${schema}.item where sku = 'bulk-2'`, args: [], argTypes: [] });
    await tx.rollbackToSavepoint?.('sp1');
    // Not visible outside the transaction yet.
    const outside = await adapter.queryRaw({ sql: `select qty from ${schema}.item where sku = 'bulk-1'`, args: [], argTypes: [] });
    expect(outside.rows).toEqual([[1]]);
    expect((await tx.queryRaw(pid)).rows[0][0]).toBe(pid1);
    await tx.executeRaw({ sql: 'COMMIT', args: [], argTypes: [] });
    await tx.commit();
    const after = await adapter.queryRaw({ sql: `select sku, qty from ${schema}.item where sku in ('bulk-1', 'bulk-2') order by sku`, args: [], argTypes: [] });
    expect(after.rows).toEqual([
      ['bulk-1', 101],
      ['bulk-2', 2],
    ]);

    const rb = await adapter.startTransaction('SERIALIZABLE');
    const level = await rb.queryRaw({ sql: 'show transaction_isolation', args: [], argTypes: [] });
    expect(level.rows).toEqual([['serializable']]);
    await rb.executeRaw({ sql: `delete from ${schema}.item`, args: [], argTypes: [] });
    await rb.executeRaw({ sql: 'ROLLBACK', args: [], argTypes: [] });
    await rb.rollback();
    const all = await adapter.queryRaw({ sql: `select count(*)::int4 from ${schema}.item`, args: [], argTypes: [] });
    expect(all.rows).toEqual([[4]]);
    expect(pool.idleCount).toBe(pool.totalCount);
    expect(pool.waitingCount).toBe(0);
  });

  it('driver errors become DriverAdapterErrors with the mapped kind', async () => {
    const dup = await adapter
      .executeRaw({ sql: insertSql, args: ['sku-1', 1, '1', '1', null, null, null, null, null, null, null, null], argTypes: insertTypes })
      .catch((e: unknown) => e as Error & { cause: Record<string, unknown> });
    expect(dup).toBeInstanceOf(Error);
    expect((dup as Error).name).toBe('DriverAdapterError');
    expect((dup as { cause: unknown }).cause).toEqual({
      kind: 'UniqueConstraintViolation',
      constraint: { index: 'item_sku_key' },
      table: 'item',
      originalCode: '23505',
      originalMessage: 'duplicate key value violates unique constraint "item_sku_key"',
    });

    const div = (await adapter.queryRaw({ sql: 'select 1 / 0', args: [], argTypes: [] }).catch((e: unknown) => e)) as { name: string; cause: unknown };
    expect(div.name).toBe('DriverAdapterError');
    expect(div.cause).toEqual({
      kind: 'postgres',
      code: '22012',
      severity: 'ERROR',
      message: 'division by zero',
      detail: undefined,
      column: undefined,
      hint: undefined,
      originalCode: '22012',
      originalMessage: 'division by zero',
    });

    const missing = (await adapter.queryRaw({ sql: `select * from ${schema}.nope`, args: [], argTypes: [] }).catch((e: unknown) => e)) as { cause: unknown };
    expect(missing.cause).toMatchObject({ kind: 'TableDoesNotExist', originalCode: '42P01' });

    const nulls = (await adapter
      .executeRaw({ sql: `insert into ${schema}.item (sku, qty, big, price) values ('n', null, 1, 1)`, args: [], argTypes: [] })
      .catch((e: unknown) => e)) as { cause: unknown };
    expect(nulls.cause).toMatchObject({ kind: 'NullConstraintViolation', originalCode: '23502' });
  });

  it('named statements from a statementNameGenerator', async () => {
    const named = await new PrismaPg(pool, { statementNameGenerator: (q) => `prisma_${q.sql.length}_${q.args.length}` }).connect();
    try {
      const q = (sku: string) => named.queryRaw({ sql: `select qty from ${schema}.item where sku = $1`, args: [sku], argTypes: [scalar('string')] });
      const results = await Promise.all(['bulk-1', 'bulk-2', 'bulk-3', 'none', 'bulk-1', 'bulk-2', 'bulk-3'].map(q));
      expect(results.map((r) => r.rows)).toEqual([[[101]], [[2]], [[3]], [], [[101]], [[2]], [[3]]]);
    } finally {
      await named.dispose();
    }
  });
});
