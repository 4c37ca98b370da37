/**
 * Knex through the node-postgres API under test (`pg-driver.ts`).
 *
 * Knex loads its driver by name (`require('pg')` in the pg dialect's `_driver()`, and
 * `require('pg-query-stream')` for streams): the tests' alias (`pg-alias.ts`) resolves those to
 * pgwarp's drop-ins, as `"pg": "npm:pgwarp-pg@..."` does for an application.
 *
 * What Knex calls on the driver (its own tarn pool): `new pg.Client(connectionSettings)`,
 * `client.on('error')`, `client.on('end')`, `client.connect()` (promise), callback-style
 * `client.query('select version();', cb)` and `client.query('set search_path to …', cb)` on each
 * new connection, then every statement as callback-style `client.query({ text, values }, cb)`
 * with `values = []` when there are no bindings (so node-postgres uses the simple protocol:
 * `BEGIN;`, `COMMIT;`, `ROLLBACK`, savepoints, and multi-statement `knex.raw()` texts, which come
 * back as an array of results). It reads `command`, `rowCount`, `rows` (and returns the whole
 * result, `fields` included, for `raw`), `client.processID` for `pg_cancel_backend()` on a
 * timeout with `cancel: true`, and `client.end(cb)` when destroying. With `connectionPool` (a
 * `pg.Pool`), it uses `pool.connect()`, `client.query(config, cb)` and `client.release(bool)`.
 */
import { PassThrough } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knex, type Knex } from 'knex';

import { databaseUrl, tableName } from './helpers';
import { pg } from './pg-driver';

const schema = tableName('orm_knex');
const db: Knex = knex({
  // Knex requires 'pg' (and 'pg-query-stream' for .stream()) itself: in these tests they are
  // pgwarp's drop-ins through the alias of pg-alias.ts, as an npm alias makes them for users.
  client: 'pg',
  connection: databaseUrl,
  searchPath: [schema],
  pool: { min: 0, max: 4 },
  migrations: { schemaName: schema, tableName: 'knex_migrations' },
});

interface Account {
  id: number;
  uid: string;
  name: string;
  meta: unknown;
  tags: string[] | null;
  scores: number[] | null;
  balance: string;
  big: string;
  active: boolean;
  seen_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const when = new Date('2024-02-29T12:34:56.789Z');

beforeAll(async () => {
  await db.schema.createSchema(schema);
  await db.schema.withSchema(schema).createTable('account', (t) => {
    t.increments('id');
    t.uuid('uid').notNullable().defaultTo(db.raw('gen_random_uuid()'));
    t.string('name', 100).notNullable().unique();
    t.jsonb('meta');
    t.specificType('tags', 'text[]');
    t.specificType('scores', 'int4[]');
    t.decimal('balance', 14, 4).notNullable().defaultTo(0);
    t.bigInteger('big').notNullable().defaultTo(0);
    t.boolean('active').notNullable().defaultTo(true);
    t.timestamp('seen_at', { useTz: true });
    t.timestamps(true, true);
  });
  await db.schema.withSchema(schema).createTable('entry', (t) => {
    t.increments('id');
    t.integer('account_id').notNullable().references('id').inTable(`${schema}.account`).onDelete('CASCADE');
    t.text('note').notNullable();
    t.decimal('amount', 14, 4).notNullable();
  });
});

afterAll(async () => {
  await db.raw('drop schema if exists ?? cascade', [schema]).catch(() => {});
  await db.destroy();
});

describe('Knex on the pg API', () => {
  it('the schema builder made the tables (found through searchPath), with the column types asked for', async () => {
    expect(await db.schema.hasTable('account')).toBe(true);
    expect(await db.schema.hasColumn('account', 'tags')).toBe(true);
    const cols = await db('information_schema.columns')
      .select('column_name', 'data_type', 'udt_name')
      .where({ table_schema: schema, table_name: 'account' })
      .orderBy('ordinal_position');
    expect(cols.map((c) => [c.column_name, c.udt_name])).toEqual([
      ['id', 'int4'],
      ['uid', 'uuid'],
      ['name', 'varchar'],
      ['meta', 'jsonb'],
      ['tags', '_text'],
      ['scores', '_int4'],
      ['balance', 'numeric'],
      ['big', 'int8'],
      ['active', 'bool'],
      ['seen_at', 'timestamptz'],
      ['created_at', 'timestamptz'],
      ['updated_at', 'timestamptz'],
    ]);
  });

  it('insert … returning: jsonb as objects, arrays, numeric and int8 as strings, timestamptz as Date', async () => {
    const meta = { plan: 'pro', nested: { list: [1, 'two', null], ok: true }, text: 'ünï "q"' };
    const rows: Account[] = await db('account')
      .insert([
        { name: 'ada', meta, tags: ['a', 'b,c', 'd"e', 'NULL'], scores: [1, -2, 3], balance: '1234567890.1234', big: '9223372036854775807', seen_at: when },
        { name: 'bob', meta: JSON.stringify([1, 2, 3]), tags: [], scores: null, balance: 0.5, big: -1, active: false },
      ])
      .returning('*');
    expect(rows).toHaveLength(2);
    const [ada, bob] = rows;
    expect(typeof ada.id).toBe('number');
    expect(ada.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(ada.meta).toEqual(meta);
    expect(ada.tags).toEqual(['a', 'b,c', 'd"e', 'NULL']);
    expect(ada.scores).toEqual([1, -2, 3]);
    expect(ada.balance).toBe('1234567890.1234');
    expect(ada.big).toBe('9223372036854775807');
    expect(ada.active).toBe(true);
    expect(ada.seen_at).toEqual(when);
    expect(ada.created_at).toBeInstanceOf(Date);
    expect(Math.abs(ada.created_at.getTime() - Date.now())).toBeLessThan(60_000);
    expect(bob).toMatchObject({ name: 'bob', meta: [1, 2, 3], tags: [], scores: null, balance: '0.5000', big: '-1', active: false, seen_at: null });

    const [only] = await db('account').insert({ name: 'cy' }).returning(['id', 'balance', 'big']);
    expect(only).toEqual({ id: bob.id + 1, balance: '0.0000', big: '0' });
  });

  it('joins, aggregates, where-in, first, pluck, and array operators through bindings', async () => {
    const ids = Object.fromEntries((await db('account').select('id', 'name')).map((r) => [r.name, r.id]));
    await db('entry').insert([
      { account_id: ids.ada, note: 'deposit', amount: '100.25' },
      { account_id: ids.ada, note: 'fee', amount: '-0.25' },
      { account_id: ids.bob, note: 'deposit', amount: '7' },
    ]);
    const joined = await db('entry as e')
      .join('account as a', 'a.id', 'e.account_id')
      .select('a.name', 'e.note', 'e.amount', 'a.big')
      .orderBy('e.id');
    expect(joined).toEqual([
      { name: 'ada', note: 'deposit', amount: '100.2500', big: '9223372036854775807' },
      { name: 'ada', note: 'fee', amount: '-0.2500', big: '9223372036854775807' },
      { name: 'bob', note: 'deposit', amount: '7.0000', big: '-1' },
    ]);

    const sums = await db('account as a')
      .leftJoin('entry as e', 'e.account_id', 'a.id')
      .select('a.name')
      .count('e.id as n')
      .sum('e.amount as total')
      .groupBy('a.name')
      .orderBy('a.name');
    expect(sums).toEqual([
      { name: 'ada', n: '2', total: '100.0000' },
      { name: 'bob', n: '1', total: '7.0000' },
      { name: 'cy', n: '0', total: null },
    ]);

    expect(await db('account').whereIn('name', ['ada', 'cy']).orderBy('name').pluck('name')).toEqual(['ada', 'cy']);
    const first = await db('account').where({ name: 'ada' }).first('id', 'tags');
    expect(first).toEqual({ id: ids.ada, tags: ['a', 'b,c', 'd"e', 'NULL'] });
    expect(await db('account').whereRaw('? = any(tags)', ['b,c']).pluck('name')).toEqual(['ada']);
    expect(await db('account').whereRaw('scores @> ?::int4[]', [[3, 1]]).pluck('name')).toEqual(['ada']);
    expect(await db('account').whereRaw(`meta->'nested'->>'ok' = ?`, ['true']).pluck('name')).toEqual(['ada']);
    expect(await db('account').where({ name: 'nobody' }).first()).toBeUndefined();
  });

  it('update and delete return row counts; increment; returning on update', async () => {
    expect(await db('account').whereIn('name', ['bob', 'cy']).update({ active: true })).toBe(2);
    expect(await db('account').where({ name: 'cy' }).increment('big', 5)).toBe(1);
    const [cy] = await db('account').where({ name: 'cy' }).update({ balance: db.raw('balance + ?', ['1.5']) }, ['big', 'balance']);
    expect(cy).toEqual({ big: '5', balance: '1.5000' });
    expect(await db('entry').where({ note: 'nothing' }).del()).toBe(0);
  });

  it('raw queries: the whole pg result, and a multi-statement text (no bindings) as an array of results', async () => {
    const r = await db.raw('select ?::int4 as i, ?::text as t, ?? as n from ?? where name = ?', [7, 'x', 'name', 'account', 'ada']);
    expect(r.command).toBe('SELECT');
    expect(r.rowCount).toBe(1);
    expect(r.rows).toEqual([{ i: 7, t: 'x', n: 'ada' }]);
    expect(r.fields.map((f: { name: string; dataTypeID: number }) => [f.name, f.dataTypeID])).toEqual([
      ['i', 23],
      ['t', 25],
      ['n', 1043],
    ]);

    const multi = await db.raw(`update account set active = active where name = 'ada'; select count(*)::int4 as n from account; select 'two' as s`);
    expect(Array.isArray(multi)).toBe(true);
    expect(multi.map((x: { command: string }) => x.command)).toEqual(['UPDATE', 'SELECT', 'SELECT']);
    expect(multi[0].rowCount).toBe(1);
    expect(multi[1].rows).toEqual([{ n: 3 }]);
    expect(multi[2].rows).toEqual([{ s: 'two' }]);

    const err = await db.raw('select 1 from no_such_table').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    expect((err as { code: string }).code).toBe('42P01');
  });

  it('transactions: commit, rollback on throw, nested savepoint, isolation level, a unique violation', async () => {
    await db.transaction(async (trx) => {
      const [a] = await trx('account').insert({ name: 'tx-commit' }).returning('id');
      await trx('entry').insert({ account_id: a.id, note: 'in tx', amount: 1 });
      // Not visible outside before commit: the transaction holds one connection.
      expect(await db('account').where({ name: 'tx-commit' }).first()).toBeUndefined();
      await trx
        .transaction(async (inner) => {
          await inner('account').insert({ name: 'tx-inner' });
          throw new Error('undo inner');
        })
        .catch((e: Error) => expect(e.message).toBe('undo inner'));
    });
    expect(await db('account').where('name', 'like', 'tx-%').pluck('name')).toEqual(['tx-commit']);

    await expect(
      db.transaction(async (trx) => {
        await trx('account').insert({ name: 'tx-thrown' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db('account').where({ name: 'tx-thrown' }).first()).toBeUndefined();

    const level = await db.transaction(async (trx) => (await trx.raw('show transaction_isolation')).rows[0].transaction_isolation, {
      isolationLevel: 'serializable',
    });
    expect(level).toBe('serializable');

    const trx = await db.transaction();
    await trx('account').insert({ name: 'tx-manual' });
    await trx.rollback();
    expect(await db('account').where({ name: 'tx-manual' }).first()).toBeUndefined();

    const err = await db
      .transaction(async (t) => {
        await t('account').insert({ name: 'tx-dup-a' });
        await t('account').insert({ name: 'ada' });
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    const e = err as InstanceType<typeof pg.DatabaseError>;
    expect(e.code).toBe('23505');
    expect(e.constraint).toBe('account_name_unique');
    expect(e.table).toBe('account');
    expect(e.message).toContain('duplicate key value violates unique constraint');
    expect(await db('account').where({ name: 'tx-dup-a' }).first()).toBeUndefined();
  });

  it('streams rows through pg-query-stream', async () => {
    const [{ id }] = await db('account').where({ name: 'ada' }).select('id');
    await db.batchInsert('entry', Array.from({ length: 300 }, (_, i) => ({ account_id: id, note: `bulk ${i}`, amount: i })), 100);
    const seen: { id: number; note: string; amount: string }[] = [];
    const stream = db('entry').select('id', 'note', 'amount').where('note', 'like', 'bulk %').orderBy('id').stream({ batchSize: 32 });
    for await (const row of stream) seen.push(row);
    expect(seen).toHaveLength(300);
    expect(seen[0]).toMatchObject({ note: 'bulk 0', amount: '0.0000' });
    expect(seen[299]).toMatchObject({ note: 'bulk 299', amount: '299.0000' });
    expect(seen.every((r, i) => typeof r.id === 'number' && (i === 0 || r.id > seen[i - 1].id))).toBe(true);

    // The callback form with a pipe.
    const sink = new PassThrough({ objectMode: true });
    let piped = 0;
    sink.on('data', () => piped++);
    await db('entry')
      .select('id')
      .where('note', 'like', 'bulk %')
      .stream((s) => new Promise<void>((resolve, reject) => s.pipe(sink).on('finish', resolve).on('error', reject)));
    expect(piped).toBe(300);
  });

  it('a timeout with cancel: true cancels the backend (pg_cancel_backend on client.processID)', async () => {
    const started = Date.now();
    const err = await db
      .raw('select pg_sleep(30)')
      .timeout(300, { cancel: true })
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('KnexTimeoutError');
    expect(Date.now() - started).toBeLessThan(10_000);
    // The sleeping query is gone from the server.
    let active = 1;
    for (let i = 0; i < 50 && active > 0; i++) {
      const r = await db.raw(`select count(*)::int4 as n from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'`);
      active = r.rows[0].n;
      if (active > 0) await new Promise((res) => setTimeout(res, 100));
    }
    expect(active).toBe(0);
    expect((await db.raw('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });

  it('migrations (custom source) run in a transaction with the lock table', async () => {
    const migrationSource = {
      getMigrations: async () => ['001_widgets', '002_widget_rows'],
      getMigrationName: (m: string) => m,
      getMigration: async (m: string) =>
        m === '001_widgets'
          ? {
              up: (k: Knex) => k.schema.createTable('widget', (t) => (t.increments('id'), t.string('label'))),
              down: (k: Knex) => k.schema.dropTable('widget'),
            }
          : {
              up: (k: Knex) => k('widget').insert([{ label: 'one' }, { label: 'two' }]),
              down: (k: Knex) => k('widget').del(),
            },
    };
    const [batch, done] = await db.migrate.latest({ migrationSource });
    expect(batch).toBe(1);
    expect(done).toEqual(['001_widgets', '002_widget_rows']);
    expect(await db('widget').orderBy('id').pluck('label')).toEqual(['one', 'two']);
    const [batch2, done2] = await db.migrate.latest({ migrationSource });
    expect([batch2, done2]).toEqual([1, []]);
    const [, rolledBack] = await db.migrate.rollback({ migrationSource });
    expect(rolledBack).toEqual(['002_widget_rows', '001_widgets']);
    expect(await db.schema.hasTable('widget')).toBe(false);
  });

  it('a pg.Pool given as connectionPool', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    const viaPool = knex({ client: 'pg', connectionPool: pool });
    try {
      const names = await viaPool.withSchema(schema).table('account').whereIn('name', ['ada', 'bob']).orderBy('name').pluck('name');
      expect(names).toEqual(['ada', 'bob']);
      await viaPool.transaction(async (trx) => {
        await trx.withSchema(schema).table('account').where({ name: 'bob' }).update({ big: 42 });
      });
      expect((await db('account').where({ name: 'bob' }).first('big')).big).toBe('42');
      expect(pool.idleCount).toBe(pool.totalCount);
      expect(pool.totalCount).toBeGreaterThan(0);
    } finally {
      await viaPool.destroy();
      await pool.end();
    }
  });
});
