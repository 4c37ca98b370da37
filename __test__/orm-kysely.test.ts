/**
 * Kysely through the node-postgres API under test (`pg-driver.ts`): its PostgresDialect is
 * handed a `pg.Pool` and pg-cursor's class, as a user would.
 *
 * What Kysely calls on the driver: `pool.connect()` → `client.query(text, values)` with a values
 * array always (an empty one for DDL, `begin`, `commit`, `rollback`, savepoints: node-postgres
 * then uses the simple protocol; with parameters, the extended one), reads `command`,
 * `rowCount`, `rows` of the result (`command === 'ROLLBACK'` on a commit is how it sees an
 * aborted transaction), `client.release(false)`, `pool.end()` on destroy; `.stream()` does
 * `client.query(new Cursor(text, values))` and `cursor.read(n)` / `cursor.close()`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedTransactionError,
  Kysely,
  PostgresDialect,
  sql,
  type ColumnType,
  type Generated,
} from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';

import { databaseUrl, tableName } from './helpers';
import { Cursor, pg } from './pg-driver';

interface AuthorTable {
  id: Generated<number>;
  name: string;
  big: ColumnType<string, string | bigint, string | bigint>;
  bigs: ColumnType<string[] | null, string[] | null, string[] | null>;
  balance: ColumnType<string, string | number, string | number>;
  created_at: ColumnType<Date, Date | undefined, Date>;
  meta: ColumnType<unknown, unknown, unknown>;
  tags: string[] | null;
  scores: number[] | null;
}

interface PostTable {
  id: Generated<number>;
  author_id: number;
  title: string;
  published: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

interface Database {
  author: AuthorTable;
  post: PostTable;
}

const schema = tableName('orm_kysely');
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
const base = new Kysely<Database>({ dialect: new PostgresDialect({ pool, cursor: Cursor }) });
const db = base.withSchema(schema);

const when = new Date('2024-02-29T12:34:56.789Z');
const big = '9007199254740993'; // 2^53 + 1: not representable as a JS number

beforeAll(async () => {
  await base.schema.createSchema(schema).execute();
  await db.schema
    .createTable('author')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('big', 'int8', (c) => c.notNull())
    .addColumn('bigs', sql`int8[]`)
    .addColumn('balance', 'numeric', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('meta', 'jsonb')
    .addColumn('tags', sql`text[]`)
    .addColumn('scores', sql`int4[]`)
    .execute();
  await db.schema
    .createTable('post')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('author_id', 'integer', (c) => c.notNull().references('author.id').onDelete('cascade'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('published', 'timestamptz')
    .execute();
});

afterAll(async () => {
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(base).catch(() => {});
  await base.destroy(); // ends the pool
});

describe('Kysely on the pg API', () => {
  it('inserts with returning: int8 and numeric as strings, timestamptz as Date, jsonb as objects, arrays as arrays', async () => {
    const meta = { plan: 'pro', limits: { seats: 5, ratio: 0.25 }, flags: [true, false, null], note: 'ünïcødé "q"' };
    const tags = ['plain', 'with,comma', 'with "quotes"', 'back\\slash', '', 'NULL', 'ünïcødé', '{braces}'];
    const row = await db
      .insertInto('author')
      .values({
        name: 'ada',
        big: BigInt(big),
        bigs: ['1', big, '-9223372036854775808'],
        balance: '12345678901234567890.000000001',
        created_at: when,
        meta,
        tags,
        scores: [1, -2, 2147483647],
      })
      .returningAll()
      .executeTakeFirstOrThrow();

    expect(typeof row.id).toBe('number');
    expect(row.name).toBe('ada');
    expect(row.big).toBe(big);
    expect(row.bigs).toEqual(['1', big, '-9223372036854775808']);
    expect(row.balance).toBe('12345678901234567890.000000001');
    expect(row.created_at).toBeInstanceOf(Date);
    expect(row.created_at.getTime()).toBe(when.getTime());
    expect(row.meta).toEqual(meta);
    expect(row.tags).toEqual(tags);
    expect(row.scores).toEqual([1, -2, 2147483647]);

    // Defaults, nulls, a jsonb top-level array (pg turns a JS array into a PG array literal, so it goes as JSON text).
    const rows = await db
      .insertInto('author')
      .values([
        { name: 'bob', big: '-42', balance: 1234.5, meta: JSON.stringify([1, 'two', { three: 3 }]), tags: null, scores: [] },
        { name: 'cy', big: '0', balance: '0.10', meta: null, tags: [null as unknown as string, 'x'], scores: null },
      ])
      .returning(['id', 'name', 'big', 'balance', 'created_at', 'meta', 'tags', 'scores', 'bigs'])
      .execute();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ name: 'bob', big: '-42', balance: '1234.5', meta: [1, 'two', { three: 3 }], tags: null, scores: [], bigs: null });
    expect(rows[1]).toMatchObject({ name: 'cy', big: '0', balance: '0.10', meta: null, tags: [null, 'x'], scores: null });
    expect(rows[0].created_at).toBeInstanceOf(Date);
    expect(Math.abs(rows[0].created_at.getTime() - Date.now())).toBeLessThan(60_000);
    expect(rows[1].id).toBe(rows[0].id + 1);
  });

  it('selects with a join, aggregates (count is int8: a string) and nested json', async () => {
    const authors = await db.selectFrom('author').select(['id', 'name']).where('name', 'in', ['ada', 'bob']).orderBy('name').execute();
    expect(authors.map((a) => a.name)).toEqual(['ada', 'bob']);
    const [ada, bob] = authors;
    const inserted = await db
      .insertInto('post')
      .values([
        { author_id: ada.id, title: 'Notes on the Analytical Engine', published: new Date('1843-09-01T00:00:00Z') },
        { author_id: ada.id, title: 'Second' },
        { author_id: bob.id, title: 'Bob writes' },
      ])
      .executeTakeFirstOrThrow();
    expect(inserted.numInsertedOrUpdatedRows).toBe(3n);

    const joined = await db
      .selectFrom('post as p')
      .innerJoin('author as a', 'a.id', 'p.author_id')
      .select(['a.name as author', 'p.title', 'p.published', 'a.big'])
      .orderBy('p.id')
      .execute();
    expect(joined).toEqual([
      { author: 'ada', title: 'Notes on the Analytical Engine', published: new Date('1843-09-01T00:00:00Z'), big },
      { author: 'ada', title: 'Second', published: null, big },
      { author: 'bob', title: 'Bob writes', published: null, big: '-42' },
    ]);

    const counts = await db
      .selectFrom('author as a')
      .leftJoin('post as p', 'p.author_id', 'a.id')
      .select(['a.name', (eb) => eb.fn.count('p.id').as('posts'), (eb) => eb.fn.count<number>('p.id').$castTo<number>().as('again')])
      .select(sql<number>`count(p.id)::int4`.as('posts_int'))
      .groupBy('a.name')
      .orderBy('a.name')
      .execute();
    expect(counts.map((c) => [c.name, c.posts, c.posts_int])).toEqual([
      ['ada', '2', 2],
      ['bob', '1', 1],
      ['cy', '0', 0],
    ]);
    expect(typeof counts[0].again).toBe('string'); // the cast is only TypeScript's: pg parses int8 as a string

    // jsonArrayFrom: json_agg inside the select; values inside json are JSON's (numbers, strings).
    const nested = await db
      .selectFrom('author as a')
      .select((eb) => [
        'a.name',
        jsonArrayFrom(eb.selectFrom('post as p').select(['p.title', 'p.published']).whereRef('p.author_id', '=', 'a.id').orderBy('p.id')).as('posts'),
      ])
      .where('a.name', '=', 'ada')
      .executeTakeFirstOrThrow();
    // Timestamps inside json are text in the session's time zone, not Dates.
    const posts = nested.posts as { title: string; published: string | null }[];
    expect(posts.map((p) => p.title)).toEqual(['Notes on the Analytical Engine', 'Second']);
    expect(typeof posts[0].published).toBe('string');
    expect(new Date(posts[0].published!).getTime()).toBe(Date.UTC(1843, 8, 1));
    expect(posts[1].published).toBeNull();
  });

  it('update and delete report affected rows (from rowCount) as bigint', async () => {
    const up = await db.updateTable('author').set({ balance: sql`balance + 1` }).where('name', 'in', ['bob', 'cy']).executeTakeFirstOrThrow();
    expect(up.numUpdatedRows).toBe(2n);
    const bal = await db.selectFrom('author').select('balance').where('name', '=', 'cy').executeTakeFirstOrThrow();
    expect(bal.balance).toBe('1.10');
    const none = await db.deleteFrom('post').where('title', '=', 'no such').executeTakeFirstOrThrow();
    expect(none.numDeletedRows).toBe(0n);
  });

  it('transactions: commit keeps, a throw rolls back, savepoints, and a commit of an aborted transaction is refused', async () => {
    const id = await db.transaction().execute(async (trx) => {
      const a = await trx.insertInto('author').values({ name: 'tx-commit', big: '1', balance: 1 }).returning('id').executeTakeFirstOrThrow();
      await trx.insertInto('post').values({ author_id: a.id, title: 'in tx' }).execute();
      return a.id;
    });
    expect(await db.selectFrom('post').select('title').where('author_id', '=', id).execute()).toEqual([{ title: 'in tx' }]);

    const boom = new Error('undo');
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('author').values({ name: 'tx-rollback', big: '2', balance: 2 }).execute();
        expect((await trx.selectFrom('author').select('name').where('name', '=', 'tx-rollback').execute()).length).toBe(1);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await db.selectFrom('author').select('id').where('name', '=', 'tx-rollback').execute()).toEqual([]);

    // A failing statement rolls back too, and the error is the driver's DatabaseError with its fields.
    const err = await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('author').values({ name: 'tx-dup', big: '3', balance: 3 }).execute();
        await trx.insertInto('author').values({ name: 'tx-dup', big: '4', balance: 4 }).execute();
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pg.DatabaseError);
    const e = err as InstanceType<typeof pg.DatabaseError>;
    expect(e.code).toBe('23505');
    expect(e.constraint).toBe('author_name_key');
    expect(e.table).toBe('author');
    expect(e.schema).toBe(schema);
    expect(e.detail).toBe('Key (name)=(tx-dup) already exists.');
    expect(await db.selectFrom('author').select('id').where('name', '=', 'tx-dup').execute()).toEqual([]);

    // Controlled transaction with a savepoint.
    const trx = await db.startTransaction().execute();
    await trx.insertInto('author').values({ name: 'sp-kept', big: '5', balance: 5 }).execute();
    const sp = await trx.savepoint('sp1').execute();
    await sp.insertInto('author').values({ name: 'sp-undone', big: '6', balance: 6 }).execute();
    const back = await sp.rollbackToSavepoint('sp1').execute();
    await back.commit().execute();
    const names = await db.selectFrom('author').select('name').where('name', 'like', 'sp-%').execute();
    expect(names).toEqual([{ name: 'sp-kept' }]);

    // The server answers COMMIT with a ROLLBACK tag after an error: Kysely sees it in `command`.
    const aborted = await db.startTransaction().execute();
    await aborted.insertInto('author').values({ name: 'aborted', big: '7', balance: 7 }).execute();
    await expect(sql`select 1 / 0`.execute(aborted)).rejects.toMatchObject({ code: '22012' });
    await expect(aborted.commit().execute()).rejects.toBeInstanceOf(AbortedTransactionError);
    expect(await db.selectFrom('author').select('id').where('name', '=', 'aborted').execute()).toEqual([]);
  });

  it('streams through pg-cursor in chunks, and a stream left early gives its connection back', async () => {
    const ada = await db.selectFrom('author').select('id').where('name', '=', 'ada').executeTakeFirstOrThrow();
    await db
      .insertInto('post')
      .values(Array.from({ length: 250 }, (_, i) => ({ author_id: ada.id, title: `bulk ${i}`, published: new Date(when.getTime() + i * 1000) })))
      .execute();

    let count = 0;
    let last = -1;
    for await (const row of db
      .selectFrom('post as p')
      .innerJoin('author as a', 'a.id', 'p.author_id')
      .select(['p.id', 'p.title', 'p.published', 'a.big'])
      .where('p.title', 'like', 'bulk %')
      .orderBy('p.id')
      .stream(40)) {
      expect(typeof row.id).toBe('number');
      expect(row.id).toBeGreaterThan(last);
      expect(row.title).toBe(`bulk ${count}`);
      expect(row.published).toBeInstanceOf(Date);
      expect(row.published!.getTime()).toBe(when.getTime() + count * 1000);
      expect(row.big).toBe(big);
      last = row.id;
      count++;
    }
    expect(count).toBe(250);

    // Leave a stream after the first chunk: the cursor is closed and the client released.
    let seen = 0;
    for await (const row of db.selectFrom('post').select('id').where('title', 'like', 'bulk %').stream(10)) {
      expect(typeof row.id).toBe('number');
      if (++seen === 15) break;
    }
    expect(seen).toBe(15);
    expect(pool.waitingCount).toBe(0);
    expect(pool.idleCount).toBe(pool.totalCount);
    expect(pool.totalCount).toBeGreaterThan(0);
    expect(pool.totalCount).toBeLessThanOrEqual(4);

    // Many concurrent queries on the 4-connection pool all complete.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sql<{ n: number; s: string }>`select ${i}::int4 as n, ${String(i)}::text as s`.execute(db)),
    );
    expect(results.map((r) => r.rows[0])).toEqual(Array.from({ length: 20 }, (_, i) => ({ n: i, s: String(i) })));
    expect(pool.totalCount).toBeLessThanOrEqual(4);
  });

  it('raw sql: parameters of several JS types, and result row shapes', async () => {
    const r = await sql<{ i: number; t: string; b: boolean; f: number; n: null; j: unknown; d: Date; by: Buffer; arr: number[] }>`
      select ${42}::int4 as i, ${'text'}::text as t, ${true}::bool as b, ${1.5}::float8 as f, ${null}::text as n,
             ${JSON.stringify({ a: [1] })}::jsonb as j, ${when}::timestamptz as d, ${Buffer.from([0, 1, 255])}::bytea as by,
             ${[3, 2, 1]}::int4[] as arr`.execute(db);
    expect(r.rows).toEqual([{ i: 42, t: 'text', b: true, f: 1.5, n: null, j: { a: [1] }, d: when, by: Buffer.from([0, 1, 255]), arr: [3, 2, 1] }]);
    expect(Buffer.isBuffer(r.rows[0].by)).toBe(true);
    // numAffectedRows only for INSERT/UPDATE/DELETE/MERGE commands.
    expect(r.numAffectedRows).toBeUndefined();
  });
});
