// pool.reserve() resolves at once and the engine takes the connection while the first
// statement is on its way (a ticket names the reservation until then): what must hold is that
// the statements still run in order on one connection, that a checkout which cannot be made is
// the statements' error and leaves nothing reserved, and that a release without a wait still
// comes before whatever the caller does next.
import { describe, expect, it } from 'vitest';

import { ConnectionError, Pool, PoolTimeoutError } from '../src';
import { closedPort, newPool } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a reservation made on the way', () => {
  it('statements issued together before the connection is taken run in issue order on one backend', async () => {
    const pool = newPool({ max: 4 });
    const conn = await pool.reserve();
    const [, app, pid, again] = await Promise.all([
      conn.query("set application_name = 'in order'").execute(),
      conn.query("select current_setting('application_name')").scalar(),
      conn.query('select pg_backend_pid()').scalar(),
      conn.query('select pg_backend_pid()').scalar(),
    ]);
    expect(app).toBe('in order');
    expect(again).toBe(pid);
    await conn.release();
    // Nobody else ever saw that setting: the next holder gets the session reset.
    const next = await pool.reserve();
    expect(await next.query("select current_setting('application_name')").scalar()).toBe('');
    await next.release();
  });

  it('a checkout that times out is the error of every statement on it, and nothing stays reserved', async () => {
    const pool = newPool({ max: 1, acquireTimeout: 150 });
    const held = await pool.reserve();
    await held.query('select 1').execute();
    const starved = await pool.reserve();
    const errors = await Promise.all([starved.query('select 1').execute().catch((e) => e), starved.query('select 2').execute().catch((e) => e)]);
    for (const err of errors) {
      expect(err).toBeInstanceOf(PoolTimeoutError);
      expect(err.message).toMatch(/1 of max 1 in use \(1 reserved, 0 busy\)/);
    }
    // Later statements on it get the same answer, at once.
    await expect(starved.query('select 3').execute()).rejects.toBeInstanceOf(PoolTimeoutError);
    await starved.release();
    // The holder was never disturbed, and once it is done the pool serves again.
    expect(await held.query('select 42').scalar()).toBe(42);
    await held.release();
    expect(await pool.query('select 7').scalar()).toBe(7);
    await sleep(50);
    expect(pool.stats().connections.reserved).toBe(0);
  });

  it('a server that cannot be reached is the first statement\'s error, and release() is still fine', async () => {
    const pool = new Pool(`postgres://nobody@127.0.0.1:${await closedPort()}/none`, { connectTimeout: 2000 });
    try {
      const conn = await pool.reserve();
      await expect(conn.query('select 1').execute()).rejects.toBeInstanceOf(ConnectionError);
      await conn.release();
      await expect(pool.transaction(async (tx) => tx.query('select 1').execute())).rejects.toBeInstanceOf(ConnectionError);
    } finally {
      await pool.close();
    }
  });

  it('a reservation released before any statement still holds and gives back a connection', async () => {
    const pool = newPool({ max: 1, acquireTimeout: 5000 });
    const idle = await pool.reserve();
    // The reservation is made at once, so a pool query waits for it like for any holder.
    const shared = pool.query('select 5').scalar();
    await sleep(100);
    expect(pool.stats().connections.reserved).toBe(1);
    await idle.release();
    expect(await shared).toBe(5);
    await idle.release();
    expect(pool.stats().connections.reserved).toBe(0);
  });

  it('release() does not wait, yet the next caller on a pool of one finds the connection back and reset', async () => {
    const pool = newPool({ max: 1, acquireTimeout: 2000 });
    for (let i = 0; i < 50; i++) {
      const conn = await pool.reserve();
      expect(await conn.query("select current_setting('application_name')").scalar()).toBe('');
      await conn.query(`set application_name = 'holder ${i}'`).execute();
      await conn.release();
    }
    expect(await pool.query("select current_setting('application_name')").scalar()).toBe('');
    expect(pool.stats().counters.acquireTimeouts).toBe(0);
  });

  it('a transaction whose checkout times out rejects with that error, and runs nothing', async () => {
    const pool = newPool({ max: 1, acquireTimeout: 150 });
    const held = await pool.reserve();
    await held.query('select 1').execute();
    let ran = 0;
    const err = await pool
      .transaction(async (tx) => {
        ran++;
        await tx.query('select 1').execute();
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PoolTimeoutError);
    expect(ran).toBe(1);
    await held.release();
    expect(await pool.transaction(async (tx) => tx.query('select 9').scalar())).toBe(9);
  });

  it('callers waiting for a connection of their own get it first come, first served', async () => {
    const pool = newPool({ max: 1 });
    const held = await pool.reserve();
    await held.query('select 1').execute();
    const order: number[] = [];
    const waiters = [];
    for (let i = 0; i < 5; i++) {
      const conn = await pool.reserve();
      waiters.push(
        conn
          .query('select $1::int', [i])
          .scalar()
          .then((v) => order.push(v as number))
          .finally(() => conn.release()),
      );
      // Each claim reaches the engine before the next.
      await sleep(20);
    }
    await held.release();
    await Promise.all(waiters);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('pool queries are not starved by reservations handed from one holder to the next', async () => {
    const pool = newPool({ max: 2, acquireTimeout: 3000 });
    let stop = false;
    const cycles = Array.from({ length: 8 }, async () => {
      let n = 0;
      while (!stop) {
        const conn = await pool.reserve();
        try {
          await conn.query('select pg_sleep(0.002)').execute();
          n++;
        } finally {
          await conn.release();
        }
      }
      return n;
    });
    await sleep(100);
    const shared = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.query('select $1::int', [i]).scalar()));
    stop = true;
    expect(shared).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect((await Promise.all(cycles)).every((n) => n > 0)).toBe(true);
  });
});
