/**
 * Drizzle ORM (`drizzle-orm/node-postgres`) through the node-postgres API under test
 * (`pg-driver.ts`): `drizzle(pool)` with a `pg.Pool`, and `migrate()` on the hand-written
 * migrations in fixtures/drizzle.
 *
 * What Drizzle calls on the driver: `client.query(config, values)` with a config object
 * `{ name, text, types: { getTypeParser } }` (plus `rowMode: 'array'` for selects and
 * returning); its `getTypeParser(oid, format)` returns the raw text for timestamptz,
 * timestamp, date, interval and their arrays, and `types.getTypeParser` of the real 'pg'
 * package (which drizzle imports itself) for the rest; `name` is set for `.prepare('name')`.
 * A statement without parameters (DDL, `begin`/`commit`, migrations, plain selects) is sent
 * with `values = []`, which node-postgres runs with the simple protocol (rowMode and types
 * still apply), so a migration chunk of several statements works. `db.transaction()` calls
 * `pool.connect()` and `client.release()` when it sees a pool: `client instanceof pg.Pool` of
 * the real 'pg', or else a constructor whose name includes "Pool".
 */
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, asc, desc, eq, gt, like, relations, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import {
  bigint,
  boolean,
  date,
  integer,
  interval,
  jsonb,
  numeric,
  pgTable,
  serial,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

import { databaseUrl, tableName } from './helpers';
import { pg } from './pg-driver';

type Profile = { bio: string; links: string[]; stats: { followers: number; ratio: number }; extra?: null };

// Tables as created by fixtures/drizzle (unqualified: they land in the run's schema through search_path).
const users = pgTable('users', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  profile: jsonb('profile').$type<Profile>(),
  tags: text('tags').array(),
  scores: integer('scores').array(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  seenAt: timestamp('seen_at', { withTimezone: true, mode: 'string', precision: 6 }),
  balance: numeric('balance', { precision: 20, scale: 4 }),
  visits: bigint('visits', { mode: 'number' }),
  huge: bigint('huge', { mode: 'bigint' }),
  birthday: date('birthday'),
  active: boolean('active').notNull().default(true),
});

const posts = pgTable('posts', {
  id: serial('id').primaryKey(),
  authorId: integer('author_id')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  title: text('title').notNull(),
  publishedAt: timestamp('published_at', { withTimezone: true }),
  duration: interval('duration'),
});

const audit = pgTable('audit', { id: serial('id').primaryKey(), note: text('note').notNull() });

const usersRelations = relations(users, ({ many }) => ({ posts: many(posts) }));
const postsRelations = relations(posts, ({ one }) => ({ author: one(users, { fields: [posts.authorId], references: [users.id] }) }));

const schema = tableName('orm_drizzle');
const migrationsFolder = path.join(__dirname, 'fixtures', 'drizzle'); // vitest gives __dirname; tsc checks the tests as CommonJS
// A session time zone other than UTC, so that text the driver must leave raw (Drizzle's
// per-query type parsers) can be told from a Date formatted back.
const pool = new pg.Pool({
  connectionString: databaseUrl,
  max: 4,
  options: `-c search_path=${schema} -c TimeZone=Asia/Kolkata`,
});
const db = drizzle(pool, { schema: { users, posts, audit, usersRelations, postsRelations } });

const huge = 9223372036854775807n;

beforeAll(async () => {
  // The migrations schema is the run's own schema: migrate() creates it, then the tables land in it.
  await migrate(db, { migrationsFolder, migrationsSchema: schema, migrationsTable: '__drizzle_migrations' });
});

afterAll(async () => {
  await pool.query(`drop schema if exists "${schema}" cascade`).catch(() => {});
  await pool.end();
});

describe('Drizzle on the pg API', () => {
  it('migrate() applied the journal once, multi-statement chunk included, and a rerun is a no-op', async () => {
    const applied = await db.execute<{ hash: string; created_at: string }>(
      sql`select hash, created_at from ${sql.identifier(schema)}.${sql.identifier('__drizzle_migrations')} order by id`,
    );
    expect(applied.rows).toHaveLength(2);
    expect(applied.rows.map((r) => r.created_at)).toEqual(['1735689600000', '1735776000000']); // int8: strings
    expect(applied.rows.every((r) => /^[0-9a-f]{64}$/.test(r.hash))).toBe(true);
    expect(await db.select().from(audit).orderBy(audit.id)).toEqual([
      { id: 1, note: 'seeded; by 0001' },
      { id: 2, note: 'second' },
    ]);
    const where = await db.execute<{ table_schema: string; table_name: string }>(
      sql`select table_schema, table_name from information_schema.tables where table_schema = ${schema} order by table_name`,
    );
    expect(where.rows.map((r) => r.table_name)).toEqual(['__drizzle_migrations', 'audit', 'posts', 'users']);

    await migrate(db, { migrationsFolder, migrationsSchema: schema, migrationsTable: '__drizzle_migrations' });
    expect((await db.select().from(audit)).length).toBe(2);
    expect((await db.execute(sql`select 1 from ${sql.identifier(schema)}.${sql.identifier('__drizzle_migrations')}`)).rowCount).toBe(2);
  });

  it('insert … returning maps every column type', async () => {
    const profile: Profile = { bio: 'first "programmer"', links: ['a', 'b'], stats: { followers: 3, ratio: 0.5 }, extra: null };
    const [ada] = await db
      .insert(users)
      .values({
        name: 'ada',
        profile,
        tags: ['math', 'with,comma', 'quote"d', 'NULL', ''],
        scores: [10, -20, 30],
        seenAt: '2024-02-29 12:34:56.789123+00',
        balance: '12345678901234.5678',
        visits: 9007199254740991,
        huge,
        birthday: '1815-12-10',
      })
      .returning();
    expect(typeof ada.id).toBe('number');
    expect(ada.name).toBe('ada');
    expect(ada.profile).toEqual(profile);
    expect(ada.tags).toEqual(['math', 'with,comma', 'quote"d', 'NULL', '']);
    expect(ada.scores).toEqual([10, -20, 30]);
    expect(ada.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(ada.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    // Raw server text in the session's zone, microseconds kept: the driver must not have made a Date of it.
    expect(ada.seenAt).toBe('2024-02-29 18:04:56.789123+05:30');
    expect(ada.balance).toBe('12345678901234.5678');
    expect(ada.visits).toBe(9007199254740991);
    expect(ada.huge).toBe(huge);
    expect(typeof ada.huge).toBe('bigint');
    expect(ada.birthday).toBe('1815-12-10');
    expect(ada.active).toBe(true);

    const many = await db
      .insert(users)
      .values([
        { name: 'bob', visits: -1, huge: -huge - 1n, balance: '-0.0001', active: false },
        { name: 'cy', tags: [], scores: null, profile: null },
      ])
      .returning({ id: users.id, name: users.name, visits: users.visits, huge: users.huge, balance: users.balance, tags: users.tags, seenAt: users.seenAt });
    expect(many).toEqual([
      { id: ada.id + 1, name: 'bob', visits: -1, huge: -9223372036854775808n, balance: '-0.0001', tags: null, seenAt: null },
      { id: ada.id + 2, name: 'cy', visits: null, huge: null, balance: null, tags: [], seenAt: null },
    ]);
  });

  it('selects with joins in array row mode: same-named columns stay apart, left join nulls a whole side', async () => {
    const [ada, bob] = await db.select({ id: users.id }).from(users).where(sql`${users.name} in ('ada', 'bob')`).orderBy(users.name);
    const inserted = await db
      .insert(posts)
      .values([
        { authorId: ada.id, title: 'Notes', publishedAt: new Date('2001-09-01T00:00:00Z'), duration: '1 day 02:03:04' },
        { authorId: ada.id, title: 'Draft' },
        { authorId: bob.id, title: 'Bob', duration: '00:00:01.5' },
      ])
      .returning({ id: posts.id, duration: posts.duration, publishedAt: posts.publishedAt });
    expect(inserted.map((p) => p.duration)).toEqual(['1 day 02:03:04', null, '00:00:01.5']); // interval: raw text
    expect(inserted[0].publishedAt).toEqual(new Date('2001-09-01T00:00:00Z'));

    const rows = await db
      .select({ userId: users.id, postId: posts.id, name: users.name, title: posts.title, huge: users.huge })
      .from(posts)
      .innerJoin(users, eq(posts.authorId, users.id))
      .orderBy(asc(posts.id));
    expect(rows).toEqual([
      { userId: ada.id, postId: inserted[0].id, name: 'ada', title: 'Notes', huge },
      { userId: ada.id, postId: inserted[1].id, name: 'ada', title: 'Draft', huge },
      { userId: bob.id, postId: inserted[2].id, name: 'bob', title: 'Bob', huge: -huge - 1n },
    ]);

    const left = await db.select().from(users).leftJoin(posts, eq(posts.authorId, users.id)).where(eq(users.name, 'cy'));
    expect(left).toHaveLength(1);
    expect(left[0].users.name).toBe('cy');
    expect(left[0].posts).toBeNull();

    const counted = await db
      .select({ name: users.name, n: sql<number>`count(${posts.id})`.mapWith(Number), raw: sql<string>`count(${posts.id})` })
      .from(users)
      .leftJoin(posts, eq(posts.authorId, users.id))
      .groupBy(users.name)
      .orderBy(desc(sql`count(${posts.id})`), users.name);
    expect(counted).toEqual([
      { name: 'ada', n: 2, raw: '2' },
      { name: 'bob', n: 1, raw: '1' },
      { name: 'cy', n: 0, raw: '0' },
    ]);

    expect(await db.$count(posts, eq(posts.authorId, ada.id))).toBe(2);
  });

  it('relational queries (json aggregation) map nested rows', async () => {
    const found = await db.query.users.findMany({
      columns: { name: true, huge: true, createdAt: true },
      with: { posts: { columns: { title: true, publishedAt: true, duration: true }, orderBy: (p, { asc }) => [asc(p.id)] } },
      where: (u, { inArray }) => inArray(u.name, ['ada', 'cy']),
      orderBy: (u, { asc }) => [asc(u.name)],
    });
    expect(found.map((u) => u.name)).toEqual(['ada', 'cy']);
    expect(found[0].huge).toBe(huge);
    expect(found[0].createdAt).toBeInstanceOf(Date);
    expect(found[0].posts).toEqual([
      { title: 'Notes', publishedAt: new Date('2001-09-01T00:00:00Z'), duration: '1 day 02:03:04' },
      { title: 'Draft', publishedAt: null, duration: null },
    ]);
    expect(found[1].posts).toEqual([]);

    const post = await db.query.posts.findFirst({ where: (p, { eq }) => eq(p.title, 'Bob'), with: { author: { columns: { name: true, active: true } } } });
    expect(post?.author).toEqual({ name: 'bob', active: false });
  });

  it('db.execute() returns the driver result; per-query type parsers leave timestamptz raw', async () => {
    const r = await db.execute<{ at: string; n: string; j: { a: number[] }; arr: number[]; d: string; iv: string }>(
      sql`select '2024-01-02 03:04:05.123456+00'::timestamptz as at, ${'12'}::int8 as n, ${JSON.stringify({ a: [1, 2] })}::jsonb as j,
                 ${sql.param([1, 2])}::int4[] as arr, '2024-01-02'::date as d, '3 days'::interval as iv`,
    );
    expect(r.command).toBe('SELECT');
    expect(r.rowCount).toBe(1);
    expect(r.fields.map((f) => [f.name, f.dataTypeID])).toEqual([
      ['at', 1184],
      ['n', 20],
      ['j', 3802],
      ['arr', 1007],
      ['d', 1082],
      ['iv', 1186],
    ]);
    expect(r.rows).toEqual([{ at: '2024-01-02 08:34:05.123456+05:30', n: '12', j: { a: [1, 2] }, arr: [1, 2], d: '2024-01-02', iv: '3 days' }]);

    const up = await db.update(users).set({ active: false }).where(like(users.name, 'c%'));
    expect(up.rowCount).toBe(1);
    expect(up.command).toBe('UPDATE');
  });

  it('named prepared statements run on every pooled connection', async () => {
    const byName = db
      .select({ id: users.id, name: users.name, visits: users.visits })
      .from(users)
      .where(eq(users.name, sql.placeholder('name')))
      .prepare('drizzle_user_by_name');
    const results = await Promise.all(['ada', 'bob', 'cy', 'nobody', 'ada', 'bob', 'cy', 'ada'].map((name) => byName.execute({ name })));
    expect(results.map((r) => r.map((u) => u.name))).toEqual([['ada'], ['bob'], ['cy'], [], ['ada'], ['bob'], ['cy'], ['ada']]);
    expect(results[1][0].visits).toBe(-1);
    expect(pool.totalCount).toBeLessThanOrEqual(4);
  });

  it('transactions: commit, rollback by throw and by tx.rollback(), nested savepoint, one connection throughout', async () => {
    const before = (await db.select({ id: users.id }).from(users)).length;
    const pids = await db.transaction(async (tx) => {
      const p1 = (await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0].pid;
      await tx.insert(users).values({ name: 'tx-committed' });
      // Not visible outside before commit (so the transaction really runs on one reserved connection).
      expect(await db.select().from(users).where(eq(users.name, 'tx-committed'))).toEqual([]);
      await tx
        .transaction(async (inner) => {
          await inner.insert(users).values({ name: 'tx-inner-undone' });
          throw new Error('undo inner');
        })
        .catch((e: Error) => expect(e.message).toBe('undo inner'));
      const p2 = (await tx.execute<{ pid: number }>(sql`select pg_backend_pid() as pid`)).rows[0].pid;
      return [p1, p2];
    });
    expect(pids[0]).toBe(pids[1]);
    expect((await db.select({ name: users.name }).from(users).where(like(users.name, 'tx-%'))).map((u) => u.name)).toEqual(['tx-committed']);

    await expect(
      db.transaction(async (tx) => {
        await tx.insert(users).values({ name: 'tx-thrown' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');

    await expect(
      db.transaction(async (tx) => {
        await tx.insert(users).values({ name: 'tx-rolled-back' });
        tx.rollback();
      }),
    ).rejects.toThrow('Rollback');

    // A unique violation inside: the driver error surfaces (possibly wrapped by Drizzle) and all is undone.
    const err = await db
      .transaction(async (tx) => {
        await tx.insert(users).values({ name: 'tx-dup-1' });
        await tx.insert(users).values({ name: 'ada' });
      })
      .then(
        () => undefined,
        (e: unknown) => e as Error & { cause?: unknown },
      );
    expect(err).toBeInstanceOf(Error);
    const dbErr = (err instanceof pg.DatabaseError ? err : err?.cause) as InstanceType<typeof pg.DatabaseError>;
    expect(dbErr).toBeInstanceOf(pg.DatabaseError);
    expect(dbErr.code).toBe('23505');
    expect(dbErr.constraint).toBe('users_name_unique');

    const after = await db.select({ name: users.name }).from(users).where(gt(users.id, 0));
    expect(after.length).toBe(before + 1);
    expect(after.map((u) => u.name)).not.toContain('tx-dup-1');
    expect(pool.waitingCount).toBe(0);
    expect(pool.idleCount).toBe(pool.totalCount);
  });

  it('a single pg.Client works as the Drizzle client too', async () => {
    const client = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      const single = drizzle(client);
      const got = await single
        .select({ name: users.name, tags: users.tags })
        .from(users)
        .where(and(eq(users.name, 'ada'), eq(users.active, true)));
      expect(got).toEqual([{ name: 'ada', tags: ['math', 'with,comma', 'quote"d', 'NULL', ''] }]);
      await single.transaction(async (tx) => {
        await tx.update(users).set({ visits: 7 }).where(eq(users.name, 'cy'));
      });
      expect((await db.select({ v: users.visits }).from(users).where(eq(users.name, 'cy')))[0].v).toBe(7);
    } finally {
      await client.end();
    }
  });
});
