// One adapter per driver, each written the way that driver's users write it. server.mjs turns
// them into the same HTTP endpoints, so the drivers differ only in what is in this file.
//
// Every adapter has:
//   world(id)              -> { id, randomNumber }
//   fortunes()             -> [{ id, message }]          (unsorted, as the table gives them)
//   updateWorlds(ids, rs)  -> one batched UPDATE; ids come sorted (see server.mjs)
//   deposit(id)            -> the balance after a transaction that adds 1 to it
//   close()
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const MAX = 8;

const SQL = {
  world: 'select id, randomnumber from world where id = $1',
  fortunes: 'select id, message from fortune',
  // One statement for all rows: two arrays unnested side by side into (id, r) pairs.
  update: 'update world set randomnumber = v.r from (select unnest($1::int[]) as id, unnest($2::int[]) as r) as v where world.id = v.id',
  lock: 'select balance from account where id = $1 for update',
  deposit: 'update account set balance = balance + 1 where id = $1',
};

/** node-postgres and anything shaped like it (pgwarp/pg): pool.query, and a checked-out client for the transaction. */
function pgLike(pool) {
  return {
    async world(id) {
      const { rows } = await pool.query(SQL.world, [id]);
      return { id: rows[0].id, randomNumber: rows[0].randomnumber };
    },
    fortunes: async () => (await pool.query(SQL.fortunes)).rows,
    updateWorlds: (ids, rs) => pool.query(SQL.update, [ids, rs]),
    async deposit(id) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const { rows } = await client.query(SQL.lock, [id]);
        await client.query(SQL.deposit, [id]);
        await client.query('COMMIT');
        // int8 comes as a string from pg.
        return Number(rows[0].balance) + 1;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** Kysely's query builder over a pg-shaped Pool. */
function kysely(Pool, url) {
  const { Kysely, PostgresDialect, sql } = require('kysely');
  const db = new Kysely({ dialect: new PostgresDialect({ pool: new Pool({ connectionString: url, max: MAX }) }) });
  return {
    async world(id) {
      const row = await db.selectFrom('world').select(['id', 'randomnumber']).where('id', '=', id).executeTakeFirstOrThrow();
      return { id: row.id, randomNumber: row.randomnumber };
    },
    fortunes: () => db.selectFrom('fortune').select(['id', 'message']).execute(),
    // Kysely has no unnest helper: the (id, r) source is a raw subquery, the rest is the builder.
    updateWorlds: (ids, rs) =>
      db
        .updateTable('world')
        .from(sql`(select unnest(${ids}::int[]) as id, unnest(${rs}::int[]) as r)`.as('v'))
        .set((eb) => ({ randomnumber: eb.ref('v.r') }))
        .whereRef('world.id', '=', 'v.id')
        .execute(),
    deposit: (id) =>
      db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('account').select('balance').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
        await trx.updateTable('account').set((eb) => ({ balance: eb('balance', '+', 1) })).where('id', '=', id).execute();
        return Number(row.balance) + 1;
      }),
    close: () => db.destroy(),
  };
}

/** Drizzle's node-postgres driver over a pg-shaped Pool, tables declared with pgTable. */
function drizzle(Pool, url) {
  const { drizzle: open } = require('drizzle-orm/node-postgres');
  const { eq, sql } = require('drizzle-orm');
  const { pgTable, integer, text, bigint } = require('drizzle-orm/pg-core');
  const world = pgTable('world', { id: integer('id').primaryKey(), randomNumber: integer('randomnumber').notNull() });
  const fortune = pgTable('fortune', { id: integer('id').primaryKey(), message: text('message').notNull() });
  const account = pgTable('account', { id: integer('id').primaryKey(), balance: bigint('balance', { mode: 'number' }).notNull() });
  const pool = new Pool({ connectionString: url, max: MAX });
  const db = open(pool);
  return {
    world: async (id) => (await db.select().from(world).where(eq(world.id, id)))[0],
    fortunes: () => db.select().from(fortune),
    // sql.param keeps each array one parameter (a bare array in sql`` becomes a list of them).
    updateWorlds: (ids, rs) =>
      db
        .update(world)
        .set({ randomNumber: sql`v.r` })
        .from(sql`(select unnest(${sql.param(ids)}::int[]) as id, unnest(${sql.param(rs)}::int[]) as r) as v`)
        .where(sql`${world.id} = v.id`),
    deposit: (id) =>
      db.transaction(async (tx) => {
        const [row] = await tx.select({ balance: account.balance }).from(account).where(eq(account.id, id)).for('update');
        await tx.update(account).set({ balance: sql`${account.balance} + 1` }).where(eq(account.id, id));
        return row.balance + 1;
      }),
    close: () => pool.end(),
  };
}

const pgPool = () => require('pg').Pool;
const pgwarpPgPool = () => require('../../dist/pg/index.js').Pool;

/** `baseline`: the app each ratio is taken against. */
export const drivers = {
  pg: {
    label: 'pg (Pool)',
    baseline: 'pg',
    open: (url) => pgLike(new (pgPool())({ connectionString: url, max: MAX })),
  },
  postgres: {
    label: 'postgres.js',
    baseline: 'pg',
    open(url) {
      const sql = require('postgres')(url, { max: MAX });
      return {
        async world(id) {
          const [row] = await sql`select id, randomnumber from world where id = ${id}`;
          return { id: row.id, randomNumber: row.randomnumber };
        },
        fortunes: () => sql`select id, message from fortune`,
        updateWorlds: (ids, rs) => sql`update world set randomnumber = v.r from (select unnest(${ids}::int[]) as id, unnest(${rs}::int[]) as r) as v where world.id = v.id`,
        deposit: (id) =>
          sql.begin(async (sql) => {
            const [row] = await sql`select balance from account where id = ${id} for update`;
            await sql`update account set balance = balance + 1 where id = ${id}`;
            return Number(row.balance) + 1;
          }),
        close: () => sql.end(),
      };
    },
  },
  pgwarp: {
    label: 'pgwarp',
    baseline: 'pg',
    open(url) {
      const { Pool } = require('../../dist/index.js');
      const pool = new Pool(url, { max: MAX });
      return {
        async world(id) {
          const row = await pool.query(SQL.world, [id]).first();
          return { id: row.id, randomNumber: row.randomnumber };
        },
        fortunes: () => pool.query(SQL.fortunes).all(),
        updateWorlds: (ids, rs) => pool.query(SQL.update, [ids, rs]).execute(),
        deposit: (id) =>
          pool.transaction(async (tx) => {
            const row = await tx.query(SQL.lock, [id]).first();
            await tx.query(SQL.deposit, [id]).execute();
            return row.balance + 1;
          }),
        close: () => pool.close(),
      };
    },
  },
  'pgwarp-pg': {
    label: 'pgwarp/pg (drop-in, used as pg)',
    baseline: 'pg',
    open: (url) => pgLike(new (pgwarpPgPool())({ connectionString: url, max: MAX })),
  },
  'kysely-pg': {
    label: 'Kysely over pg',
    baseline: 'kysely-pg',
    open: (url) => kysely(pgPool(), url),
  },
  'kysely-pgwarp-pg': {
    label: 'Kysely over pgwarp/pg',
    baseline: 'kysely-pg',
    open: (url) => kysely(pgwarpPgPool(), url),
  },
  'drizzle-pg': {
    label: 'Drizzle over pg',
    baseline: 'drizzle-pg',
    open: (url) => drizzle(pgPool(), url),
  },
  'drizzle-pgwarp-pg': {
    label: 'Drizzle over pgwarp/pg',
    baseline: 'drizzle-pg',
    open: (url) => drizzle(pgwarpPgPool(), url),
  },
};
