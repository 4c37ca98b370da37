// pgwarp/pg gives pg's outcome where work could otherwise be kept that the application rolled
// back, or a connection left busy: transaction control through pool.query(), query_timeout,
// a client released with a cursor still open, and a client released with an error. Also run
// against node-postgres itself (PGWARP_PG_DRIVER=pg) to check that each asserts what pg does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { IntegrityConstraintViolationError, PostgresError, UniqueViolationError } from '../src';
import { databaseUrl, newPool, tableName } from './helpers';
import { Cursor, driverName, pg } from './pg-driver';

const admin = newPool({ max: 2 });
const t = tableName('pg_trust');

beforeAll(async () => {
  await admin.query(`create table ${t} (id int primary key)`).execute();
});
afterAll(async () => {
  await admin.query(`drop table ${t}`).execute();
});

const count = () => admin.query<number>(`select count(*)::int from ${t}`).scalar();

describe('pool.query("BEGIN") ... pool.query("ROLLBACK")', () => {
  it('the writes in between are undone, as with pg (each pool.query reuses the one idle client)', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
    try {
      await pool.query('BEGIN');
      await pool.query(`insert into ${t} values (1)`);
      await pool.query(`insert into ${t} values ($1)`, [2]);
      expect((await pool.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(2);
      await pool.query('ROLLBACK');
      expect(await count()).toBe(0);
      // And COMMIT keeps them.
      await pool.query('BEGIN');
      await pool.query(`insert into ${t} values (3)`);
      await pool.query('COMMIT');
      expect(await count()).toBe(1);
      // A statement that fails ends it: pg destroys a client whose pool.query failed, so the
      // transaction is rolled back and what follows runs on its own.
      await pool.query('BEGIN');
      await pool.query(`insert into ${t} values (4)`);
      await expect(pool.query(`insert into ${t} values (3)`)).rejects.toMatchObject({ code: '23505' });
      expect((await pool.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
      await pool.query('ROLLBACK');
      expect(await count()).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('a transaction left open when the pool ends is rolled back', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    await pool.query('BEGIN');
    await pool.query(`insert into ${t} values (10)`);
    await pool.end();
    expect(await admin.query<number>(`select count(*)::int from ${t} where id = 10`).scalar()).toBe(0);
  });
});

describe('query_timeout', () => {
  it('times out, and the next query on the same connection gets its row', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1, query_timeout: 100 });
    try {
      const t0 = Date.now();
      await expect(pool.query('select pg_sleep(0.5) /* pg-timeout-marker */')).rejects.toThrow('Query read timeout');
      expect(Date.now() - t0).toBeLessThan(400);
      expect((await pool.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
      if (driverName === 'pgwarp/pg') {
        // Unlike pg, the timed-out statement was cancelled on the server.
        const running = await admin.query<number>("select count(*)::int from pg_stat_activity where query like '%pg-timeout-marker%' and state = 'active' and pid <> pg_backend_pid()").scalar();
        expect(running).toBe(0);
      }
    } finally {
      await pool.end();
    }
  });

  it("on a Client, the timed-out statement does not hold the client's next query", async () => {
    const client = new pg.Client({ connectionString: databaseUrl, query_timeout: 100 });
    await client.connect();
    try {
      await expect(client.query('select pg_sleep(0.5)')).rejects.toThrow('Query read timeout');
      // pg leaves the statement running, and the next query times out behind it.
      if (driverName !== 'pgwarp/pg') return;
      const t0 = Date.now();
      expect((await client.query('select 2 as x')).rows).toEqual([{ x: 2 }]);
      expect(Date.now() - t0).toBeLessThan(300);
    } finally {
      await client.end();
    }
  });
});

describe('release()', () => {
  it('with a pg-cursor still open does not hold back the next connect()', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const client = await pool.connect();
    const cursor = client.query(new Cursor('select g from generate_series(1, 1000000) g'));
    expect(await cursor.read(10)).toHaveLength(10);
    client.release();
    const t0 = Date.now();
    const next = await pool.connect();
    if (driverName === 'pgwarp/pg') {
      // pg hands out the same client, whose queries then wait for the cursor; pgwarp stops it.
      expect((await next.query('select 1 as x')).rows).toEqual([{ x: 1 }]);
      expect(Date.now() - t0).toBeLessThan(2000);
    }
    next.release();
    const ended = Date.now();
    if (driverName === 'pgwarp/pg') {
      await pool.end();
      expect(Date.now() - ended).toBeLessThan(1000);
    } else void pool.end().catch(() => {});
  });

  it('resets nothing, as pg: a setting made by one holder is there for the next; pgwarp rolls back a transaction left open', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const t = tableName('left_open');
    await pool.query(`create table ${t} (id int)`);
    const client = await pool.connect();
    const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid;
    await client.query("set application_name = 'set by the last holder'");
    if (driverName === 'pgwarp/pg') {
      // pg would hand the next holder this open transaction (and its insert).
      await client.query('begin');
      await client.query(`insert into ${t} values (1)`);
    }
    client.release();
    const next = await pool.connect();
    const row = (await next.query("select pg_backend_pid() as pid, current_setting('application_name') as app, txid_current_if_assigned() as xid")).rows[0];
    expect(row.pid).toBe(pid);
    expect(row.app).toBe('set by the last holder');
    expect(row.xid).toBe(null);
    expect((await next.query(`select count(*)::int as n from ${t}`)).rows[0].n).toBe(0);
    next.release();
    await pool.query(`drop table ${t}`);
    await pool.end();
  });

  it('pgwarp: { resetSession: true } resets the session as pgwarp\'s own Pool does', async () => {
    if (driverName !== 'pgwarp/pg') return;
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1, pgwarp: { resetSession: true } } as never);
    const client = await pool.connect();
    await client.query("set application_name = 'set by the last holder'");
    client.release();
    const next = await pool.connect();
    expect((await next.query("select current_setting('application_name') as app")).rows[0].app).toBe('');
    next.release();
    await pool.end();
  });

  it('with an error: the client is closed and says so', async () => {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    const client = await pool.connect();
    client.release(true);
    await expect(client.query('select 1')).rejects.toThrow('Client was closed and is not queryable');
    await pool.end();
  });
});

describe("pgwarp's error classes", () => {
  it("hold for pgwarp/pg's errors too, whose fields stay pg's", async () => {
    if (driverName !== 'pgwarp/pg') return;
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    try {
      await pool.query(`insert into ${t} values (100)`);
      const err = await pool.query(`insert into ${t} values (100)`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(pg.DatabaseError);
      expect(err).toBeInstanceOf(UniqueViolationError);
      expect(err).toBeInstanceOf(IntegrityConstraintViolationError);
      expect(err).toBeInstanceOf(PostgresError);
      expect(err).toMatchObject({ name: 'error', code: '23505', constraint: `${t}_pkey` });
      const other = await pool.query('select 1/0').catch((e: unknown) => e);
      expect(other).not.toBeInstanceOf(UniqueViolationError);
      expect(new Error('x')).not.toBeInstanceOf(PostgresError);
    } finally {
      await pool.end();
    }
  });
});
